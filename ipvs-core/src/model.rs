//! The typed model of the IPVS table: services, destinations, stats, timeouts,
//! sync daemons and connections. Every type here is plain data with serde
//! support; the codec turns them into and out of netlink attributes.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Address family of a service, destination or sync group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// Transport protocol of an address-keyed virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
/// ipvsadm's `-b` option does for a given scheduler. Serialized as the raw
/// number (names depend on the scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    /// No flag set.
    pub const EMPTY: ServiceFlags = ServiceFlags(0);
    /// Persistent service (`IP_VS_SVC_F_PERSISTENT`, ipvsadm `-p`).
    pub const PERSISTENT: ServiceFlags = ServiceFlags(0x0001);
    /// Entry is hashed in the kernel table (reported by the kernel, ignored on set).
    pub const HASHED: ServiceFlags = ServiceFlags(0x0002);
    /// One-packet scheduling (ipvsadm `-o`).
    pub const ONEPACKET: ServiceFlags = ServiceFlags(0x0004);
    /// Scheduler flag 1 (ipvsadm `-b flag-1`).
    pub const SCHED1: ServiceFlags = ServiceFlags(0x0008);
    /// Scheduler flag 2 (ipvsadm `-b flag-2`).
    pub const SCHED2: ServiceFlags = ServiceFlags(0x0010);
    /// Scheduler flag 3 (ipvsadm `-b flag-3`).
    pub const SCHED3: ServiceFlags = ServiceFlags(0x0020);
    /// `sh` scheduler: fall back to another server when the hashed one is unavailable.
    pub const SH_FALLBACK: ServiceFlags = ServiceFlags::SCHED1;
    /// `sh` scheduler: hash the source port too.
    pub const SH_PORT: ServiceFlags = ServiceFlags::SCHED2;
    /// `mh` scheduler: fall back to another server when the hashed one is unavailable.
    pub const MH_FALLBACK: ServiceFlags = ServiceFlags::SCHED1;
    /// `mh` scheduler: hash the source port too.
    pub const MH_PORT: ServiceFlags = ServiceFlags::SCHED2;

    /// The raw bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set.
    pub fn contains(self, other: ServiceFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Set the bits of `other`.
    pub fn insert(&mut self, other: ServiceFlags) {
        self.0 |= other.0;
    }

    /// Clear the bits of `other`.
    pub fn remove(&mut self, other: ServiceFlags) {
        self.0 &= !other.0;
    }

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

impl std::ops::BitOr for ServiceFlags {
    type Output = ServiceFlags;
    fn bitor(self, rhs: ServiceFlags) -> ServiceFlags {
        ServiceFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for ServiceFlags {
    fn bitor_assign(&mut self, rhs: ServiceFlags) {
        self.0 |= rhs.0;
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

/// Traffic counters and rates. 64-bit counters are used where the kernel sends
/// `STATS64` (Linux 4.1+); otherwise the 32-bit values are widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Current connection rate (per second).
    pub cps: u64,
    /// Current incoming packet rate.
    pub inpps: u64,
    /// Current outgoing packet rate.
    pub outpps: u64,
    /// Current incoming byte rate.
    pub inbps: u64,
    /// Current outgoing byte rate.
    pub outbps: u64,
}

/// A virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// How packets reach a destination (`IP_VS_CONN_F_*` forwarding methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMethod {
    /// NAT (ipvsadm `-m`), kernel value 0.
    Masquerade,
    /// Local node, kernel value 1.
    Local,
    /// IP-in-IP/GUE/GRE tunnelling (ipvsadm `-i`), kernel value 2.
    Tunnel,
    /// Direct routing (ipvsadm `-g`), kernel value 3.
    DirectRoute,
    /// Cache bypass, kernel value 4.
    Bypass,
}

impl ForwardMethod {
    /// The kernel's forwarding-method number.
    pub fn to_raw(self) -> u32 {
        match self {
            ForwardMethod::Masquerade => 0,
            ForwardMethod::Local => 1,
            ForwardMethod::Tunnel => 2,
            ForwardMethod::DirectRoute => 3,
            ForwardMethod::Bypass => 4,
        }
    }

    /// The method for a kernel number (the low 3 bits of the connection flags).
    pub fn from_raw(raw: u32) -> Option<Self> {
        Some(match raw & 0x7 {
            0 => ForwardMethod::Masquerade,
            1 => ForwardMethod::Local,
            2 => ForwardMethod::Tunnel,
            3 => ForwardMethod::DirectRoute,
            4 => ForwardMethod::Bypass,
            _ => return None,
        })
    }

    /// The name ipvsadm prints in `-Ln` (`Masq`, `Local`, `Tunnel`, `Route`, `Bypass`).
    pub fn ipvsadm_name(self) -> &'static str {
        match self {
            ForwardMethod::Masquerade => "Masq",
            ForwardMethod::Local => "Local",
            ForwardMethod::Tunnel => "Tunnel",
            ForwardMethod::DirectRoute => "Route",
            ForwardMethod::Bypass => "Bypass",
        }
    }
}

/// Encapsulation used by [`ForwardMethod::Tunnel`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    /// IP-in-IP (the default), kernel value 0.
    #[default]
    Ipip,
    /// Generic UDP Encapsulation, kernel value 1; needs a tunnel port.
    Gue,
    /// GRE, kernel value 2.
    Gre,
}

impl TunnelType {
    /// The kernel number.
    pub fn to_raw(self) -> u8 {
        match self {
            TunnelType::Ipip => 0,
            TunnelType::Gue => 1,
            TunnelType::Gre => 2,
        }
    }

    /// The type for a kernel number.
    pub fn from_raw(raw: u8) -> Option<Self> {
        Some(match raw {
            0 => TunnelType::Ipip,
            1 => TunnelType::Gue,
            2 => TunnelType::Gre,
            _ => return None,
        })
    }
}

/// Tunnel checksum flags (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelChecksum {
    /// No checksum (value 0, the default).
    #[default]
    NoCsum,
    /// Checksum (value 1).
    Csum,
    /// Remote checksum offload (value 2).
    RemCsum,
    /// A flag combination this library does not know.
    Other(u16),
}

