//! Service attributes.

use super::*;

// Service attributes (IPVS_SVC_ATTR_*).
const IPVS_SVC_ATTR_AF: u16 = 1;
const IPVS_SVC_ATTR_PROTOCOL: u16 = 2;
const IPVS_SVC_ATTR_ADDR: u16 = 3;
const IPVS_SVC_ATTR_PORT: u16 = 4;
const IPVS_SVC_ATTR_FWMARK: u16 = 5;
const IPVS_SVC_ATTR_SCHED_NAME: u16 = 6;
const IPVS_SVC_ATTR_FLAGS: u16 = 7;
const IPVS_SVC_ATTR_TIMEOUT: u16 = 8;
const IPVS_SVC_ATTR_NETMASK: u16 = 9;
const IPVS_SVC_ATTR_STATS: u16 = 10;
const IPVS_SVC_ATTR_PE_NAME: u16 = 11;
const IPVS_SVC_ATTR_STATS64: u16 = 12;

/// Service attributes (`IPVS_SVC_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceAttr {
    /// `IPVS_SVC_ATTR_AF`: address family (`AF_INET`/`AF_INET6`).
    Af(u16),
    /// `IPVS_SVC_ATTR_PROTOCOL`: IP protocol number.
    Protocol(u16),
    /// `IPVS_SVC_ATTR_ADDR`: `union nf_inet_addr`, 16 bytes (4 accepted).
    Addr(Vec<u8>),
    /// `IPVS_SVC_ATTR_PORT`: port, network byte order on the wire.
    Port(u16),
    /// `IPVS_SVC_ATTR_FWMARK`.
    FwMark(u32),
    /// `IPVS_SVC_ATTR_SCHED_NAME`.
    SchedName(String),
    /// `IPVS_SVC_ATTR_FLAGS`: `struct ip_vs_flags { flags, mask }`.
    Flags {
        /// Flag values.
        flags: u32,
        /// Which flags to change.
        mask: u32,
    },
    /// `IPVS_SVC_ATTR_TIMEOUT`: persistence timeout in seconds.
    Timeout(u32),
    /// `IPVS_SVC_ATTR_NETMASK`: raw 4 bytes: an IPv4 mask in network order,
    /// or for IPv6 a prefix length in host order.
    Netmask([u8; 4]),
    /// `IPVS_SVC_ATTR_STATS`: 32-bit counters.
    Stats(Vec<StatsAttr>),
    /// `IPVS_SVC_ATTR_PE_NAME`.
    PeName(String),
    /// `IPVS_SVC_ATTR_STATS64`: 64-bit counters.
    Stats64(Vec<Stats64Attr>),
    /// An attribute this library does not know.
    Other(DefaultNla),
}

impl Nla for ServiceAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Af(_) | Self::Protocol(_) | Self::Port(_) => 2,
            Self::Addr(a) => a.len(),
            Self::FwMark(_) | Self::Timeout(_) | Self::Netmask(_) => 4,
            Self::SchedName(s) | Self::PeName(s) => string_len(s),
            Self::Flags { .. } => 8,
            Self::Stats(n) => nested_len(n),
            Self::Stats64(n) => nested_len(n),
            Self::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Af(_) => IPVS_SVC_ATTR_AF,
            Self::Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            Self::Addr(_) => IPVS_SVC_ATTR_ADDR,
            Self::Port(_) => IPVS_SVC_ATTR_PORT,
            Self::FwMark(_) => IPVS_SVC_ATTR_FWMARK,
            Self::SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            Self::Flags { .. } => IPVS_SVC_ATTR_FLAGS,
            Self::Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            Self::Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            Self::Stats(_) => IPVS_SVC_ATTR_STATS,
            Self::PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            Self::Stats64(_) => IPVS_SVC_ATTR_STATS64,
            Self::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Af(v) | Self::Protocol(v) => buffer[..2].copy_from_slice(&v.to_ne_bytes()),
            Self::Port(v) => buffer[..2].copy_from_slice(&v.to_be_bytes()),
            Self::Addr(a) => buffer[..a.len()].copy_from_slice(a),
            Self::FwMark(v) | Self::Timeout(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Self::Netmask(raw) => buffer[..4].copy_from_slice(raw),
            Self::SchedName(s) | Self::PeName(s) => emit_string(s, buffer),
            Self::Flags { flags, mask } => {
                buffer[..4].copy_from_slice(&flags.to_ne_bytes());
                buffer[4..8].copy_from_slice(&mask.to_ne_bytes());
            }
            Self::Stats(n) => emit_nested(n, buffer),
            Self::Stats64(n) => emit_nested(n, buffer),
            Self::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for ServiceAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let p = buf.value();
        Ok(match buf.kind() {
            IPVS_SVC_ATTR_AF => Self::Af(ctx!(parse_u16(p), "IPVS_SVC_ATTR_AF")?),
            IPVS_SVC_ATTR_PROTOCOL => Self::Protocol(ctx!(parse_u16(p), "IPVS_SVC_ATTR_PROTOCOL")?),
            IPVS_SVC_ATTR_ADDR => Self::Addr(ctx!(parse_addr(p), "IPVS_SVC_ATTR_ADDR")?),
            IPVS_SVC_ATTR_PORT => Self::Port(ctx!(parse_u16_be(p), "IPVS_SVC_ATTR_PORT")?),
            IPVS_SVC_ATTR_FWMARK => Self::FwMark(ctx!(parse_u32(p), "IPVS_SVC_ATTR_FWMARK")?),
            IPVS_SVC_ATTR_SCHED_NAME => {
                Self::SchedName(ctx!(parse_string(p), "IPVS_SVC_ATTR_SCHED_NAME")?)
            }
            IPVS_SVC_ATTR_FLAGS => {
                let (flags, mask) = ctx!(parse_flags(p), "IPVS_SVC_ATTR_FLAGS")?;
                Self::Flags { flags, mask }
            }
            IPVS_SVC_ATTR_TIMEOUT => Self::Timeout(ctx!(parse_u32(p), "IPVS_SVC_ATTR_TIMEOUT")?),
            IPVS_SVC_ATTR_NETMASK => Self::Netmask(ctx!(parse_raw4(p), "IPVS_SVC_ATTR_NETMASK")?),
            IPVS_SVC_ATTR_STATS => Self::Stats(ctx!(
                parse_nlas(p, "IPVS_SVC_ATTR_STATS", |n| StatsAttr::parse(n)),
                "IPVS_SVC_ATTR_STATS"
            )?),
            IPVS_SVC_ATTR_PE_NAME => Self::PeName(ctx!(parse_string(p), "IPVS_SVC_ATTR_PE_NAME")?),
            IPVS_SVC_ATTR_STATS64 => Self::Stats64(ctx!(
                parse_nlas(p, "IPVS_SVC_ATTR_STATS64", |n| Stats64Attr::parse(n)),
                "IPVS_SVC_ATTR_STATS64"
            )?),
            _ => Self::Other(DefaultNla::parse(buf)?),
        })
    }
}
