//! Real servers: forwarding methods, tunnels, and the [`Destination`] itself
//! with its config-only view.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::{AddressFamily, Stats};

/// How packets reach a destination (`IP_VS_CONN_F_*` forwarding methods).
///
/// Serialized as [`ForwardMethod::as_str`]: `masquerade`, `local`, `tunnel`,
/// `route`, `bypass` (the names ipvsadm-rs's JSON prints too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ForwardMethod {
    /// NAT (ipvsadm `-m`), kernel value 0.
    Masquerade,
    /// Local node, kernel value 1.
    Local,
    /// IP-in-IP/GUE/GRE tunnelling (ipvsadm `-i`), kernel value 2.
    Tunnel,
    /// Direct routing (ipvsadm `-g`), kernel value 3.
    #[serde(rename = "route")]
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

    /// The name used in serde, JSON output and docs: `masquerade`, `local`,
    /// `tunnel`, `route`, `bypass`.
    pub fn as_str(self) -> &'static str {
        match self {
            ForwardMethod::Masquerade => "masquerade",
            ForwardMethod::Local => "local",
            ForwardMethod::Tunnel => "tunnel",
            ForwardMethod::DirectRoute => "route",
            ForwardMethod::Bypass => "bypass",
        }
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
#[non_exhaustive]
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
#[non_exhaustive]
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

impl std::fmt::Display for ForwardMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A real server behind a virtual service, as the kernel reports it: its
/// settings, connection counts and counters.
///
/// ```
/// use ipvs_core::{Destination, ForwardMethod, TunnelType};
///
/// let dest = Destination::new("198.51.100.7:8080".parse().unwrap(), ForwardMethod::Tunnel)
///     .weight(3)
///     .thresholds(1000, 800)
///     .tunnel(TunnelType::Gue, 6080);
/// assert_eq!(dest.spec().weight, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
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

    /// Set the upper and lower connection thresholds (ipvsadm `-x`, `-y`).
    pub fn thresholds(mut self, upper: u32, lower: u32) -> Self {
        self.upper_threshold = upper;
        self.lower_threshold = lower;
        self
    }

    /// Set the tunnel encapsulation and its port (GUE needs a port).
    pub fn tunnel(mut self, tunnel_type: TunnelType, port: u16) -> Self {
        self.tunnel_type = tunnel_type;
        self.tunnel_port = port;
        self
    }

    /// Set the tunnel checksum flags.
    pub fn tunnel_checksum(mut self, checksum: TunnelChecksum) -> Self {
        self.tunnel_checksum = checksum;
        self
    }

    /// Set the connection counts (for tests and reports; the kernel owns them).
    pub fn connections(mut self, active: u32, inactive: u32, persistent: u32) -> Self {
        self.active_conns = active;
        self.inactive_conns = inactive;
        self.persistent_conns = persistent;
        self
    }

    /// Set the counters (for tests and reports; the kernel owns them).
    pub fn stats(mut self, stats: Stats) -> Self {
        self.stats = stats;
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

    /// The settings alone, without connection counts and counters.
    pub fn spec(&self) -> DestinationSpec {
        DestinationSpec {
            addr: self.addr,
            port: self.port,
            forward: self.forward,
            weight: self.weight,
            upper_threshold: self.upper_threshold,
            lower_threshold: self.lower_threshold,
            tunnel_type: self.tunnel_type,
            tunnel_port: self.tunnel_port,
            tunnel_checksum: self.tunnel_checksum,
        }
    }
}

/// The config-only view of a [`Destination`]: equal exactly when the kernel
/// would treat the two destinations as configured alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DestinationSpec {
    /// Real server address.
    pub addr: IpAddr,
    /// Real server port.
    pub port: u16,
    /// Forwarding method.
    pub forward: ForwardMethod,
    /// Weight.
    pub weight: u32,
    /// Upper connection threshold, 0 = none.
    pub upper_threshold: u32,
    /// Lower connection threshold, 0 = none.
    pub lower_threshold: u32,
    /// Tunnel encapsulation.
    pub tunnel_type: TunnelType,
    /// Tunnel destination port.
    pub tunnel_port: u16,
    /// Tunnel checksum flags.
    pub tunnel_checksum: TunnelChecksum,
}

impl DestinationSpec {
    /// Address and port together.
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }
}

impl From<DestinationSpec> for Destination {
    fn from(spec: DestinationSpec) -> Destination {
        Destination::new(spec.socket_addr(), spec.forward)
            .weight(spec.weight)
            .thresholds(spec.upper_threshold, spec.lower_threshold)
            .tunnel(spec.tunnel_type, spec.tunnel_port)
            .tunnel_checksum(spec.tunnel_checksum)
    }
}
