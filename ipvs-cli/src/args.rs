//! ipvsadm 1.31's command line: which words mean what, which option is legal
//! with which command, and every message and exit code of a bad command line.
//!
//! [`parse`] only validates and resolves: it returns an [`Action`] (what to do)
//! or a [`Failure`] (what ipvsadm would print, and its exit code). Nothing here
//! talks to the kernel. The steps, each in its own module: popt reads the words
//! with the option table ([`crate::options`]); `entry` applies each option to
//! ipvsadm's command entry; `legality` checks the combination against
//! ipvsadm's tables; `resolve` turns it into an [`Action`].

use ipvs_core::{DaemonState, Request, ServiceKey};

use crate::options::{OptionDef, Tag, OPTIONS};
use crate::popt::Popt;

mod entry;
mod extension;
mod legality;
mod resolve;

use entry::{parse_timeout, Entry};

pub use crate::options::Command;

/// ipvsadm's option names, indexed by option bit.
pub const OPT_NAMES: [&str; 34] = [
    "numeric",
    "connection",
    "service-address",
    "scheduler",
    "persistent",
    "netmask",
    "real-server",
    "forwarding-method",
    "weight",
    "u-threshold",
    "l-threshold",
    "mcast-interface",
    "timeout",
    "daemon",
    "stats",
    "rate",
    "thresholds",
    "persistent-conn",
    "nosort",
    "syncid",
    "exact",
    "ops",
    "pe",
    "sched-flags",
    "mcast-group",
    "mcast-port",
    "mcast-ttl",
    "sync-maxlen",
    "tun-info",
    "tun-type",
    "tun-port",
    "tun-nocsum",
    "tun-csum",
    "tun-remcsum",
];

/// Option bits (index into [`OPT_NAMES`]).
#[allow(missing_docs)]
pub mod opt {
    pub const NUMERIC: u32 = 0;
    pub const CONNECTION: u32 = 1;
    pub const SERVICE: u32 = 2;
    pub const SCHEDULER: u32 = 3;
    pub const PERSISTENT: u32 = 4;
    pub const NETMASK: u32 = 5;
    pub const SERVER: u32 = 6;
    pub const FORWARD: u32 = 7;
    pub const WEIGHT: u32 = 8;
    pub const UTHRESHOLD: u32 = 9;
    pub const LTHRESHOLD: u32 = 10;
    pub const MCAST: u32 = 11;
    pub const TIMEOUT: u32 = 12;
    pub const DAEMON: u32 = 13;
    pub const STATS: u32 = 14;
    pub const RATE: u32 = 15;
    pub const THRESHOLDS: u32 = 16;
    pub const PERSISTENTCONN: u32 = 17;
    pub const NOSORT: u32 = 18;
    pub const SYNCID: u32 = 19;
    pub const EXACT: u32 = 20;
    pub const ONEPACKET: u32 = 21;
    pub const PE: u32 = 22;
    pub const SCHED_FLAGS: u32 = 23;
    pub const MCAST_GROUP: u32 = 24;
    pub const MCAST_PORT: u32 = 25;
    pub const MCAST_TTL: u32 = 26;
    pub const SYNC_MAXLEN: u32 = 27;
    pub const TUN_INFO: u32 = 28;
    pub const TUN_TYPE: u32 = 29;
    pub const TUN_PORT: u32 = 30;
    pub const TUN_NOCSUM: u32 = 31;
    pub const TUN_CSUM: u32 = 32;
    pub const TUN_REMCSUM: u32 = 33;
}

