//! What IPVS should hold for the checker core's state: one [`TableSpec`] of the
//! daemon's virtual servers (alive real servers with their weights, inhibited ones at
//! weight 0, the sorry server while quorum is down), and the [`Scope`] of exactly
//! those services, so nobody else's service is ever touched. Pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipvs_core::apply::{Scope, TableSpec};
use ipvs_core::{
    AddressFamily, Destination, DestinationSpec, ForwardMethod, Netmask, Protocol, Scheduler,
    Service, ServiceFlags, ServiceKey, TunnelChecksum, TunnelType,
};

use super::checker::{CheckerCore, VirtualServerState};
use crate::config::lvs::{
    Forwarding, IpFamily, LvsMethod, LvsProtocol, TunnelCsum, TunnelKind, VirtualServer,
    VirtualServerGroup, VsAddress, VsgEntry,
};

/// The service keys of a virtual server (a group gives one per address and mark).
pub fn service_keys(vs: &VirtualServer, groups: &[VirtualServerGroup]) -> Vec<ServiceKey> {
    // Validation makes an address service name its protocol.
    let protocol = match vs.protocol {
        Some(LvsProtocol::Udp) => Protocol::Udp,
        Some(LvsProtocol::Sctp) => Protocol::Sctp,
        _ => Protocol::Tcp,
    };
    let family = match vs.ip_family {
        Some(IpFamily::Inet6) => AddressFamily::Inet6,
        Some(IpFamily::Inet) => AddressFamily::Inet,
        None => match vs.real_servers.first().map(|r| r.addr.ip()) {
            Some(IpAddr::V6(_)) => AddressFamily::Inet6,
            _ => AddressFamily::Inet,
        },
    };
    let addr = |addr: SocketAddr| ServiceKey::Addr { protocol, addr };
    match &vs.address {
        VsAddress::Socket(a) => vec![addr(*a)],
        VsAddress::Fwmark(m) => vec![ServiceKey::fwmark(*m, family)],
        VsAddress::Group(name) => groups
            .iter()
            .filter(|g| &g.name == name)
            .flat_map(|g| &g.entries)
            .flat_map(|e| match e {
                VsgEntry::Fwmark(m) => vec![ServiceKey::fwmark(*m, family)],
                VsgEntry::Range { first, count, port } => (0..*count)
                    .map(|i| addr(SocketAddr::new(nth(*first, i), *port)))
                    .collect(),
            })
            .collect(),
    }
}

/// `first` with its last part counted up by `i` (keepalived's `A.B.C.D-E` ranges).
fn nth(first: IpAddr, i: u32) -> IpAddr {
    match first {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a).wrapping_add(i))),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a).wrapping_add(u128::from(i)))),
    }
}

fn service(vs: &VirtualServer, key: ServiceKey) -> Service {
    let mut s = Service::new(
        key,
        Scheduler::from(vs.scheduler.as_deref().unwrap_or("wlc")),
    );
    if vs.ops {
        s = s.flags(ServiceFlags::ONEPACKET);
    }
    for f in &vs.sched_flags {
        if let Some(flag) = ServiceFlags::from_sched_flag_name(f) {
            s = s.flags(flag);
        }
    }
    if let Some(t) = vs.persistence_timeout {
        s = s.persistent(t);
    }
    if let Some(g) = &vs.persistence_granularity {
        let mask = match key.family() {
            AddressFamily::Inet6 => g.parse().ok().map(Netmask::V6),
            _ => g.parse().ok().map(Netmask::V4),
        };
        if let Some(m) = mask {
            s = s.netmask(m);
        }
    }
    if let Some(pe) = &vs.persistence_engine {
        s = s.persistence_engine(pe);
    }
    s
}

fn destination(addr: SocketAddr, fwd: Option<Forwarding>, weight: u32) -> Destination {
    // keepalived's default forwarding method is NAT.
    let f = fwd.unwrap_or(Forwarding {
        method: LvsMethod::Nat,
        tunnel: TunnelKind::Ipip,
        tunnel_port: 0,
        csum: TunnelCsum::NoCsum,
    });
    let method = match f.method {
        LvsMethod::Nat => ForwardMethod::Masquerade,
        LvsMethod::Dr => ForwardMethod::DirectRoute,
        LvsMethod::Tun => ForwardMethod::Tunnel,
    };
    let mut d = Destination::new(addr, method).weight(weight);
    if f.method == LvsMethod::Tun {
        let t = match f.tunnel {
            TunnelKind::Ipip => TunnelType::Ipip,
            TunnelKind::Gue => TunnelType::Gue,
            TunnelKind::Gre => TunnelType::Gre,
        };
        d = d.tunnel(t, f.tunnel_port).tunnel_checksum(match f.csum {
            TunnelCsum::NoCsum => TunnelChecksum::NoCsum,
            TunnelCsum::Csum => TunnelChecksum::Csum,
            TunnelCsum::RemCsum => TunnelChecksum::RemCsum,
        });
    }
    d
}

/// The destinations a virtual server should have now.
pub fn destinations(vs: &VirtualServerState) -> Vec<DestinationSpec> {
    let mut out = Vec::new();
    let sorry = vs.sorry_active();
    for rs in &vs.real_servers {
        let fwd = rs.cfg.forwarding.or(vs.cfg.forwarding);
        let weight = if rs.alive && !sorry {
            Some(rs.ipvs_weight())
        } else if rs.inhibit {
            Some(0)
        } else {
            None
        };
        if let Some(w) = weight {
            out.push(
                destination(rs.addr, fwd, w)
                    .thresholds(rs.cfg.uthreshold, rs.cfg.lthreshold)
                    .spec(),
            );
        }
    }
    if let Some(ss) = &vs.cfg.sorry_server {
        let fwd = ss.forwarding.or(vs.cfg.forwarding);
        // A sorry server that is also a real server is that real server.
        let dup = out.iter().any(|d| d.socket_addr() == ss.addr);
        if !dup {
            if sorry {
                out.push(destination(ss.addr, fwd, 1).spec());
            } else if ss.inhibit {
                out.push(destination(ss.addr, fwd, 0).spec());
            }
        }
    }
    out
}

/// The desired table of every virtual server, and the scope of exactly their keys.
pub fn desired(core: &CheckerCore, groups: &[VirtualServerGroup]) -> (TableSpec, Scope) {
    let mut table = TableSpec::new();
    let mut scope = Scope::new();
    for vs in core.virtual_servers() {
        for key in service_keys(&vs.cfg, groups) {
            if table.get(&key).is_some() {
                continue; // a key two blocks name: the first one's (keepalived warns)
            }
            scope = scope.key(key);
            table.push(service(&vs.cfg, key).spec(), destinations(vs));
        }
    }
    (table, scope)
}

/// The scope of the configured virtual servers alone (for `lvs_flush_on_stop VS`).
pub fn scope_of(vss: &[VirtualServer], groups: &[VirtualServerGroup]) -> Scope {
    vss.iter()
        .flat_map(|v| service_keys(v, groups))
        .fold(Scope::new(), Scope::key)
}
