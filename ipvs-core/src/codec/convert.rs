//! Model types to and from attribute lists.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netlink_packet_core::DecodeError;

use super::error::CodecError;
use super::message::{IpvsCmd, IpvsMessage};
use super::nla::{DaemonAttr, DestAttr, IpvsCmdAttr, ServiceAttr, Stats64Attr, StatsAttr};
use super::request::Request;
use crate::model::*;

const IP_VS_SCHEDNAME_MAXLEN: usize = 16;
const IP_VS_PENAME_MAXLEN: usize = 16;
const IP_VS_IFNAME_MAXLEN: usize = 16;

fn invalid(what: impl Into<String>) -> CodecError {
    CodecError::Invalid(what.into())
}

/// `union nf_inet_addr`: 16 bytes, IPv4 in the first 4.
fn inet_addr(addr: &IpAddr) -> Vec<u8> {
    let mut raw = vec![0u8; 16];
    match addr {
        IpAddr::V4(a) => raw[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => raw.copy_from_slice(&a.octets()),
    }
    raw
}

fn addr_from_raw(raw: &[u8], family: AddressFamily, attr: &str) -> Result<IpAddr, DecodeError> {
    match family {
        AddressFamily::Inet if raw.len() >= 4 => {
            Ok(IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3])))
        }
        AddressFamily::Inet6 => match <[u8; 16]>::try_from(raw) {
            Ok(a) => Ok(IpAddr::V6(Ipv6Addr::from(a))),
            Err(_) => {
                Err(format!("invalid {attr}: {} bytes for an IPv6 address", raw.len()).into())
            }
        },
        AddressFamily::Inet => {
            Err(format!("invalid {attr}: {} bytes for an IPv4 address", raw.len()).into())
        }
    }
}

fn family_from_raw(raw: u16, attr: &str) -> Result<AddressFamily, DecodeError> {
    AddressFamily::from_raw(raw)
        .ok_or_else(|| format!("invalid {attr}: unknown address family {raw}").into())
}

fn check_name(name: &str, max: usize, what: &str) -> Result<(), CodecError> {
    if name.is_empty() || name.len() >= max || name.contains('\0') {
        return Err(invalid(format!(
            "{what} {name:?} (must be 1..{} bytes without NUL)",
            max - 1
        )));
    }
    Ok(())
}

/// The attributes identifying a service.
pub(crate) fn service_key_attrs(key: &ServiceKey) -> Result<Vec<ServiceAttr>, CodecError> {
    Ok(match key {
        ServiceKey::Addr { protocol, addr } => vec![
            ServiceAttr::Af(AddressFamily::of(&addr.ip()).to_raw()),
            ServiceAttr::Protocol(protocol.to_raw()),
            ServiceAttr::Addr(inet_addr(&addr.ip())),
            ServiceAttr::Port(addr.port()),
        ],
        ServiceKey::FwMark { mark, family } => {
            if *mark == 0 {
                return Err(invalid("firewall mark 0 (must be non-zero)"));
            }
            vec![ServiceAttr::Af(family.to_raw()), ServiceAttr::FwMark(*mark)]
        }
    })
}

/// Check a netmask against the service family. The IPv6 prefix range is
/// left to the kernel, which answers `EINVAL`.
fn netmask_raw(netmask: &Netmask, family: AddressFamily) -> Result<[u8; 4], CodecError> {
    match (netmask, family) {
        // The kernel (and ipvsadm) accept any IPv4 mask, contiguous or not.
        (Netmask::V4(mask), AddressFamily::Inet) => Ok(mask.octets()),
        // The kernel keeps an IPv6 prefix length in host order in the __be32 field.
        (Netmask::V6(plen), AddressFamily::Inet6) => Ok(u32::from(*plen).to_ne_bytes()),
        (Netmask::V4(mask), AddressFamily::Inet6) => Err(invalid(format!(
            "netmask {mask} on an IPv6 service (use a prefix length)"
        ))),
        (Netmask::V6(plen), AddressFamily::Inet) => Err(invalid(format!(
            "netmask /{plen} on an IPv4 service (use a dotted mask)"
        ))),
    }
}

