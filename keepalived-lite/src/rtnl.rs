//! rtnetlink edge: interface lookup, link state, and adding/removing the virtual
//! addresses, over a netlink-sys socket with netlink-packet-route messages.

use std::net::IpAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage, AddressScope};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

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
    sock: Socket,
    seq: u32,
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
        let io = |source| RtnlError::Io {
            what: "socket".into(),
            source,
        };
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(io)?;
        sock.bind_auto().map_err(io)?;
        sock.connect(&SocketAddr::new(0, 0)).map_err(io)?;
        Ok(Rtnl { sock, seq: 1 })
    }

    /// Sends `msg` and collects the reply messages until ACK / DONE.
    fn request(
        &mut self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, RtnlError> {
        let mut header = NetlinkHeader::default();
        header.flags = flags;
        self.seq = self.seq.wrapping_add(1);
        header.sequence_number = self.seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        let io = |source| RtnlError::Io {
            what: what.to_string(),
            source,
        };
        self.sock.send(&buf, 0).map_err(io)?;
        let mut out = Vec::new();
        let mut rbuf = vec![0u8; 65536];
        loop {
            let n = self.sock.recv(&mut &mut rbuf[..], 0).map_err(io)?;
            let mut off = 0;
            while off < n {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rbuf[off..n])
                    .map_err(|e| RtnlError::Decode {
                        what: what.to_string(),
                        message: e.to_string(),
                    })?;
                let len = reply.header.length as usize;
                if len == 0 {
                    return Err(RtnlError::Decode {
                        what: what.to_string(),
                        message: "zero-length message".into(),
                    });
                }
                off += len;
                if reply.header.sequence_number != self.seq {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(out),
                            Some(code) => Err(RtnlError::Kernel {
                                what: what.to_string(),
                                source: std::io::Error::from_raw_os_error(-code.get()),
                            }),
                        }
                    }
                    NetlinkPayload::InnerMessage(m) => {
                        out.push(m);
                        if flags & NLM_F_DUMP != NLM_F_DUMP && flags & NLM_F_ACK == 0 {
                            return Ok(out);
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Link facts of interface `index`.
    pub fn link(&mut self, index: u32) -> Result<LinkInfo, RtnlError> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        let what = format!("get link {index}");
        let replies = self.request(&what, RouteNetlinkMessage::GetLink(msg), NLM_F_REQUEST)?;
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
        let replies = self.request(
            "dump addresses",
            RouteNetlinkMessage::GetAddress(msg),
            NLM_F_REQUEST | NLM_F_DUMP,
        )?;
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
        match self.request(
            &what,
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        ) {
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
        match self.request(
            &what,
            RouteNetlinkMessage::DelAddress(msg),
            NLM_F_REQUEST | NLM_F_ACK,
        ) {
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
