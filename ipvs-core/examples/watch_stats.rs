//! Print every service's counters and rates at an interval, like
//! `watch ipvsadm -Ln --stats --rate`.
//!
//! `cargo run -p ipvs-core --example watch_stats -- [SECONDS [COUNT]]`
//! (default every 2 s, the kernel's estimator period, until interrupted).
//! Needs CAP_NET_ADMIN and IPVS: try it in the lab (`cargo xtask shell`).

use std::process::ExitCode;
use std::time::Duration;

use ipvs_core::Handle;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let seconds = args.next().map_or(Ok(2.0), |s| {
        s.parse::<f64>().map_err(|e| format!("SECONDS {s:?}: {e}"))
    });
    let count = args
        .next()
        .map(|s| s.parse::<u64>().map_err(|e| format!("COUNT {s:?}: {e}")))
        .transpose();
    let (seconds, count) = match (seconds, count) {
        (Ok(s), Ok(c)) if s.is_finite() && s > 0.0 => (s, c),
        (Err(e), _) | (_, Err(e)) => return usage(&e),
        _ => return usage("SECONDS must be a positive number"),
    };
    match run(Duration::from_secs_f64(seconds), count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watch_stats: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage(e: &str) -> ExitCode {
    eprintln!("watch_stats: {e}\nusage: watch_stats [SECONDS [COUNT]]");
    ExitCode::from(2)
}

fn run(interval: Duration, count: Option<u64>) -> ipvs_core::Result<()> {
    let mut ipvs = Handle::new()?;
    let mut round = 0;
    loop {
        // Streamed: the table is never held whole.
        for service in ipvs.services_iter()? {
            let s = service?;
            let st = s.stats;
            println!(
                "{} conns={} inpkts={} outpkts={} inbytes={} outbytes={} cps={} inpps={} outpps={} inbps={} outbps={}",
                s.key, st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes, st.cps, st.inpps, st.outpps, st.inbps, st.outbps
            );
        }
        round += 1;
        if count.is_some_and(|c| round >= c) {
            return Ok(());
        }
        println!();
        std::thread::sleep(interval);
    }
}
