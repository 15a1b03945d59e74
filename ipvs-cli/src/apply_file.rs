//! `--apply FILE`: make the table match a file, changing only what differs.
//!
//! FILE is what `-S` writes (`--lossless` included: `--set` and
//! `--start-daemon` lines too) or the document `-L --json` prints (detected
//! by its first character), `-` for standard input. The whole file is read
//! and checked before anything is sent; ipvs-core's declarative apply then
//! plans the changes inside the scope (`--scope`, default the whole table),
//! drains TCP destinations that go (`--drain-timeout`), and undoes everything
//! if the kernel refuses a change part-way (unless `--best-effort`).
//! `--dry-run` prints the plan (as JSON with `--json`) and changes nothing.

use std::io::{self, BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr};

use ipvs_core::apply::{ApplyMode, ApplyOptions, Plan, Scope, TableSpec};
use ipvs_core::{
    AddressFamily, Destination, DestinationSpec, ForwardMethod, Handle, Netmask, Protocol, Request,
    Scheduler, Service, ServiceFlags, ServiceKey, SyncDaemon, Timeouts, TunnelChecksum, TunnelType,
};
use serde::Deserialize;

use crate::args::{self, Action, ApplyCommand, Op};
use crate::restore;
use crate::strerror::ipvs_strerror;

/// Exit status for a file that cannot be read or does not parse (ipvsadm's
/// code for bad input).
pub const BAD_INPUT: i32 = 2;
/// Exit status when the kernel refused a change (ipvsadm's code for a failed
/// call in `-R`).
pub const REFUSED: i32 = 255;
/// The largest input accepted (a 10,000 x 10 `-S` file is about 7 MB).
pub const MAX_INPUT_BYTES: u64 = 512 << 20;

/// What the file asks for: the table, and the lossless extras.
#[derive(Debug, Default)]
struct Desired {
    table: TableSpec,
    timeouts: Option<Timeouts>,
    daemons: Vec<SyncDaemon>,
}

/// Run `--apply`: read, check, plan, apply; returns the exit status.
pub fn apply(
    program: &str,
    cmd: &ApplyCommand,
    stdin: &mut dyn BufRead,
    h: &mut Handle,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let text = match read_input(&cmd.file, stdin) {
        Ok(t) => t,
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(BAD_INPUT);
        }
    };
    let desired = if text.trim_start().starts_with(['{', '[']) {
        from_json(&text)
    } else {
        from_rules(program, &text, err)?
    };
    let desired = match desired {
        Ok(d) => d,
        Err(e) => {
            writeln!(err, "{}: {e}", cmd.file)?;
            return Ok(BAD_INPUT);
        }
    };
    let scope = if cmd.scopes.is_empty() {
        Scope::all()
    } else {
        cmd.scopes.iter().cloned().fold(Scope::new(), Scope::union)
    };
    let options = ApplyOptions::new(scope)
        .mode(if cmd.best_effort {
            ApplyMode::BestEffort
        } else {
            ApplyMode::AllOrNothing
        })
        .drain_timeout(cmd.drain_timeout);
    let planned = match h.apply(&desired.table, &options.clone().dry_run(true)) {
        Ok(r) => r.plan,
        Err(e) => {
            writeln!(err, "{}: {}", cmd.file, ipvs_strerror(None, &e))?;
            return Ok(1);
        }
    };
    let extras = match extra_requests(h, &desired) {
        Ok(r) => r,
        Err(e) => {
            writeln!(err, "{}", ipvs_strerror(None, &e))?;
            return Ok(1);
        }
    };
    if cmd.dry_run {
        print_plan(out, &planned, &extras, cmd.json)?;
        return Ok(0);
    }
    let mut requests = planned.requests();
    let table_len = requests.len();
    requests.extend(extras.iter().cloned());
    if requests.is_empty() {
        return Ok(0);
    }
    let outcome = match h.transaction(requests, options.mode) {
        Ok(o) => o,
        Err(e) => {
            writeln!(err, "{}", ipvs_strerror(None, &e))?;
            return Ok(1);
        }
    };
    for f in &outcome.failures {
        let what = match planned.changes.get(f.index) {
            Some(change) => change.to_string(),
            None => format!("{:?}", extras.get(f.index - table_len)),
        };
        writeln!(
            err,
            "{what}: {}",
            ipvs_strerror(op_of(&f.request), &f.error)
        )?;
    }
    if let Some(e) = &outcome.aborted {
        writeln!(err, "{}", ipvs_strerror(None, e))?;
    }
    if outcome.rolled_back {
        if outcome.rollback_failures.is_empty() {
            writeln!(
                err,
                "nothing was changed: every change already made was undone"
            )?;
        } else {
            writeln!(err, "the table could not be put back entirely:")?;
            for f in &outcome.rollback_failures {
                writeln!(err, "  undo {:?}: {}", f.request, f.error)?;
            }
        }
    }
    if !outcome.is_ok() {
        return Ok(REFUSED);
    }
    // Destinations that drain are deleted once empty or after the timeout.
    let draining = !planned.draining.is_empty()
        || planned
            .changes
            .iter()
            .any(|c| matches!(c, ipvs_core::apply::Change::DrainDestination { .. }));
    if draining {
        match h.apply_and_drain(&desired.table, &options) {
            Ok(passes) if passes.iter().all(|p| p.is_ok()) => {}
            Ok(_) => {
                writeln!(err, "draining: a change was refused; run --apply again")?;
                return Ok(REFUSED);
            }
            Err(e) => {
                writeln!(err, "{}", ipvs_strerror(None, &e))?;
                return Ok(1);
            }
        }
    }
    Ok(0)
}

