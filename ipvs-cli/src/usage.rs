//! ipvsadm's `-h` and `-v` texts, byte for byte.

use ipvs_core::Info;

/// ipvsadm's version line (`-v`, and the first line of `-h`).
pub fn version_line(info: &Info) -> String {
    format!(
        "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v{})\n",
        info.version_string()
    )
}

/// ipvsadm's usage text for `program`.
pub fn usage(program: &str, info: &Info) -> String {
    let mut s = version_line(info);
    s.push_str(&include_str!("usage.txt").replace("{prog}", program));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_names_the_program() {
        let info = Info {
            version: 0x010201,
            conn_table_size: 4096,
        };
        let u = usage("/sbin/ipvsadm", &info);
        assert!(u.starts_with("ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n  /sbin/ipvsadm -A|E"));
        assert!(u.contains("  /sbin/ipvsadm --start-daemon {master|backup} [daemon-options]\n"));
        assert!(u.ends_with("  --mcast-ttl ttl                     Multicast TTL (default=1)\n"));
    }
}
