//! The LVS blocks checked across each other and as keepalived 2.2.7 checks them.

use crate::config::lvs::{IpFamily, LvsMethod, LvsProtocol, VsAddress, VsgEntry};

/// Checks across blocks, with keepalived 2.2's adjustments (and its warnings): a
/// `group` must exist, real and sorry servers must be of the virtual server's address
/// family (unless tunnelled), `ops` needs UDP, a firewall-mark service's real servers
/// have no port, `lvs_sync_daemon` names an existing instance.
pub(crate) fn check(cfg: &mut crate::config::Config) -> Result<(), crate::config::ConfigError> {
    use crate::config::model::{err_at, shown};
    let groups = cfg.virtual_server_groups.clone();
    for vs in &mut cfg.virtual_servers {
        let at = |m: String| err_at(&vs.location.file, vs.location.line, m);
        let family = match &vs.address {
            VsAddress::Socket(a) => Some(a.is_ipv4()),
            VsAddress::Fwmark(_) => vs.ip_family.map(|f| f == IpFamily::Inet),
            VsAddress::Group(name) => {
                let Some(g) = groups.iter().find(|g| &g.name == name) else {
                    return Err(at(format!(
                        "virtual_server group {}: no virtual_server_group of that name",
                        shown(name)
                    )));
                };
                g.entries.iter().find_map(|e| match e {
                    VsgEntry::Range { first, .. } => Some(first.is_ipv4()),
                    VsgEntry::Fwmark(_) => None,
                })
            }
        };
        let fwmark = match &vs.address {
            VsAddress::Fwmark(_) => true,
            VsAddress::Group(name) => groups
                .iter()
                .filter(|g| &g.name == name)
                .flat_map(|g| &g.entries)
                .any(|e| matches!(e, VsgEntry::Fwmark(_))),
            VsAddress::Socket(_) => false,
        };
        // What keepalived 2.2 reports as configuration errors (and `keepalived -t`
        // refuses), though it goes on with a default: refused here.
        let name = vs.name();
        let has_addresses = match &vs.address {
            VsAddress::Socket(_) => true,
            VsAddress::Fwmark(_) => false,
            VsAddress::Group(name) => groups
                .iter()
                .filter(|g| &g.name == name)
                .flat_map(|g| &g.entries)
                .any(|e| matches!(e, VsgEntry::Range { .. })),
        };
        if vs.real_servers.is_empty() {
            return Err(at(format!("virtual_server {name} has no real servers")));
        }
        if vs.scheduler.is_none() {
            return Err(at(format!(
                "virtual_server {name}: no scheduler set (lvs_sched)"
            )));
        }
        if vs.forwarding.is_none() && vs.real_servers.iter().any(|r| r.forwarding.is_none()) {
            return Err(at(format!(
                "virtual_server {name}: no forwarding method set (lvs_method)"
            )));
        }
        if has_addresses && vs.protocol.is_none() {
            return Err(at(format!("virtual_server {name}: no protocol set")));
        }
        if !has_addresses && vs.protocol.is_some() {
            return Err(at(format!(
                "virtual_server {name}: protocol specified for fwmark - it would be ignored"
            )));
        }
        if vs.ops && vs.protocol != Some(LvsProtocol::Udp) && has_addresses {
            return Err(at(format!(
                "virtual_server {name}: one packet scheduling (ops) requires UDP"
            )));
        }
        let zero_port = match &vs.address {
            VsAddress::Socket(a) => a.port() == 0,
            VsAddress::Group(name) => groups
                .iter()
                .filter(|g| &g.name == name)
                .flat_map(|g| &g.entries)
                .any(|e| matches!(e, VsgEntry::Range { port: 0, .. })),
            VsAddress::Fwmark(_) => false,
        };
        if zero_port && vs.persistence_timeout.is_none() {
            return Err(at(format!(
                "virtual_server {name}: zero port only valid for persistent services"
            )));
        }
        for (i, rs) in vs.real_servers.iter().enumerate() {
            if vs.real_servers[..i].iter().any(|o| o.addr == rs.addr) {
                return Err(err_at(
                    &rs.location.file,
                    rs.location.line,
                    format!(
                        "real_server {}: duplicated in virtual_server {name}",
                        rs.addr
                    ),
                ));
            }
        }
        let vs_fwd = vs.forwarding;
        for rs in &mut vs.real_servers {
            let tunnelled = rs.forwarding.or(vs_fwd).map(|f| f.method) == Some(LvsMethod::Tun);
            if family.is_some_and(|v4| v4 != rs.addr.is_ipv4()) && !tunnelled {
                return Err(err_at(
                    &rs.location.file,
                    rs.location.line,
                    format!(
                        "real_server {}: address family differs from its virtual server's",
                        rs.addr
                    ),
                ));
            }
            if fwmark && rs.addr.port() != 0 {
                cfg.warnings.push(format!(
                    "{}: fwmark virtual server, real server {} has port specified - clearing",
                    rs.location, rs.addr
                ));
                rs.addr.set_port(0);
            }
        }
        if let Some(ss) = &vs.sorry_server {
            let tunnelled = ss.forwarding.or(vs_fwd).map(|f| f.method) == Some(LvsMethod::Tun);
            if family.is_some_and(|v4| v4 != ss.addr.is_ipv4()) && !tunnelled {
                return Err(at(format!(
                    "sorry_server {}: address family differs from its virtual server's",
                    ss.addr
                )));
            }
        }
    }
    if let Some(name) = cfg
        .global
        .lvs
        .sync_daemon
        .as_ref()
        .and_then(|d| d.instance.as_ref())
    {
        if !cfg.instances.iter().any(|i| &i.name == name) {
            let loc = cfg.global.lvs.sync_daemon_location.clone();
            return Err(match loc {
                Some(l) => err_at(
                    &l.file,
                    l.line,
                    format!("lvs_sync_daemon: no vrrp_instance {}", shown(name)),
                ),
                None => err_at(
                    std::path::Path::new(""),
                    0,
                    "lvs_sync_daemon: unknown instance",
                ),
            });
        }
    }
    Ok(())
}
