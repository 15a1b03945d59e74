//! Tracking (scripts, interfaces), notify programs and script security.

use std::time::{Duration, Instant};

use super::harness::{
    holders, prerequisites, skew, wait_for, who_answers, write_exec, Daemon, Inst, Segment,
};
use super::{expect_holder, vip_sock, ELECTION, VIP};

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
    write_exec(
        &notify,
        &format!(
            "#!/bin/sh\necho \"$@\" >> {}\ncat \"$KEEPALIVED_LITE_STATE_FILE\" > {}.state\n",
            notify_log.display(),
            notify_log.display()
        ),
    );
    let conf = format!(
        "global_defs {{\n    router_id it-node\n}}\nvrrp_script chk {{\n    script \"/usr/bin/test -e {}\"\n    interval 0.5\n    weight -60\n    fall 2\n    rise 1\n}}\n{}",
        healthy.display(),
        {
            let mut i = Inst::v2(100).tracking("chk");
            i.extra.push(format!("notify {}", notify.display()));
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
    write_exec(
        &script,
        &format!("#!/bin/sh\n[ -e {} ] && sleep 30\nexit 0\n", slow.display()),
    );
    let conf = format!(
        "vrrp_script chk {{\n    script \"{}\"\n    interval 1\n    timeout 0.5\n    weight -60\n    fall 1\n    rise 1\n}}\n{}",
        script.display(),
        Inst::v2(100).tracking("chk")
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
    write_exec(
        &notify,
        &format!("#!/bin/sh\necho \"$@\" >> {}\n", notify_log.display()),
    );
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
    write_exec(
        &script,
        &format!("#!/bin/sh\nid -un > {}/user\n", out_dir.display()),
    );
    let conf = |user: &str, security: &str| {
        format!(
            "global_defs {{\n    script_user {user}\n    {security}\n}}\nvrrp_script chk {{\n    script \"{}\"\n    interval 1\n    weight -10\n}}\n{}",
            script.display(),
            Inst::v2(100).tracking("chk").conf()
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
    write_exec(
        &notify_ok,
        &format!("#!/bin/sh\nid -un > {}/notify-user\n", out_dir.display()),
    );
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
