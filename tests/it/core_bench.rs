//! Lab benchmark: ipvs-core and the real ipvsadm side by side in the same kernel.
//! Prints medians and ratios; asserts only that both produced the same table
//! (speed is shown, never asserted). Results go to stderr, so they show in
//! any run.
//!
//! `cargo test --test it core_bench:: -- --nocapture`

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipvs_core::*;
use ipvs_lab::{lab_test, must};

const SERVICES: u16 = 1000;
const RUNS: usize = 5;

fn rules() -> (Vec<Request>, String) {
    let mut reqs = Vec::new();
    let mut restore = String::new();
    for i in 0..SERVICES {
        let vip = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 10_000 + i);
        let key = ServiceKey::tcp(vip);
        reqs.push(Request::AddService(Service::new(key, Scheduler::Wlc)));
        restore += &format!("-A -t {vip} -s wlc\n");
        for rs in [2u8, 3] {
            let dest = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, rs)), 8080);
            reqs.push(Request::AddDestination(
                key,
                Destination::new(dest, ForwardMethod::Masquerade),
            ));
            restore += &format!("-a -t {vip} -r {dest} -m -w 1\n");
        }
    }
    (reqs, restore)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ipvsadm_restore(text: &str) {
    let mut child = Command::new("ipvsadm")
        .arg("-R")
        .stdin(Stdio::piped())
        .spawn()
        .expect("ipvsadm -R");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write rules");
    assert!(child.wait().expect("wait").success(), "ipvsadm -R failed");
}

fn count_save_lines() -> usize {
    must("ipvsadm -Sn").stdout.lines().count()
}

lab_test! {
    /// Restore 1000 services with 2000 destinations and list them back, through
    /// ipvs-core (one batch; one dump per service) and through ipvsadm (-R; -Sn).
    fn ipvs_core_vs_ipvsadm() {
        let (reqs, restore) = rules();
        let expected_lines = reqs.len();
        let mut h = Handle::new().expect("handle");
        let (mut ours_apply, mut theirs_apply, mut ours_list, mut theirs_list) = (vec![], vec![], vec![], vec![]);
        for _ in 0..RUNS {
            h.flush().unwrap();
            let t = Instant::now();
            let mut b = h.batch();
            for r in &reqs {
                b.push(r.clone());
            }
            let report = b.execute();
            ours_apply.push(t.elapsed());
            assert!(report.is_ok());
            assert_eq!(count_save_lines(), expected_lines);

            let t = Instant::now();
            let mut n = 0;
            for s in h.services().unwrap() {
                n += 1 + h.destinations(&s.key).unwrap().len();
            }
            ours_list.push(t.elapsed());
            assert_eq!(n, expected_lines);

            h.flush().unwrap();
            let t = Instant::now();
            ipvsadm_restore(&restore);
            theirs_apply.push(t.elapsed());

            let t = Instant::now();
            let lines = count_save_lines();
            theirs_list.push(t.elapsed());
            assert_eq!(lines, expected_lines);
        }
        let rows = [
            ("apply 3000 rules (batch vs ipvsadm -R)", median(ours_apply), median(theirs_apply)),
            ("list 3000 rules (dumps vs ipvsadm -Sn)", median(ours_list), median(theirs_list)),
        ];
        eprintln!("\nlab benchmark, median of {RUNS} runs, same kernel (user-mode-linux 6.1):");
        for (what, ours, theirs) in rows {
            eprintln!(
                "  {what:<42} ipvs-core {:>9.2?}  ipvsadm {:>9.2?}  ratio ipvsadm/ipvs-core {:.2}",
                ours,
                theirs,
                theirs.as_secs_f64() / ours.as_secs_f64()
            );
        }
    }
}
