//! The `--json` documents (schema in docs/json.md).
//!
//! Every listing prints exactly one JSON document on stdout. Numbers are JSON
//! numbers (64-bit counters exactly, never scaled), addresses are strings, and
//! flags and forwarding methods are names. The view types here are the schema:
//! they serialize and deserialize, so scripts in Rust can read them back.

use std::cell::RefCell;
use std::io::{self, Write};

use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

use ipvs_core::{
    Connection, Destination, ForwardMethod, Info, Netmask, Service, ServiceFlags, ServiceKey,
    Stats, SyncDaemon, Timeouts, TunnelChecksum, TunnelType,
};

/// Counters of a service or destination (`--stats` columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersView {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in.
    pub inpkts: u64,
    /// Packets out.
    pub outpkts: u64,
    /// Bytes in.
    pub inbytes: u64,
    /// Bytes out.
    pub outbytes: u64,
}

/// Rates of a service or destination (`--rate` columns), per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatesView {
    /// Connections per second.
    pub cps: u64,
    /// Packets in per second.
    pub inpps: u64,
    /// Packets out per second.
    pub outpps: u64,
    /// Bytes in per second.
    pub inbps: u64,
    /// Bytes out per second.
    pub outbps: u64,
}

fn counters(s: &Stats) -> CountersView {
    CountersView {
        conns: s.conns,
        inpkts: s.inpkts,
        outpkts: s.outpkts,
        inbytes: s.inbytes,
        outbytes: s.outbytes,
    }
}

fn rates(s: &Stats) -> RatesView {
    RatesView {
        cps: s.cps,
        inpps: s.inpps,
        outpps: s.outpps,
        inbps: s.inbps,
        outbps: s.outbps,
    }
}

/// Tunnel settings of a tunnelling destination (`--tun-info`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelView {
    /// `ipip`, `gue` or `gre`.
    #[serde(rename = "type")]
    pub kind: String,
    /// GUE destination port (null otherwise).
    pub port: Option<u16>,
    /// `nocsum`, `csum` or `remcsum` (null for ipip).
    pub checksum: Option<String>,
}

/// A real server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestinationView {
    /// Address, without brackets.
    pub address: String,
    /// Port.
    pub port: u16,
    /// `masquerade`, `local`, `tunnel`, `route` or `bypass`.
    pub forward: String,
    /// Weight.
    pub weight: u32,
    /// Upper connection threshold (0 = none).
    pub upper_threshold: u32,
    /// Lower connection threshold (0 = none).
    pub lower_threshold: u32,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistent connection templates.
    pub persistent_conns: u32,
    /// Tunnel settings, for tunnelling destinations only.
    pub tunnel: Option<TunnelView>,
    /// Counters.
    pub stats: CountersView,
    /// Rates.
    pub rate: RatesView,
}

/// A virtual service with its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    /// `tcp`, `udp`, `sctp`, or `fwmark`.
    pub protocol: String,
    /// Virtual address (null for fwmark services).
    pub address: Option<String>,
    /// Virtual port (null for fwmark services).
    pub port: Option<u16>,
    /// Firewall mark (null for address services).
    pub fwmark: Option<u32>,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// Scheduler name.
    pub scheduler: String,
    /// Scheduler flags by ipvsadm's `-b` names for this scheduler.
    pub scheduler_flags: Vec<String>,
    /// Whether the service is persistent.
    pub persistent: bool,
    /// Persistence timeout in seconds (meaningful when persistent).
    pub timeout: u32,
    /// Persistence netmask: dotted for IPv4, a prefix length for IPv6.
    pub netmask: String,
    /// Persistence engine, if any.
    pub pe: Option<String>,
    /// One-packet scheduling.
    pub one_packet: bool,
    /// Counters.
    pub stats: CountersView,
    /// Rates.
    pub rate: RatesView,
    /// Real servers in listing order.
    pub destinations: Vec<DestinationView>,
}

/// `-L --json` and `-L -t ... --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicesDocument {
    /// IPVS version, `major.minor.patch`.
    pub version: String,
    /// Connection hash table size.
    pub conn_table_size: u32,
    /// Services in listing order (ipvsadm's sort unless `--nosort`).
    pub services: Vec<ServiceView>,
}

/// `-L --info --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoDocument {
    /// IPVS version, `major.minor.patch`.
    pub version: String,
    /// The raw version code (0x010201 for 1.2.1).
    pub version_code: u32,
    /// Connection hash table size.
    pub conn_table_size: u32,
}

