//! Issue 13, items 4-8: keepalived-lite under hostile or careless input (configs, files,
//! signals, scripts). Each test failed on the code before the fix (see the report).

use std::time::{Duration, Instant};

use super::harness::{
    holders, prerequisites, processes, run_limited, wait_for, write_exec, Daemon, Inst, Node,
    Segment,
};
use super::{expect_holder, ELECTION, VIP};

/// Whether `node` holds `vip` on `dev`.
fn has_vip_on(node: &Node, dev: &str, vip: &str) -> bool {
    node.ns
        .run(&["ip", "-br", "addr", "show", "dev", dev])
        .stdout
        .split_whitespace()
        .any(|w| w.split('/').next() == Some(vip))
}

/// Item 4: a master that cannot add its VIP (here: its interface is gone) does not
/// advertise; it goes to FAULT, so a peer takes over, and it retries.
#[test]
fn vip_that_cannot_be_added_keeps_the_instance_out_of_master() {
    if !prerequisites("vip_that_cannot_be_added_keeps_the_instance_out_of_master") {
        return;
    }
    let seg = Segment::new();
    let mut k_hi = seg.node("keepalived-250", 0x41);
    let mut ours = seg.node("ours-200", 0x42);
    let mut k_lo = seg.node("keepalived-100", 0x43);
    ours.ns.must(
        "ip link add eth1 type veth peer name eth1p && ip link set eth1 up && ip link set eth1p up",
    );
    let mut oc = Inst::v2(200);
    oc.vips = vec!["192.0.2.100/24 dev eth1".into()];
    // Inst::conf adds "dev eth0" after each VIP; the first dev is replaced.
    let conf = oc.conf().replace("dev eth1 dev eth0", "dev eth1");
    assert!(conf.contains("192.0.2.100/24 dev eth1\n"), "{conf}");
    k_hi.start(Daemon::Keepalived, &Inst::v2(250).conf());
    k_lo.start(Daemon::Keepalived, &Inst::v2(100).conf());
    ours.start(Daemon::Ours, &conf);
    expect_holder(&[&k_hi, &k_lo], VIP, "keepalived-250", ELECTION);
    let backup = wait_for(ELECTION, || {
        ours.state_str("state").as_deref() == Some("BACKUP")
    });
    assert!(backup.is_some(), "{}", ours.log());

    // The VIP's interface disappears; then the master resigns. Ours (200) would win,
    // but cannot add the VIP: it must stay silent, so keepalived-100 takes over.
    ours.ns.must("ip link del eth1");
    k_hi.stop();
    expect_holder(
        &[&k_hi, &k_lo],
        VIP,
        "keepalived-100",
        Duration::from_secs(4),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        holders(&[&k_hi, &k_lo], VIP),
        ["keepalived-100"],
        "keepalived-100 must stay master:\n{}",
        ours.log()
    );
    assert_eq!(
        ours.state_str("state").as_deref(),
        Some("FAULT"),
        "{}\n{}",
        ours.state(),
        ours.log()
    );
    let log = ours.log();
    assert!(
        log.contains("(VI_T) cannot add the virtual addresses")
            && log.contains("staying out of MASTER"),
        "{log}"
    );
    assert_eq!(ours.counter("became_master"), 0, "{log}");

    // The interface comes back: the retry adds the VIP, ours preempts keepalived-100.
    ours.ns.must(
        "ip link add eth1 type veth peer name eth1p && ip link set eth1 up && ip link set eth1p up",
    );
    let back = wait_for(Duration::from_secs(20), || {
        has_vip_on(&ours, "eth1", VIP) && !k_lo.has_vip(VIP)
    });
    assert!(
        back.is_some(),
        "no retry after the interface came back:\n{}",
        ours.log()
    );
    assert!(ours.log().contains("trying the virtual addresses again"));
    // The state file follows a few milliseconds after the VIP (and the advert).
    let master = wait_for(Duration::from_secs(2), || {
        ours.state_str("state").as_deref() == Some("MASTER")
    });
    assert!(master.is_some(), "{}\n{}", ours.state(), ours.log());
}

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<super::harness::Proc> {
    processes().into_iter().filter(|p| p.ppid == pid).collect()
}

