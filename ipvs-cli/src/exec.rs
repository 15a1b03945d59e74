//! Carry out a parsed command line against the kernel through ipvs-core, and
//! say what to print and which exit code to return, as ipvsadm would.

use std::io::Read;

use ipvs_core::{Destination, Error, Handle, Info, Request, Service};

use crate::args::{self, Action, Failure, Format, ListWhat, Op, Output};
use crate::render::{self, Names, NoNames, SystemNames};
use crate::{conn, json, restore, sort, table};

/// What a run printed and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Text for stdout.
    pub stdout: String,
    /// Text for stderr.
    pub stderr: String,
    /// Exit status.
    pub code: i32,
}

impl Outcome {
    fn failed(f: Failure) -> Self {
        Outcome {
            stdout: String::new(),
            stderr: f.message,
            code: f.code,
        }
    }

    fn merge(&mut self, other: Outcome) {
        self.stdout.push_str(&other.stdout);
        self.stderr.push_str(&other.stderr);
        self.code = other.code;
    }
}

/// ipvsadm's version line (`-v`, and the first line of `-h`).
pub fn version_line(info: &Info) -> String {
    format!(
        "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v{})\n",
        info.version_string()
    )
}

/// ipvsadm's usage text for `program`.
pub fn usage(program: &str, info: &Info) -> String {
    let mut s = version_line(info);
    s.push_str(&include_str!("usage.txt").replace("{prog}", program));
    s
}

