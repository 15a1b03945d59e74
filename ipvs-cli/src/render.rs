//! ipvsadm's text output, byte for byte: the listings of `-L` in every mode,
//! the `-S` rule format, `--timeout`, `--daemon` and `-c` connections.
//!
//! Everything here is pure: it takes the model types of ipvs-core and a
//! [`Names`] resolver and writes to any [`std::io::Write`] as it goes (a
//! listing is written entry by entry, never built whole in memory first);
//! the small helpers that name one cell return strings.

use std::io::{self, Write};
use std::net::IpAddr;

use ipvs_core::{
    AddressFamily, DaemonState, Destination, ForwardMethod, Info, Netmask, Protocol, Scheduler,
    Service, ServiceFlags, ServiceKey, SyncDaemon, Timeouts, TunnelChecksum, TunnelType,
};

use crate::args::Format;

pub use crate::addr::{Names, NoNames, SystemNames};

/// ipvsadm's `addrport_to_anyname`: `addr:port`, `[v6]:port`, by name unless
/// `numeric`; cut at 59 bytes as its 60-byte buffer cuts it.
pub fn addrport(
    names: &dyn Names,
    addr: IpAddr,
    port: u16,
    protocol: Option<Protocol>,
    numeric: bool,
) -> String {
    let (open, close) = if addr.is_ipv6() { ("[", "]") } else { ("", "") };
    let mut s = if numeric {
        format!("{open}{addr}{close}:{port}")
    } else {
        let host = names.host(addr).unwrap_or_else(|| addr.to_string());
        let serv = names
            .service(port, protocol)
            .unwrap_or_else(|| port.to_string());
        format!("{open}{host}{close}:{serv}")
    };
    cut(&mut s, 59);
    s
}

fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// `IP Virtual Server version 1.2.1 (size=4096)`
pub fn version_header<W: Write + ?Sized>(out: &mut W, info: &Info) -> io::Result<()> {
    writeln!(
        out,
        "IP Virtual Server version {} (size={})",
        info.version_string(),
        info.conn_table_size
    )
}

/// The column titles of a listing.
pub fn title<W: Write + ?Sized>(out: &mut W, format: &Format) -> io::Result<()> {
    out.write_all(title_text(format).as_bytes())
}

fn title_text(format: &Format) -> String {
    if format.stats {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        )
    } else if format.rate {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        )
    } else if format.thresholds {
        format!(
            "{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        )
    } else if format.persistent_conn {
        format!(
            "{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        )
    } else if format.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n".to_string()
    } else if !format.rule {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n".to_string()
    } else {
        String::new()
    }
}

/// ipvsadm's `print_largenum`: 9 columns, K/M/G/T scaled unless `exact`.
pub fn largenum<W: Write + ?Sized>(out: &mut W, i: u64, exact: bool) -> io::Result<()> {
    if exact {
        let len = i.to_string().len().max(8) + 1;
        write!(out, "{i:>len$}")
    } else if i <= 99_999_999 {
        write!(out, "{i:>9}")
    } else if i <= 999_999_999 {
        write!(out, "{:>8}K", i / 1_000)
    } else if i <= 99_999_999_999 {
        write!(out, "{:>8}M", i / 1_000_000)
    } else if i <= 99_999_999_999_999 {
        write!(out, "{:>8}G", i / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", i / 1_000_000_000_000)
    }
}

/// The protocol used to name ports of a service (none for fwmark services,
/// which the kernel reports without a protocol).
pub fn service_protocol(key: &ServiceKey) -> Option<Protocol> {
    match key {
        ServiceKey::Addr { protocol, .. } => Some(*protocol),
        ServiceKey::FwMark { .. } => None,
    }
}

/// The service column: `TCP  192.0.2.1:80`, `FWM  7 IPv6` (`-L`), or
/// `-t 192.0.2.1:80`, `-f 7 -6` (`-S`).
pub fn service_name(names: &dyn Names, key: &ServiceKey, format: &Format) -> String {
    match key {
        // ipvsadm prints the mark with %d: marks above 2^31 show negative.
        ServiceKey::FwMark { mark, family } => match (format.rule, family, *mark as i32) {
            (true, AddressFamily::Inet6, m) => format!("-f {m} -6"),
            (true, AddressFamily::Inet, m) => format!("-f {m}"),
            (false, AddressFamily::Inet6, m) => format!("FWM  {m} IPv6"),
            (false, AddressFamily::Inet, m) => format!("FWM  {m}"),
            (_, other, m) => format!("FWM  {m} {other}"),
        },
        ServiceKey::Addr { protocol, addr } => {
            let vname = addrport(
                names,
                addr.ip(),
                addr.port(),
                Some(*protocol),
                format.numeric,
            );
            if format.rule {
                let switch = match protocol {
                    Protocol::Tcp => "-t",
                    Protocol::Udp => "-u",
                    Protocol::Sctp => "--sctp-service",
                    _ => "--unknown-protocol",
                };
                format!("{switch} {vname}")
            } else {
                let mut s = format!("{:<4} {vname}", protocol.as_str());
                if addr.is_ipv4() {
                    cut(&mut s, 33);
                }
                s
            }
        }
    }
}

/// The scheduler flags as ipvsadm spells them for the scheduler (`sh` and `mh`
/// show only their two named flags), or `None` when no scheduler flag is set.
pub fn sched_flags_text(flags: ServiceFlags, scheduler: &Scheduler) -> Option<String> {
    let any = ServiceFlags::SCHED1 | ServiceFlags::SCHED2 | ServiceFlags::SCHED3;
    if flags.bits() & any.bits() == 0 {
        return None;
    }
    let mut names: Vec<&str> = Vec::new();
    match scheduler.as_str() {
        "sh" | "mh" => {
            let p = scheduler.as_str();
            if flags.contains(ServiceFlags::SCHED1) {
                names.push(if p == "sh" {
                    "sh-fallback"
                } else {
                    "mh-fallback"
                });
            }
            if flags.contains(ServiceFlags::SCHED2) {
                names.push(if p == "sh" { "sh-port" } else { "mh-port" });
            }
        }
        _ => {
            for (bit, name) in [
                (ServiceFlags::SCHED1, "flag-1"),
                (ServiceFlags::SCHED2, "flag-2"),
                (ServiceFlags::SCHED3, "flag-3"),
            ] {
                if flags.contains(bit) {
                    names.push(name);
                }
            }
        }
    }
    Some(names.join(","))
}

fn netmask_text(netmask: &Netmask, family: AddressFamily) -> Option<String> {
    match (netmask, family) {
        (Netmask::V4(m), AddressFamily::Inet) if u32::from(*m) != u32::MAX => Some(m.to_string()),
        (Netmask::V6(p), AddressFamily::Inet6) if *p != 128 => Some(p.to_string()),
        _ => None,
    }
}

/// The forwarding method as `-L` shows it.
pub fn fwd_name(f: ForwardMethod) -> &'static str {
    f.ipvsadm_name()
}

