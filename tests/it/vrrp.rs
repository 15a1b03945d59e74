//! keepalived-lite beside the real keepalived 2.2.7 on one segment.
//!
//! VRRP needs no IPVS, so these tests run on the host, but only inside network
//! namespaces they create: a bridge namespace per segment, one namespace per node, one
//! per client. Addresses are 192.0.2.0/24 and 2001:db8::/64. Every daemon and namespace
//! is removed by `Drop` guards, also when a test fails.
//!
//! They need root and keepalived; elsewhere they report `SKIPPED vrrp test NAME` (and
//! fail under `CI`). They need `keepalived-lite` and `vrrp-send` built
//! (`cargo build -p keepalived-lite`).

mod hardening;
mod harness;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::{
    holders, master_down, prerequisites, skew, wait_for, who_answers, Daemon, Inst, Node, Segment,
};

const VIP: &str = "192.0.2.100";
const ELECTION: Duration = Duration::from_secs(8);

fn vip_sock() -> SocketAddr {
    "192.0.2.100:6443".parse().expect("addr")
}

/// Waits until exactly `want` of `nodes` holds `vip`; panics with every log otherwise.
#[track_caller]
fn expect_holder(nodes: &[&Node], vip: &str, want: &str, timeout: Duration) -> Duration {
    let t = wait_for(timeout, || holders(nodes, vip) == [want]);
    match t {
        Some(t) => t,
        None => {
            let mut msg = format!(
                "expected only {want} to hold {vip}, holders: {:?}\n",
                holders(nodes, vip)
            );
            for n in nodes {
                msg += &format!("--- {} ---\n{}\n{}\n", n.name, n.log(), n.state());
            }
            panic!("{msg}");
        }
    }
}

/// Asserts a takeover after the master's death took between Master_Down_Interval minus
/// one advert interval and Master_Down_Interval (plus slack for polling and VIP set-up).
#[track_caller]
fn assert_takeover_window(who: &str, took: Duration, priority: u8) {
    let mdi = master_down(priority);
    let lo = mdi - Duration::from_millis(1100);
    let hi = mdi + Duration::from_millis(400);
    assert!(
        took >= lo && took <= hi,
        "{who} took over after {took:?}, expected {lo:?}..{hi:?} (MDI {mdi:?})"
    );
}

#[test]
fn v2_multicast_mixed_group_elects_highest_and_survives_node_death() {
    if !prerequisites("v2_multicast_mixed_group_elects_highest_and_survives_node_death") {
        return;
    }
    let seg = Segment::new();
    let client = seg.client(200);
    let mut o1 = seg.node("ours-200", 1);
    let mut k1 = seg.node("keepalived-150", 2);
    let mut o2 = seg.node("ours-100", 3);
    for n in [&mut o1, &mut k1, &mut o2] {
        n.serve();
    }
    o1.start(Daemon::Ours, &Inst::v2(200).conf());
    k1.start(Daemon::Keepalived, &Inst::v2(150).conf());
    o2.start(Daemon::Ours, &Inst::v2(100).conf());
    expect_holder(&[&o1, &k1, &o2], VIP, "ours-200", ELECTION);
    // Stable: still only the highest after a few adverts.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&o1, &k1, &o2], VIP), ["ours-200"]);
    assert_eq!(
        who_answers(&client, vip_sock()).as_deref(),
        Some("ours-200")
    );

    // Our master dies: keepalived (150) must take over, not ours (100).
    let t0 = Instant::now();
    o1.kill_node();
    expect_holder(&[&k1, &o2], VIP, "keepalived-150", Duration::from_secs(6));
    let keepalived_took = t0.elapsed();
    assert_takeover_window("keepalived", keepalived_took, 150);
    let answered = wait_for(Duration::from_secs(2), || {
        who_answers(&client, vip_sock()).as_deref() == Some("keepalived-150")
    });
    assert!(
        answered.is_some(),
        "client does not reach the VIP on keepalived-150"
    );

    // keepalived's node dies: ours (100) takes over.
    std::thread::sleep(Duration::from_millis(1500));
    let t1 = Instant::now();
    k1.kill_node();
    expect_holder(&[&o2], VIP, "ours-100", Duration::from_secs(6));
    let ours_took = t1.elapsed();
    assert_takeover_window("keepalived-lite", ours_took, 100);
    let answered = wait_for(Duration::from_secs(2), || {
        who_answers(&client, vip_sock()).as_deref() == Some("ours-100")
    });
    assert!(
        answered.is_some(),
        "client does not reach the VIP on ours-100"
    );
    eprintln!(
        "TAKEOVER after SIGKILL of the master (advert_int 1): keepalived prio 150 {keepalived_took:?} (MDI {:?}), \
         keepalived-lite prio 100 {ours_took:?} (MDI {:?})",
        master_down(150),
        master_down(100)
    );
}

#[test]
fn v2_unicast_graceful_stop_and_preemption() {
    if !prerequisites("v2_unicast_graceful_stop_and_preemption") {
        return;
    }
    let seg = Segment::new();
    let mut k1 = seg.node("keepalived-200", 11);
    let mut o1 = seg.node("ours-100", 12);
    let mut kc = Inst::v2(200);
    kc.unicast = Some((k1.addr(), vec![o1.addr()]));
    let mut oc = Inst::v2(100);
    oc.unicast = Some((o1.addr(), vec![k1.addr()]));
    k1.start(Daemon::Keepalived, &kc.conf());
    o1.start(Daemon::Ours, &oc.conf());
    expect_holder(&[&k1, &o1], VIP, "keepalived-200", ELECTION);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&k1, &o1], VIP), ["keepalived-200"]);

    // Graceful stop: keepalived resigns with priority 0, ours takes over after Skew_Time.
    let t0 = Instant::now();
    k1.terminate();
    expect_holder(&[&k1, &o1], VIP, "ours-100", Duration::from_secs(3));
    let took = t0.elapsed();
    k1.wait_stopped();
    assert!(o1.counter("priority_zero_received") >= 1, "{}", o1.state());
    assert!(
        took <= skew(100) + Duration::from_millis(400),
        "graceful takeover took {took:?}"
    );
    eprintln!("TAKEOVER after keepalived's graceful stop (unicast): keepalived-lite prio 100 {took:?} (skew {:?})", skew(100));

    // keepalived comes back with the higher priority and preempts us.
    k1.spawn();
    expect_holder(&[&k1, &o1], VIP, "keepalived-200", ELECTION);
    assert_eq!(o1.state_str("state").as_deref(), Some("BACKUP"));
    assert_eq!(o1.counter("dropped_unknown_peer"), 0);
}

