//! Shell completions and the man page, generated with clap_complete and
//! clap_mangen from a clap definition of our option table.
//!
//! The clap `Command` built here describes the options; it does not parse
//! them (see docs/cli.md: ipvsadm's popt rules and messages need our own
//! tokenizer in [`crate::popt`]). It is built from [`crate::args::long_options`],
//! so every option we accept is completed and documented.

use std::io::{self, Write};

use clap::{Arg, ArgAction, Command};

fn help_for(long: &str) -> (&'static str, Option<&'static str>) {
    match long {
        "add-service" => ("Add a virtual service", None),
        "edit-service" => ("Edit a virtual service", None),
        "delete-service" => ("Delete a virtual service", None),
        "clear" => ("Clear the whole table", None),
        "list" => ("List the table", None),
        "zero" => ("Zero counters of a service or of all services", None),
        "add-server" => ("Add a real server", None),
        "edit-server" => ("Edit a real server", None),
        "delete-server" => ("Delete a real server", None),
        "set" => ("Set connection timeouts: tcp tcpfin udp", None),
        "help" => ("Display the help message", None),
        "version" => ("Display the version", None),
        "restore" => ("Restore rules from stdin (whole input checked first)", None),
        "save" => ("Save rules to stdout", None),
        "start-daemon" => ("Start the connection sync daemon", Some("master|backup")),
        "stop-daemon" => ("Stop the connection sync daemon", Some("master|backup")),
        "tcp-service" => ("TCP virtual service host[:port]", Some("service-address")),
        "udp-service" => ("UDP virtual service host[:port]", Some("service-address")),
        "sctp-service" => ("SCTP virtual service host[:port]", Some("service-address")),
        "fwmark-service" => ("Firewall-mark virtual service", Some("fwmark")),
        "scheduler" => (
            "Scheduler: rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh (default wlc)",
            Some("scheduler"),
        ),
        "persistent" => (
            "Persistent service, optional timeout (default 360)",
            Some("timeout"),
        ),
        "netmask" => ("Persistent granularity mask", Some("netmask")),
        "real-server" => ("Real server host[:port]", Some("server-address")),
        "masquerading" => ("Masquerading (NAT)", None),
        "ipip" => ("IPIP encapsulation (tunneling)", None),
        "gatewaying" => ("Gatewaying (direct routing, the default)", None),
        "weight" => ("Capacity of the real server", Some("weight")),
        "u-threshold" => ("Upper threshold of connections", Some("uthreshold")),
        "l-threshold" => ("Lower threshold of connections", Some("lthreshold")),
        "numeric" => ("Numeric output of addresses and ports", None),
        "connection" => ("Output of current IPVS connections", None),
        "mcast-interface" => ("Multicast interface for connection sync", Some("interface")),
        "syncid" => ("Syncid for connection sync", Some("sid")),
        "timeout" => ("Output of timeouts (tcp tcpfin udp)", None),
        "daemon" => ("Output of daemon information", None),
        "stats" => ("Output of statistics", None),
        "rate" => ("Output of rates", None),
        "thresholds" => ("Output of thresholds", None),
        "persistent-conn" => ("Output of persistent connection info", None),
        "nosort" => ("Do not sort services and servers", None),
        "sort" => ("Does nothing, for backwards compatibility", None),
        "exact" => ("Expand numbers (exact values)", None),
        "ipv6" => ("Fwmark entry uses IPv6", None),
        "ops" => ("One-packet scheduling", None),
        "pe" => ("Alternate persistence engine (sip)", Some("engine")),
        "sched-flags" => ("Scheduler flags, comma-separated", Some("flags")),
        "mcast-group" => ("Sync multicast group (default 224.0.0.81)", Some("address")),
        "mcast-port" => ("Sync UDP port (default 8848)", Some("port")),
        "mcast-ttl" => ("Sync multicast TTL (default 1)", Some("ttl")),
        "sync-maxlen" => ("Max sync message length (default 1472)", Some("length")),
        "tun-info" => ("Output of tunnel information", None),
        "tun-type" => ("Tunnel type: ipip|gue|gre", Some("type")),
        "tun-port" => ("Tunnel destination port", Some("port")),
        "tun-nocsum" => ("Tunnel encapsulation without checksum", None),
        "tun-csum" => ("Tunnel encapsulation with checksum", None),
        "tun-remcsum" => ("Tunnel encapsulation with remote checksum", None),
        "json" => (
            "Listings as one JSON document (extension; see docs/json.md)",
            None,
        ),
        "table" => ("Listings as a table for people (extension)", None),
        "lossless" => (
            "With -S: also save thresholds, timeouts and sync daemons (extension)",
            None,
        ),
        "info" => (
            "With -L: IPVS version and connection table size (extension)",
            None,
        ),
        "completions" => (
            "Print a completion script: bash|zsh|fish|elvish|powershell (extension)",
            Some("shell"),
        ),
        "man" => ("Print the man page in roff (extension)", None),
        _ => ("", None),
    }
}

/// The clap description of ipvsadm-rs's options.
pub fn command() -> Command {
    let mut cmd = Command::new("ipvsadm-rs")
        .about("Linux Virtual Server administration, a drop-in ipvsadm 1.31 with JSON output")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .disable_version_flag(true);
    for (long, short, takes_value) in crate::args::long_options() {
        let (help, value) = help_for(long);
        let mut arg = Arg::new(long).long(long).help(help);
        if let Some(s) = short {
            arg = arg.short(s);
        }
        arg = if takes_value {
            arg.action(ArgAction::Set)
                .value_name(value.unwrap_or("value"))
        } else {
            arg.action(ArgAction::SetTrue)
        };
        if long == "persistent" {
            arg = arg.num_args(0..=1);
        }
        if long == "start-daemon" || long == "stop-daemon" {
            arg = arg.value_parser(["master", "backup"]);
        }
        if long == "tun-type" {
            arg = arg.value_parser(["ipip", "gue", "gre"]);
        }
        if long == "completions" {
            arg = arg.value_parser(["bash", "zsh", "fish", "elvish", "powershell"]);
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

/// `--completions SHELL`; `Ok` holds the exit code (2 for an unknown shell).
pub fn completions(shell: &str, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<i32> {
    use clap_complete::Shell;
    let sh = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "elvish" => Shell::Elvish,
        "powershell" => Shell::PowerShell,
        other => {
            writeln!(
                err,
                "unknown shell `{other}' (bash, zsh, fish, elvish, powershell)"
            )?;
            return Ok(2);
        }
    };
    // clap_complete cannot report a write error: generate into memory first.
    let mut buf = Vec::new();
    clap_complete::generate(sh, &mut command(), "ipvsadm-rs", &mut buf);
    out.write_all(&buf)?;
    Ok(0)
}

/// `--man`: the man page in roff.
pub fn man_page(out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(command()).render(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_described() {
        for (long, _, _) in crate::args::long_options() {
            assert!(!help_for(long).0.is_empty(), "{long} has no help text");
        }
        command().debug_assert();
    }

    struct Printed {
        code: i32,
        stdout: String,
    }

    fn completions_for(shell: &str) -> Printed {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = completions(shell, &mut out, &mut err).unwrap();
        Printed {
            code,
            stdout: String::from_utf8(out).unwrap(),
        }
    }

    #[test]
    fn completions_and_man_mention_options() {
        let bash = completions_for("bash");
        assert_eq!(bash.code, 0);
        assert!(bash.stdout.contains("--tun-remcsum"));
        let man = crate::render::to_string(|o| man_page(o));
        assert!(man.contains("sched\\-flags"));
        assert_eq!(completions_for("tcsh").code, 2);
    }
}
