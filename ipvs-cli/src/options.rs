//! The option table: every option ipvsadm-rs accepts, with how popt reads it
//! and what it does, in one place. ipvsadm's `-h` text (module `usage`), the
//! completions and the man page (module `generate`) are generated from it;
//! the parser (module `args`) tokenizes with it. It depends on none of them.
//!
//! Rows follow ipvsadm's usage text (popt matches names exactly, so the
//! order does not change parsing); options its usage does not list (`-v`,
//! `-l`, our extensions) come last.

use crate::popt::{ArgKind, AsSpec, OptSpec};

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

/// What an option is, as the parser sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Tag {
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
    Apply,
    DryRun,
    Scope,
    DrainTimeout,
    BestEffort,
    Sysctl,
    Check,
}

/// The sections of ipvsadm's usage text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// `Commands:`
    Commands,
    /// `virtual-service:`
    VirtualService,
    /// `Options:`
    Options,
    /// `Daemon Options:`
    DaemonOptions,
}

/// What an option does, for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum About {
    /// A line of ipvsadm's usage text: its section, its left column
    /// (`--scheduler    -s scheduler`) and its description, verbatim (a
    /// description of several lines has `\n` between them).
    Usage(Section, &'static str, &'static str),
    /// An option ipvsadm's usage does not list: a description.
    Unlisted(&'static str),
}

/// One option.
#[derive(Debug, Clone, Copy)]
pub struct OptionDef {
    /// How popt reads it.
    pub spec: OptSpec<Tag>,
    /// The name of its argument in completions and the man page.
    pub value: Option<&'static str>,
    /// What it does.
    pub about: About,
}

impl AsSpec<Tag> for OptionDef {
    fn spec(&self) -> &OptSpec<Tag> {
        &self.spec
    }
}

impl OptionDef {
    /// A one-line description (the usage text's, lines joined).
    pub fn help(&self) -> String {
        match self.about {
            About::Usage(_, _, text) => text.split_whitespace().collect::<Vec<_>>().join(" "),
            About::Unlisted(text) => text.to_string(),
        }
    }
}

macro_rules! def {
    ($long:expr, $short:expr, $arg:ident, $tag:expr, $value:expr, $about:expr) => {
        OptionDef {
            spec: OptSpec {
                long: Some($long),
                short: $short,
                arg: ArgKind::$arg,
                tag: $tag,
            },
            value: $value,
            about: $about,
        }
    };
}

use About::{Unlisted, Usage};
use Section::{Commands as C, DaemonOptions as D, Options as O, VirtualService as V};