impl TunnelChecksum {
    /// The kernel's flag bits.
    pub fn to_raw(self) -> u16 {
        match self {
            TunnelChecksum::NoCsum => 0,
            TunnelChecksum::Csum => 1,
            TunnelChecksum::RemCsum => 2,
            TunnelChecksum::Other(raw) => raw,
        }
    }

    /// The flags for the kernel's bits.
    pub fn from_raw(raw: u16) -> Self {
        match raw {
            0 => TunnelChecksum::NoCsum,
            1 => TunnelChecksum::Csum,
            2 => TunnelChecksum::RemCsum,
            other => TunnelChecksum::Other(other),
        }
    }
}

/// A real server behind a virtual service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// Real server address; its family may differ from the service's (tunnels).
    pub addr: IpAddr,
    /// Real server port (0 for fwmark services without a port).
    pub port: u16,
    /// Forwarding method.
    pub forward: ForwardMethod,
    /// Weight, 0..=65535 in practice (0 = quiesced).
    pub weight: u32,
    /// Upper connection threshold, 0 = none.
    pub upper_threshold: u32,
    /// Lower connection threshold, 0 = none.
    pub lower_threshold: u32,
    /// Tunnel encapsulation (used with [`ForwardMethod::Tunnel`]).
    pub tunnel_type: TunnelType,
    /// Tunnel destination port (GUE).
    pub tunnel_port: u16,
    /// Tunnel checksum flags (GUE/GRE).
    pub tunnel_checksum: TunnelChecksum,
    /// Active connections (read only).
    #[serde(default)]
    pub active_conns: u32,
    /// Inactive connections (read only).
    #[serde(default)]
    pub inactive_conns: u32,
    /// Persistent connection templates (read only).
    #[serde(default)]
    pub persistent_conns: u32,
    /// Counters (read only).
    #[serde(default)]
    pub stats: Stats,
}

impl Destination {
    /// A destination with weight 1, no thresholds, ipip tunnel defaults.
    pub fn new(addr: SocketAddr, forward: ForwardMethod) -> Self {
        Destination {
            addr: addr.ip(),
            port: addr.port(),
            forward,
            weight: 1,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel_type: TunnelType::Ipip,
            tunnel_port: 0,
            tunnel_checksum: TunnelChecksum::NoCsum,
            active_conns: 0,
            inactive_conns: 0,
            persistent_conns: 0,
            stats: Stats::default(),
        }
    }

    /// Set the weight.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Address and port together.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }

    /// Address family of the destination address.
    pub fn family(&self) -> AddressFamily {
        AddressFamily::of(&self.addr)
    }
}

/// Connection timeouts in seconds (0 on set means "leave unchanged").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after FIN.
    pub tcp_fin: u32,
    /// UDP flows.
    pub udp: u32,
}

/// General IPVS information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Info {
    /// IPVS version code (0x010201 is 1.2.1).
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_table_size: u32,
}

impl Info {
    /// The version as `major.minor.patch`.
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }
}

/// Role of a connection-sync daemon (`IP_VS_STATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DaemonState {
    /// Sends connection updates (value 1).
    Master,
    /// Receives connection updates (value 2).
    Backup,
}

impl DaemonState {
    /// The kernel number.
    pub fn to_raw(self) -> u32 {
        match self {
            DaemonState::Master => 1,
            DaemonState::Backup => 2,
        }
    }

    /// The state for a kernel number.
    pub fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(DaemonState::Master),
            2 => Some(DaemonState::Backup),
            _ => None,
        }
    }
}

/// A connection synchronisation daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncDaemon {
    /// Master or backup.
    pub state: DaemonState,
    /// Multicast interface name.
    pub mcast_ifn: String,
    /// Sync ID (0..=255).
    pub syncid: u32,
    /// Maximum sync message payload (UDP payload size); `None` = kernel default.
    pub sync_maxlen: Option<u16>,
    /// Multicast group (IPv4 or IPv6); `None` = 224.0.0.81.
    pub mcast_group: Option<IpAddr>,
    /// Multicast base port; `None` = 8848.
    pub mcast_port: Option<u16>,
    /// Multicast TTL; `None` = 1.
    pub mcast_ttl: Option<u8>,
}

impl SyncDaemon {
    /// A daemon with kernel defaults for every optional setting.
    pub fn new(state: DaemonState, mcast_ifn: &str, syncid: u32) -> Self {
        SyncDaemon {
            state,
            mcast_ifn: mcast_ifn.to_string(),
            syncid,
            sync_maxlen: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        }
    }
}

/// One entry of `/proc/net/ip_vs_conn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
        let info = Info {
            version: 0x010201,
            conn_table_size: 4096,
        };
        assert_eq!(info.version_string(), "1.2.1");
    }
}
