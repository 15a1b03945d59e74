//! The daemon: wires configuration, sockets, rtnetlink, scripts and the pure state
//! machines together in one single-threaded poll loop.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::check::{check, Counters, Drop, Expect};
use crate::config::{self, Config, Instance, VrrpScript};
use crate::net::{self, VrrpSocket};
use crate::packet::{Advert, Auth, ChecksumMode, Version, VRRP_MCAST_V4, VRRP_MCAST_V6};
use crate::rtnl::{self, Rtnl, RtnlError};
use crate::state::{Action, Input, Machine, Params, State};
use crate::track::{self, ScriptHealth, Tracked};

/// A failure that stops the daemon from starting.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Configuration does not parse or validate.
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    /// rtnetlink failed.
    #[error("{0}")]
    Rtnl(#[from] RtnlError),
    /// Setting up an instance failed.
    #[error("vrrp_instance {instance}: {message}")]
    Instance {
        /// Instance name.
        instance: String,
        /// What failed.
        message: String,
    },
    /// A script refused by `enable_script_security`.
    #[error("{script}: SECURITY VIOLATION: {message}")]
    ScriptSecurity {
        /// Which script (`vrrp_script NAME` or `vrrp_instance NAME notify`).
        script: String,
        /// Why.
        message: String,
    },
    /// `script_user` / `user` names a user or group that does not exist. Scripts never
    /// fall back to root.
    #[error("{}{what}: unknown user or group '{name}'", location.as_ref().map(|l| format!("{l}: ")).unwrap_or_default())]
    User {
        /// The user or group name.
        name: String,
        /// The keyword that names it (`global_defs script_user`, `vrrp_script NAME user`).
        what: String,
        /// Where the keyword is.
        location: Option<config::Location>,
    },
}

/// Daemon options from the command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Configuration file.
    pub config: PathBuf,
    /// Log to stderr (else syslog).
    pub log_console: bool,
    /// JSON state file, rewritten on every change.
    pub state_file: PathBuf,
}

static TERMINATE: AtomicBool = AtomicBool::new(false);
static RELOAD: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    match sig {
        libc::SIGHUP => RELOAD.store(true, Ordering::SeqCst),
        _ => TERMINATE.store(true, Ordering::SeqCst),
    }
}

fn install_signals() {
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        // SAFETY: sigaction with a handler that only stores to atomics; no SA_RESTART so
        // poll(2) returns EINTR at once.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Logs to the console or syslog.
#[derive(Debug, Clone, Copy)]
pub struct Logger {
    console: bool,
}

impl Logger {
    /// A logger; `console` writes to stderr, otherwise to syslog (daemon facility).
    pub fn new(console: bool) -> Self {
        if !console {
            // SAFETY: the ident is a static NUL-terminated string.
            unsafe { libc::openlog(c"keepalived-lite".as_ptr(), libc::LOG_PID, libc::LOG_DAEMON) };
        }
        Logger { console }
    }

    /// Logs one line.
    pub fn log(&self, msg: &str) {
        if self.console {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let _ = writeln!(
                std::io::stderr(),
                "{}.{:03} keepalived-lite: {msg}",
                t.as_secs(),
                t.subsec_millis()
            );
        } else if let Ok(c) = std::ffi::CString::new(msg.replace('\0', "")) {
            // SAFETY: format and argument are valid NUL-terminated strings.
            unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), c.as_ptr()) };
        }
    }
}

#[derive(Debug)]
struct ScriptRt {
    cfg: VrrpScript,
    health: ScriptHealth,
    next_run: Instant,
    running: Option<(Child, Instant)>,
    uid_gid: Option<(u32, u32)>,
}

#[derive(Debug)]
struct InstanceRt {
    cfg: Instance,
    machine: Machine,
    sock: VrrpSocket,
    ifindex: u32,
    mac: Vec<u8>,
    src: IpAddr,
    dsts: Vec<IpAddr>,
    expect: Expect,
    vip_ifindex: Vec<u32>,
    counters: Counters,
    peer_checksum: Option<ChecksumMode>,
    tracked: Tracked,
    link_up: HashMap<String, bool>,
    last_drop_log: Option<Instant>,
    reannounce_at: Option<Instant>,
}

