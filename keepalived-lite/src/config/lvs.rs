//! The LVS half of keepalived.conf as parsed: `virtual_server`, `virtual_server_group`,
//! `real_server` with its checkers, and the `lvs_*` keywords of `global_defs`. Values
//! are as written; [`crate::lvs`] resolves the defaults that depend on other blocks
//! (a checker's `retry` falls back to its real server's, then its virtual server's,
//! then the checker type's default, as keepalived does).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::config::location::Location;

/// keepalived's default `delay_loop` (60 s).
pub const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
/// keepalived's default `connect_timeout` (5 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest real server weight keepalived and IPVS take (`IPVS_WEIGHT_LIMIT`, INT_MAX).
pub const WEIGHT_LIMIT: u32 = i32::MAX as u32;

/// The `lvs_*` keywords of `global_defs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LvsGlobal {
    /// `lvs_flush`: clear the whole IPVS table at start.
    pub flush: bool,
    /// `lvs_flush_on_stop [VS]`.
    pub flush_on_stop: Option<FlushOnStop>,
    /// `lvs_timeouts [tcp N] [tcpfin N] [udp N]` (seconds; `None`: unchanged).
    pub timeouts: Option<LvsTimeouts>,
    /// `lvs_sync_daemon INTERFACE [INSTANCE] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`.
    pub sync_daemon: Option<LvsSyncDaemon>,
    /// Where `lvs_sync_daemon` is, for errors.
    pub sync_daemon_location: Option<Location>,
}

/// What `lvs_flush_on_stop` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FlushOnStop {
    /// `lvs_flush_on_stop`: the whole table.
    All,
    /// `lvs_flush_on_stop VS`: only the configured virtual servers.
    VirtualServers,
}

/// `lvs_timeouts`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LvsTimeouts {
    /// `tcp N`.
    pub tcp: Option<u32>,
    /// `tcpfin N`.
    pub tcp_fin: Option<u32>,
    /// `udp N`.
    pub udp: Option<u32>,
}

/// `lvs_sync_daemon`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvsSyncDaemon {
    /// The interface the sync traffic uses.
    pub interface: String,
    /// The `vrrp_instance` whose state the daemons follow.
    pub instance: Option<String>,
    /// `id N` (default: the instance's virtual_router_id).
    pub id: Option<u8>,
    /// `maxlen N`.
    pub maxlen: Option<u16>,
    /// `port N`.
    pub port: Option<u16>,
    /// `ttl N`.
    pub ttl: Option<u8>,
    /// `group ADDR`.
    pub group: Option<IpAddr>,
}

/// Transport protocol of a virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LvsProtocol {
    /// TCP (the default).
    Tcp,
    /// UDP.
    Udp,
    /// SCTP.
    Sctp,
}

/// Forwarding method: `lvs_method` / `lb_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum LvsMethod {
    /// `NAT`: masquerading.
    Nat,
    /// `DR`: direct routing.
    Dr,
    /// `TUN`: tunnelling.
    Tun,
}

/// Tunnel encapsulation for `TUN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum TunnelKind {
    /// `type ipip` (the default).
    #[default]
    Ipip,
    /// `type gue port N`.
    Gue,
    /// `type gre`.
    Gre,
}

/// Tunnel checksum option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub enum TunnelCsum {
    /// `nocsum` (the default).
    #[default]
    NoCsum,
    /// `csum`.
    Csum,
    /// `remcsum`.
    RemCsum,
}

/// A whole `lvs_method` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Forwarding {
    /// NAT, DR or TUN.
    pub method: LvsMethod,
    /// Tunnel type (TUN only).
    pub tunnel: TunnelKind,
    /// GUE port (TUN type gue only).
    pub tunnel_port: u16,
    /// Checksum option (TUN type gue or gre).
    pub csum: TunnelCsum,
}

/// What a `virtual_server` line names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum VsAddress {
    /// `virtual_server IP [PORT]` (port 0: every port, for persistence).
    Socket(SocketAddr),
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

/// One line of a `virtual_server_group` block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum VsgEntry {
    /// `IP [PORT]` or `IP-LAST [PORT]` (an address range: the last part of the address
    /// counts up to `LAST`).
    Range {
        /// First address.
        first: IpAddr,
        /// How many addresses (1 for a single address).
        count: u32,
        /// Port (0: every port).
        port: u16,
    },
    /// `fwmark N [inet|inet6]`.
    Fwmark(u32),
}

