//! The checker core, sans-IO: health of every real server from probe results and the
//! time, as keepalived 2.2 decides it. Events and time in; probe requests, notify
//! programs and "the table changed" out; [`super::table::desired`] says what IPVS should
//! hold.
//!
//! Per checker (keepalived's rules): the first probe runs 1 s after start plus a
//! random part of `warmup` (default: the `delay_loop`); after a success the next runs
//! after `delay_loop`; after a failure, while fewer than `retry` retries were made, the
//! next runs after `delay_before_retry` and nothing changes; the failure after the last
//! retry marks the checker down. A real server is alive when all its checkers are up;
//! a checker starts up, or down with `alpha`. `MISC_CHECK` exits 0 up, 1 down, and with
//! `misc_dynamic` 2-255 up with weight exit-2.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use crate::config::lvs::{CheckKind, Checker, RealServer, VirtualServer, VsAddress, WEIGHT_LIMIT};

/// keepalived's `BOOTSTRAP_DELAY`: checks start 1 s after the daemon.
pub const BOOTSTRAP_DELAY: Duration = Duration::from_secs(1);

pub use super::params::CheckParams;

/// Identifies one probe run (results of runs since replaced are ignored).
pub type ProbeId = u64;

/// What a probe should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// Its id, to give back with the result.
    pub id: ProbeId,
    /// The checker (TCP, HTTP with urls, MISC with its command).
    pub kind: CheckKind,
    /// Where to connect (`connect_ip`/`connect_port` or the real server).
    pub target: SocketAddr,
    /// `bindto`/`bind_port`.
    pub bind: Option<SocketAddr>,
    /// Time limit of the whole probe.
    pub timeout: Duration,
    /// Host header for HTTP (`virtualhost`).
    pub virtualhost: Option<String>,
    /// The virtual server's `virtualhost`: SSL_GET's server name (with `enable_sni`)
    /// when neither the url nor the checker has one (keepalived skips the real
    /// server's here).
    pub vs_virtualhost: Option<String>,
}

/// How a probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Passed.
    Up,
    /// Failed, with why.
    Down(String),
    /// A MISC_CHECK program exited with this status.
    Exit(i32),
}

/// An input of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Time passed (run what is due).
    Tick,
    /// A probe ended.
    Result {
        /// The probe.
        id: ProbeId,
        /// How.
        outcome: Outcome,
    },
    /// An address was added to (or removed from) this host: `ha_suspend` virtual
    /// servers check only while their address is here.
    Address {
        /// The address.
        addr: IpAddr,
        /// Present now.
        present: bool,
    },
}

/// An output of the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start this probe; give its result back as [`Event::Result`].
    Probe(Box<ProbeRequest>),
    /// Run this notify program (`notify_up`, `notify_down`, `quorum_up`, `quorum_down`).
    Notify(Vec<String>),
    /// The desired IPVS table changed: apply [`super::table::desired`].
    TableChanged,
    /// A line for the log.
    Log(String),
}

/// One checker's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckerState {
    /// Its configuration.
    #[serde(skip)]
    pub cfg: Checker,
    /// Settings after inheritance.
    pub params: CheckParams,
    /// Passing.
    pub up: bool,
    /// Has had a result.
    pub has_run: bool,
    /// Retries made since the last verdict.
    pub retries: u32,
    /// Weight change from `misc_dynamic` (added to the real server's weight).
    pub weight_delta: i64,
    /// Last MISC_CHECK exit status.
    pub last_exit: Option<i32>,
    /// The last result, for the state file.
    pub last_result: Option<String>,
    #[serde(skip)]
    due: Option<Duration>,
    #[serde(skip)]
    in_flight: Option<ProbeId>,
}

/// One real server's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RealServerState {
    /// Its configuration.
    #[serde(skip)]
    pub cfg: RealServer,
    /// Address and port.
    pub addr: SocketAddr,
    /// Configured weight.
    pub weight: u32,
    /// Weight with `misc_dynamic` changes.
    pub effective_weight: i64,
    /// In service (all checkers up).
    pub alive: bool,
    /// Kept at weight 0 instead of removed when down.
    pub inhibit: bool,
    /// Its checkers.
    pub checkers: Vec<CheckerState>,
}

