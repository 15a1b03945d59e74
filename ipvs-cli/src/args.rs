//! ipvsadm 1.31's command line: which words mean what, which option is legal
//! with which command, and every message and exit code of a bad command line.
//!
//! [`parse`] only validates and resolves: it returns an [`Action`] (what to do)
//! or a [`Failure`] (what ipvsadm would print, and its exit code). Nothing here
//! talks to the kernel.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipvs_core::{
    AddressFamily, DaemonState, Destination, ForwardMethod, Netmask, Protocol, Request, Scheduler,
    Service, ServiceFlags, ServiceKey, SyncDaemon, Timeouts, TunnelChecksum, TunnelType,
};

use crate::addr;
use crate::popt::{ArgKind, OptSpec, Popt};

/// ipvsadm's commands, in the order of its command table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `-A`
    AddService,
    /// `-E`
    EditService,
    /// `-D`
    DeleteService,
    /// `-C`
    Flush,
    /// `-L`, `-l`
    List,
    /// `-a`
    AddServer,
    /// `-d`
    DeleteServer,
    /// `-e`
    EditServer,
    /// `--set`
    Set,
    /// `--start-daemon`
    StartDaemon,
    /// `--stop-daemon`
    StopDaemon,
    /// `-R`
    Restore,
    /// `-S`
    Save,
    /// `-Z`
    Zero,
}

impl Command {
    /// The name ipvsadm uses in its messages.
    pub fn name(self) -> &'static str {
        CMD_NAMES[self as usize]
    }
}

const CMD_NAMES: [&str; 14] = [
    "add-service",
    "edit-service",
    "delete-service",
    "flush",
    "list",
    "add-server",
    "delete-server",
    "edit-server",
    "set",
    "start-daemon",
    "stop-daemon",
    "restore",
    "save",
    "zero",
];

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