/// The forwarding method as `-S` writes it.
pub fn fwd_switch(f: ForwardMethod) -> &'static str {
    match f {
        ForwardMethod::Masquerade => "-m",
        ForwardMethod::Tunnel => "-i",
        _ => "-g",
    }
}

fn tun_csum_short(c: TunnelChecksum) -> &'static str {
    let raw = c.to_raw();
    if raw & 2 != 0 {
        "r+c"
    } else if raw & 1 != 0 {
        "+c"
    } else {
        "-c"
    }
}

fn tun_csum_switch(c: TunnelChecksum) -> &'static str {
    let raw = c.to_raw();
    if raw & 2 != 0 {
        "--tun-remcsum"
    } else if raw & 1 != 0 {
        "--tun-csum"
    } else {
        "--tun-nocsum"
    }
}

/// The `--tun-info` column of a destination.
pub fn tunnel_info(d: &Destination) -> String {
    if d.forward != ForwardMethod::Tunnel {
        return "n/a".into();
    }
    match d.tunnel_type {
        TunnelType::Ipip => "ipip".into(),
        TunnelType::Gue => format!(
            "gue:{}:{}",
            d.tunnel_port,
            tun_csum_short(d.tunnel_checksum)
        ),
        TunnelType::Gre => format!("gre:{}", tun_csum_short(d.tunnel_checksum)),
        other => format!("type{}", other.to_raw()),
    }
}

/// Writes something extra at the end of a destination's rule line (before its
/// newline): `-S --lossless` adds the thresholds there.
pub type RuleSuffix<'a> = &'a dyn Fn(&mut dyn Write, &Destination) -> io::Result<()>;

/// ipvsadm's `print_service_entry`: the service line and its destinations.
/// `dests` must already be in display order.
pub fn service_entry<W: Write + ?Sized>(
    out: &mut W,
    names: &dyn Names,
    svc: &Service,
    dests: &[Destination],
    format: &Format,
) -> io::Result<()> {
    service_entry_with(out, names, svc, dests, format, &|_, _| Ok(()))
}

/// [`service_entry`], with `suffix` appended to each destination's rule line.
pub fn service_entry_with<W: Write + ?Sized>(
    out: &mut W,
    names: &dyn Names,
    svc: &Service,
    dests: &[Destination],
    format: &Format,
    suffix: RuleSuffix<'_>,
) -> io::Result<()> {
    let svc_name = service_name(names, &svc.key, format);
    service_line(out, &svc_name, svc, format)?;
    let protocol = service_protocol(&svc.key);
    for d in dests {
        let mut dname = addrport(names, d.addr, d.port, protocol, format.numeric);
        if !format.rule && d.addr.is_ipv4() {
            cut(&mut dname, 28);
        }
        if format.rule {
            rule_destination_line(out, &svc_name, &dname, d)?;
            suffix(&mut WriteRef(out), d)?;
            writeln!(out)?;
        } else {
            destination_line(out, &dname, d, format)?;
        }
    }
    Ok(())
}

