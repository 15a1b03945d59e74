//! `/proc/net/ip_vs_conn`, which ipvsadm reads for `-L -c` (IPVS has no
//! netlink dump of connections).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipvs_core::Connection;

/// Where the kernel publishes the connection table of the current netns.
pub const CONN_PROC_FILE: &str = "/proc/net/ip_vs_conn";

/// Why a line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{CONN_PROC_FILE} line {line}: {what}")]
pub struct ConnParseError {
    /// 1-based line number in the file (the header is line 1).
    pub line: usize,
    /// What was wrong.
    pub what: String,
}

fn parse_addr(text: &str) -> Option<IpAddr> {
    if let Ok(a) = text.parse::<Ipv6Addr>() {
        return Some(IpAddr::V6(a));
    }
    if let Ok(a) = text.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(a));
    }
    u32::from_str_radix(text, 16)
        .ok()
        .map(|n| IpAddr::V4(Ipv4Addr::from(n)))
}

/// Parse the file's text (header line included) into connections.
pub fn parse_connections(text: &str) -> Result<Vec<Connection>, ConnParseError> {
    let mut out = Vec::new();
    for (idx, line) in text.lines().enumerate().skip(1) {
        let line_no = idx + 1;
        let err = |what: &str| ConnParseError {
            line: line_no,
            what: what.to_string(),
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 9 {
            return Err(err("fewer than 9 fields"));
        }
        let port = |s: &str, what: &str| u16::from_str_radix(s, 16).map_err(|_| err(what));
        let addr = |s: &str, what: &str| parse_addr(s).ok_or_else(|| err(what));
        let client = SocketAddr::new(
            addr(f[1], "bad client address")?,
            port(f[2], "bad client port")?,
        );
        let virtual_addr = SocketAddr::new(
            addr(f[3], "bad virtual address")?,
            port(f[4], "bad virtual port")?,
        );
        let destination = SocketAddr::new(
            addr(f[5], "bad destination address")?,
            port(f[6], "bad destination port")?,
        );
        let expires: u32 = f[8].parse().map_err(|_| err("bad expiry"))?;
        let conn = Connection::new(f[0], client, virtual_addr, destination, f[7], expires);
        out.push(match (f.get(9), f.get(10)) {
            (Some(name), Some(data)) => conn.with_pe(name, data),
            (Some(name), None) => conn.with_pe(name, ""),
            _ => conn,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_lines() {
        // Format of net/netfilter/ipvs/ip_vs_conn.c ip_vs_conn_seq_show.
        let text = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
TCP C0000264 9C40 C0000201 0050 C6336402 0050 ESTABLISHED     899\n\
UDP 2001:0db8:0000:0000:0000:0000:0000:0064 9C41 2001:0db8:0000:0000:0000:0000:0000:0001 0035 2001:0db8:0000:0000:0000:0000:0000:0002 0035 UDP         299 sip abc\n";
        let c = parse_connections(text).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].client, "192.0.2.100:40000".parse().unwrap());
        assert_eq!(c[0].destination, "198.51.100.2:80".parse().unwrap());
        assert_eq!((c[0].state.as_str(), c[0].expires), ("ESTABLISHED", 899));
        assert_eq!(c[1].virtual_addr, "[2001:db8::1]:53".parse().unwrap());
        assert_eq!(c[1].pe_name.as_deref(), Some("sip"));
        assert!(parse_connections("h\nTCP x").is_err());
    }
}
