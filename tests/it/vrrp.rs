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

mod deploy;
mod elections;
mod hardening;
pub(crate) mod harness;
mod metrics;
mod operations;
mod preemption;
mod scripts;

use std::net::SocketAddr;
use std::time::Duration;

use harness::{holders, master_down, wait_for, Inst, Node};

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

/// [`expect_holder`], then checks that after two more seconds (a few adverts) still
/// only `want` holds it.
#[track_caller]
fn expect_stable_holder(nodes: &[&Node], vip: &str, want: &str, timeout: Duration) {
    expect_holder(nodes, vip, want, timeout);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(nodes, vip), [want]);
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
    let test = "vrrp::elections::v2_unicast_graceful_stop_and_preemption";
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
