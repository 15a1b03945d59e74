//! The daemon's timers as a sans-IO core: when to repeat gratuitous ARPs, check links,
//! run and time out check scripts, retry virtual addresses that could not be added,
//! time out notify programs and write the state file. Driven by `now` (a [`Duration`]
//! since any origin) like [`crate::state::Machine`]; the daemon polls until
//! [`Schedule::next_deadline`] and acts on what [`Schedule::due`] returns.

use std::collections::HashSet;
use std::time::Duration;

/// keepalived's `vrrp_garp_master_delay`: the second round of gratuitous ARPs /
/// unsolicited neighbour advertisements after becoming master.
pub const GARP_REPEAT_DELAY: Duration = Duration::from_secs(5);
/// How often link state (the VRRP interface, `track_interface`) is read.
pub const LINK_CHECK_PERIOD: Duration = Duration::from_millis(250);
/// Least time between two writes of the state file.
pub const STATE_WRITE_GAP: Duration = Duration::from_millis(100);
/// How long an instance whose virtual addresses could not be added stays in FAULT
/// before it tries again.
pub const VIP_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Something whose time has come.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Due {
    /// Second round of announcements for the instance of this name (if still master).
    Reannounce(String),
    /// Read link states.
    CheckLinks,
    /// Start the `vrrp_script` of this name.
    RunScript(String),
    /// The running `vrrp_script` of this name has exceeded its timeout.
    ScriptTimedOut(String),
    /// The instance of this name may leave its VIP fault and try again.
    RetryVips(String),
    /// The notify program with this pid has exceeded the notify timeout.
    NotifyTimedOut(u32),
    /// Write the state file.
    WriteState,
}

/// The timers.
#[derive(Debug, Clone, Default)]
pub struct Schedule {
    timers: Vec<(Duration, Due)>,
    running: HashSet<String>,
    overdue: HashSet<String>,
    last_state_write: Option<Duration>,
}

impl Schedule {
    /// A schedule whose first link check is at `now`.
    pub fn new(now: Duration) -> Self {
        let mut s = Schedule::default();
        s.set(now, Due::CheckLinks);
        s
    }

    fn set(&mut self, at: Duration, due: Due) {
        self.cancel(&due);
        self.timers.push((at, due));
    }

    fn cancel(&mut self, due: &Due) {
        self.timers.retain(|(_, d)| d != due);
    }

    /// Whether `due` is pending.
    pub fn is_set(&self, due: &Due) -> bool {
        self.timers.iter().any(|(_, d)| d == due)
    }

