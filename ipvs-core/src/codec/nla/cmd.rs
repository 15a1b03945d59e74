//! Top-level attributes of an IPVS command.

use super::*;

// Top-level attributes (IPVS_CMD_ATTR_*).
const IPVS_CMD_ATTR_SERVICE: u16 = 1;
const IPVS_CMD_ATTR_DEST: u16 = 2;
const IPVS_CMD_ATTR_DAEMON: u16 = 3;
const IPVS_CMD_ATTR_TIMEOUT_TCP: u16 = 4;
const IPVS_CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
const IPVS_CMD_ATTR_TIMEOUT_UDP: u16 = 6;

/// Top-level attributes of an IPVS command (`IPVS_CMD_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IpvsCmdAttr {
    /// `IPVS_CMD_ATTR_SERVICE`: a nested service.
    Service(Vec<ServiceAttr>),
    /// `IPVS_CMD_ATTR_DEST`: a nested destination.
    Dest(Vec<DestAttr>),
    /// `IPVS_CMD_ATTR_DAEMON`: a nested sync daemon.
    Daemon(Vec<DaemonAttr>),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP` in seconds.
    TimeoutTcp(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_TCP_FIN` in seconds.
    TimeoutTcpFin(u32),
    /// `IPVS_CMD_ATTR_TIMEOUT_UDP` in seconds.
    TimeoutUdp(u32),
    /// An attribute this library does not know.
    Other(DefaultNla),
}

impl Nla for IpvsCmdAttr {
    fn value_len(&self) -> usize {
        match self {
            Self::Service(n) => nested_len(n),
            Self::Dest(n) => nested_len(n),
            Self::Daemon(n) => nested_len(n),
            Self::TimeoutTcp(_) | Self::TimeoutTcpFin(_) | Self::TimeoutUdp(_) => 4,
            Self::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Self::Service(_) => IPVS_CMD_ATTR_SERVICE,
            Self::Dest(_) => IPVS_CMD_ATTR_DEST,
            Self::Daemon(_) => IPVS_CMD_ATTR_DAEMON,
            Self::TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            Self::TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            Self::TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            Self::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            // The kernel neither sets nor needs NLA_F_NESTED on IPVS nests.
            Self::Service(n) => emit_nested(n, buffer),
            Self::Dest(n) => emit_nested(n, buffer),
            Self::Daemon(n) => emit_nested(n, buffer),
            Self::TimeoutTcp(v) | Self::TimeoutTcpFin(v) | Self::TimeoutUdp(v) => {
                buffer[..4].copy_from_slice(&v.to_ne_bytes())
            }
            Self::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for IpvsCmdAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        let payload = buf.value();
        Ok(match buf.kind() {
            IPVS_CMD_ATTR_SERVICE => Self::Service(ctx!(
                parse_nlas(payload, "IPVS_CMD_ATTR_SERVICE", |n| ServiceAttr::parse(n)),
                "IPVS_CMD_ATTR_SERVICE"
            )?),
            IPVS_CMD_ATTR_DEST => Self::Dest(ctx!(
                parse_nlas(payload, "IPVS_CMD_ATTR_DEST", |n| DestAttr::parse(n)),
                "IPVS_CMD_ATTR_DEST"
            )?),
            IPVS_CMD_ATTR_DAEMON => Self::Daemon(ctx!(
                parse_nlas(payload, "IPVS_CMD_ATTR_DAEMON", |n| DaemonAttr::parse(n)),
                "IPVS_CMD_ATTR_DAEMON"
            )?),
            IPVS_CMD_ATTR_TIMEOUT_TCP => {
                Self::TimeoutTcp(ctx!(parse_u32(payload), "IPVS_CMD_ATTR_TIMEOUT_TCP")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => {
                Self::TimeoutTcpFin(ctx!(parse_u32(payload), "IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?)
            }
            IPVS_CMD_ATTR_TIMEOUT_UDP => {
                Self::TimeoutUdp(ctx!(parse_u32(payload), "IPVS_CMD_ATTR_TIMEOUT_UDP")?)
            }
            _ => Self::Other(DefaultNla::parse(buf)?),
        })
    }
}