impl RealServerState {
    /// The weight IPVS gets while it is alive (0..=INT_MAX).
    pub fn ipvs_weight(&self) -> u32 {
        self.effective_weight.clamp(0, i64::from(WEIGHT_LIMIT)) as u32
    }
}

/// One virtual server's state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VirtualServerState {
    /// Its configuration.
    #[serde(skip)]
    pub cfg: VirtualServer,
    /// How the state file names it.
    pub name: String,
    /// Quorum reached (else the sorry server, if any, serves).
    pub quorum_up: bool,
    /// Checks suspended (`ha_suspend` and the address is not here).
    pub suspended: bool,
    /// Its real servers.
    pub real_servers: Vec<RealServerState>,
}

impl VirtualServerState {
    /// Whether the sorry server replaces the real servers now.
    pub fn sorry_active(&self) -> bool {
        !self.quorum_up && self.cfg.sorry_server.is_some()
    }

    fn live_weight(&self) -> i64 {
        self.real_servers
            .iter()
            .filter(|r| r.alive)
            .map(|r| i64::from(r.ipvs_weight()))
            .sum()
    }
}

/// The checker half's state: every virtual server, real server and checker.
#[derive(Debug, Clone)]
pub struct CheckerCore {
    vss: Vec<VirtualServerState>,
    next_id: ProbeId,
    rng: u64,
    local: HashSet<IpAddr>,
}

impl CheckerCore {
    /// The state at start (`now`): real servers up unless `alpha`, first checks due
    /// after [`BOOTSTRAP_DELAY`] plus a random part of the warmup (`seed` drives the
    /// randomness, so tests are repeatable). Returns the core and its first actions.
    pub fn new(
        vss: &[VirtualServer],
        local: &HashSet<IpAddr>,
        now: Duration,
        seed: u64,
    ) -> (Self, Vec<Action>) {
        let mut core = CheckerCore {
            vss: Vec::new(),
            next_id: 1,
            rng: seed | 1,
            local: local.clone(),
        };
        for vs in vss {
            let st = core.fresh_vs(vs, now);
            core.vss.push(st);
        }
        let mut out = vec![Action::TableChanged];
        for i in 0..core.vss.len() {
            core.init_quorum(i, &mut out);
        }
        (core, out)
    }

    fn random_fraction(&mut self) -> f64 {
        // xorshift64: repeatable in tests, spread enough for start times.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng >> 11) as f64 / (1u64 << 53) as f64
    }

    fn fresh_vs(&mut self, vs: &VirtualServer, now: Duration) -> VirtualServerState {
        let mut rss = Vec::new();
        for rs in &vs.real_servers {
            let mut checkers = Vec::new();
            for c in &rs.checkers {
                let params = CheckParams::resolve(vs, rs, c);
                let warm = params.warmup.mul_f64(self.random_fraction());
                checkers.push(CheckerState {
                    cfg: c.clone(),
                    params,
                    up: !params.alpha,
                    has_run: false,
                    retries: 0,
                    weight_delta: 0,
                    last_exit: None,
                    last_result: None,
                    due: Some(now + BOOTSTRAP_DELAY + warm),
                    in_flight: None,
                });
            }
            let weight = rs.weight.unwrap_or(vs.weight);
            rss.push(RealServerState {
                cfg: rs.clone(),
                addr: rs.addr,
                weight,
                effective_weight: i64::from(weight),
                alive: checkers.iter().all(|c| c.up),
                inhibit: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
                checkers,
            });
        }
        let suspended = vs.ha_suspend && !self.vs_address_here(vs);
        VirtualServerState {
            cfg: vs.clone(),
            name: vs.name(),
            quorum_up: true,
            suspended,
            real_servers: rss,
        }
    }

    fn vs_address_here(&self, vs: &VirtualServer) -> bool {
        match &vs.address {
            VsAddress::Socket(a) => self.local.contains(&a.ip()),
            // keepalived counts the addresses of a group; a mark has none: never here.
            _ => false,
        }
    }

    /// The virtual servers' states.
    pub fn virtual_servers(&self) -> &[VirtualServerState] {
        &self.vss
    }

