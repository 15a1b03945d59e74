//! Signals as file-descriptor events for the poll loop: `SIGTERM`/`SIGINT` (stop),
//! `SIGHUP` (reload) and `SIGCHLD` (a script ended) are blocked and read from a
//! `signalfd`, so the loop needs no handler, no atomics and no periodic wake-up.

use std::os::fd::{AsRawFd, RawFd};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};

/// What the signals asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalEvent {
    /// `SIGTERM` or `SIGINT`: resign and exit.
    Terminate,
    /// `SIGHUP`: reload the configuration.
    Reload,
    /// `SIGCHLD`: reap children.
    ChildExited,
}

/// `SIGTERM`, `SIGINT`, `SIGHUP`, `SIGCHLD`: the signals the poll loop reads.
fn daemon_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
    ] {
        set.add(s);
    }
    set
}

/// Blocks the daemon's signals in the calling thread, so that threads started from
/// it afterwards (the `--metrics` endpoint's) inherit the mask. Without it the
/// kernel may hand `SIGTERM` to such a thread, where its default action ends the
/// process at once: no priority-0 advert, the VIP and the virtual servers left
/// behind. [`Signals::block`] blocks the same set.
pub fn block_before_threads() -> nix::Result<()> {
    daemon_signals().thread_block()
}

/// The daemon's signals, blocked and readable from a non-blocking `signalfd`.
#[derive(Debug)]
pub struct Signals {
    fd: SignalFd,
}

impl Signals {
    /// Blocks the daemon's signals for this thread, before any other thread starts
    /// (threads inherit the mask, so the signals reach only the `signalfd`), and opens
    /// the `signalfd`. Children get an empty signal mask from `std::process::Command`.
    pub fn block() -> nix::Result<Self> {
        let set = daemon_signals();
        set.thread_block()?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Signals { fd })
    }

    /// The descriptor to poll for reading.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Every pending signal, in arrival order (empty when none).
    pub fn drain(&mut self) -> Vec<SignalEvent> {
        let mut out = Vec::new();
        while let Ok(Some(info)) = self.fd.read_signal() {
            let ev = match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGHUP) => SignalEvent::Reload,
                Ok(Signal::SIGCHLD) => SignalEvent::ChildExited,
                _ => SignalEvent::Terminate,
            };
            out.push(ev);
        }
        out
    }
}
