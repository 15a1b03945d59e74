//! The kernel's errno given its meaning by the request that caused it.

use crate::codec::Request;
use crate::error::Error;
use crate::netlink::NetlinkError;

/// What a request was, to give errnos their meaning.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ctx<'a> {
    Request(&'a Request),
    GetService,
    Query,
}

/// The typed error for a transport error answering a request of `ctx`.
pub(crate) fn map_error(e: NetlinkError, ctx: Ctx<'_>) -> Error {
    match e {
        NetlinkError::Kernel { errno, ext_ack } => map_errno(errno, ctx, ext_ack),
        other => Error::from(other),
    }
}

pub(crate) fn map_errno(errno: i32, ctx: Ctx<'_>, ext: Option<String>) -> Error {
    let detail = |base: String| match &ext {
        Some(m) => format!("{base}: {m}"),
        None => base,
    };
    if errno == libc::EPERM || errno == libc::EACCES {
        return Error::PermissionDenied;
    }
    let req = match ctx {
        Ctx::GetService if errno == libc::ESRCH => return Error::NoSuchService,
        Ctx::Request(r) => r,
        _ => return Error::Errno { errno },
    };
    use Request as R;
    match (req, errno) {
        (R::AddService(_), libc::EEXIST) => Error::ServiceExists,
        (R::AddService(s) | R::EditService(s), libc::ENOENT) => Error::SchedulerNotFound {
            name: match &s.pe_name {
                Some(pe) => format!("{} (or persistence engine {pe})", s.scheduler),
                None => s.scheduler.to_string(),
            },
        },
        (R::AddService(s) | R::EditService(s), libc::EINVAL) => Error::InvalidArgument {
            what: detail(format!(
                "service {} (scheduler {}, flags {:#x}, timeout {}, netmask {}) rejected by the kernel",
                s.key, s.scheduler, s.flags.bits(), s.timeout, s.netmask
            )),
            errno: Some(errno),
        },
        (R::EditService(_) | R::DeleteService(_) | R::Zero(Some(_)), libc::ESRCH) => Error::NoSuchService,
        (R::AddDestination(..) | R::EditDestination(..) | R::DeleteDestination(..), libc::ESRCH) => {
            Error::NoSuchService
        }
        (R::AddDestination(..), libc::EEXIST) => Error::DestinationExists,
        (R::EditDestination(..) | R::DeleteDestination(..), libc::ENOENT) => Error::NoSuchDestination,
        (R::AddDestination(_, d) | R::EditDestination(_, d), libc::EINVAL | libc::ERANGE) => {
            Error::InvalidArgument {
                what: detail(format!(
                    "destination {} ({:?}, weight {}, thresholds {}/{}, tunnel {:?}) rejected by the kernel",
                    d.socket_addr(),
                    d.forward,
                    d.weight,
                    d.upper_threshold,
                    d.lower_threshold,
                    d.tunnel_type
                )),
                errno: Some(errno),
            }
        }
        (R::StartDaemon(_), libc::EEXIST) => Error::DaemonExists,
        (R::StartDaemon(d), libc::ENODEV) => Error::InvalidArgument {
            what: detail(format!("multicast interface {:?} does not exist", d.mcast_ifn)),
            errno: Some(errno),
        },
        (R::StartDaemon(d), libc::EINVAL) => Error::InvalidArgument {
            what: detail(format!("sync daemon settings {d:?} rejected by the kernel")),
            errno: Some(errno),
        },
        (R::StopDaemon(_), libc::ESRCH) => Error::NoSuchDaemon,
        (R::SetTimeouts(t), libc::EINVAL) => Error::InvalidArgument {
            what: detail(format!("timeouts {t:?} rejected by the kernel")),
            errno: Some(errno),
        },
        _ => Error::Errno { errno },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    #[test]
    fn errno_mapping_depends_on_the_request() {
        let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
        let svc = Service::new(key, Scheduler::Rr);
        let dest = Destination::new(
            "198.51.100.1:80".parse().unwrap(),
            ForwardMethod::DirectRoute,
        );
        let add_svc = Request::AddService(svc.clone());
        let add_dest = Request::AddDestination(key, dest.clone());
        let del_dest = Request::DeleteDestination(key, dest.socket_addr());
        let m = |errno, r| map_errno(errno, Ctx::Request(r), None);
        assert!(matches!(m(libc::EEXIST, &add_svc), Error::ServiceExists));
        assert!(matches!(
            m(libc::EEXIST, &add_dest),
            Error::DestinationExists
        ));
        assert!(matches!(
            m(libc::ENOENT, &add_svc),
            Error::SchedulerNotFound { .. }
        ));
        assert!(matches!(
            m(libc::ENOENT, &del_dest),
            Error::NoSuchDestination
        ));
        assert!(matches!(m(libc::ESRCH, &add_dest), Error::NoSuchService));
        assert!(matches!(m(libc::EPERM, &add_dest), Error::PermissionDenied));
        assert!(
            matches!(m(libc::ENOMEM, &add_dest), Error::Errno { errno } if errno == libc::ENOMEM)
        );
        match map_errno(
            libc::EINVAL,
            Ctx::Request(&add_svc),
            Some("bad attr".into()),
        ) {
            Error::InvalidArgument { what, errno } => assert!(
                errno == Some(libc::EINVAL)
                    && what.contains("bad attr")
                    && what.contains("192.0.2.1:80"),
                "{what}"
            ),
            other => panic!("{other}"),
        }
    }
}