/// Every attribute of a service, as sent for add and edit.
pub(crate) fn service_attrs(svc: &Service) -> Result<Vec<ServiceAttr>, CodecError> {
    let mut attrs = service_key_attrs(&svc.key)?;
    check_name(
        svc.scheduler.as_str(),
        IP_VS_SCHEDNAME_MAXLEN,
        "scheduler name",
    )?;
    attrs.push(ServiceAttr::SchedName(svc.scheduler.as_str().to_string()));
    if let Some(pe) = &svc.pe_name {
        check_name(pe, IP_VS_PENAME_MAXLEN, "persistence engine name")?;
        attrs.push(ServiceAttr::PeName(pe.clone()));
    }
    attrs.push(ServiceAttr::Flags {
        flags: svc.flags.bits(),
        mask: !0,
    });
    attrs.push(ServiceAttr::Timeout(svc.timeout));
    attrs.push(ServiceAttr::Netmask(netmask_raw(
        &svc.netmask,
        svc.key.family(),
    )?));
    Ok(attrs)
}

fn stats32(attrs: &[StatsAttr]) -> Stats {
    let mut s = Stats::default();
    for a in attrs {
        match a {
            StatsAttr::Conns(v) => s.conns = (*v).into(),
            StatsAttr::InPkts(v) => s.inpkts = (*v).into(),
            StatsAttr::OutPkts(v) => s.outpkts = (*v).into(),
            StatsAttr::InBytes(v) => s.inbytes = *v,
            StatsAttr::OutBytes(v) => s.outbytes = *v,
            StatsAttr::Cps(v) => s.cps = (*v).into(),
            StatsAttr::InPps(v) => s.inpps = (*v).into(),
            StatsAttr::OutPps(v) => s.outpps = (*v).into(),
            StatsAttr::InBps(v) => s.inbps = (*v).into(),
            StatsAttr::OutBps(v) => s.outbps = (*v).into(),
            StatsAttr::Other(_) => {}
        }
    }
    s
}

fn stats64(attrs: &[Stats64Attr]) -> Stats {
    let mut s = Stats::default();
    for a in attrs {
        match a {
            Stats64Attr::Conns(v) => s.conns = *v,
            Stats64Attr::InPkts(v) => s.inpkts = *v,
            Stats64Attr::OutPkts(v) => s.outpkts = *v,
            Stats64Attr::InBytes(v) => s.inbytes = *v,
            Stats64Attr::OutBytes(v) => s.outbytes = *v,
            Stats64Attr::Cps(v) => s.cps = *v,
            Stats64Attr::InPps(v) => s.inpps = *v,
            Stats64Attr::OutPps(v) => s.outpps = *v,
            Stats64Attr::InBps(v) => s.inbps = *v,
            Stats64Attr::OutBps(v) => s.outbps = *v,
            Stats64Attr::Other(_) => {}
        }
    }
    s
}

/// Build a [`Service`] from the kernel's service attributes.
pub(crate) fn service_from_attrs(attrs: &[ServiceAttr]) -> Result<Service, DecodeError> {
    let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
    let (mut sched, mut pe, mut flags, mut timeout, mut netmask) = (None, None, 0, 0, None);
    let (mut s32, mut s64) = (None, None);
    for a in attrs {
        match a {
            ServiceAttr::Af(v) => af = Some(*v),
            ServiceAttr::Protocol(v) => proto = Some(*v),
            ServiceAttr::Addr(v) => addr = Some(v.as_slice()),
            ServiceAttr::Port(v) => port = Some(*v),
            ServiceAttr::FwMark(v) => fwmark = Some(*v),
            ServiceAttr::SchedName(v) => sched = Some(v.as_str()),
            ServiceAttr::PeName(v) => pe = Some(v.clone()),
            ServiceAttr::Flags { flags: f, .. } => flags = *f,
            ServiceAttr::Timeout(v) => timeout = *v,
            ServiceAttr::Netmask(v) => netmask = Some(*v),
            ServiceAttr::Stats(v) => s32 = Some(stats32(v)),
            ServiceAttr::Stats64(v) => s64 = Some(stats64(v)),
            ServiceAttr::Other(_) => {}
        }
    }
    let af = af.ok_or("missing IPVS_SVC_ATTR_AF")?;
    let family = family_from_raw(af, "IPVS_SVC_ATTR_AF")?;
    let key = match fwmark {
        Some(mark) if mark != 0 => ServiceKey::FwMark { mark, family },
        _ => {
            let proto = proto.ok_or("missing IPVS_SVC_ATTR_PROTOCOL")?;
            let protocol = Protocol::from_raw(proto).ok_or_else(|| {
                format!("invalid IPVS_SVC_ATTR_PROTOCOL: unknown protocol {proto}")
            })?;
            let addr = addr_from_raw(
                addr.ok_or("missing IPVS_SVC_ATTR_ADDR")?,
                family,
                "IPVS_SVC_ATTR_ADDR",
            )?;
            let port = port.ok_or("missing IPVS_SVC_ATTR_PORT")?;
            ServiceKey::Addr {
                protocol,
                addr: SocketAddr::new(addr, port),
            }
        }
    };
    let sched = sched.ok_or("missing IPVS_SVC_ATTR_SCHED_NAME")?;
    let netmask = match (netmask, family) {
        (None, f) => Netmask::host(f),
        (Some(raw), AddressFamily::Inet) => Netmask::V4(Ipv4Addr::from(raw)),
        (Some(raw), AddressFamily::Inet6) => {
            let plen = u32::from_ne_bytes(raw);
            Netmask::V6(
                u8::try_from(plen)
                    .map_err(|_| format!("invalid IPVS_SVC_ATTR_NETMASK: prefix length {plen}"))?,
            )
        }
    };
    Ok(Service {
        key,
        scheduler: Scheduler::from(sched),
        flags: ServiceFlags::from_bits_retain(flags),
        timeout,
        netmask,
        pe_name: pe.filter(|p| !p.is_empty()),
        stats: s64.or(s32).unwrap_or_default(),
    })
}