/// The whole input, bounded.
fn read_input(file: &str, stdin: &mut dyn BufRead) -> Result<String, String> {
    let mut text = String::new();
    let result = if file == "-" {
        stdin.take(MAX_INPUT_BYTES + 1).read_to_string(&mut text)
    } else {
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX_INPUT_BYTES + 1).read_to_string(&mut text))
    };
    let name = if file == "-" { "standard input" } else { file };
    result.map_err(|e| format!("cannot read {name}: {e}"))?;
    if text.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!("{name}: larger than {MAX_INPUT_BYTES} bytes"));
    }
    Ok(text)
}

/// The op of a request, for ipvsadm's error words.
fn op_of(r: &Request) -> Option<Op> {
    Some(match r {
        Request::AddService(_) => Op::AddService,
        Request::EditService(_) => Op::EditService,
        Request::DeleteService(_) => Op::DeleteService,
        Request::AddDestination(..) => Op::AddDest,
        Request::EditDestination(..) => Op::EditDest,
        Request::DeleteDestination(..) => Op::DeleteDest,
        Request::SetTimeouts(_) => Op::SetTimeout,
        Request::StartDaemon(_) => Op::StartDaemon,
        Request::StopDaemon(_) => Op::StopDaemon,
        _ => return None,
    })
}

/// Timeouts and sync daemons the file asks for that the kernel does not have.
fn extra_requests(h: &mut Handle, desired: &Desired) -> ipvs_core::Result<Vec<Request>> {
    let mut out = Vec::new();
    if let Some(t) = desired.timeouts {
        if h.timeouts()? != t {
            out.push(Request::SetTimeouts(t));
        }
    }
    if !desired.daemons.is_empty() {
        let running = h.daemons()?;
        for d in &desired.daemons {
            match running.iter().find(|r| r.state == d.state) {
                Some(r) if r == d => {}
                Some(_) => {
                    out.push(Request::StopDaemon(d.state));
                    out.push(Request::StartDaemon(d.clone()));
                }
                None => out.push(Request::StartDaemon(d.clone())),
            }
        }
    }
    Ok(out)
}

