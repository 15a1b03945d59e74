//! Stats attributes, 32- and 64-bit.

use super::*;

// Stats attributes (IPVS_STATS_ATTR_*), shared by STATS and STATS64.
const IPVS_STATS_ATTR_CONNS: u16 = 1;
const IPVS_STATS_ATTR_INPKTS: u16 = 2;
const IPVS_STATS_ATTR_OUTPKTS: u16 = 3;
const IPVS_STATS_ATTR_INBYTES: u16 = 4;
const IPVS_STATS_ATTR_OUTBYTES: u16 = 5;
const IPVS_STATS_ATTR_CPS: u16 = 6;
const IPVS_STATS_ATTR_INPPS: u16 = 7;
const IPVS_STATS_ATTR_OUTPPS: u16 = 8;
const IPVS_STATS_ATTR_INBPS: u16 = 9;
const IPVS_STATS_ATTR_OUTBPS: u16 = 10;

/// 32-bit stats attributes inside `*_ATTR_STATS` (`IPVS_STATS_ATTR_*`); the
/// byte counters are 64-bit even here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatsAttr {
    /// `IPVS_STATS_ATTR_CONNS`.
    Conns(u32),
    /// `IPVS_STATS_ATTR_INPKTS`.
    InPkts(u32),
    /// `IPVS_STATS_ATTR_OUTPKTS`.
    OutPkts(u32),
    /// `IPVS_STATS_ATTR_INBYTES` (u64).
    InBytes(u64),
    /// `IPVS_STATS_ATTR_OUTBYTES` (u64).
    OutBytes(u64),
    /// `IPVS_STATS_ATTR_CPS`.
    Cps(u32),
    /// `IPVS_STATS_ATTR_INPPS`.
    InPps(u32),
    /// `IPVS_STATS_ATTR_OUTPPS`.
    OutPps(u32),
    /// `IPVS_STATS_ATTR_INBPS`.
    InBps(u32),
    /// `IPVS_STATS_ATTR_OUTBPS`.
    OutBps(u32),
    /// An attribute this library does not know (including `IPVS_STATS_ATTR_PAD`).
    Other(DefaultNla),
}