/// The attributes identifying a destination (for delete).
pub(crate) fn dest_key_attrs(addr: &SocketAddr) -> Vec<DestAttr> {
    vec![
        DestAttr::Addr(inet_addr(&addr.ip())),
        DestAttr::Port(addr.port()),
        DestAttr::AddrFamily(AddressFamily::of(&addr.ip()).to_raw()),
    ]
}

/// Every settable attribute of a destination, as sent for add and edit.
pub(crate) fn dest_attrs(dest: &Destination) -> Result<Vec<DestAttr>, CodecError> {
    if dest.weight > i32::MAX as u32 {
        return Err(invalid(format!(
            "weight {} (must be at most {})",
            dest.weight,
            i32::MAX
        )));
    }
    Ok(vec![
        DestAttr::Addr(inet_addr(&dest.addr)),
        DestAttr::Port(dest.port),
        DestAttr::FwdMethod(dest.forward.to_raw()),
        DestAttr::Weight(dest.weight),
        DestAttr::TunType(dest.tunnel_type.to_raw()),
        DestAttr::TunPort(dest.tunnel_port),
        DestAttr::TunFlags(dest.tunnel_checksum.to_raw()),
        DestAttr::UThresh(dest.upper_threshold),
        DestAttr::LThresh(dest.lower_threshold),
        DestAttr::AddrFamily(dest.family().to_raw()),
    ])
}

/// Build a [`Destination`] from the kernel's destination attributes;
/// `service_family` is used when the kernel sends no address family.
pub(crate) fn dest_from_attrs(
    attrs: &[DestAttr],
    service_family: AddressFamily,
) -> Result<Destination, DecodeError> {
    let (mut addr, mut port, mut fwd, mut af) = (None, None, None, None);
    let mut d = Destination::new(
        SocketAddr::new(unspecified(service_family), 0),
        ForwardMethod::Masquerade,
    );
    let (mut s32, mut s64) = (None, None);
    for a in attrs {
        match a {
            DestAttr::Addr(v) => addr = Some(v.as_slice()),
            DestAttr::Port(v) => port = Some(*v),
            DestAttr::FwdMethod(v) => fwd = Some(*v),
            DestAttr::Weight(v) => d.weight = *v,
            DestAttr::UThresh(v) => d.upper_threshold = *v,
            DestAttr::LThresh(v) => d.lower_threshold = *v,
            DestAttr::ActiveConns(v) => d.active_conns = *v,
            DestAttr::InactConns(v) => d.inactive_conns = *v,
            DestAttr::PersistConns(v) => d.persistent_conns = *v,
            DestAttr::Stats(v) => s32 = Some(stats32(v)),
            DestAttr::AddrFamily(v) => af = Some(*v),
            DestAttr::Stats64(v) => s64 = Some(stats64(v)),
            DestAttr::TunType(v) => {
                d.tunnel_type = TunnelType::from_raw(*v).ok_or_else(|| {
                    format!("invalid IPVS_DEST_ATTR_TUN_TYPE: unknown tunnel type {v}")
                })?
            }
            DestAttr::TunPort(v) => d.tunnel_port = *v,
            DestAttr::TunFlags(v) => d.tunnel_checksum = TunnelChecksum::from_raw(*v),
            DestAttr::Other(_) => {}
        }
    }
    let family = match af {
        Some(raw) => family_from_raw(raw, "IPVS_DEST_ATTR_ADDR_FAMILY")?,
        None => service_family,
    };
    d.addr = addr_from_raw(
        addr.ok_or("missing IPVS_DEST_ATTR_ADDR")?,
        family,
        "IPVS_DEST_ATTR_ADDR",
    )?;
    d.port = port.ok_or("missing IPVS_DEST_ATTR_PORT")?;
    let fwd = fwd.ok_or("missing IPVS_DEST_ATTR_FWD_METHOD")?;
    d.forward = ForwardMethod::from_raw(fwd)
        .ok_or_else(|| format!("invalid IPVS_DEST_ATTR_FWD_METHOD: unknown method {fwd}"))?;
    d.stats = s64.or(s32).unwrap_or_default();
    Ok(d)
}