/// Every option: ipvsadm 1.31's popt table (in its usage order) and our extensions.
#[rustfmt::skip]
pub const OPTIONS: &[OptionDef] = &[
    def!("add-service", Some('A'), None, Tag::Cmd(Command::AddService), None,
        Usage(C, "--add-service     -A", "add virtual service with options")),
    def!("edit-service", Some('E'), None, Tag::Cmd(Command::EditService), None,
        Usage(C, "--edit-service    -E", "edit virtual service with options")),
    def!("delete-service", Some('D'), None, Tag::Cmd(Command::DeleteService), None,
        Usage(C, "--delete-service  -D", "delete virtual service")),
    def!("clear", Some('C'), None, Tag::Cmd(Command::Flush), None,
        Usage(C, "--clear           -C", "clear the whole table")),
    def!("restore", Some('R'), None, Tag::Cmd(Command::Restore), None,
        Usage(C, "--restore         -R", "restore rules from stdin")),
    def!("save", Some('S'), None, Tag::Cmd(Command::Save), None,
        Usage(C, "--save            -S", "save rules to stdout")),
    def!("add-server", Some('a'), None, Tag::Cmd(Command::AddServer), None,
        Usage(C, "--add-server      -a", "add real server with options")),
    def!("edit-server", Some('e'), None, Tag::Cmd(Command::EditServer), None,
        Usage(C, "--edit-server     -e", "edit real server with options")),
    def!("delete-server", Some('d'), None, Tag::Cmd(Command::DeleteServer), None,
        Usage(C, "--delete-server   -d", "delete real server")),
    def!("list", Some('L'), None, Tag::Cmd(Command::List), None,
        Usage(C, "--list            -L|-l", "list the table")),
    def!("zero", Some('Z'), None, Tag::Cmd(Command::Zero), None,
        Usage(C, "--zero            -Z", "zero counters in a service or all services")),
    def!("set", None, None, Tag::Cmd(Command::Set), None,
        Usage(C, "--set tcp tcpfin udp", "set connection timeout values")),
    def!("start-daemon", None, Required, Tag::StartDaemon, Some("master|backup"),
        Usage(C, "--start-daemon", "start connection sync daemon")),
    def!("stop-daemon", None, Required, Tag::StopDaemon, Some("master|backup"),
        Usage(C, "--stop-daemon", "stop connection sync daemon")),
    def!("help", Some('h'), None, Tag::Help, None,
        Usage(C, "--help            -h", "display this help message")),

    def!("tcp-service", Some('t'), Required, Tag::Tcp, Some("service-address"),
        Usage(V, "--tcp-service|-t  service-address", "service-address is host[:port]")),
    def!("udp-service", Some('u'), Required, Tag::Udp, Some("service-address"),
        Usage(V, "--udp-service|-u  service-address", "service-address is host[:port]")),
    def!("sctp-service", None, Required, Tag::Sctp, Some("service-address"),
        Usage(V, "--sctp-service    service-address", "service-address is host[:port]")),
    def!("fwmark-service", Some('f'), Required, Tag::Fwmark, Some("fwmark"),
        Usage(V, "--fwmark-service|-f fwmark", "fwmark is an integer greater than zero")),

    def!("ipv6", Some('6'), None, Tag::Ipv6, None,
        Usage(O, "--ipv6         -6", "fwmark entry uses IPv6")),
    def!("scheduler", Some('s'), Required, Tag::Scheduler, Some("scheduler"),
        Usage(O, "--scheduler    -s scheduler",
            "one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,\nthe default scheduler is wlc.")),
    def!("pe", None, Required, Tag::Pe, Some("engine"),
        Usage(O, "--pe            engine", "alternate persistence engine may be sip,\nnot set by default.")),
    def!("persistent", Some('p'), Optional, Tag::Persistent, Some("timeout"),
        Usage(O, "--persistent   -p [timeout]", "persistent service")),
    def!("netmask", Some('M'), Required, Tag::Netmask, Some("netmask"),
        Usage(O, "--netmask      -M netmask", "persistent granularity mask")),
    def!("real-server", Some('r'), Required, Tag::RealServer, Some("server-address"),
        Usage(O, "--real-server  -r server-address", "server-address is host (and port)")),
    def!("gatewaying", Some('g'), None, Tag::Gate, None,
        Usage(O, "--gatewaying   -g", "gatewaying (direct routing) (default)")),
    def!("ipip", Some('i'), None, Tag::Ipip, None,
        Usage(O, "--ipip         -i", "ipip encapsulation (tunneling)")),
    def!("masquerading", Some('m'), None, Tag::Masq, None,
        Usage(O, "--masquerading -m", "masquerading (NAT)")),
    def!("tun-type", None, Required, Tag::TunType, Some("type"),
        Usage(O, "--tun-type      type", "one of ipip|gue|gre,\nthe default tunnel type is ipip.")),
    def!("tun-port", None, Required, Tag::TunPort, Some("port"),
        Usage(O, "--tun-port      port", "tunnel destination port")),
    def!("tun-nocsum", None, None, Tag::TunNoCsum, None,
        Usage(O, "--tun-nocsum", "tunnel encapsulation without checksum")),
    def!("tun-csum", None, None, Tag::TunCsum, None,
        Usage(O, "--tun-csum", "tunnel encapsulation with checksum")),
    def!("tun-remcsum", None, None, Tag::TunRemCsum, None,
        Usage(O, "--tun-remcsum", "tunnel encapsulation with remote checksum")),
    def!("weight", Some('w'), Required, Tag::Weight, Some("weight"),
        Usage(O, "--weight       -w weight", "capacity of real server")),
    def!("u-threshold", Some('x'), Required, Tag::UThreshold, Some("uthreshold"),
        Usage(O, "--u-threshold  -x uthreshold", "upper threshold of connections")),
    def!("l-threshold", Some('y'), Required, Tag::LThreshold, Some("lthreshold"),
        Usage(O, "--l-threshold  -y lthreshold", "lower threshold of connections")),
    def!("connection", Some('c'), None, Tag::Connection, None,
        Usage(O, "--connection   -c", "output of current IPVS connections")),
    def!("timeout", None, None, Tag::Timeout, None,
        Usage(O, "--timeout", "output of timeout (tcp tcpfin udp)")),
    def!("daemon", None, None, Tag::Daemon, None,
        Usage(O, "--daemon", "output of daemon information")),
    def!("stats", None, None, Tag::Stats, None,
        Usage(O, "--stats", "output of statistics information")),
    def!("rate", None, None, Tag::Rate, None,
        Usage(O, "--rate", "output of rate information")),
    def!("exact", Some('X'), None, Tag::Exact, None,
        Usage(O, "--exact", "expand numbers (display exact values)")),
    def!("thresholds", None, None, Tag::Thresholds, None,
        Usage(O, "--thresholds", "output of thresholds information")),
    def!("persistent-conn", None, None, Tag::PersistentConn, None,
        Usage(O, "--persistent-conn", "output of persistent connection info")),
    def!("tun-info", None, None, Tag::TunInfo, None,
        Usage(O, "--tun-info", "output of tunnel information")),
    def!("nosort", None, None, Tag::NoSort, None,
        Usage(O, "--nosort", "disable sorting output of service/server entries")),
    def!("sort", None, None, Tag::Sort, None,
        Usage(O, "--sort", "does nothing, for backwards compatibility")),
    def!("ops", Some('o'), None, Tag::Ops, None,
        Usage(O, "--ops          -o", "one-packet scheduling")),
    def!("numeric", Some('n'), None, Tag::Numeric, None,
        Usage(O, "--numeric      -n", "numeric output of addresses and ports")),
    def!("sched-flags", Some('b'), Required, Tag::SchedFlags, Some("flags"),
        Usage(O, "--sched-flags  -b flags", "scheduler flags (comma-separated)")),

    def!("syncid", None, Required, Tag::SyncId, Some("sid"),
        Usage(D, "--syncid sid", "syncid for connection sync (default=255)")),
    def!("sync-maxlen", None, Required, Tag::SyncMaxlen, Some("length"),
        Usage(D, "--sync-maxlen length", "Max sync message length (default=1472)")),
    def!("mcast-interface", None, Required, Tag::McastInterface, Some("interface"),
        Usage(D, "--mcast-interface interface", "multicast interface for connection sync")),
    def!("mcast-group", None, Required, Tag::McastGroup, Some("address"),
        Usage(D, "--mcast-group address", "IPv4/IPv6 group (default=224.0.0.81)")),
    def!("mcast-port", None, Required, Tag::McastPort, Some("port"),
        Usage(D, "--mcast-port port", "UDP port (default=8848)")),
    def!("mcast-ttl", None, Required, Tag::McastTtl, Some("ttl"),
        Usage(D, "--mcast-ttl ttl", "Multicast TTL (default=1)")),

    // Not in ipvsadm's usage text.
    def!("version", Some('v'), None, Tag::Version, None, Unlisted("display the version")),
    // `-l` shares `--list` (and its usage line) with `-L`.
    def!("list", Some('l'), None, Tag::Cmd(Command::List), None, Unlisted("list the table")),
    def!("json", None, None, Tag::Json, None,
        Unlisted("with -L: the listing as one JSON document (extension; see docs/json.md)")),
    def!("table", None, None, Tag::Table, None,
        Unlisted("with -L: the listing as a table for people (extension)")),
    def!("lossless", None, None, Tag::Lossless, None,
        Unlisted("with -S: also save thresholds, timeouts and sync daemons (extension)")),
    def!("info", None, None, Tag::Info, None,
        Unlisted("with -L: IPVS version and connection table size (extension)")),
    def!("completions", None, Required, Tag::Completions, Some("shell"),
        Unlisted("print a completion script: bash|zsh|fish|elvish|powershell (extension)")),
    def!("man", None, None, Tag::Man, None, Unlisted("print the man page in roff (extension)")),
    def!("apply", None, Required, Tag::Apply, Some("file"),
        Unlisted("make the table match FILE (-S lines or the -L --json document, - for stdin), changing only what differs; all or nothing (extension; see docs/apply.md)")),
    def!("dry-run", None, None, Tag::DryRun, None,
        Unlisted("with --apply: print the plan (as JSON with --json), change nothing")),
    def!("scope", None, Required, Tag::Scope, Some("cidr|fwmark:N"),
        Unlisted("with --apply: touch only services in this CIDR or with this mark (repeatable; default: the whole table)")),
    def!("drain-timeout", None, Required, Tag::DrainTimeout, Some("seconds"),
        Unlisted("with --apply: how long a TCP destination that goes may drain before it is deleted (default 60)")),
    def!("best-effort", None, None, Tag::BestEffort, None,
        Unlisted("with --apply: carry on past changes the kernel refuses instead of undoing everything")),
    def!("sysctl", None, None, Tag::Sysctl, None,
        Unlisted("list the network namespace's IPVS kernel parameters (net.ipv4.vs.*), as JSON with --json (extension)")),
    def!("check", None, None, Tag::Check, None,
        Unlisted("check the node's kernel settings against the advised ones (ip_forward, net.ipv4.vs, conntrack, bridge, ARP); exit 3 if one is off, as JSON with --json (extension)")),
];

/// Every option once per long name (`-l` is `--list`'s second letter).
pub fn long_options() -> impl Iterator<Item = &'static OptionDef> {
    OPTIONS.iter().enumerate().filter_map(|(i, o)| {
        let long = o.spec.long?;
        let first = OPTIONS.iter().position(|p| p.spec.long == Some(long)) == Some(i);
        first.then_some(o)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_described_and_arguments_are_named() {
        for o in OPTIONS {
            assert!(!o.help().is_empty(), "{:?}", o.spec.long);
            assert_eq!(
                o.value.is_some(),
                o.spec.arg != ArgKind::None,
                "{:?}",
                o.spec.long
            );
        }
    }
}
