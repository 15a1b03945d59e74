//! Which options are legal with which command and tunnel type (ipvsadm's
//! tables), and the checks ipvsadm makes once every option is read.

use ipvs_core::{AddressFamily, ForwardMethod, Protocol, ServiceFlags, TunnelType};

use super::entry::Entry;
use super::{opt, Command, Failure, DEFAULT_SCHEDULER, OPT_NAMES};

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

/// Tunnel options vs tunnel type (ipvsadm's `tunnel_types_v_options`):
/// columns tun-port, tun-nocsum, tun-csum, tun-remcsum.
const TUNNEL_TYPES_V_OPTIONS: [&[u8; 4]; 3] = [b"xxxx", b"+111", b"x11x"];
const TUNNEL_OPTS: [u32; 4] = [
    opt::TUN_PORT,
    opt::TUN_NOCSUM,
    opt::TUN_CSUM,
    opt::TUN_REMCSUM,
];

/// Checks the given option bits against one row of a legality table; `what`
/// ends the messages (`command`, `tunnel type`).
fn check_row(
    row: &[u8],
    columns: &[u32],
    options: u64,
    owner: &str,
    what: &str,
) -> Result<(), Failure> {
    let mut last: Option<usize> = None;
    for (j, bit) in columns.iter().enumerate() {
        let name = OPT_NAMES[*bit as usize];
        if options & (1 << bit) == 0 {
            if row[j] == b'+' {
                return Err(Failure::fail(format!(
                    "You need to supply the '{name}' option for the '{owner}' {what}"
                )));
            }
            continue;
        }
        if row[j] == b'x' {
            return Err(Failure::fail(format!(
                "Illegal '{name}' option with the '{owner}' {what}"
            )));
        }
        if row[j] == b'1' {
            if let Some(prev) = last {
                return Err(Failure::fail(format!(
                    "The option '{name}' conflicts with the '{}' option in the '{owner}' {what}",
                    OPT_NAMES[columns[prev] as usize]
                )));
            }
            last = Some(j);
        }
    }
    Ok(())
}

/// ipvsadm's `generic_opt_check`.
pub(super) fn generic_opt_check(cmd: Command, options: u64) -> Result<(), Failure> {
    let columns: Vec<u32> = (0..OPT_NAMES.len() as u32).collect();
    check_row(
        COMMANDS_V_OPTIONS[cmd as usize],
        &columns,
        options,
        cmd.name(),
        "command",
    )
}

/// ipvsadm's `tunnel_opt_check`.
fn tunnel_opt_check(tun_type: TunnelType, options: u64) -> Result<(), Failure> {
    let type_name = match tun_type {
        TunnelType::Ipip => "ipip",
        TunnelType::Gue => "gue",
        TunnelType::Gre => "gre",
        _ => "unknown",
    };
    let row = TUNNEL_TYPES_V_OPTIONS[tun_type.to_raw() as usize];
    check_row(row, &TUNNEL_OPTS, options, type_name, "tunnel type")
}

/// Our extensions are legal only with the commands they apply to.
pub(super) fn check_extensions(cmd: Command, e: &Entry) -> Result<(), Failure> {
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

/// ipvsadm's checks of a service to add or edit (and its default scheduler).
pub(super) fn check_service(e: &mut Entry) -> Result<(), Failure> {
    let persistent = e.flags & ServiceFlags::PERSISTENT.bits() != 0;
    if e.fwmark == 0 && e.svc_port == 0 && !persistent {
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
    Ok(())
}

/// ipvsadm's checks of a real server to add or edit (and its port rule).
pub(super) fn check_server(e: &mut Entry) -> Result<(), Failure> {
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
    tunnel_opt_check(e.tun_type, e.options)
}

/// ipvsadm's `parse_sched_flags`, checked against the scheduler.
pub(super) fn parse_sched_flags(scheduler: &str, arg: &str) -> Result<u32, Failure> {
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