#[test]
fn v3_ipv4_mixed_group_and_checksum_variants() {
    if !prerequisites("v3_ipv4_mixed_group_and_checksum_variants") {
        return;
    }
    // Segment A: keepalived's default checksum (IPv4 pseudo-header included).
    let seg = Segment::new();
    let mut k1 = seg.node("keepalived-200", 21);
    let mut o1 = seg.node("ours-150", 22);
    let mut kc = Inst::v2(200);
    kc.version = Some(3);
    kc.pass = None;
    let mut oc = kc.clone();
    oc.priority = 150;
    // Segment B: a master with v3_checksum_as_v2 (RFC 9568's reading; keepalived 2.2.7
    // has no such keyword) and one of ours with the default, which recognises it.
    let seg_b = Segment::new();
    let mut o2 = seg_b.node("ours-b-as-v2-200", 23);
    let mut o3 = seg_b.node("ours-b-150", 24);
    let mut oc2 = kc.clone();
    oc2.extra.push("v3_checksum_as_v2".into());
    let oc3 = oc.clone();

    k1.start(Daemon::Keepalived, &kc.conf());
    o1.start(Daemon::Ours, &oc.conf());
    o2.start(Daemon::Ours, &oc2.conf());
    o3.start(Daemon::Ours, &oc3.conf());
    expect_holder(&[&k1, &o1], VIP, "keepalived-200", ELECTION);
    expect_holder(&[&o2, &o3], VIP, "ours-b-as-v2-200", ELECTION);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&k1, &o1], VIP), ["keepalived-200"]);
    assert_eq!(holders(&[&o2, &o3], VIP), ["ours-b-as-v2-200"]);
    assert_eq!(
        o1.state_str("peer_checksum").as_deref(),
        Some("PseudoHeader"),
        "{}",
        o1.state()
    );
    assert_eq!(
        o3.state_str("peer_checksum").as_deref(),
        Some("VrrpOnly"),
        "{}",
        o3.state()
    );
    assert_eq!(o1.counter("dropped_checksum"), 0);

    // The master dies; ours takes over within the v3 Master_Down_Interval.
    let t0 = Instant::now();
    k1.kill_node();
    expect_holder(&[&o1], VIP, "ours-150", Duration::from_secs(6));
    let took = t0.elapsed();
    assert_takeover_window("keepalived-lite (v3)", took, 150);
    eprintln!(
        "TAKEOVER after SIGKILL (VRRPv3 IPv4): keepalived-lite prio 150 {took:?} (MDI {:?})",
        master_down(150)
    );
}

#[test]
fn v3_ipv6_mixed_group_and_our_graceful_stop() {
    if !prerequisites("v3_ipv6_mixed_group_and_our_graceful_stop") {
        return;
    }
    let vip6 = "2001:db8::100";
    let seg = Segment::new();
    let client = seg.client(200);
    let mut o1 = seg.node("ours-200", 31);
    let mut k1 = seg.node("keepalived-150", 32);
    o1.serve();
    k1.serve();
    let mut oc = Inst::v2(200);
    oc.version = Some(3);
    oc.pass = None;
    oc.vips = vec![format!("{vip6}/64")];
    let mut kc = oc.clone();
    kc.priority = 150;
    o1.start(Daemon::Ours, &oc.conf());
    k1.start(Daemon::Keepalived, &kc.conf());
    expect_holder(&[&o1, &k1], vip6, "ours-200", ELECTION);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&o1, &k1], vip6), ["ours-200"]);
    let sock: SocketAddr = format!("[{vip6}]:6443").parse().expect("addr");
    assert_eq!(who_answers(&client, sock).as_deref(), Some("ours-200"));

    // Our graceful stop: priority 0, keepalived takes over after its Skew_Time.
    let t0 = Instant::now();
    o1.terminate();
    expect_holder(&[&o1, &k1], vip6, "keepalived-150", Duration::from_secs(3));
    let took = t0.elapsed();
    o1.wait_stopped();
    assert!(
        took <= skew(150) + Duration::from_millis(400),
        "graceful takeover took {took:?}"
    );
    assert!(
        k1.log().contains("priority 0"),
        "keepalived saw no priority 0 advert:\n{}",
        k1.log()
    );
    // The unsolicited neighbour advertisement moves the client at once.
    let answered = wait_for(Duration::from_secs(2), || {
        who_answers(&client, sock).as_deref() == Some("keepalived-150")
    });
    assert!(
        answered.is_some(),
        "client does not reach [{vip6}] on keepalived"
    );
    eprintln!("TAKEOVER after keepalived-lite's graceful stop (VRRPv3 IPv6): keepalived prio 150 {took:?} (skew {:?})", skew(150));
}

/// One preemption scenario: a low-priority master of one implementation, then a
/// high-priority node of the other joins with `extra` settings.
struct Preempt {
    _seg: Segment,
    low: Node,
    high: Node,
    joined: Option<Instant>,
    took: Option<Duration>,
}

fn preempt_scenario(high_daemon: Daemon, extra: &[&str], host: u8) -> Preempt {
    let seg = Segment::new();
    let (low_daemon, lname, hname) = match high_daemon {
        Daemon::Ours => (Daemon::Keepalived, "keepalived-100", "ours-200"),
        Daemon::Keepalived => (Daemon::Ours, "ours-100", "keepalived-200"),
    };
    let mut low = seg.node(lname, host);
    let high = seg.node(&format!("{hname} {}", extra.join(" ")), host + 1);
    low.start(low_daemon, &Inst::v2(100).conf());
    Preempt {
        _seg: seg,
        low,
        high,
        joined: None,
        took: None,
    }
}

