//! The lab itself: booting, exit status and output, timeouts, cleanup, and the
//! topologies other tests stand on.

use ipvs_lab::{boot, lab_test, must, run, BootError, BootOptions, TcpServer, Topology};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The IPVS table of the calling thread's network namespace. (`/proc/net` follows the
/// process's main thread, which lives in another namespace.)
const PROC_IP_VS: &str = "/proc/thread-self/net/ip_vs";

fn sh_argv(script: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), script.into()]
}

/// Lab kernels (user-mode-linux processes) running on this machine right now whose
/// command line names `marker`.
fn kernels_with(marker: &str) -> Vec<String> {
    let out = run(&["ps", "-eo", "pid,args"]);
    out.stdout
        .lines()
        .filter(|l| l.contains("linux.uml") && l.contains(marker))
        .map(String::from)
        .collect()
}

/// Host-side test of the boot itself: status, stdout and stderr come back as the
/// workload left them, and the workload ran in a kernel that has IPVS.
#[test]
fn boot_returns_status_stdout_and_stderr() {
    if skip_boot_tests("boot_returns_status_stdout_and_stderr") {
        return;
    }
    let out = boot(
        &sh_argv("echo out; echo err >&2; test -n \"$IPVS_LAB_INSIDE\" && grep -q ip_vs_rr /proc/modules && exit 7"),
        &BootOptions::default(),
    )
    .expect("lab boots");
    assert_eq!(out.status, 7, "{out}");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
}

/// A workload that outlives the timeout is killed, reported as a timeout, and leaves no
/// kernel process behind.
#[test]
fn timeout_kills_the_lab_and_leaves_nothing_running() {
    if skip_boot_tests("timeout_kills_the_lab_and_leaves_nothing_running") {
        return;
    }
    let opts = BootOptions {
        timeout: Duration::from_secs(8),
        ..BootOptions::default()
    };
    let err = boot(&sh_argv("sleep 600"), &opts).expect_err("must time out");
    let BootError::Timeout { lab_dir, .. } = &err else {
        panic!("expected a timeout, got: {err}");
    };
    // Every process of that boot had its directory on its command line (uml_dir=...):
    // the guard must have killed them all before boot() returned.
    let marker = lab_dir.display().to_string();
    assert!(marker.contains("ipvs-lab."), "{marker}");
    let left = kernels_with(&marker);
    assert!(left.is_empty(), "lab processes left behind: {left:?}");
}

/// Every IPVS scheduler module of the kernel is loaded in the lab.
#[test]
fn every_scheduler_is_loaded() {
    if skip_boot_tests("every_scheduler_is_loaded") {
        return;
    }
    let out = boot(&sh_argv("cat /proc/modules"), &BootOptions::default()).expect("lab boots");
    for sched in [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh",
    ] {
        assert!(
            out.stdout.contains(&format!("ip_vs_{sched} ")),
            "ip_vs_{sched} not loaded:\n{out}"
        );
    }
    assert!(out.stdout.contains("ip_vs_pe_sip "), "{out}");
}