/// One instance's entry in the JSON state file.
#[derive(Debug, Serialize)]
struct InstanceState<'a> {
    name: &'a str,
    state: &'static str,
    interface: &'a str,
    virtual_router_id: u8,
    version: u8,
    priority: u8,
    effective_priority: u8,
    master: Option<IpAddr>,
    source: IpAddr,
    virtual_ipaddress: Vec<String>,
    peer_checksum: Option<ChecksumMode>,
    counters: &'a Counters,
}

#[derive(Debug, Serialize)]
struct StateFile<'a> {
    pid: u32,
    router_id: Option<&'a str>,
    instances: Vec<InstanceState<'a>>,
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
    children: Vec<Child>,
    /// `script_user` resolved at start and on reload: notify scripts run as it.
    notify_user: Option<(u32, u32)>,
    log: Logger,
    dirty: bool,
    last_link_check: Instant,
}

/// Resolves `USER [GROUP]` to uid and gid; `what` and `location` name the keyword in
/// the error.
fn lookup_user(
    user: &(String, Option<String>),
    what: &str,
    location: Option<&config::Location>,
) -> Result<(u32, u32), DaemonError> {
    let unknown = |name: &str| DaemonError::User {
        name: name.to_string(),
        what: what.to_string(),
        location: location.cloned(),
    };
    let u = nix::unistd::User::from_name(&user.0)
        .ok()
        .flatten()
        .ok_or_else(|| unknown(&user.0))?;
    let gid = match &user.1 {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| unknown(g))?
                .gid
        }
        None => u.gid,
    };
    Ok((u.uid.as_raw(), gid.as_raw()))
}

/// The uid/gid notify scripts (and scripts without their own `user`) run as: `None`
/// means the daemon's own user (no `script_user`). An unknown user is an error, never
/// a silent fall-back to root.
fn resolve_script_user(global: &config::GlobalDefs) -> Result<Option<(u32, u32)>, DaemonError> {
    global
        .script_user
        .as_ref()
        .map(|u| {
            lookup_user(
                u,
                "global_defs script_user",
                global.script_user_location.as_ref(),
            )
        })
        .transpose()
}

fn command(argv: &[String], uid_gid: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(&argv[0]);
    // Its own process group, so a timed-out script is killed with everything it started.
    c.process_group(0)
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((uid, gid)) = uid_gid {
        // SAFETY: getuid is async-signal-safe.
        if unsafe { libc::getuid() } != uid {
            c.uid(uid).gid(gid);
        }
    }
    c
}

/// SIGKILLs a script's process group (see [`command`]) and reaps the script.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on the group the child leads; no memory is involved.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The script's program as found (absolute, or on PATH), or `None` when keepalived
/// would disable the script ("not found/accessible").
fn find_program(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        return is_executable(Path::new(prog)).then(|| PathBuf::from(prog));
    }
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(prog))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| is_executable(p))
}

/// Checks that `script_user` and every `vrrp_script`'s `user` exist (what `-t` checks
/// beyond parsing, as `keepalived -t` does).
pub fn check_users(config: &Config) -> Result<(), DaemonError> {
    resolve_script_user(&config.global)?;
    for s in &config.scripts {
        if let Some(u) = &s.user {
            lookup_user(
                u,
                &format!("vrrp_script {} user", s.name),
                s.user_location.as_ref(),
            )?;
        }
    }
    Ok(())
}

/// Prepares a `vrrp_script`; `Ok(None)` when its program does not exist (keepalived
/// then disables the script: it neither fails nor lowers the priority).
fn script_rt(
    cfg: &VrrpScript,
    global: &config::GlobalDefs,
    now: Instant,
    log: &Logger,
) -> Result<Option<ScriptRt>, DaemonError> {
    let Some(program) = find_program(&cfg.command[0]) else {
        log.log(&format!(
            "Disabling track script {} since not found/accessible",
            cfg.name
        ));
        return Ok(None);
    };
    if global.enable_script_security {
        track::check_script_security(&program).map_err(|message| DaemonError::ScriptSecurity {
            script: format!("vrrp_script {}", cfg.name),
            message,
        })?;
    }
    let uid_gid = match &cfg.user {
        Some(u) => Some(lookup_user(
            u,
            &format!("vrrp_script {} user", cfg.name),
            cfg.user_location.as_ref(),
        )?),
        None => resolve_script_user(global)?,
    };
    Ok(Some(ScriptRt {
        cfg: cfg.clone(),
        health: ScriptHealth::new(cfg.fall, cfg.rise),
        next_run: now,
        running: None,
        uid_gid,
    }))
}

