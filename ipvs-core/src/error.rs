//! Errors returned by ipvs-core.

use std::io;
use std::net::SocketAddr;

use crate::codec::CodecError;
use crate::model::ServiceKey;
use crate::netlink::NetlinkError;

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
    /// A desired table that cannot be planned (a service outside the scope,
    /// a duplicate).
    #[error("cannot plan: {0}")]
    Plan(#[from] PlanError),
    /// A batch request that was not sent because the batch stopped before it.
    #[error("not sent: an earlier part of the batch failed")]
    NotSent,
    /// A batch request that was sent but whose acknowledgement was never
    /// read: the kernel may or may not have applied it.
    #[error("sent, but no acknowledgement was read (the kernel may have applied it)")]
    Unacknowledged,
    /// A `/proc/net/ip_vs_conn` line that cannot be parsed.
    #[error("/proc/net/ip_vs_conn line {line}: {what}")]
    ConnParse {
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        what: String,
    },
}

impl Error {
    /// The errno this error stands for: the kernel's answer for the typed
    /// kernel errors (`EEXIST` for [`Error::ServiceExists`], `ESRCH` for
    /// [`Error::NoSuchService`], ...), the socket's for [`Error::Io`], and
    /// `None` for errors that no errno caused (decoding, refused before
    /// sending).
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::ServiceExists | Error::DestinationExists | Error::DaemonExists => {
                Some(libc::EEXIST)
            }
            Error::NoSuchService | Error::NoSuchDaemon => Some(libc::ESRCH),
            Error::NoSuchDestination | Error::SchedulerNotFound { .. } => Some(libc::ENOENT),
            Error::InvalidArgument { errno, .. } => *errno,
            Error::PermissionDenied => Some(libc::EPERM),
            Error::Errno { errno } => Some(*errno),
            Error::BufferOverflow(_) => Some(libc::ENOBUFS),
            Error::Io(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

impl From<netlink_packet_core::DecodeError> for Error {
    fn from(e: netlink_packet_core::DecodeError) -> Self {
        Error::Decode(e.to_string())
    }
}

impl From<CodecError> for Error {
    fn from(e: CodecError) -> Self {
        match e {
            CodecError::Decode(what) => Error::Decode(what),
            CodecError::Invalid(what) => Error::InvalidArgument { what, errno: None },
        }
    }
}

/// Transport errors without a request to give them meaning; the handle maps
/// kernel errors of requests to the typed variants itself.
impl From<NetlinkError> for Error {
    fn from(e: NetlinkError) -> Self {
        match e {
            NetlinkError::Io(e) => Error::Io(e),
            NetlinkError::Kernel { errno, .. } => Error::Errno { errno },
            NetlinkError::BufferOverflow(what) => Error::BufferOverflow(what),
            NetlinkError::DumpInterrupted { attempts } => Error::DumpInterrupted { attempts },
            NetlinkError::Decode(what) => Error::Decode(what),
            NetlinkError::NotSent => Error::NotSent,
            NetlinkError::Unacknowledged => Error::Unacknowledged,
        }
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

/// Why a desired table cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// A desired service the scope does not own: applying it could edit
    /// another program's service.
    #[error("desired service {0} lies outside the scope")]
    OutOfScope(ServiceKey),
    /// A service desired twice.
    #[error("service {0} is desired twice")]
    DuplicateService(ServiceKey),
    /// A destination desired twice in one service.
    #[error("destination {1} of service {0} is desired twice")]
    DuplicateDestination(ServiceKey, SocketAddr),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
