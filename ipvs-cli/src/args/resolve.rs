//! A checked command line resolved into an [`Action`]: the ipvs-core request
//! it stands for, or the listing it asks for.

use std::net::{Ipv4Addr, SocketAddr};

use ipvs_core::{
    AddressFamily, Destination, Netmask, Protocol, Request, Scheduler, Service, ServiceFlags,
    ServiceKey, SyncDaemon, TunnelChecksum,
};

use super::entry::Entry;
use super::{opt, Action, Command, Failure, ListWhat, Op};

fn service_key(e: &Entry) -> Option<ServiceKey> {
    if !e.has(opt::SERVICE) {
        return None;
    }
    if e.fwmark != 0 {
        return Some(ServiceKey::FwMark {
            mark: e.fwmark,
            family: e.svc_family.unwrap_or(AddressFamily::Inet),
        });
    }
    let addr = e.svc_addr?;
    Some(ServiceKey::Addr {
        protocol: e.protocol.unwrap_or(Protocol::Tcp),
        addr: SocketAddr::new(addr, e.svc_port),
    })
}

fn build_service(e: &Entry, key: ServiceKey) -> Service {
    let netmask = match key.family() {
        AddressFamily::Inet => Netmask::V4(Ipv4Addr::from(e.netmask)),
        _ => Netmask::V6(e.netmask.min(128) as u8),
    };
    let service = Service::new(key, Scheduler::from(e.sched_name.as_str()))
        .flags(ServiceFlags::from_bits_retain(e.flags))
        .timeout(e.timeout)
        .netmask(netmask);
    if e.pe_name.is_empty() {
        service
    } else {
        service.persistence_engine(&e.pe_name)
    }
}

fn build_dest(e: &Entry) -> Option<Destination> {
    let addr = e.dest_addr?;
    let mut d = Destination::new(SocketAddr::new(addr, e.dest_port), e.forward);
    d.weight = e.weight;
    d.upper_threshold = e.u_threshold;
    d.lower_threshold = e.l_threshold;
    d.tunnel_type = e.tun_type;
    d.tunnel_port = e.tun_port;
    d.tunnel_checksum = TunnelChecksum::from_raw(e.tun_flags);
    Some(d)
}

/// Turns a checked command line into what to do.
pub(super) fn resolve(cmd: Command, e: Entry) -> Result<Action, Failure> {
    let key = service_key(&e);
    let missing = || Failure::fail("internal error: service missing after validation");
    let apply = |request, op| Ok(Action::Apply { request, op });
    match cmd {
        Command::List => {
            let conflict = (e.has(opt::CONNECTION) || e.has(opt::TIMEOUT) || e.has(opt::DAEMON))
                && (e.has(opt::STATS) || e.has(opt::RATE) || e.has(opt::THRESHOLDS));
            if conflict {
                return Err(Failure::fail("options conflicts in the list command"));
            }
            let what = if e.has(opt::CONNECTION) {
                ListWhat::Connections
            } else if let Some(key) = key {
                ListWhat::Service(key)
            } else if e.has(opt::TIMEOUT) {
                ListWhat::Timeout
            } else if e.has(opt::DAEMON) {
                ListWhat::Daemon
            } else if e.info {
                ListWhat::Info
            } else {
                ListWhat::All
            };
            Ok(Action::List {
                what,
                format: e.format,
                output: e.output,
            })
        }
        Command::Save => {
            let mut format = e.format;
            format.rule = true;
            Ok(Action::Save {
                format,
                lossless: e.lossless,
            })
        }
        Command::Restore => Ok(Action::Restore),
        Command::Flush => apply(Request::Flush, Op::Flush),
        Command::AddService => {
            let key = key.ok_or_else(missing)?;
            apply(Request::AddService(build_service(&e, key)), Op::AddService)
        }
        Command::EditService => {
            let key = key.ok_or_else(missing)?;
            apply(
                Request::EditService(build_service(&e, key)),
                Op::EditService,
            )
        }
        Command::DeleteService => apply(
            Request::DeleteService(key.ok_or_else(missing)?),
            Op::DeleteService,
        ),
        Command::Zero => apply(Request::Zero(key), Op::Zero),
        Command::AddServer => {
            let key = key.ok_or_else(missing)?;
            apply(
                Request::AddDestination(key, build_dest(&e).ok_or_else(missing)?),
                Op::AddDest,
            )
        }
        Command::EditServer => {
            let key = key.ok_or_else(missing)?;
            apply(
                Request::EditDestination(key, build_dest(&e).ok_or_else(missing)?),
                Op::EditDest,
            )
        }
        Command::DeleteServer => {
            let key = key.ok_or_else(missing)?;
            let d = build_dest(&e).ok_or_else(missing)?;
            apply(
                Request::DeleteDestination(key, d.socket_addr()),
                Op::DeleteDest,
            )
        }
        Command::Set => apply(Request::SetTimeouts(e.timeouts), Op::SetTimeout),
        Command::StartDaemon => {
            let state = e.daemon_state.ok_or_else(missing)?;
            let ifn = if e.has(opt::MCAST) {
                e.mcast_ifn.clone()
            } else {
                "eth0".to_string()
            };
            let mut d = SyncDaemon::new(state, &ifn, e.syncid);
            d.sync_maxlen = (e.sync_maxlen != 0).then_some(e.sync_maxlen);
            d.mcast_group = e.mcast_group;
            d.mcast_port = (e.mcast_port != 0).then_some(e.mcast_port);
            d.mcast_ttl = (e.mcast_ttl != 0).then_some(e.mcast_ttl);
            apply(Request::StartDaemon(d), Op::StartDaemon)
        }
        Command::StopDaemon => apply(
            Request::StopDaemon(e.daemon_state.ok_or_else(missing)?),
            Op::StopDaemon,
        ),
    }
}