/// With `enable_script_security`, notify programs must be safe too (keepalived checks
/// every script it runs).
fn check_notify_security(config: &Config) -> Result<(), DaemonError> {
    if !config.global.enable_script_security {
        return Ok(());
    }
    for i in &config.instances {
        let notifies = [
            &i.notify_master,
            &i.notify_backup,
            &i.notify_fault,
            &i.notify_stop,
            &i.notify,
        ];
        for argv in notifies.into_iter().flatten() {
            if let Some(program) = find_program(&argv[0]) {
                track::check_script_security(&program).map_err(|message| {
                    DaemonError::ScriptSecurity {
                        script: format!("vrrp_instance {} notify", i.name),
                        message,
                    }
                })?;
            }
        }
    }
    Ok(())
}

fn same_instance(a: &Instance, b: &Instance) -> bool {
    let mut b = b.clone();
    b.location = a.location.clone();
    *a == b
}

fn same_script(a: &VrrpScript, b: &VrrpScript) -> bool {
    let mut b = b.clone();
    b.location = a.location.clone();
    b.user_location = a.user_location.clone();
    *a == b
}

fn same_global(a: &config::GlobalDefs, b: &config::GlobalDefs) -> bool {
    let mut b = b.clone();
    b.script_user_location = a.script_user_location.clone();
    *a == b
}