/// Longest persistence timeout ipvsadm accepts: 31 days.
pub const MAX_TIMEOUT: i64 = 86400 * 31;
/// ipvsadm's default persistence timeout (`-p` without a value).
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 360;
/// ipvsadm's default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// Output flags of the listings (ipvsadm's `FMT_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Format {
    /// `-n`
    pub numeric: bool,
    /// `-S` (rule format)
    pub rule: bool,
    /// `--stats`
    pub stats: bool,
    /// `--rate`
    pub rate: bool,
    /// `--thresholds`
    pub thresholds: bool,
    /// `--persistent-conn`
    pub persistent_conn: bool,
    /// `--nosort`
    pub nosort: bool,
    /// `--exact`
    pub exact: bool,
    /// `--tun-info`
    pub tun_info: bool,
}

/// How a listing is rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Output {
    /// ipvsadm's text, byte for byte.
    #[default]
    Text,
    /// One JSON document (`--json`).
    Json,
    /// A table for people (`--table`).
    Table,
}

/// What a listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListWhat {
    /// Every service (`-L`).
    All,
    /// One service (`-L -t ...`).
    Service(ServiceKey),
    /// Connections from `/proc/net/ip_vs_conn` (`-L -c`).
    Connections,
    /// Connection timeouts (`-L --timeout`).
    Timeout,
    /// Sync daemons (`-L --daemon`).
    Daemon,
    /// IPVS version and table size (`-L --info`, an extension).
    Info,
}

/// Which library call a change corresponds to; ipvsadm words kernel errors per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `ipvs_add_service`
    AddService,
    /// `ipvs_update_service`
    EditService,
    /// `ipvs_del_service`
    DeleteService,
    /// `ipvs_flush`
    Flush,
    /// `ipvs_add_dest`
    AddDest,
    /// `ipvs_update_dest`
    EditDest,
    /// `ipvs_del_dest`
    DeleteDest,
    /// `ipvs_zero_service`
    Zero,
    /// `ipvs_set_timeout`
    SetTimeout,
    /// `ipvs_start_daemon`
    StartDaemon,
    /// `ipvs_stop_daemon`
    StopDaemon,
}

/// A fully validated command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `-h`: usage on stdout.
    Help,
    /// `-v`: version on stdout.
    Version,
    /// A listing.
    List {
        /// What to show.
        what: ListWhat,
        /// ipvsadm's format flags.
        format: Format,
        /// Text, JSON or table.
        output: Output,
    },
    /// `-S`.
    Save {
        /// ipvsadm's format flags (`rule` set).
        format: Format,
        /// Also write what ipvsadm -S drops (`--lossless`).
        lossless: bool,
    },
    /// `-R`: read commands from stdin.
    Restore,
    /// One change to the table.
    Apply {
        /// The request for ipvs-core.
        request: Request,
        /// Which ipvsadm call it is (for error messages).
        op: Op,
    },
    /// `--completions SHELL` (extension).
    Completions(String),
    /// `--man` (extension).
    Man,
    /// `--apply FILE` and its options (extension).
    ApplyFile(ApplyCommand),
    /// `--sysctl`: the IPVS kernel parameters (extension).
    Sysctl {
        /// As a JSON document (`--json`).
        json: bool,
    },
    /// `--check`: the node's kernel settings against the advised ones (extension).
    Check {
        /// As a JSON array (`--json`).
        json: bool,
    },
}

/// A resolved `--apply` command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyCommand {
    /// The file, `-` for standard input.
    pub file: String,
    /// Print the plan only.
    pub dry_run: bool,
    /// What may be touched (none given: the whole table).
    pub scopes: Vec<ipvs_core::apply::Scope>,
    /// How long a TCP destination that goes may drain.
    pub drain_timeout: std::time::Duration,
    /// Carry on past refusals.
    pub best_effort: bool,
    /// Print the plan as JSON.
    pub json: bool,
}

/// What ipvsadm prints for a bad command line, and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Exit status.
    pub code: i32,
    /// Text for stderr (with its trailing newline).
    pub message: String,
}

impl Failure {
    /// ipvsadm's `fail(2, ...)`.
    pub fn fail(message: impl Into<String>) -> Self {
        let mut message = message.into();
        message.push('\n');
        Failure { code: 2, message }
    }