/// `virtual_server_group NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServerGroup {
    /// Its name.
    pub name: String,
    /// Its lines.
    pub entries: Vec<VsgEntry>,
    /// Where it starts.
    pub location: Location,
}

/// `sorry_server IP PORT` and its options.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SorryServer {
    /// Address and port.
    pub addr: SocketAddr,
    /// `sorry_server_inhibit`: kept at weight 0 instead of removed while not needed.
    pub inhibit: bool,
    /// `sorry_server_lvs_method`.
    pub forwarding: Option<Forwarding>,
}

/// Timer and retry settings that checkers inherit from their real server and virtual
/// server (each `None` when not written at that level).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct CheckTimers {
    /// `delay_loop`.
    pub delay_loop: Option<Duration>,
    /// `connect_timeout`.
    pub connect_timeout: Option<Duration>,
    /// `retry` (`nb_get_retry` in HTTP_GET).
    pub retry: Option<u32>,
    /// `delay_before_retry`.
    pub delay_before_retry: Option<Duration>,
    /// `warmup`.
    pub warmup: Option<Duration>,
    /// `alpha`.
    pub alpha: Option<bool>,
}

/// `virtual_server ... { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServer {
    /// What it serves.
    pub address: VsAddress,
    /// `protocol` (keepalived requires it for address services, refuses it for marks).
    pub protocol: Option<LvsProtocol>,
    /// `ip_family inet|inet6` (fwmark services; else from the address).
    pub ip_family: Option<IpFamily>,
    /// `lvs_sched` / `lb_algo` (required: keepalived reports its absence as an error).
    pub scheduler: Option<String>,
    /// `ops`.
    pub ops: bool,
    /// Scheduler flags: `flag-1..3`, `sh-port`, `sh-fallback`, `mh-port`, `mh-fallback`,
    /// as written.
    pub sched_flags: Vec<String>,
    /// `lvs_method` / `lb_kind` (required unless every real server has its own).
    pub forwarding: Option<Forwarding>,
    /// `persistence_timeout [N]` (seconds; without a value keepalived's 360).
    pub persistence_timeout: Option<u32>,
    /// `persistence_granularity` (a netmask for IPv4, a prefix length for IPv6).
    pub persistence_granularity: Option<String>,
    /// `persistence_engine NAME`.
    pub persistence_engine: Option<String>,
    /// `quorum` (default 1).
    pub quorum: u32,
    /// `hysteresis` (default 0).
    pub hysteresis: u32,
    /// `quorum_up`.
    pub quorum_up: Option<Vec<String>>,
    /// `quorum_down`.
    pub quorum_down: Option<Vec<String>>,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServer>,
    /// `inhibit_on_failure` (default of the real servers).
    pub inhibit_on_failure: bool,
    /// `omega`: run notify_down / quorum_down when the virtual server goes away.
    pub omega: bool,
    /// `ha_suspend`: check only while the virtual address is configured here.
    pub ha_suspend: bool,
    /// `virtualhost` (HTTP Host header default).
    pub virtualhost: Option<String>,
    /// `weight` (default of the real servers, 1).
    pub weight: u32,
    /// Timers the real servers inherit; `delay_loop` and `connect_timeout` default to
    /// 60 s and 5 s here.
    pub timers: CheckTimers,
    /// `real_server` blocks.
    pub real_servers: Vec<RealServer>,
    /// Where it starts.
    pub location: Location,
}

impl VirtualServer {
    /// Its name as keepalived's logs write it (`[192.0.2.1]:tcp:80`, `FWM 5`).
    pub fn name(&self) -> String {
        let vs = self;
        let proto = vs
            .protocol
            .map_or("none".to_string(), |p| format!("{p:?}").to_lowercase());
        match &vs.address {
            VsAddress::Socket(a) => format!("[{}]:{proto}:{}", a.ip(), a.port()),
            VsAddress::Fwmark(m) => format!("FWM {m}"),
            VsAddress::Group(g) => format!("[{g}]:{proto}"),
        }
    }
}

/// `ip_family`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum IpFamily {
    /// `inet`.
    Inet,
    /// `inet6`.
    Inet6,
}