#[test]
fn preemption_nopreempt_and_preempt_delay_match_keepalived() {
    if !prerequisites("preemption_nopreempt_and_preempt_delay_match_keepalived") {
        return;
    }
    let variants: [&[&str]; 3] = [&[], &["nopreempt"], &["preempt_delay 3"]];
    let mut all = Vec::new();
    for (i, extra) in variants.iter().enumerate() {
        for (j, d) in [Daemon::Ours, Daemon::Keepalived].into_iter().enumerate() {
            all.push((
                d,
                *extra,
                preempt_scenario(d, extra, 40 + (i * 4 + j * 2) as u8),
            ));
        }
    }
    for (_, _, s) in &all {
        expect_holder(&[&s.low], VIP, &s.low.name, ELECTION);
    }
    for (d, extra, s) in &mut all {
        let mut c = Inst::v2(200);
        c.extra = extra.iter().map(|e| e.to_string()).collect();
        s.high.start(*d, &c.conf());
        s.joined = Some(Instant::now());
    }
    // Watch every scenario for 10 s.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        for (_, _, s) in &mut all {
            if s.took.is_none() && s.high.has_vip(VIP) {
                s.took = s.joined.map(|j| j.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut report = String::new();
    for (d, extra, s) in &all {
        report += &format!(
            "{d:?} high priority with {extra:?}: took over after {:?}\n",
            s.took
        );
    }
    eprintln!("PREEMPTION\n{report}");
    for pair in all.chunks(2) {
        let (ours, theirs) = (&pair[0], &pair[1]);
        let extra = ours.1;
        match (ours.2.took, theirs.2.took) {
            (None, None) => assert_eq!(extra, ["nopreempt"], "nobody preempted:\n{report}"),
            (Some(a), Some(b)) => {
                assert_ne!(extra, ["nopreempt"], "nopreempt preempted:\n{report}");
                let diff = a.abs_diff(b);
                assert!(
                    diff < Duration::from_millis(1200),
                    "ours and keepalived differ:\n{report}"
                );
                if extra == ["preempt_delay 3"] {
                    assert!(
                        a > Duration::from_secs(3),
                        "preempt_delay not honoured:\n{report}"
                    );
                }
            }
            _ => panic!("ours and keepalived disagree:\n{report}"),
        }
    }
    // After preemption exactly one holder; with nopreempt the low one keeps the VIP.
    for (_, extra, s) in &all {
        let want = if *extra == ["nopreempt"] {
            &s.low.name
        } else {
            &s.high.name
        };
        assert_eq!(
            holders(&[&s.low, &s.high], VIP),
            [want.as_str()],
            "{report}"
        );
    }
}

#[test]
fn track_script_weight_hands_vip_over_and_back() {
    if !prerequisites("track_script_weight_hands_vip_over_and_back") {
        return;
    }
    let seg = Segment::new();
    let client = seg.client(200);
    let mut o1 = seg.node("ours-100", 51);
    let mut k1 = seg.node("keepalived-80", 52);
    o1.serve();
    k1.serve();
    let healthy = o1.dir.path().join("healthy");
    std::fs::write(&healthy, "").expect("write");
    let notify_log = o1.dir.path().join("notify.log");
    let notify = o1.dir.path().join("notify.sh");
    std::fs::write(
        &notify,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\ncat \"$KEEPALIVED_LITE_STATE_FILE\" > {}.state\n",
            notify_log.display(),
            notify_log.display()
        ),
    )
    .expect("write");
    ipvs_lab::must(&format!("chmod 755 {}", notify.display()));
    let conf = format!(
        "global_defs {{\n    router_id it-node\n}}\nvrrp_script chk {{\n    script \"/usr/bin/test -e {}\"\n    interval 0.5\n    weight -60\n    fall 2\n    rise 1\n}}\n{}",
        healthy.display(),
        {
            let mut i = Inst::v2(100);
            i.extra = vec![
                "track_script {".into(),
                "    chk".into(),
                "}".into(),
                format!("notify {}", notify.display()),
            ];
            i.conf()
        }
    );
    o1.start(Daemon::Ours, &conf);
    k1.start(Daemon::Keepalived, &Inst::v2(80).conf());
    expect_holder(&[&o1, &k1], VIP, "ours-100", ELECTION);
    assert_eq!(o1.counter("effective_priority"), 100);

    // The health check fails twice (fall 2): priority 100 - 60 = 40 < 80, keepalived
    // preempts.
    std::fs::remove_file(&healthy).expect("rm");
    let t0 = Instant::now();
    expect_holder(&[&o1, &k1], VIP, "keepalived-80", Duration::from_secs(8));
    eprintln!(
        "TRACK SCRIPT: failing check moved the VIP to keepalived after {:?}",
        t0.elapsed()
    );
    assert_eq!(o1.counter("effective_priority"), 40, "{}", o1.state());
    assert_eq!(o1.state_str("state").as_deref(), Some("BACKUP"));
    let answered = wait_for(Duration::from_secs(2), || {
        who_answers(&client, vip_sock()).as_deref() == Some("keepalived-80")
    });
    assert!(
        answered.is_some(),
        "client does not follow the VIP to keepalived"
    );

    // Recovery (rise 1): back to 100 > 80, we preempt.
    std::fs::write(&healthy, "").expect("write");
    let t1 = Instant::now();
    expect_holder(&[&o1, &k1], VIP, "ours-100", Duration::from_secs(8));
    eprintln!(
        "TRACK SCRIPT: recovery moved the VIP back after {:?}",
        t1.elapsed()
    );
    assert_eq!(o1.counter("effective_priority"), 100);

    // notify ran on every transition with keepalived's arguments, and could read the
    // state file.
    let ok = wait_for(Duration::from_secs(2), || {
        std::fs::read_to_string(&notify_log)
            .unwrap_or_default()
            .lines()
            .count()
            >= 4
    });
    let lines = std::fs::read_to_string(&notify_log).unwrap_or_default();
    assert!(ok.is_some(), "notify log:\n{lines}");
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(
        lines[..4],
        [
            "INSTANCE VI_T BACKUP 100",
            "INSTANCE VI_T MASTER 100",
            "INSTANCE VI_T BACKUP 40",
            "INSTANCE VI_T MASTER 100"
        ]
    );
    // Each notify run rewrites the copy (`>` truncates first): read it once it is whole.
    let copy = notify_log.with_extension("log.state");
    let read = wait_for(Duration::from_secs(2), || {
        std::fs::read_to_string(&copy)
            .unwrap_or_default()
            .contains("\"router_id\": \"it-node\"")
    });
    assert!(
        read.is_some(),
        "{}",
        std::fs::read_to_string(&copy).unwrap_or_default()
    );
}

#[test]
fn track_script_timeout_counts_as_failure() {
    if !prerequisites("track_script_timeout_counts_as_failure") {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours-100", 55);
    let mut k1 = seg.node("keepalived-80", 56);
    // The check hangs (30 s, far beyond its 0.5 s timeout) while the `slow` file exists,
    // in a child of the script: the kill must reach the whole process group.
    let slow = o1.dir.path().join("slow");
    let script = o1.dir.path().join("check.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\n[ -e {} ] && sleep 30\nexit 0\n", slow.display()),
    )
    .expect("write");
    ipvs_lab::must(&format!("chmod 755 {}", script.display()));
    let conf = format!(
        "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n    timeout 0.5\n    weight -60\n    fall 1\n    rise 1\n}}\n{}",
        script.display(),
        Inst {
            extra: vec!["track_script {".into(), "    chk".into(), "}".into()],
            ..Inst::v2(100)
        }
        .conf()
    );
    o1.start(Daemon::Ours, &conf);
    k1.start(Daemon::Keepalived, &Inst::v2(80).conf());
    expect_holder(&[&o1, &k1], VIP, "ours-100", ELECTION);
    std::thread::sleep(Duration::from_secs(2));
    assert!(!o1.log().contains("timed out"), "{}", o1.log());

    // One timeout (fall 1) is a failure: 100 - 60 = 40 < 80, keepalived preempts.
    std::fs::write(&slow, "").expect("write");
    let t0 = Instant::now();
    expect_holder(&[&o1, &k1], VIP, "keepalived-80", Duration::from_secs(8));
    eprintln!(
        "TRACK SCRIPT TIMEOUT: a hanging check moved the VIP to keepalived after {:?}",
        t0.elapsed()
    );
    assert!(
        o1.log().contains("vrrp_script chk timed out"),
        "{}",
        o1.log()
    );
    assert_eq!(o1.counter("effective_priority"), 40, "{}", o1.state());
    // A timeout every second: without the group kill, one orphaned `sleep 30` more each
    // time. At most the current run's may be alive.
    std::thread::sleep(Duration::from_secs(3));
    let sleeping = o1
        .ns
        .run(&[
            "sh",
            "-c",
            &format!(
                "for p in $(ip netns pids {}); do tr '\\0' ' ' < /proc/$p/cmdline; echo; done",
                o1.ns.name()
            ),
        ])
        .stdout
        .lines()
        .filter(|l| l.trim() == "sleep 30")
        .count();
    assert!(sleeping <= 1, "{sleeping} sleeping checks left behind");

    // The check answers again (rise 1): back to 100, we preempt.
    std::fs::remove_file(&slow).expect("rm");
    expect_holder(&[&o1, &k1], VIP, "ours-100", Duration::from_secs(8));
    assert_eq!(o1.counter("effective_priority"), 100);
}

#[test]
fn bad_packets_are_dropped_and_counted() {
    if !prerequisites("bad_packets_are_dropped_and_counted") {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours-100", 61);
    let attacker = seg.client(62);
    o1.start(Daemon::Ours, &Inst::v2(100).conf());
    expect_holder(&[&o1], VIP, "ours-100", ELECTION);
    let send = ipvs_lab::workspace_bin("vrrp-send");
    // Every packet claims priority 254, so an accepted one would make us step down.
    let base = format!(
        "{} --interface eth0 --src 192.0.2.62 --vrid 51 --priority 254 --vip {VIP} --count 3",
        send.display()
    );
    let cases = [
        ("--pass wrong123", "dropped_auth"),
        ("--pass secret12 --vrid 52", "other_vrid"),
        ("--pass secret12 --corrupt-checksum", "dropped_checksum"),
        ("--pass secret12 --ttl 64", "dropped_ttl"),
        ("--pass secret12 --truncate 10", "dropped_truncated"),
        ("--pass secret12 --pad 4", "dropped_oversized"),
        ("--pass secret12 --interval-cs 200", "dropped_interval"),
        ("--vrrp-version 3", "dropped_version"),
    ];
    for (args, counter) in cases {
        let before = o1.counter(counter);
        attacker.must(&format!("{base} {args}"));
        let counted = wait_for(Duration::from_secs(2), || o1.counter(counter) >= before + 3);
        assert!(
            counted.is_some(),
            "{args}: {counter} not counted:\n{}",
            o1.state()
        );
        assert_eq!(
            o1.state_str("state").as_deref(),
            Some("MASTER"),
            "{args}:\n{}",
            o1.log()
        );
    }
    assert_eq!(o1.counter("became_master"), 1);
    assert_eq!(o1.counter("adverts_received"), 0);
    assert!(o1.has_vip(VIP));

    // Control: the same packet done right is accepted and we yield at once.
    attacker.must(&format!("{base} --pass secret12 --count 1"));
    let yielded = wait_for(Duration::from_secs(1), || !o1.has_vip(VIP));
    assert!(
        yielded.is_some(),
        "a valid higher-priority advert was not accepted:\n{}",
        o1.log()
    );
    assert_eq!(o1.counter("adverts_received"), 1);
    // Nobody advertises any more: we come back after Master_Down_Interval.
    expect_holder(&[&o1], VIP, "ours-100", Duration::from_secs(6));
}

#[test]
fn sigkill_and_restart_leaves_no_duplicate_vip() {
    if !prerequisites("sigkill_and_restart_leaves_no_duplicate_vip") {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours-200", 71);
    let mut k1 = seg.node("keepalived-100", 72);
    let mut oc = Inst::v2(200);
    oc.vips = vec!["192.0.2.100/24 label eth0:api".into()];
    o1.start(Daemon::Ours, &oc.conf());
    k1.start(Daemon::Keepalived, &Inst::v2(100).conf());
    expect_holder(&[&o1, &k1], VIP, "ours-200", ELECTION);
    let addrs = o1.ns.must("ip -4 addr show dev eth0").stdout;
    assert!(
        addrs.contains("192.0.2.100/24 scope global secondary eth0:api"),
        "{addrs}"
    );
    // SIGKILL: no chance to resign, the VIP stays behind on our interface.
    o1.kill_node();
    assert!(
        o1.has_vip(VIP),
        "the kernel keeps the address of a killed daemon"
    );
    wait_for(Duration::from_secs(6), || k1.has_vip(VIP)).expect("keepalived takes over");
    assert_eq!(
        holders(&[&o1, &k1], VIP),
        ["ours-200", "keepalived-100"],
        "duplicate while we are dead"
    );
    // Restart: the stale VIP goes at once, then we preempt and keepalived lets go.
    o1.spawn();
    let cleaned = wait_for(Duration::from_secs(2), || !o1.has_vip(VIP));
    assert!(
        cleaned.is_some(),
        "stale VIP not removed at start:\n{}",
        o1.log()
    );
    // The killed run's state file says MASTER until the new run writes its own, just
    // after the clean-up.
    let backup = wait_for(Duration::from_secs(2), || {
        o1.state_str("state").as_deref() == Some("BACKUP")
    });
    assert!(backup.is_some(), "{}\n{}", o1.state(), o1.log());
    expect_holder(&[&o1, &k1], VIP, "ours-200", ELECTION);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(holders(&[&o1, &k1], VIP), ["ours-200"]);
}

#[test]
fn sighup_reload_keeps_state_and_applies_changes() {
    if !prerequisites("sighup_reload_keeps_state_and_applies_changes") {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours-200", 81);
    let inst = Inst::v2(200);
    o1.start(Daemon::Ours, &inst.conf());
    expect_holder(&[&o1], VIP, "ours-200", ELECTION);
    let conf = o1.dir.path().join("keepalived.conf");

    // Unchanged configuration: same state, the VIP never leaves.
    o1.signal("HUP");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        assert!(
            o1.has_vip(VIP),
            "VIP dropped during an unchanged reload:\n{}",
            o1.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(o1.log().contains("Reloading configuration"), "{}", o1.log());
    assert_eq!(o1.counter("became_master"), 1);

    // A broken file: logged, nothing changes.
    std::fs::write(&conf, inst.conf().replace("priority 200", "priority 300")).expect("write");
    o1.signal("HUP");
    let logged = wait_for(Duration::from_secs(2), || {
        o1.log().contains("reload failed")
    });
    assert!(logged.is_some(), "{}", o1.log());
    assert!(
        o1.log()
            .contains("priority: invalid value '300', expected an integer 1-255"),
        "{}",
        o1.log()
    );
    assert!(o1.has_vip(VIP));

    // Nothing changes either when the new file parses but cannot be applied: an unknown
    // script_user, or a changed instance whose interface does not exist. The running
    // instance is not resigned first: it keeps MASTER and its VIP throughout.
    let mut other_vip = inst.clone();
    other_vip.vips = vec!["192.0.2.101/24".into()];
    let unknown_user = format!(
        "global_defs {{\n    script_user no-such-user-kl\n}}\n{}",
        other_vip.conf()
    );
    let missing_interface = other_vip
        .conf()
        .replace("interface eth0", "interface eth9")
        .replace("dev eth0", "dev eth9");
    for (bad, why) in [
        (unknown_user, "unknown user or group 'no-such-user-kl'"),
        (missing_interface, "eth9"),
    ] {
        let failures = o1.log().matches("reload failed").count();
        std::fs::write(&conf, bad).expect("write");
        o1.signal("HUP");
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            assert!(
                o1.has_vip(VIP) && !o1.has_vip("192.0.2.101"),
                "a failed reload ({why}) changed the VIPs:\n{}",
                o1.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let log = o1.log();
        let line = log
            .lines()
            .filter(|l| l.contains("reload failed"))
            .nth(failures)
            .unwrap_or_else(|| panic!("no reload failure logged ({why}):\n{log}"));
        assert!(line.contains(why), "{line}");
        assert_eq!(o1.state_str("state").as_deref(), Some("MASTER"));
        assert_eq!(o1.counter("became_master"), 1, "{log}");
        assert_eq!(o1.counter("priority_zero_sent"), 0, "resigned:\n{log}");
    }

    // A changed instance (another VIP) restarts: the old VIP goes, the new one comes.
    let mut changed = inst.clone();
    changed.vips = vec!["192.0.2.101/24".into()];
    std::fs::write(&conf, changed.conf()).expect("write");
    o1.signal("HUP");
    let gone = wait_for(Duration::from_secs(2), || !o1.has_vip(VIP));
    assert!(gone.is_some(), "{}", o1.log());
    expect_holder(&[&o1], "192.0.2.101", "ours-200", ELECTION);
    o1.stop();
    assert!(!o1.has_vip("192.0.2.101"), "VIP left after SIGTERM");
}

/// The multicast configuration of ../shared/USE-CASE.md, verbatim.
const USE_CASE_MULTICAST: &str =
    include_str!("../../keepalived-lite/tests/fixtures/use-case-multicast.conf");

/// The unicast configuration of ../shared/USE-CASE.md, verbatim.
const USE_CASE_UNICAST: &str =
    include_str!("../../keepalived-lite/tests/fixtures/use-case-unicast.conf");

#[test]
fn use_case_configs_check_and_run() {
    if !prerequisites("use_case_configs_check_and_run") {
        return;
    }
    let bin = ipvs_lab::workspace_bin("keepalived-lite");
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in [
        ("multicast.conf", USE_CASE_MULTICAST),
        ("unicast.conf", USE_CASE_UNICAST),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, text).expect("write");
        let out = ipvs_lab::run(&[
            &bin.display().to_string(),
            "-t",
            "-f",
            &f.display().to_string(),
        ]);
        assert_eq!(out.status, 0, "{name}: {out}");
    }
    // An unknown keyword: an error naming file, line and keyword (keepalived only warns
    // and goes on). A bad value names the range, as keepalived's message does.
    let f = dir.path().join("bad.conf");
    let fs = f.display().to_string();
    for (from, to, ours, theirs) in [
        (
            "    preempt_delay 30\n",
            "    preempt_delay 30\n    bogus_keyword 1\n",
            format!("{fs}:32: unsupported keyword 'bogus_keyword' in vrrp_instance VI_API"),
            "Unknown keyword 'bogus_keyword'",
        ),
        (
            "priority 100",
            "priority 256",
            format!("{fs}:19: priority: invalid value '256', expected an integer 1-255"),
            "outside range [1, 255]",
        ),
    ] {
        std::fs::write(&f, USE_CASE_MULTICAST.replace(from, to)).expect("write");
        let out = ipvs_lab::run(&[
            &bin.display().to_string(),
            "--config-test",
            "--use-file",
            &fs,
        ]);
        assert_eq!(out.status, 5, "{out}");
        assert_eq!(out.stderr.trim(), ours, "{out}");
        let pid = dir.path().join("k.pid").display().to_string();
        let k = ipvs_lab::run(&[
            "keepalived",
            "-t",
            "-f",
            &fs,
            "-p",
            &pid,
            "-r",
            &pid,
            "-c",
            &pid,
        ]);
        assert_ne!(k.status, 0, "{k}");
        assert!(k.stderr.contains(theirs), "{k}");
    }

    // Run them: only the addresses become documentation addresses and the health check
    // a local script (exit 0); everything else unchanged.
    let seg = Segment::new();
    let mut om = seg.node("ours-multicast", 1);
    let mut km = seg.node("keepalived-multicast-90", 2);
    let seg_u = Segment::new();
    let mut ou = seg_u.node("ours-unicast", 10);
    let mut ku = seg_u.node("keepalived-unicast-90", 11);
    for n in [&om, &km, &ou, &ku] {
        let script = n.dir.path().join("health_check.sh");
        std::fs::write(&script, "#!/bin/bash\nexit 0\n").expect("write");
        ipvs_lab::must(&format!("chmod 755 {}", script.display()));
    }
    let script = |n: &Node| n.dir.path().join("health_check.sh").display().to_string();
    let doc = |s: &str| {
        s.replace("192.168.1.100", VIP)
            .replace("10.0.0.", "192.0.2.")
    };
    let multicast =
        |n: &Node| doc(USE_CASE_MULTICAST).replace("/usr/local/bin/health_check.sh", &script(n));
    om.start(Daemon::Ours, &multicast(&om));
    km.start(
        Daemon::Keepalived,
        &multicast(&km).replace("priority 100", "priority 90"),
    );
    let scripts = |n: &Node| {
        format!(
            "vrrp_script chk_apiserver {{\n    script \"{}\"\n    interval 2\n    weight -5\n    fall 2\n    rise 1\n}}\n",
            script(n)
        )
    };
    ou.start(
        Daemon::Ours,
        &format!("{}{}", scripts(&ou), doc(USE_CASE_UNICAST)),
    );
    let ku_conf = doc(USE_CASE_UNICAST)
        .replace("unicast_src_ip 192.0.2.10", "unicast_src_ip 192.0.2.11")
        .replace("        192.0.2.11\n", "        192.0.2.10\n")
        .replace("priority 100", "priority 90");
    ku.start(Daemon::Keepalived, &format!("{}{}", scripts(&ku), ku_conf));
    expect_holder(&[&om, &km], VIP, "ours-multicast", ELECTION);
    expect_holder(&[&ou, &ku], VIP, "ours-unicast", ELECTION);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(holders(&[&om, &km], VIP), ["ours-multicast"]);
    assert_eq!(holders(&[&ou, &ku], VIP), ["ours-unicast"]);
    assert_eq!(
        om.counter("effective_priority"),
        100,
        "the health script passes"
    );
    assert!(
        om.log()
            .contains("preempt_delay will not work with initial state MASTER"),
        "{}",
        om.log()
    );
    assert!(
        ou.counter("adverts_sent") >= 2 * 3,
        "unicast adverts go to both peers:\n{}\n{}",
        ou.state(),
        ou.log()
    );
}

#[test]
fn track_interface_down_means_fault_and_notify_scripts_run_in_order() {
    if !prerequisites("track_interface_down_means_fault_and_notify_scripts_run_in_order") {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours-200", 91);
    let mut k1 = seg.node("keepalived-100", 92);
    // A second link inside our node whose carrier the test controls.
    o1.ns.must(
        "ip link add eth1 type veth peer name eth1p && ip link set eth1 up && ip link set eth1p up",
    );
    // notify_master / notify_backup / notify_fault / notify_stop, each with its own
    // arguments (run as configured, nothing appended, as keepalived does), all logging
    // into one file.
    let notify_log = o1.dir.path().join("notify.log");
    let notify = o1.dir.path().join("notify.sh");
    std::fs::write(
        &notify,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", notify_log.display()),
    )
    .expect("write");
    ipvs_lab::must(&format!("chmod 755 {}", notify.display()));
    let n = notify.display();
    let mut oc = Inst::v2(200);
    oc.extra = vec![
        "track_interface {".into(),
        "    eth1".into(),
        "}".into(),
        format!("notify_master \"{n} master m1 m2\""),
        format!("notify_backup \"{n} backup b1\""),
        format!("notify_fault \"{n} fault f1\""),
        format!("notify_stop \"{n} stop s1\""),
    ];
    let notified = |want: &[&str]| {
        let ok = wait_for(Duration::from_secs(2), || {
            std::fs::read_to_string(&notify_log)
                .unwrap_or_default()
                .lines()
                .count()
                >= want.len()
        });
        let got = std::fs::read_to_string(&notify_log).unwrap_or_default();
        assert!(ok.is_some(), "notify scripts: want {want:?}, got:\n{got}");
        assert_eq!(got.lines().collect::<Vec<_>>(), want, "notify scripts");
    };
    o1.start(Daemon::Ours, &oc.conf());
    k1.start(Daemon::Keepalived, &Inst::v2(100).conf());
    expect_holder(&[&o1, &k1], VIP, "ours-200", ELECTION);
    notified(&["backup b1", "master m1 m2"]);

    // Carrier lost: FAULT, priority 0 sent, keepalived takes over after its skew.
    o1.ns.must("ip link set eth1p down");
    let t0 = Instant::now();
    expect_holder(&[&o1, &k1], VIP, "keepalived-100", Duration::from_secs(3));
    let took = t0.elapsed();
    assert_eq!(
        o1.state_str("state").as_deref(),
        Some("FAULT"),
        "{}",
        o1.log()
    );
    assert!(
        took < skew(100) + Duration::from_millis(700),
        "fault hand-over took {took:?}"
    );
    eprintln!("TRACK INTERFACE: link down handed the VIP to keepalived after {took:?}");
    // Still FAULT while the link is down: no VIP, no adverts.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(holders(&[&o1, &k1], VIP), ["keepalived-100"]);
    notified(&["backup b1", "master m1 m2", "fault f1"]);

    // Carrier back: BACKUP, then we preempt with the higher priority.
    o1.ns.must("ip link set eth1p up");
    expect_holder(&[&o1, &k1], VIP, "ours-200", ELECTION);
    notified(&[
        "backup b1",
        "master m1 m2",
        "fault f1",
        "backup b1",
        "master m1 m2",
    ]);
    // SIGTERM: notify_stop.
    o1.stop();
    notified(&[
        "backup b1",
        "master m1 m2",
        "fault f1",
        "backup b1",
        "master m1 m2",
        "stop s1",
    ]);
}

#[test]
fn v3_backup_learns_the_master_advert_interval() {
    if !prerequisites("v3_backup_learns_the_master_advert_interval") {
        return;
    }
    let seg = Segment::new();
    let mut k1 = seg.node("keepalived-200-2s", 95);
    let mut o1 = seg.node("ours-100-1s", 96);
    let mut kc = Inst::v2(200);
    kc.version = Some(3);
    kc.pass = None;
    let oc = Inst {
        priority: 100,
        ..kc.clone()
    };
    k1.start(
        Daemon::Keepalived,
        &kc.conf().replace("advert_int 1", "advert_int 2"),
    );
    o1.start(Daemon::Ours, &oc.conf());
    expect_holder(
        &[&k1, &o1],
        VIP,
        "keepalived-200-2s",
        Duration::from_secs(12),
    );
    // Let our backup hear a few 2 s adverts.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(holders(&[&k1, &o1], VIP), ["keepalived-200-2s"]);
    let t0 = Instant::now();
    k1.kill_node();
    expect_holder(&[&o1], VIP, "ours-100-1s", Duration::from_secs(10));
    let took = t0.elapsed();
    // Master_Down_Interval with the learned 2 s: 6 s + 156/256 * 2 s = 7.22 s; without
    // learning it would be 3.6 s.
    let mdi = Duration::from_millis(6000) + skew(100) * 2;
    assert!(
        took > mdi - Duration::from_millis(2100) && took < mdi + Duration::from_millis(400),
        "took {took:?}, MDI {mdi:?}"
    );
    eprintln!("TAKEOVER with a learned 2 s master interval (VRRPv3): keepalived-lite {took:?} (MDI {mdi:?})");
}

#[test]
fn scripts_run_as_script_user_and_insecure_scripts_are_refused() {
    if !prerequisites("scripts_run_as_script_user_and_insecure_scripts_are_refused") {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours", 97);
    // A world-readable directory for a script that `nobody` may run, and a world-writable
    // one it reports into.
    let pub_dir = tempfile::tempdir().expect("temp dir");
    ipvs_lab::must(&format!("chmod 755 {}", pub_dir.path().display()));
    let out_dir = pub_dir.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    ipvs_lab::must(&format!("chmod 777 {}", out_dir.display()));
    let script = pub_dir.path().join("check.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nid -un > {}/user\n", out_dir.display()),
    )
    .expect("write");
    ipvs_lab::must(&format!("chmod 755 {}", script.display()));
    let conf = |user: &str, security: &str| {
        format!(
            "global_defs {{\n    script_user {user}\n    {security}\n}}\nvrrp_script chk {{\n    script \"{}\"\n    interval 1\n    weight -10\n}}\n{}",
            script.display(),
            Inst { extra: vec!["track_script {".into(), "    chk".into(), "}".into()], ..Inst::v2(100) }.conf()
        )
    };
    o1.start(Daemon::Ours, &conf("nobody", "enable_script_security"));
    let ran = wait_for(Duration::from_secs(4), || {
        std::fs::read_to_string(out_dir.join("user")).is_ok_and(|u| u.ends_with('\n'))
    });
    assert!(ran.is_some(), "script did not run:\n{}", o1.log());
    assert_eq!(
        std::fs::read_to_string(out_dir.join("user"))
            .unwrap_or_default()
            .trim(),
        "nobody"
    );
    o1.stop();

    // Writable by a non-root user: refused at start with a clear error, exit code 3.
    ipvs_lab::must(&format!("chmod 757 {}", script.display()));
    o1.start(Daemon::Ours, &conf("root", "enable_script_security"));
    let exited = wait_for(Duration::from_secs(4), || {
        o1.log().contains("SECURITY VIOLATION")
    });
    assert!(exited.is_some(), "{}", o1.log());
    assert!(
        o1.log().contains(&format!(
            "vrrp_script chk: SECURITY VIOLATION: script {} is writable by everyone",
            script.display()
        )),
        "{}",
        o1.log()
    );
    let status = o1.wait_exit();
    assert_eq!(status, Some(3), "{}", o1.log());
    assert!(!o1.has_vip(VIP));

    // Notify programs are held to the same rule.
    ipvs_lab::must(&format!("chmod 755 {}", script.display()));
    let notify = pub_dir.path().join("notify.sh");
    std::fs::write(&notify, "#!/bin/sh\nexit 0\n").expect("write");
    ipvs_lab::must(&format!("chmod 777 {}", notify.display()));
    o1.start(
        Daemon::Ours,
        &conf("root", "enable_script_security").replace(
            "    track_script {",
            &format!("    notify {}\n    track_script {{", notify.display()),
        ),
    );
    assert_eq!(o1.wait_exit(), Some(3), "{}", o1.log());
    assert!(
        o1.log()
            .contains("vrrp_instance VI_T notify: SECURITY VIOLATION"),
        "{}",
        o1.log()
    );

    // An unknown script_user stops the start, naming user and line: notify scripts
    // never fall back to root. (No vrrp_script here: only notify would use the user.)
    let notify_ok = pub_dir.path().join("notify-ok.sh");
    std::fs::write(
        &notify_ok,
        format!("#!/bin/sh\nid -un > {}/notify-user\n", out_dir.display()),
    )
    .expect("write");
    ipvs_lab::must(&format!("chmod 755 {}", notify_ok.display()));
    let notify_conf = |user: &str| {
        format!(
            "global_defs {{\n    script_user {user}\n}}\n{}",
            Inst {
                extra: vec![format!("notify_backup {}", notify_ok.display())],
                ..Inst::v2(100)
            }
            .conf()
        )
    };
    o1.start(Daemon::Ours, &notify_conf("no-such-user-kl"));
    assert_eq!(o1.wait_exit(), Some(3), "{}", o1.log());
    let conf_file = o1.dir.path().join("keepalived.conf");
    assert!(
        o1.log().contains(&format!(
            "{}:2: global_defs script_user: unknown user or group 'no-such-user-kl'",
            conf_file.display()
        )),
        "{}",
        o1.log()
    );
    assert!(!out_dir.join("notify-user").exists(), "a notify script ran");
    // The same with a known user: notify_backup runs as that user.
    o1.start(Daemon::Ours, &notify_conf("nobody"));
    let ran = wait_for(Duration::from_secs(4), || {
        std::fs::read_to_string(out_dir.join("notify-user")).is_ok_and(|u| u.ends_with('\n'))
    });
    assert!(ran.is_some(), "notify_backup did not run:\n{}", o1.log());
    assert_eq!(
        std::fs::read_to_string(out_dir.join("notify-user"))
            .unwrap_or_default()
            .trim(),
        "nobody"
    );
}

#[test]
fn v3_ipv6_unicast_mixed_group_survives_node_death() {
    if !prerequisites("v3_ipv6_unicast_mixed_group_survives_node_death") {
        return;
    }
    let vip6 = "2001:db8::100";
    let seg = Segment::new();
    let mut o1 = seg.node("ours-200", 0x21);
    let mut k1 = seg.node("keepalived-150", 0x22);
    let mut oc = Inst::v2(200);
    oc.version = Some(3);
    oc.pass = None;
    oc.vips = vec![format!("{vip6}/64")];
    let mut kc = oc.clone();
    kc.priority = 150;
    oc.unicast = Some(("2001:db8::21".into(), vec!["2001:db8::22".into()]));
    kc.unicast = Some(("2001:db8::22".into(), vec!["2001:db8::21".into()]));
    o1.start(Daemon::Ours, &oc.conf());
    k1.start(Daemon::Keepalived, &kc.conf());
    expect_holder(&[&o1, &k1], vip6, "ours-200", ELECTION);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&o1, &k1], vip6), ["ours-200"]);
    let t0 = Instant::now();
    o1.kill_node();
    expect_holder(&[&k1], vip6, "keepalived-150", Duration::from_secs(6));
    let took = t0.elapsed();
    assert_takeover_window("keepalived (v3 IPv6 unicast)", took, 150);
    // And back: ours restarts and preempts over unicast.
    o1.spawn();
    expect_holder(&[&o1, &k1], vip6, "ours-200", ELECTION);
    assert!(o1.counter("adverts_received") >= 1, "{}", o1.state());
    eprintln!(
        "TAKEOVER after SIGKILL (VRRPv3 IPv6 unicast): keepalived prio 150 {took:?} (MDI {:?})",
        master_down(150)
    );
}

#[test]
fn v3_ipv4_unicast_mixed_group_survives_node_death() {
    if !prerequisites("v3_ipv4_unicast_mixed_group_survives_node_death") {
        return;
    }
    let seg = Segment::new();
    let mut k1 = seg.node("keepalived-200", 0x25);
    let mut o1 = seg.node("ours-150", 0x26);
    let mut kc = Inst::v2(200);
    kc.version = Some(3);
    kc.pass = None;
    let mut oc = kc.clone();
    oc.priority = 150;
    kc.unicast = Some((k1.addr(), vec![o1.addr()]));
    oc.unicast = Some((o1.addr(), vec![k1.addr()]));
    k1.start(Daemon::Keepalived, &kc.conf());
    o1.start(Daemon::Ours, &oc.conf());
    expect_holder(&[&k1, &o1], VIP, "keepalived-200", ELECTION);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&k1, &o1], VIP), ["keepalived-200"]);
    // keepalived's unicast v3 adverts are accepted (with its pseudo-header checksum),
    // nothing is dropped.
    assert!(o1.counter("adverts_received") >= 2, "{}", o1.state());
    assert_eq!(
        o1.state_str("peer_checksum").as_deref(),
        Some("PseudoHeader"),
        "{}",
        o1.state()
    );
    assert_eq!(
        o1.state_str("master").as_deref(),
        Some(k1.addr().as_str()),
        "{}",
        o1.state()
    );
    for c in [
        "dropped_checksum",
        "dropped_unknown_peer",
        "dropped_version",
    ] {
        assert_eq!(o1.counter(c), 0, "{c}:\n{}", o1.state());
    }

    // keepalived's node dies: ours takes over within the v3 Master_Down_Interval.
    let t0 = Instant::now();
    k1.kill_node();
    expect_holder(&[&o1], VIP, "ours-150", Duration::from_secs(6));
    let took = t0.elapsed();
    assert_takeover_window("keepalived-lite (v3 IPv4 unicast)", took, 150);
    // keepalived comes back with a lower priority: it stays backup past its own
    // Master_Down_Interval only if it accepts our unicast v3 adverts.
    let mut kc_low = kc.clone();
    kc_low.priority = 100;
    k1.start(Daemon::Keepalived, &kc_low.conf());
    std::thread::sleep(master_down(100) + Duration::from_secs(2));
    assert_eq!(
        holders(&[&k1, &o1], VIP),
        ["ours-150"],
        "keepalived does not hear our unicast v3 adverts:\n{}",
        k1.log()
    );
    assert_eq!(o1.state_str("state").as_deref(), Some("MASTER"));
    eprintln!(
        "TAKEOVER after SIGKILL (VRRPv3 IPv4 unicast): keepalived-lite prio 150 {took:?} (MDI {:?})",
        master_down(150)
    );
}

