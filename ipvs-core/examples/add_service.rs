//! Add a TCP service with masquerading destinations in one batch, like
//! `ipvsadm -A -t VIP:PORT -s SCHED` followed by one `ipvsadm -a … -m -w W`
//! per destination.
//!
//! `cargo run -p ipvs-core --example add_service -- 192.0.2.1:80 wlc 198.51.100.2:8080 198.51.100.3:8080=3`
//! (`=W` sets a weight, default 1). Needs CAP_NET_ADMIN and IPVS: try it in
//! the lab (`cargo xtask shell`).

use std::net::SocketAddr;
use std::process::ExitCode;

use ipvs_core::{Destination, ForwardMethod, Handle, Request, Scheduler, Service, ServiceKey};

const USAGE: &str = "usage: add_service VIP:PORT SCHEDULER [RIP:PORT[=WEIGHT]]...";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (key, scheduler, dests) = match parse(&args) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("add_service: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(key, scheduler, dests) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("add_service: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<(ServiceKey, Scheduler, Vec<Destination>), String> {
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
            .map_err(|e| format!("weight {weight:?} of {addr}: {e}"))?;
        dests.push(Destination::new(addr, ForwardMethod::Masquerade).weight(weight));
    }
    Ok((ServiceKey::tcp(vip), Scheduler::from(sched.as_str()), dests))
}

/// `Ok(false)` when some destinations failed (each is reported).
fn run(key: ServiceKey, scheduler: Scheduler, dests: Vec<Destination>) -> ipvs_core::Result<bool> {
    let mut ipvs = Handle::new()?;
    // The service first: if it cannot be added, nothing else is tried.
    ipvs.add_service(&Service::new(key, scheduler))?;
    let mut batch = ipvs.batch();
    for d in dests {
        batch.push(Request::AddDestination(key, d));
    }
    let report = batch.execute();
    for item in &report.items {
        if let Request::AddDestination(_, d) = &item.request {
            match &item.result {
                Ok(()) => println!("added {key} -> {}", d.socket_addr()),
                Err(e) => eprintln!("add_service: destination {}: {e}", d.socket_addr()),
            }
        }
    }
    if let Some(e) = &report.aborted {
        eprintln!("add_service: the batch stopped part-way: {e}");
    }
    Ok(report.is_ok())
}
