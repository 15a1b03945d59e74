//! Network namespaces: run a short piece of work inside another namespace
//! without moving the caller's thread.
//!
//! A netlink socket belongs to the namespace it was created in for its
//! whole life, so a handle for another namespace only needs its socket
//! created there: a short-lived thread enters the namespace (`setns`),
//! creates the socket and ends; the caller's thread never changes
//! namespace.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

/// A network namespace to open a handle in.
#[derive(Debug)]
#[non_exhaustive]
pub enum Netns {
    /// A namespace named by `ip netns add NAME` (`/run/netns/NAME`).
    Named(String),
    /// A namespace file: `/proc/PID/ns/net`, a bind mount, ...
    Path(PathBuf),
    /// An open namespace file descriptor.
    Fd(OwnedFd),
}

impl Netns {
    /// A namespace named by `ip netns add NAME`.
    pub fn named(name: &str) -> Netns {
        Netns::Named(name.to_string())
    }

    /// The namespace of a namespace file (`/proc/PID/ns/net`, a bind mount).
    pub fn path(path: impl Into<PathBuf>) -> Netns {
        Netns::Path(path.into())
    }

    /// The namespace of process `pid`.
    pub fn of_process(pid: u32) -> Netns {
        Netns::Path(PathBuf::from(format!("/proc/{pid}/ns/net")))
    }

    fn file_path(&self) -> Option<PathBuf> {
        match self {
            Netns::Named(name) => Some(PathBuf::from("/run/netns").join(name)),
            Netns::Path(p) => Some(p.clone()),
            Netns::Fd(_) => None,
        }
    }
}

/// Run `work` on a new thread inside `netns` and return its result. The
/// thread ends with `work`; whatever it created (a socket) keeps the
/// namespace.
pub(crate) fn run_in<R: Send>(
    netns: &Netns,
    work: impl FnOnce() -> R + Send,
) -> std::io::Result<R> {
    let opened;
    let fd: BorrowedFd<'_> = match (netns, netns.file_path()) {
        (Netns::Fd(fd), _) => fd.as_fd(),
        (_, Some(path)) => {
            opened = File::open(&path).map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("network namespace {}: {e}", path.display()),
                )
            })?;
            opened.as_fd()
        }
        (_, None) => return Err(std::io::Error::other("network namespace without a file")),
    };
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                    let io = std::io::Error::from(e);
                    std::io::Error::new(io.kind(), format!("entering the network namespace: {io}"))
                })?;
                Ok(work())
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("namespace thread panicked")))
    })
}
