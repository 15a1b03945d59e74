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
/// printed in full colon form; a persistence engine adds two columns.
pub fn parse_connections(text: &str) -> Result<Vec<Connection>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || fields[0] == "Pro" {
            continue;
        }
        let err = |what: String| Error::ConnParse { line: lineno, what };
        if fields.len() != 9 && fields.len() != 11 {
            return Err(err(format!(
                "expected 9 or 11 columns, found {}",
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
        out.push(Connection {
            protocol: fields[0].to_string(),
            client: sock(1, "client")?,
            virtual_addr: sock(3, "virtual")?,
            destination: sock(5, "destination")?,
            state: fields[7].to_string(),
            expires: fields[8]
                .parse()
                .map_err(|_| err(format!("bad expiry {:?}", fields[8])))?,
            pe_name: fields.get(9).map(|s| s.to_string()),
            pe_data: fields.get(10).map(|s| s.to_string()),
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

    #[test]
    fn bad_lines_name_the_line() {
        let err = parse_connections("Pro x\nTCP ZZ 0050\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
        let err = parse_connections("TCP C0000202 D431 C0000201 0050 C6336402 XXXX NONE 1 \n")
            .unwrap_err();
        assert!(err.to_string().contains("destination port"), "{err}");
    }
}
