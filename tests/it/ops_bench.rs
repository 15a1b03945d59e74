//! Lab benchmark: one ipvs-exporter scrape of a 10,000-service x 10-destination
//! table (110,000 rules), beside `ipvsadm -Ln --stats --exact` of the same table.
//! Prints the scrape's time, size and the exporter's peak memory; asserts only that
//! every series arrived (speed and memory are shown, never asserted).
//!
//! `cargo test --test it ops_bench:: -- --nocapture`

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use ipvs_core::*;
use ipvs_lab::{lab_test, must};

use crate::ops::{http_get_stream, start_exporter};

const DESTINATIONS: u8 = 10;

/// Services in the table: 1,000 in the suite (a debug build in user-mode-linux takes
/// minutes for 10,000); `IPVS_BENCH_SERVICES=10000` for the full benchmark.
fn services() -> u32 {
    std::env::var("IPVS_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}
const SCRAPES: usize = 3;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Peak resident memory of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Scrapes `/metrics`, reading the stream in 64 KiB pieces without keeping it:
/// bytes, and the number of `node_ipvs_backend_weight{` series.
fn scrape_counting(addr: SocketAddr) -> (usize, usize) {
    let (head, mut body) = http_get_stream(addr, "/metrics", "*/*");
    assert!(head.contains("chunked"), "{head}");
    let needle = b"\nnode_ipvs_backend_weight{";
    let (mut bytes, mut series) = (0, 0);
    let mut buf = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::new();
    loop {
        let n = body.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        bytes += n;
        // Count across piece boundaries: keep the last needle-length bytes.
        tail.extend_from_slice(&buf[..n]);
        series += tail.windows(needle.len()).filter(|w| *w == needle).count();
        let keep = tail.len().saturating_sub(needle.len() - 1);
        tail.drain(..keep);
    }
    (bytes, series)
}

lab_test! {
    /// 10,000 (suite: 1,000) services x 10 destinations: the scrape streams every series; time, size
    /// and the exporter's peak RSS are printed beside ipvsadm's listing time.
    fn exporter_scrape_of_10000_services_x_10() {
        let services = services();
        let mut h = Handle::new().expect("handle");
        h.set_receive_buffer(8 << 20).expect("receive buffer");
        let mut b = h.batch();
        for i in 0..services {
            // 250 addresses of TEST-NET-1 x 40 ports.
            let vip = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1)), 1024 + (i / 250) as u16);
            let key = ServiceKey::tcp(vip);
            b.push(Request::AddService(Service::new(key, Scheduler::Wlc)));
            for d in 0..DESTINATIONS {
                let rs = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, d + 1)), 8080);
                b.push(Request::AddDestination(key, Destination::new(rs, ForwardMethod::Masquerade)));
            }
        }
        let report = b.execute();
        assert!(report.is_ok(), "{:?}", report.failures().next());
        drop(h);

        let addr: SocketAddr = "127.0.0.1:9888".parse().expect("address");
        let exporter = start_exporter(addr);
        let base_rss = peak_rss_kib(exporter.0.id());
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..SCRAPES {
            let t = Instant::now();
            let (bytes, series) = scrape_counting(addr);
            times.push(t.elapsed());
            assert_eq!(series, services as usize * DESTINATIONS as usize);
            size = bytes;
        }
        let rss = peak_rss_kib(exporter.0.id());
        let mut theirs = Vec::new();
        for _ in 0..SCRAPES {
            let t = Instant::now();
            let out = must("ipvsadm -Ln --stats --exact > /dev/null");
            assert!(out.success());
            theirs.push(t.elapsed());
        }
        let (ours, theirs) = (median(times), median(theirs));
        eprintln!("\nlab benchmark, {services} services x {DESTINATIONS} destinations, median of {SCRAPES}, user-mode-linux 6.1:");
        eprintln!("  ipvs-exporter scrape        {ours:>9.2?}  {:.1} MiB of text", size as f64 / 1048576.0);
        eprintln!("  ipvsadm -Ln --stats --exact {theirs:>9.2?}  ratio exporter/ipvsadm {:.2}", ours.as_secs_f64() / theirs.as_secs_f64());
        eprintln!("  exporter peak RSS {} MiB (before the first scrape {} MiB)", rss / 1024, base_rss / 1024);
    }
}