fn print_plan(out: &mut dyn Write, plan: &Plan, extras: &[Request], json: bool) -> io::Result<()> {
    if json {
        let doc = serde_json::json!({
            "changes": plan.changes,
            "draining": plan.draining.iter().map(|(s, d)| serde_json::json!({"service": s.to_string(), "destination": d})).collect::<Vec<_>>(),
            "other": extras.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &doc).map_err(io::Error::other)?;
        return writeln!(out);
    }
    write!(out, "{plan}")?;
    for r in extras {
        match r {
            Request::SetTimeouts(t) => {
                writeln!(out, "set timeouts {} {} {}", t.tcp, t.tcp_fin, t.udp)?
            }
            Request::StartDaemon(d) => {
                writeln!(out, "start sync daemon {:?} on {}", d.state, d.mcast_ifn)?
            }
            Request::StopDaemon(s) => writeln!(out, "stop sync daemon {s:?}")?,
            other => writeln!(out, "{other:?}")?,
        }
    }
    Ok(())
}

/// A `-S` file: `-A`, `-a`, `--set` and `--start-daemon` lines.
fn from_rules(
    program: &str,
    text: &str,
    err: &mut dyn Write,
) -> io::Result<Result<Desired, String>> {
    let checked = match restore::check(program, &mut text.as_bytes(), err)? {
        Ok(c) => c,
        Err(_) => return Ok(Err("bad lines, nothing applied".into())),
    };
    let mut desired = Desired::default();
    for (number, words) in checked.lines() {
        let request = match args::parse(program, &words, true) {
            Ok(Action::Apply { request, .. }) => request,
            Ok(_) | Err(_) => {
                return Ok(Err(format!(
                    "line {number}: --apply reads a table (-A, -a, --set, --start-daemon lines), not `{}`",
                    words.join(" ")
                )))
            }
        };
        match request {
            Request::AddService(s) => {
                if desired.table.get(&s.key).is_some() {
                    return Ok(Err(format!("line {number}: service {} added twice", s.key)));
                }
                desired.table.push(s.spec(), Vec::new());
            }
            Request::AddDestination(key, d) => {
                let Some(entry) = desired.table.entries.iter_mut().find(|e| e.service.key == key) else {
                    return Ok(Err(format!(
                        "line {number}: destination {} of service {key}, which no earlier line adds",
                        d.socket_addr()
                    )));
                };
                entry.destinations.push(d.spec());
            }
            Request::SetTimeouts(t) => desired.timeouts = Some(t),
            Request::StartDaemon(d) => desired.daemons.push(d),
            other => {
                return Ok(Err(format!(
                    "line {number}: --apply reads a table (-A, -a, --set, --start-daemon lines), not {other:?}"
                )))
            }
        }
    }
    Ok(Ok(desired))
}

/// The settings of a `-L --json` service (everything else in the document,
/// counters and rates, is ignored).
#[derive(Debug, Deserialize)]
struct JsonService {
    protocol: String,
    address: Option<String>,
    port: Option<u16>,
    fwmark: Option<u32>,
    #[serde(default)]
    family: Option<String>,
    scheduler: String,
    #[serde(default)]
    scheduler_flags: Vec<String>,
    #[serde(default)]
    persistent: bool,
    #[serde(default)]
    timeout: u32,
    #[serde(default)]
    netmask: Option<String>,
    #[serde(default)]
    pe: Option<String>,
    #[serde(default)]
    one_packet: bool,
    #[serde(default)]
    destinations: Vec<JsonDestination>,
}

#[derive(Debug, Deserialize)]
struct JsonDestination {
    address: String,
    port: u16,
    forward: String,
    #[serde(default = "one")]
    weight: u32,
    #[serde(default)]
    upper_threshold: u32,
    #[serde(default)]
    lower_threshold: u32,
    #[serde(default)]
    tunnel: Option<JsonTunnel>,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
struct JsonTunnel {
    #[serde(rename = "type")]
    kind: String,
    port: Option<u16>,
    checksum: Option<String>,
}

#[derive(Debug, Deserialize)]
struct JsonDocument {
    services: Vec<JsonService>,
}

/// A `-L --json` document (or a bare array of its services).
fn from_json(text: &str) -> Result<Desired, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let services: Vec<JsonService> = if text.trim_start().starts_with('[') {
        serde_path_to_error::deserialize(de)
            .map_err(|e| format!("at {}: {}", e.path(), e.inner()))?
    } else {
        let doc: JsonDocument = serde_path_to_error::deserialize(de)
            .map_err(|e| format!("at {}: {}", e.path(), e.inner()))?;
        doc.services
    };
    let mut desired = Desired::default();
    for (i, s) in services.iter().enumerate() {
        let at = format!("services[{i}]");
        let service = json_service(s).map_err(|e| format!("at {at}: {e}"))?;
        if desired.table.get(&service.key).is_some() {
            return Err(format!("at {at}: service {} listed twice", service.key));
        }
        let mut dests = Vec::new();
        for (j, d) in s.destinations.iter().enumerate() {
            dests.push(json_destination(d).map_err(|e| format!("at {at}.destinations[{j}]: {e}"))?);
        }
        desired.table.push(service.spec(), dests);
    }
    Ok(desired)
}

fn json_service(s: &JsonService) -> Result<Service, String> {
    let family = match s.family.as_deref() {
        None | Some("ipv4") => AddressFamily::Inet,
        Some("ipv6") => AddressFamily::Inet6,
        Some(other) => return Err(format!("family {other:?} (ipv4 or ipv6)")),
    };
    let addr = |s: &JsonService| -> Result<SocketAddr, String> {
        let a: IpAddr = s
            .address
            .as_deref()
            .ok_or("address missing")?
            .parse()
            .map_err(|e| format!("address: {e}"))?;
        Ok(SocketAddr::new(a, s.port.ok_or("port missing")?))
    };
    let key = match s.protocol.as_str() {
        "tcp" => ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: addr(s)?,
        },
        "udp" => ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: addr(s)?,
        },
        "sctp" => ServiceKey::Addr {
            protocol: Protocol::Sctp,
            addr: addr(s)?,
        },
        "fwmark" => match s.fwmark {
            Some(m) if m > 0 => ServiceKey::fwmark(m, family),
            _ => return Err("fwmark missing or 0".into()),
        },
        other => return Err(format!("protocol {other:?} (tcp, udp, sctp or fwmark)")),
    };
    let scheduler = Scheduler::from(s.scheduler.as_str());
    let mut service = Service::new(key, scheduler);
    if s.persistent {
        service = service.persistent(s.timeout);
    }
    if s.one_packet {
        service = service.flags(ServiceFlags::ONEPACKET);
    }
    for f in &s.scheduler_flags {
        service = service.flags(
            ServiceFlags::from_sched_flag_name(f).ok_or_else(|| format!("scheduler flag {f:?}"))?,
        );
    }
    if let Some(mask) = &s.netmask {
        service = service.netmask(match key.family() {
            AddressFamily::Inet6 => Netmask::V6(
                mask.parse()
                    .map_err(|_| format!("netmask {mask:?} (a prefix length)"))?,
            ),
            _ => Netmask::V4(
                mask.parse()
                    .map_err(|_| format!("netmask {mask:?} (a dotted mask)"))?,
            ),
        });
    }
    if let Some(pe) = &s.pe {
        service = service.persistence_engine(pe);
    }
    Ok(service)
}

