//! The LVS grammar: `virtual_server`, `virtual_server_group`, `real_server`, the
//! checkers and the `lvs_*` keywords of `global_defs`, with keepalived 2.2's spellings
//! and defaults. Every unknown keyword and bad value is an error with file and line.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{command, user_group, Parser, Stmt};
use crate::config::lvs::{
    CheckKind, CheckTimers, Checker, FlushOnStop, Forwarding, HttpCheck, IpFamily, LvsGlobal,
    LvsMethod, LvsProtocol, LvsSyncDaemon, LvsTimeouts, MiscCheck, RealServer, SorryServer,
    TunnelCsum, TunnelKind, UrlCheck, VirtualServer, VirtualServerGroup, VsAddress, VsgEntry,
    WEIGHT_LIMIT,
};
use crate::config::model::{shown, ConfigError};

/// Schedulers keepalived 2.2 accepts (the kernel's).
const SCHEDULERS: [&str; 14] = [
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// keepalived's `persistence_timeout` without a value (`IPVS_SVC_PERSISTENT_TIMEOUT`).
const DEFAULT_PERSISTENCE: u32 = 360;

/// Handles an `lvs_*` keyword of `global_defs`; `false` when `s` is none of them.
pub(super) fn global_keyword(s: &Stmt, g: &mut LvsGlobal) -> Result<bool, ConfigError> {
    match s.kw() {
        "lvs_flush" => {
            s.no_arg()?;
            g.flush = true;
        }
        "lvs_flush_on_stop" | "lvs_flush_onstop" => {
            g.flush_on_stop = Some(match s.words.get(1).map(String::as_str) {
                None => FlushOnStop::All,
                Some("VS") if s.words.len() == 2 => FlushOnStop::VirtualServers,
                _ => {
                    return Err(s.err("lvs_flush_on_stop: expected nothing (the whole table) or VS"))
                }
            })
        }
        "lvs_timeouts" => g.timeouts = Some(timeouts(s)?),
        "lvs_sync_daemon" => {
            g.sync_daemon = Some(sync_daemon(s)?);
            g.sync_daemon_location = Some(s.location());
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn num<T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display>(
    s: &Stmt,
    what: &str,
    v: Option<&String>,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    let v = v.ok_or_else(|| s.err(format!("{}: {what} needs a value", s.kw())))?;
    v.parse::<T>()
        .ok()
        .filter(|n| *n >= min && *n <= max)
        .ok_or_else(|| {
            s.err(format!(
                "{}: {what} {} must be {min}-{max}",
                s.kw(),
                shown(v)
            ))
        })
}

fn timeouts(s: &Stmt) -> Result<LvsTimeouts, ConfigError> {
    let mut t = LvsTimeouts::default();
    if s.words.len() < 2 {
        return Err(s.err("lvs_timeouts: requires at least one of tcp, tcpfin, udp"));
    }
    let mut i = 1;
    while i < s.words.len() {
        let v = num(s, &s.words[i], s.words.get(i + 1), 1u32, 86400 * 365)?;
        match s.words[i].as_str() {
            "tcp" => t.tcp = Some(v),
            "tcpfin" => t.tcp_fin = Some(v),
            "udp" => t.udp = Some(v),
            o => return Err(s.err(format!("lvs_timeouts: unknown option {}", shown(o)))),
        }
        i += 2;
    }
    Ok(t)
}

fn sync_daemon(s: &Stmt) -> Result<LvsSyncDaemon, ConfigError> {
    let interface = s
        .words
        .get(1)
        .ok_or_else(|| s.err("lvs_sync_daemon: requires an interface"))?
        .clone();
    let mut d = LvsSyncDaemon {
        interface,
        instance: None,
        id: None,
        maxlen: None,
        port: None,
        ttl: None,
        group: None,
    };
    let mut i = 2;
    while i < s.words.len() {
        let w = s.words[i].as_str();
        let next = s.words.get(i + 1);
        match w {
            "id" => d.id = Some(num(s, w, next, 0u8, 255)?),
            "maxlen" => d.maxlen = Some(num(s, w, next, 1u16, 65535 - 20 - 8)?),
            "port" => d.port = Some(num(s, w, next, 1u16, 65535)?),
            "ttl" => d.ttl = Some(num(s, w, next, 1u8, 255)?),
            "group" => {
                let a: IpAddr = next
                    .and_then(|v| v.parse().ok())
                    .filter(|a: &IpAddr| a.is_multicast())
                    .ok_or_else(|| s.err("lvs_sync_daemon: group needs a multicast address"))?;
                d.group = Some(a);
            }
            _ if i == 2 => {
                d.instance = Some(w.to_string());
                i += 1;
                continue;
            }
            _ => return Err(s.err(format!("lvs_sync_daemon: unknown option {}", shown(w)))),
        }
        i += 2;
    }
    Ok(d)
}

/// A decimal number of seconds (keepalived reads timers to the microsecond).
fn secs(s: &Stmt, min: Duration) -> Result<Duration, ConfigError> {
    let v = s.one_arg()?;
    parse_secs(v)
        .filter(|d| *d >= min && *d <= Duration::from_secs(u32::MAX as u64 / 1_000_000 * 1000))
        .ok_or_else(|| {
            s.err(format!(
                "{}: invalid value {}, expected a number of seconds{}",
                s.kw(),
                shown(v),
                if min.is_zero() { "" } else { " above 0" }
            ))
        })
}

/// Parses `12`, `0.5`, `1.25` (up to 6 decimals) as a duration.
pub(crate) fn parse_secs(v: &str) -> Option<Duration> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 6 {
        return None;
    }
    if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let i: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let f: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    Some(Duration::from_secs(i) + Duration::from_micros(f))
}

/// A shared timer keyword (virtual server, real server, checker level); `false` when
/// `s` is none of them.
fn timer_keyword(s: &Stmt, t: &mut CheckTimers, in_checker: bool) -> Result<bool, ConfigError> {
    match s.kw() {
        "delay_loop" => t.delay_loop = Some(secs(s, Duration::from_micros(1))?),
        "connect_timeout" => t.connect_timeout = Some(secs(s, Duration::from_micros(1))?),
        "retry" | "nb_get_retry" => {
            // keepalived: 0 is valid in a checker only.
            t.retry = Some(s.int(i64::from(!in_checker), u32::MAX as i64)? as u32)
        }
        "delay_before_retry" => t.delay_before_retry = Some(secs(s, Duration::ZERO)?),
        "warmup" => t.warmup = Some(secs(s, Duration::ZERO)?),
        "alpha" => {
            t.alpha = Some(match s.words.get(1).map(String::as_str) {
                None => true,
                Some("true" | "yes" | "on") => true,
                Some("false" | "no" | "off") => false,
                Some(v) => return Err(s.err(format!("alpha: invalid value {}", shown(v)))),
            })
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn addr(s: &Stmt, v: &str) -> Result<IpAddr, ConfigError> {
    v.parse()
        .map_err(|_| s.err(format!("{}: {} is not an IP address", s.kw(), shown(v))))
}

fn port(s: &Stmt, v: Option<&String>) -> Result<u16, ConfigError> {
    match v {
        None => Ok(0),
        Some(v) => v
            .parse::<u16>()
            .map_err(|_| s.err(format!("{}: invalid port {}", s.kw(), shown(v)))),
    }
}

/// `IP [PORT]` after the keyword.
fn socket(s: &Stmt) -> Result<SocketAddr, ConfigError> {
    match s.words.as_slice() {
        [_, a] | [_, a, _] => Ok(SocketAddr::new(addr(s, a)?, port(s, s.words.get(2))?)),
        _ => Err(s.err(format!("{}: expected IP [PORT]", s.kw()))),
    }
}

fn forwarding(s: &Stmt) -> Result<Forwarding, ConfigError> {
    let method = match s.words.get(1).map(String::as_str) {
        Some("NAT") => LvsMethod::Nat,
        Some("DR") => LvsMethod::Dr,
        Some("TUN") => LvsMethod::Tun,
        Some(v) => {
            return Err(s.err(format!(
                "{}: unknown forwarding method {}, expected NAT, DR or TUN",
                s.kw(),
                shown(v)
            )))
        }
        None => return Err(s.err(format!("{}: missing value", s.kw()))),
    };
    let mut f = Forwarding {
        method,
        tunnel: TunnelKind::Ipip,
        tunnel_port: 0,
        csum: TunnelCsum::NoCsum,
    };
    let mut i = 2;
    while i < s.words.len() {
        let next = s.words.get(i + 1);
        match s.words[i].as_str() {
            "type" => {
                f.tunnel = match next.map(String::as_str) {
                    Some("ipip") => TunnelKind::Ipip,
                    Some("gue") => TunnelKind::Gue,
                    Some("gre") => TunnelKind::Gre,
                    _ => {
                        return Err(
                            s.err(format!("{}: tunnel type must be ipip, gue or gre", s.kw()))
                        )
                    }
                };
                i += 1;
            }
            "port" => {
                f.tunnel_port = num(s, "port", next, 1u16, 65535)?;
                i += 1;
            }
            "nocsum" => f.csum = TunnelCsum::NoCsum,
            "csum" => f.csum = TunnelCsum::Csum,
            "remcsum" => f.csum = TunnelCsum::RemCsum,
            o => return Err(s.err(format!("{}: invalid tunnel option {}", s.kw(), shown(o)))),
        }
        i += 1;
    }
    if i > 2 && method != LvsMethod::Tun {
        return Err(s.err(format!("{}: tunnel options need TUN", s.kw())));
    }
    if (f.tunnel == TunnelKind::Gue) != (f.tunnel_port != 0) {
        return Err(s.err(format!(
            "{}: gue tunnels require a port, other tunnels cannot have one",
            s.kw()
        )));
    }
    if f.tunnel == TunnelKind::Ipip && f.csum != TunnelCsum::NoCsum {
        return Err(s.err(format!(
            "{}: ipip tunnels do not support checksum options",
            s.kw()
        )));
    }
    if f.tunnel == TunnelKind::Gre && f.csum == TunnelCsum::RemCsum {
        return Err(s.err(format!("{}: gre tunnels do not support remcsum", s.kw())));
    }
    Ok(f)
}

fn expect_block(s: &Stmt, usage: &str) -> Result<(), ConfigError> {
    if !s.has_block {
        return Err(s.err(format!("{}: expected '{usage} {{'", s.kw())));
    }
    Ok(())
}

/// `virtual_server_group NAME { ... }`.
pub(super) fn parse_group(p: &mut Parser, s: &Stmt) -> Result<VirtualServerGroup, ConfigError> {
    let name = super::block_name(s)?;
    let mut entries = Vec::new();
    for l in p.list_block()? {
        let w = &l.words;
        if w[0] == "fwmark" {
            match w.as_slice() {
                [_, m] | [_, m, _] => entries.push(VsgEntry::Fwmark(num(
                    &l,
                    "fwmark",
                    Some(m),
                    1u32,
                    u32::MAX,
                )?)),
                _ => return Err(l.err("virtual_server_group: expected 'fwmark N'")),
            }
            continue;
        }
        if w.len() > 2 {
            return Err(l.err("virtual_server_group: expected 'IP[-LAST] [PORT]' or 'fwmark N'"));
        }
        let (first, count) = match w[0].split_once('-') {
            None => (addr(&l, &w[0])?, 1),
            Some((a, last)) => {
                let first = addr(&l, a)?;
                let lastn: u32 = last
                    .parse()
                    .ok()
                    .filter(|n| *n <= if first.is_ipv4() { 255 } else { 65535 })
                    .ok_or_else(|| {
                        l.err(format!("virtual_server_group: bad range {}", shown(&w[0])))
                    })?;
                let base = match first {
                    IpAddr::V4(v) => u32::from(v.octets()[3]),
                    IpAddr::V6(v) => u32::from(v.segments()[7]),
                };
                if lastn < base {
                    return Err(l.err(format!(
                        "virtual_server_group: range {} ends before it starts",
                        shown(&w[0])
                    )));
                }
                (first, lastn - base + 1)
            }
        };
        entries.push(VsgEntry::Range {
            first,
            count,
            port: port(&l, w.get(1))?,
        });
    }
    Ok(VirtualServerGroup {
        name,
        entries,
        location: s.location(),
    })
}

/// `virtual_server IP PORT | fwmark N | group NAME { ... }`.
pub(super) fn parse_virtual_server(p: &mut Parser, s: &Stmt) -> Result<VirtualServer, ConfigError> {
    expect_block(s, "virtual_server IP PORT")?;
    let address = match s.words.as_slice() {
        [_, f, m] if f == "fwmark" => VsAddress::Fwmark(num(s, "fwmark", Some(m), 1u32, u32::MAX)?),
        [_, g, n] if g == "group" => VsAddress::Group(n.clone()),
        [_, _] | [_, _, _] => VsAddress::Socket(socket(s)?),
        _ => return Err(s.err("virtual_server: expected IP [PORT], fwmark N or group NAME")),
    };
    let mut vs = VirtualServer {
        address,
        protocol: None,
        ip_family: None,
        scheduler: None,
        ops: false,
        sched_flags: Vec::new(),
        forwarding: None,
        persistence_timeout: None,
        persistence_granularity: None,
        persistence_engine: None,
        quorum: 1,
        hysteresis: 0,
        quorum_up: None,
        quorum_down: None,
        sorry_server: None,
        inhibit_on_failure: false,
        omega: false,
        ha_suspend: false,
        virtualhost: None,
        weight: 1,
        timers: CheckTimers::default(),
        real_servers: Vec::new(),
        location: s.location(),
    };
    while let Some(k) = p.next_stmt(true)? {
        if k.kw() == "real_server" {
            vs.real_servers.push(parse_real_server(p, &k)?);
            continue;
        }
        k.no_block()?;
        if timer_keyword(&k, &mut vs.timers, false)? {
            continue;
        }
        match k.kw() {
            "lvs_sched" | "lb_algo" => {
                let v = k.one_arg()?;
                if !SCHEDULERS.contains(&v) {
                    return Err(k.err(format!(
                        "{}: unknown scheduler {}, expected one of {}",
                        k.kw(),
                        shown(v),
                        SCHEDULERS.join(", ")
                    )));
                }
                vs.scheduler = Some(v.to_string());
            }
            "ops" => {
                k.no_arg()?;
                vs.ops = true;
            }
            "hashed" | "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port"
            | "mh-fallback" => {
                k.no_arg()?;
                vs.sched_flags.push(k.kw().to_string());
            }
            "lvs_method" | "lb_kind" => vs.forwarding = Some(forwarding(&k)?),
            "protocol" => {
                vs.protocol = Some(match k.one_arg()?.to_ascii_uppercase().as_str() {
                    "TCP" => LvsProtocol::Tcp,
                    "UDP" => LvsProtocol::Udp,
                    "SCTP" => LvsProtocol::Sctp,
                    _ => {
                        return Err(k.err(format!(
                            "protocol: unknown protocol {}, expected TCP, UDP or SCTP",
                            shown(k.one_arg()?)
                        )))
                    }
                })
            }
            "ip_family" => {
                vs.ip_family = Some(match k.one_arg()? {
                    "inet" => IpFamily::Inet,
                    "inet6" => IpFamily::Inet6,
                    v => return Err(k.err(format!("ip_family: unknown family {}", shown(v)))),
                })
            }
            "persistence_timeout" => {
                vs.persistence_timeout = Some(if k.words.len() == 1 {
                    DEFAULT_PERSISTENCE
                } else {
                    k.int(1, 86400 * 31)? as u32
                })
            }
            "persistence_granularity" => {
                vs.persistence_granularity = Some(k.one_arg()?.to_string());
                vs.persistence_timeout.get_or_insert(DEFAULT_PERSISTENCE);
            }
            "persistence_engine" => vs.persistence_engine = Some(k.one_arg()?.to_string()),
            "quorum" => vs.quorum = k.int(1, u32::MAX as i64)? as u32,
            "hysteresis" => vs.hysteresis = k.int(0, u32::MAX as i64)? as u32,
            "quorum_up" => vs.quorum_up = Some(command(&k)?),
            "quorum_down" => vs.quorum_down = Some(command(&k)?),
            "sorry_server" => {
                vs.sorry_server = Some(SorryServer {
                    addr: socket(&k)?,
                    inhibit: false,
                    forwarding: None,
                })
            }
            "sorry_server_inhibit" => match vs.sorry_server.as_mut() {
                Some(ss) => ss.inhibit = true,
                None => {
                    return Err(k.err("sorry_server_inhibit: used before or without sorry_server"))
                }
            },
            "sorry_server_lvs_method" => {
                let f = forwarding(&k)?;
                match vs.sorry_server.as_mut() {
                    Some(ss) => ss.forwarding = Some(f),
                    None => return Err(k.err("sorry_server_lvs_method: used without sorry_server")),
                }
            }
            "inhibit_on_failure" => {
                k.no_arg()?;
                vs.inhibit_on_failure = true;
            }
            "omega" => {
                k.no_arg()?;
                vs.omega = true;
            }
            "ha_suspend" => {
                k.no_arg()?;
                vs.ha_suspend = true;
            }
            "virtualhost" => vs.virtualhost = Some(k.one_arg()?.to_string()),
            "weight" => vs.weight = k.int(0, WEIGHT_LIMIT as i64)? as u32,
            _ => return Err(k.unsupported("virtual_server")),
        }
    }
    for f in &vs.sched_flags {
        let ok = match f.as_str() {
            "sh-port" | "sh-fallback" => vs.scheduler.as_deref() == Some("sh"),
            "mh-port" | "mh-fallback" => vs.scheduler.as_deref() == Some("mh"),
            _ => true,
        };
        if !ok {
            return Err(s.err(format!(
                "virtual_server: {f} only applies to the {} scheduler",
                &f[..2]
            )));
        }
    }
    Ok(vs)
}

fn parse_real_server(p: &mut Parser, s: &Stmt) -> Result<RealServer, ConfigError> {
    expect_block(s, "real_server IP PORT")?;
    let mut rs = RealServer {
        addr: socket(s)?,
        weight: None,
        forwarding: None,
        uthreshold: 0,
        lthreshold: 0,
        inhibit_on_failure: None,
        notify_up: None,
        notify_down: None,
        virtualhost: None,
        timers: CheckTimers::default(),
        checkers: Vec::new(),
        location: s.location(),
    };
    while let Some(k) = p.next_stmt(true)? {
        if matches!(k.kw(), "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK") {
            expect_block(&k, k.kw())?;
            rs.checkers.push(parse_checker(p, &k)?);
            continue;
        }
        k.no_block()?;
        if timer_keyword(&k, &mut rs.timers, false)? {
            continue;
        }
        match k.kw() {
            "weight" => rs.weight = Some(k.int(0, WEIGHT_LIMIT as i64)? as u32),
            "lvs_method" => rs.forwarding = Some(forwarding(&k)?),
            "uthreshold" => rs.uthreshold = k.int(0, u32::MAX as i64)? as u32,
            "lthreshold" => rs.lthreshold = k.int(0, u32::MAX as i64)? as u32,
            "inhibit_on_failure" => rs.inhibit_on_failure = Some(super::ssl::flag(&k)?),
            "notify_up" => rs.notify_up = Some(command(&k)?),
            "notify_down" => rs.notify_down = Some(command(&k)?),
            "virtualhost" => rs.virtualhost = Some(k.one_arg()?.to_string()),
            _ => return Err(k.unsupported("real_server")),
        }
    }
    Ok(rs)
}

fn parse_checker(p: &mut Parser, s: &Stmt) -> Result<Checker, ConfigError> {
    let ctx = s.kw().to_string();
    let mut kind = match s.kw() {
        "TCP_CHECK" => CheckKind::Tcp,
        "MISC_CHECK" => CheckKind::Misc(MiscCheck {
            command: Vec::new(),
            timeout: None,
            dynamic: false,
            user: None,
        }),
        k => CheckKind::Http(HttpCheck {
            tls: k == "SSL_GET",
            virtualhost: None,
            urls: Vec::new(),
            enable_sni: false,
        }),
    };
    let mut c = Checker {
        kind: CheckKind::Tcp,
        connect_ip: None,
        connect_port: None,
        bindto: None,
        bind_port: None,
        timers: CheckTimers::default(),
    };
    while let Some(k) = p.next_stmt(true)? {
        if k.kw() == "url" {
            let CheckKind::Http(h) = &mut kind else {
                return Err(k.unsupported(&ctx));
            };
            expect_block(&k, "url")?;
            h.urls.push(parse_url(p, &k)?);
            continue;
        }
        k.no_block()?;
        let common = !matches!(kind, CheckKind::Misc(_));
        if (common || !matches!(k.kw(), "connect_timeout"))
            && timer_keyword(&k, &mut c.timers, true)?
        {
            continue;
        }
        match (k.kw(), &mut kind) {
            ("connect_ip", _) if common => c.connect_ip = Some(addr(&k, k.one_arg()?)?),
            ("connect_port", _) if common => {
                c.connect_port = Some(num(&k, "port", k.words.get(1), 1u16, 65535)?)
            }
            ("bindto", _) if common => c.bindto = Some(addr(&k, k.one_arg()?)?),
            ("bind_port", _) if common => {
                c.bind_port = Some(num(&k, "port", k.words.get(1), 1u16, 65535)?)
            }
            ("virtualhost", CheckKind::Http(h)) => h.virtualhost = Some(k.one_arg()?.to_string()),
            ("enable_sni", CheckKind::Http(h)) => h.enable_sni = super::ssl::flag(&k)?,
            ("misc_path", CheckKind::Misc(m)) => m.command = command(&k)?,
            ("misc_timeout", CheckKind::Misc(m)) => {
                m.timeout = Some(Duration::from_secs(k.int(0, 86400)? as u64))
            }
            ("misc_dynamic", CheckKind::Misc(m)) => {
                k.no_arg()?;
                m.dynamic = true;
            }
            ("user", CheckKind::Misc(m)) => m.user = Some(user_group(&k)?),
            _ => return Err(k.unsupported(&ctx)),
        }
    }
    match &kind {
        CheckKind::Misc(m) if m.command.is_empty() => {
            return Err(s.err("MISC_CHECK: missing 'misc_path'"))
        }
        CheckKind::Http(h) if h.urls.is_empty() => {
            return Err(s.err(format!("{ctx}: needs at least one 'url' block")))
        }
        _ => {}
    }
    c.kind = kind;
    Ok(c)
}

fn parse_url(p: &mut Parser, head: &Stmt) -> Result<UrlCheck, ConfigError> {
    let mut u = UrlCheck {
        path: String::new(),
        status_codes: Vec::new(),
        digest: None,
        virtualhost: None,
    };
    while let Some(k) = p.next_stmt(true)? {
        k.no_block()?;
        match k.kw() {
            "path" => u.path = k.one_arg()?.to_string(),
            "digest" => {
                let v = k.one_arg()?;
                let bytes: Option<Vec<u8>> = (v.len() == 32)
                    .then(|| {
                        (0..16)
                            .map(|i| u8::from_str_radix(&v[2 * i..2 * i + 2], 16).ok())
                            .collect()
                    })
                    .flatten();
                let mut d = [0u8; 16];
                match bytes {
                    Some(b) => d.copy_from_slice(&b),
                    None => {
                        return Err(k.err(format!(
                            "digest: {} is not 32 hex digits (an MD5 sum)",
                            shown(v)
                        )))
                    }
                }
                u.digest = Some(d);
            }
            "status_code" => {
                if k.words.len() < 2 {
                    return Err(k.err("status_code: missing value"));
                }
                for w in &k.words[1..] {
                    let (lo, hi) = w.split_once('-').unwrap_or((w, w));
                    let r = lo.parse::<u16>().ok().zip(hi.parse::<u16>().ok());
                    match r {
                        Some((lo, hi)) if (100..=599).contains(&lo) && (lo..=599).contains(&hi) => {
                            u.status_codes.push((lo, hi))
                        }
                        _ => {
                            return Err(k.err(format!(
                                "status_code: {} is no status code (100-599) or range",
                                shown(w)
                            )))
                        }
                    }
                }
            }
            "virtualhost" => u.virtualhost = Some(k.one_arg()?.to_string()),
            _ => return Err(k.unsupported("url")),
        }
    }
    if u.path.is_empty() {
        return Err(head.err("url: missing 'path'"));
    }
    Ok(u)
}
