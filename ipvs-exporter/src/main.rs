//! `ipvs-exporter`: serves the node's IPVS table as Prometheus metrics.
//!
//! Exit status: 0 never (it serves until killed), 1 when it cannot listen, 2 for
//! bad arguments.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use ipvs_exporter::http::Endpoint;
use ipvs_exporter::scrape::Scraper;

/// Prometheus exporter for the kernel's IPVS table (node_exporter's IPVS names,
/// per-service and per-destination counters and rates, kernel parameters).
#[derive(Debug, Parser)]
#[command(name = "ipvs-exporter", version)]
struct Args {
    /// Address and port to serve /metrics on.
    #[arg(long, value_name = "ADDR:PORT", default_value = ipvs_exporter::DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// Where the kernel parameters are read (a container may mount the host's here).
    #[arg(long, value_name = "DIR", default_value = "/proc/sys")]
    proc_sys: PathBuf,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match Endpoint::bind(args.listen, Scraper::new(args.proc_sys)) {
        Ok(endpoint) => {
            eprintln!("ipvs-exporter: serving /metrics on {}", args.listen);
            endpoint.serve();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ipvs-exporter: {e}");
            ExitCode::from(1)
        }
    }
}
