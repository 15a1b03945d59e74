//! Keys and settings of virtual services: protocol, key, scheduler, flags,
//! persistence netmask, and the [`Service`] itself with its config-only view.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AddressFamily, Stats};

/// Transport protocol of an address-keyed virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Protocol {
    /// TCP (IP protocol 6).
    Tcp,
    /// UDP (IP protocol 17).
    Udp,
    /// SCTP (IP protocol 132).
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn to_raw(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    /// The protocol for an IP protocol number, `None` if IPVS does not serve it.
    pub fn from_raw(raw: u16) -> Option<Self> {
        match raw {
            6 => Some(Protocol::Tcp),
            17 => Some(Protocol::Udp),
            132 => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// Upper-case name as ipvsadm prints it (`TCP`, `UDP`, `SCTP`).
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKey {
    /// A service on a protocol, address and port (ipvsadm `-t`, `-u`, `--sctp-service`).
    Addr {
        /// TCP, UDP or SCTP.
        protocol: Protocol,
        /// Virtual address and port.
        addr: SocketAddr,
    },
    /// A service on a firewall mark (ipvsadm `-f`), per address family.
    FwMark {
        /// The netfilter mark, non-zero.
        mark: u32,
        /// IPv4 or IPv6 traffic.
        family: AddressFamily,
    },
}

impl ServiceKey {
    /// A TCP service key.
    pub fn tcp(addr: SocketAddr) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr,
        }
    }

    /// A UDP service key.
    pub fn udp(addr: SocketAddr) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr,
        }
    }

    /// An SCTP service key.
    pub fn sctp(addr: SocketAddr) -> Self {
        ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr,
        }
    }

    /// A firewall-mark service key.
    pub fn fwmark(mark: u32, family: AddressFamily) -> Self {
        ServiceKey::FwMark { mark, family }
    }

    /// The address family of the service.
    pub fn family(&self) -> AddressFamily {
        match self {
            ServiceKey::Addr { addr, .. } => AddressFamily::of(&addr.ip()),
            ServiceKey::FwMark { family, .. } => *family,
        }
    }
}

impl fmt::Display for ServiceKey {
    /// `TCP 192.0.2.1:80`, `UDP [2001:db8::1]:53`, `FWM 7 IPv4`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Addr { protocol, addr } => write!(f, "{protocol} {addr}"),
            ServiceKey::FwMark { mark, family } => match family {
                AddressFamily::Inet => write!(f, "FWM {mark} IPv4"),
                AddressFamily::Inet6 => write!(f, "FWM {mark} IPv6"),
            },
        }
    }
}

/// A scheduling algorithm, by kernel module name (`ip_vs_<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
#[non_exhaustive]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections (the kernel's default in ipvsadm).
    Wlc,
    /// Locality-based least connections.
    Lblc,
    /// Locality-based least connections with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
    /// Weighted random twos choice.
    Twos,
    /// A scheduler this library does not know by name.
    Other(String),
}

impl Scheduler {
    /// Every scheduler shipped with the kernel (the ones with a named variant).
    pub const KNOWN: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Mh,
        Scheduler::Twos,
    ];

    /// The kernel name (`"rr"`, `"wlc"`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Mh => "mh",
            Scheduler::Twos => "twos",
            Scheduler::Other(name) => name,
        }
    }
}

impl From<&str> for Scheduler {
    fn from(name: &str) -> Self {
        Scheduler::KNOWN
            .iter()
            .find(|s| s.as_str() == name)
            .cloned()
            .unwrap_or_else(|| Scheduler::Other(name.to_string()))
    }
}

impl From<String> for Scheduler {
    fn from(name: String) -> Self {
        Scheduler::from(name.as_str())
    }
}

impl From<Scheduler> for String {
    fn from(s: Scheduler) -> String {
        s.as_str().to_string()
    }
}

impl FromStr for Scheduler {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Scheduler::from(s))
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Virtual service flags (`IP_VS_SVC_F_*`), a bit set.
///
/// The scheduler flags 1..3 mean different things per scheduler, so `SH_*`
/// and `MH_*` share bits; [`ServiceFlags::names`] spells them the way
/// ipvsadm's `-b` option does for a given scheduler. Unknown bits from a
/// newer kernel are kept. Serialized as the raw number (names depend on the
/// scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct ServiceFlags(u32);