/// `IPVS_LAB=host` runs lab tests directly on a kernel that has IPVS: shown by running
/// a lab test that way inside the lab kernel, with the lab's own marker removed.
#[test]
fn host_mode_runs_tests_directly_where_ipvs_is() {
    if skip_boot_tests("host_mode_runs_tests_directly_where_ipvs_is") {
        return;
    }
    let exe = std::env::current_exe()
        .expect("test binary")
        .display()
        .to_string();
    let name = "lab::service_shows_in_proc";
    let argv: Vec<String> = [
        "env",
        "-u",
        ipvs_lab::INSIDE_ENV,
        "IPVS_LAB=host",
        &exe,
        name,
        "--exact",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = boot(&argv, &BootOptions::default()).expect("lab boots");
    assert!(
        out.success() && out.stdout.contains(&format!("test {name} ... ok")),
        "{out}"
    );
}

/// Host-side boot tests need the lab kernel whatever the mode, except under
/// `IPVS_LAB=skip`, where they say so by name (and which CI refuses).
fn skip_boot_tests(name: &str) -> bool {
    match ipvs_lab::Mode::from_env() {
        Ok(ipvs_lab::Mode::Skip) => {
            assert!(
                !ipvs_lab::under_ci(),
                "{name}: IPVS_LAB=skip is refused under CI"
            );
            let _ = writeln!(std::io::stderr(), "SKIPPED lab::{name}: IPVS_LAB=skip");
            true
        }
        _ => false,
    }
}

/// A lab test that fails inside the lab fails outside, with the inner run's output:
/// runs `lab::fails_when_asked` (below) as its own process with the failure switched on.
#[test]
fn a_failure_inside_the_lab_fails_the_test_outside() {
    if skip_boot_tests("a_failure_inside_the_lab_fails_the_test_outside") {
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args(["lab::fails_when_asked", "--exact"])
        .env("IPVS_LAB_FAIL_ON_PURPOSE", "1")
        .env("IPVS_LAB", "uml")
        .output()
        .expect("run the test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(101), "{stdout}");
    assert!(stdout.contains("failed inside the lab"), "{stdout}");
    assert!(stdout.contains("failing on purpose"), "{stdout}");
    assert!(
        stdout.contains("test result: FAILED. 0 passed; 1 failed"),
        "{stdout}"
    );
}

lab_test! {
    /// Passes, unless `IPVS_LAB_FAIL_ON_PURPOSE` is set (see
    /// `a_failure_inside_the_lab_fails_the_test_outside`).
    fn fails_when_asked() {
        assert!(std::env::var_os("IPVS_LAB_FAIL_ON_PURPOSE").is_none(), "failing on purpose");
        assert!(ipvs_lab::in_lab());
    }

    /// A service created in the lab kernel is in /proc/net/ip_vs.
    fn service_shows_in_proc() {
        must("ipvsadm -A -t 192.0.2.1:80 -s wrr && ipvsadm -a -t 192.0.2.1:80 -r 192.0.2.2:8080 -m -w 3");
        let table = std::fs::read_to_string(PROC_IP_VS).expect(PROC_IP_VS);
        // /proc shows addresses in hex: 192.0.2.1 = C0000201, port 80 = 0050.
        assert!(table.contains("TCP  C0000201:0050 wrr"), "{table}");
        assert!(table.contains("-> C0000202:1F90      Masq    3"), "{table}");
    }

    /// The test's network namespace starts with an empty IPVS table, whatever other
    /// tests do.
    fn each_test_has_a_private_table() {
        let table = std::fs::read_to_string(PROC_IP_VS).expect(PROC_IP_VS);
        assert_eq!(table.lines().count(), 3, "not empty:\n{table}");
    }

    /// TCP through a NAT virtual service reaches a real server in its namespace, and
    /// every byte comes back intact.
    fn nat_traffic_arrives_intact() {
        let topo = Topology::nat(1);
        let rs = &topo.servers[0];
        let _echo = TcpServer::echo(&rs.ns, SocketAddr::new(rs.addr, 8080));
        must(&format!("ipvsadm -A -t {}:80 -s rr && ipvsadm -a -t {}:80 -r {}:8080 -m", topo.vip, topo.vip, rs.addr));
        let vip = SocketAddr::new(topo.vip, 80);
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let sent = payload.clone();
        let echoed = topo
            .client
            .spawn(move || {
                let mut s = TcpStream::connect_timeout(&vip, Duration::from_secs(5)).expect("connect to VIP");
                s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
                let mut w = s.try_clone().expect("clone");
                let writer = std::thread::spawn(move || {
                    w.write_all(&sent).expect("send");
                    w.shutdown(std::net::Shutdown::Write).expect("shutdown");
                });
                let mut back = Vec::new();
                s.read_to_end(&mut back).expect("read echo");
                writer.join().expect("writer");
                back
            })
            .join()
            .expect("client");
        assert_eq!(echoed.len(), payload.len());
        assert!(echoed == payload, "echoed bytes differ");
        // And the kernel counted it on the real server. The kernel folds its per-CPU
        // counters into what it reports every 2 s (the rate estimator), so poll.
        let rs_inbytes = || {
            let stats = must("ipvsadm -Ln --stats --exact").stdout;
            let line = stats.lines().find(|l| l.contains(&format!("{}:8080", rs.addr))).map(String::from);
            // "  -> RIP:PORT  Conns InPkts OutPkts InBytes OutBytes"
            let n = line.and_then(|l| l.split_whitespace().nth(5).and_then(|v| v.parse::<u64>().ok()));
            (n.unwrap_or(0), stats)
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(6);
        let (mut inbytes, mut stats) = rs_inbytes();
        while inbytes < payload.len() as u64 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
            (inbytes, stats) = rs_inbytes();
        }
        assert!(inbytes >= payload.len() as u64, "{stats}");
    }
}

/// Connects from the client to `vip:80` and returns what the server said.
fn fetch(topo: &Topology, vip: std::net::IpAddr) -> String {
    let addr = SocketAddr::new(vip, 80);
    match topo.client.fetch(addr) {
        Ok(reply) => reply,
        Err(e) => panic!("fetch {addr} from the client: {e}"),
    }
}

/// Each real server answers with its own name on `port` of `bind`'s address (the VIP for
/// direct routing and tunnels, the server's own address for NAT).
fn name_servers(
    topo: &Topology,
    bind: impl Fn(&ipvs_lab::Server) -> std::net::IpAddr,
    port: u16,
) -> Vec<TcpServer> {
    topo.servers
        .iter()
        .enumerate()
        .map(|(i, rs)| TcpServer::reply(&rs.ns, SocketAddr::new(bind(rs), port), format!("rs{i}")))
        .collect()
}

/// Round robin over three real servers: six connections, each server answers twice.
fn assert_round_robin(topo: &Topology, vip: std::net::IpAddr) {
    let mut seen: Vec<String> = (0..6).map(|_| fetch(topo, vip)).collect();
    seen.sort();
    assert_eq!(seen, ["rs0", "rs0", "rs1", "rs1", "rs2", "rs2"]);
}

lab_test! {
    /// Direct routing: the director rewrites only the MAC address; real servers hold the
    /// VIP on loopback and answer the client themselves.
    fn direct_routing_reaches_every_server() {
        let topo = Topology::direct_routing(3);
        let _servers = name_servers(&topo, |_| topo.vip, 80);
        must(&format!("ipvsadm -A -t {}:80 -s rr", topo.vip));
        for rs in &topo.servers {
            must(&format!("ipvsadm -a -t {}:80 -r {} -g", topo.vip, rs.addr));
        }
        assert_round_robin(&topo, topo.vip);
    }

    /// IPIP tunnelling: real servers decapsulate on tunl0, where they hold the VIP.
    fn tunnel_reaches_every_server() {
        let topo = Topology::tunnel(3);
        let _servers = name_servers(&topo, |_| topo.vip, 80);
        must(&format!("ipvsadm -A -t {}:80 -s rr", topo.vip));
        for rs in &topo.servers {
            must(&format!("ipvsadm -a -t {}:80 -r {} -i", topo.vip, rs.addr));
        }
        assert_round_robin(&topo, topo.vip);
    }

    /// NAT over IPv6: client to the IPv6 VIP, masqueraded to the servers' IPv6 addresses.
    fn nat_ipv6_reaches_every_server() {
        let topo = Topology::nat(3);
        let _servers = name_servers(&topo, |rs| rs.addr6, 8080);
        must(&format!("ipvsadm -A -t [{}]:80 -s rr", topo.vip6));
        for rs in &topo.servers {
            must(&format!("ipvsadm -a -t [{}]:80 -r [{}]:8080 -m", topo.vip6, rs.addr6));
        }
        assert_round_robin(&topo, topo.vip6);
    }
}

lab_test! {
    /// Many cases in one boot: each gets its own empty table, and a failing case is
    /// reported by name while the others still run.
    fn cases_run_isolated_and_report_failures_by_name() {
        let add = |i: u8| move || {
            let table = std::fs::read_to_string(PROC_IP_VS).expect(PROC_IP_VS);
            assert_eq!(table.lines().count(), 3, "table not empty:\n{table}");
            must(&format!("ipvsadm -A -t 192.0.2.{i}:80"));
        };
        ipvs_lab::run_cases((1..=3).map(|i| (format!("add{i}"), add(i))));

        let outcome = std::panic::catch_unwind(|| {
            ipvs_lab::run_cases([
                ("passes", Box::new(|| ()) as Box<dyn FnOnce() + Send>),
                ("fails", Box::new(|| panic!("boom"))),
                ("runs-after", Box::new(|| {
                    must("ipvsadm -A -t 192.0.2.9:80");
                })),
            ])
        });
        let msg = outcome.expect_err("a failing case fails the group");
        let msg = msg.downcast_ref::<String>().expect("message");
        assert!(msg.contains("1 of 3 cases failed") && msg.contains("case fails: boom"), "{msg}");
    }
}
