//! A reload that changes a virtual server's scheduler and persistence while one of its
//! real servers is down, judged against keepalived 2.2.7: both tables must agree, the
//! down server must stay out until its check passes again, and keepalived-lite must
//! edit the service in place, as keepalived does: its connection counter, which a
//! delete and re-add would reset, survives the reload.

use std::time::{Duration, Instant};

use ipvs_lab::lab_test;

use super::harness::{Director, Rig};

const VIP: &str = "192.0.2.40:80";

fn conf(sched_and_persistence: &str) -> String {
    format!(
        r#"virtual_server 192.0.2.40 80 {{
    delay_loop 1
    warmup 0
{sched_and_persistence}
    lvs_method NAT
    protocol TCP
    connect_timeout 1
    real_server 198.51.100.10 80 {{
        weight 1
        TCP_CHECK {{
            retry 0
        }}
    }}
    real_server 198.51.100.11 80 {{
        weight 2
        TCP_CHECK {{
            retry 0
        }}
    }}
}}
"#
    )
}

/// The service's connection counter (`ipvsadm -Ln --stats`), which the kernel folds in
/// every 2 s.
fn service_conns(d: &Director) -> u64 {
    let out = d.ns.must(&format!("ipvsadm -Ln --stats -t {VIP}"));
    out.stdout
        .lines()
        .find(|l| l.starts_with("TCP"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no counters in:\n{}", out.stdout))
}

/// Polls (up to 10 s) until the service of `d` counted at least `n` connections.
fn wait_conns(d: &Director, n: u64) -> u64 {
    let t0 = Instant::now();
    loop {
        let c = service_conns(d);
        if c >= n || t0.elapsed() > Duration::from_secs(10) {
            return c;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

lab_test! {
    /// rs1 down, connections through the service from each director, then a reload
    /// from `rr` to `wlc` with `persistence_timeout 120`: equal tables, rs1 still out,
    /// keepalived-lite's counter kept (edited in place); rs1 back: in with its weight.
    fn lvs_judge_reload_changes_the_scheduler_in_place() {
        let mut rig = Rig::new(2);
        for rs in &mut rig.rs {
            rs.listen(80);
        }
        // Connections from the director itself go through IPVS (its LOCAL_OUT hook).
        for d in [&rig.theirs, &rig.ours] {
            d.ns.must("ip route add 192.0.2.40/32 dev eth0");
        }
        rig.write_conf(&conf("    lvs_sched rr"));
        let rs1 = "-a -t 192.0.2.40:80 -r 198.51.100.11:80 -m -w 2";
        let t = rig.judge("start", |r| r.start());
        assert!(t.contains(&"-A -t 192.0.2.40:80 -s rr".to_string()), "{t:?}");
        let t = rig.judge("rs1 down", |r| r.rs[1].close(80));
        assert!(!t.iter().any(|l| l == rs1), "{t:?}");

        let vip = VIP.parse().expect("vip");
        for d in [&rig.theirs, &rig.ours] {
            for _ in 0..3 {
                let _ = d.ns.fetch(vip);
            }
        }
        let before: Vec<u64> = [&rig.theirs, &rig.ours].iter().map(|d| wait_conns(d, 3)).collect();
        assert!(before.iter().all(|c| *c >= 3), "connections counted: {before:?}");

        // keepalived-lite's table read every 20 ms during the reload and 3 s after (from
        // /proc, no process started): a server let in for a moment (health reset, then
        // the check fails again) shows here. rs1 is 198.51.100.11:80 in its hex form.
        let watch = rig.ours.ns.spawn(|| {
            let t0 = Instant::now();
            let mut seen = Vec::new();
            while t0.elapsed() < Duration::from_secs(3) {
                seen.push(std::fs::read_to_string("/proc/thread-self/net/ip_vs").unwrap_or_default());
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        });
        let t = rig.judge("reload: rr -> wlc, persistence 120, rs1 still down", |r| {
            r.write_conf(&conf("    lvs_sched wlc\n    persistence_timeout 120"));
            r.theirs.signal("HUP");
            r.ours.signal("HUP");
        });
        assert!(t.contains(&"-A -t 192.0.2.40:80 -s wlc -p 120".to_string()), "{t:?}");
        assert!(!t.iter().any(|l| l == rs1), "the down server stays down: {t:?}");
        let seen = watch.join().expect("watcher");
        assert!(seen.len() > 10, "{} samples", seen.len());
        assert!(seen.iter().all(|t| t.contains("-> C633640A:0050")), "rs0 in every table");
        let let_in: Vec<&String> = seen.iter().filter(|t| t.contains("-> C633640B:0050")).collect();
        assert!(let_in.is_empty(), "rs1 let in during the reload: {let_in:?}");
        // Past a fold of the counters: kept in both.
        let ours_after = service_conns(&rig.ours);
        let theirs_after = service_conns(&rig.theirs);
        eprintln!(
            "service connections before/after the reload: keepalived {} / {theirs_after}, \
             keepalived-lite {} / {ours_after}",
            before[0], before[1]
        );
        assert!(theirs_after >= before[0], "keepalived re-created the service");
        assert!(
            ours_after >= before[1],
            "keepalived-lite re-created the service (counter {} -> {ours_after}):\n{}",
            before[1],
            rig.ours.log()
        );
        let (k, o) = (rig.theirs.table(), rig.ours.table());
        assert_eq!(k, o);
        assert!(!o.iter().any(|l| l == rs1), "the down server stays down: {o:?}");

        let t = rig.judge("rs1 back", |r| r.rs[1].listen(80));
        assert!(t.iter().any(|l| l == rs1), "{t:?}");
        eprintln!("reaction times (s):\n{}", rig.report());
    }
}