bitflags::bitflags! {
    impl ServiceFlags: u32 {
        /// Persistent service (`IP_VS_SVC_F_PERSISTENT`, ipvsadm `-p`).
        const PERSISTENT = 0x0001;
        /// Entry is hashed in the kernel table (reported by the kernel, ignored on set).
        const HASHED = 0x0002;
        /// One-packet scheduling (ipvsadm `-o`).
        const ONEPACKET = 0x0004;
        /// Scheduler flag 1 (ipvsadm `-b flag-1`).
        const SCHED1 = 0x0008;
        /// Scheduler flag 2 (ipvsadm `-b flag-2`).
        const SCHED2 = 0x0010;
        /// Scheduler flag 3 (ipvsadm `-b flag-3`).
        const SCHED3 = 0x0020;
        // Bits a newer kernel may define are kept, not dropped.
        const _ = !0;
    }
}

impl ServiceFlags {
    /// No flag set.
    pub const EMPTY: ServiceFlags = ServiceFlags::empty();
    /// `sh` scheduler: fall back to another server when the hashed one is unavailable.
    pub const SH_FALLBACK: ServiceFlags = ServiceFlags::SCHED1;
    /// `sh` scheduler: hash the source port too.
    pub const SH_PORT: ServiceFlags = ServiceFlags::SCHED2;
    /// `mh` scheduler: fall back to another server when the hashed one is unavailable.
    pub const MH_FALLBACK: ServiceFlags = ServiceFlags::SCHED1;
    /// `mh` scheduler: hash the source port too.
    pub const MH_PORT: ServiceFlags = ServiceFlags::SCHED2;
    /// Flags the kernel sets by itself and ignores when they are sent: they
    /// say nothing about the configuration.
    pub const KERNEL_SET: ServiceFlags = ServiceFlags::HASHED;

    /// The scheduler flags (1..3) as ipvsadm's `-b` names for `scheduler`:
    /// `sh-fallback`, `sh-port`, `mh-fallback`, `mh-port`, else `flag-N`.
    pub fn sched_flag_names(self, scheduler: &Scheduler) -> Vec<&'static str> {
        let mut names = Vec::new();
        let prefix = match scheduler {
            Scheduler::Sh => Some(("sh-fallback", "sh-port")),
            Scheduler::Mh => Some(("mh-fallback", "mh-port")),
            _ => None,
        };
        if self.contains(Self::SCHED1) {
            names.push(prefix.map_or("flag-1", |p| p.0));
        }
        if self.contains(Self::SCHED2) {
            names.push(prefix.map_or("flag-2", |p| p.1));
        }
        if self.contains(Self::SCHED3) {
            names.push("flag-3");
        }
        names
    }

    /// All set flags by name for `scheduler`: `persistent`, `hashed`,
    /// `one-packet`, then [`ServiceFlags::sched_flag_names`].
    pub fn names(self, scheduler: &Scheduler) -> Vec<&'static str> {
        let mut names = Vec::new();
        if self.contains(Self::PERSISTENT) {
            names.push("persistent");
        }
        if self.contains(Self::HASHED) {
            names.push("hashed");
        }
        if self.contains(Self::ONEPACKET) {
            names.push("one-packet");
        }
        names.extend(self.sched_flag_names(scheduler));
        names
    }

    /// Parse one ipvsadm `-b` name (`sh-fallback`, `sh-port`, `mh-fallback`,
    /// `mh-port`, `flag-1`, `flag-2`, `flag-3`); `None` for anything else.
    pub fn from_sched_flag_name(name: &str) -> Option<ServiceFlags> {
        Some(match name {
            "sh-fallback" | "mh-fallback" | "flag-1" => Self::SCHED1,
            "sh-port" | "mh-port" | "flag-2" => Self::SCHED2,
            "flag-3" => Self::SCHED3,
            _ => return None,
        })
    }
}

impl Serialize for ServiceFlags {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(self.bits())
    }
}

impl<'de> Deserialize<'de> for ServiceFlags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        u32::deserialize(deserializer).map(ServiceFlags::from_bits_retain)
    }
}

/// Persistence granularity: client addresses within this mask share a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Netmask {
    /// IPv4 services: a dotted mask such as 255.255.255.0.
    V4(Ipv4Addr),
    /// IPv6 services: a prefix length 1..=128.
    V6(u8),
}

impl Netmask {
    /// The kernel default for a family: /32 or /128.
    pub fn host(family: AddressFamily) -> Self {
        match family {
            AddressFamily::Inet => Netmask::V4(Ipv4Addr::BROADCAST),
            AddressFamily::Inet6 => Netmask::V6(128),
        }
    }
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netmask::V4(mask) => write!(f, "{mask}"),
            Netmask::V6(plen) => write!(f, "{plen}"),
        }
    }
}