    /// The earliest pending time, if any.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.timers.iter().map(|(t, _)| *t).min()
    }

    /// Removes and returns what is due at `now`, earliest first. Periodic link checks
    /// re-arm themselves; a script whose interval passes while it still runs is held
    /// until it finishes ([`Schedule::script_finished`]).
    pub fn due(&mut self, now: Duration) -> Vec<Due> {
        let mut expired: Vec<(Duration, Due)> = Vec::new();
        self.timers.retain(|(t, d)| {
            if *t <= now {
                expired.push((*t, d.clone()));
                false
            } else {
                true
            }
        });
        expired.sort_by_key(|(t, _)| *t);
        let mut out = Vec::new();
        for (_, d) in expired {
            match &d {
                Due::CheckLinks => self.set(now + LINK_CHECK_PERIOD, Due::CheckLinks),
                Due::RunScript(name) if self.running.contains(name) => {
                    self.overdue.insert(name.clone());
                    continue;
                }
                Due::WriteState => self.last_state_write = Some(now),
                _ => {}
            }
            out.push(d);
        }
        out
    }

    /// The instance `name` became master and announced its addresses: the second round
    /// is due after [`GARP_REPEAT_DELAY`].
    pub fn announced(&mut self, name: &str, now: Duration) {
        self.set(now + GARP_REPEAT_DELAY, Due::Reannounce(name.into()));
    }

    /// Adding the virtual addresses of instance `name` failed: retry after
    /// [`VIP_RETRY_DELAY`].
    pub fn vips_failed(&mut self, name: &str, now: Duration) {
        self.set(now + VIP_RETRY_DELAY, Due::RetryVips(name.into()));
    }

    /// The instance `name` is gone (removed or restarted by a reload).
    pub fn instance_removed(&mut self, name: &str) {
        self.cancel(&Due::Reannounce(name.into()));
        self.cancel(&Due::RetryVips(name.into()));
    }

    /// A new `vrrp_script`: its first run is due at once.
    pub fn script_added(&mut self, name: &str, now: Duration) {
        self.script_removed(name);
        self.set(now, Due::RunScript(name.into()));
    }

    /// A run of script `name` started at `now`: it times out after `timeout`; the next
    /// run is due after `interval` (or when this one ends, if later).
    pub fn script_started(
        &mut self,
        name: &str,
        now: Duration,
        interval: Duration,
        timeout: Duration,
    ) {
        self.running.insert(name.into());
        self.overdue.remove(name);
        self.set(now + interval, Due::RunScript(name.into()));
        self.set(now + timeout, Due::ScriptTimedOut(name.into()));
    }

    /// The run of script `name` ended (or was killed) at `now`.
    pub fn script_finished(&mut self, name: &str, now: Duration) {
        self.running.remove(name);
        self.cancel(&Due::ScriptTimedOut(name.into()));
        if self.overdue.remove(name) {
            self.set(now, Due::RunScript(name.into()));
        }
    }

    /// Script `name` is gone (removed or replaced by a reload): none of its timers.
    pub fn script_removed(&mut self, name: &str) {
        self.running.remove(name);
        self.overdue.remove(name);
        self.cancel(&Due::RunScript(name.into()));
        self.cancel(&Due::ScriptTimedOut(name.into()));
    }

    /// A notify program `pid` started: it is killed after `timeout`.
    pub fn notify_started(&mut self, pid: u32, now: Duration, timeout: Duration) {
        self.set(now + timeout, Due::NotifyTimedOut(pid));
    }

    /// The notify program `pid` ended.
    pub fn notify_finished(&mut self, pid: u32) {
        self.cancel(&Due::NotifyTimedOut(pid));
    }

    /// Something in the state file changed: a write is due now, or
    /// [`STATE_WRITE_GAP`] after the last one.
    pub fn state_changed(&mut self, now: Duration) {
        if !self.is_set(&Due::WriteState) {
            let at = self
                .last_state_write
                .map_or(now, |t| now.max(t + STATE_WRITE_GAP));
            self.set(at, Due::WriteState);
        }
    }

    /// The state file was written at `now` (outside the schedule: at start, before
    /// notify programs run, at exit).
    pub fn state_written(&mut self, now: Duration) {
        self.last_state_write = Some(now);
        self.cancel(&Due::WriteState);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Everything due in `from..=until`, stepping 1 ms, with the time it came due.
    fn run(s: &mut Schedule, from: u64, until: u64) -> Vec<(u64, Due)> {
        let mut out = Vec::new();
        for t in from..=until {
            if s.next_deadline().is_some_and(|d| d <= ms(t)) {
                out.extend(s.due(ms(t)).into_iter().map(|d| (t, d)));
            }
        }
        out
    }

    #[test]
    fn links_are_checked_every_250_ms() {
        let mut s = Schedule::new(ms(0));
        let got = run(&mut s, 0, 1000);
        assert_eq!(
            got.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            [0, 250, 500, 750, 1000]
        );
        assert!(got.iter().all(|(_, d)| *d == Due::CheckLinks));
    }

    #[test]
    fn reannounce_once_five_seconds_after_becoming_master() {
        let mut s = Schedule::default();
        s.announced("VI", ms(100));
        assert_eq!(s.next_deadline(), Some(ms(5100)));
        assert_eq!(
            run(&mut s, 0, 20_000),
            [(5100, Due::Reannounce("VI".into()))]
        );
        // Removed instances announce no more.
        s.announced("VI", ms(0));
        s.instance_removed("VI");
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn scripts_run_every_interval_and_time_out() {
        let mut s = Schedule::default();
        s.script_added("chk", ms(0));
        assert_eq!(s.due(ms(0)), [Due::RunScript("chk".into())]);
        s.script_started("chk", ms(0), ms(1000), ms(300));
        // Ends after 100 ms: no timeout, next run at 1000.
        s.script_finished("chk", ms(100));
        assert_eq!(run(&mut s, 1, 1000), [(1000, Due::RunScript("chk".into()))]);
        s.script_started("chk", ms(1000), ms(1000), ms(300));
        // Hangs: the timeout is due at 1300.
        assert_eq!(
            run(&mut s, 1001, 1300),
            [(1300, Due::ScriptTimedOut("chk".into()))]
        );
        s.script_finished("chk", ms(1300));
        assert_eq!(
            run(&mut s, 1301, 2000),
            [(2000, Due::RunScript("chk".into()))]
        );
    }

    #[test]
    fn a_run_longer_than_the_interval_delays_the_next_until_it_ends() {
        let mut s = Schedule::default();
        s.script_started("chk", ms(0), ms(500), ms(2000));
        // The interval passes while it runs: nothing is started twice.
        assert!(run(&mut s, 1, 1199).is_empty());
        s.script_finished("chk", ms(1200));
        assert_eq!(s.due(ms(1200)), [Due::RunScript("chk".into())]);
        // A removed script has no timers left.
        s.script_started("chk", ms(1200), ms(500), ms(2000));
        s.script_removed("chk");
        assert_eq!(s.next_deadline(), None);
    }

    #[test]
    fn vip_retry_and_notify_timeouts() {
        let mut s = Schedule::default();
        s.vips_failed("VI", ms(10));
        s.notify_started(42, ms(0), ms(30_000));
        s.notify_started(43, ms(0), ms(30_000));
        s.notify_finished(43);
        assert_eq!(
            run(&mut s, 0, 40_000),
            [
                (5010, Due::RetryVips("VI".into())),
                (30_000, Due::NotifyTimedOut(42))
            ]
        );
    }

    #[test]
    fn state_writes_are_at_least_100_ms_apart() {
        let mut s = Schedule::default();
        s.state_changed(ms(0));
        assert_eq!(s.due(ms(0)), [Due::WriteState]);
        s.state_changed(ms(30));
        s.state_changed(ms(60));
        assert_eq!(run(&mut s, 30, 300), [(100, Due::WriteState)]);
        // A write outside the schedule counts as the last one.
        s.state_written(ms(500));
        s.state_changed(ms(550));
        assert_eq!(s.next_deadline(), Some(ms(600)));
    }
}