/// `-L --timeout --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutDocument {
    /// Established TCP, seconds.
    pub tcp: u32,
    /// TCP after FIN, seconds.
    pub tcp_fin: u32,
    /// UDP, seconds.
    pub udp: u32,
}

/// One sync daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonView {
    /// `master` or `backup`.
    pub state: String,
    /// Multicast interface.
    pub mcast_interface: String,
    /// Sync ID.
    pub syncid: u32,
    /// Maximum sync message length, when the kernel reports it.
    pub sync_maxlen: Option<u16>,
    /// Multicast group, when the kernel reports it.
    pub mcast_group: Option<String>,
    /// Multicast port, when the kernel reports it.
    pub mcast_port: Option<u16>,
    /// Multicast TTL, when the kernel reports it.
    pub mcast_ttl: Option<u8>,
}

/// `-L --daemon --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonDocument {
    /// Running daemons, master first.
    pub daemons: Vec<DaemonView>,
}

/// An address and port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Address, without brackets.
    pub address: String,
    /// Port.
    pub port: u16,
}

/// One connection entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionView {
    /// Protocol as the kernel names it (`TCP`, `UDP`, `SCTP`, ...).
    pub protocol: String,
    /// Client.
    pub client: Endpoint,
    /// Virtual service address.
    #[serde(rename = "virtual")]
    pub virtual_addr: Endpoint,
    /// Real server.
    pub destination: Endpoint,
    /// Protocol state.
    pub state: String,
    /// Seconds until expiry.
    pub expires: u32,
    /// Persistence engine, if any.
    pub pe_name: Option<String>,
    /// Persistence engine data, if any.
    pub pe_data: Option<String>,
}

/// `-L -c --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsDocument {
    /// Entries in the kernel's order.
    pub connections: Vec<ConnectionView>,
}

/// The view of a destination.
pub fn destination_view(d: &Destination) -> DestinationView {
    let tunnel = (d.forward == ForwardMethod::Tunnel).then(|| {
        let checksum = match d.tunnel_checksum {
            TunnelChecksum::NoCsum => "nocsum".to_string(),
            TunnelChecksum::Csum => "csum".to_string(),
            TunnelChecksum::RemCsum => "remcsum".to_string(),
            other => format!("0x{:x}", other.to_raw()),
        };
        match d.tunnel_type {
            TunnelType::Ipip => TunnelView {
                kind: "ipip".into(),
                port: None,
                checksum: None,
            },
            TunnelType::Gue => TunnelView {
                kind: "gue".into(),
                port: Some(d.tunnel_port),
                checksum: Some(checksum),
            },
            TunnelType::Gre => TunnelView {
                kind: "gre".into(),
                port: None,
                checksum: Some(checksum),
            },
            _ => TunnelView {
                kind: format!("type {}", d.tunnel_type.to_raw()),
                port: None,
                checksum: None,
            },
        }
    });
    DestinationView {
        address: d.addr.to_string(),
        port: d.port,
        forward: d.forward.as_str().into(),
        weight: d.weight,
        upper_threshold: d.upper_threshold,
        lower_threshold: d.lower_threshold,
        active_conns: d.active_conns,
        inactive_conns: d.inactive_conns,
        persistent_conns: d.persistent_conns,
        tunnel,
        stats: counters(&d.stats),
        rate: rates(&d.stats),
    }
}

