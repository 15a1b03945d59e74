//! `keepalived-lite --metrics`: two daemons on one segment, each serving its VRRP
//! state, counters and tracked scripts (and ipvs-exporter's families) from inside
//! its namespace; the state follows a failover; the real `promtool check metrics`
//! accepts the output; a bad address is a start-up error with its exit code.
//! (With IPVS, against ipvsadm and through the real Prometheus: `ops::`.)

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use ipvs_lab::{must, Netns};

use super::harness::{prerequisites, wait_for, Daemon, Inst, Node, Segment};
use super::{expect_holder, VIP};
use crate::ops::{http_get, samples};

/// Where the daemons serve inside their namespaces.
const METRICS: &str = "127.0.0.1:9650";

/// One scrape of `/metrics` from inside `ns`: (response head, body).
pub fn scrape_in(ns: &Netns, addr: SocketAddr) -> (String, String) {
    ns.spawn(move || http_get(addr, "/metrics", "*/*"))
        .join()
        .expect("scrape thread")
}

fn series(node: &Node) -> BTreeMap<String, f64> {
    samples(&scrape_in(&node.ns, METRICS.parse().expect("addr")).1)
}

const LABELS: &str = r#"{iname="VI_T",intf="eth0",vrid="51"}"#;

fn state_of(node: &Node) -> Option<f64> {
    series(node)
        .get(
            r#"keepalived_vrrp_state{iname="VI_T",intf="eth0",vrid="51",ip_address="192.0.2.100"}"#,
        )
        .copied()
}