    /// The earliest time a checker is due.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.vss
            .iter()
            .filter(|v| !v.suspended)
            .flat_map(|v| &v.real_servers)
            .flat_map(|r| &r.checkers)
            .filter_map(|c| c.due)
            .min()
    }

    /// Feeds one event at `now`.
    pub fn handle(&mut self, now: Duration, event: Event) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::Tick => self.run_due(now, &mut out),
            Event::Result { id, outcome } => self.result(now, id, outcome, &mut out),
            Event::Address { addr, present } => {
                if present {
                    self.local.insert(addr);
                } else {
                    self.local.remove(&addr);
                }
                for i in 0..self.vss.len() {
                    let vs = &self.vss[i];
                    let suspended = vs.cfg.ha_suspend && !self.vs_address_here(&vs.cfg);
                    if suspended != vs.suspended {
                        let vs = &mut self.vss[i];
                        vs.suspended = suspended;
                        out.push(Action::Log(format!(
                            "{}ctivating healthchecks of VS {}",
                            if suspended { "Dea" } else { "A" },
                            vs.name
                        )));
                        for c in vs.real_servers.iter_mut().flat_map(|r| &mut r.checkers) {
                            // A result that arrives while suspended is dropped.
                            c.in_flight = None;
                            if !suspended {
                                c.due = Some(now);
                            }
                        }
                    }
                }
                self.run_due(now, &mut out);
            }
        }
        out
    }

    fn run_due(&mut self, now: Duration, out: &mut Vec<Action>) {
        for vs in self.vss.iter_mut().filter(|v| !v.suspended) {
            let vhost = vs.cfg.virtualhost.clone();
            for rs in &mut vs.real_servers {
                for c in &mut rs.checkers {
                    if c.in_flight.is_some() || c.due.is_none_or(|d| d > now) {
                        continue;
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    c.in_flight = Some(id);
                    c.due = None;
                    let target = SocketAddr::new(
                        c.cfg.connect_ip.unwrap_or(rs.addr.ip()),
                        c.cfg.connect_port.unwrap_or(rs.addr.port()),
                    );
                    let bind = c
                        .cfg
                        .bindto
                        .map(|a| SocketAddr::new(a, c.cfg.bind_port.unwrap_or(0)));
                    out.push(Action::Probe(Box::new(ProbeRequest {
                        id,
                        kind: c.cfg.kind.clone(),
                        target,
                        bind,
                        timeout: c.params.timeout,
                        virtualhost: rs.cfg.virtualhost.clone().or(vhost.clone()),
                        vs_virtualhost: vhost.clone(),
                    })));
                }
            }
        }
    }

    fn find(&self, id: ProbeId) -> Option<(usize, usize, usize)> {
        for (v, vs) in self.vss.iter().enumerate() {
            for (r, rs) in vs.real_servers.iter().enumerate() {
                for (c, ch) in rs.checkers.iter().enumerate() {
                    if ch.in_flight == Some(id) {
                        return Some((v, r, c));
                    }
                }
            }
        }
        None
    }

    fn result(&mut self, now: Duration, id: ProbeId, outcome: Outcome, out: &mut Vec<Action>) {
        let Some((v, r, c)) = self.find(id) else {
            return; // a probe of a checker since removed, reloaded or suspended
        };
        let vs_name = self.vss[v].name.clone();
        let rs = &mut self.vss[v].real_servers[r];
        let rs_addr = rs.addr;
        let ch = &mut rs.checkers[c];
        ch.in_flight = None;
        let p = ch.params;
        let kind = ch.cfg.kind.name();
        let mut verdict: Option<bool> = None;
        let mut weight_change = None;
        match (&ch.cfg.kind, &outcome) {
            (CheckKind::Misc(m), Outcome::Exit(status))
                if *status == 0 || (m.dynamic && (2..=255).contains(status)) =>
            {
                ch.last_result = Some(format!("exit {status}"));
                if ch.last_exit != Some(*status) {
                    let delta = if *status == 0 {
                        0
                    } else {
                        i64::from(*status) - 2 - i64::from(rs.weight)
                    };
                    weight_change = Some(delta - ch.weight_delta);
                    ch.weight_delta = delta;
                    ch.last_exit = Some(*status);
                }
                if !ch.up || !ch.has_run {
                    verdict = Some(true);
                }
                ch.retries = 0;
            }
            (CheckKind::Misc(_), _) => {
                ch.last_result = Some(match &outcome {
                    Outcome::Exit(s) => format!("exit {s}"),
                    Outcome::Down(why) => why.clone(),
                    Outcome::Up => "up".into(),
                });
                if ch.up || !ch.has_run {
                    if ch.retries < p.retry {
                        ch.retries += 1;
                    } else {
                        ch.retries = 0;
                        weight_change = Some(-ch.weight_delta);
                        ch.weight_delta = 0;
                        ch.last_exit = match outcome {
                            Outcome::Exit(s) => Some(s),
                            _ => None,
                        };
                        verdict = Some(false);
                    }
                }
            }
            _ => {
                let ok = outcome == Outcome::Up;
                ch.last_result = Some(match &outcome {
                    Outcome::Up => "up".into(),
                    Outcome::Down(why) => why.clone(),
                    Outcome::Exit(s) => format!("exit {s}"),
                });
                if ok || ch.retries >= p.retry {
                    ch.retries = 0;
                    if ok && (!ch.up || !ch.has_run) {
                        verdict = Some(true);
                    } else if !ok && (ch.up || !ch.has_run) {
                        verdict = Some(false);
                    }
                } else {
                    ch.retries += 1;
                }
            }
        }
        let next = if ch.retries > 0 {
            p.delay_before_retry
        } else {
            p.delay_loop
        };
        ch.due = Some(now + next);
        if let Some(d) = weight_change.filter(|d| *d != 0) {
            let old = rs.ipvs_weight();
            rs.effective_weight += d;
            if rs.ipvs_weight() != old {
                out.push(Action::Log(format!(
                    "Changing weight from {old} to {} for {}active service [{}]:{} of VS {vs_name}",
                    rs.ipvs_weight(),
                    if rs.alive { "" } else { "in" },
                    rs_addr.ip(),
                    rs_addr.port()
                )));
                if rs.alive {
                    out.push(Action::TableChanged);
                }
                self.update_quorum(v, out);
            }
        }
        if let Some(up) = verdict {
            self.set_checker(v, r, c, up, kind, out);
        }
    }

    fn set_checker(
        &mut self,
        v: usize,
        r: usize,
        c: usize,
        up: bool,
        kind: &str,
        out: &mut Vec<Action>,
    ) {
        let vs_name = self.vss[v].name.clone();
        let rs = &mut self.vss[v].real_servers[r];
        let ch = &mut rs.checkers[c];
        let first = !ch.has_run;
        ch.has_run = true;
        if ch.up == up {
            // The first result confirms the start state: keepalived notifies for an
            // alpha checker's first success and for a first failure.
            if first && (ch.params.alpha || !up) {
                Self::rs_notify(rs, out);
            }
            return;
        }
        ch.up = up;
        out.push(Action::Log(format!(
            "{kind} on service [{}]:{} {}.",
            rs.addr.ip(),
            rs.addr.port(),
            if up { "succeeded" } else { "failed" }
        )));
        let alive = rs.checkers.iter().all(|c| c.up);
        if alive == rs.alive {
            return;
        }
        rs.alive = alive;
        let verb = match (alive, rs.inhibit) {
            (true, true) => "Enabling",
            (true, false) => "Adding",
            (false, true) => "Disabling",
            (false, false) => "Removing",
        };
        out.push(Action::Log(format!(
            "{verb} service [{}]:{} {} VS {vs_name}",
            rs.addr.ip(),
            rs.addr.port(),
            if rs.inhibit {
                "of"
            } else if alive {
                "to"
            } else {
                "from"
            }
        )));
        Self::rs_notify(rs, out);
        out.push(Action::TableChanged);
        self.update_quorum(v, out);
    }

    fn rs_notify(rs: &RealServerState, out: &mut Vec<Action>) {
        let n = if rs.alive {
            &rs.cfg.notify_up
        } else {
            &rs.cfg.notify_down
        };
        if let Some(argv) = n {
            out.push(Action::Notify(argv.clone()));
        }
    }

    fn init_quorum(&mut self, v: usize, out: &mut Vec<Action>) {
        let vs = &mut self.vss[v];
        let sum = vs.live_weight();
        let threshold = i64::from(vs.cfg.quorum) - i64::from(vs.cfg.hysteresis);
        if sum == 0 || sum < threshold {
            vs.quorum_up = false;
            out.push(Action::Log(format!(
                "Starting with quorum down {}-{}={threshold} > {sum} for VS {}",
                vs.cfg.quorum, vs.cfg.hysteresis, vs.name
            )));
        }
    }

    fn update_quorum(&mut self, v: usize, out: &mut Vec<Action>) {
        let vs = &mut self.vss[v];
        let sum = vs.live_weight();
        let (q, h) = (i64::from(vs.cfg.quorum), i64::from(vs.cfg.hysteresis));
        if !vs.quorum_up && sum >= q + h {
            vs.quorum_up = true;
            out.push(Action::Log(format!(
                "Gained quorum {q}+{h}={} <= {sum} for VS {}",
                q + h,
                vs.name
            )));
            if let Some(argv) = &vs.cfg.quorum_up {
                out.push(Action::Notify(argv.clone()));
            }
            out.push(Action::TableChanged);
        } else if vs.quorum_up && (sum == 0 || sum < q - h) {
            vs.quorum_up = false;
            out.push(Action::Log(format!(
                "Lost quorum {q}-{h}={} > {sum} for VS {}",
                q - h,
                vs.name
            )));
            if let Some(argv) = &vs.cfg.quorum_down {
                out.push(Action::Notify(argv.clone()));
            }
            out.push(Action::TableChanged);
        }
    }

    /// A new configuration (SIGHUP): virtual servers and real servers that stay keep
    /// their health (a real server whose checkers are unchanged keeps every checker's
    /// state, including a pending retry; only its weight and other settings follow the
    /// new file), new ones start as at start-up, removed ones go (with `omega`, their
    /// notify_down and quorum_down run). Keyed by the virtual server's address and
    /// protocol and the real server's address and port.
    pub fn reload(&mut self, vss: &[VirtualServer], now: Duration) -> Vec<Action> {
        let mut out = vec![Action::TableChanged];
        let old = std::mem::take(&mut self.vss);
        for vs in vss {
            let mut st = self.fresh_vs(vs, now);
            if let Some(prev) = old
                .iter()
                .find(|o| o.cfg.address == vs.address && o.cfg.protocol == vs.protocol)
            {
                st.quorum_up = prev.quorum_up;
                for rs in &mut st.real_servers {
                    let Some(p) = prev
                        .real_servers
                        .iter()
                        .find(|p| p.addr == rs.addr && p.cfg.checkers == rs.cfg.checkers)
                    else {
                        continue;
                    };
                    for (new, old) in rs.checkers.iter_mut().zip(&p.checkers) {
                        let params = new.params;
                        *new = old.clone();
                        new.params = params;
                    }
                    rs.alive = p.alive;
                    rs.effective_weight = i64::from(rs.weight)
                        + rs.checkers.iter().map(|c| c.weight_delta).sum::<i64>();
                }
                self.vss.push(st);
                let i = self.vss.len() - 1;
                self.update_quorum(i, &mut out);
            } else {
                self.vss.push(st);
                let i = self.vss.len() - 1;
                self.init_quorum(i, &mut out);
            }
        }
        for o in &old {
            if !self
                .vss
                .iter()
                .any(|n| n.cfg.address == o.cfg.address && n.cfg.protocol == o.cfg.protocol)
            {
                Self::omega(o, &mut out);
            }
        }
        out
    }

    fn omega(vs: &VirtualServerState, out: &mut Vec<Action>) {
        if !vs.cfg.omega {
            return;
        }
        for rs in vs.real_servers.iter().filter(|r| r.alive) {
            if let Some(argv) = &rs.cfg.notify_down {
                out.push(Action::Notify(argv.clone()));
            }
        }
        if vs.quorum_up {
            if let Some(argv) = &vs.cfg.quorum_down {
                out.push(Action::Notify(argv.clone()));
            }
        }
    }

    /// Stopping: the notify programs `omega` asks for.
    pub fn shutdown(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for vs in &self.vss {
            Self::omega(vs, &mut out);
        }
        out
    }
}
