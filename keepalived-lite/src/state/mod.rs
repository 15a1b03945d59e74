//! The VRRP state machine (RFC 5798 section 6.4, RFC 3768 section 6.4) as a pure,
//! sans-IO core: it takes inputs and the current time and returns actions. Time is a
//! [`Duration`] since any fixed origin, so tests drive it with simulated time.
//!
//! Where the RFC leaves room, keepalived 2.2.7's observed behaviour is followed:
//! `state MASTER` is only a wish (a non-owner starts in Backup and waits
//! Master_Down_Interval), a master that hears a lower-priority advert answers at once
//! with its own advert, and `preempt_delay` counts from start-up or from first hearing a
//! lower-priority master.

use std::net::IpAddr;
use std::time::Duration;

use crate::packet::Version;

/// The priority of the address owner.
pub const PRIORITY_OWNER: u8 = 255;
/// The priority a resigning master advertises.
pub const PRIORITY_STOP: u8 = 0;

/// Static parameters of one virtual router instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Protocol version: decides the Master_Down_Interval formula and interval learning.
    pub version: Version,
    /// Configured priority 1-255 (before track-script weights).
    pub priority: u8,
    /// Configured advertisement interval in centiseconds.
    pub advert_int_cs: u16,
    /// Preemption allowed (not `nopreempt`).
    pub preempt: bool,
    /// `preempt_delay`: how long a backup waits before preempting a lower-priority master.
    pub preempt_delay: Duration,
    /// Our primary address on the VRRP interface: the priority tie-breaker.
    pub primary_addr: IpAddr,
}

/// Protocol state of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum State {
    /// Not running (before start-up and after shutdown).
    Initialize,
    /// Listening, ready to take over.
    Backup,
    /// Holding the virtual addresses and advertising.
    Master,
    /// A tracked interface is down or a weight-0 script failed.
    Fault,
}

impl State {
    /// keepalived's upper-case name, as passed to notify scripts.
    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

/// Something that happened to the instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The daemon starts the instance.
    Startup,
    /// The daemon stops the instance (resign with priority 0 when master).
    Shutdown,
    /// A valid advertisement for our VRID arrived.
    Advert {
        /// Sender's primary address.
        src: IpAddr,
        /// Sender's priority.
        priority: u8,
        /// Sender's advertisement interval in centiseconds.
        interval_cs: u16,
    },
    /// Time passed: fire expired timers.
    Tick,
    /// Track scripts changed the effective priority (already clamped to 1-254).
    Priority(u8),
    /// Fault condition raised (`true`) or cleared (`false`).
    Fault(bool),
}

/// What the I/O edge must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority and our interval.
    SendAdvert {
        /// Priority to advertise (0 when resigning).
        priority: u8,
    },
    /// Add the virtual addresses to their interfaces.
    AddVips,
    /// Remove the virtual addresses.
    RemoveVips,
    /// Send gratuitous ARP / unsolicited neighbour advertisements for the VIPs.
    Announce,
    /// The state changed (notify scripts, state file, log).
    Transition {
        /// Old state.
        from: State,
        /// New state.
        to: State,
    },
}

/// One VRRP instance's protocol state.
#[derive(Debug, Clone)]
pub struct Machine {
    params: Params,
    state: State,
    priority: u8,
    fault: bool,
    master_adver_int_cs: u16,
    adver_deadline: Option<Duration>,
    down_deadline: Option<Duration>,
    preempt_after: Option<Duration>,
    master_addr: Option<IpAddr>,
}

impl Machine {
    /// A machine in Initialize; feed it [`Input::Startup`].
    pub fn new(params: Params) -> Self {
        let priority = params.priority;
        let adv = params.advert_int_cs;
        Machine {
            params,
            state: State::Initialize,
            priority,
            fault: false,
            master_adver_int_cs: adv,
            adver_deadline: None,
            down_deadline: None,
            preempt_after: None,
            master_addr: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Effective priority (configured priority adjusted by track scripts).
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Address of the current master as last heard (ours when master).
    pub fn master_addr(&self) -> Option<IpAddr> {
        match self.state {
            State::Master => Some(self.params.primary_addr),
            State::Backup => self.master_addr,
            _ => None,
        }
    }

    /// Master_Adver_Interval in centiseconds (learned from the master in VRRPv3).
    pub fn master_adver_int_cs(&self) -> u16 {
        self.master_adver_int_cs
    }

    /// Skew_Time for the current priority and version.
    pub fn skew_time(&self) -> Duration {
        let p = u64::from(256 - u32::from(self.priority)) as u32;
        match self.params.version {
            // RFC 3768: (256 - Priority) / 256 seconds.
            Version::V2 => Duration::from_micros(u64::from(p) * 1_000_000 / 256),
            // RFC 5798: ((256 - Priority) * Master_Adver_Interval) / 256.
            Version::V3 => Duration::from_micros(
                u64::from(p) * u64::from(self.master_adver_int_cs) * 10_000 / 256,
            ),
        }
    }

    /// Master_Down_Interval = 3 x (Master_)Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        let adv = match self.params.version {
            Version::V2 => self.params.advert_int_cs,
            Version::V3 => self.master_adver_int_cs,
        };
        Duration::from_millis(u64::from(adv) * 30) + self.skew_time()
    }

    fn advert_interval(&self) -> Duration {
        Duration::from_millis(u64::from(self.params.advert_int_cs) * 10)
    }