/// The view of a service and its (already ordered) destinations.
pub fn service_view(s: &Service, dests: &[Destination]) -> ServiceView {
    let (protocol, address, port, fwmark) = match s.key {
        ServiceKey::Addr { protocol, addr } => (
            protocol.as_str().to_ascii_lowercase(),
            Some(addr.ip().to_string()),
            Some(addr.port()),
            None,
        ),
        ServiceKey::FwMark { mark, .. } => ("fwmark".to_string(), None, None, Some(mark)),
    };
    let netmask = match s.netmask {
        Netmask::V4(m) => m.to_string(),
        Netmask::V6(p) => p.to_string(),
    };
    let scheduler_flags = crate::render::sched_flags_text(s.flags, &s.scheduler)
        .map(|t| {
            t.split(',')
                .filter(|f| !f.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    ServiceView {
        protocol,
        address,
        port,
        fwmark,
        family: s.key.family().to_string(),
        scheduler: s.scheduler.to_string(),
        scheduler_flags,
        persistent: s.flags.contains(ServiceFlags::PERSISTENT),
        timeout: s.timeout,
        netmask,
        pe: s.pe_name.clone().filter(|p| !p.is_empty()),
        one_packet: s.flags.contains(ServiceFlags::ONEPACKET),
        stats: counters(&s.stats),
        rate: rates(&s.stats),
        destinations: dests.iter().map(destination_view).collect(),
    }
}

/// The document of a service listing.
pub fn services_document(
    info: &Info,
    services: &[(Service, Vec<Destination>)],
) -> ServicesDocument {
    ServicesDocument {
        version: info.version_string(),
        conn_table_size: info.conn_table_size,
        services: services.iter().map(|(s, d)| service_view(s, d)).collect(),
    }
}

/// The info document.
pub fn info_document(info: &Info) -> InfoDocument {
    InfoDocument {
        version: info.version_string(),
        version_code: info.version,
        conn_table_size: info.conn_table_size,
    }
}

/// The timeout document.
pub fn timeout_document(t: &Timeouts) -> TimeoutDocument {
    TimeoutDocument {
        tcp: t.tcp,
        tcp_fin: t.tcp_fin,
        udp: t.udp,
    }
}

/// The daemon document (master first).
pub fn daemon_document(daemons: &[SyncDaemon]) -> DaemonDocument {
    let mut list: Vec<&SyncDaemon> = daemons.iter().collect();
    list.sort_by_key(|d| d.state.to_raw());
    DaemonDocument {
        daemons: list
            .into_iter()
            .map(|d| DaemonView {
                state: match d.state {
                    ipvs_core::DaemonState::Master => "master".into(),
                    ipvs_core::DaemonState::Backup => "backup".into(),
                    other => format!("state {}", other.to_raw()),
                },
                mcast_interface: d.mcast_ifn.clone(),
                syncid: d.syncid,
                sync_maxlen: d.sync_maxlen,
                mcast_group: d.mcast_group.map(|g| g.to_string()),
                mcast_port: d.mcast_port,
                mcast_ttl: d.mcast_ttl,
            })
            .collect(),
    }
}

/// The connections document.
pub fn connections_document(conns: &[Connection]) -> ConnectionsDocument {
    let ep = |a: std::net::SocketAddr| Endpoint {
        address: a.ip().to_string(),
        port: a.port(),
    };
    ConnectionsDocument {
        connections: conns
            .iter()
            .map(|c| ConnectionView {
                protocol: c.protocol.clone(),
                client: ep(c.client),
                virtual_addr: ep(c.virtual_addr),
                destination: ep(c.destination),
                state: c.state.clone(),
                expires: c.expires,
                pe_name: c.pe_name.clone(),
                pe_data: c.pe_data.clone(),
            })
            .collect(),
    }
}

/// Serialize a document as pretty JSON with a trailing newline.
pub fn to_text<T: Serialize>(doc: &T) -> String {
    match serde_json::to_string_pretty(doc) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // Our views contain only strings, numbers, options and vectors.
        Err(e) => format!("{{\"error\":\"{e}\"}}\n"),
    }
}

/// Write a document as pretty JSON with a trailing newline.
pub fn write_document<W: Write + ?Sized, T: Serialize>(out: &mut W, doc: &T) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, doc)?;
    out.write_all(b"\n")
}

/// Why a streamed document stopped.
#[derive(Debug)]
pub enum StreamError<E> {
    /// The source of the services failed (a kernel error); what was written
    /// so far is an unfinished document.
    Source(E),
    /// Writing failed.
    Io(io::Error),
}

/// Write a [`ServicesDocument`] service by service as `services` yields
/// them: the same bytes as [`to_text`] of the whole document, holding one
/// service at a time.
pub fn write_services<W, E, I>(out: &mut W, info: &Info, services: I) -> Result<(), StreamError<E>>
where
    W: Write + ?Sized,
    I: Iterator<Item = Result<(Service, Vec<Destination>), E>>,
{
    let doc = StreamedServices {
        version: info.version_string(),
        conn_table_size: info.conn_table_size,
        services: RefCell::new(Some(services)),
        failed: RefCell::new(None),
    };
    match serde_json::to_writer_pretty(&mut *out, &doc) {
        Ok(()) => out.write_all(b"\n").map_err(StreamError::Io),
        Err(e) => match doc.failed.into_inner() {
            Some(source) => Err(StreamError::Source(source)),
            None => Err(StreamError::Io(e.into())),
        },
    }
}

/// Serializes as a [`ServicesDocument`], pulling services from an iterator.
struct StreamedServices<I, E> {
    version: String,
    conn_table_size: u32,
    services: RefCell<Option<I>>,
    failed: RefCell<Option<E>>,
}

