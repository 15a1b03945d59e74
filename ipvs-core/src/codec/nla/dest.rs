//! Destination attributes.

use super::*;

// Destination attributes (IPVS_DEST_ATTR_*).
const IPVS_DEST_ATTR_ADDR: u16 = 1;
const IPVS_DEST_ATTR_PORT: u16 = 2;
const IPVS_DEST_ATTR_FWD_METHOD: u16 = 3;
const IPVS_DEST_ATTR_WEIGHT: u16 = 4;
const IPVS_DEST_ATTR_U_THRESH: u16 = 5;
const IPVS_DEST_ATTR_L_THRESH: u16 = 6;
const IPVS_DEST_ATTR_ACTIVE_CONNS: u16 = 7;
const IPVS_DEST_ATTR_INACT_CONNS: u16 = 8;
const IPVS_DEST_ATTR_PERSIST_CONNS: u16 = 9;
const IPVS_DEST_ATTR_STATS: u16 = 10;
const IPVS_DEST_ATTR_ADDR_FAMILY: u16 = 11;
const IPVS_DEST_ATTR_STATS64: u16 = 12;
const IPVS_DEST_ATTR_TUN_TYPE: u16 = 13;
const IPVS_DEST_ATTR_TUN_PORT: u16 = 14;
const IPVS_DEST_ATTR_TUN_FLAGS: u16 = 15;

