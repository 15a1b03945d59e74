//! List the IPVS table like `ipvsadm -Ln --stats`, from ipvs-core's typed model.
//!
//! `cargo run -p ipvs-core --example list_services [-- --json]` (needs CAP_NET_ADMIN
//! and a kernel with IPVS; try it in the lab: `cargo xtask shell`).

use std::process::ExitCode;

use ipvs_core::{Handle, ServiceFlags};

fn main() -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    match run(json) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("list_services: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(json: bool) -> ipvs_core::Result<()> {
    let mut ipvs = Handle::new()?;
    let info = ipvs.info()?;
    // One consistent snapshot: services with their destinations.
    let table: Vec<_> = ipvs
        .table()?
        .entries
        .into_iter()
        .map(|e| (e.service, e.destinations))
        .collect();
    if json {
        let value: Vec<_> = table
            .iter()
            .map(|(s, d)| serde_json::json!({ "service": s, "destinations": d }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
        return Ok(());
    }
    println!(
        "IP Virtual Server version {} (size={})",
        info.version_string(),
        info.conn_table_size
    );
    for (s, dests) in &table {
        let mut line = format!("{} {}", s.key, s.scheduler);
        let flags = s.flags.sched_flag_names(&s.scheduler);
        if !flags.is_empty() {
            line += &format!(" ({})", flags.join(","));
        }
        if s.flags.contains(ServiceFlags::PERSISTENT) {
            line += &format!(" persistent {} mask {}", s.timeout, s.netmask);
        }
        if let Some(pe) = &s.pe_name {
            line += &format!(" pe {pe}");
        }
        println!(
            "{line}  conns={} inpkts={} outpkts={}",
            s.stats.conns, s.stats.inpkts, s.stats.outpkts
        );
        for d in dests {
            println!(
                "  -> {:<28} {:<6} w={:<5} active={} inactive={} conns={}",
                d.socket_addr().to_string(),
                d.forward.ipvsadm_name(),
                d.weight,
                d.active_conns,
                d.inactive_conns,
                d.stats.conns
            );
        }
    }
    Ok(())
}
