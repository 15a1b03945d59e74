//! libipvs's `ipvs_strerror`: the words ipvsadm prints for a failed call,
//! which depend on the call and on the kernel's errno.

use ipvs_core::Error;

use crate::args::Op;

/// The errno libipvs would have seen: the kernel's (ipvs-core's
/// `raw_os_error`), or for errors without one, what libipvs gets in their
/// place: `EINVAL` for an argument ipvs-core refuses before sending, and
/// `ENOPROTOOPT` when the IPVS family is missing.
fn errno_of(err: &Error) -> Option<i32> {
    err.raw_os_error().or(match err {
        Error::InvalidArgument { .. } => Some(libc::EINVAL),
        Error::IpvsUnavailable { .. } => Some(libc::ENOPROTOOPT),
        _ => None,
    })
}

/// libipvs's `ipvs_strerror`: the message ipvsadm prints for a failed call.
pub fn ipvs_strerror(op: Option<Op>, err: &Error) -> String {
    let Some(errno) = errno_of(err) else {
        return err.to_string();
    };
    let specific = match (op, errno) {
        (Some(Op::AddService), libc::EEXIST) => Some("Service already exists"),
        (Some(Op::AddService | Op::EditService), libc::ENOENT) => {
            Some("Scheduler or persistence engine not found")
        }
        (Some(Op::EditService | Op::DeleteService | Op::Zero), libc::ESRCH) => {
            Some("No such service")
        }
        (Some(Op::AddDest | Op::EditDest | Op::DeleteDest), libc::ESRCH) => {
            Some("Service not defined")
        }
        (Some(Op::AddDest), libc::EEXIST) => Some("Destination already exists"),
        (Some(Op::EditDest | Op::DeleteDest), libc::ENOENT) => Some("No such destination"),
        (Some(Op::StartDaemon), libc::EEXIST) => Some("Daemon has already run"),
        (Some(Op::StopDaemon), libc::ESRCH) => Some("No daemon is running"),
        (None, libc::ESRCH) => Some("No such service"),
        _ => None,
    };
    if let Some(m) = specific {
        return m.to_string();
    }
    match errno {
        libc::EPERM => "Permission denied (you must be root)".into(),
        libc::EINVAL => {
            "Invalid operation.  Possibly wrong module version, address not unicast, ...".into()
        }
        libc::ENOPROTOOPT => "Protocol not available".into(),
        libc::ENOMEM => "Memory allocation problem".into(),
        libc::EOPNOTSUPP => "Operation not supported with IPv6".into(),
        libc::EAFNOSUPPORT => "Operation not supported with specified address family".into(),
        libc::EMSGSIZE => "Module is wrong version".into(),
        n => strerror(n),
    }
}

/// The C library's `strerror` text for `errno`, without Rust's " (os error N)".
pub fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    // Rust appends " (os error N)"; ipvsadm prints the bare strerror text.
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_errors_read_as_libipvs_words_them() {
        assert_eq!(
            ipvs_strerror(Some(Op::AddService), &Error::ServiceExists),
            "Service already exists"
        );
        assert_eq!(
            ipvs_strerror(
                Some(Op::AddService),
                &Error::SchedulerNotFound { name: "x".into() }
            ),
            "Scheduler or persistence engine not found"
        );
        assert_eq!(
            ipvs_strerror(Some(Op::AddDest), &Error::NoSuchService),
            "Service not defined"
        );
        assert_eq!(
            ipvs_strerror(Some(Op::DeleteService), &Error::NoSuchService),
            "No such service"
        );
        assert_eq!(
            ipvs_strerror(Some(Op::EditDest), &Error::NoSuchDestination),
            "No such destination"
        );
        assert_eq!(
            ipvs_strerror(Some(Op::StopDaemon), &Error::NoSuchDaemon),
            "No daemon is running"
        );
        assert_eq!(
            ipvs_strerror(Some(Op::StartDaemon), &Error::DaemonExists),
            "Daemon has already run"
        );
        assert_eq!(
            ipvs_strerror(Some(Op::Flush), &Error::PermissionDenied),
            "Permission denied (you must be root)"
        );
        assert_eq!(
            ipvs_strerror(
                None,
                &Error::IpvsUnavailable {
                    reason: String::new()
                }
            ),
            "Protocol not available"
        );
        assert_eq!(
            ipvs_strerror(
                Some(Op::Zero),
                &Error::Errno {
                    errno: libc::ENODEV
                }
            ),
            "No such device"
        );
        let nodev = Error::InvalidArgument {
            what: String::new(),
            errno: Some(libc::ENODEV),
        };
        assert_eq!(
            ipvs_strerror(Some(Op::StartDaemon), &nodev),
            "No such device"
        );
        let range = Error::InvalidArgument {
            what: String::new(),
            errno: Some(libc::ERANGE),
        };
        assert_eq!(
            ipvs_strerror(Some(Op::AddDest), &range),
            "Numerical result out of range"
        );
        let invalid = Error::InvalidArgument {
            what: String::new(),
            errno: None,
        };
        assert_eq!(
            ipvs_strerror(Some(Op::AddService), &invalid),
            "Invalid operation.  Possibly wrong module version, address not unicast, ..."
        );
    }
}