fn json_destination(d: &JsonDestination) -> Result<DestinationSpec, String> {
    let addr: IpAddr = d.address.parse().map_err(|e| format!("address: {e}"))?;
    let forward = match d.forward.as_str() {
        "masquerade" => ForwardMethod::Masquerade,
        "local" => ForwardMethod::Local,
        "tunnel" => ForwardMethod::Tunnel,
        "route" => ForwardMethod::DirectRoute,
        "bypass" => ForwardMethod::Bypass,
        other => {
            return Err(format!(
                "forward {other:?} (masquerade, local, tunnel, route or bypass)"
            ))
        }
    };
    let mut dest = Destination::new(SocketAddr::new(addr, d.port), forward)
        .weight(d.weight)
        .thresholds(d.upper_threshold, d.lower_threshold);
    if let Some(t) = &d.tunnel {
        let kind = match t.kind.as_str() {
            "ipip" => TunnelType::Ipip,
            "gue" => TunnelType::Gue,
            "gre" => TunnelType::Gre,
            other => return Err(format!("tunnel type {other:?} (ipip, gue or gre)")),
        };
        dest = dest.tunnel(kind, t.port.unwrap_or(0));
        dest = dest.tunnel_checksum(match t.checksum.as_deref() {
            None | Some("nocsum") => TunnelChecksum::NoCsum,
            Some("csum") => TunnelChecksum::Csum,
            Some("remcsum") => TunnelChecksum::RemCsum,
            Some(other) => return Err(format!("tunnel checksum {other:?}")),
        });
    }
    Ok(dest.spec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_become_a_desired_table() {
        let text = "-A -t 192.0.2.1:80 -s wrr\n# a comment\n-a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 3 -x 10 -y 5\n--set 900 120 300\n";
        let d = from_rules("ipvsadm", text, &mut Vec::new())
            .unwrap()
            .unwrap();
        assert_eq!(d.table.entries.len(), 1);
        let e = &d.table.entries[0];
        assert_eq!(e.service.scheduler, Scheduler::Wrr);
        assert_eq!(
            (e.destinations[0].weight, e.destinations[0].upper_threshold),
            (3, 10)
        );
        assert_eq!(d.timeouts, Some(Timeouts::new(900, 120, 300)));
        let orphan = from_rules(
            "ipvsadm",
            "-a -t 192.0.2.1:80 -r 198.51.100.2:80 -m\n",
            &mut Vec::new(),
        )
        .unwrap();
        assert!(orphan.unwrap_err().contains("line 1"));
        let other = from_rules(
            "ipvsadm",
            "-A -t 192.0.2.1:80\n-D -t 192.0.2.1:80\n",
            &mut Vec::new(),
        )
        .unwrap();
        assert!(other.unwrap_err().contains("line 2"));
    }

    #[test]
    fn json_errors_name_the_path() {
        let doc = r#"{"services": [{"protocol": "tcp", "address": "192.0.2.1", "port": 80, "scheduler": "rr",
            "destinations": [{"address": "198.51.100.2", "port": 80, "forward": "sideways"}]}]}"#;
        let e = from_json(doc).unwrap_err();
        assert!(
            e.contains("services[0].destinations[0]") && e.contains("sideways"),
            "{e}"
        );
        let e = from_json(r#"{"services": [{"protocol": "tcp", "port": "x"}]}"#).unwrap_err();
        assert!(e.contains("services[0]"), "{e}");
        let ok = from_json(r#"[{"protocol": "fwmark", "fwmark": 7, "family": "ipv6", "scheduler": "mh", "scheduler_flags": ["mh-port"]}]"#).unwrap();
        assert_eq!(
            ok.table.entries[0].service.key,
            ServiceKey::fwmark(7, AddressFamily::Inet6)
        );
        assert!(ok.table.entries[0]
            .service
            .flags
            .contains(ServiceFlags::MH_PORT));
    }
}