impl Nla for StatsAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::InBytes(_) | Self::OutBytes(_) => 8,
            Self::Other(o) => o.value_len(),
            _ => 4,
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Conns(_) => IPVS_STATS_ATTR_CONNS,
            Self::InPkts(_) => IPVS_STATS_ATTR_INPKTS,
            Self::OutPkts(_) => IPVS_STATS_ATTR_OUTPKTS,
            Self::InBytes(_) => IPVS_STATS_ATTR_INBYTES,
            Self::OutBytes(_) => IPVS_STATS_ATTR_OUTBYTES,
            Self::Cps(_) => IPVS_STATS_ATTR_CPS,
            Self::InPps(_) => IPVS_STATS_ATTR_INPPS,
            Self::OutPps(_) => IPVS_STATS_ATTR_OUTPPS,
            Self::InBps(_) => IPVS_STATS_ATTR_INBPS,
            Self::OutBps(_) => IPVS_STATS_ATTR_OUTBPS,
            Self::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::InBytes(v) | Self::OutBytes(v) => buffer[..8].copy_from_slice(&v.to_ne_bytes()),
            Self::Conns(v)
            | Self::InPkts(v)
            | Self::OutPkts(v)
            | Self::Cps(v)
            | Self::InPps(v)
            | Self::OutPps(v)
            | Self::InBps(v)
            | Self::OutBps(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Self::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for StatsAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let p = buf.value();
        Ok(match buf.kind() {
            IPVS_STATS_ATTR_CONNS => Self::Conns(ctx!(parse_u32(p), "IPVS_STATS_ATTR_CONNS")?),
            IPVS_STATS_ATTR_INPKTS => Self::InPkts(ctx!(parse_u32(p), "IPVS_STATS_ATTR_INPKTS")?),
            IPVS_STATS_ATTR_OUTPKTS => {
                Self::OutPkts(ctx!(parse_u32(p), "IPVS_STATS_ATTR_OUTPKTS")?)
            }
            IPVS_STATS_ATTR_INBYTES => {
                Self::InBytes(ctx!(parse_u64(p), "IPVS_STATS_ATTR_INBYTES")?)
            }
            IPVS_STATS_ATTR_OUTBYTES => {
                Self::OutBytes(ctx!(parse_u64(p), "IPVS_STATS_ATTR_OUTBYTES")?)
            }
            IPVS_STATS_ATTR_CPS => Self::Cps(ctx!(parse_u32(p), "IPVS_STATS_ATTR_CPS")?),
            IPVS_STATS_ATTR_INPPS => Self::InPps(ctx!(parse_u32(p), "IPVS_STATS_ATTR_INPPS")?),
            IPVS_STATS_ATTR_OUTPPS => Self::OutPps(ctx!(parse_u32(p), "IPVS_STATS_ATTR_OUTPPS")?),
            IPVS_STATS_ATTR_INBPS => Self::InBps(ctx!(parse_u32(p), "IPVS_STATS_ATTR_INBPS")?),
            IPVS_STATS_ATTR_OUTBPS => Self::OutBps(ctx!(parse_u32(p), "IPVS_STATS_ATTR_OUTBPS")?),
            _ => Self::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// 64-bit stats attributes inside `*_ATTR_STATS64` (`IPVS_STATS_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stats64Attr {
    /// `IPVS_STATS_ATTR_CONNS`.
    Conns(u64),
    /// `IPVS_STATS_ATTR_INPKTS`.
    InPkts(u64),
    /// `IPVS_STATS_ATTR_OUTPKTS`.
    OutPkts(u64),
    /// `IPVS_STATS_ATTR_INBYTES`.
    InBytes(u64),
    /// `IPVS_STATS_ATTR_OUTBYTES`.
    OutBytes(u64),
    /// `IPVS_STATS_ATTR_CPS`.
    Cps(u64),
    /// `IPVS_STATS_ATTR_INPPS`.
    InPps(u64),
    /// `IPVS_STATS_ATTR_OUTPPS`.
    OutPps(u64),
    /// `IPVS_STATS_ATTR_INBPS`.
    InBps(u64),
    /// `IPVS_STATS_ATTR_OUTBPS`.
    OutBps(u64),
    /// An attribute this library does not know (including `IPVS_STATS_ATTR_PAD`).
    Other(DefaultNla),
}

impl Nla for Stats64Attr {
    fn value_len(&self) -> usize {
        match self {
            Self::Other(o) => o.value_len(),
            _ => 8,
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Conns(_) => IPVS_STATS_ATTR_CONNS,
            Self::InPkts(_) => IPVS_STATS_ATTR_INPKTS,
            Self::OutPkts(_) => IPVS_STATS_ATTR_OUTPKTS,
            Self::InBytes(_) => IPVS_STATS_ATTR_INBYTES,
            Self::OutBytes(_) => IPVS_STATS_ATTR_OUTBYTES,
            Self::Cps(_) => IPVS_STATS_ATTR_CPS,
            Self::InPps(_) => IPVS_STATS_ATTR_INPPS,
            Self::OutPps(_) => IPVS_STATS_ATTR_OUTPPS,
            Self::InBps(_) => IPVS_STATS_ATTR_INBPS,
            Self::OutBps(_) => IPVS_STATS_ATTR_OUTBPS,
            Self::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Conns(v)
            | Self::InPkts(v)
            | Self::OutPkts(v)
            | Self::InBytes(v)
            | Self::OutBytes(v)
            | Self::Cps(v)
            | Self::InPps(v)
            | Self::OutPps(v)
            | Self::InBps(v)
            | Self::OutBps(v) => buffer[..8].copy_from_slice(&v.to_ne_bytes()),
            Self::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for Stats64Attr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let p = buf.value();
        Ok(match buf.kind() {
            IPVS_STATS_ATTR_CONNS => Self::Conns(ctx!(parse_u64(p), "IPVS_STATS_ATTR_CONNS")?),
            IPVS_STATS_ATTR_INPKTS => Self::InPkts(ctx!(parse_u64(p), "IPVS_STATS_ATTR_INPKTS")?),
            IPVS_STATS_ATTR_OUTPKTS => {
                Self::OutPkts(ctx!(parse_u64(p), "IPVS_STATS_ATTR_OUTPKTS")?)
            }
            IPVS_STATS_ATTR_INBYTES => {
                Self::InBytes(ctx!(parse_u64(p), "IPVS_STATS_ATTR_INBYTES")?)
            }
            IPVS_STATS_ATTR_OUTBYTES => {
                Self::OutBytes(ctx!(parse_u64(p), "IPVS_STATS_ATTR_OUTBYTES")?)
            }
            IPVS_STATS_ATTR_CPS => Self::Cps(ctx!(parse_u64(p), "IPVS_STATS_ATTR_CPS")?),
            IPVS_STATS_ATTR_INPPS => Self::InPps(ctx!(parse_u64(p), "IPVS_STATS_ATTR_INPPS")?),
            IPVS_STATS_ATTR_OUTPPS => Self::OutPps(ctx!(parse_u64(p), "IPVS_STATS_ATTR_OUTPPS")?),
            IPVS_STATS_ATTR_INBPS => Self::InBps(ctx!(parse_u64(p), "IPVS_STATS_ATTR_INBPS")?),
            IPVS_STATS_ATTR_OUTBPS => Self::OutBps(ctx!(parse_u64(p), "IPVS_STATS_ATTR_OUTBPS")?),
            _ => Self::Other(DefaultNla::parse(buf)?),
        })
    }
}