/// Every attribute of a sync daemon, as sent to start it.
pub(crate) fn daemon_attrs(d: &SyncDaemon) -> Result<Vec<DaemonAttr>, CodecError> {
    check_name(
        &d.mcast_ifn,
        IP_VS_IFNAME_MAXLEN,
        "multicast interface name",
    )?;
    if d.syncid > 255 {
        return Err(invalid(format!("sync id {} (must be 0..=255)", d.syncid)));
    }
    let mut attrs = vec![
        DaemonAttr::State(d.state.to_raw()),
        DaemonAttr::McastIfn(d.mcast_ifn.clone()),
        DaemonAttr::SyncId(d.syncid),
    ];
    // The order the kernel uses in its own dumps, so a full daemon encodes
    // exactly like the kernel's description of it.
    if let Some(v) = d.sync_maxlen {
        attrs.push(DaemonAttr::SyncMaxlen(v));
    }
    if let Some(v) = d.mcast_port {
        attrs.push(DaemonAttr::McastPort(v));
    }
    if let Some(v) = d.mcast_ttl {
        attrs.push(DaemonAttr::McastTtl(v));
    }
    match d.mcast_group {
        Some(IpAddr::V4(a)) => attrs.push(DaemonAttr::McastGroup(a)),
        Some(IpAddr::V6(a)) => attrs.push(DaemonAttr::McastGroup6(a)),
        None => {}
    }
    Ok(attrs)
}

/// Build a [`SyncDaemon`] from the kernel's daemon attributes.
pub(crate) fn daemon_from_attrs(attrs: &[DaemonAttr]) -> Result<SyncDaemon, DecodeError> {
    let (mut state, mut ifn, mut syncid) = (None, None, None);
    let mut d = SyncDaemon::new(DaemonState::Master, "", 0);
    for a in attrs {
        match a {
            DaemonAttr::State(v) => state = Some(*v),
            DaemonAttr::McastIfn(v) => ifn = Some(v.clone()),
            DaemonAttr::SyncId(v) => syncid = Some(*v),
            DaemonAttr::SyncMaxlen(v) => d.sync_maxlen = Some(*v),
            DaemonAttr::McastGroup(v) => d.mcast_group = Some(IpAddr::V4(*v)),
            DaemonAttr::McastGroup6(v) => d.mcast_group = Some(IpAddr::V6(*v)),
            DaemonAttr::McastPort(v) => d.mcast_port = Some(*v),
            DaemonAttr::McastTtl(v) => d.mcast_ttl = Some(*v),
            DaemonAttr::Other(_) => {}
        }
    }
    let state = state.ok_or("missing IPVS_DAEMON_ATTR_STATE")?;
    d.state = DaemonState::from_raw(state)
        .ok_or_else(|| format!("invalid IPVS_DAEMON_ATTR_STATE: unknown state {state}"))?;
    d.mcast_ifn = ifn.ok_or("missing IPVS_DAEMON_ATTR_MCAST_IFN")?;
    d.syncid = syncid.ok_or("missing IPVS_DAEMON_ATTR_SYNC_ID")?;
    Ok(d)
}