/// Item 5: reloads that replace a running check kill it (with its process group) and
/// reap it: 10 reloads leave no zombie and no stale check; after SIGTERM nothing the
/// daemon started runs.
#[test]
fn reloads_during_running_checks_leave_no_zombies_and_nothing_survives_sigterm() {
    if !prerequisites("reloads_during_running_checks_leave_no_zombies_and_nothing_survives_sigterm")
    {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours", 0x45);
    let check = o1.path("check.sh");
    // A check that takes 3 s (timeout 20 s), with a child of its own.
    write_exec(&check, "#!/bin/sh\nsleep 3 &\nwait\nexit 0\n");
    let marker = o1.dir.path().display().to_string();
    let conf = |router_id: &str| {
        format!(
            "global_defs {{\n    router_id {router_id}\n}}\nvrrp_script chk {{\n    script \"{}\"\n    interval 1\n    timeout 20\n}}\n{}",
            check.display(),
            Inst::v2(200).tracking("chk")
            .conf()
        )
    };
    o1.start(Daemon::Ours, &conf("r0"));
    expect_holder(&[&o1], VIP, "ours", ELECTION);
    let pid = o1.pid().expect("running");
    // Each reload changes global_defs: the script is set up anew while a check runs.
    for i in 1..=10 {
        std::fs::write(o1.path("keepalived.conf"), conf(&format!("r{i}"))).expect("write");
        o1.signal("HUP");
        std::thread::sleep(Duration::from_millis(300));
    }
    let reloads = wait_for(Duration::from_secs(3), || {
        o1.log().matches("Reloading configuration").count() == 10
    });
    assert!(reloads.is_some(), "{}", o1.log());
    // Long enough for every replaced check to have ended by itself.
    std::thread::sleep(Duration::from_secs(4));
    let kids = children_of(pid);
    let zombies: Vec<u32> = kids
        .iter()
        .filter(|p| p.state == 'Z')
        .map(|p| p.pid)
        .collect();
    assert!(zombies.is_empty(), "zombie children (pids): {zombies:?}");
    let checks = processes()
        .into_iter()
        .filter(|p| p.cmdline.contains(&check.display().to_string()))
        .count();
    assert!(checks <= 1, "{checks} checks running (one at most)");
    assert_eq!(o1.state_str("state").as_deref(), Some("MASTER"));

    // SIGTERM: the check in progress and its child go too.
    o1.stop();
    let left = wait_for(Duration::from_secs(2), || {
        ipvs_lab::run(&["ip", "netns", "pids", o1.ns.name()])
            .stdout
            .trim()
            .is_empty()
            && !processes().iter().any(|p| p.cmdline.contains(&marker))
    });
    assert!(
        left.is_some(),
        "processes left after SIGTERM: {:?} {:?}",
        ipvs_lab::run(&["ip", "netns", "pids", o1.ns.name()]).stdout,
        processes()
            .iter()
            .filter(|p| p.cmdline.contains(&marker))
            .collect::<Vec<_>>()
    );
}

/// Item 5: a notify program that hangs is killed with its process group after
/// `--notify-timeout`.
#[test]
fn a_hanging_notify_program_is_killed_after_the_timeout() {
    if !prerequisites("a_hanging_notify_program_is_killed_after_the_timeout") {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours", 0x46);
    let hang = o1.path("hang.sh");
    write_exec(&hang, "#!/bin/sh\nsleep 120 &\nwait\n");
    o1.extra_args = vec!["--notify-timeout".into(), "1".into()];
    let mut c = Inst::v2(200);
    c.extra = vec![format!("notify_master {}", hang.display())];
    o1.start(Daemon::Ours, &c.conf());
    expect_holder(&[&o1], VIP, "ours", ELECTION);
    let hung = |p: &super::harness::Proc| {
        p.cmdline.contains(&hang.display().to_string()) || p.cmdline == "sleep 120"
    };
    let started = wait_for(Duration::from_secs(2), || processes().iter().any(hung));
    assert!(
        started.is_some(),
        "notify_master did not run:\n{}",
        o1.log()
    );
    let t0 = Instant::now();
    let killed = wait_for(Duration::from_secs(5), || !processes().iter().any(hung));
    assert!(
        killed.is_some(),
        "hanging notify program still running after 5 s:\n{}",
        o1.log()
    );
    assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    assert!(
        o1.log()
            .contains("still running after 1 s: killed with its process group"),
        "{}",
        o1.log()
    );
    assert!(o1.has_vip(VIP));
}

/// Item 6 (and 8): a reload whose configuration includes a FIFO, a device, a file that
/// is no configuration, or uses a pattern that makes a backtracking matcher explode,
/// fails or finishes at once; adverts and signal handling never stop.
#[test]
fn reloads_with_hostile_includes_never_stop_adverts() {
    if !prerequisites("reloads_with_hostile_includes_never_stop_adverts") {
        return;
    }
    let seg = Segment::new();
    let mut o1 = seg.node("ours-200", 0x47);
    let mut k1 = seg.node("keepalived-100", 0x48);
    let inc = o1.path("conf.d");
    std::fs::create_dir(&inc).expect("mkdir");
    std::fs::write(inc.join("a".repeat(200)), "").expect("write");
    let fifo = o1.path("fifo.conf");
    ipvs_lab::must(&format!("mkfifo {}", fifo.display()));
    let shadow = o1.path("shadow");
    let secret = "root:$y$j9T$NotForTheLogs0123456789$ThisHashMustNeverReachTheLog0123456789abc:19000:0:99999:7:::";
    std::fs::write(&shadow, format!("{secret}\n")).expect("write");
    let base = Inst::v2(200).conf();
    o1.start(Daemon::Ours, &base);
    k1.start(Daemon::Keepalived, &Inst::v2(100).conf());
    expect_holder(&[&o1, &k1], VIP, "ours-200", ELECTION);
    let conf = o1.path("keepalived.conf");
    for (include, why) in [
        (fifo.display().to_string(), "a FIFO, not a regular file"),
        (
            "/dev/zero".to_string(),
            "a character device, not a regular file",
        ),
        (
            shadow.display().to_string(),
            "unsupported keyword in the top level",
        ),
        (format!("{}/*a*a*a*a*a*b", inc.display()), ""),
    ] {
        let reloads = o1.log().matches("Reloading configuration").count();
        let failures = o1.log().matches("reload failed").count();
        let sent = o1.counter("adverts_sent");
        std::fs::write(&conf, format!("include {include}\n{base}")).expect("write");
        o1.signal("HUP");
        let done = wait_for(Duration::from_secs(3), || {
            let log = o1.log();
            log.matches("Reloading configuration").count() > reloads
                && (why.is_empty() || log.matches("reload failed").count() > failures)
        });
        assert!(
            done.is_some(),
            "include {include}: reload hangs:\n{}",
            o1.log()
        );
        if !why.is_empty() {
            let log = o1.log();
            let line = log
                .lines()
                .filter(|l| l.contains("reload failed"))
                .nth(failures)
                .unwrap_or_default();
            assert!(line.contains(why), "include {include}: {line}");
        }
        // Adverts go on: two more within 2.5 s, and nobody else took the VIP.
        let going = wait_for(Duration::from_millis(2500), || {
            o1.counter("adverts_sent") >= sent + 2
        });
        assert!(
            going.is_some(),
            "include {include}: adverts stopped:\n{}",
            o1.log()
        );
        assert_eq!(holders(&[&o1, &k1], VIP), ["ours-200"], "include {include}");
    }
    let log = o1.log();
    assert!(
        !log.contains("NotForTheLogs") && !log.contains("root:"),
        "{log}"
    );
    assert_eq!(o1.state_str("state").as_deref(), Some("MASTER"));
    assert_eq!(o1.counter("became_master"), 1);
    // Signals are still handled: SIGTERM stops it and hands over.
    o1.stop();
    expect_holder(&[&k1], VIP, "keepalived-100", Duration::from_secs(3));
}

/// Item 7: the pid and state files are never written through a symbolic link, and get
/// mode 0644 whatever the umask; a pid path that is a link stops the start.
#[test]
fn pid_and_state_files_never_follow_links_and_ignore_the_umask() {
    if !prerequisites("pid_and_state_files_never_follow_links_and_ignore_the_umask") {
        return;
    }
    use std::os::unix::fs::{symlink, PermissionsExt};
    let seg = Segment::new();
    let mut o1 = seg.node("ours", 0x49);
    let victim = o1.path("victim");
    std::fs::write(&victim, "precious\n").expect("write");
    symlink(&victim, o1.path("daemon.pid")).expect("symlink");
    o1.start(Daemon::Ours, &Inst::v2(200).conf());
    assert_eq!(o1.wait_exit(), Some(3), "{}", o1.log());
    assert!(
        o1.log()
            .contains("daemon.pid: is a symbolic link, refusing to start"),
        "{}",
        o1.log()
    );
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );

    // Links at the state file and at the old predictable temporary name; umask 000.
    std::fs::remove_file(o1.path("daemon.pid")).expect("rm");
    symlink(&victim, o1.path("state.json")).expect("symlink");
    symlink(&victim, o1.path("state.tmp")).expect("symlink");
    o1.umask = Some(0);
    o1.spawn();
    expect_holder(&[&o1], VIP, "ours", ELECTION);
    let written = wait_for(Duration::from_secs(2), || {
        o1.state_str("state").as_deref() == Some("MASTER")
    });
    assert!(written.is_some(), "{}", o1.log());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );
    for f in ["state.json", "daemon.pid"] {
        let m = std::fs::symlink_metadata(o1.path(f)).expect("stat");
        assert!(m.file_type().is_file(), "{f} is not a regular file");
        assert_eq!(m.permissions().mode() & 0o777, 0o644, "{f}");
    }
    o1.stop();
    assert_eq!(
        std::fs::read_to_string(&victim).expect("read"),
        "precious\n"
    );
}