impl<I, E> Serialize for StreamedServices<I, E>
where
    I: Iterator<Item = Result<(Service, Vec<Destination>), E>>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut doc = serializer.serialize_struct("ServicesDocument", 3)?;
        doc.serialize_field("version", &self.version)?;
        doc.serialize_field("conn_table_size", &self.conn_table_size)?;
        doc.serialize_field("services", &ServiceSeq(self))?;
        doc.end()
    }
}

struct ServiceSeq<'a, I, E>(&'a StreamedServices<I, E>);

impl<I, E> Serialize for ServiceSeq<'_, I, E>
where
    I: Iterator<Item = Result<(Service, Vec<Destination>), E>>,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        let services = self.0.services.borrow_mut().take();
        for entry in services.into_iter().flatten() {
            match entry {
                Ok((s, d)) => seq.serialize_element(&service_view(&s, &d))?,
                Err(e) => {
                    *self.0.failed.borrow_mut() = Some(e);
                    return Err(S::Error::custom("the service listing failed"));
                }
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::Scheduler;

    #[test]
    fn services_round_trip_with_exact_64bit_counters() {
        let mut s = Service::new(
            ServiceKey::udp("[2001:db8::1]:53".parse().unwrap()),
            Scheduler::Mh,
        )
        .persistent(300);
        s.flags |= ServiceFlags::SCHED1;
        s.stats.inbytes = u64::MAX;
        let mut d = Destination::new("192.0.2.7:53".parse().unwrap(), ForwardMethod::Tunnel);
        d.tunnel_type = TunnelType::Gue;
        d.tunnel_port = 6080;
        d.stats.outbytes = 12_345_678_901_234_567_890;
        let info = Info::new(0x010201, 4096);
        let doc = services_document(&info, &[(s, vec![d])]);
        let text = to_text(&doc);
        assert!(text.contains("18446744073709551615"), "{text}");
        assert!(
            text.contains("\"scheduler_flags\": [\n        \"mh-fallback\"\n      ]"),
            "{text}"
        );
        let back: ServicesDocument = serde_json::from_str(&text).unwrap();
        assert_eq!(back, doc);
        assert_eq!(
            back.services[0].destinations[0]
                .tunnel
                .as_ref()
                .unwrap()
                .port,
            Some(6080)
        );
        assert_eq!(back.services[0].family, "ipv6");
    }

    #[test]
    fn streamed_services_are_the_document_byte_for_byte() {
        let info = Info::new(0x010201, 4096);
        let svc = |port: u16| {
            Service::new(
                ServiceKey::tcp(std::net::SocketAddr::from(([192, 0, 2, 1], port))),
                Scheduler::Rr,
            )
        };
        let dest = Destination::new("192.0.2.7:80".parse().unwrap(), ForwardMethod::Masquerade);
        let tables = [
            vec![],
            vec![(svc(80), vec![])],
            vec![
                (svc(80), vec![dest.clone(), dest.clone()]),
                (svc(81), vec![dest]),
            ],
        ];
        for table in tables {
            let mut streamed = Vec::new();
            let items = table.iter().cloned().map(Ok::<_, ()>);
            write_services(&mut streamed, &info, items).unwrap();
            let whole = to_text(&services_document(&info, &table));
            assert_eq!(String::from_utf8(streamed).unwrap(), whole);
        }
        // A failing source stops the document and is handed back.
        let items = [Ok((svc(80), vec![])), Err("gone")].into_iter();
        let mut out = Vec::new();
        assert!(matches!(
            write_services(&mut out, &info, items),
            Err(StreamError::Source("gone"))
        ));
    }

    #[test]
    fn other_documents_round_trip() {
        let t = timeout_document(&Timeouts::new(900, 120, 300));
        assert_eq!(
            serde_json::from_str::<TimeoutDocument>(&to_text(&t)).unwrap(),
            t
        );
        let mut d = SyncDaemon::new(ipvs_core::DaemonState::Backup, "eth1", 9);
        d.mcast_group = Some("233.252.0.1".parse().unwrap());
        let doc = daemon_document(&[d]);
        assert_eq!(
            serde_json::from_str::<DaemonDocument>(&to_text(&doc)).unwrap(),
            doc
        );
        assert_eq!(doc.daemons[0].state, "backup");
        let i = info_document(&Info::new(0x010201, 4096));
        assert_eq!(
            serde_json::from_str::<InfoDocument>(&to_text(&i)).unwrap(),
            i
        );
    }
}
