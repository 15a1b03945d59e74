//! The daemon's LVS glue: the checker core, the prober, and ipvs-core's declarative
//! apply scoped to exactly the configured services.
//!
//! On every table change the desired [`TableSpec`] is applied (the first time with
//! [`Handle::apply`], then [`Handle::apply_delta`] from the last applied table), with
//! destinations deleted at once as keepalived does (no draining). A failed apply is
//! retried a second later. Services outside the scope are never touched.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use ipvs_core::apply::{ApplyOptions, Scope, TableSpec};
use ipvs_core::{DaemonState, Handle, SyncDaemon, Timeouts};

use super::checker::{Action, CheckerCore, Event, VirtualServerState};
use super::probe::Prober;
use super::table::{desired, scope_of};
use super::tls::{check_server_names, client_config};
use crate::config::lvs::{CheckKind, FlushOnStop, LvsGlobal, VirtualServerGroup};
use crate::config::Config;
use crate::error::DaemonError;
use crate::log::Logger;
use crate::scripts::find_program;
use crate::track::check_script_security;
use crate::users::lookup_user;

/// Notify programs to run (argv each).
pub type Notifies = Vec<Vec<String>>;

/// How soon a failed apply is tried again.
const APPLY_RETRY: Duration = Duration::from_secs(1);
/// How often local addresses are read for `ha_suspend`.
const ADDRESS_POLL: Duration = Duration::from_millis(500);

