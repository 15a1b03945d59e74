//! The typed model of the IPVS table: services, destinations, stats, timeouts,
//! sync daemons and connections. Every type here is plain data with serde
//! support; the codec turns them into and out of netlink attributes.
//!
//! Types that mirror a kernel set are `#[non_exhaustive]`: a newer kernel may
//! add a variant or a field without breaking users. Structs are built with
//! their constructors and chained setters.

mod destination;
mod kernel;
mod service;

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};

pub use destination::{Destination, DestinationSpec, ForwardMethod, TunnelChecksum, TunnelType};
pub use kernel::{DaemonState, Info, Stats, SyncDaemon, Timeouts};
pub use service::{Netmask, Protocol, Scheduler, Service, ServiceFlags, ServiceKey, ServiceSpec};

/// Address family of a service, destination or sync group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum AddressFamily {
    /// IPv4 (`AF_INET`, 2).
    Inet,
    /// IPv6 (`AF_INET6`, 10).
    Inet6,
}

impl AddressFamily {
    /// The kernel's `AF_*` number.
    pub fn to_raw(self) -> u16 {
        match self {
            AddressFamily::Inet => 2,
            AddressFamily::Inet6 => 10,
        }
    }

    /// The family for a kernel `AF_*` number, `None` for any other number.
    pub fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            2 => Some(AddressFamily::Inet),
            10 => Some(AddressFamily::Inet6),
            _ => None,
        }
    }

    /// The family an address belongs to.
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        }
    }
}

impl fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressFamily::Inet => "ipv4",
            AddressFamily::Inet6 => "ipv6",
        })
    }
}

/// One entry of `/proc/net/ip_vs_conn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Connection {
    /// Protocol name as the kernel prints it (`TCP`, `UDP`, `SCTP`, ...).
    pub protocol: String,
    /// Client address and port.
    pub client: SocketAddr,
    /// Virtual address and port.
    pub virtual_addr: SocketAddr,
    /// Destination (real server) address and port.
    pub destination: SocketAddr,
    /// Protocol state (`ESTABLISHED`, `SYN_RECV`, `NONE`, ...).
    pub state: String,
    /// Seconds until the entry expires.
    pub expires: u32,
    /// Persistence engine name, when the entry has one.
    pub pe_name: Option<String>,
    /// Persistence engine data (e.g. the SIP Call-ID), when present.
    pub pe_data: Option<String>,
}

impl Connection {
    /// A connection entry without persistence-engine columns.
    pub fn new(
        protocol: &str,
        client: SocketAddr,
        virtual_addr: SocketAddr,
        destination: SocketAddr,
        state: &str,
        expires: u32,
    ) -> Self {
        Connection {
            protocol: protocol.to_string(),
            client,
            virtual_addr,
            destination,
            state: state.to_string(),
            expires,
            pe_name: None,
            pe_data: None,
        }
    }

    /// Set the persistence engine columns.
    pub fn with_pe(mut self, name: &str, data: &str) -> Self {
        self.pe_name = Some(name.to_string());
        self.pe_data = Some(data.to_string());
        self
    }
}

/// An unspecified address of a family (used for fwmark services).
pub(crate) fn unspecified(family: AddressFamily) -> IpAddr {
    match family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheduler_names_round_trip() {
        for s in Scheduler::KNOWN.iter() {
            assert_eq!(&Scheduler::from(s.as_str()), s);
        }
        assert_eq!(Scheduler::from("foo"), Scheduler::Other("foo".into()));
    }

    #[test]
    fn sched_flag_names_follow_scheduler() {
        let f = ServiceFlags::SCHED1 | ServiceFlags::SCHED2;
        assert_eq!(
            f.sched_flag_names(&Scheduler::Sh),
            ["sh-fallback", "sh-port"]
        );
        assert_eq!(
            f.sched_flag_names(&Scheduler::Mh),
            ["mh-fallback", "mh-port"]
        );
        assert_eq!(f.sched_flag_names(&Scheduler::Rr), ["flag-1", "flag-2"]);
        assert_eq!(
            ServiceFlags::from_sched_flag_name("mh-port"),
            Some(ServiceFlags::SCHED2)
        );
        assert_eq!(ServiceFlags::from_sched_flag_name("nope"), None);
    }

    #[test]
    fn service_json_round_trip() {
        let svc = Service::new(
            ServiceKey::tcp("192.0.2.1:80".parse().unwrap()),
            Scheduler::Wlc,
        )
        .persistent(300);
        let json = serde_json::to_string(&svc).unwrap();
        assert!(json.contains("\"scheduler\":\"wlc\""), "{json}");
        let back: Service = serde_json::from_str(&json).unwrap();
        assert_eq!(back, svc);
    }

    #[test]
    fn version_string() {
        let info = Info::new(0x010201, 4096);
        assert_eq!(info.version_string(), "1.2.1");
    }
}
