//! ipvsadm's `-L -c` text: the connection entries of `/proc/net/ip_vs_conn`.

use std::io::{self, Write};

use ipvs_core::{Connection, Protocol};

use crate::args::Format;
use crate::render::{addrport, Names};

/// The header of `-L -c` (with the persistence-engine columns under `--persistent-conn`).
pub fn title<W: Write + ?Sized>(out: &mut W, format: &Format) -> io::Result<()> {
    if format.persistent_conn {
        writeln!(
            out,
            "IPVS connection entries\npro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        )
    } else {
        writeln!(
            out,
            "IPVS connection entries\npro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        )
    }
}

/// The protocol of a connection entry, for naming its ports.
pub fn protocol(c: &Connection) -> Option<Protocol> {
    match c.protocol.as_str() {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

/// One line of `-L -c`.
pub fn entry<W: Write + ?Sized>(
    out: &mut W,
    names: &dyn Names,
    c: &Connection,
    format: &Format,
) -> io::Result<()> {
    let protocol = protocol(c);
    let name =
        |a: std::net::SocketAddr| addrport(names, a.ip(), a.port(), protocol, format.numeric);
    let expire = format!("{:02}:{:02}", c.expires / 60, c.expires % 60);
    // ipvsadm prints the persistence-engine columns only for entries that have
    // them (all 11 fields scanned); other lines keep the short layout. A name
    // without data (10 fields; ipvs-core gives empty data) is not 11 fields.
    let pe_data = c.pe_data.as_deref().filter(|d| !d.is_empty());
    if let (true, Some(pe_name), Some(pe_data)) =
        (format.persistent_conn, c.pe_name.as_deref(), pe_data)
    {
        writeln!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {:<18} {:<16} {}",
            c.protocol,
            expire,
            c.state,
            name(c.client),
            name(c.virtual_addr),
            name(c.destination),
            pe_name,
            pe_data
        )
    } else {
        writeln!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            c.protocol,
            expire,
            c.state,
            name(c.client),
            name(c.virtual_addr),
            name(c.destination)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{to_string, NoNames};

    #[test]
    fn persistence_columns_only_for_lines_with_engine_data() {
        let c = |pe: Option<(&str, &str)>| {
            let c = Connection::new(
                "UDP",
                "192.0.2.100:5060".parse().unwrap(),
                "192.0.2.1:5060".parse().unwrap(),
                "198.51.100.2:5060".parse().unwrap(),
                "UDP",
                179,
            );
            match pe {
                Some((name, data)) => c.with_pe(name, data),
                None => c,
            }
        };
        let f = Format {
            numeric: true,
            persistent_conn: true,
            ..Default::default()
        };
        let short =
            "UDP 02:59  UDP         192.0.2.100:5060   192.0.2.1:5060     198.51.100.2:5060\n";
        assert_eq!(to_string(|o| entry(o, &NoNames, &c(None), &f)), short);
        assert_eq!(
            to_string(|o| entry(o, &NoNames, &c(Some(("sip", ""))), &f)),
            short
        );
        assert_eq!(
            to_string(|o| entry(o, &NoNames, &c(Some(("sip", "1234@host"))), &f)),
            "UDP 02:59  UDP         192.0.2.100:5060   192.0.2.1:5060     198.51.100.2:5060  sip              1234@host\n"
        );
    }

    #[test]
    fn connection_line() {
        let c = Connection::new(
            "TCP",
            "192.0.2.100:40000".parse().unwrap(),
            "192.0.2.1:80".parse().unwrap(),
            "198.51.100.2:80".parse().unwrap(),
            "ESTABLISHED",
            899,
        );
        let f = Format {
            numeric: true,
            ..Default::default()
        };
        assert_eq!(
            to_string(|o| entry(o, &NoNames, &c, &f)),
            "TCP 14:59  ESTABLISHED 192.0.2.100:40000  192.0.2.1:80       198.51.100.2:80\n"
        );
    }
}