impl Daemon {
    /// Parses the configuration, removes stale VIPs and opens every instance.
    pub fn start(opts: Options, log: Logger) -> Result<Self, DaemonError> {
        let config = config::parse_file(&opts.config)?;
        let notify_user = resolve_script_user(&config.global)?;
        let mut rtnl = Rtnl::open()?;
        let now = Instant::now();
        let mut scripts = HashMap::new();
        for w in &config.warnings {
            log.log(w);
        }
        for s in &config.scripts {
            if let Some(rt) = script_rt(s, &config.global, now, &log)? {
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
        install_signals();
        let mut d = Daemon {
            opts,
            config,
            rtnl,
            origin: now,
            instances,
            scripts,
            children: Vec::new(),
            notify_user,
            log,
            dirty: true,
            last_link_check: now,
        };
        for idx in 0..d.instances.len() {
            d.update_tracking(idx, true);
            d.feed(idx, Input::Startup);
        }
        d.write_state();
        Ok(d)
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn feed(&mut self, idx: usize, input: Input) {
        let now = self.now();
        let actions = self.instances[idx].machine.handle(now, input);
        for a in actions {
            self.apply(idx, a);
        }
    }

    fn apply(&mut self, idx: usize, action: Action) {
        let inst = &mut self.instances[idx];
        match action {
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
            Action::AddVips => {
                self.log.log(&format!("({}) setting VIPs.", inst.cfg.name));
                for (v, ifx) in inst.cfg.vips.iter().zip(&inst.vip_ifindex) {
                    if let Err(e) =
                        self.rtnl
                            .add_address(*ifx, v.addr, v.prefix_len, v.label.as_deref())
                    {
                        self.log.log(&format!("({}) {e}", inst.cfg.name));
                    }
                }
            }
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
                inst.reannounce_at = Some(Instant::now() + Duration::from_secs(5));
                self.announce(idx);
            }
            Action::Transition { from, to } => {
                self.dirty = true;
                let name = inst.cfg.name.clone();
                if to == State::Master {
                    inst.counters.became_master += 1;
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
                // Scripts read the new state from the state file: write it before they run.
                self.write_state();
                for argv in specific.into_iter().chain(generic) {
                    self.run_notify(&argv);
                }
            }
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
        match c.spawn() {
            Ok(child) => self.children.push(child),
            Err(e) => self
                .log
                .log(&format!("cannot run notify script {}: {e}", argv[0])),
        }
    }

    fn write_state(&mut self) {
        self.dirty = false;
        let instances = self
            .instances
            .iter()
            .map(|i| InstanceState {
                name: &i.cfg.name,
                state: i.machine.state().name(),
                interface: &i.cfg.interface,
                virtual_router_id: i.cfg.vrid,
                version: if i.cfg.version == Version::V2 { 2 } else { 3 },
                priority: i.cfg.priority,
                effective_priority: i.machine.priority(),
                master: i.machine.master_addr(),
                source: i.src,
                virtual_ipaddress: i
                    .cfg
                    .vips
                    .iter()
                    .map(|v| format!("{}/{}", v.addr, v.prefix_len))
                    .collect(),
                peer_checksum: i.peer_checksum,
                counters: &i.counters,
            })
            .collect();
        let sf = StateFile {
            pid: std::process::id(),
            router_id: self.config.global.router_id.as_deref(),
            instances,
        };
        let Ok(json) = serde_json::to_vec_pretty(&sf) else {
            return;
        };
        let tmp = self.opts.state_file.with_extension("tmp");
        let r =
            std::fs::write(&tmp, json).and_then(|_| std::fs::rename(&tmp, &self.opts.state_file));
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
        if new.fault != old.fault {
            self.instances[idx].tracked.fault = new.fault;
            self.feed(idx, Input::Fault(new.fault));
        }
    }

    fn run_scripts(&mut self) -> bool {
        let now = Instant::now();
        let mut changed = false;
        for s in self.scripts.values_mut() {
            if let Some((child, started)) = &mut s.running {
                let result = match child.try_wait() {
                    Ok(Some(status)) => Some(status.success()),
                    Ok(None) if now.duration_since(*started) >= s.cfg.timeout => {
                        kill_group(child);
                        self.log
                            .log(&format!("vrrp_script {} timed out", s.cfg.name));
                        Some(false)
                    }
                    Ok(None) => None,
                    Err(_) => Some(false),
                };
                if let Some(ok) = result {
                    s.running = None;
                    if s.health.record(ok) {
                        changed = true;
                        let verdict = if s.health.is_good() {
                            "succeeded"
                        } else {
                            "failed"
                        };
                        self.log
                            .log(&format!("Script `{}` now returning {verdict}", s.cfg.name));
                    }
                }
            }
            if s.running.is_none() && now >= s.next_run {
                s.next_run = now + s.cfg.interval;
                match command(&s.cfg.command, s.uid_gid).spawn() {
                    Ok(c) => s.running = Some((c, now)),
                    Err(e) => {
                        self.log.log(&format!(
                            "vrrp_script {}: cannot run {}: {e}",
                            s.cfg.name, s.cfg.command[0]
                        ));
                        if s.health.record(false) {
                            changed = true;
                        }
                    }
                }
            }
        }
        changed
    }

    fn next_script_event(&self) -> Option<Instant> {
        self.scripts
            .values()
            .map(|s| {
                if s.running.is_some() {
                    Instant::now() + Duration::from_millis(20)
                } else {
                    s.next_run
                }
            })
            .min()
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

    /// Runs until SIGTERM/SIGINT; then resigns every instance and removes the VIPs.
    pub fn run(&mut self) {
        let mut last_state_write = Instant::now();
        while !TERMINATE.load(Ordering::SeqCst) {
            if RELOAD.swap(false, Ordering::SeqCst) {
                self.reload();
            }
            let now = self.now();
            let mut wait = Duration::from_millis(250);
            for i in &self.instances {
                if let Some(d) = i.machine.next_deadline() {
                    wait = wait.min(d.saturating_sub(now));
                }
            }
            if let Some(t) = self.next_script_event() {
                wait = wait.min(t.saturating_duration_since(Instant::now()));
            }
            let mut fds: Vec<libc::pollfd> = self
                .instances
                .iter()
                .map(|i| libc::pollfd {
                    fd: i.sock.raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let ms = wait.as_micros().div_ceil(1000) as libc::c_int;
            // SAFETY: fds is a live array of pollfd of the given length.
            unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            for (idx, p) in fds.iter().enumerate() {
                if p.revents & (libc::POLLIN | libc::POLLERR) != 0 {
                    self.receive(idx);
                }
            }
            let scripts_changed = self.run_scripts();
            let check_links = self.last_link_check.elapsed() >= Duration::from_millis(250);
            if check_links {
                self.last_link_check = Instant::now();
            }
            if scripts_changed || check_links {
                for idx in 0..self.instances.len() {
                    self.update_tracking(idx, check_links);
                }
            }
            for idx in 0..self.instances.len() {
                let inst = &mut self.instances[idx];
                if inst.reannounce_at.is_some_and(|t| t <= Instant::now()) {
                    inst.reannounce_at = None;
                    if inst.machine.state() == State::Master {
                        self.announce(idx);
                    }
                }
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
            if self.dirty && last_state_write.elapsed() >= Duration::from_millis(100) {
                self.write_state();
                last_state_write = Instant::now();
            }
            self.children
                .retain_mut(|c| !matches!(c.try_wait(), Ok(Some(_))));
        }
        self.log.log("Stopping");
        for idx in 0..self.instances.len() {
            self.feed(idx, Input::Shutdown);
        }
        for s in self.scripts.values_mut() {
            if let Some((c, _)) = &mut s.running {
                kill_group(c);
            }
        }
        self.write_state();
        self.log.log("Stopped");
    }

    /// SIGHUP: re-reads the configuration. Unchanged instances keep their state and
    /// VIPs; removed or changed ones resign; new ones start. A bad file, an unknown
    /// user, a refused script or an instance that cannot be opened (e.g. its interface
    /// does not exist) changes nothing.
    fn reload(&mut self) {
        self.log.log("Reloading configuration");
        let new = match config::parse_file(&self.opts.config) {
            Ok(c) => c,
            Err(e) => {
                self.log.log(&format!(
                    "reload failed, keeping the running configuration: {e}"
                ));
                return;
            }
        };
        let notify_user = match resolve_script_user(&new.global) {
            Ok(u) => u,
            Err(e) => {
                self.log.log(&format!(
                    "reload failed, keeping the running configuration: {e}"
                ));
                return;
            }
        };
        let now = Instant::now();
        let mut scripts = HashMap::new();
        for s in &new.scripts {
            match self.scripts.get(&s.name) {
                Some(old)
                    if same_script(&old.cfg, s)
                        && same_global(&new.global, &self.config.global) => {}
                _ => match script_rt(s, &new.global, now, &self.log) {
                    Ok(Some(rt)) => {
                        scripts.insert(s.name.clone(), rt);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.log.log(&format!(
                            "reload failed, keeping the running configuration: {e}"
                        ));
                        return;
                    }
                },
            }
        }
        if let Err(e) = check_notify_security(&new) {
            self.log.log(&format!(
                "reload failed, keeping the running configuration: {e}"
            ));
            return;
        }
        // Changed and new instances are opened (interfaces, addresses, sockets) while the
        // old ones still run: if one cannot be opened, nothing changes and the running
        // instances keep their state and VIPs. The addresses the running instances hold
        // are no candidates for a new instance's source address.
        let kept: Vec<bool> = self
            .instances
            .iter()
            .map(|o| new.instances.iter().any(|i| same_instance(&o.cfg, i)))
            .collect();
        let held: Vec<IpAddr> = self
            .instances
            .iter()
            .flat_map(|o| o.cfg.vips.iter().map(|v| v.addr))
            .collect();
        let mut opened = Vec::new();
        for i in &new.instances {
            let unchanged = self
                .instances
                .iter()
                .zip(&kept)
                .any(|(o, k)| *k && same_instance(&o.cfg, i));
            if unchanged {
                continue;
            }
            match open_instance(&mut self.rtnl, i, &held) {
                Ok(rt) => opened.push(rt),
                Err(e) => {
                    self.log.log(&format!(
                        "reload failed, keeping the running configuration: {e}"
                    ));
                    return;
                }
            }
        }
        // From here on the new configuration is applied. Instances removed or changed
        // resign first (priority 0, VIPs removed), so a changed one restarting on the
        // same VIPs starts clean.
        for (name, rt) in scripts {
            self.scripts.insert(name, rt);
        }
        self.scripts
            .retain(|n, _| new.scripts.iter().any(|s| &s.name == n));
        for (idx, keep) in kept.iter().enumerate() {
            if !keep {
                self.feed(idx, Input::Shutdown);
            }
        }
        let old = std::mem::take(&mut self.instances);
        let mut kept: Vec<InstanceRt> = old
            .into_iter()
            .zip(kept)
            .filter(|(_, keep)| *keep)
            .map(|(rt, _)| rt)
            .collect();
        for rt in &opened {
            if let Err(e) = remove_stale_vips(&mut self.rtnl, rt, &self.log) {
                self.log.log(&format!("({}) {e}", rt.cfg.name));
            }
        }
        let first_new = kept.len();
        kept.extend(opened);
        self.instances = kept;
        for w in &new.warnings {
            self.log.log(w);
        }
        self.config = new;
        self.notify_user = notify_user;
        for idx in 0..self.instances.len() {
            self.update_tracking(idx, true);
            if idx >= first_new {
                self.feed(idx, Input::Startup);
            }
        }
        self.write_state();
    }
}

fn inst_err(i: &Instance, message: impl Into<String>) -> DaemonError {
    DaemonError::Instance {
        instance: i.name.clone(),
        message: message.into(),
    }
}

/// Removes the instance's VIPs from their interfaces (a previous run killed without
/// resigning leaves them behind).
fn remove_stale_vips(rtnl: &mut Rtnl, rt: &InstanceRt, log: &Logger) -> Result<(), DaemonError> {
    log.log(&format!("({}) removing VIPs.", rt.cfg.name));
    for (v, ifx) in rt.cfg.vips.iter().zip(&rt.vip_ifindex) {
        rtnl.del_address(*ifx, v.addr, v.prefix_len)?;
    }
    Ok(())
}

/// Resolves an instance's interfaces and source address and opens its socket; touches
/// no address. `held`: addresses other instances hold, never a source address.
fn open_instance(
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
            rtnl.addresses(ifindex)?
                .into_iter()
                .filter(|a| a.addr.is_ipv6() == v6 && !vips.contains(&a.addr))
                .find(|a| !v6 || a.link_scope)
                .map(|a| a.addr)
                .ok_or_else(|| {
                    inst_err(
                        i,
                        format!(
                            "interface {} has no {} address",
                            i.interface,
                            if v6 { "link-local IPv6" } else { "IPv4" }
                        ),
                    )
                })?
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
        reannounce_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        config::parse_str(Path::new("/etc/keepalived/keepalived.conf"), text).expect("parses")
    }

    #[test]
    fn unknown_script_user_is_an_error_naming_user_and_line() {
        let c = parse("global_defs {\n    router_id x\n    script_user no-such-user-kl\n}\n");
        let e = resolve_script_user(&c.global).expect_err("unknown user must not fall back");
        assert_eq!(
            e.to_string(),
            "/etc/keepalived/keepalived.conf:3: global_defs script_user: unknown user or group 'no-such-user-kl'"
        );
        let c = parse("global_defs {\n    script_user root no-such-group-kl\n}\n");
        let e = resolve_script_user(&c.global).expect_err("unknown group");
        assert!(
            e.to_string()
                .ends_with("unknown user or group 'no-such-group-kl'"),
            "{e}"
        );
    }

    #[test]
    fn script_user_resolves_and_defaults_to_the_daemon_user() {
        let c = parse("global_defs {\n    script_user root\n}\n");
        assert_eq!(
            resolve_script_user(&c.global).expect("root exists"),
            Some((0, 0))
        );
        let c = parse("global_defs {\n    router_id x\n}\n");
        assert_eq!(resolve_script_user(&c.global).expect("no user"), None);
    }

    #[test]
    fn check_users_covers_global_and_script_users() {
        let ok = "global_defs {\n    script_user root\n}\nvrrp_script chk {\n    script \"/bin/true\"\n    user nobody\n}\n";
        check_users(&parse(ok)).expect("known users");
        let e = check_users(&parse(&ok.replace("user nobody", "user no-such-user-kl")))
            .expect_err("unknown script user");
        assert!(
            e.to_string().contains(":6: vrrp_script chk user: unknown"),
            "{e}"
        );
        let e = check_users(&parse(&ok.replace("user root", "user no-such-user-kl")))
            .expect_err("unknown script_user");
        assert!(
            e.to_string()
                .contains(":2: global_defs script_user: unknown"),
            "{e}"
        );
    }

    #[test]
    fn a_script_user_override_is_checked_too() {
        let c = parse("vrrp_script chk {\n    script \"/bin/true\"\n    user no-such-user-kl\n}\n");
        let log = Logger::new(true);
        let e =
            script_rt(&c.scripts[0], &c.global, Instant::now(), &log).expect_err("unknown user");
        assert_eq!(
            e.to_string(),
            "/etc/keepalived/keepalived.conf:3: vrrp_script chk user: unknown user or group 'no-such-user-kl'"
        );
    }
}