/// Items 4, 6 and 8 for `-t`: it refuses what the kernel would refuse, never blocks on
/// an include, and never prints a file's contents. Needs neither root nor keepalived.
#[test]
fn config_test_refuses_what_the_kernel_refuses_and_hostile_includes() {
    let bin = ipvs_lab::workspace_bin("keepalived-lite")
        .display()
        .to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("k.conf");
    let fs = f.display().to_string();
    let check = |text: &str| {
        std::fs::write(&f, text).expect("write");
        run_limited(&[&bin, "-t", "-f", &fs], Duration::from_secs(10))
            .unwrap_or_else(|| panic!("-t did not finish within 10 s:\n{text}"))
    };
    let good = Inst::v2(100).conf();
    for (vip, why) in [
        (
            "192.0.2.100/24 label eth0:sixteen-chars",
            "label 'eth0:sixteen-chars' is longer than 15 characters",
        ),
        (
            "224.0.0.100/32",
            "a multicast address cannot be a virtual address",
        ),
        (
            "255.255.255.255/32",
            "the broadcast address cannot be a virtual address",
        ),
        (
            "0.0.0.0/32",
            "the unspecified address cannot be a virtual address",
        ),
        ("192.0.2.100/0", "prefix length 0"),
    ] {
        let (code, err) = check(&good.replace("192.0.2.100/24", vip));
        assert_eq!(code, 5, "{vip}: {err}");
        assert!(
            err.starts_with(&format!("{fs}:")) && err.contains(why),
            "{vip}: {err}"
        );
    }
    // Duplicates: a warning, exit 0 (keepalived 2.2.7 -t exits 0 too, silently).
    let (code, err) = check(&good.replace(
        "192.0.2.100/24 dev eth0\n",
        "192.0.2.100/24 dev eth0\n        192.0.2.100/24 dev eth0\n",
    ));
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("(VI_T) virtual_ipaddress 192.0.2.100 is listed twice"),
        "{err}"
    );
    // The node's own address as a VIP.
    let (code, err) = check(&good.replace(
        "interface eth0\n",
        "interface eth0\n    unicast_src_ip 192.0.2.100\n    unicast_peer {\n        192.0.2.2\n    }\n",
    ));
    assert_eq!(code, 5, "{err}");
    assert!(
        err.contains("is unicast_src_ip, this node's own address"),
        "{err}"
    );

    let fifo = dir.path().join("fifo.conf");
    ipvs_lab::must(&format!("mkfifo {}", fifo.display()));
    let shadow = dir.path().join("shadow");
    std::fs::write(
        &shadow,
        "root:$y$j9T$NotForTheLogs0123456789$ThisHashMustNeverReachTheLog0123456789abc:19000:0:99999:7:::\n",
    )
    .expect("write");
    for (include, why) in [
        (fifo.display().to_string(), "a FIFO, not a regular file"),
        ("/dev/zero".into(), "a character device, not a regular file"),
        (
            shadow.display().to_string(),
            "unsupported keyword in the top level",
        ),
    ] {
        let (code, err) = check(&format!("include {include}\n{good}"));
        assert_eq!(code, 5, "include {include}: {err}");
        assert!(err.contains(why), "include {include}: {err}");
        assert!(
            !err.contains("NotForTheLogs") && !err.contains("root:"),
            "{err}"
        );
    }
    let sub = dir.path().join("d");
    std::fs::create_dir(&sub).expect("mkdir");
    std::fs::write(sub.join("a".repeat(200)), "").expect("write");
    let (code, err) = check(&format!("include {}/*a*a*a*a*a*b\n{good}", sub.display()));
    assert_eq!((code, err.as_str()), (0, ""));
}
