//! The daemon's child processes (check scripts, notify programs): each runs in its own
//! process group, is registered here until reaped, and is killed with its whole group
//! when it is no longer wanted (a timeout, a reload that changes or removes its script,
//! the daemon's exit). Nothing is left running or unreaped.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// What a child process is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    /// A run of the `vrrp_script` of this name.
    Script(String),
    /// A notify program.
    Notify,
    /// Killed; its exit is only reaped, not reported.
    Discarded,
}

/// A child that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exited {
    /// Its pid.
    pub pid: u32,
    /// What it was for.
    pub purpose: Purpose,
    /// Exit status 0.
    pub success: bool,
}

/// Builds the command for `argv` (no shell), in a new process group, with no standard
/// I/O, as `uid_gid` when that is not the daemon's own user.
pub fn command(argv: &[String], uid_gid: Option<(u32, u32)>) -> Command {
    let mut c = Command::new(&argv[0]);
    // Its own process group, so a killed script takes everything it started with it.
    c.process_group(0)
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some((uid, gid)) = uid_gid {
        if nix::unistd::getuid().as_raw() != uid {
            c.uid(uid).gid(gid);
        }
    }
    c
}

/// The registry of running children.
#[derive(Debug, Default)]
pub struct Children {
    running: HashMap<u32, Purpose>,
}

impl Children {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `cmd` (built by [`command`]: its own process group) and registers it.
    pub fn spawn(&mut self, mut cmd: Command, purpose: Purpose) -> std::io::Result<u32> {
        let child = cmd.spawn()?;
        let pid = child.id();
        // The handle is dropped: the child is reaped by pid in `reap`.
        drop(child);
        self.running.insert(pid, purpose);
        Ok(pid)
    }

    /// Whether `pid` is a registered child that has not been reaped.
    pub fn is_running(&self, pid: u32) -> bool {
        self.running.contains_key(&pid)
    }

    /// Number of children not yet reaped.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether no child is left.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// SIGKILLs the process group of `pid`; its exit is reaped later but not reported.
    pub fn kill(&mut self, pid: u32) {
        if let Some(p) = self.running.get_mut(&pid) {
            *p = Purpose::Discarded;
            if let Ok(raw) = i32::try_from(pid) {
                // The group may already be gone; the leader then only awaits reaping.
                let _ = killpg(Pid::from_raw(raw), Signal::SIGKILL);
            }
        }
    }

    /// Reaps every child that has ended (never blocks); returns those not discarded.
    pub fn reap(&mut self) -> Vec<Exited> {
        let mut out = Vec::new();
        let pids: Vec<u32> = self.running.keys().copied().collect();
        for pid in pids {
            let Ok(raw) = i32::try_from(pid) else {
                continue;
            };
            let success = match waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => continue,
                Ok(WaitStatus::Exited(_, code)) => code == 0,
                Ok(_) => false,
                // ECHILD: reaped elsewhere or never ours; forget it.
                Err(_) => false,
            };
            if let Some(purpose) = self.running.remove(&pid) {
                if purpose != Purpose::Discarded {
                    out.push(Exited {
                        pid,
                        purpose,
                        success,
                    });
                }
            }
        }
        out
    }

    /// At exit: kills every check script at once, gives notify programs up to `grace`
    /// to finish (a `notify_stop` runs during shutdown), then kills what is left and
    /// reaps everything.
    pub fn shutdown(&mut self, grace: Duration) {
        let scripts: Vec<u32> = self
            .running
            .iter()
            .filter(|(_, p)| matches!(p, Purpose::Script(_)))
            .map(|(pid, _)| *pid)
            .collect();
        for pid in scripts {
            self.kill(pid);
        }
        let until = Instant::now() + grace;
        while Instant::now() < until {
            self.reap();
            if !self.running.values().any(|p| *p == Purpose::Notify) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let left: Vec<u32> = self.running.keys().copied().collect();
        for pid in left {
            self.kill(pid);
        }
        // SIGKILLed: each ends at once; a bounded wait still, never a hang.
        let until = Instant::now() + Duration::from_secs(2);
        while !self.running.is_empty() && Instant::now() < until {
            self.reap();
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn wait_reaped(c: &mut Children) -> Vec<Exited> {
        let until = Instant::now() + Duration::from_secs(5);
        let mut out = Vec::new();
        while !c.is_empty() && Instant::now() < until {
            out.extend(c.reap());
            std::thread::sleep(Duration::from_millis(5));
        }
        out
    }

    #[test]
    fn exits_are_reported_with_their_purpose() {
        let mut c = Children::new();
        let ok = c
            .spawn(
                command(&argv("/bin/true"), None),
                Purpose::Script("a".into()),
            )
            .expect("spawn");
        let bad = c
            .spawn(command(&argv("/bin/false"), None), Purpose::Notify)
            .expect("spawn");
        let mut got = wait_reaped(&mut c);
        got.sort_by_key(|e| e.pid != ok);
        assert_eq!(
            got,
            [
                Exited {
                    pid: ok,
                    purpose: Purpose::Script("a".into()),
                    success: true
                },
                Exited {
                    pid: bad,
                    purpose: Purpose::Notify,
                    success: false
                }
            ]
        );
    }

    /// A killed child takes its whole process group with it and is reaped, unreported.
    #[test]
    fn kill_reaches_the_group_and_the_exit_is_not_reported() {
        let mut c = Children::new();
        let dir = std::env::temp_dir().join(format!("kl-children-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let pidfile = dir.join("grandchild");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let pid = c
            .spawn(
                command(&["/bin/sh".into(), "-c".into(), script], None),
                Purpose::Script("s".into()),
            )
            .expect("spawn");
        let until = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n')) {
            assert!(Instant::now() < until, "grandchild did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        let grandchild: i32 = std::fs::read_to_string(&pidfile)
            .expect("read")
            .trim()
            .parse()
            .expect("pid");
        c.kill(pid);
        assert!(
            wait_reaped(&mut c).is_empty(),
            "a killed child is not reported"
        );
        assert!(c.is_empty());
        // The grandchild got SIGKILL too (it is reaped by init, so poll).
        let until = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
            .is_ok_and(|s| !s.contains(") Z"))
        {
            assert!(Instant::now() < until, "grandchild survived the group kill");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn shutdown_kills_scripts_and_waits_for_notify_programs() {
        let mut c = Children::new();
        c.spawn(
            command(&argv("/bin/sleep 30"), None),
            Purpose::Script("s".into()),
        )
        .expect("spawn");
        c.spawn(command(&argv("/bin/sleep 0.2"), None), Purpose::Notify)
            .expect("spawn");
        let hung = c
            .spawn(command(&argv("/bin/sleep 30"), None), Purpose::Notify)
            .expect("spawn");
        let t = Instant::now();
        c.shutdown(Duration::from_millis(500));
        assert!(c.is_empty(), "everything reaped");
        assert!(!c.is_running(hung));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }
}