/// The errno behind a library error, where there is one.
fn errno_of(err: &Error) -> Option<i32> {
    Some(match err {
        Error::ServiceExists | Error::DestinationExists | Error::DaemonExists => libc::EEXIST,
        Error::NoSuchService | Error::NoSuchDaemon => libc::ESRCH,
        Error::NoSuchDestination | Error::SchedulerNotFound { .. } => libc::ENOENT,
        Error::InvalidArgument { errno, .. } => errno.unwrap_or(libc::EINVAL),
        Error::PermissionDenied => libc::EPERM,
        Error::IpvsUnavailable { .. } => libc::ENOPROTOOPT,
        Error::Errno { errno } => *errno,
        Error::Io(e) => e.raw_os_error()?,
        _ => return None,
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

fn strerror(errno: i32) -> String {
    let s = std::io::Error::from_raw_os_error(errno).to_string();
    // Rust appends " (os error N)"; ipvsadm prints the bare strerror text.
    match s.rfind(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Open the IPVS handle as ipvsadm's `main` does (libipvs's `ipvs_init` also
/// reads the IPVS info, so an unprivileged user fails here, as there): on
/// failure try loading the module once, then give up with its message and
/// exit code 2.
pub fn connect() -> Result<Handle, Outcome> {
    fn open() -> Result<Handle, Error> {
        let mut h = Handle::new()?;
        h.info()?;
        Ok(h)
    }
    match open() {
        Ok(h) => Ok(h),
        Err(_) => {
            let _ = std::process::Command::new("/sbin/modprobe")
                .arg("--")
                .arg("ip_vs")
                .status();
            open().map_err(|e| Outcome {
                stdout: String::new(),
                stderr: format!(
                    "Can't initialize ipvs: {}\nAre you sure that IP Virtual Server is built in the kernel or as module?\n",
                    ipvs_strerror(None, &e)
                ),
                code: 2,
            })
        }
    }
}

/// Run one ipvsadm command line (`args` without the program name).
pub fn run(program: &str, args: &[String], stdin: &mut dyn Read) -> Outcome {
    let action = if args.is_empty() {
        Ok(Action::List {
            what: ListWhat::All,
            format: Format::default(),
            output: Output::Text,
        })
    } else {
        args::parse(program, args, false)
    };
    let action = match action {
        Ok(a) => a,
        Err(f) => return Outcome::failed(f),
    };
    match &action {
        Action::Completions(shell) => return crate::generate::completions(shell),
        Action::Man => {
            return Outcome {
                stdout: crate::generate::man_page(),
                stderr: String::new(),
                code: 0,
            }
        }
        _ => {}
    }
    let mut handle = match connect() {
        Ok(h) => h,
        Err(o) => return o,
    };
    if action == Action::Restore {
        let mut text = String::new();
        if let Err(e) = stdin.read_to_string(&mut text) {
            return Outcome {
                stdout: String::new(),
                stderr: format!("cannot read stdin: {e}\n"),
                code: 2,
            };
        }
        return restore::restore(program, &text, &mut handle);
    }
    execute(program, &action, &mut handle)
}

/// Execute one resolved action.
pub fn execute(program: &str, action: &Action, h: &mut Handle) -> Outcome {
    match action {
        Action::Help | Action::Version => match h.info() {
            Ok(info) => Outcome {
                stdout: if *action == Action::Help {
                    usage(program, &info)
                } else {
                    version_line(&info)
                },
                ..Default::default()
            },
            Err(e) => Outcome {
                stderr: format!("{}\n", ipvs_strerror(None, &e)),
                code: 1,
                ..Default::default()
            },
        },
        Action::List {
            what,
            format,
            output,
        } => list(h, what, format, *output),
        Action::Save { format, lossless } => save(h, format, *lossless),
        Action::Restore => Outcome::failed(Failure::try_help(program)),
        Action::Apply { request, op } => apply(h, request, *op),
        Action::Completions(_) | Action::Man => Outcome::failed(Failure::try_help(program)),
    }
}

fn apply(h: &mut Handle, request: &Request, op: Op) -> Outcome {
    match h.execute(request) {
        Ok(()) => Outcome::default(),
        Err(e) => Outcome {
            stderr: format!("{}\n", ipvs_strerror(Some(op), &e)),
            code: 255,
            ..Default::default()
        },
    }
}

fn names_for(format: &Format) -> Box<dyn Names> {
    if format.numeric {
        Box::new(NoNames)
    } else {
        Box::new(SystemNames)
    }
}

/// Every service with its destinations, in ipvsadm's order.
pub fn table_snapshot(
    h: &mut Handle,
    nosort: bool,
) -> Result<Vec<(Service, Vec<Destination>)>, Error> {
    // The library's snapshot lists a service deleted between the service
    // dump and its destination dump with no destinations, as ipvsadm does.
    let mut out: Vec<(Service, Vec<Destination>)> = h
        .table()?
        .entries
        .into_iter()
        .map(|e| (e.service, e.destinations))
        .collect();
    if !nosort {
        sort::sort_services(&mut out, |(s, _)| s);
        for (_, dests) in &mut out {
            sort::sort_dests(dests);
        }
    }
    Ok(out)
}

fn list_error(out: &mut Outcome, e: &Error) {
    out.stderr
        .push_str(&format!("{}\n", ipvs_strerror(None, e)));
    out.code = 1;
}

fn list(h: &mut Handle, what: &ListWhat, format: &Format, output: Output) -> Outcome {
    let mut out = Outcome::default();
    let names = names_for(format);
    match what {
        ListWhat::All => {
            let info = match h.info() {
                Ok(i) => i,
                Err(e) => {
                    list_error(&mut out, &e);
                    return out;
                }
            };
            if output == Output::Text {
                out.stdout.push_str(&render::version_header(&info));
            }
            let snapshot = match table_snapshot(h, format.nosort) {
                Ok(s) => s,
                Err(e) => {
                    list_error(&mut out, &e);
                    return out;
                }
            };
            match output {
                Output::Text => {
                    out.stdout.push_str(&render::title(format));
                    for (s, d) in &snapshot {
                        out.stdout
                            .push_str(&render::service_entry(names.as_ref(), s, d, format));
                    }
                }
                Output::Json => {
                    out.stdout = json::to_text(&json::services_document(&info, &snapshot))
                }
                Output::Table => out.stdout = table::services(names.as_ref(), &snapshot, format),
            }
        }
        ListWhat::Service(key) => {
            let svc = match h.service(key) {
                Ok(s) => s,
                Err(e) => {
                    list_error(&mut out, &e);
                    return out;
                }
            };
            let mut dests = match h.destinations(key) {
                Ok(d) => d,
                Err(e) => {
                    list_error(&mut out, &e);
                    return out;
                }
            };
            if !format.nosort {
                sort::sort_dests(&mut dests);
            }
            let snapshot = vec![(svc, dests)];
            match output {
                Output::Text => {
                    out.stdout.push_str(&render::title(format));
                    out.stdout.push_str(&render::service_entry(
                        names.as_ref(),
                        &snapshot[0].0,
                        &snapshot[0].1,
                        format,
                    ));
                }
                Output::Json => match h.info() {
                    Ok(info) => {
                        out.stdout = json::to_text(&json::services_document(&info, &snapshot))
                    }
                    Err(e) => list_error(&mut out, &e),
                },
                Output::Table => out.stdout = table::services(names.as_ref(), &snapshot, format),
            }
        }
        ListWhat::Connections => {
            let text = match std::fs::read_to_string(conn::CONN_PROC_FILE) {
                Ok(t) => t,
                Err(_) => {
                    out.stderr = format!("cannot open file {}\n", conn::CONN_PROC_FILE);
                    out.code = 1;
                    return out;
                }
            };
            if text.is_empty() {
                out.stderr = format!("unexpected input from {}\n", conn::CONN_PROC_FILE);
                out.code = 1;
                return out;
            }
            let conns = match conn::parse_connections(&text) {
                Ok(c) => c,
                Err(e) => {
                    out.stderr = format!("{e}\n");
                    out.code = 1;
                    return out;
                }
            };
            match output {
                Output::Text => {
                    out.stdout.push_str(&render::connections_title(format));
                    for c in &conns {
                        out.stdout
                            .push_str(&render::connection(names.as_ref(), c, format));
                    }
                }
                Output::Json => out.stdout = json::to_text(&json::connections_document(&conns)),
                Output::Table => out.stdout = table::connections(names.as_ref(), &conns, format),
            }
        }
        ListWhat::Timeout => match h.timeouts() {
            Ok(t) => {
                out.stdout = match output {
                    Output::Text => render::timeouts(&t),
                    Output::Json => json::to_text(&json::timeout_document(&t)),
                    Output::Table => table::timeouts(&t),
                }
            }
            Err(e) => list_error(&mut out, &e),
        },
        ListWhat::Daemon => match h.daemons() {
            Ok(d) => {
                out.stdout = match output {
                    Output::Text => render::daemons(&d),
                    Output::Json => json::to_text(&json::daemon_document(&d)),
                    Output::Table => table::daemons(&d),
                }
            }
            Err(e) => list_error(&mut out, &e),
        },
        ListWhat::Info => match h.info() {
            Ok(i) => {
                out.stdout = match output {
                    Output::Text => render::version_header(&i),
                    Output::Json => json::to_text(&json::info_document(&i)),
                    Output::Table => table::info(&i),
                }
            }
            Err(e) => list_error(&mut out, &e),
        },
    }
    out
}

fn save(h: &mut Handle, format: &Format, lossless: bool) -> Outcome {
    let mut out = Outcome::default();
    let names = names_for(format);
    let snapshot = match table_snapshot(h, format.nosort) {
        Ok(s) => s,
        Err(e) => {
            list_error(&mut out, &e);
            return out;
        }
    };
    for (s, d) in &snapshot {
        let text = render::service_entry(names.as_ref(), s, d, format);
        if lossless {
            out.stdout.push_str(&crate::lossless::annotate(&text, d));
        } else {
            out.stdout.push_str(&text);
        }
    }
    if lossless {
        match (h.timeouts(), h.daemons()) {
            (Ok(t), Ok(daemons)) => out
                .stdout
                .push_str(&crate::lossless::extra_lines(&t, &daemons)),
            (Err(e), _) | (_, Err(e)) => list_error(&mut out, &e),
        }
    }
    out
}

/// Merge outcomes of consecutive commands (restore).
pub(crate) fn merge_into(acc: &mut Outcome, next: Outcome) {
    acc.merge(next);
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

    #[test]
    fn usage_names_the_program() {
        let info = Info::new(0x010201, 4096);
        let u = usage("/sbin/ipvsadm", &info);
        assert!(u.starts_with("ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)\nUsage:\n  /sbin/ipvsadm -A|E"));
        assert!(u.contains("  /sbin/ipvsadm --start-daemon {master|backup} [daemon-options]\n"));
        assert!(u.ends_with("  --mcast-ttl ttl                     Multicast TTL (default=1)\n"));
    }
}
