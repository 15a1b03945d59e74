//! ipvsadm's `-h` and `-v` texts, byte for byte. The option lines of `-h`
//! come from the option table ([`crate::options`]).

use ipvs_core::Info;

use crate::options::{About, Section, OPTIONS};

/// ipvsadm's version line (`-v`, and the first line of `-h`).
pub fn version_line(info: &Info) -> String {
    format!(
        "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v{})\n",
        info.version_string()
    )
}

/// The command synopsis at the top of the usage text; `{prog}` is argv\[0\].
const SYNOPSIS: &str = r#"Usage:
  {prog} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]
  {prog} -D virtual-service
  {prog} -C
  {prog} -R
  {prog} -S [-n]
  {prog} -a|e virtual-service -r server-address [options]
  {prog} -d virtual-service -r server-address
  {prog} -L|l [virtual-service] [options]
  {prog} -Z [virtual-service]
  {prog} --set tcp tcpfin udp
  {prog} --start-daemon {master|backup} [daemon-options]
  {prog} --stop-daemon {master|backup}
  {prog} -h
"#;

/// Each section's heading, and the width of its left column.
const SECTIONS: [(Section, &str, usize); 4] = [
    (
        Section::Commands,
        "\nCommands:\nEither long or short options are allowed.\n",
        28,
    ),
    (Section::VirtualService, "\nvirtual-service:\n", 36),
    (Section::Options, "\nOptions:\n", 36),
    (Section::DaemonOptions, "Daemon Options:\n", 36),
];

/// ipvsadm's usage text for `program`.
pub fn usage(program: &str, info: &Info) -> String {
    let mut s = version_line(info);
    s.push_str(&SYNOPSIS.replace("{prog}", program));
    for (section, heading, width) in SECTIONS {
        s.push_str(heading);
        for o in OPTIONS {
            let About::Usage(sec, left, text) = o.about else {
                continue;
            };
            if sec != section {
                continue;
            }
            let mut lines = text.split('\n');
            s.push_str(&format!("  {left:<width$}{}\n", lines.next().unwrap_or("")));
            for more in lines {
                s.push_str(&format!("  {:width$}{more}\n", ""));
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_names_the_program() {
        let info = Info::new(0x010201, 4096);
        let u = usage("/sbin/ipvsadm", &info);
        assert!(u.starts_with("ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n  /sbin/ipvsadm -A|E"));
        assert!(u.contains("  /sbin/ipvsadm --start-daemon {master|backup} [daemon-options]\n"));
        assert!(u.ends_with("  --mcast-ttl ttl                     Multicast TTL (default=1)\n"));
    }
}
