//! Sync daemon attributes.

use super::*;

// Sync daemon attributes (IPVS_DAEMON_ATTR_*).
const IPVS_DAEMON_ATTR_STATE: u16 = 1;
const IPVS_DAEMON_ATTR_MCAST_IFN: u16 = 2;
const IPVS_DAEMON_ATTR_SYNC_ID: u16 = 3;
const IPVS_DAEMON_ATTR_SYNC_MAXLEN: u16 = 4;
const IPVS_DAEMON_ATTR_MCAST_GROUP: u16 = 5;
const IPVS_DAEMON_ATTR_MCAST_GROUP6: u16 = 6;
const IPVS_DAEMON_ATTR_MCAST_PORT: u16 = 7;
const IPVS_DAEMON_ATTR_MCAST_TTL: u16 = 8;

/// Sync daemon attributes (`IPVS_DAEMON_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DaemonAttr {
    /// `IPVS_DAEMON_ATTR_STATE`: `IP_VS_STATE_MASTER`/`BACKUP`.
    State(u32),
    /// `IPVS_DAEMON_ATTR_MCAST_IFN`.
    McastIfn(String),
    /// `IPVS_DAEMON_ATTR_SYNC_ID`.
    SyncId(u32),
    /// `IPVS_DAEMON_ATTR_SYNC_MAXLEN`.
    SyncMaxlen(u16),
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP`: IPv4 group.
    McastGroup(std::net::Ipv4Addr),
    /// `IPVS_DAEMON_ATTR_MCAST_GROUP6`: IPv6 group.
    McastGroup6(std::net::Ipv6Addr),
    /// `IPVS_DAEMON_ATTR_MCAST_PORT`: host byte order on the wire (unlike
    /// the service and tunnel ports; seen in kernel replies).
    McastPort(u16),
    /// `IPVS_DAEMON_ATTR_MCAST_TTL`.
    McastTtl(u8),
    /// An attribute this library does not know.
    Other(DefaultNla),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::State(_) | Self::SyncId(_) | Self::McastGroup(_) => 4,
            Self::McastIfn(s) => string_len(s),
            Self::SyncMaxlen(_) | Self::McastPort(_) => 2,
            Self::McastGroup6(_) => 16,
            Self::McastTtl(_) => 1,
            Self::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::State(_) => IPVS_DAEMON_ATTR_STATE,
            Self::McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            Self::SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            Self::SyncMaxlen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            Self::McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            Self::McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            Self::McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            Self::McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            Self::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            Self::State(v) | Self::SyncId(v) => buffer[..4].copy_from_slice(&v.to_ne_bytes()),
            Self::McastIfn(s) => emit_string(s, buffer),
            Self::SyncMaxlen(v) | Self::McastPort(v) => {
                buffer[..2].copy_from_slice(&v.to_ne_bytes())
            }
            Self::McastGroup(a) => buffer[..4].copy_from_slice(&a.octets()),
            Self::McastGroup6(a) => buffer[..16].copy_from_slice(&a.octets()),
            Self::McastTtl(v) => buffer[0] = *v,
            Self::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let p = buf.value();
        Ok(match buf.kind() {
            IPVS_DAEMON_ATTR_STATE => Self::State(ctx!(parse_u32(p), "IPVS_DAEMON_ATTR_STATE")?),
            IPVS_DAEMON_ATTR_MCAST_IFN => {
                Self::McastIfn(ctx!(parse_string(p), "IPVS_DAEMON_ATTR_MCAST_IFN")?)
            }
            IPVS_DAEMON_ATTR_SYNC_ID => {
                Self::SyncId(ctx!(parse_u32(p), "IPVS_DAEMON_ATTR_SYNC_ID")?)
            }
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => {
                Self::SyncMaxlen(ctx!(parse_u16(p), "IPVS_DAEMON_ATTR_SYNC_MAXLEN")?)
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP => {
                let raw = ctx!(parse_raw4(p), "IPVS_DAEMON_ATTR_MCAST_GROUP")?;
                Self::McastGroup(raw.into())
            }
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                let raw: [u8; 16] = ctx!(
                    p.try_into()
                        .map_err(|_| DecodeError::invalid_ip_address(p.len())),
                    "IPVS_DAEMON_ATTR_MCAST_GROUP6"
                )?;
                Self::McastGroup6(raw.into())
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => {
                Self::McastPort(ctx!(parse_u16(p), "IPVS_DAEMON_ATTR_MCAST_PORT")?)
            }
            IPVS_DAEMON_ATTR_MCAST_TTL => {
                Self::McastTtl(ctx!(parse_u8(p), "IPVS_DAEMON_ATTR_MCAST_TTL")?)
            }
            _ => Self::Other(DefaultNla::parse(buf)?),
        })
    }
}