    /// ipvsadm's `tryhelp_exit(program, -1)`.
    pub fn try_help(program: &str) -> Self {
        Failure {
            code: 255,
            message: format!("Try `{program} -h' or '{program} --help' for more information.\n"),
        }
    }
}

/// Parse one ipvsadm command line. `program` is argv\[0\] (ipvsadm prints it
/// in its usage messages); `args` excludes it. `reading_stdin` is set for the
/// lines of `-R`, where a nested `-R` is refused as ipvsadm refuses it.
pub fn parse(program: &str, args: &[String], reading_stdin: bool) -> Result<Action, Failure> {
    let mut popt = Popt::new(OPTIONS, args.to_vec());
    let mut e = Entry::default();
    let cmd = match command(program, &mut popt, &mut e)? {
        Ok(cmd) => cmd,
        Err(action) => return Ok(action),
    };
    while let Some(o) = popt.next_opt().map_err(|err| Failure {
        code: 255,
        message: format!("{}: {}\n", err.bad_option(), err.description()),
    })? {
        e.apply(&o)?;
    }
    // ipvsadm refuses -R inside -R (its restore_table) after the option checks;
    // checking here gives the same message.
    let nested_restore = reading_stdin && cmd == Command::Restore;
    leftovers(cmd, &mut popt, &mut e)?;
    if !e.sched_flags_arg.is_empty() {
        e.flags |= legality::parse_sched_flags(&e.sched_name, &e.sched_flags_arg)?;
    }
    legality::generic_opt_check(cmd, e.options)?;
    legality::check_extensions(cmd, &e)?;
    if matches!(cmd, Command::AddService | Command::EditService) {
        legality::check_service(&mut e)?;
    }
    if matches!(cmd, Command::AddServer | Command::EditServer) {
        legality::check_server(&mut e)?;
    }
    if nested_restore {
        return Err(Failure::try_help(program));
    }
    resolve::resolve(cmd, e)
}

/// The first option must be the command: `Ok(Ok(command))`, or
/// `Ok(Err(action))` for the commands that are done at once (`-h`, `-v`, ...).
fn command(
    program: &str,
    popt: &mut Popt<'_, Tag, OptionDef>,
    e: &mut Entry,
) -> Result<Result<Command, Action>, Failure> {
    let first = match popt.next_opt() {
        Ok(Some(o)) => o,
        _ => return Err(Failure::try_help(program)),
    };
    let start = first.tag == Tag::StartDaemon;
    let cmd = match first.tag {
        Tag::Cmd(c) => c,
        Tag::StartDaemon | Tag::StopDaemon => {
            e.daemon_state = match first.arg.as_deref() {
                Some("master") => Some(DaemonState::Master),
                Some("backup") => Some(DaemonState::Backup),
                _ if start => {
                    return Err(Failure::fail("illegal start-daemon parameter specified"))
                }
                _ => return Err(Failure::fail("illegal start_daemon specified")),
            };
            if start {
                Command::StartDaemon
            } else {
                Command::StopDaemon
            }
        }
        Tag::Help => return Ok(Err(Action::Help)),
        Tag::Version => return Ok(Err(Action::Version)),
        Tag::Completions => return Ok(Err(Action::Completions(first.arg.unwrap_or_default()))),
        Tag::Man => return Ok(Err(Action::Man)),
        Tag::Apply => {
            return extension::apply_command(first.arg.unwrap_or_default(), popt).map(Err)
        }
        Tag::Sysctl => return extension::sysctl_command(popt).map(Err),
        Tag::Check => return extension::check_command(popt).map(Err),
        _ => return Err(Failure::try_help(program)),
    };
    e.cmd = Some(cmd);
    Ok(Ok(cmd))
}

