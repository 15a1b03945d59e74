//! Operating the daemon: bad packets, SIGKILL and restart, SIGHUP reloads, the
//! USE-CASE configurations.

use std::time::{Duration, Instant};

use super::harness::{holders, prerequisites, wait_for, write_exec, Daemon, Inst, Node, Segment};
use super::{expect_holder, ELECTION, VIP};

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
    include_str!("../../../keepalived-lite/tests/fixtures/use-case-multicast.conf");

/// The unicast configuration of ../shared/USE-CASE.md, verbatim.
const USE_CASE_UNICAST: &str =
    include_str!("../../../keepalived-lite/tests/fixtures/use-case-unicast.conf");

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
        write_exec(&script, "#!/bin/bash\nexit 0\n");
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