/// Lets a `W: ?Sized` writer be passed on as `&mut dyn Write`.
struct WriteRef<'a, W: Write + ?Sized>(&'a mut W);

impl<W: Write + ?Sized> Write for WriteRef<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

fn service_line<W: Write + ?Sized>(
    out: &mut W,
    svc_name: &str,
    svc: &Service,
    format: &Format,
) -> io::Result<()> {
    let family = svc.key.family();
    let persistent = svc.flags.contains(ServiceFlags::PERSISTENT);
    if format.rule {
        write!(out, "-A {svc_name} -s {}", svc.scheduler)?;
        if persistent {
            write!(out, " -p {}", svc.timeout)?;
            if let Some(m) = netmask_text(&svc.netmask, family) {
                write!(out, " -M {m}")?;
            }
        }
        if let Some(pe) = svc.pe_name.as_deref().filter(|p| !p.is_empty()) {
            write!(out, " --pe {pe}")?;
        }
        if svc.flags.contains(ServiceFlags::ONEPACKET) {
            out.write_all(b" -o")?;
        }
        if let Some(f) = sched_flags_text(svc.flags, &svc.scheduler) {
            write!(out, " -b {f}")?;
        }
    } else if format.stats || format.rate {
        write!(out, "{svc_name:<33}")?;
        let s = &svc.stats;
        let values = if format.stats {
            [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
        } else {
            [s.cps, s.inpps, s.outpps, s.inbps, s.outbps]
        };
        for v in values {
            largenum(out, v, format.exact)?;
        }
    } else {
        write!(out, "{svc_name} {}", svc.scheduler)?;
        if let Some(f) = sched_flags_text(svc.flags, &svc.scheduler) {
            write!(out, " ({f})")?;
        }
        if persistent {
            write!(out, " persistent {}", svc.timeout)?;
            if let Some(m) = netmask_text(&svc.netmask, family) {
                write!(out, " mask {m}")?;
            }
            if let Some(pe) = svc.pe_name.as_deref().filter(|p| !p.is_empty()) {
                write!(out, " pe {pe}")?;
            }
        }
        if svc.flags.contains(ServiceFlags::ONEPACKET) {
            out.write_all(b" ops")?;
        }
    }
    writeln!(out)
}

/// An `-a` line of `-S`, without its newline.
fn rule_destination_line<W: Write + ?Sized>(
    out: &mut W,
    svc_name: &str,
    dname: &str,
    d: &Destination,
) -> io::Result<()> {
    write!(
        out,
        "-a {svc_name} -r {dname} {} -w {}",
        fwd_switch(d.forward),
        d.weight
    )?;
    if d.forward != ForwardMethod::Tunnel {
        return Ok(());
    }
    match d.tunnel_type {
        TunnelType::Ipip => out.write_all(b" --tun-type ipip"),
        TunnelType::Gue => write!(
            out,
            " --tun-type gue --tun-port {} {}",
            d.tunnel_port,
            tun_csum_switch(d.tunnel_checksum)
        ),
        TunnelType::Gre => write!(
            out,
            " --tun-type gre {}",
            tun_csum_switch(d.tunnel_checksum)
        ),
        _ => Ok(()),
    }
}

/// A `  -> ` line of `-L` in the listing mode of `format`.
fn destination_line<W: Write + ?Sized>(
    out: &mut W,
    dname: &str,
    d: &Destination,
    format: &Format,
) -> io::Result<()> {
    let s = &d.stats;
    if format.stats {
        write!(out, "  -> {dname:<28}")?;
        for v in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
            largenum(out, v, format.exact)?;
        }
        writeln!(out)
    } else if format.rate {
        write!(
            out,
            "  -> {dname:<28} {:>8} {:>8} {:>8}",
            s.cps, s.inpps, s.outpps
        )?;
        largenum(out, s.inbps, format.exact)?;
        largenum(out, s.outbps, format.exact)?;
        writeln!(out)
    } else if format.thresholds {
        writeln!(
            out,
            "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
            d.upper_threshold, d.lower_threshold, d.active_conns, d.inactive_conns
        )
    } else if format.persistent_conn {
        writeln!(
            out,
            "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
            d.weight, d.persistent_conns, d.active_conns, d.inactive_conns
        )
    } else if format.tun_info {
        writeln!(
            out,
            "  -> {dname:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
            fwd_name(d.forward),
            tunnel_info(d),
            d.weight as i32,
            d.active_conns,
            d.inactive_conns
        )
    } else {
        writeln!(
            out,
            "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
            fwd_name(d.forward),
            d.weight as i32,
            d.active_conns,
            d.inactive_conns
        )
    }
}