#[test]
fn equal_priority_higher_address_wins() {
    if !prerequisites("equal_priority_higher_address_wins") {
        return;
    }
    // A backup never preempts an equal priority (RFC 5798 6.4.2), so the address only
    // decides between two masters: each segment starts split, both become master, then
    // the split heals. Segment A: ours has the higher address; segment B: keepalived.
    let seg_a = Segment::new();
    let mut ka = seg_a.node("keepalived-low-addr", 0x31);
    let mut oa = seg_a.node("ours-high-addr", 0x32);
    let seg_b = Segment::new();
    let mut ob = seg_b.node("ours-low-addr", 0x33);
    let mut kb = seg_b.node("keepalived-high-addr", 0x34);
    seg_a.set_port(&oa, false);
    seg_b.set_port(&kb, false);
    let conf = Inst::v2(100).conf();
    ka.start(Daemon::Keepalived, &conf);
    oa.start(Daemon::Ours, &conf);
    ob.start(Daemon::Ours, &conf);
    kb.start(Daemon::Keepalived, &conf);
    // Generous: four daemons starting at once on a loaded machine.
    let split = wait_for(Duration::from_secs(12), || {
        [&ka, &oa, &ob, &kb].iter().all(|n| n.has_vip(VIP))
    });
    assert!(
        split.is_some(),
        "every node should be master while split; holders {:?}\n{}",
        holders(&[&ka, &oa, &ob, &kb], VIP),
        [&ka, &oa, &ob, &kb]
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.name, n.log()))
            .collect::<String>()
    );
    seg_a.set_port(&oa, true);
    seg_b.set_port(&kb, true);
    expect_holder(&[&ka, &oa], VIP, "ours-high-addr", Duration::from_secs(3));
    expect_holder(
        &[&ob, &kb],
        VIP,
        "keepalived-high-addr",
        Duration::from_secs(3),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&ka, &oa], VIP), ["ours-high-addr"]);
    assert_eq!(holders(&[&ob, &kb], VIP), ["keepalived-high-addr"]);
    assert_eq!(
        ob.state_str("master").as_deref(),
        Some("192.0.2.52"),
        "{}",
        ob.state()
    );
    assert_eq!(ob.state_str("state").as_deref(), Some("BACKUP"));
}

