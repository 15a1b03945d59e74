//! Whole-configuration checks after parsing: defaults that depend on other blocks,
//! keepalived 2.2.7's adjustments (with its warnings), and what the kernel or the
//! protocol would refuse later (so `-t` refuses it now).

use std::net::IpAddr;
use std::time::Duration;

use crate::config::model::{
    err_at, shown, Config, ConfigError, InitialState, Instance, ParsedInstance, TrackRef, Vip,
};
use crate::packet::Version;

/// Longest interface label the kernel takes (`IFNAMSIZ` - 1); a longer one fails with
/// `ERANGE` when the address is added.
pub const MAX_LABEL_LEN: usize = 15;

/// What is wrong with one virtual address on its own, if anything: what the kernel
/// refuses to add (a label longer than [`MAX_LABEL_LEN`]) and addresses that can never be
/// a host's virtual address (unspecified, multicast, broadcast, a /0 prefix).
pub fn vip_problem(v: &Vip) -> Option<String> {
    if let Some(l) = &v.label {
        if l.len() > MAX_LABEL_LEN {
            return Some(format!(
                "label {} is longer than {MAX_LABEL_LEN} characters (the kernel's limit)",
                shown(l)
            ));
        }
    }
    if v.addr.is_unspecified() {
        return Some("the unspecified address cannot be a virtual address".into());
    }
    if v.addr.is_multicast() {
        return Some("a multicast address cannot be a virtual address".into());
    }
    if v.prefix_len == 0 {
        return Some(
            "prefix length 0 would make every address on-link; give the subnet's length".into(),
        );
    }
    if let IpAddr::V4(a) = v.addr {
        if a.is_broadcast() {
            return Some("the broadcast address cannot be a virtual address".into());
        }
        let host_bits = 32 - u32::from(v.prefix_len);
        let host_mask = if host_bits == 0 {
            0
        } else {
            u32::MAX >> (32 - host_bits)
        };
        if v.prefix_len <= 30 && u32::from(a) & host_mask == host_mask {
            return Some(format!(
                "{a} is the broadcast address of its subnet /{}",
                v.prefix_len
            ));
        }
    }
    None
}

/// Checks across the virtual addresses of one instance and the instances before it:
/// an instance's own address (`unicast_src_ip`, a peer) as a VIP is an error; a VIP
/// listed twice, or held by two VRIDs, a warning.
fn vip_cross_checks(
    cfg: &mut Config,
    inst: &Instance,
    err: &dyn Fn(String) -> ConfigError,
) -> Result<(), ConfigError> {
    let loc = &inst.location;
    for (i, v) in inst.vips.iter().enumerate() {
        if inst.unicast_src_ip == Some(v.addr) {
            return Err(err(format!(
                "virtual_ipaddress {} is unicast_src_ip, this node's own address: a virtual \
                 address must be one no node owns",
                v.addr
            )));
        }
        if inst.unicast_peers.contains(&v.addr) {
            return Err(err(format!(
                "virtual_ipaddress {} is a unicast_peer, another node's own address",
                v.addr
            )));
        }
        if inst.vips[..i].iter().any(|o| o.addr == v.addr) {
            cfg.warnings.push(format!(
                "{loc}: ({}) virtual_ipaddress {} is listed twice",
                inst.name, v.addr
            ));
        }
        for o in &cfg.instances {
            if o.vips.iter().any(|ov| ov.addr == v.addr) {
                cfg.warnings.push(format!(
                    "{loc}: ({}) virtual_ipaddress {} is also in vrrp_instance {} \
                     (virtual_router_id {} and {}): both would add and remove it",
                    inst.name, v.addr, o.name, inst.vrid, o.vrid
                ));
            }
        }
    }
    Ok(())
}

/// Completes the parsed instances (defaults, adjustments, checks) into `cfg`.
pub(crate) fn finish(mut cfg: Config, pending: Vec<ParsedInstance>) -> Result<Config, ConfigError> {
    for (mut inst, explicit_version) in pending {
        let loc = inst.location.clone();
        let err = |m: String| {
            err_at(
                &loc.file,
                loc.line,
                format!("vrrp_instance {}: {m}", inst.name),
            )
        };
        if !explicit_version {
            inst.version = cfg.global.vrrp_version.unwrap_or(Version::V2);
            if inst.is_ipv6() {
                inst.version = Version::V3;
            }
        }
        // keepalived 2.2.7 drops these combinations with a warning; so do we.
        if inst.initial_state == Some(InitialState::Master) && inst.nopreempt {
            inst.nopreempt = false;
            cfg.warnings.push(format!(
                "{loc}: ({}) nopreempt will not work with initial state MASTER - clearing",
                inst.name
            ));
        }
        if inst.initial_state == Some(InitialState::Master) && !inst.preempt_delay.is_zero() {
            inst.preempt_delay = Duration::ZERO;
            cfg.warnings.push(format!(
                "{loc}: ({}) preempt_delay will not work with initial state MASTER - clearing",
                inst.name
            ));
        }
        if inst.nopreempt && !inst.preempt_delay.is_zero() {
            inst.preempt_delay = Duration::ZERO;
            cfg.warnings.push(format!(
                "{loc}: ({}) preempt_delay is incompatible with nopreempt - resetting",
                inst.name
            ));
        }
        if let Some(p) = &inst.auth_pass {
            if p.len() > 8 && inst.version == Version::V2 {
                cfg.warnings.push(format!(
                    "{loc}: ({}) auth_pass is cut to 8 characters on the wire",
                    inst.name
                ));
            }
        }
        if inst.is_ipv6() && inst.version == Version::V2 {
            return Err(err("IPv6 virtual addresses need version 3".into()));
        }
        if inst.vips.iter().any(|v| v.addr.is_ipv6() != inst.is_ipv6()) {
            return Err(err("virtual_ipaddress mixes IPv4 and IPv6".into()));
        }
        for a in inst.unicast_peers.iter().chain(inst.unicast_src_ip.iter()) {
            if a.is_ipv6() != inst.is_ipv6() {
                return Err(err(format!(
                    "unicast address {a} is not the family of the virtual addresses"
                )));
            }
        }
        if inst.version == Version::V2 && inst.advert_int_cs % 100 != 0 {
            return Err(err("advert_int: VRRPv2 needs whole seconds 1-255".into()));
        }
        if inst.version == Version::V3 && inst.advert_int_cs > 4095 {
            return Err(err("advert_int: VRRPv3 allows 0.01-40.95 seconds".into()));
        }
        // keepalived ignores a track_script that names no vrrp_script, with a warning.
        let (known, unknown): (Vec<TrackRef>, Vec<TrackRef>) =
            std::mem::take(&mut inst.track_scripts)
                .into_iter()
                .partition(|t| cfg.scripts.iter().any(|s| s.name == t.name));
        for t in unknown {
            cfg.warnings.push(format!(
                "{loc}: ({}) track script {} not found, ignoring...",
                inst.name, t.name
            ));
        }
        inst.track_scripts = known;
        if cfg.instances.iter().any(|o: &Instance| {
            o.vrid == inst.vrid && o.interface == inst.interface && o.is_ipv6() == inst.is_ipv6()
        }) {
            return Err(err(format!(
                "virtual_router_id {} already used on {}",
                inst.vrid, inst.interface
            )));
        }
        vip_cross_checks(&mut cfg, &inst, &err)?;
        cfg.instances.push(inst);
    }
    Ok(cfg)
}
