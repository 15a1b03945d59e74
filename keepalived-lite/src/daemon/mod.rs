//! The daemon: one `poll(2)` loop over a `signalfd`, a reload's configuration read
//! (the only other thread) and the instances' sockets, gluing the sans-IO cores
//! ([`crate::state::Machine`] per instance, [`crate::schedule::Schedule`] for every
//! other timer, [`crate::track`]) to the I/O edges ([`crate::net`], [`crate::rtnl`], [`crate::children`], [`crate::statefile`]).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::check::{check, Drop};
use crate::children::{command, Children, Purpose};
use crate::config::{self, Config};
use crate::instance::{open_instance, remove_stale_vips, InstanceRt};
use crate::net;
use crate::packet::{Advert, ChecksumMode, Version};
use crate::rtnl::{self, Rtnl};
use crate::schedule::{Due, Schedule, VIP_RETRY_DELAY};
use crate::scripts::{check_notify_security, script_rt, ScriptRt};
use crate::signals::{SignalEvent, Signals};
use crate::state::{Action, Input, State};
use crate::statefile;
use crate::track;
use crate::users::resolve_script_user;

mod lvs;
mod metrics;
mod reload;

use reload::ConfigRead;

pub use crate::error::DaemonError;
pub use crate::log::Logger;
pub use crate::users::check_users;

/// How long notify programs may still run when the daemon exits (a `notify_stop` runs
/// during shutdown) before they are killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The longest the poll loop sleeps without a deadline: it turns at least this
/// often, so `/healthz` ([`crate::metrics::Heartbeat`]) tells a stuck loop from an
/// idle one (an instance in FAULT, say, has no timer running).
pub const LOOP_TURN_MAX: Duration = Duration::from_secs(1);

/// Daemon options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration file.
    pub config: PathBuf,
    /// Log to stderr (else syslog).
    pub log_console: bool,
    /// JSON state file, rewritten on every change.
    pub state_file: PathBuf,
    /// A notify program still running after this long is killed with its process group.
    pub notify_timeout: Duration,
}

/// The running daemon.
#[derive(Debug)]
pub struct Daemon {
    opts: Options,
    config: Config,
    rtnl: Rtnl,
    origin: Instant,
    instances: Vec<InstanceRt>,
    scripts: HashMap<String, ScriptRt>,
    children: Children,
    schedule: Schedule,
    signals: Signals,
    /// A configuration being read for a reload, off the loop.
    reading: Option<ConfigRead>,
    /// Another `SIGHUP` arrived during that read: read again when it is done.
    reload_again: bool,
    /// `script_user` resolved at start and on reload: notify scripts run as it.
    notify_user: Option<(u32, u32)>,
    log: Logger,
    dirty: bool,
    /// The checker half (`virtual_server` blocks), when configured.
    lvs: Option<crate::lvs::Lvs>,
    /// Where `--metrics` reads the daemon's state (see [`crate::metrics`]).
    metrics: Option<crate::metrics::SharedSnapshot>,
}

impl Daemon {
    /// Parses the configuration, removes stale VIPs and opens every instance.
    pub fn start(opts: Options, log: Logger) -> Result<Self, DaemonError> {
        // Blocked from here on: a SIGHUP during start-up waits for the loop.
        let signals = Signals::block()
            .map_err(|e| DaemonError::Setup(format!("cannot set up signals: {e}")))?;
        let config = config::parse_file(&opts.config)?;
        let notify_user = resolve_script_user(&config.global)?;
        let mut rtnl = Rtnl::open()?;
        let origin = Instant::now();
        let mut schedule = Schedule::new(Duration::ZERO);
        let mut scripts = HashMap::new();
        for w in &config.warnings {
            log.log(w);
        }
        for s in &config.scripts {
            if let Some(rt) = script_rt(s, &config.global, &log)? {
                schedule.script_added(&s.name, Duration::ZERO);
                scripts.insert(s.name.clone(), rt);
            }
        }
        check_notify_security(&config)?;
        let mut instances = Vec::new();
        for i in &config.instances {
            let rt = open_instance(&mut rtnl, i, &[])?;
            // VIPs a previous run left behind (killed without resigning) go first, as
            // keepalived does.
            remove_stale_vips(&mut rtnl, &rt, &log)?;
            instances.push(rt);
        }
        let lvs = crate::lvs::Lvs::start(&config, notify_user, origin.elapsed(), &log)?;
        let (lvs, lvs_notifies) = match lvs {
            Some((l, n)) => (Some(l), n),
            None => (None, Vec::new()),
        };
        let mut d = Daemon {
            lvs,
            opts,
            config,
            rtnl,
            origin,
            instances,
            scripts,
            children: Children::new(),
            schedule,
            signals,
            reading: None,
            reload_again: false,
            notify_user,
            log,
            dirty: true,
            metrics: None,
        };
        for idx in 0..d.instances.len() {
            d.update_tracking(idx, true);
            d.feed(idx, Input::Startup);
        }
        for argv in lvs_notifies {
            d.run_notify(&argv);
        }
        d.write_state();
        Ok(d)
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.instances.iter().position(|i| i.cfg.name == name)
    }