    /// The earliest time at which [`Input::Tick`] has something to do.
    pub fn next_deadline(&self) -> Option<Duration> {
        match (self.adver_deadline, self.down_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn goto(&mut self, to: State, actions: &mut Vec<Action>) {
        let from = self.state;
        if from != to {
            self.state = to;
            actions.push(Action::Transition { from, to });
        }
    }

    fn become_master(&mut self, now: Duration, actions: &mut Vec<Action>) {
        self.down_deadline = None;
        self.master_addr = None;
        actions.push(Action::SendAdvert {
            priority: self.priority,
        });
        actions.push(Action::AddVips);
        actions.push(Action::Announce);
        self.adver_deadline = Some(now + self.advert_interval());
        self.goto(State::Master, actions);
    }

    fn become_backup(&mut self, now: Duration, actions: &mut Vec<Action>) {
        let was_master = self.state == State::Master;
        self.adver_deadline = None;
        if was_master {
            actions.push(Action::RemoveVips);
        }
        if self.state != State::Backup && self.preempt_after.is_none() {
            self.preempt_after = Some(now + self.params.preempt_delay);
        }
        self.down_deadline = Some(now + self.master_down_interval());
        self.goto(State::Backup, actions);
    }

    fn leave_master_resigning(&mut self, actions: &mut Vec<Action>) {
        if self.state == State::Master {
            actions.push(Action::SendAdvert {
                priority: PRIORITY_STOP,
            });
            actions.push(Action::RemoveVips);
        }
        self.adver_deadline = None;
        self.down_deadline = None;
    }

    /// Feeds one input at time `now`; returns the actions to perform, in order.
    pub fn handle(&mut self, now: Duration, input: Input) -> Vec<Action> {
        let mut actions = Vec::new();
        match input {
            Input::Startup => {
                if self.state == State::Initialize {
                    self.master_adver_int_cs = self.params.advert_int_cs;
                    self.preempt_after = Some(now + self.params.preempt_delay);
                    if self.fault {
                        self.goto(State::Fault, &mut actions);
                    } else if self.params.priority == PRIORITY_OWNER {
                        self.become_master(now, &mut actions);
                    } else {
                        self.become_backup(now, &mut actions);
                    }
                }
            }
            Input::Shutdown => {
                self.leave_master_resigning(&mut actions);
                self.goto(State::Initialize, &mut actions);
            }
            Input::Tick => self.tick(now, &mut actions),
            Input::Priority(p) => {
                if self.params.priority != PRIORITY_OWNER {
                    self.priority = p.clamp(1, 254);
                }
            }
            Input::Fault(f) => {
                self.fault = f;
                match (f, self.state) {
                    (true, State::Master | State::Backup) => {
                        self.leave_master_resigning(&mut actions);
                        self.goto(State::Fault, &mut actions);
                    }
                    (false, State::Fault) => {
                        self.preempt_after = None;
                        self.become_backup(now, &mut actions);
                    }
                    _ => {}
                }
            }
            Input::Advert {
                src,
                priority,
                interval_cs,
            } => self.advert(now, src, priority, interval_cs, &mut actions),
        }
        actions
    }

    fn tick(&mut self, now: Duration, actions: &mut Vec<Action>) {
        match self.state {
            State::Master => {
                if self.adver_deadline.is_some_and(|d| d <= now) {
                    actions.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    self.adver_deadline = Some(now + self.advert_interval());
                }
            }
            State::Backup => {
                if self.down_deadline.is_some_and(|d| d <= now) {
                    self.become_master(now, actions);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn advert(
        &mut self,
        now: Duration,
        src: IpAddr,
        priority: u8,
        interval_cs: u16,
        actions: &mut Vec<Action>,
    ) {
        match self.state {
            State::Backup => {
                if priority == PRIORITY_STOP {
                    // The master resigned: take over after Skew_Time.
                    self.down_deadline = Some(now + self.skew_time());
                    return;
                }
                let lower = priority < self.priority;
                if lower && self.params.preempt {
                    // A lower-priority master: preempt, unless preempt_delay holds us back.
                    let after = *self
                        .preempt_after
                        .get_or_insert(now + self.params.preempt_delay);
                    if now >= after {
                        return; // discard: Master_Down_Timer will fire
                    }
                } else {
                    self.preempt_after = None;
                }
                if self.params.version == Version::V3 {
                    self.master_adver_int_cs = interval_cs;
                }
                self.master_addr = Some(src);
                self.down_deadline = Some(now + self.master_down_interval());
            }
            State::Master => {
                if priority == PRIORITY_STOP {
                    // Another master resigned: assert ourselves at once.
                    actions.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    self.adver_deadline = Some(now + self.advert_interval());
                    return;
                }
                let wins = priority > self.priority
                    || (priority == self.priority && src > self.params.primary_addr);
                if wins {
                    if self.params.version == Version::V3 {
                        self.master_adver_int_cs = interval_cs;
                    }
                    self.preempt_after = None;
                    self.become_backup(now, actions);
                    self.master_addr = Some(src);
                } else {
                    // keepalived answers a lower-priority master at once ("forcing a new
                    // election") instead of waiting for its next advert.
                    actions.push(Action::SendAdvert {
                        priority: self.priority,
                    });
                    self.adver_deadline = Some(now + self.advert_interval());
                }
            }
            State::Initialize | State::Fault => {}
        }
    }
}

#[cfg(test)]
mod tests;