/// Destination attributes (`IPVS_DEST_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DestAttr {
    /// `IPVS_DEST_ATTR_ADDR`: `union nf_inet_addr`, 16 bytes (4 accepted).
    Addr(Vec<u8>),
    /// `IPVS_DEST_ATTR_PORT`: network byte order on the wire.
    Port(u16),
    /// `IPVS_DEST_ATTR_FWD_METHOD`: `IP_VS_CONN_F_*` forwarding bits.
    FwdMethod(u32),
    /// `IPVS_DEST_ATTR_WEIGHT`.
    Weight(u32),
    /// `IPVS_DEST_ATTR_U_THRESH`.
    UThresh(u32),
    /// `IPVS_DEST_ATTR_L_THRESH`.
    LThresh(u32),
    /// `IPVS_DEST_ATTR_ACTIVE_CONNS`.
    ActiveConns(u32),
    /// `IPVS_DEST_ATTR_INACT_CONNS`.
    InactConns(u32),
    /// `IPVS_DEST_ATTR_PERSIST_CONNS`.
    PersistConns(u32),
    /// `IPVS_DEST_ATTR_STATS`: 32-bit counters.
    Stats(Vec<StatsAttr>),
    /// `IPVS_DEST_ATTR_ADDR_FAMILY`.
    AddrFamily(u16),
    /// `IPVS_DEST_ATTR_STATS64`: 64-bit counters.
    Stats64(Vec<Stats64Attr>),
    /// `IPVS_DEST_ATTR_TUN_TYPE`.
    TunType(u8),
    /// `IPVS_DEST_ATTR_TUN_PORT`: network byte order on the wire.
    TunPort(u16),
    /// `IPVS_DEST_ATTR_TUN_FLAGS`.
    TunFlags(u16),
    /// An attribute this library does not know.
    Other(DefaultNla),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Addr(a) => a.len(),
            Self::Port(_) | Self::AddrFamily(_) | Self::TunPort(_) | Self::TunFlags(_) => 2,
            Self::FwdMethod(_)
            | Self::Weight(_)
            | Self::UThresh(_)
            | Self::LThresh(_)
            | Self::ActiveConns(_)
            | Self::InactConns(_)
            | Self::PersistConns(_) => 4,
            Self::TunType(_) => 1,
            Self::Stats(n) => nested_len(n),
            Self::Stats64(n) => nested_len(n),
            Self::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Addr(_) => IPVS_DEST_ATTR_ADDR,
            Self::Port(_) => IPVS_DEST_ATTR_PORT,
            Self::FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            Self::Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            Self::UThresh(_) => IPVS_DEST_ATTR_U_THRESH,
            Self::LThresh(_) => IPVS_DEST_ATTR_L_THRESH,
            Self::ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            Self::InactConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            Self::PersistConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            Self::Stats(_) => IPVS_DEST_ATTR_STATS,
            Self::AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Self::Stats64(_) => IPVS_DEST_ATTR_STATS64,
            Self::TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            Self::TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            Self::TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Self::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Addr(a) => buffer[..a.len()].copy_from_slice(a),
            Self::Port(v) | Self::TunPort(v) => buffer[..2].copy_from_slice(&v.to_be_bytes()),
            Self::AddrFamily(v) | Self::TunFlags(v) => {
                buffer[..2].copy_from_slice(&v.to_ne_bytes())
            }
            Self::FwdMethod(v)
            | Self::Weight(v)
            | Self::UThresh(v)
            | Self::LThresh(v)
            | Self::ActiveConns(v)
            | Self::InactConns(v)
            | Self::PersistConns(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Self::TunType(v) => buffer[0] = *v,
            Self::Stats(n) => emit_nested(n, buffer),
            Self::Stats64(n) => emit_nested(n, buffer),
            Self::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let p = buf.value();
        Ok(match buf.kind() {
            IPVS_DEST_ATTR_ADDR => Self::Addr(ctx!(parse_addr(p), "IPVS_DEST_ATTR_ADDR")?),
            IPVS_DEST_ATTR_PORT => Self::Port(ctx!(parse_u16_be(p), "IPVS_DEST_ATTR_PORT")?),
            IPVS_DEST_ATTR_FWD_METHOD => {
                Self::FwdMethod(ctx!(parse_u32(p), "IPVS_DEST_ATTR_FWD_METHOD")?)
            }
            IPVS_DEST_ATTR_WEIGHT => Self::Weight(ctx!(parse_u32(p), "IPVS_DEST_ATTR_WEIGHT")?),
            IPVS_DEST_ATTR_U_THRESH => {
                Self::UThresh(ctx!(parse_u32(p), "IPVS_DEST_ATTR_U_THRESH")?)
            }
            IPVS_DEST_ATTR_L_THRESH => {
                Self::LThresh(ctx!(parse_u32(p), "IPVS_DEST_ATTR_L_THRESH")?)
            }
            IPVS_DEST_ATTR_ACTIVE_CONNS => {
                Self::ActiveConns(ctx!(parse_u32(p), "IPVS_DEST_ATTR_ACTIVE_CONNS")?)
            }
            IPVS_DEST_ATTR_INACT_CONNS => {
                Self::InactConns(ctx!(parse_u32(p), "IPVS_DEST_ATTR_INACT_CONNS")?)
            }
            IPVS_DEST_ATTR_PERSIST_CONNS => {
                Self::PersistConns(ctx!(parse_u32(p), "IPVS_DEST_ATTR_PERSIST_CONNS")?)
            }
            IPVS_DEST_ATTR_STATS => Self::Stats(ctx!(
                parse_nlas(p, "IPVS_DEST_ATTR_STATS", |n| StatsAttr::parse(n)),
                "IPVS_DEST_ATTR_STATS"
            )?),
            IPVS_DEST_ATTR_ADDR_FAMILY => {
                Self::AddrFamily(ctx!(parse_u16(p), "IPVS_DEST_ATTR_ADDR_FAMILY")?)
            }
            IPVS_DEST_ATTR_STATS64 => Self::Stats64(ctx!(
                parse_nlas(p, "IPVS_DEST_ATTR_STATS64", |n| Stats64Attr::parse(n)),
                "IPVS_DEST_ATTR_STATS64"
            )?),
            IPVS_DEST_ATTR_TUN_TYPE => Self::TunType(ctx!(parse_u8(p), "IPVS_DEST_ATTR_TUN_TYPE")?),
            IPVS_DEST_ATTR_TUN_PORT => {
                Self::TunPort(ctx!(parse_u16_be(p), "IPVS_DEST_ATTR_TUN_PORT")?)
            }
            IPVS_DEST_ATTR_TUN_FLAGS => {
                Self::TunFlags(ctx!(parse_u16(p), "IPVS_DEST_ATTR_TUN_FLAGS")?)
            }
            _ => Self::Other(DefaultNla::parse(buf)?),
        })
    }
}