/// The MISC_CHECK users of a configuration, resolved (an unknown one is an error).
fn misc_users(cfg: &Config) -> Result<Vec<Option<(u32, u32)>>, DaemonError> {
    let mut out = Vec::new();
    for vs in &cfg.virtual_servers {
        for rs in &vs.real_servers {
            for c in &rs.checkers {
                if let CheckKind::Misc(m) = &c.kind {
                    out.push(match &m.user {
                        Some(u) => Some(lookup_user(u, "MISC_CHECK user", Some(&rs.location))?),
                        None => None,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Checks what a reload or start needs beyond parsing: MISC_CHECK users exist, the
/// `SSL { }` files load and SSL_GET server names can be sent, and with
/// `enable_script_security` every MISC_CHECK program and LVS notify program
/// (`notify_up`, `notify_down`, `quorum_up`, `quorum_down`) is safe, as vrrp_script's.
pub fn check(cfg: &Config) -> Result<(), DaemonError> {
    misc_users(cfg)?;
    client_config(cfg.ssl.as_ref())?;
    check_server_names(cfg)?;
    if !cfg.global.enable_script_security {
        return Ok(());
    }
    for vs in &cfg.virtual_servers {
        let name = vs.name();
        let mut programs: Vec<(&Vec<String>, String)> = Vec::new();
        for q in [&vs.quorum_up, &vs.quorum_down].into_iter().flatten() {
            programs.push((q, format!("virtual_server {name} quorum notify")));
        }
        for rs in &vs.real_servers {
            for n in [&rs.notify_up, &rs.notify_down].into_iter().flatten() {
                programs.push((n, format!("real_server {} notify", rs.addr)));
            }
            for c in &rs.checkers {
                if let CheckKind::Misc(m) = &c.kind {
                    programs.push((&m.command, format!("real_server {} MISC_CHECK", rs.addr)));
                }
            }
        }
        for (argv, script) in programs {
            if let Some(program) = find_program(&argv[0]) {
                check_script_security(&program)
                    .map_err(|message| DaemonError::ScriptSecurity { script, message })?;
            }
        }
    }
    Ok(())
}

/// The sync daemon of `lvs_sync_daemon` (id: the instance's virtual_router_id unless
/// given, as keepalived), with the instance it follows.
fn sync_settings(cfg: &Config) -> Option<(SyncDaemon, Option<String>)> {
    let s = cfg.global.lvs.sync_daemon.as_ref()?;
    let vrid = s
        .instance
        .as_ref()
        .and_then(|n| cfg.instances.iter().find(|i| &i.name == n))
        .map_or(0, |i| i.vrid);
    let mut d = SyncDaemon::new(
        DaemonState::Backup,
        &s.interface,
        u32::from(s.id.unwrap_or(vrid)),
    );
    if let Some(v) = s.maxlen {
        d = d.sync_maxlen(v);
    }
    if let Some(v) = s.group {
        d = d.mcast_group(v);
    }
    if let Some(v) = s.port {
        d = d.mcast_port(v);
    }
    if let Some(v) = s.ttl {
        d = d.mcast_ttl(v);
    }
    Some((d, s.instance.clone()))
}

/// The sync daemons `lvs_sync_daemon` asks for (`None`: not configured; `Some(i)`:
/// following instance `i`, or none) when the instances in `masters` are MASTER:
/// keepalived's rules.
fn wanted_sync(follows: Option<Option<&str>>, masters: &[String]) -> Vec<DaemonState> {
    match follows {
        None => Vec::new(),
        Some(Some(i)) if masters.iter().any(|m| m == i) => vec![DaemonState::Master],
        Some(Some(_)) => vec![DaemonState::Backup],
        Some(None) => vec![DaemonState::Master, DaemonState::Backup],
    }
}

fn local_addresses() -> HashSet<IpAddr> {
    let mut out = HashSet::new();
    if let Ok(addrs) = nix::ifaddrs::getifaddrs() {
        for a in addrs {
            let Some(s) = a.address else { continue };
            if let Some(v4) = s.as_sockaddr_in() {
                out.insert(IpAddr::V4(v4.ip()));
            } else if let Some(v6) = s.as_sockaddr_in6() {
                out.insert(IpAddr::V6(v6.ip()));
            }
        }
    }
    out
}

/// The checker half of the running daemon.
#[derive(Debug)]
pub struct Lvs {
    core: CheckerCore,
    prober: Prober,
    ipvs: Handle,
    groups: Vec<VirtualServerGroup>,
    global: LvsGlobal,
    notify_user: Option<(u32, u32)>,
    /// The table last applied, and its scope.
    applied: Option<(TableSpec, Scope)>,
    apply_due: Option<Duration>,
    local: HashSet<IpAddr>,
    next_address_poll: Option<Duration>,
    log: Logger,
    /// `lvs_sync_daemon`: the daemon settings (state set per start) and the instance
    /// it follows.
    sync: Option<(SyncDaemon, Option<String>)>,
    /// The sync daemons running now.
    sync_running: Vec<DaemonState>,
}

impl Lvs {
    /// Starts the checker half when the configuration has virtual servers or LVS
    /// settings (`None` otherwise: a VRRP-only daemon never opens IPVS): flushes the
    /// table with `lvs_flush`, sets `lvs_timeouts`, applies the virtual servers.
    pub fn start(
        cfg: &Config,
        notify_user: Option<(u32, u32)>,
        now: Duration,
        log: &Logger,
    ) -> Result<Option<(Self, Notifies)>, DaemonError> {
        let g = &cfg.global.lvs;
        if cfg.virtual_servers.is_empty()
            && !g.flush
            && g.timeouts.is_none()
            && g.sync_daemon.is_none()
        {
            return Ok(None);
        }
        check(cfg)?;
        let ipvs_err =
            |what: &str, e: ipvs_core::Error| DaemonError::Setup(format!("IPVS: {what}: {e}"));
        let mut ipvs = Handle::new().map_err(|e| ipvs_err("cannot open", e))?;
        if g.flush {
            ipvs.flush().map_err(|e| ipvs_err("lvs_flush", e))?;
        }
        if let Some(t) = g.timeouts {
            // 0 leaves a timeout unchanged.
            let t = Timeouts::new(
                t.tcp.unwrap_or(0),
                t.tcp_fin.unwrap_or(0),
                t.udp.unwrap_or(0),
            );
            ipvs.set_timeouts(&t)
                .map_err(|e| ipvs_err("lvs_timeouts", e))?;
        }
        let local = local_addresses();
        let seed = u64::from(std::process::id()) ^ now.as_nanos() as u64;
        let (core, actions) = CheckerCore::new(&cfg.virtual_servers, &local, now, seed);
        let prober = Prober::new(client_config(cfg.ssl.as_ref())?)
            .map_err(|e| DaemonError::Setup(format!("probes: {e}")))?;
        let mut lvs = Lvs {
            core,
            prober,
            ipvs,
            groups: cfg.virtual_server_groups.clone(),
            global: g.clone(),
            notify_user,
            applied: None,
            apply_due: None,
            local,
            next_address_poll: None,
            log: *log,
            sync: sync_settings(cfg),
            sync_running: Vec::new(),
        };
        lvs.start_sync();
        lvs.schedule_address_poll(now);
        let notifies = lvs.perform(now, actions);
        Ok(Some((lvs, notifies)))
    }

    fn schedule_address_poll(&mut self, now: Duration) {
        let any = self.core.virtual_servers().iter().any(|v| v.cfg.ha_suspend);
        self.next_address_poll = any.then_some(now + ADDRESS_POLL);
    }

    /// `lvs_sync_daemon` at start: following an instance, the backup daemon (the
    /// master one once the instance is master); following none, both (keepalived's
    /// rules).
    ///
    /// Sync daemons already running are stopped first: a previous run killed with
    /// SIGKILL leaves its daemons in the kernel, and a master daemon left behind would
    /// run beside our backup one while we are backup (and make starting ours fail with
    /// EEXIST when we become master), which is what keepalived 2.2.7 does.
    fn start_sync(&mut self) {
        if self.sync.is_none() {
            return;
        }
        match self.ipvs.daemons() {
            Ok(running) => {
                for d in running {
                    match self.ipvs.stop_daemon(d.state) {
                        Ok(()) => self.log.log(&format!(
                            "IPVS: {:?} sync daemon found running (left by an earlier run?): stopped",
                            d.state
                        )),
                        Err(e) => self.log.log(&format!(
                            "IPVS: cannot stop the {:?} sync daemon found running: {e}",
                            d.state
                        )),
                    }
                }
            }
            Err(e) => self
                .log
                .log(&format!("IPVS: cannot list the sync daemons: {e}")),
        }
        self.start_sync_for(&[]);
    }

    /// Starts the sync daemons the settings ask for when the instances named in
    /// `masters` are MASTER.
    fn start_sync_for(&mut self, masters: &[String]) {
        for st in wanted_sync(self.sync.as_ref().map(|(_, i)| i.as_deref()), masters) {
            self.sync_start(st);
        }
    }

    /// A reload: when `lvs_sync_daemon` changed (interface, instance, id or another
    /// option; added or removed), the running sync daemons stop and those of the new
    /// settings start, the master one if the instance it follows is in `masters` (the
    /// instances MASTER now). Unchanged settings leave the daemons running.
    pub fn reload_sync(&mut self, cfg: &Config, masters: &[String]) {
        let new = sync_settings(cfg);
        if new == self.sync {
            return;
        }
        self.log
            .log("lvs_sync_daemon changed: restarting the sync daemons");
        for st in self.sync_running.clone() {
            self.sync_stop(st);
        }
        self.sync = new;
        self.start_sync_for(masters);
    }

    fn sync_start(&mut self, st: DaemonState) {
        let Some((d, _)) = &self.sync else { return };
        let mut d = d.clone();
        d.state = st;
        match self.ipvs.start_daemon(&d) {
            Ok(()) => {
                self.log.log(&format!(
                    "IPVS: {st:?} sync daemon started on {}",
                    d.mcast_ifn
                ));
                self.sync_running.push(st);
            }
            Err(e) => self
                .log
                .log(&format!("IPVS: cannot start the {st:?} sync daemon: {e}")),
        }
    }

    fn sync_stop(&mut self, st: DaemonState) {
        if !self.sync_running.contains(&st) {
            return;
        }
        self.sync_running.retain(|s| *s != st);
        match self.ipvs.stop_daemon(st) {
            Ok(()) => self.log.log(&format!("IPVS: {st:?} sync daemon stopped")),
            Err(e) => self
                .log
                .log(&format!("IPVS: cannot stop the {st:?} sync daemon: {e}")),
        }
    }

    /// A VRRP instance changed state: the sync daemon that follows it becomes master
    /// (entering MASTER) or backup (leaving it).
    pub fn vrrp_state(&mut self, instance: &str, master: bool) {
        let follows = matches!(&self.sync, Some((_, Some(i))) if i == instance);
        if !follows {
            return;
        }
        let (stop, start) = if master {
            (DaemonState::Backup, DaemonState::Master)
        } else {
            (DaemonState::Master, DaemonState::Backup)
        };
        if self.sync_running.contains(&start) {
            return;
        }
        self.sync_stop(stop);
        self.sync_start(start);
    }

    /// The poll loop waits on this for probe results.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.prober.raw_fd()
    }

    /// When [`Lvs::poll`] must run next at the latest.
    pub fn next_deadline(&self) -> Option<Duration> {
        [
            self.core.next_deadline(),
            self.apply_due,
            self.next_address_poll,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The virtual servers' state (for the state file).
    pub fn virtual_servers(&self) -> &[VirtualServerState] {
        self.core.virtual_servers()
    }

    /// Takes probe results, starts due probes, re-reads addresses for `ha_suspend`,
    /// applies table changes. Returns the notify programs to run.
    pub fn poll(&mut self, now: Duration) -> Vec<Vec<String>> {
        let mut actions = Vec::new();
        for (id, outcome) in self.prober.drain() {
            actions.extend(self.core.handle(now, Event::Result { id, outcome }));
        }
        if self.next_address_poll.is_some_and(|t| t <= now) {
            let fresh = local_addresses();
            for a in fresh.symmetric_difference(&self.local) {
                let present = fresh.contains(a);
                actions.extend(self.core.handle(now, Event::Address { addr: *a, present }));
            }
            self.local = fresh;
            self.next_address_poll = Some(now + ADDRESS_POLL);
        }
        if self.core.next_deadline().is_some_and(|d| d <= now) {
            actions.extend(self.core.handle(now, Event::Tick));
        }
        if self.apply_due.is_some_and(|t| t <= now) {
            actions.push(Action::TableChanged);
        }
        self.perform(now, actions)
    }

    /// A new configuration: health of unchanged real servers kept, the difference
    /// applied as one change.
    pub fn reload(&mut self, cfg: &Config, now: Duration) -> Vec<Vec<String>> {
        self.groups = cfg.virtual_server_groups.clone();
        self.global = cfg.global.lvs.clone();
        match client_config(cfg.ssl.as_ref()) {
            Ok(tls) => self.prober.set_tls(tls),
            // `check` read the same files a moment ago; keep the old context if one
            // changed since (logged).
            Err(e) => self
                .log
                .log(&format!("SSL: keeping the previous context: {e}")),
        }
        let actions = self.core.reload(&cfg.virtual_servers, now);
        self.schedule_address_poll(now);
        self.perform(now, actions)
    }

    fn perform(&mut self, now: Duration, actions: Vec<Action>) -> Vec<Vec<String>> {
        let mut notifies = Vec::new();
        let mut changed = false;
        for a in actions {
            match a {
                Action::Probe(p) => {
                    let user = match &p.kind {
                        CheckKind::Misc(m) => match &m.user {
                            Some(u) => lookup_user(u, "MISC_CHECK user", None).ok(),
                            None => self.notify_user,
                        },
                        _ => None,
                    };
                    self.prober.start(*p, user);
                }
                Action::Notify(argv) => notifies.push(argv),
                Action::TableChanged => changed = true,
                Action::Log(line) => self.log.log(&line),
            }
        }
        if changed {
            self.apply(now);
        }
        notifies
    }

    /// Applies the desired table; on failure, tries again in [`APPLY_RETRY`].
    fn apply(&mut self, now: Duration) {
        let (table, scope) = desired(&self.core, &self.groups);
        // The old keys stay in scope so that a removed virtual server is deleted.
        let scope = match &self.applied {
            Some((old, _)) => old
                .entries
                .iter()
                .map(|e| e.service.key)
                .fold(scope, Scope::key),
            None => scope,
        };
        let options = ApplyOptions::new(scope.clone()).graceful(false);
        let result = match &self.applied {
            Some((old, _)) => self.ipvs.apply_delta(old, &table, &options),
            None => self.ipvs.apply(&table, &options),
        };
        match result {
            Ok(report) if report.is_ok() => {
                for c in &report.plan.changes {
                    self.log.log(&format!("IPVS: {c}"));
                }
                self.applied = Some((table, scope));
                self.apply_due = None;
            }
            Ok(report) => {
                let why = report
                    .first_failure()
                    .map(|(c, e)| format!("{c}: {e}"))
                    .unwrap_or_default();
                self.log
                    .log(&format!("IPVS: apply failed ({why}), retrying"));
                // The kernel's table is as before: plan from it next time.
                self.applied = None;
                self.apply_due = Some(now + APPLY_RETRY);
            }
            Err(e) => {
                self.log.log(&format!("IPVS: apply failed ({e}), retrying"));
                self.applied = None;
                self.apply_due = Some(now + APPLY_RETRY);
            }
        }
    }

    /// Stopping: `omega` notifies, then `lvs_flush_on_stop` (without `VS`) flushes the table;
    /// otherwise (keepalived's default, and `VS`) the configured services are removed.
    pub fn stop(&mut self) -> Vec<Vec<String>> {
        let notifies = self
            .core
            .shutdown()
            .into_iter()
            .filter_map(|a| match a {
                Action::Notify(v) => Some(v),
                _ => None,
            })
            .collect();
        let r = if self.global.flush_on_stop == Some(FlushOnStop::All) {
            self.ipvs.flush()
        } else {
            let vss: Vec<_> = self
                .core
                .virtual_servers()
                .iter()
                .map(|v| v.cfg.clone())
                .collect();
            let scope = scope_of(&vss, &self.groups);
            self.ipvs
                .apply(&TableSpec::new(), &ApplyOptions::new(scope).graceful(false))
                .map(|_| ())
        };
        if let Err(e) = r {
            self.log
                .log(&format!("IPVS: cannot remove the virtual servers: {e}"));
        }
        for st in self.sync_running.clone() {
            self.sync_stop(st);
        }
        notifies
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn sync_daemons_follow_the_instance_state() {
        let masters = vec!["VI_1".to_string()];
        assert_eq!(wanted_sync(None, &masters), []);
        assert_eq!(
            wanted_sync(Some(Some("VI_1")), &masters),
            [DaemonState::Master]
        );
        assert_eq!(wanted_sync(Some(Some("VI_1")), &[]), [DaemonState::Backup]);
        assert_eq!(
            wanted_sync(Some(Some("VI_2")), &masters),
            [DaemonState::Backup]
        );
        assert_eq!(
            wanted_sync(Some(None), &[]),
            [DaemonState::Master, DaemonState::Backup]
        );
    }

    #[test]
    fn a_changed_lvs_sync_daemon_is_a_different_setting() {
        let conf = |line: &str| {
            crate::config::parse_for_test(&format!(
                "global_defs {{\n {line}\n}}\nvrrp_instance VI_1 {{\n interface eth0\n \
                 virtual_router_id 51\n virtual_ipaddress {{\n 192.0.2.100\n }}\n}}\n\
                 vrrp_instance VI_2 {{\n interface eth0\n virtual_router_id 52\n \
                 virtual_ipaddress {{\n 192.0.2.101\n }}\n}}\n"
            ))
        };
        let base = sync_settings(&conf("lvs_sync_daemon eth0 VI_1"));
        let (d, follows) = base.clone().expect("configured");
        assert_eq!((d.syncid, follows.as_deref()), (51, Some("VI_1")));
        assert_eq!(base, sync_settings(&conf("lvs_sync_daemon eth0 VI_1")));
        for other in [
            "lvs_sync_daemon eth0 VI_1 id 9",
            "lvs_sync_daemon eth1 VI_1",
            "lvs_sync_daemon eth0 VI_2",
            "lvs_sync_daemon eth0 VI_1 port 9000",
            "router_id none",
        ] {
            assert_ne!(base, sync_settings(&conf(other)), "{other}");
        }
    }

    #[test]
    fn an_insecure_misc_check_program_is_refused_with_script_security() {
        let dir = tempfile::tempdir().expect("dir");
        let prog = dir.path().join("check.sh");
        std::fs::write(&prog, "#!/bin/sh\nexit 0\n").expect("write");
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let text = |security: &str| {
            format!(
                "global_defs {{\n{security}\n}}\nvirtual_server 192.0.2.10 80 {{\n lvs_sched rr\n lvs_method NAT\n protocol TCP\n real_server 198.51.100.10 80 {{\n MISC_CHECK {{\n misc_path {}\n }}\n }}\n}}\n",
                prog.display()
            )
        };
        let cfg = crate::config::parse_for_test(&text("enable_script_security"));
        let e = check(&cfg).expect_err("world-writable program");
        assert!(
            e.to_string()
                .starts_with("real_server 198.51.100.10:80 MISC_CHECK: SECURITY VIOLATION"),
            "{e}"
        );
        let cfg = crate::config::parse_for_test(&text("router_id x"));
        check(&cfg).expect("no script security asked for");
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let cfg = crate::config::parse_for_test(&text("enable_script_security"));
        check(&cfg).expect("a safe program");
    }
}