/// `real_server IP PORT { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServer {
    /// Address and port.
    pub addr: SocketAddr,
    /// `weight 0-2147483647` (default: the virtual server's `weight`, 1).
    pub weight: Option<u32>,
    /// `lvs_method` (default: the virtual server's).
    pub forwarding: Option<Forwarding>,
    /// `uthreshold`.
    pub uthreshold: u32,
    /// `lthreshold`.
    pub lthreshold: u32,
    /// `inhibit_on_failure` (default: the virtual server's).
    pub inhibit_on_failure: Option<bool>,
    /// `notify_up`.
    pub notify_up: Option<Vec<String>>,
    /// `notify_down`.
    pub notify_down: Option<Vec<String>>,
    /// `virtualhost`.
    pub virtualhost: Option<String>,
    /// Timers its checkers inherit.
    pub timers: CheckTimers,
    /// Its health checkers, in file order.
    pub checkers: Vec<Checker>,
    /// Where it starts.
    pub location: Location,
}

/// One checker block of a real server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Checker {
    /// What it checks.
    pub kind: CheckKind,
    /// `connect_ip` (default: the real server's address).
    pub connect_ip: Option<IpAddr>,
    /// `connect_port` (default: the real server's port).
    pub connect_port: Option<u16>,
    /// `bindto`.
    pub bindto: Option<IpAddr>,
    /// `bind_port`.
    pub bind_port: Option<u16>,
    /// The checker's own timers.
    pub timers: CheckTimers,
}

/// The kind of a checker, with its own settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum CheckKind {
    /// `TCP_CHECK`: a TCP connection opens.
    Tcp,
    /// `HTTP_GET` / `SSL_GET`.
    Http(HttpCheck),
    /// `MISC_CHECK`.
    Misc(MiscCheck),
}

impl CheckKind {
    /// keepalived's name of the checker.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(h) if h.tls => "SSL_GET",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Misc(_) => "MISC_CHECK",
        }
    }
}

/// `HTTP_GET` / `SSL_GET` settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HttpCheck {
    /// `SSL_GET`.
    pub tls: bool,
    /// `virtualhost` (Host header).
    pub virtualhost: Option<String>,
    /// `url { ... }` blocks: every one must pass.
    pub urls: Vec<UrlCheck>,
    /// `enable_sni [true|false]`: SSL_GET sends the url's, the checker's or the virtual
    /// server's `virtualhost` as the TLS server name (no effect on HTTP_GET, as in
    /// keepalived).
    pub enable_sni: bool,
}

/// `url { path P; status_code ...; digest HEX }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct UrlCheck {
    /// `path`.
    pub path: String,
    /// `status_code` ranges (default 200-299).
    pub status_codes: Vec<(u16, u16)>,
    /// `digest`: MD5 of the body.
    pub digest: Option<[u8; 16]>,
    /// `virtualhost` for this url.
    pub virtualhost: Option<String>,
}

impl UrlCheck {
    /// Whether `code` is an expected status.
    pub fn status_ok(&self, code: u16) -> bool {
        if self.status_codes.is_empty() {
            return (200..=299).contains(&code);
        }
        self.status_codes
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&code))
    }
}

/// The top-level `SSL { certificate FILE; key FILE; ca FILE }` block: the client
/// certificate SSL_GET presents when a server asks for one. (`password`, for an
/// encrypted key, is refused by the parser.)
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SslContext {
    /// `certificate FILE`: PEM certificate chain, ours first.
    pub certificate: Option<(PathBuf, Location)>,
    /// `key FILE`: its PEM private key (not encrypted).
    pub key: Option<(PathBuf, Location)>,
    /// `ca FILE`: PEM certificates. keepalived 2.2.7 loads them but never verifies the
    /// server's certificate; neither do we (they must still load).
    pub ca: Option<(PathBuf, Location)>,
    /// Where the block starts.
    pub location: Option<Location>,
}

/// `MISC_CHECK` settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MiscCheck {
    /// `misc_path "CMD ARGS"`.
    pub command: Vec<String>,
    /// `misc_timeout SECONDS` (default: the delay_loop).
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: exit 2-255 sets the weight to exit - 2.
    pub dynamic: bool,
    /// `user USER [GROUP]`.
    pub user: Option<(String, Option<String>)>,
}
