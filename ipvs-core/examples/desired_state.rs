//! Compare a desired service with what the kernel has, through the
//! config-only view (`Service::spec`, `Destination::spec`): counters,
//! connection counts and the kernel's own HASHED flag never count as a
//! difference. Prints what would have to change, changes nothing.
//!
//! `desired_state VIP:PORT SCHEDULER [RIP:PORT=WEIGHT ...]` (TCP, masquerading)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;

use ipvs_core::{
    Destination, DestinationSpec, ForwardMethod, Handle, Scheduler, Service, ServiceKey,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (service, dests) = match parse(&args) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "desired_state: {e}\nusage: desired_state VIP:PORT SCHEDULER [RIP:PORT=WEIGHT ...]"
            );
            return ExitCode::from(2);
        }
    };
    match diff(&service, &dests) {
        Ok(changes) if changes.is_empty() => {
            println!("in line: nothing to change");
            ExitCode::SUCCESS
        }
        Ok(changes) => {
            for c in changes {
                println!("{c}");
            }
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("desired_state: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<(Service, Vec<Destination>), String> {
    let [vip, sched, rest @ ..] = args else {
        return Err("missing VIP:PORT or SCHEDULER".into());
    };
    let vip: SocketAddr = vip.parse().map_err(|e| format!("VIP:PORT {vip:?}: {e}"))?;
    let mut dests = Vec::new();
    for arg in rest {
        let (addr, weight) = arg.split_once('=').unwrap_or((arg, "1"));
        let addr: SocketAddr = addr
            .parse()
            .map_err(|e| format!("destination {addr:?}: {e}"))?;
        let weight: u32 = weight
            .parse()
            .map_err(|e| format!("weight {weight:?}: {e}"))?;
        dests.push(Destination::new(addr, ForwardMethod::Masquerade).weight(weight));
    }
    Ok((
        Service::new(ServiceKey::tcp(vip), Scheduler::from(sched.as_str())),
        dests,
    ))
}

/// The changes that would turn the kernel's table into the desired service.
fn diff(desired: &Service, dests: &[Destination]) -> ipvs_core::Result<Vec<String>> {
    let mut ipvs = Handle::new()?;
    let table = ipvs.table()?;
    let key = desired.key;
    let Some(actual) = table.get(&key) else {
        let mut changes = vec![format!("add service {key} {}", desired.scheduler)];
        changes.extend(
            dests
                .iter()
                .map(|d| format!("add destination {}", d.socket_addr())),
        );
        return Ok(changes);
    };
    let mut changes = Vec::new();
    if actual.service.spec() != desired.spec() {
        changes.push(format!(
            "edit service {key}: {:?} -> {:?}",
            actual.service.spec(),
            desired.spec()
        ));
    }
    let have: BTreeMap<SocketAddr, DestinationSpec> = actual
        .destinations
        .iter()
        .map(|d| (d.socket_addr(), d.spec()))
        .collect();
    for want in dests.iter().map(Destination::spec) {
        match have.get(&want.socket_addr()) {
            None => changes.push(format!("add destination {}", want.socket_addr())),
            Some(got) if *got != want => changes.push(format!(
                "edit destination {}: weight {} -> {}",
                want.socket_addr(),
                got.weight,
                want.weight
            )),
            Some(_) => {}
        }
    }
    for addr in have.keys() {
        if !dests.iter().any(|d| d.socket_addr() == *addr) {
            changes.push(format!("delete destination {addr}"));
        }
    }
    Ok(changes)
}