/// A virtual service as the kernel reports it: its settings and counters.
///
/// Build one with [`Service::new`] and the chained setters; compare what
/// the kernel has with what you asked for through [`Service::spec`].
///
/// ```
/// use ipvs_core::{Scheduler, Service, ServiceFlags, ServiceKey};
///
/// let key = ServiceKey::tcp("192.0.2.1:443".parse().unwrap());
/// let svc = Service::new(key, Scheduler::Sh)
///     .persistent(300)
///     .flags(ServiceFlags::SH_PORT)
///     .netmask(ipvs_core::Netmask::V4("255.255.255.0".parse().unwrap()));
/// assert!(svc.flags.contains(ServiceFlags::PERSISTENT | ServiceFlags::SH_PORT));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Service {
    /// What identifies the service.
    pub key: ServiceKey,
    /// Scheduling algorithm.
    pub scheduler: Scheduler,
    /// Service flags; [`ServiceFlags::PERSISTENT`] enables persistence.
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (used when persistent).
    pub timeout: u32,
    /// Persistence granularity.
    pub netmask: Netmask,
    /// Persistence engine name (`sip`), if any.
    pub pe_name: Option<String>,
    /// Counters, as read from the kernel (ignored when sending).
    #[serde(default)]
    pub stats: Stats,
}

impl Service {
    /// A service with defaults as ipvsadm uses them: no flags, timeout 0,
    /// host netmask, no persistence engine.
    pub fn new(key: ServiceKey, scheduler: Scheduler) -> Self {
        Service {
            key,
            scheduler,
            flags: ServiceFlags::EMPTY,
            timeout: 0,
            netmask: Netmask::host(key.family()),
            pe_name: None,
            stats: Stats::default(),
        }
    }

    /// Make the service persistent with `timeout` seconds (ipvsadm `-p`).
    pub fn persistent(mut self, timeout: u32) -> Self {
        self.flags.insert(ServiceFlags::PERSISTENT);
        self.timeout = timeout;
        self
    }

    /// Add flags (one-packet, scheduler flags, ...) to those already set.
    pub fn flags(mut self, flags: ServiceFlags) -> Self {
        self.flags.insert(flags);
        self
    }

    /// Set the persistence timeout without changing the flags.
    pub fn timeout(mut self, seconds: u32) -> Self {
        self.timeout = seconds;
        self
    }

    /// Set the persistence granularity (ipvsadm `-M`).
    pub fn netmask(mut self, netmask: Netmask) -> Self {
        self.netmask = netmask;
        self
    }

    /// Set the persistence engine (ipvsadm `--pe`, e.g. `sip`).
    pub fn persistence_engine(mut self, name: &str) -> Self {
        self.pe_name = Some(name.to_string());
        self
    }

    /// Set the counters (for tests and for callers that build reports).
    pub fn stats(mut self, stats: Stats) -> Self {
        self.stats = stats;
        self
    }

    /// The settings alone, without counters and kernel-set flags: what to
    /// compare with a desired service.
    pub fn spec(&self) -> ServiceSpec {
        ServiceSpec {
            key: self.key,
            scheduler: self.scheduler.clone(),
            flags: self.flags - ServiceFlags::KERNEL_SET,
            timeout: self.timeout,
            netmask: self.netmask,
            pe_name: self.pe_name.clone(),
        }
    }
}

/// The config-only view of a [`Service`]: what a user sets, nothing the
/// kernel counts or sets by itself (counters, [`ServiceFlags::HASHED`]).
/// Two specs are equal exactly when the kernel would treat the services as
/// configured alike, so "is the kernel's service what I asked for?" is
/// `kernel.spec() == desired.spec()`.
///
/// ```
/// use ipvs_core::{Scheduler, Service, ServiceFlags, ServiceKey, Stats};
///
/// let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
/// let desired = Service::new(key, Scheduler::Wrr);
/// // What a dump returns: the kernel's HASHED flag and some traffic.
/// let mut seen = desired.clone().flags(ServiceFlags::HASHED);
/// seen.stats.conns = 42;
/// assert_ne!(seen, desired);
/// assert_eq!(seen.spec(), desired.spec());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceSpec {
    /// What identifies the service.
    pub key: ServiceKey,
    /// Scheduling algorithm.
    pub scheduler: Scheduler,
    /// Service flags without the kernel-set ones.
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds.
    pub timeout: u32,
    /// Persistence granularity.
    pub netmask: Netmask,
    /// Persistence engine name.
    pub pe_name: Option<String>,
}

impl From<ServiceSpec> for Service {
    fn from(spec: ServiceSpec) -> Service {
        Service {
            key: spec.key,
            scheduler: spec.scheduler,
            flags: spec.flags,
            timeout: spec.timeout,
            netmask: spec.netmask,
            pe_name: spec.pe_name,
            stats: Stats::default(),
        }
    }
}

impl From<&Service> for ServiceSpec {
    fn from(service: &Service) -> ServiceSpec {
        service.spec()
    }
}