/// Words that are not options: `--set`'s three timeouts, and nothing else.
fn leftovers(
    cmd: Command,
    popt: &mut Popt<'_, Tag, OptionDef>,
    e: &mut Entry,
) -> Result<(), Failure> {
    if cmd == Command::Set {
        match (popt.get_arg(), popt.get_arg(), popt.get_arg()) {
            (Some(a), Some(b), Some(c)) => {
                e.timeouts.tcp = parse_timeout(Some(&a), 0, MAX_TIMEOUT)?;
                e.timeouts.tcp_fin = parse_timeout(Some(&b), 0, MAX_TIMEOUT)?;
                e.timeouts.udp = parse_timeout(Some(&c), 0, MAX_TIMEOUT)?;
            }
            _ => return Err(Failure::fail("--set option requires 3 timeout values")),
        }
    }
    match popt.get_arg() {
        Some(extra) => Err(Failure::fail(format!("unexpected argument {extra}"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::{ForwardMethod, Netmask, Scheduler, ServiceFlags};
    use std::net::Ipv4Addr;

    fn p(line: &str) -> Result<Action, Failure> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse("ipvsadm", &args, false)
    }

    fn err(line: &str) -> (i32, String) {
        let f = p(line).expect_err(line);
        (f.code, f.message)
    }

    #[test]
    fn apply_takes_its_options_once_each_but_scope_and_nothing_else() {
        let Ok(Action::ApplyFile(cmd)) = p(
            "--apply want --scope 192.0.2.0/24 --scope fwmark:7 --dry-run --drain-timeout 5 --json",
        ) else {
            panic!("--apply with its options");
        };
        assert_eq!(cmd.file, "want");
        assert_eq!(cmd.scopes.len(), 2);
        assert!(cmd.dry_run && cmd.json && !cmd.best_effort);
        assert_eq!(cmd.drain_timeout, std::time::Duration::from_secs(5));
        assert_eq!(
            err("--apply want -n"),
            (2, "option `-n' does not go with --apply\n".into())
        );
        assert_eq!(
            err("--apply want --dry-run --dry-run"),
            (2, "multiple '--dry-run' options specified\n".into())
        );
        assert_eq!(
            err("--apply want --drain-timeout soon"),
            (2, "invalid drain timeout `soon' specified\n".into())
        );
        assert_eq!(err("--apply want x"), (2, "unexpected argument x\n".into()));
    }

    #[test]
    fn sysctl_takes_only_json() {
        assert_eq!(p("--sysctl"), Ok(Action::Sysctl { json: false }));
        assert_eq!(p("--sysctl --json"), Ok(Action::Sysctl { json: true }));
        assert_eq!(
            err("--sysctl -n"),
            (2, "option `-n' does not go with --sysctl\n".into())
        );
        assert_eq!(
            err("--sysctl --json --json"),
            (2, "multiple '--json' options specified\n".into())
        );
        assert_eq!(err("--sysctl x"), (2, "unexpected argument x\n".into()));
        assert_eq!(
            err("-L --sysctl"),
            (2, "invalid option `--sysctl'\n".into())
        );
    }

    #[test]
    fn check_takes_only_json() {
        assert_eq!(p("--check"), Ok(Action::Check { json: false }));
        assert_eq!(p("--check --json"), Ok(Action::Check { json: true }));
        assert_eq!(
            err("--check --stats"),
            (2, "option `--stats' does not go with --check\n".into())
        );
        assert_eq!(
            err("--check --json --json"),
            (2, "multiple '--json' options specified\n".into())
        );
        assert_eq!(err("--check all"), (2, "unexpected argument all\n".into()));
        assert_eq!(err("-L --check"), (2, "invalid option `--check'\n".into()));
    }

    #[test]
    fn add_service_defaults() {
        let Ok(Action::Apply {
            request: Request::AddService(s),
            op: Op::AddService,
        }) = p("-A -t 192.0.2.1:80")
        else {
            panic!("not an add")
        };
        assert_eq!(s.scheduler, Scheduler::Wlc);
        assert_eq!(s.key, ServiceKey::tcp("192.0.2.1:80".parse().unwrap()));
        assert_eq!(s.netmask, Netmask::V4(Ipv4Addr::BROADCAST));
        assert_eq!(s.flags, ServiceFlags::EMPTY);
    }

    #[test]
    fn persistent_default_and_explicit() {
        let Ok(Action::Apply {
            request: Request::AddService(s),
            ..
        }) = p("-A -t 192.0.2.1:80 -p")
        else {
            panic!()
        };
        assert_eq!((s.timeout, s.flags), (360, ServiceFlags::PERSISTENT));
        let Ok(Action::Apply {
            request: Request::AddService(s),
            ..
        }) = p("-A -t 192.0.2.1:80 -p600")
        else {
            panic!()
        };
        assert_eq!(s.timeout, 600);
    }

    #[test]
    fn dest_port_rules() {
        // Direct routing forces the service port; NAT keeps the given one.
        let Ok(Action::Apply {
            request: Request::AddDestination(_, d),
            ..
        }) = p("-a -t 192.0.2.1:80 -r 192.0.2.5:8080")
        else {
            panic!()
        };
        assert_eq!((d.port, d.forward), (80, ForwardMethod::DirectRoute));
        let Ok(Action::Apply {
            request: Request::AddDestination(_, d),
            ..
        }) = p("-a -t 192.0.2.1:80 -r 192.0.2.5:8080 -m -w 3")
        else {
            panic!()
        };
        assert_eq!((d.port, d.weight), (8080, 3));
        // -r before -t: the service port is not known yet.
        let Ok(Action::Apply {
            request: Request::AddDestination(_, d),
            ..
        }) = p("-a -r 192.0.2.5 -t 192.0.2.1:80 -m")
        else {
            panic!()
        };
        assert_eq!(d.port, 0);
    }

    #[test]
    fn messages_match_ipvsadm() {
        assert_eq!(
            err("-A"),
            (
                2,
                "You need to supply the 'service-address' option for the 'add-service' command\n"
                    .into()
            )
        );
        assert_eq!(
            err("-k"),
            (
                255,
                "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n".into()
            )
        );
        assert_eq!(err("-Lnx"), (255, "-Lnx: missing argument\n".into()));
        assert_eq!(err("-L -A"), (2, "invalid option `-A'\n".into()));
        assert_eq!(err("-A -6 -f 1"), (2, "-6 used before -f\n\n".into()));
        assert_eq!(
            err("-L -c --stats"),
            (2, "options conflicts in the list command\n".into())
        );
        assert_eq!(
            err("-a -t 192.0.2.1:80 -r 192.0.2.5 -i --tun-type gue --tun-port 6080 --tun-csum --tun-nocsum"),
            (2, "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type\n".into())
        );
        assert_eq!(
            err("--set 1 2"),
            (2, "--set option requires 3 timeout values\n".into())
        );
        assert_eq!(
            err("-A -t 192.0.2.1:80 -p -1"),
            (255, "-1: unknown option\n".into())
        );
    }

    #[test]
    fn list_modes() {
        assert!(matches!(
            p("-Ln"),
            Ok(Action::List {
                what: ListWhat::All,
                format: Format { numeric: true, .. },
                ..
            })
        ));
        assert!(matches!(
            p("-Lc"),
            Ok(Action::List {
                what: ListWhat::Connections,
                ..
            })
        ));
        assert!(matches!(
            p("-L --timeout"),
            Ok(Action::List {
                what: ListWhat::Timeout,
                ..
            })
        ));
        assert!(matches!(
            p("-L --json"),
            Ok(Action::List {
                output: Output::Json,
                ..
            })
        ));
        assert_eq!(
            err("-A -t 192.0.2.1:80 --json").1,
            "Illegal 'json' option with the 'add-service' command\n"
        );
    }
}
