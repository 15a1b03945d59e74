//! Attributes of the GET_INFO reply.

use super::*;

// Info attributes (IPVS_INFO_ATTR_*), top level of the GET_INFO reply.
const IPVS_INFO_ATTR_VERSION: u16 = 1;
const IPVS_INFO_ATTR_CONN_TAB_SIZE: u16 = 2;

/// Attributes at the top level of the `GET_INFO` reply (`IPVS_INFO_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InfoAttr {
    /// `IPVS_INFO_ATTR_VERSION`.
    Version(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE`.
    ConnTabSize(u32),
    /// An attribute this library does not know.
    Other(DefaultNla),
}

impl Nla for InfoAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Version(_) | Self::ConnTabSize(_) => 4,
            Self::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Version(_) => IPVS_INFO_ATTR_VERSION,
            Self::ConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            Self::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::Version(v) | Self::ConnTabSize(v) => {
                buffer[..4].copy_from_slice(&v.to_ne_bytes())
            }
            Self::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for InfoAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let p = buf.value();
        Ok(match buf.kind() {
            IPVS_INFO_ATTR_VERSION => Self::Version(ctx!(parse_u32(p), "IPVS_INFO_ATTR_VERSION")?),
            IPVS_INFO_ATTR_CONN_TAB_SIZE => {
                Self::ConnTabSize(ctx!(parse_u32(p), "IPVS_INFO_ATTR_CONN_TAB_SIZE")?)
            }
            _ => Self::Other(DefaultNla::parse(buf)?),
        })
    }
}
