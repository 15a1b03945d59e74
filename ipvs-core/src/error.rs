//! Errors returned by ipvs-core.

use std::io;

/// Everything that can go wrong talking to IPVS.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service being added already exists (`EEXIST`).
    #[error("service already exists")]
    ServiceExists,
    /// The service does not exist (`ESRCH`).
    #[error("no such service")]
    NoSuchService,
    /// The destination being added already exists (`EEXIST`).
    #[error("destination already exists")]
    DestinationExists,
    /// The destination does not exist (`ENOENT`).
    #[error("no such destination")]
    NoSuchDestination,
    /// The kernel has no scheduler (or persistence engine) by that name (`ENOENT`).
    #[error("scheduler or persistence engine not found: {name} (is its ip_vs_* kernel module available?)")]
    SchedulerNotFound {
        /// The name asked for.
        name: String,
    },
    /// A sync daemon of that state is already running (`EEXIST`).
    #[error("sync daemon already running")]
    DaemonExists,
    /// No sync daemon of that state is running (`ESRCH`).
    #[error("no such sync daemon")]
    NoSuchDaemon,
    /// The kernel (`EINVAL`) or this library rejected a value.
    #[error("invalid argument: {what}")]
    InvalidArgument {
        /// What was invalid.
        what: String,
        /// The kernel's errno (`EINVAL`, `ERANGE` for thresholds, `ENODEV` for a
        /// missing interface) when the kernel refused it; `None` when this library
        /// refused it before sending anything.
        errno: Option<i32>,
    },
    /// The caller lacks `CAP_NET_ADMIN` in the network namespace (`EPERM`).
    #[error("permission denied: changing IPVS needs CAP_NET_ADMIN (run as root)")]
    PermissionDenied,
    /// The IPVS generic-netlink family is not registered.
    #[error("IPVS is not available in this kernel: {reason} (try `modprobe ip_vs`)")]
    IpvsUnavailable {
        /// Why the family could not be resolved.
        reason: String,
    },
    /// Any other error the kernel returned.
    #[error("kernel returned {}: {}", errno_name(*errno), io::Error::from_raw_os_error(*errno))]
    Errno {
        /// The positive errno value.
        errno: i32,
    },
    /// The receive buffer overflowed (`ENOBUFS`) or a reply was truncated:
    /// the answer would be incomplete, so none is given.
    #[error("netlink receive buffer overflow: {0}")]
    BufferOverflow(String),
    /// A dump stayed interrupted (`NLM_F_DUMP_INTR`) after every retry.
    #[error("dump interrupted by concurrent changes {attempts} times; giving up")]
    DumpInterrupted {
        /// How many times the dump was tried.
        attempts: u32,
    },
    /// The kernel sent something this library cannot decode.
    #[error("cannot decode kernel message: {0}")]
    Decode(String),
    /// A socket error.
    #[error("netlink socket error: {0}")]
    Io(#[from] io::Error),
    /// A `/proc/net/ip_vs_conn` line that cannot be parsed.
    #[error("/proc/net/ip_vs_conn line {line}: {what}")]
    ConnParse {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        what: String,
    },
}

impl From<netlink_packet_core::DecodeError> for Error {
    fn from(e: netlink_packet_core::DecodeError) -> Self {
        Error::Decode(e.to_string())
    }
}

fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::ESRCH => "ESRCH".into(),
        libc::EEXIST => "EEXIST".into(),
        libc::EINVAL => "EINVAL".into(),
        libc::ENOMEM => "ENOMEM".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EAFNOSUPPORT => "EAFNOSUPPORT".into(),
        libc::EOPNOTSUPP => "EOPNOTSUPP".into(),
        libc::ENOBUFS => "ENOBUFS".into(),
        n => format!("errno {n}"),
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