/// The message for one change request (validated; no I/O).
pub(crate) fn request_message(req: &Request) -> Result<IpvsMessage, CodecError> {
    use IpvsCmdAttr as A;
    Ok(match req {
        Request::AddService(s) => {
            IpvsMessage::new(IpvsCmd::NewService, vec![A::Service(service_attrs(s)?)])
        }
        Request::EditService(s) => {
            IpvsMessage::new(IpvsCmd::SetService, vec![A::Service(service_attrs(s)?)])
        }
        Request::DeleteService(k) => {
            IpvsMessage::new(IpvsCmd::DelService, vec![A::Service(service_key_attrs(k)?)])
        }
        Request::Flush => IpvsMessage::new(IpvsCmd::Flush, vec![]),
        Request::AddDestination(k, d) => IpvsMessage::new(
            IpvsCmd::NewDest,
            vec![A::Service(service_key_attrs(k)?), A::Dest(dest_attrs(d)?)],
        ),
        Request::EditDestination(k, d) => IpvsMessage::new(
            IpvsCmd::SetDest,
            vec![A::Service(service_key_attrs(k)?), A::Dest(dest_attrs(d)?)],
        ),
        Request::DeleteDestination(k, a) => IpvsMessage::new(
            IpvsCmd::DelDest,
            vec![
                A::Service(service_key_attrs(k)?),
                A::Dest(dest_key_attrs(a)),
            ],
        ),
        Request::Zero(None) => IpvsMessage::new(IpvsCmd::Zero, vec![]),
        Request::Zero(Some(k)) => {
            IpvsMessage::new(IpvsCmd::Zero, vec![A::Service(service_key_attrs(k)?)])
        }
        Request::SetTimeouts(t) => IpvsMessage::new(
            IpvsCmd::SetConfig,
            vec![
                A::TimeoutTcp(t.tcp),
                A::TimeoutTcpFin(t.tcp_fin),
                A::TimeoutUdp(t.udp),
            ],
        ),
        Request::StartDaemon(d) => {
            IpvsMessage::new(IpvsCmd::NewDaemon, vec![A::Daemon(daemon_attrs(d)?)])
        }
        Request::StopDaemon(s) => IpvsMessage::new(
            IpvsCmd::DelDaemon,
            vec![A::Daemon(vec![DaemonAttr::State(s.to_raw())])],
        ),
    })
}

/// The nested service of a message, decoded.
pub(crate) fn service_of(msg: &IpvsMessage) -> Result<Service, DecodeError> {
    msg.cmd_attrs()
        .iter()
        .find_map(|a| match a {
            IpvsCmdAttr::Service(s) => Some(service_from_attrs(s)),
            _ => None,
        })
        .unwrap_or_else(|| Err("missing IPVS_CMD_ATTR_SERVICE".into()))
}

/// The nested destination of a message, decoded.
pub(crate) fn dest_of(
    msg: &IpvsMessage,
    service_family: AddressFamily,
) -> Result<Destination, DecodeError> {
    msg.cmd_attrs()
        .iter()
        .find_map(|a| match a {
            IpvsCmdAttr::Dest(d) => Some(dest_from_attrs(d, service_family)),
            _ => None,
        })
        .unwrap_or_else(|| Err("missing IPVS_CMD_ATTR_DEST".into()))
}

/// The nested daemon of a message, decoded.
pub(crate) fn daemon_of(msg: &IpvsMessage) -> Result<SyncDaemon, DecodeError> {
    msg.cmd_attrs()
        .iter()
        .find_map(|a| match a {
            IpvsCmdAttr::Daemon(d) => Some(daemon_from_attrs(d)),
            _ => None,
        })
        .unwrap_or_else(|| Err("missing IPVS_CMD_ATTR_DAEMON".into()))
}

/// Timeouts from a `GET_CONFIG` reply.
pub(crate) fn timeouts_of(msg: &IpvsMessage) -> Timeouts {
    let mut t = Timeouts::default();
    for a in msg.cmd_attrs() {
        match a {
            IpvsCmdAttr::TimeoutTcp(v) => t.tcp = *v,
            IpvsCmdAttr::TimeoutTcpFin(v) => t.tcp_fin = *v,
            IpvsCmdAttr::TimeoutUdp(v) => t.udp = *v,
            _ => {}
        }
    }
    t
}
