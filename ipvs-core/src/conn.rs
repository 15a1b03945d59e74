//! `/proc/net/ip_vs_conn`: the kernel has no netlink dump of connections.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::error::{Error, Result};
use crate::model::Connection;

/// Where the calling thread's network namespace shows its IPVS connections.
/// (`/proc/net` follows the process's main thread, `thread-self` this thread.)
pub const PROC_IP_VS_CONN: &str = "/proc/thread-self/net/ip_vs_conn";

/// Read and parse the connection table of the calling thread's network namespace.
pub fn connections() -> Result<Vec<Connection>> {
    let text = std::fs::read_to_string(PROC_IP_VS_CONN)?;
    parse_connections(&text)
}

/// Parse the text of `/proc/net/ip_vs_conn` (header line included).
///
/// IPv4 addresses are 8 hex digits and ports 4 hex digits; IPv6 addresses are
/// printed in full colon form. A persistence engine adds its name and its
/// data (which may be empty, leaving only the name). Blank lines and the
/// header (`Pro FromIP ...`) are skipped; columns after the eleventh are
/// ignored, as ipvsadm ignores them.
pub fn parse_connections(text: &str) -> Result<Vec<Connection>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "Pro" {
            continue;
        }
        let err = |what: String| Error::ConnParse { line: lineno, what };
        if fields.len() < 9 {
            return Err(err(format!(
                "expected at least 9 columns, found {}",
                fields.len()
            )));
        }
        let sock = |a: usize, name: &str| -> Result<SocketAddr> {
            let addr = parse_addr(fields[a])
                .ok_or_else(|| err(format!("bad {name} address {:?}", fields[a])))?;
            let port = u16::from_str_radix(fields[a + 1], 16)
                .map_err(|_| err(format!("bad {name} port {:?}", fields[a + 1])))?;
            Ok(SocketAddr::new(addr, port))
        };
        let expires = fields[8]
            .parse()
            .map_err(|_| err(format!("bad expiry {:?}", fields[8])))?;
        let conn = Connection::new(
            fields[0],
            sock(1, "client")?,
            sock(3, "virtual")?,
            sock(5, "destination")?,
            fields[7],
            expires,
        );
        out.push(match fields.get(9) {
            Some(pe) => conn.with_pe(pe, fields.get(10).copied().unwrap_or("")),
            None => conn,
        });
    }
    Ok(out)
}

fn parse_addr(s: &str) -> Option<IpAddr> {
    if s.contains(':') {
        return s.parse().ok();
    }
    if s.len() != 8 {
        return None;
    }
    u32::from_str_radix(s, 16)
        .ok()
        .map(|v| IpAddr::V4(Ipv4Addr::from(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ipv4_ipv6_and_pe_columns() {
        let text = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP C0000202 D431 C0000201 0050 C6336402 1F90 ESTABLISHED     899
UDP 2001:0db8:0000:0000:0000:0000:0000:0002 0035 2001:0db8:0000:0000:0000:0000:0000:0001 0035 2001:0db8:0000:0000:0000:0000:0000:0064 0035 UDP             299
UDP C0000202 13C4 C0000201 13C4 C6336402 13C4 UDP             179 sip 1234@host
";
        let c = parse_connections(text).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].client, "192.0.2.2:54321".parse().unwrap());
        assert_eq!(c[0].virtual_addr, "192.0.2.1:80".parse().unwrap());
        assert_eq!(c[0].destination, "198.51.100.2:8080".parse().unwrap());
        assert_eq!(c[0].state, "ESTABLISHED");
        assert_eq!(c[0].expires, 899);
        assert_eq!(c[1].destination, "[2001:db8::64]:53".parse().unwrap());
        assert_eq!(c[2].pe_name.as_deref(), Some("sip"));
        assert_eq!(c[2].pe_data.as_deref(), Some("1234@host"));
    }

    /// A persistence engine without data prints its name alone; the CLI's
    /// `-L -c --persistent-conn` shows it with empty data, as ipvsadm does.
    #[test]
    fn pe_name_without_data() {
        let c = parse_connections("UDP C0000202 13C4 C0000201 13C4 C6336402 13C4 UDP 179 sip\n")
            .unwrap();
        assert_eq!(c[0].pe_name.as_deref(), Some("sip"));
        assert_eq!(c[0].pe_data.as_deref(), Some(""));
    }

    #[test]
    fn bad_lines_name_the_line() {
        let err = parse_connections("Pro x\nTCP ZZ 0050\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_connections("TCP C0000202 D431 C0000201 0050 C6336402 XXXX NONE 1 \n")
            .unwrap_err();
        assert!(err.to_string().contains("destination port"), "{err}");
    }
}
