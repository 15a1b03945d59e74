//! One VRRP instance at run time: opening it (interfaces, source address, socket) and
//! what the daemon keeps about it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

use crate::check::{Counters, Expect};
use crate::config::Instance;
use crate::error::DaemonError;
use crate::log::Logger;
use crate::net::VrrpSocket;
use crate::packet::{Auth, ChecksumMode, Version, VRRP_MCAST_V4, VRRP_MCAST_V6};
use crate::rtnl::{self, Rtnl};
use crate::state::{Machine, Params, State};
use crate::track::Tracked;

#[derive(Debug)]
/// A running instance: its configuration, state machine, socket and what the I/O edge
/// keeps about it.
pub struct InstanceRt {
    /// Its configuration.
    pub cfg: Instance,
    /// The protocol state machine.
    pub machine: Machine,
    /// Its VRRP socket.
    pub sock: VrrpSocket,
    /// Index of its interface.
    pub ifindex: u32,
    /// Hardware address of its interface.
    pub mac: Vec<u8>,
    /// Source address of its adverts.
    pub src: IpAddr,
    /// Where adverts go (the multicast group or the unicast peers).
    pub dsts: Vec<IpAddr>,
    /// What a peer's advert must look like.
    pub expect: Expect,
    /// Interface index of each VIP (re-resolved by name when adding).
    pub vip_ifindex: Vec<u32>,
    /// Packet counters.
    pub counters: Counters,
    /// The VRRPv3/IPv4 checksum variant the peer uses.
    pub peer_checksum: Option<ChecksumMode>,
    /// Priority and fault from tracked scripts and interfaces.
    pub tracked: Tracked,
    /// Last read link state by interface name.
    pub link_up: HashMap<String, bool>,
    /// When a dropped packet was last logged (at most one line a second).
    pub last_drop_log: Option<Instant>,
    /// The state last acted on (logged, notified): differs from the machine's while a
    /// master that could not add its VIPs is turned to FAULT before anyone hears of it.
    pub shown_state: State,
    /// Adding the VIPs failed: FAULT until the retry.
    pub vip_fault: bool,
    /// The fault condition last fed to the machine.
    pub fault_fed: bool,
}

fn inst_err(i: &Instance, message: impl Into<String>) -> DaemonError {
    DaemonError::Instance {
        instance: i.name.clone(),
        message: message.into(),
    }
}

/// Removes the instance's VIPs from their interfaces (a previous run killed without
/// resigning leaves them behind).
pub fn remove_stale_vips(
    rtnl: &mut Rtnl,
    rt: &InstanceRt,
    log: &Logger,
) -> Result<(), DaemonError> {
    log.log(&format!("({}) removing VIPs.", rt.cfg.name));
    for (v, ifx) in rt.cfg.vips.iter().zip(&rt.vip_ifindex) {
        rtnl.del_address(*ifx, v.addr, v.prefix_len)?;
    }
    Ok(())
}

/// Resolves an instance's interfaces and source address and opens its socket; touches
/// no address. `held`: addresses other instances hold, never a source address.
pub fn open_instance(
    rtnl: &mut Rtnl,
    i: &Instance,
    held: &[IpAddr],
) -> Result<InstanceRt, DaemonError> {
    let ifindex = rtnl::ifindex(&i.interface).map_err(|e| inst_err(i, e.to_string()))?;
    let link = rtnl.link(ifindex)?;
    let mut vip_ifindex = Vec::new();
    for v in &i.vips {
        let dev = v.dev.as_deref().unwrap_or(&i.interface);
        vip_ifindex.push(rtnl::ifindex(dev).map_err(|e| inst_err(i, e.to_string()))?);
    }
    let v6 = i.is_ipv6();
    let src = match i.unicast_src_ip {
        Some(a) => a,
        None => {
            let vips: Vec<IpAddr> = i
                .vips
                .iter()
                .map(|v| v.addr)
                .chain(held.iter().copied())
                .collect();
            let addrs = rtnl.addresses(ifindex)?;
            let candidates = |a: &&rtnl::IfAddr| a.addr.is_ipv6() == v6 && (!v6 || a.link_scope);
            match addrs
                .iter()
                .filter(candidates)
                .find(|a| !vips.contains(&a.addr))
            {
                Some(a) => a.addr,
                None => {
                    let kind = if v6 { "link-local IPv6" } else { "IPv4" };
                    // The node's own address listed as a VIP: say so, rather than that
                    // the interface has no address.
                    let own = addrs
                        .iter()
                        .filter(candidates)
                        .find(|a| i.vips.iter().any(|v| v.addr == a.addr));
                    return Err(inst_err(
                        i,
                        match own {
                            Some(a) => format!(
                                "virtual_ipaddress {} is the only {kind} address of {}, this \
                                 node's own address: a virtual address must be one no node \
                                 owns, and the node needs an address of its own to send from",
                                a.addr, i.interface
                            ),
                            None => format!("interface {} has no {kind} address", i.interface),
                        },
                    ));
                }
            }
        }
    };
    let multicast = i.unicast_peers.is_empty();
    let dsts = if multicast {
        vec![if v6 {
            IpAddr::V6(VRRP_MCAST_V6)
        } else {
            IpAddr::V4(VRRP_MCAST_V4)
        }]
    } else {
        i.unicast_peers.clone()
    };
    let sock = VrrpSocket::open(&i.interface, ifindex, v6, multicast, src).map_err(|e| {
        inst_err(
            i,
            format!("cannot open VRRP socket on {}: {e}", i.interface),
        )
    })?;
    let auth = match (&i.auth_pass, i.version) {
        (Some(p), Version::V2) => Auth::pass(p),
        _ => Auth::None,
    };
    let expect = Expect {
        vrid: i.vrid,
        version: i.version,
        auth,
        interval_cs: i.advert_int_cs,
        addrs: i.vips.iter().map(|v| v.addr).collect(),
        peers: i.unicast_peers.clone(),
        own: src,
    };
    let machine = Machine::new(Params {
        version: i.version,
        priority: i.priority,
        advert_int_cs: i.advert_int_cs,
        preempt: !i.nopreempt,
        preempt_delay: i.preempt_delay,
        primary_addr: src,
    });
    Ok(InstanceRt {
        cfg: i.clone(),
        machine,
        sock,
        ifindex,
        mac: link.mac,
        src,
        dsts,
        expect,
        vip_ifindex,
        counters: Counters::default(),
        peer_checksum: None,
        tracked: Tracked {
            priority: i.priority,
            fault: false,
        },
        link_up: HashMap::new(),
        last_drop_log: None,
        shown_state: State::Initialize,
        vip_fault: false,
        fault_fed: false,
    })
}
