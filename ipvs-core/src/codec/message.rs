//! The IPVS generic-netlink message: command plus attributes.

use netlink_packet_core::{
    DecodeError, Emitable, ErrorContext, NlaBuffer, Parseable, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use super::nla::{parse_nlas, InfoAttr, IpvsCmdAttr};

/// Name of the generic-netlink family (`IPVS_GENL_NAME`).
pub const IPVS_GENL_NAME: &str = "IPVS";
/// Version of the family (`IPVS_GENL_VERSION`).
pub const IPVS_GENL_VERSION: u8 = 1;

/// IPVS commands (`IPVS_CMD_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IpvsCmd {
    /// `IPVS_CMD_NEW_SERVICE`: add a service; also each entry of a service dump.
    NewService,
    /// `IPVS_CMD_SET_SERVICE`: modify a service.
    SetService,
    /// `IPVS_CMD_DEL_SERVICE`: delete a service.
    DelService,
    /// `IPVS_CMD_GET_SERVICE`: get one service or dump all.
    GetService,
    /// `IPVS_CMD_NEW_DEST`: add a destination; also each entry of a dest dump.
    NewDest,
    /// `IPVS_CMD_SET_DEST`: modify a destination.
    SetDest,
    /// `IPVS_CMD_DEL_DEST`: delete a destination.
    DelDest,
    /// `IPVS_CMD_GET_DEST`: dump the destinations of a service.
    GetDest,
    /// `IPVS_CMD_NEW_DAEMON`: start a sync daemon; also each entry of a daemon dump.
    NewDaemon,
    /// `IPVS_CMD_DEL_DAEMON`: stop a sync daemon.
    DelDaemon,
    /// `IPVS_CMD_GET_DAEMON`: dump sync daemons.
    GetDaemon,
    /// `IPVS_CMD_SET_CONFIG`: set timeouts; also the `GET_CONFIG` reply.
    SetConfig,
    /// `IPVS_CMD_GET_CONFIG`: get timeouts.
    GetConfig,
    /// `IPVS_CMD_SET_INFO`: only used as the `GET_INFO` reply.
    SetInfo,
    /// `IPVS_CMD_GET_INFO`: get version and connection table size.
    GetInfo,
    /// `IPVS_CMD_ZERO`: zero counters.
    Zero,
    /// `IPVS_CMD_FLUSH`: delete all services.
    Flush,
    /// A command number this library does not know.
    Other(u8),
}

impl From<IpvsCmd> for u8 {
    fn from(cmd: IpvsCmd) -> u8 {
        match cmd {
            IpvsCmd::NewService => 1,
            IpvsCmd::SetService => 2,
            IpvsCmd::DelService => 3,
            IpvsCmd::GetService => 4,
            IpvsCmd::NewDest => 5,
            IpvsCmd::SetDest => 6,
            IpvsCmd::DelDest => 7,
            IpvsCmd::GetDest => 8,
            IpvsCmd::NewDaemon => 9,
            IpvsCmd::DelDaemon => 10,
            IpvsCmd::GetDaemon => 11,
            IpvsCmd::SetConfig => 12,
            IpvsCmd::GetConfig => 13,
            IpvsCmd::SetInfo => 14,
            IpvsCmd::GetInfo => 15,
            IpvsCmd::Zero => 16,
            IpvsCmd::Flush => 17,
            IpvsCmd::Other(n) => n,
        }
    }
}

impl From<u8> for IpvsCmd {
    fn from(n: u8) -> IpvsCmd {
        match n {
            1 => IpvsCmd::NewService,
            2 => IpvsCmd::SetService,
            3 => IpvsCmd::DelService,
            4 => IpvsCmd::GetService,
            5 => IpvsCmd::NewDest,
            6 => IpvsCmd::SetDest,
            7 => IpvsCmd::DelDest,
            8 => IpvsCmd::GetDest,
            9 => IpvsCmd::NewDaemon,
            10 => IpvsCmd::DelDaemon,
            11 => IpvsCmd::GetDaemon,
            12 => IpvsCmd::SetConfig,
            13 => IpvsCmd::GetConfig,
            14 => IpvsCmd::SetInfo,
            15 => IpvsCmd::GetInfo,
            16 => IpvsCmd::Zero,
            17 => IpvsCmd::Flush,
            n => IpvsCmd::Other(n),
        }
    }
}

/// The attributes of a message: the info reply uses its own attribute set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsAttrs {
    /// `IPVS_CMD_ATTR_*` (every command except the info reply).
    Cmd(Vec<IpvsCmdAttr>),
    /// `IPVS_INFO_ATTR_*` (the `SET_INFO` reply to `GET_INFO`).
    Info(Vec<InfoAttr>),
}

/// One IPVS generic-netlink message (the part after the genl header).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IpvsMessage {
    /// The command.
    pub cmd: IpvsCmd,
    /// The attributes.
    pub attrs: IpvsAttrs,
}

impl IpvsMessage {
    /// A message with `IPVS_CMD_ATTR_*` attributes.
    pub fn new(cmd: IpvsCmd, attrs: Vec<IpvsCmdAttr>) -> Self {
        IpvsMessage {
            cmd,
            attrs: IpvsAttrs::Cmd(attrs),
        }
    }

    /// The `IPVS_CMD_ATTR_*` attributes (empty for an info reply).
    pub fn cmd_attrs(&self) -> &[IpvsCmdAttr] {
        match &self.attrs {
            IpvsAttrs::Cmd(a) => a,
            IpvsAttrs::Info(_) => &[],
        }
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.into()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        match &self.attrs {
            IpvsAttrs::Cmd(a) => a.as_slice().buffer_len(),
            IpvsAttrs::Info(a) => a.as_slice().buffer_len(),
        }
    }

    fn emit(&self, buffer: &mut [u8]) {
        match &self.attrs {
            IpvsAttrs::Cmd(a) => a.as_slice().emit(buffer),
            IpvsAttrs::Info(a) => a.as_slice().emit(buffer),
        }
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from(header.cmd);
        let attrs = match cmd {
            IpvsCmd::SetInfo => IpvsAttrs::Info(
                parse_nlas(buf, "IPVS info reply", |n: &NlaBuffer<&[u8]>| {
                    InfoAttr::parse(n)
                })
                .with_context(|| format!("invalid IPVS {cmd:?} message"))?,
            ),
            _ => IpvsAttrs::Cmd(
                parse_nlas(buf, "IPVS command", |n: &NlaBuffer<&[u8]>| {
                    IpvsCmdAttr::parse(n)
                })
                .with_context(|| format!("invalid IPVS {cmd:?} message"))?,
            ),
        };
        Ok(IpvsMessage { cmd, attrs })
    }
}
