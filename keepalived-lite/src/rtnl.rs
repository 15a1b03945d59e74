//! rtnetlink edge: interface lookup, link state, and adding/removing the virtual
//! addresses: netlink-packet-route messages over the workspace's one netlink
//! transport ([`ipvs_core::netlink::Transport`]: sequence numbers, alignment,
//! multi-part dumps, `NLM_F_DUMP_INTR`, `ENOBUFS`, truncation, extended ACKs).

use std::net::IpAddr;

use ipvs_core::netlink::{NetlinkError, Transport};
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;

/// An rtnetlink failure, naming the request.
#[derive(Debug, thiserror::Error)]
pub enum RtnlError {
    /// Socket-level failure.
    #[error("rtnetlink {what}: {source}")]
    Io {
        /// The request.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The kernel answered with an error code.
    #[error("rtnetlink {what}: {source}")]
    Kernel {
        /// The request.
        what: String,
        /// The errno the kernel returned.
        source: std::io::Error,
    },
    /// A reply that does not parse.
    #[error("rtnetlink {what}: cannot decode reply: {message}")]
    Decode {
        /// The request.
        what: String,
        /// Decoder message.
        message: String,
    },
    /// No such interface.
    #[error("interface {0} does not exist")]
    NoInterface(String),
    /// Replies were lost or a dump stayed interrupted: no answer is given.
    #[error("rtnetlink {what}: {source}")]
    Incomplete {
        /// The request.
        what: String,
        /// What the transport saw.
        source: NetlinkError,
    },
}

impl RtnlError {
    /// The transport's error for request `what`, named.
    fn of(what: &str, e: NetlinkError) -> RtnlError {
        let what = what.to_string();
        match e {
            NetlinkError::Io(source) => RtnlError::Io { what, source },
            NetlinkError::Kernel { errno, .. } => RtnlError::Kernel {
                what,
                source: std::io::Error::from_raw_os_error(errno),
            },
            NetlinkError::Decode(message) => RtnlError::Decode { what, message },
            source => RtnlError::Incomplete { what, source },
        }
    }
}

/// Link facts the daemon needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Hardware address (empty when none).
    pub mac: Vec<u8>,
    /// Administratively up and carrier present (IFF_UP and IFF_RUNNING).
    pub up: bool,
}

/// An address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Interface index.
    pub index: u32,
    /// Link-local scope.
    pub link_scope: bool,
}

/// A route-netlink socket.
#[derive(Debug)]
pub struct Rtnl {
    transport: Transport,
}

/// Index of the interface called `name`.
pub fn ifindex(name: &str) -> Result<u32, RtnlError> {
    let c = std::ffi::CString::new(name).map_err(|_| RtnlError::NoInterface(name.to_string()))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(RtnlError::NoInterface(name.to_string()));
    }
    Ok(idx)
}

impl Rtnl {
    /// Opens and connects a NETLINK_ROUTE socket.
    pub fn open() -> Result<Self, RtnlError> {
        let transport = Transport::open(NETLINK_ROUTE).map_err(|e| RtnlError::of("socket", e))?;
        Ok(Rtnl { transport })
    }

    /// Link facts of interface `index`.
    pub fn link(&mut self, index: u32) -> Result<LinkInfo, RtnlError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let what = format!("get link {index}");
        let replies = self
            .transport
            .request(RouteNetlinkMessage::GetLink(msg))
            .map_err(|e| RtnlError::of(&what, e))?;
        for r in replies {
            if let RouteNetlinkMessage::NewLink(l) = r {
                let mac = l
                    .attributes
                    .iter()
                    .find_map(|a| match a {
                        LinkAttribute::Address(m) => Some(m.clone()),
                        _ => None,
                    })
                    .unwrap_or_default();
                let up = l.header.flags.contains(LinkFlags::Up)
                    && l.header.flags.contains(LinkFlags::Running);
                return Ok(LinkInfo { index, mac, up });
            }
        }
        Err(RtnlError::Decode {
            what,
            message: "no link in reply".into(),
        })
    }

    /// All addresses of interface `index`.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<IfAddr>, RtnlError> {
        let msg = AddressMessage::default();
        let replies = self
            .transport
            .dump_all(RouteNetlinkMessage::GetAddress(msg))
            .map_err(|e| RtnlError::of("dump addresses", e))?;
        let mut out = Vec::new();
        for r in replies {
            if let RouteNetlinkMessage::NewAddress(a) = r {
                if a.header.index != index {
                    continue;
                }
                // IFA_LOCAL is the address for IPv4 (IFA_ADDRESS may be the peer); IPv6 has only IFA_ADDRESS.
                let local = a.attributes.iter().find_map(|x| match x {
                    AddressAttribute::Local(ip) => Some(*ip),
                    _ => None,
                });
                let addr = local.or_else(|| {
                    a.attributes.iter().find_map(|x| match x {
                        AddressAttribute::Address(ip) => Some(*ip),
                        _ => None,
                    })
                });
                if let Some(addr) = addr {
                    out.push(IfAddr {
                        addr,
                        prefix_len: a.header.prefix_len,
                        index,
                        link_scope: a.header.scope == AddressScope::Link,
                    });
                }
            }
        }
        Ok(out)
    }

    fn addr_message(
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = if addr.is_ipv6() {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        msg.header.prefix_len = prefix_len;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(addr));
        msg.attributes.push(AddressAttribute::Address(addr));
        if let Some(l) = label {
            msg.attributes.push(AddressAttribute::Label(l.to_string()));
        }
        msg
    }

    /// Adds `addr/prefix_len` to interface `index` (IPv6 without duplicate address
    /// detection, so it is usable at once, as keepalived does). Already present is fine.
    pub fn add_address(
        &mut self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
        label: Option<&str>,
    ) -> Result<(), RtnlError> {
        let mut msg = Self::addr_message(index, addr, prefix_len, label);
        if addr.is_ipv6() {
            msg.attributes
                .push(AddressAttribute::Flags(AddressFlags::Nodad));
        }
        let what = format!("add address {addr}/{prefix_len} to interface {index}");
        match self
            .transport
            .request_with(
                RouteNetlinkMessage::NewAddress(msg),
                NLM_F_CREATE | NLM_F_EXCL,
            )
            .map_err(|e| RtnlError::of(&what, e))
        {
            Err(RtnlError::Kernel { source, .. })
                if source.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }

    /// Removes `addr/prefix_len` from interface `index`. Absent is fine.
    pub fn del_address(
        &mut self,
        index: u32,
        addr: IpAddr,
        prefix_len: u8,
    ) -> Result<(), RtnlError> {
        let msg = Self::addr_message(index, addr, prefix_len, None);
        let what = format!("delete address {addr}/{prefix_len} from interface {index}");
        match self
            .transport
            .request(RouteNetlinkMessage::DelAddress(msg))
            .map_err(|e| RtnlError::of(&what, e))
        {
            Err(RtnlError::Kernel { source, .. })
                if matches!(
                    source.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT) | Some(libc::ENODEV)
                ) =>
            {
                Ok(())
            }
            r => r.map(|_| ()),
        }
    }
}