    /// Feeds `input` to instance `idx`'s machine and performs the actions. The VIPs are
    /// added before anything else of a batch: if that fails, nothing is sent or
    /// announced and the instance goes to FAULT instead of being a master without them.
    fn feed(&mut self, idx: usize, input: Input) {
        let now = self.now();
        let actions = self.instances[idx].machine.handle(now, input);
        if actions.contains(&Action::AddVips) {
            if let Err(e) = self.add_vips(idx) {
                self.vips_failed(idx, &e);
                return;
            }
        }
        for a in actions {
            self.apply(idx, a);
        }
    }

    fn add_vips(&mut self, idx: usize) -> Result<(), String> {
        let inst = &mut self.instances[idx];
        self.log.log(&format!("({}) setting VIPs.", inst.cfg.name));
        for (k, v) in inst.cfg.vips.iter().enumerate() {
            let dev = v.dev.as_deref().unwrap_or(&inst.cfg.interface);
            // By name each time: the interface may have been re-created.
            let ifx = rtnl::ifindex(dev).map_err(|e| format!("{}: {e}", v.addr))?;
            inst.vip_ifindex[k] = ifx;
            self.rtnl
                .add_address(ifx, v.addr, v.prefix_len, v.label.as_deref())
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    fn vips_failed(&mut self, idx: usize, why: &str) {
        let now = self.now();
        let inst = &mut self.instances[idx];
        inst.vip_fault = true;
        let name = inst.cfg.name.clone();
        self.log.log(&format!(
            "({name}) cannot add the virtual addresses ({why}): staying out of MASTER, \
             FAULT until a retry in {} s",
            VIP_RETRY_DELAY.as_secs()
        ));
        self.schedule.vips_failed(&name, now);
        self.update_fault(idx);
    }

    /// Feeds the fault condition (tracking or VIPs) when it changed.
    fn update_fault(&mut self, idx: usize) {
        let inst = &mut self.instances[idx];
        let fault = inst.tracked.fault || inst.vip_fault;
        if fault != inst.fault_fed {
            inst.fault_fed = fault;
            self.feed(idx, Input::Fault(fault));
        }
    }

    fn apply(&mut self, idx: usize, action: Action) {
        let now = self.now();
        let inst = &mut self.instances[idx];
        match action {
            // A master turned to FAULT before it said so resigns nothing.
            Action::SendAdvert { priority: 0 } if inst.shown_state != State::Master => {}
            Action::SendAdvert { priority } => {
                let adv = Advert {
                    version: inst.cfg.version,
                    vrid: inst.cfg.vrid,
                    priority,
                    interval_cs: inst.cfg.advert_int_cs,
                    addrs: inst.cfg.vips.iter().map(|v| v.addr).collect(),
                    auth: inst.expect.auth.clone(),
                };
                for dst in &inst.dsts {
                    let bytes = adv.encode(inst.src, *dst, inst.cfg.checksum_mode);
                    match inst.sock.send(inst.src, *dst, &bytes) {
                        Ok(()) => {
                            self.dirty = true;
                            inst.counters.adverts_sent += 1;
                            if priority == 0 {
                                inst.counters.priority_zero_sent += 1;
                            }
                        }
                        Err(e) => self.log.log(&format!(
                            "({}) cannot send advert to {dst}: {e}",
                            inst.cfg.name
                        )),
                    }
                }
            }
            // Done first, in `feed`.
            Action::AddVips => {}
            Action::RemoveVips => {
                self.log.log(&format!("({}) removing VIPs.", inst.cfg.name));
                for (v, ifx) in inst.cfg.vips.iter().zip(&inst.vip_ifindex) {
                    if let Err(e) = self.rtnl.del_address(*ifx, v.addr, v.prefix_len) {
                        self.log.log(&format!("({}) {e}", inst.cfg.name));
                    }
                }
            }
            Action::Announce => {
                // keepalived's defaults: 5 gratuitous ARPs / unsolicited NAs at once and
                // 5 more after vrrp_garp_master_delay (5 s).
                self.schedule.announced(&inst.cfg.name, now);
                self.announce(idx);
            }
            Action::Transition { to, .. } => self.transition(idx, to),
        }
    }

    /// Logs, counts and notifies a state change (from the state last shown).
    fn transition(&mut self, idx: usize, to: State) {
        let inst = &mut self.instances[idx];
        let from = inst.shown_state;
        if from == to {
            return;
        }
        inst.shown_state = to;
        self.dirty = true;
        let name = inst.cfg.name.clone();
        if to == State::Master {
            inst.counters.became_master += 1;
        }
        if from == State::Master {
            inst.counters.released_master += 1;
        }
        self.log.log(&format!(
            "({name}) Entering {} STATE (from {})",
            to.name(),
            from.name()
        ));
        let specific = match to {
            State::Master => inst.cfg.notify_master.clone(),
            State::Backup => inst.cfg.notify_backup.clone(),
            State::Fault => inst.cfg.notify_fault.clone(),
            State::Initialize => inst.cfg.notify_stop.clone(),
        };
        let generic = inst.cfg.notify.clone().map(|mut argv| {
            let state = if to == State::Initialize {
                "STOP"
            } else {
                to.name()
            };
            argv.extend([
                "INSTANCE".into(),
                name.clone(),
                state.into(),
                inst.machine.priority().to_string(),
            ]);
            argv
        });
        // Stopping (INIT) leaves the sync daemons to the shutdown.
        if to != State::Initialize {
            self.lvs_vrrp_state(&name, to == State::Master);
        }
        // Scripts read the new state from the state file: write it before they run.
        self.write_state();
        for argv in specific.into_iter().chain(generic) {
            self.run_notify(&argv);
        }
    }

    fn announce(&mut self, idx: usize) {
        let inst = &self.instances[idx];
        for (v, ifx) in inst.cfg.vips.iter().zip(&inst.vip_ifindex) {
            let dev = v.dev.as_deref().unwrap_or(&inst.cfg.interface);
            let mac = if *ifx == inst.ifindex {
                inst.mac.clone()
            } else {
                self.rtnl.link(*ifx).map(|l| l.mac).unwrap_or_default()
            };
            let r = match v.addr {
                IpAddr::V4(a) => net::send_garp(*ifx, &mac, a, 5),
                IpAddr::V6(a) => net::send_unsolicited_na(dev, *ifx, &mac, a, 5),
            };
            if let Err(e) = r {
                self.log.log(&format!(
                    "({}) cannot announce {} on {dev}: {e}",
                    inst.cfg.name, v.addr
                ));
            }
        }
    }

    fn run_notify(&mut self, argv: &[String]) {
        let mut c = command(argv, self.notify_user);
        c.env("KEEPALIVED_LITE_STATE_FILE", &self.opts.state_file);
        match self.children.spawn(c, Purpose::Notify) {
            Ok(pid) => {
                let now = self.now();
                self.schedule
                    .notify_started(pid, now, self.opts.notify_timeout);
            }
            Err(e) => self
                .log
                .log(&format!("cannot run notify script {}: {e}", argv[0])),
        }
    }

    fn write_state(&mut self) {
        self.dirty = false;
        let now = self.now();
        self.schedule.state_written(now);
        self.write_state_file();
    }

    fn write_state_file(&mut self) {
        self.publish_metrics();
        let r = statefile::write(
            &self.opts.state_file,
            self.config.global.router_id.as_deref(),
            &self.instances,
            self.lvs
                .as_ref()
                .map(|l| l.virtual_servers())
                .unwrap_or_default(),
        );
        if let Err(e) = r {
            self.log.log(&format!(
                "cannot write state file {}: {e}",
                self.opts.state_file.display()
            ));
        }
    }

    /// Recomputes tracked priority / fault of instance `idx` and feeds changes.
    fn update_tracking(&mut self, idx: usize, check_links: bool) {
        if check_links {
            let mut names: Vec<String> = self.instances[idx]
                .cfg
                .track_interfaces
                .iter()
                .map(|t| t.name.clone())
                .collect();
            names.push(self.instances[idx].cfg.interface.clone());
            for n in names {
                let up = rtnl::ifindex(&n)
                    .and_then(|i| self.rtnl.link(i))
                    .map(|l| l.up)
                    .unwrap_or(false);
                self.instances[idx].link_up.insert(n, up);
            }
        }
        let inst = &self.instances[idx];
        let mut objs: Vec<(i32, bool)> = Vec::new();
        for t in &inst.cfg.track_scripts {
            if let Some(s) = self.scripts.get(&t.name) {
                objs.push((t.weight.unwrap_or(s.cfg.weight), s.health.is_good()));
            }
        }
        for t in &inst.cfg.track_interfaces {
            objs.push((
                t.weight.unwrap_or(0),
                inst.link_up.get(&t.name).copied().unwrap_or(false),
            ));
        }
        objs.push((
            0,
            inst.link_up
                .get(&inst.cfg.interface)
                .copied()
                .unwrap_or(false),
        ));
        let new = track::effective(inst.cfg.priority, &objs);
        let old = inst.tracked;
        if new.priority != old.priority {
            let name = inst.cfg.name.clone();
            self.instances[idx].tracked.priority = new.priority;
            self.log.log(&format!(
                "({name}) effective priority {} -> {}",
                old.priority, new.priority
            ));
            self.dirty = true;
            self.feed(idx, Input::Priority(new.priority));
        }
        self.instances[idx].tracked.fault = new.fault;
        self.update_fault(idx);
    }

    fn retrack_all(&mut self, check_links: bool) {
        for idx in 0..self.instances.len() {
            self.update_tracking(idx, check_links);
        }
    }

    /// Starts a run of script `name` (unless one is running: the schedule holds the
    /// run until that one ends).
    fn start_script(&mut self, name: &str) {
        let now = self.now();
        let Some(s) = self.scripts.get_mut(name) else {
            return;
        };
        if s.running.is_some() {
            return;
        }
        let (interval, timeout) = (s.cfg.interval, s.cfg.timeout);
        match self.children.spawn(
            command(&s.cfg.command, s.uid_gid),
            Purpose::Script(name.to_string()),
        ) {
            Ok(pid) => {
                s.running = Some(pid);
                self.schedule.script_started(name, now, interval, timeout);
            }
            Err(e) => {
                self.log.log(&format!(
                    "vrrp_script {name}: cannot run {}: {e}",
                    s.cfg.command[0]
                ));
                self.schedule.script_started(name, now, interval, timeout);
                self.script_result(name, None, false);
            }
        }
    }

    /// Records a run's result (`pid`: the run that ended, `None` when none started).
    fn script_result(&mut self, name: &str, pid: Option<u32>, ok: bool) {
        let now = self.now();
        let Some(s) = self.scripts.get_mut(name) else {
            return;
        };
        if s.running != pid {
            return; // a run of a script since replaced
        }
        s.running = None;
        self.schedule.script_finished(name, now);
        if s.health.record(ok) {
            self.dirty = true;
            let verdict = if s.health.is_good() {
                "succeeded"
            } else {
                "failed"
            };
            self.log
                .log(&format!("Script `{name}` now returning {verdict}"));
            self.retrack_all(false);
        }
    }

    fn reap_children(&mut self) {
        for ex in self.children.reap() {
            match ex.purpose {
                Purpose::Script(name) => self.script_result(&name, Some(ex.pid), ex.success),
                Purpose::Notify => self.schedule.notify_finished(ex.pid),
                Purpose::Discarded => {}
            }
        }
    }

    fn on_due(&mut self, due: Due) {
        match due {
            Due::Reannounce(name) => {
                if let Some(idx) = self.index_of(&name) {
                    if self.instances[idx].shown_state == State::Master {
                        self.announce(idx);
                    }
                }
            }
            Due::CheckLinks => self.retrack_all(true),
            Due::RunScript(name) => self.start_script(&name),
            Due::ScriptTimedOut(name) => {
                let pid = self.scripts.get(&name).and_then(|s| s.running);
                if let Some(pid) = pid {
                    self.children.kill(pid);
                    self.log.log(&format!("vrrp_script {name} timed out"));
                    self.script_result(&name, Some(pid), false);
                }
            }
            Due::RetryVips(name) => {
                if let Some(idx) = self.index_of(&name) {
                    self.log
                        .log(&format!("({name}) trying the virtual addresses again"));
                    self.instances[idx].vip_fault = false;
                    self.update_fault(idx);
                }
            }
            Due::NotifyTimedOut(pid) => {
                if self.children.is_running(pid) {
                    self.children.kill(pid);
                    self.log.log(&format!(
                        "notify program (pid {pid}) still running after {} s: killed with its process group",
                        self.opts.notify_timeout.as_secs_f32()
                    ));
                }
            }
            Due::WriteState => {
                self.dirty = false;
                self.write_state_file();
            }
        }
    }

    fn receive(&mut self, idx: usize) {
        loop {
            let r = self.instances[idx].sock.recv();
            let rx = match r {
                Ok(Some(rx)) => rx,
                Ok(None) => return,
                Err(e) => {
                    let inst = &mut self.instances[idx];
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        inst.counters.dropped_invalid += 1;
                        self.dirty = true;
                        continue;
                    }
                    self.log.log(&format!("({}) receive: {e}", inst.cfg.name));
                    return;
                }
            };
            let inst = &mut self.instances[idx];
            match check(&inst.expect, &rx) {
                Ok((adv, mode)) => {
                    inst.counters.adverts_received += 1;
                    if adv.priority == 0 {
                        inst.counters.priority_zero_received += 1;
                        self.log.log(&format!(
                            "({}) received priority 0 advert from {}",
                            inst.cfg.name, rx.src
                        ));
                    }
                    if inst.cfg.version == Version::V3
                        && rx.src.is_ipv4()
                        && inst.peer_checksum != Some(mode)
                    {
                        inst.peer_checksum = Some(mode);
                        let how = match mode {
                            ChecksumMode::PseudoHeader => "with the IPv4 pseudo-header",
                            ChecksumMode::VrrpOnly => "without pseudo-header (v3_checksum_as_v2)",
                        };
                        self.log.log(&format!(
                            "({}) peer {} computes the VRRPv3 checksum {how}",
                            inst.cfg.name, rx.src
                        ));
                    }
                    self.dirty = true;
                    self.feed(
                        idx,
                        Input::Advert {
                            src: rx.src,
                            priority: adv.priority,
                            interval_cs: adv.interval_cs,
                        },
                    );
                }
                Err(Drop::Own) => {}
                Err(d) => {
                    // At most one line a second: a flood must not flood the log too.
                    let quiet = inst
                        .last_drop_log
                        .is_some_and(|t| t.elapsed() < Duration::from_secs(1));
                    if !matches!(d, Drop::OtherVrid(_)) && !quiet {
                        inst.last_drop_log = Some(Instant::now());
                        self.log.log(&format!(
                            "({}) dropped packet from {}: {d:?} (counters in the state file)",
                            inst.cfg.name, rx.src
                        ));
                    }
                    inst.counters.count(&d);
                    self.dirty = true;
                }
            }
        }
    }

    /// Runs until SIGTERM/SIGINT; then resigns every instance, removes the VIPs and
    /// stops every child.
    pub fn run(&mut self) {
        'run: loop {
            let now = self.now();
            let deadline = self
                .instances
                .iter()
                .filter_map(|i| i.machine.next_deadline())
                .chain(self.schedule.next_deadline())
                .chain(self.lvs.as_ref().and_then(|l| l.next_deadline()))
                .min();
            if let Some(m) = &self.metrics {
                m.heartbeat().beat();
            }
            let wait = deadline.map_or(LOOP_TURN_MAX, |d| d.saturating_sub(now));
            let timeout_ms = wait.min(LOOP_TURN_MAX).as_micros().div_ceil(1000) as libc::c_int;
            // 0: signals, 1: a reload's configuration read (-1, ignored, when none),
            // then one socket per instance.
            let reading_fd = self.reading.as_ref().map_or(-1, |r| r.raw_fd());
            let mut fds: Vec<libc::pollfd> = [self.signals.raw_fd(), reading_fd]
                .into_iter()
                .chain(self.instances.iter().map(|i| i.sock.raw_fd()))
                .chain(self.lvs.as_ref().map(|l| l.raw_fd()))
                .map(|fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: fds is a live array of pollfd of the given length.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
            for (idx, p) in fds[2..2 + self.instances.len()].iter().enumerate() {
                if p.revents & (libc::POLLIN | libc::POLLERR) != 0 {
                    self.receive(idx);
                }
            }
            if fds[0].revents & libc::POLLIN != 0 {
                for ev in self.signals.drain() {
                    match ev {
                        SignalEvent::Terminate => break 'run,
                        SignalEvent::Reload => self.start_reload(),
                        SignalEvent::ChildExited => self.reap_children(),
                    }
                }
            }
            if fds[1].revents != 0 {
                self.finish_reload();
            }
            self.poll_lvs();
            let now = self.now();
            for due in self.schedule.due(now) {
                self.on_due(due);
            }
            let now = self.now();
            for idx in 0..self.instances.len() {
                if self.instances[idx]
                    .machine
                    .next_deadline()
                    .is_some_and(|d| d <= now)
                {
                    self.feed(idx, Input::Tick);
                }
            }
            if self.dirty {
                self.schedule.state_changed(self.now());
            }
        }
        self.log.log("Stopping");
        for idx in 0..self.instances.len() {
            self.feed(idx, Input::Shutdown);
        }
        self.stop_lvs();
        self.write_state();
        self.children
            .shutdown(self.opts.notify_timeout.min(EXIT_GRACE));
        self.log.log("Stopped");
    }
}