/// Which option is legal with which command (ipvsadm's `commands_v_options`):
/// `+` compulsory, `x` illegal, `1` at most one of these, ` ` optional.
/// Rows follow [`Command`], columns [`OPT_NAMES`].
const COMMANDS_V_OPTIONS: [&[u8; 34]; 14] = [
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // add-service
    b"xx+   xxxxxxxxxxxxxxx   xxxxxxxxxx", // edit-service
    b"xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-service
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // flush
    b" 11xxxxxxxxx11       xxxxxxx xxxxx", // list
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // add-server
    b"xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx", // delete-server
    b"xx+xxx+    xxxxxxxxxxxxxxxxxx     ", // edit-server
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // set
    b"xxxxxxxxxxx xxxxxxx xxxx    xxxxxx", // start-daemon
    b"xxxxxxxxxxxxxxxxxxx xxxxxxxxxxxxxx", // stop-daemon
    b"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // restore
    b" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // save
    b"xx xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", // zero
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tag {
    Cmd(Command),
    Help,
    Version,
    StartDaemon,
    StopDaemon,
    Tcp,
    Udp,
    Sctp,
    Fwmark,
    Scheduler,
    Persistent,
    Netmask,
    RealServer,
    Masq,
    Ipip,
    Gate,
    Weight,
    UThreshold,
    LThreshold,
    Numeric,
    Connection,
    McastInterface,
    SyncId,
    Timeout,
    Daemon,
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    NoSort,
    Sort,
    Exact,
    Ipv6,
    Ops,
    Pe,
    SchedFlags,
    McastGroup,
    McastPort,
    McastTtl,
    SyncMaxlen,
    TunInfo,
    TunType,
    TunPort,
    TunNoCsum,
    TunCsum,
    TunRemCsum,
    // Extensions (not in ipvsadm).
    Json,
    Table,
    Lossless,
    Info,
    Completions,
    Man,
}

macro_rules! o {
    ($long:expr, $short:expr, $arg:ident, $tag:expr) => {
        OptSpec {
            long: $long,
            short: $short,
            arg: ArgKind::$arg,
            tag: $tag,
        }
    };
}

/// ipvsadm 1.31's popt table, in its order, plus our extensions at the end.
const OPTIONS: &[OptSpec<Tag>] = &[
    o!(
        Some("add-service"),
        Some('A'),
        None,
        Tag::Cmd(Command::AddService)
    ),
    o!(
        Some("edit-service"),
        Some('E'),
        None,
        Tag::Cmd(Command::EditService)
    ),
    o!(
        Some("delete-service"),
        Some('D'),
        None,
        Tag::Cmd(Command::DeleteService)
    ),
    o!(Some("clear"), Some('C'), None, Tag::Cmd(Command::Flush)),
    o!(Some("list"), Some('L'), None, Tag::Cmd(Command::List)),
    o!(Some("list"), Some('l'), None, Tag::Cmd(Command::List)),
    o!(Some("zero"), Some('Z'), None, Tag::Cmd(Command::Zero)),
    o!(
        Some("add-server"),
        Some('a'),
        None,
        Tag::Cmd(Command::AddServer)
    ),
    o!(
        Some("edit-server"),
        Some('e'),
        None,
        Tag::Cmd(Command::EditServer)
    ),
    o!(
        Some("delete-server"),
        Some('d'),
        None,
        Tag::Cmd(Command::DeleteServer)
    ),
    o!(Some("set"), None, None, Tag::Cmd(Command::Set)),
    o!(Some("help"), Some('h'), None, Tag::Help),
    o!(Some("version"), Some('v'), None, Tag::Version),
    o!(Some("restore"), Some('R'), None, Tag::Cmd(Command::Restore)),
    o!(Some("save"), Some('S'), None, Tag::Cmd(Command::Save)),
    o!(Some("start-daemon"), None, Required, Tag::StartDaemon),
    o!(Some("stop-daemon"), None, Required, Tag::StopDaemon),
    o!(Some("tcp-service"), Some('t'), Required, Tag::Tcp),
    o!(Some("udp-service"), Some('u'), Required, Tag::Udp),
    o!(Some("sctp-service"), None, Required, Tag::Sctp),
    o!(Some("fwmark-service"), Some('f'), Required, Tag::Fwmark),
    o!(Some("scheduler"), Some('s'), Required, Tag::Scheduler),
    o!(Some("persistent"), Some('p'), Optional, Tag::Persistent),
    o!(Some("netmask"), Some('M'), Required, Tag::Netmask),
    o!(Some("real-server"), Some('r'), Required, Tag::RealServer),
    o!(Some("masquerading"), Some('m'), None, Tag::Masq),
    o!(Some("ipip"), Some('i'), None, Tag::Ipip),
    o!(Some("gatewaying"), Some('g'), None, Tag::Gate),
    o!(Some("weight"), Some('w'), Required, Tag::Weight),
    o!(Some("u-threshold"), Some('x'), Required, Tag::UThreshold),
    o!(Some("l-threshold"), Some('y'), Required, Tag::LThreshold),
    o!(Some("numeric"), Some('n'), None, Tag::Numeric),
    o!(Some("connection"), Some('c'), None, Tag::Connection),
    o!(Some("mcast-interface"), None, Required, Tag::McastInterface),
    o!(Some("syncid"), None, Required, Tag::SyncId),
    o!(Some("timeout"), None, None, Tag::Timeout),
    o!(Some("daemon"), None, None, Tag::Daemon),
    o!(Some("stats"), None, None, Tag::Stats),
    o!(Some("rate"), None, None, Tag::Rate),
    o!(Some("thresholds"), None, None, Tag::Thresholds),
    o!(Some("persistent-conn"), None, None, Tag::PersistentConn),
    o!(Some("nosort"), None, None, Tag::NoSort),
    o!(Some("sort"), None, None, Tag::Sort),
    o!(Some("exact"), Some('X'), None, Tag::Exact),
    o!(Some("ipv6"), Some('6'), None, Tag::Ipv6),
    o!(Some("ops"), Some('o'), None, Tag::Ops),
    o!(Some("pe"), None, Required, Tag::Pe),
    o!(Some("sched-flags"), Some('b'), Required, Tag::SchedFlags),
    o!(Some("mcast-group"), None, Required, Tag::McastGroup),
    o!(Some("mcast-port"), None, Required, Tag::McastPort),
    o!(Some("mcast-ttl"), None, Required, Tag::McastTtl),
    o!(Some("sync-maxlen"), None, Required, Tag::SyncMaxlen),
    o!(Some("tun-info"), None, None, Tag::TunInfo),
    o!(Some("tun-type"), None, Required, Tag::TunType),
    o!(Some("tun-port"), None, Required, Tag::TunPort),
    o!(Some("tun-nocsum"), None, None, Tag::TunNoCsum),
    o!(Some("tun-csum"), None, None, Tag::TunCsum),
    o!(Some("tun-remcsum"), None, None, Tag::TunRemCsum),
    o!(Some("json"), None, None, Tag::Json),
    o!(Some("table"), None, None, Tag::Table),
    o!(Some("lossless"), None, None, Tag::Lossless),
    o!(Some("info"), None, None, Tag::Info),
    o!(Some("completions"), None, Required, Tag::Completions),
    o!(Some("man"), None, None, Tag::Man),
];

/// Every long option name we accept (for completions and the man page).
pub fn long_options() -> impl Iterator<Item = (&'static str, Option<char>, bool)> {
    let mut seen = Vec::new();
    OPTIONS.iter().filter_map(move |o| {
        let long = o.long?;
        if seen.contains(&long) {
            return None;
        }
        seen.push(long);
        Some((long, o.short, o.arg != ArgKind::None))
    })
}

/// The state ipvsadm builds while parsing (its `ipvs_command_entry`).
#[derive(Debug, Clone)]
struct Entry {
    cmd: Option<Command>,
    options: u64,
    format: Format,
    // Service.
    svc_family: Option<AddressFamily>,
    protocol: Option<Protocol>,
    svc_addr: Option<IpAddr>,
    svc_port: u16,
    fwmark: u32,
    sched_name: String,
    flags: u32,
    timeout: u32,
    /// An IPv4 mask as a host-order number, or an IPv6 prefix length.
    netmask: u32,
    pe_name: String,
    sched_flags_arg: String,
    // Destination.
    dest_addr: Option<IpAddr>,
    dest_port: u16,
    forward: ForwardMethod,
    weight: u32,
    u_threshold: u32,
    l_threshold: u32,
    tun_type: TunnelType,
    tun_port: u16,
    tun_flags: u16,
    // --set
    timeouts: Timeouts,
    // Daemon.
    daemon_state: Option<DaemonState>,
    mcast_ifn: String,
    syncid: u32,
    sync_maxlen: u16,
    mcast_group: Option<IpAddr>,
    mcast_port: u16,
    mcast_ttl: u8,
    // Extensions.
    output: Output,
    lossless: bool,
    info: bool,
    ext_options: Vec<&'static str>,
}

impl Default for Entry {
    fn default() -> Self {
        Entry {
            cmd: None,
            options: 0,
            format: Format::default(),
            svc_family: None,
            protocol: None,
            svc_addr: None,
            svc_port: 0,
            fwmark: 0,
            sched_name: String::new(),
            flags: 0,
            timeout: 0,
            netmask: 0xffff_ffff,
            pe_name: String::new(),
            sched_flags_arg: String::new(),
            dest_addr: None,
            dest_port: 0,
            forward: ForwardMethod::DirectRoute,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunnelType::Ipip,
            tun_port: 0,
            tun_flags: 0,
            timeouts: Timeouts::default(),
            daemon_state: None,
            mcast_ifn: String::new(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
            output: Output::Text,
            lossless: false,
            info: false,
            ext_options: Vec::new(),
        }
    }
}

impl Entry {
    fn set_option(&mut self, bit: u32) -> Result<(), Failure> {
        if self.options & (1 << bit) != 0 {
            return Err(Failure::fail(format!(
                "multiple '{}' options specified",
                OPT_NAMES[bit as usize]
            )));
        }
        self.options |= 1 << bit;
        Ok(())
    }

    fn has(&self, bit: u32) -> bool {
        self.options & (1 << bit) != 0
    }

    fn set_ext(&mut self, name: &'static str) -> Result<(), Failure> {
        if self.ext_options.contains(&name) {
            return Err(Failure::fail(format!(
                "multiple '{name}' options specified"
            )));
        }
        self.ext_options.push(name);
        Ok(())
    }
}

fn truncate(s: &str, max: usize) -> String {
    // strncpy into a fixed buffer: at most `max` bytes survive.
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn parse_timeout(arg: Option<&str>, min: i64, max: i64) -> Result<u32, Failure> {
    match arg {
        None => Ok(DEFAULT_PERSISTENT_TIMEOUT),
        Some(a) => addr::string_to_number(a, min, max)
            .map(|n| n as u32)
            .ok_or_else(|| Failure::fail(format!("invalid timeout value `{a}' specified"))),
    }
}

fn parse_sched_flags(scheduler: &str, arg: &str) -> Result<u32, Failure> {
    let scheduler = if scheduler.is_empty() {
        DEFAULT_SCHEDULER
    } else {
        scheduler
    };
    let mut flags = 0;
    let mut any = false;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        any = true;
        let (bits, needs) = match flag {
            "flag-1" => (ServiceFlags::SCHED1, None),
            "flag-2" => (ServiceFlags::SCHED2, None),
            "flag-3" => (ServiceFlags::SCHED3, None),
            "sh-fallback" => (ServiceFlags::SH_FALLBACK, Some("sh")),
            "sh-port" => (ServiceFlags::SH_PORT, Some("sh")),
            "mh-fallback" => (ServiceFlags::MH_FALLBACK, Some("mh")),
            "mh-port" => (ServiceFlags::MH_PORT, Some("mh")),
            _ => return Err(Failure::fail(format!("invalid scheduler flag `{flag}'"))),
        };
        flags |= bits.bits();
        if needs.is_some_and(|s| s != scheduler) {
            return Err(Failure::fail(format!(
                "incompatible scheduler flag `{flag}'"
            )));
        }
    }
    if !any {
        // ipvsadm 1.31 crashes (strtok returns NULL) on a list of only commas.
        return Err(Failure::fail(format!("invalid scheduler flag `{arg}'")));
    }
    Ok(flags)
}

fn parse_tun_type(arg: &str) -> Option<TunnelType> {
    match arg {
        "ipip" => Some(TunnelType::Ipip),
        "gue" => Some(TunnelType::Gue),
        "gre" => Some(TunnelType::Gre),
        _ => None,
    }
}

/// Tunnel options vs tunnel type (ipvsadm's `tunnel_types_v_options`):
/// columns tun-port, tun-nocsum, tun-csum, tun-remcsum.
const TUNNEL_TYPES_V_OPTIONS: [&[u8; 4]; 3] = [b"xxxx", b"+111", b"x11x"];
const TUNNEL_OPTS: [u32; 4] = [
    opt::TUN_PORT,
    opt::TUN_NOCSUM,
    opt::TUN_CSUM,
    opt::TUN_REMCSUM,
];

fn tunnel_opt_check(tun_type: TunnelType, options: u64) -> Result<(), Failure> {
    let type_name = match tun_type {
        TunnelType::Ipip => "ipip",
        TunnelType::Gue => "gue",
        TunnelType::Gre => "gre",
        _ => "unknown",
    };
    let row = TUNNEL_TYPES_V_OPTIONS[tun_type.to_raw() as usize];
    let mut last: Option<usize> = None;
    for (j, bit) in TUNNEL_OPTS.iter().enumerate() {
        let name = OPT_NAMES[*bit as usize];
        if options & (1 << bit) == 0 {
            if row[j] == b'+' {
                return Err(Failure::fail(format!(
                    "You need to supply the '{name}' option for the '{type_name}' tunnel type"
                )));
            }
        } else {
            if row[j] == b'x' {
                return Err(Failure::fail(format!(
                    "Illegal '{name}' option with the '{type_name}' tunnel type"
                )));
            }
            if row[j] == b'1' {
                if let Some(prev) = last {
                    return Err(Failure::fail(format!(
                        "The option '{name}' conflicts with the '{}' option in the '{type_name}' tunnel type",
                        OPT_NAMES[TUNNEL_OPTS[prev] as usize]
                    )));
                }
                last = Some(j);
            }
        }
    }
    Ok(())
}

fn generic_opt_check(cmd: Command, options: u64) -> Result<(), Failure> {
    let row = COMMANDS_V_OPTIONS[cmd as usize];
    let mut last: Option<usize> = None;
    for (j, name) in OPT_NAMES.iter().enumerate() {
        if options & (1 << j) == 0 {
            if row[j] == b'+' {
                return Err(Failure::fail(format!(
                    "You need to supply the '{name}' option for the '{}' command",
                    cmd.name()
                )));
            }
        } else {
            if row[j] == b'x' {
                return Err(Failure::fail(format!(
                    "Illegal '{name}' option with the '{}' command",
                    cmd.name()
                )));
            }
            if row[j] == b'1' {
                if let Some(prev) = last {
                    return Err(Failure::fail(format!(
                        "The option '{name}' conflicts with the '{}' option in the '{}' command",
                        OPT_NAMES[prev],
                        cmd.name()
                    )));
                }
                last = Some(j);
            }
        }
    }
    Ok(())
}

/// Parse one ipvsadm command line. `program` is argv\[0\] (ipvsadm prints it
/// in its usage messages); `args` excludes it. `reading_stdin` is set for the
/// lines of `-R`, where a nested `-R` is refused as ipvsadm refuses it.
pub fn parse(program: &str, args: &[String], reading_stdin: bool) -> Result<Action, Failure> {
    let mut popt = Popt::new(OPTIONS, args.to_vec());
    let mut e = Entry::default();

    let first = match popt.next_opt() {
        Ok(Some(o)) => o,
        _ => return Err(Failure::try_help(program)),
    };
    match first.tag {
        Tag::Cmd(c) => e.cmd = Some(c),
        Tag::StartDaemon | Tag::StopDaemon => {
            let start = first.tag == Tag::StartDaemon;
            e.cmd = Some(if start {
                Command::StartDaemon
            } else {
                Command::StopDaemon
            });
            e.daemon_state = match first.arg.as_deref() {
                Some("master") => Some(DaemonState::Master),
                Some("backup") => Some(DaemonState::Backup),
                _ if start => {
                    return Err(Failure::fail("illegal start-daemon parameter specified"))
                }
                _ => return Err(Failure::fail("illegal start_daemon specified")),
            };
        }
        Tag::Help => return Ok(Action::Help),
        Tag::Version => return Ok(Action::Version),
        Tag::Completions => return Ok(Action::Completions(first.arg.unwrap_or_default())),
        Tag::Man => return Ok(Action::Man),
        _ => return Err(Failure::try_help(program)),
    }

    loop {
        let o = match popt.next_opt() {
            Ok(Some(o)) => o,
            Ok(None) => break,
            Err(err) => {
                return Err(Failure {
                    code: 255,
                    message: format!("{}: {}\n", err.bad_option(), err.description()),
                })
            }
        };
        let arg = o.arg.clone().unwrap_or_default();
        match o.tag {
            Tag::Tcp | Tag::Udp | Tag::Sctp => {
                e.set_option(opt::SERVICE)?;
                e.protocol = Some(match o.tag {
                    Tag::Tcp => Protocol::Tcp,
                    Tag::Udp => Protocol::Udp,
                    _ => Protocol::Sctp,
                });
                let parsed = addr::parse_service(&arg, e.protocol).ok_or_else(|| {
                    Failure::fail("illegal virtual server address[:port] specified")
                })?;
                e.svc_addr = Some(parsed.addr);
                e.svc_family = Some(AddressFamily::of(&parsed.addr));
                if parsed.addr.is_ipv6() {
                    e.netmask = 128;
                }
                if let Some(p) = parsed.port {
                    e.svc_port = p;
                }
            }
            Tag::Fwmark => {
                e.set_option(opt::SERVICE)?;
                e.svc_family = Some(AddressFamily::Inet);
                e.protocol = Some(Protocol::Tcp);
                e.fwmark = addr::parse_fwmark(&arg).ok_or_else(|| {
                    Failure::fail(format!("invalid fwmark value `{arg}' specified"))
                })?;
            }
            Tag::Scheduler => {
                e.set_option(opt::SCHEDULER)?;
                e.sched_name = truncate(&arg, 15);
            }
            Tag::Persistent => {
                e.set_option(opt::PERSISTENT)?;
                e.flags |= ServiceFlags::PERSISTENT.bits();
                e.timeout = parse_timeout(o.arg.as_deref(), 1, MAX_TIMEOUT)?;
            }
            Tag::Netmask => {
                e.set_option(opt::NETMASK)?;
                if e.svc_family != Some(AddressFamily::Inet6) {
                    let mask = addr::parse_netmask(&arg).ok_or_else(|| {
                        Failure::fail("illegal virtual server persistent mask specified")
                    })?;
                    e.netmask = u32::from(mask);
                } else {
                    let plen = addr::atoi(&arg);
                    if !(1..=128).contains(&plen) {
                        return Err(Failure::fail("illegal ipv6 netmask specified"));
                    }
                    e.netmask = plen as u32;
                }
            }
            Tag::RealServer => {
                e.set_option(opt::SERVER)?;
                let parsed = addr::parse_service(&arg, e.protocol)
                    .ok_or_else(|| Failure::fail("illegal real server address[:port] specified"))?;
                e.dest_addr = Some(parsed.addr);
                // No port given: the service's port (as far as it is known yet).
                e.dest_port = parsed.port.unwrap_or(e.svc_port);
            }
            Tag::Ipip | Tag::Gate | Tag::Masq => {
                e.set_option(opt::FORWARD)?;
                e.forward = match o.tag {
                    Tag::Ipip => ForwardMethod::Tunnel,
                    Tag::Gate => ForwardMethod::DirectRoute,
                    _ => ForwardMethod::Masquerade,
                };
            }
            Tag::Weight => {
                e.set_option(opt::WEIGHT)?;
                e.weight = addr::string_to_number(&arg, 0, i64::from(i32::MAX))
                    .ok_or_else(|| Failure::fail("illegal weight specified"))?
                    as u32;
            }
            Tag::UThreshold => {
                e.set_option(opt::UTHRESHOLD)?;
                e.u_threshold = addr::string_to_number(&arg, 0, i64::from(i32::MAX))
                    .ok_or_else(|| Failure::fail("illegal u_threshold specified"))?
                    as u32;
            }
            Tag::LThreshold => {
                e.set_option(opt::LTHRESHOLD)?;
                e.l_threshold = addr::string_to_number(&arg, 0, i64::from(i32::MAX))
                    .ok_or_else(|| Failure::fail("illegal l_threshold specified"))?
                    as u32;
            }
            Tag::Connection => e.set_option(opt::CONNECTION)?,
            Tag::Numeric => {
                e.set_option(opt::NUMERIC)?;
                e.format.numeric = true;
            }
            Tag::McastInterface => {
                e.set_option(opt::MCAST)?;
                e.mcast_ifn = truncate(&arg, 15);
            }
            Tag::SyncId => {
                e.set_option(opt::SYNCID)?;
                e.syncid = addr::string_to_number(&arg, 0, 255)
                    .ok_or_else(|| Failure::fail("illegal syncid specified"))?
                    as u32;
            }
            Tag::Timeout => e.set_option(opt::TIMEOUT)?,
            Tag::Daemon => e.set_option(opt::DAEMON)?,
            Tag::Stats => {
                e.set_option(opt::STATS)?;
                e.format.stats = true;
            }
            Tag::Rate => {
                e.set_option(opt::RATE)?;
                e.format.rate = true;
            }
            Tag::Thresholds => {
                e.set_option(opt::THRESHOLDS)?;
                e.format.thresholds = true;
            }
            Tag::PersistentConn => {
                e.set_option(opt::PERSISTENTCONN)?;
                e.format.persistent_conn = true;
            }
            Tag::NoSort => {
                e.set_option(opt::NOSORT)?;
                e.format.nosort = true;
            }
            Tag::Sort => {}
            Tag::Exact => {
                e.set_option(opt::EXACT)?;
                e.format.exact = true;
            }
            Tag::Ipv6 => {
                if e.fwmark != 0 {
                    e.svc_family = Some(AddressFamily::Inet6);
                    e.netmask = 128;
                } else {
                    return Err(Failure::fail("-6 used before -f\n"));
                }
            }
            Tag::Ops => {
                e.set_option(opt::ONEPACKET)?;
                e.flags |= ServiceFlags::ONEPACKET.bits();
            }
            Tag::Pe => {
                e.set_option(opt::PE)?;
                // ipvsadm copies 16 bytes into a 16-byte buffer with no room for
                // the NUL; the kernel then sees at most 15 meaningful bytes.
                e.pe_name = truncate(&arg, 15);
            }
            Tag::SchedFlags => {
                e.set_option(opt::SCHED_FLAGS)?;
                e.sched_flags_arg = truncate(&arg, 127);
            }
            Tag::McastGroup => {
                e.set_option(opt::MCAST_GROUP)?;
                if arg.contains(':') {
                    match arg.parse::<Ipv6Addr>() {
                        Ok(a) if a.is_multicast() => e.mcast_group = Some(IpAddr::V6(a)),
                        _ => {
                            return Err(Failure::fail(format!("invalid IPv6 mcast-group `{arg}'")))
                        }
                    }
                } else {
                    match inet_pton4(&arg) {
                        Some(a) if a.is_multicast() => e.mcast_group = Some(IpAddr::V4(a)),
                        _ => {
                            return Err(Failure::fail(format!("invalid IPv4 mcast-group `{arg}'")))
                        }
                    }
                }
            }
            Tag::McastPort => {
                e.set_option(opt::MCAST_PORT)?;
                e.mcast_port = addr::string_to_number(&arg, 1, 65535)
                    .ok_or_else(|| Failure::fail("illegal mcast-port specified"))?
                    as u16;
            }
            Tag::McastTtl => {
                e.set_option(opt::MCAST_TTL)?;
                e.mcast_ttl = addr::string_to_number(&arg, 1, 255)
                    .ok_or_else(|| Failure::fail("illegal mcast-ttl specified"))?
                    as u8;
            }
            Tag::SyncMaxlen => {
                e.set_option(opt::SYNC_MAXLEN)?;
                e.sync_maxlen = addr::string_to_number(&arg, 1, 65535 - 20 - 8)
                    .ok_or_else(|| Failure::fail("illegal sync-maxlen specified"))?
                    as u16;
            }
            Tag::TunInfo => {
                e.set_option(opt::TUN_INFO)?;
                e.format.tun_info = true;
            }
            Tag::TunType => {
                e.set_option(opt::TUN_TYPE)?;
                e.tun_type = parse_tun_type(&arg)
                    .ok_or_else(|| Failure::fail("illegal tunnel type specified"))?;
            }
            Tag::TunPort => {
                e.set_option(opt::TUN_PORT)?;
                e.tun_port = addr::string_to_number(&arg, 1, 65535)
                    .ok_or_else(|| Failure::fail("illegal tunnel port specified"))?
                    as u16;
            }
            // No checksum is the absence of both flags (IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM is 0).
            Tag::TunNoCsum => e.set_option(opt::TUN_NOCSUM)?,
            Tag::TunCsum => {
                e.set_option(opt::TUN_CSUM)?;
                e.tun_flags |= 1;
            }
            Tag::TunRemCsum => {
                e.set_option(opt::TUN_REMCSUM)?;
                e.tun_flags |= 2;
            }
            Tag::Json => {
                e.set_ext("json")?;
                e.output = Output::Json;
            }
            Tag::Table => {
                e.set_ext("table")?;
                e.output = Output::Table;
            }
            Tag::Lossless => {
                e.set_ext("lossless")?;
                e.lossless = true;
            }
            Tag::Info => {
                e.set_ext("info")?;
                e.info = true;
            }
            Tag::Cmd(_)
            | Tag::Help
            | Tag::Version
            | Tag::StartDaemon
            | Tag::StopDaemon
            | Tag::Completions
            | Tag::Man => {
                return Err(Failure::fail(format!("invalid option `{}'", o.word)));
            }
        }
    }

    let cmd = e.cmd.ok_or_else(|| Failure::try_help(program))?;
    // ipvsadm refuses -R inside -R (its restore_table) after the option checks;
    // checking here gives the same message.
    let nested_restore = reading_stdin && cmd == Command::Restore;

    if cmd == Command::Set {
        let (a, b, c) = (popt.get_arg(), popt.get_arg(), popt.get_arg());
        match (a, b, c) {
            (Some(a), Some(b), Some(c)) => {
                e.timeouts.tcp = parse_timeout(Some(&a), 0, MAX_TIMEOUT)?;
                e.timeouts.tcp_fin = parse_timeout(Some(&b), 0, MAX_TIMEOUT)?;
                e.timeouts.udp = parse_timeout(Some(&c), 0, MAX_TIMEOUT)?;
            }
            _ => return Err(Failure::fail("--set option requires 3 timeout values")),
        }
    }
    if let Some(extra) = popt.get_arg() {
        return Err(Failure::fail(format!("unexpected argument {extra}")));
    }
    if !e.sched_flags_arg.is_empty() {
        e.flags |= parse_sched_flags(&e.sched_name, &e.sched_flags_arg)?;
    }

    generic_opt_check(cmd, e.options)?;
    check_extensions(cmd, &e)?;

    if matches!(cmd, Command::AddService | Command::EditService) {
        if e.fwmark == 0 && e.svc_port == 0 && e.flags & ServiceFlags::PERSISTENT.bits() == 0 {
            return Err(Failure::fail(
                "Zero port specified for non-persistent service",
            ));
        }
        if e.flags & ServiceFlags::ONEPACKET.bits() != 0
            && e.fwmark == 0
            && e.protocol != Some(Protocol::Udp)
        {
            return Err(Failure::fail(
                "One-Packet Scheduling is only for UDP virtual services",
            ));
        }
        if !e.has(opt::SCHEDULER) {
            e.sched_name = DEFAULT_SCHEDULER.to_string();
        }
    }

    if matches!(cmd, Command::AddServer | Command::EditServer) {
        if e.fwmark == 0
            && matches!(
                e.forward,
                ForwardMethod::Tunnel | ForwardMethod::DirectRoute
            )
        {
            e.dest_port = e.svc_port;
        }
        let dest_family = e.dest_addr.map(|a| AddressFamily::of(&a));
        if dest_family != e.svc_family && e.forward != ForwardMethod::Tunnel {
            return Err(Failure::fail(
                "Different address family is allowed only for tunneling servers",
            ));
        }
        let tun_opts = [
            opt::TUN_TYPE,
            opt::TUN_PORT,
            opt::TUN_NOCSUM,
            opt::TUN_CSUM,
            opt::TUN_REMCSUM,
        ];
        if tun_opts.iter().any(|b| e.has(*b)) && e.forward != ForwardMethod::Tunnel {
            return Err(Failure::fail("Tunnel options conflict with forward method"));
        }
        tunnel_opt_check(e.tun_type, e.options)?;
    }

    if nested_restore {
        return Err(Failure::try_help(program));
    }
    resolve(cmd, e)
}

fn inet_pton4(s: &str) -> Option<Ipv4Addr> {
    // inet_pton accepts exactly four decimal parts, like Rust's parser.
    s.parse().ok()
}

fn check_extensions(cmd: Command, e: &Entry) -> Result<(), Failure> {
    for name in &e.ext_options {
        let legal = match *name {
            "json" | "table" | "info" => cmd == Command::List,
            "lossless" => cmd == Command::Save,
            _ => false,
        };
        if !legal {
            return Err(Failure::fail(format!(
                "Illegal '{name}' option with the '{}' command",
                cmd.name()
            )));
        }
    }
    if e.info
        && (e.has(opt::CONNECTION)
            || e.has(opt::SERVICE)
            || e.has(opt::TIMEOUT)
            || e.has(opt::DAEMON))
    {
        return Err(Failure::fail("options conflicts in the list command"));
    }
    Ok(())
}

fn service_key(e: &Entry) -> Option<ServiceKey> {
    if !e.has(opt::SERVICE) {
        return None;
    }
    if e.fwmark != 0 {
        return Some(ServiceKey::FwMark {
            mark: e.fwmark,
            family: e.svc_family.unwrap_or(AddressFamily::Inet),
        });
    }
    let addr = e.svc_addr?;
    Some(ServiceKey::Addr {
        protocol: e.protocol.unwrap_or(Protocol::Tcp),
        addr: SocketAddr::new(addr, e.svc_port),
    })
}

fn build_service(e: &Entry, key: ServiceKey) -> Service {
    let netmask = match key.family() {
        AddressFamily::Inet => Netmask::V4(Ipv4Addr::from(e.netmask)),
        _ => Netmask::V6(e.netmask.min(128) as u8),
    };
    let service = Service::new(key, Scheduler::from(e.sched_name.as_str()))
        .flags(ServiceFlags::from_bits_retain(e.flags))
        .timeout(e.timeout)
        .netmask(netmask);
    if e.pe_name.is_empty() {
        service
    } else {
        service.persistence_engine(&e.pe_name)
    }
}

fn build_dest(e: &Entry) -> Option<Destination> {
    let addr = e.dest_addr?;
    let mut d = Destination::new(SocketAddr::new(addr, e.dest_port), e.forward);
    d.weight = e.weight;
    d.upper_threshold = e.u_threshold;
    d.lower_threshold = e.l_threshold;
    d.tunnel_type = e.tun_type;
    d.tunnel_port = e.tun_port;
    d.tunnel_checksum = TunnelChecksum::from_raw(e.tun_flags);
    Some(d)
}

fn resolve(cmd: Command, e: Entry) -> Result<Action, Failure> {
    let key = service_key(&e);
    let missing = || Failure::fail("internal error: service missing after validation");
    let apply = |request, op| Ok(Action::Apply { request, op });
    match cmd {
        Command::List => {
            let conflict = (e.has(opt::CONNECTION) || e.has(opt::TIMEOUT) || e.has(opt::DAEMON))
                && (e.has(opt::STATS) || e.has(opt::RATE) || e.has(opt::THRESHOLDS));
            if conflict {
                return Err(Failure::fail("options conflicts in the list command"));
            }
            let what = if e.has(opt::CONNECTION) {
                ListWhat::Connections
            } else if let Some(key) = key {
                ListWhat::Service(key)
            } else if e.has(opt::TIMEOUT) {
                ListWhat::Timeout
            } else if e.has(opt::DAEMON) {
                ListWhat::Daemon
            } else if e.info {
                ListWhat::Info
            } else {
                ListWhat::All
            };
            Ok(Action::List {
                what,
                format: e.format,
                output: e.output,
            })
        }
        Command::Save => {
            let mut format = e.format;
            format.rule = true;
            Ok(Action::Save {
                format,
                lossless: e.lossless,
            })
        }
        Command::Restore => Ok(Action::Restore),
        Command::Flush => apply(Request::Flush, Op::Flush),
        Command::AddService => {
            let key = key.ok_or_else(missing)?;
            apply(Request::AddService(build_service(&e, key)), Op::AddService)
        }
        Command::EditService => {
            let key = key.ok_or_else(missing)?;
            apply(
                Request::EditService(build_service(&e, key)),
                Op::EditService,
            )
        }
        Command::DeleteService => apply(
            Request::DeleteService(key.ok_or_else(missing)?),
            Op::DeleteService,
        ),
        Command::Zero => apply(Request::Zero(key), Op::Zero),
        Command::AddServer => {
            let key = key.ok_or_else(missing)?;
            apply(
                Request::AddDestination(key, build_dest(&e).ok_or_else(missing)?),
                Op::AddDest,
            )
        }
        Command::EditServer => {
            let key = key.ok_or_else(missing)?;
            apply(
                Request::EditDestination(key, build_dest(&e).ok_or_else(missing)?),
                Op::EditDest,
            )
        }
        Command::DeleteServer => {
            let key = key.ok_or_else(missing)?;
            let d = build_dest(&e).ok_or_else(missing)?;
            apply(
                Request::DeleteDestination(key, d.socket_addr()),
                Op::DeleteDest,
            )
        }
        Command::Set => apply(Request::SetTimeouts(e.timeouts), Op::SetTimeout),
        Command::StartDaemon => {
            let state = e.daemon_state.ok_or_else(missing)?;
            let ifn = if e.has(opt::MCAST) {
                e.mcast_ifn.clone()
            } else {
                "eth0".to_string()
            };
            let mut d = SyncDaemon::new(state, &ifn, e.syncid);
            d.sync_maxlen = (e.sync_maxlen != 0).then_some(e.sync_maxlen);
            d.mcast_group = e.mcast_group;
            d.mcast_port = (e.mcast_port != 0).then_some(e.mcast_port);
            d.mcast_ttl = (e.mcast_ttl != 0).then_some(e.mcast_ttl);
            apply(Request::StartDaemon(d), Op::StartDaemon)
        }
        Command::StopDaemon => apply(
            Request::StopDaemon(e.daemon_state.ok_or_else(missing)?),
            Op::StopDaemon,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Action, Failure> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse("ipvsadm", &args, false)
    }

    fn err(line: &str) -> (i32, String) {
        let f = p(line).expect_err(line);
        (f.code, f.message)
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