#[test]
fn metrics_follow_a_failover_and_promtool_accepts_them() {
    if !prerequisites("metrics_follow_a_failover_and_promtool_accepts_them") {
        return;
    }
    let seg = Segment::new();
    let mut a = seg.node("ours-150", 61);
    let mut b = seg.node("ours-100", 62);
    let healthy = a.path("healthy");
    std::fs::write(&healthy, "").expect("write");
    // A failing check lowers A to 150 - 100 = 50 < 100: B preempts. The long
    // timeout makes this a test of SIGCHLD too: the script's exit must reach the
    // poll loop while the metrics thread runs (a thread without the daemon's
    // signal mask swallowed it, and results came only at the timeout).
    let conf_a = format!(
        "vrrp_script chk_api {{\n    script \"/usr/bin/test -e {}\"\n    interval 0.5\n    timeout 30\n    weight -100\n}}\n{}",
        healthy.display(),
        Inst::v2(150).tracking("chk_api").conf()
    );
    for n in [&mut a, &mut b] {
        n.extra_args = vec!["--metrics".into(), METRICS.into()];
    }
    a.start(Daemon::Ours, &conf_a);
    b.start(Daemon::Ours, &Inst::v2(100).conf());
    expect_holder(&[&a, &b], VIP, "ours-150", Duration::from_secs(10));
    let settled = wait_for(Duration::from_secs(3), || {
        state_of(&a) == Some(2.0) && state_of(&b) == Some(1.0)
    });
    assert!(
        settled.is_some(),
        "A {:?} B {:?}",
        state_of(&a),
        state_of(&b)
    );
    let m = series(&a);
    let get = |m: &BTreeMap<String, f64>, s: &str| {
        *m.get(s).unwrap_or_else(|| panic!("no {s} in {m:#?}"))
    };
    assert_eq!(get(&m, &format!("keepalived_priority{LABELS}")), 150.0);
    assert_eq!(
        get(&m, &format!("keepalived_effective_priority{LABELS}")),
        150.0,
        "{}",
        a.log()
    );
    assert_eq!(
        get(&m, &format!("keepalived_become_master_total{LABELS}")),
        1.0
    );
    assert!(get(&m, &format!("keepalived_advertisements_sent_total{LABELS}")) >= 1.0);
    assert_eq!(get(&m, r#"keepalived_script_status{name="chk_api"}"#), 1.0);
    // The metrics agree with the state file (both written from the same loop).
    let sent_now = get(&m, &format!("keepalived_advertisements_sent_total{LABELS}"));
    assert!(sent_now <= a.counter("adverts_sent") as f64);
    // B hears A's adverts.
    let rcvd = |n: &Node| {
        get(
            &series(n),
            &format!("keepalived_advertisements_received_total{LABELS}"),
        )
    };
    let first = rcvd(&b);
    assert!(
        wait_for(Duration::from_secs(3), || rcvd(&b) >= first + 2.0).is_some(),
        "B's advertisements_received stays at {first}"
    );

    // Failover: A's script fails, B takes the VIP; the metrics follow.
    std::fs::remove_file(&healthy).expect("rm");
    expect_holder(&[&a, &b], VIP, "ours-100", Duration::from_secs(15));
    let followed = wait_for(Duration::from_secs(3), || {
        state_of(&a) == Some(1.0) && state_of(&b) == Some(2.0)
    });
    assert!(
        followed.is_some(),
        "A {:?} B {:?}",
        state_of(&a),
        state_of(&b)
    );
    let ma = series(&a);
    assert_eq!(
        get(&ma, &format!("keepalived_effective_priority{LABELS}")),
        50.0
    );
    assert_eq!(
        get(&ma, &format!("keepalived_release_master_total{LABELS}")),
        1.0
    );
    assert_eq!(get(&ma, r#"keepalived_script_status{name="chk_api"}"#), 0.0);
    // B became master once and never left.
    let mb = series(&b);
    assert_eq!(
        get(&mb, &format!("keepalived_become_master_total{LABELS}")),
        1.0
    );
    assert_eq!(
        get(&mb, &format!("keepalived_release_master_total{LABELS}")),
        0.0
    );
    // Every reason the daemon counts has its series, zero here.
    assert_eq!(
        get(
            &mb,
            r#"keepalived_lite_adverts_dropped_total{iname="VI_T",intf="eth0",vrid="51",reason="checksum"}"#
        ),
        0.0
    );

    // The real promtool accepts the daemon's text exposition.
    let (head, text) = scrape_in(&a.ns, METRICS.parse().expect("addr"));
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    let file = a.path("metrics.txt");
    std::fs::write(&file, &text).expect("write");
    let lint = must(&format!("promtool check metrics < {}", file.display()));
    assert!(
        lint.stdout.trim().is_empty() && lint.stderr.trim().is_empty(),
        "{lint:?}\n{text}"
    );
    // ipvs-exporter's own health families are there (on a host without IPVS the
    // table is not read: success 0; with IPVS, 1).
    assert!(
        text.contains("# TYPE ipvs_exporter_scrape_success gauge"),
        "{text}"
    );
}

#[test]
fn a_bad_metrics_address_stops_the_start_with_its_exit_code() {
    if !prerequisites("a_bad_metrics_address_stops_the_start_with_its_exit_code") {
        return;
    }
    let seg = Segment::new();
    let mut n = seg.node("ours", 63);
    let conf = Inst::v2(100).conf();
    // Not an address: a bad command line (2), naming the flag.
    n.extra_args = vec!["--metrics".into(), "localhost-9650".into()];
    n.start(Daemon::Ours, &conf);
    assert_eq!(n.wait_exit(), Some(2), "{}", n.log());
    assert!(n.log().contains("--metrics"), "{}", n.log());
    // An address this node does not have, and a port already taken: a start-up
    // failure (3), naming the address; no VRRP instance started.
    let taken =
        n.ns.spawn(|| std::net::TcpListener::bind("127.0.0.1:9651").expect("bind"));
    let _taken = taken.join().expect("listener");
    for (addr, why) in [
        ("192.0.2.250:9650", "Cannot assign requested address"),
        ("127.0.0.1:9651", "Address already in use"),
    ] {
        n.extra_args = vec!["--metrics".into(), addr.into()];
        n.spawn();
        assert_eq!(n.wait_exit(), Some(3), "{}", n.log());
        let log = n.log();
        assert!(
            log.contains(&format!("--metrics {addr}: cannot listen: {why}")),
            "{log}"
        );
        assert!(!log.contains("Entering"), "{log}");
        assert!(!n.has_vip(VIP));
    }
}

/// `/healthz` (the DaemonSet's probes) answers from the poll loop's heartbeat: 200
/// while it turns; with only the loop's thread stopped (ptrace on the main thread;
/// the metrics thread runs on) 503 naming the delay once it is 10 s late; 200 again
/// when the loop runs.
#[test]
fn healthz_fails_while_the_vrrp_loop_is_stuck_and_recovers() {
    if !prerequisites("healthz_fails_while_the_vrrp_loop_is_stuck_and_recovers") {
        return;
    }
    let seg = Segment::new();
    let mut n = seg.node("ours", 64);
    n.extra_args = vec!["--metrics".into(), METRICS.into()];
    n.start(Daemon::Ours, &Inst::v2(100).conf());
    expect_holder(&[&n], VIP, "ours", Duration::from_secs(10));
    let healthz = |n: &Node| {
        let addr: SocketAddr = METRICS.parse().expect("addr");
        n.ns.spawn(move || http_get(addr, "/healthz", "*/*"))
            .join()
            .expect("healthz thread")
    };
    let (head, body) = healthz(&n);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}{body}");
    assert!(body.starts_with("ok: the VRRP loop ran "), "{body}");

    let pid = n.pid().expect("running") as libc::pid_t;
    // SAFETY: ptrace and waitpid on a process this test started; no memory shared.
    unsafe {
        assert_eq!(
            libc::ptrace(libc::PTRACE_SEIZE, pid, 0usize, 0usize),
            0,
            "PTRACE_SEIZE: {}",
            std::io::Error::last_os_error()
        );
        assert_eq!(libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0usize, 0usize), 0);
        let mut status = 0;
        assert_eq!(libc::waitpid(pid, &mut status, libc::__WALL), pid);
    }
    let failed = wait_for(Duration::from_secs(15), || {
        healthz(&n).0.starts_with("HTTP/1.1 503 ")
    });
    let (head, body) = healthz(&n);
    // SAFETY: as above; the thread is in a ptrace stop.
    unsafe {
        libc::ptrace(libc::PTRACE_DETACH, pid, 0usize, 0usize);
    }
    assert!(failed.is_some(), "{head}{body}");
    assert!(
        failed.is_some_and(|t| t >= Duration::from_secs(9)),
        "503 after {failed:?}"
    );
    assert!(
        body.starts_with("unhealthy: the VRRP loop has not run for ")
            && body.trim_end().ends_with(" s (limit 10.0 s)"),
        "{body}"
    );
    let recovered = wait_for(Duration::from_secs(3), || {
        healthz(&n).0.starts_with("HTTP/1.1 200 ")
    });
    assert!(recovered.is_some(), "{}", n.log());
    expect_holder(&[&n], VIP, "ours", Duration::from_secs(3));
}

/// SIGTERM reaches the poll loop while the metrics endpoint runs (its threads start
/// with the daemon's signals blocked): the master logs its stop, resigns with a
/// priority-0 advert its peer counts, and removes the VIP. Before the signals were
/// blocked ahead of the metrics thread, the kernel handed SIGTERM to that thread,
/// whose default action ended the process on the spot: none of the three happened
/// and the VIP stayed on the stopped node (the runbook's failover drill,
/// `ops_runbook`, found it).
#[test]
fn sigterm_with_metrics_resigns_and_removes_the_vip() {
    if !prerequisites("sigterm_with_metrics_resigns_and_removes_the_vip") {
        return;
    }
    let seg = Segment::new();
    let mut a = seg.node("ours-150", 61);
    let mut b = seg.node("ours-100", 62);
    for n in [&mut a, &mut b] {
        n.extra_args = vec!["--metrics".into(), METRICS.into()];
    }
    a.start(Daemon::Ours, &Inst::v2(150).conf());
    b.start(Daemon::Ours, &Inst::v2(100).conf());
    expect_holder(&[&a, &b], VIP, "ours-150", Duration::from_secs(10));
    assert!(
        wait_for(Duration::from_secs(5), || state_of(&a) == Some(2.0)).is_some(),
        "the endpoint serves MASTER"
    );
    a.stop();
    let log = a.log();
    assert!(log.contains("Stopping"), "no orderly stop:\n{log}");
    assert!(!a.has_vip(VIP), "the stopped master kept {VIP}:\n{log}");
    expect_holder(&[&a, &b], VIP, "ours-100", Duration::from_secs(10));
    assert!(
        b.counter("priority_zero_received") >= 1,
        "the peer saw no resignation: {}",
        b.state()
    );
}