/// `Timeout (tcp tcpfin udp): 900 120 300`
pub fn timeouts<W: Write + ?Sized>(out: &mut W, t: &Timeouts) -> io::Result<()> {
    writeln!(
        out,
        "Timeout (tcp tcpfin udp): {} {} {}",
        t.tcp, t.tcp_fin, t.udp
    )
}

/// ipvsadm's `list_daemon`: one line per running daemon, master first.
pub fn daemons<W: Write + ?Sized>(out: &mut W, daemons: &[SyncDaemon]) -> io::Result<()> {
    for state in [DaemonState::Master, DaemonState::Backup] {
        for d in daemons.iter().filter(|d| d.state == state) {
            let role = if state == DaemonState::Master {
                "master"
            } else {
                "backup"
            };
            write!(
                out,
                "{role} sync daemon (mcast={}, syncid={}",
                d.mcast_ifn, d.syncid
            )?;
            if let Some(m) = d.sync_maxlen.filter(|m| *m != 0) {
                write!(out, ", maxlen={m}")?;
            }
            if let Some(g) = d.mcast_group {
                write!(out, ", group={g}")?;
            }
            if let Some(p) = d.mcast_port.filter(|p| *p != 0) {
                write!(out, ", port={p}")?;
            }
            if let Some(t) = d.mcast_ttl.filter(|t| *t != 0) {
                write!(out, ", ttl={t}")?;
            }
            out.write_all(b")\n")?;
        }
    }
    Ok(())
}

/// Runs a renderer into a string (for tests and for callers that need text).
pub fn to_string(render: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = render(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::Scheduler;

    #[test]
    fn largenum_scaling() {
        let f = |i: u64, exact: bool| to_string(|o| largenum(o, i, exact));
        assert_eq!(f(0, false), "        0");
        assert_eq!(f(99_999_999, false), " 99999999");
        assert_eq!(f(100_000_000, false), "  100000K");
        assert_eq!(f(999_999_999, false), "  999999K");
        assert_eq!(f(1_000_000_000, false), "    1000M");
        assert_eq!(f(99_999_999_999, false), "   99999M");
        assert_eq!(f(100_000_000_000, false), "     100G");
        assert_eq!(f(100_000_000_000_000, false), "     100T");
        assert_eq!(f(123, true), "      123");
        assert_eq!(f(1_234_567_890_123, true), " 1234567890123");
    }

    #[test]
    fn service_lines_as_ipvsadm() {
        let mut svc = Service::new(
            ServiceKey::tcp("192.0.2.2:80".parse().unwrap()),
            Scheduler::Sh,
        )
        .persistent(60);
        svc.flags |= ServiceFlags::SCHED1 | ServiceFlags::SCHED2;
        svc.netmask = Netmask::V4("255.255.0.0".parse().unwrap());
        svc.pe_name = Some("sip".into());
        let f = Format {
            numeric: true,
            ..Default::default()
        };
        assert_eq!(
            to_string(|o| service_entry(o, &NoNames, &svc, &[], &f)),
            "TCP  192.0.2.2:80 sh (sh-fallback,sh-port) persistent 60 mask 255.255.0.0 pe sip\n"
        );
        let f = Format {
            numeric: true,
            rule: true,
            ..Default::default()
        };
        assert_eq!(
            to_string(|o| service_entry(o, &NoNames, &svc, &[], &f)),
            "-A -t 192.0.2.2:80 -s sh -p 60 -M 255.255.0.0 --pe sip -b sh-fallback,sh-port\n"
        );
    }

    #[test]
    fn destination_lines_as_ipvsadm() {
        let svc = Service::new(
            ServiceKey::tcp("192.0.2.1:80".parse().unwrap()),
            Scheduler::Rr,
        );
        let mut d = Destination::new("192.0.2.11:80".parse().unwrap(), ForwardMethod::Tunnel);
        d.tunnel_type = TunnelType::Gue;
        d.tunnel_port = 6080;
        d.tunnel_checksum = TunnelChecksum::Csum;
        let f = Format {
            numeric: true,
            tun_info: true,
            ..Default::default()
        };
        assert!(to_string(|o| service_entry(o, &NoNames, &svc, &[d.clone()], &f))
            .ends_with("  -> 192.0.2.11:80                Tunnel  gue:6080:+c   1      0          0         \n"));
        let f = Format {
            numeric: true,
            rule: true,
            ..Default::default()
        };
        assert!(to_string(|o| service_entry(o, &NoNames, &svc, &[d], &f)).ends_with(
            "-a -t 192.0.2.1:80 -r 192.0.2.11:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n"
        ));
    }
}