/// `-v`, and `-t`'s exit codes: 0 valid (warnings on stderr), 5 invalid or unreadable
/// file (the code `keepalived -t` uses), 2 a bad command line. Needs neither root nor
/// keepalived: nothing is started.
#[test]
fn version_and_config_test_exit_codes() {
    let bin = ipvs_lab::workspace_bin("keepalived-lite")
        .display()
        .to_string();
    let out = ipvs_lab::run(&[&bin, "-v"]);
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(
        out.stdout,
        format!("keepalived-lite v{}\n", env!("CARGO_PKG_VERSION")),
        "{out}"
    );
    assert_eq!(ipvs_lab::run(&[&bin, "--version"]).stdout, out.stdout);

    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("k.conf");
    let fs = f.display().to_string();
    let check = |text: &str| {
        std::fs::write(&f, text).expect("write");
        ipvs_lab::run(&[&bin, "-t", "-f", &fs])
    };
    let good = Inst::v2(100).conf();
    let out = check(&good);
    assert_eq!((out.status, out.stderr.as_str()), (0, ""), "{out}");
    // Valid with keepalived's adjustment warning: still 0, the warning names the
    // instance block.
    let out = check(&good.replace("state BACKUP", "state MASTER\n    nopreempt"));
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(
        out.stderr.trim(),
        format!("{fs}:1: (VI_T) nopreempt will not work with initial state MASTER - clearing")
    );
    // Invalid: 5, file:line and what.
    let out = check(&good.replace("virtual_router_id 51", "virtual_router_id 0"));
    assert_eq!(out.status, 5, "{out}");
    assert_eq!(
        out.stderr.trim(),
        format!("{fs}:4: virtual_router_id: invalid value '0', expected an integer 1-255")
    );
    let out = check(&good.replace("interface eth0\n", ""));
    assert_eq!(out.status, 5, "{out}");
    assert!(out.stderr.contains("missing 'interface'"), "{out}");
    // An unknown script_user: 5, as `keepalived -t` ("(Line 2) Error setting global
    // script uid/gid"); ours names user, file and line.
    let out = check(&format!(
        "global_defs {{\n    script_user no-such-user-kl\n}}\n{good}"
    ));
    assert_eq!(out.status, 5, "{out}");
    assert_eq!(
        out.stderr.trim(),
        format!("{fs}:2: global_defs script_user: unknown user or group 'no-such-user-kl'")
    );
    // Unreadable: 5, naming the file.
    let missing = dir.path().join("missing.conf").display().to_string();
    let out = ipvs_lab::run(&[&bin, "-t", "-f", &missing]);
    assert_eq!(out.status, 5, "{out}");
    assert!(
        out.stderr.starts_with(&format!("{missing}: cannot read")),
        "{out}"
    );
    // A bad command line: 2, before any file is read.
    let out = ipvs_lab::run(&[&bin, "-t", "--no-such-flag"]);
    assert_eq!(out.status, 2, "{out}");
    assert!(out.stderr.contains("--no-such-flag"), "{out}");
}

/// The skip rule follows the lab's `under_ci()`: an interop test that cannot run (here:
/// not root) says `SKIPPED` unless `CI` is set to something other than empty, `false`
/// or `0`, where it fails. Runs one interop test of this binary as `nobody` (or as the
/// current user when that is not root).
#[test]
fn interop_tests_skip_or_fail_by_the_lab_ci_rule() {
    let test = "vrrp::v2_unicast_graceful_stop_and_preemption";
    let root = ipvs_lab::run(&["id", "-u"]).stdout.trim() == "0";
    // A copy `nobody` can run wherever the checkout is (e.g. under a 0700 home).
    let dir = tempfile::tempdir().expect("temp dir");
    let exe = dir.path().join("it");
    std::fs::copy(std::env::current_exe().expect("test binary"), &exe).expect("copy");
    ipvs_lab::must(&format!(
        "chmod 755 {} {}",
        dir.path().display(),
        exe.display()
    ));
    for (ci, fails) in [
        (None, false),
        (Some("false"), false),
        (Some("0"), false),
        (Some(""), false),
        (Some("true"), true),
        (Some("1"), true),
    ] {
        let mut cmd = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        cmd.args(["--exact", test, "--nocapture"]).env_remove("CI");
        if let Some(v) = ci {
            cmd.env("CI", v);
        }
        let out = cmd.output().expect("run the test binary");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("1 passed") || text.contains("1 failed"),
            "CI={ci:?}: {text}"
        );
        if fails {
            assert!(!out.status.success(), "CI={ci:?} must fail: {text}");
            assert!(
                text.contains("cannot run under CI: needs root"),
                "CI={ci:?}: {text}"
            );
        } else {
            assert!(out.status.success(), "CI={ci:?} must skip: {text}");
            assert!(
                text.contains("SKIPPED vrrp test v2_unicast_graceful_stop_and_preemption"),
                "CI={ci:?}: {text}"
            );
        }
    }
}
