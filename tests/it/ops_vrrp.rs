//! The acceptance of issue 11, as part of the lab test
//! `ops::exporter_agrees_with_ipvsadm_and_prometheus_reads_it`: the real Prometheus
//! (Debian's package, with the alert rules of deploy/prometheus loaded) scrapes
//! ipvs-exporter and two keepalived-lite daemons (the director and a peer namespace
//! on the real servers' bridge) while client traffic flows and the VIP fails over;
//! its HTTP API must show ipvsadm's counters and `keepalived_vrrp_state` following
//! the failover, the VRRP alerts must go off on a split brain, and every query of
//! the Grafana dashboard must run and return data.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipvs_lab::{must, veth, workspace_bin, Netns, Topology};

use crate::ops::{http_get, Killed};
use crate::ops_deploy::{dashboard_exprs, declared_families, metric_words};

/// The director's daemon serves here (in the test's namespace, the director).
pub const DIRECTOR_METRICS: &str = "127.0.0.1:9650";
/// The peer's daemon serves on its bridge address, where Prometheus reaches it.
pub const PEER_METRICS: &str = "198.51.100.50:9650";
/// The VRRP virtual address both daemons contend for, on the real servers' bridge.
const VRRP_VIP: &str = "198.51.100.100";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// One sample of a query's answer: its labels and value.
pub type Sample = (BTreeMap<String, String>, f64);

/// The real Prometheus server, scraping every second, rules evaluated every second,
/// its TSDB on the lab's tmpfs.
pub struct Prometheus {
    _child: Killed,
    _storage: tempfile::TempDir,
    web: SocketAddr,
}

impl Prometheus {
    /// Starts Prometheus with `jobs` (name, targets) and the repository's alert rules.
    pub fn start(dir: &Path, jobs: &[(&str, Vec<String>)]) -> Prometheus {
        let mut config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n",
            root().join("deploy/prometheus/ipvs-alerts.yml").display()
        );
        for (job, targets) in jobs {
            let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
            config += &format!(
                "  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n",
                list.join(", ")
            );
        }
        let file = dir.join("prometheus.yml");
        std::fs::write(&file, config).expect("prometheus config");
        // TSDB on the lab's tmpfs, not on the host's filesystem.
        let storage = tempfile::tempdir_in("/dev/shm").expect("storage");
        let web: SocketAddr = "127.0.0.1:9090".parse().expect("address");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", storage.path().display()))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        Prometheus {
            _child: Killed(child),
            _storage: storage,
            web,
        }
    }

    /// The JSON answer of an API path, `None` while Prometheus does not answer.
    fn api(&self, path: &str) -> Option<serde_json::Value> {
        TcpStream::connect(self.web).ok()?;
        let (_, body) = http_get(self.web, path, "application/json");
        serde_json::from_str(&body).ok()
    }

    /// An instant query: its status and its samples (labels, value).
    pub fn query_all(&self, q: &str) -> (String, Vec<Sample>) {
        let enc: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
        let Some(json) = self.api(&format!("/api/v1/query?query={enc}")) else {
            return ("unreachable".into(), Vec::new());
        };
        let status = json["status"].as_str().unwrap_or("?").to_string();
        let status = match json["error"].as_str() {
            Some(e) => format!("{status}: {e}"),
            None => status,
        };
        let samples = json["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|s| {
                        let labels = serde_json::from_value(s["metric"].clone()).ok()?;
                        let v = s["value"][1].as_str()?.parse().ok()?;
                        Some((labels, v))
                    })
                    .collect()
            })
            .unwrap_or_default();
        (status, samples)
    }

    /// The value of a query that selects one series, `None` otherwise.
    pub fn value(&self, q: &str) -> Option<f64> {
        match &self.query_all(q).1[..] {
            [(_, v)] => Some(*v),
            _ => None,
        }
    }

    /// Polls until `q` has the value `want` (a scrape and a rule evaluation take a
    /// second each); panics naming the query and the last value otherwise.
    #[track_caller]
    pub fn wait_for(&self, q: &str, want: f64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut seen = None;
        while Instant::now() < deadline {
            seen = self.value(q);
            if seen == Some(want) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("Prometheus: {q} is {seen:?}, expected {want}");
    }

    /// The alerts pending or firing now: (name, state).
    pub fn alerts(&self) -> Vec<(String, String)> {
        let Some(json) = self.api("/api/v1/alerts") else {
            return Vec::new();
        };
        json["data"]["alerts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        let name = x["labels"]["alertname"].as_str().unwrap_or("");
                        let state = x["state"].as_str().unwrap_or("");
                        (name.to_string(), state.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Two keepalived-lite daemons for one VIP on the real servers' bridge: the
/// director's (priority 150, tracking a script of weight -100, with a virtual
/// server whose second real server is down) and a peer namespace's (priority 100).
pub struct VrrpPair {
    _director: Killed,
    _peer: Killed,
    /// The peer's namespace.
    pub peer_ns: Netns,
    dir: tempfile::TempDir,
}

fn conf(interface: &str, priority: u8, extra: &str) -> String {
    format!(
        "{extra}vrrp_instance VI_API {{\n    state BACKUP\n    interface {interface}\n    virtual_router_id 51\n    priority {priority}\n    advert_int 1\n    authentication {{\n        auth_type PASS\n        auth_pass secret12\n    }}\n    virtual_ipaddress {{\n        {VRRP_VIP}/24\n    }}\n{}}}\n",
        if extra.is_empty() {
            ""
        } else {
            "    track_script {\n        chk_api\n    }\n"
        }
    )
}

/// Starts keepalived-lite with `DIR/NAME.conf`, its pid, state and log files in
/// `dir`, serving metrics on `metrics`; inside `netns` when given.
fn daemon(netns: Option<&Netns>, dir: &Path, name: &str, metrics: &str) -> Killed {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).expect("log");
    let bin = workspace_bin("keepalived-lite");
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns.name()]).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let child = cmd
        .args(["--dont-fork", "--log-console", "--metrics", metrics])
        .arg("-f")
        .arg(dir.join(format!("{name}.conf")))
        .arg("--pid")
        .arg(dir.join(format!("{name}.pid")))
        .arg("--state-file")
        .arg(dir.join(format!("{name}.json")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start keepalived-lite");
    Killed(child)
}

impl VrrpPair {
    /// Starts both daemons and waits until the director holds the VIP.
    pub fn start(topo: &Topology) -> VrrpPair {
        let dir = tempfile::tempdir().expect("tempdir");
        let peer_ns = Netns::new("kpeer");
        veth("to-peer", &peer_ns, "eth0");
        must("ip link set to-peer master br-rs");
        peer_ns.must("ip addr add 198.51.100.50/24 dev eth0");
        let healthy = dir.path().join("healthy");
        std::fs::write(&healthy, "").expect("healthy");
        let (rs0, rs1) = (topo.servers[0].addr, topo.servers[1].addr);
        // The script answers at once either way; its result must reach the daemon by
        // SIGCHLD, not by the timeout (with --metrics a thread once swallowed SIGCHLD:
        // vrrp::metrics checks that with a long timeout too).
        let script = format!(
            "vrrp_script chk_api {{\n    script \"/usr/bin/test -e {}\"\n    interval 0.5\n    timeout 20\n    weight -100\n}}\n\
             virtual_server {} 8443 {{\n    delay_loop 1\n    lvs_sched rr\n    lvs_method NAT\n    protocol TCP\n\
             \x20   real_server {rs0} 8080 {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n            warmup 0\n        }}\n    }}\n\
             \x20   real_server {rs1} 9 {{\n        TCP_CHECK {{\n            connect_timeout 1\n            retry 0\n            warmup 0\n        }}\n    }}\n}}\n",
            healthy.display(),
            topo.vip
        );
        std::fs::write(
            dir.path().join("director.conf"),
            conf("br-rs", 150, &script),
        )
        .expect("conf");
        std::fs::write(dir.path().join("peer.conf"), conf("eth0", 100, "")).expect("conf");
        let director = daemon(None, dir.path(), "director", DIRECTOR_METRICS);
        let peer = daemon(Some(&peer_ns), dir.path(), "peer", PEER_METRICS);
        let pair = VrrpPair {
            _director: director,
            _peer: peer,
            peer_ns,
            dir,
        };
        pair.wait_holder(true, Duration::from_secs(15));
        pair
    }

    fn logs(&self) -> String {
        ["director", "peer"]
            .iter()
            .map(|n| {
                let log = std::fs::read_to_string(self.dir.path().join(format!("{n}.log")));
                format!("--- {n} ---\n{}", log.unwrap_or_default())
            })
            .collect()
    }

    /// Waits until only the director (`true`) or only the peer holds the VIP.
    #[track_caller]
    pub fn wait_holder(&self, director: bool, timeout: Duration) {
        let has = |listing: String| listing.contains(&format!("{VRRP_VIP}/"));
        let deadline = Instant::now() + timeout;
        loop {
            let d = has(must("ip -br addr show dev br-rs").stdout);
            let p = has(self.peer_ns.must("ip -br addr show dev eth0").stdout);
            if (d, p) == (director, !director) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "VIP holders: director {d}, peer {p}; expected director {director}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The director's tracked script fails (`false`) or passes again.
    pub fn set_healthy(&self, healthy: bool) {
        let f = self.dir.path().join("healthy");
        if healthy {
            std::fs::write(f, "").expect("healthy");
        } else {
            std::fs::remove_file(f).expect("unhealthy");
        }
    }
}

/// Client connections to `target` (each echoed, then closed) until stopped.
struct Traffic {
    stop: Arc<AtomicBool>,
    made: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Traffic {
    fn start(client: &Netns, target: SocketAddr) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let made = Arc::new(AtomicU64::new(0));
        let (s, m) = (stop.clone(), made.clone());
        let thread = client.spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let mut c =
                    TcpStream::connect_timeout(&target, Duration::from_secs(5)).expect("connect");
                c.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                c.write_all(b"0123456789").expect("write");
                let mut b = [0u8; 10];
                c.read_exact(&mut b).expect("echo");
                m.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Traffic { stop, made, thread }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("client traffic");
        self.made.load(Ordering::Relaxed)
    }
}

/// Waits until `alert` is pending or firing.
#[track_caller]
fn expect_alert(prom: &Prometheus, alert: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alerts = prom.alerts();
        if alerts
            .iter()
            .any(|(n, s)| n == alert && (s == "pending" || s == "firing"))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{alert} not pending or firing: {alerts:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The failover under traffic, watched through Prometheus (see the module's doc).
/// `exporter` is ipvs-exporter's address; `settled_stats` reads `ipvsadm -Ln --stats
/// --exact` once the kernel's estimator has folded everything in.
pub fn failover_under_traffic(
    topo: &Topology,
    pair: &VrrpPair,
    prom: &Prometheus,
    exporter: SocketAddr,
    settled_stats: impl Fn() -> String,
) {
    let d = format!(r#"instance="{DIRECTOR_METRICS}""#);
    let p = format!(r#"instance="{PEER_METRICS}""#);
    let state = |who: &str| format!("keepalived_vrrp_state{{{who},ip_address=\"{VRRP_VIP}\"}}");
    let long = Duration::from_secs(30);
    prom.wait_for(&state(&d), 2.0, long);
    prom.wait_for(&state(&p), 1.0, long);

    let vip = topo.vip;
    let traffic = Traffic::start(&topo.client, SocketAddr::new(vip, 80));
    // Failover: the director's health script fails (150 - 100 < 100), the peer
    // preempts; both keep being scraped.
    pair.set_healthy(false);
    pair.wait_holder(false, Duration::from_secs(10));
    prom.wait_for(&state(&d), 1.0, long);
    prom.wait_for(&state(&p), 2.0, long);
    prom.wait_for(&format!("keepalived_effective_priority{{{d}}}"), 50.0, long);
    prom.wait_for(
        &format!("keepalived_release_master_total{{{d}}}"),
        1.0,
        long,
    );
    prom.wait_for(&format!("keepalived_become_master_total{{{p}}}"), 1.0, long);
    prom.wait_for(
        &format!(r#"keepalived_script_status{{{d},name="chk_api"}}"#),
        0.0,
        long,
    );

    // The checker half: rs0:8080 answers, rs1:9 does not.
    let (rs0, rs1) = (topo.servers[0].addr, topo.servers[1].addr);
    let rs_up = |rs: IpAddr, port: u16| {
        format!(r#"keepalived_lvs_rs_up{{{d},remote_address="{rs}",remote_port="{port}"}}"#)
    };
    prom.wait_for(&rs_up(rs0, 8080), 1.0, long);
    prom.wait_for(&rs_up(rs1, 9), 0.0, long);
    let listing = must(&format!("ipvsadm -Ln -t {vip}:8443")).stdout;
    assert!(
        listing.contains(&format!("-> {rs0}:8080")) && !listing.contains(&format!("-> {rs1}:9")),
        "{listing}"
    );

    // Split brain: VRRP (IP protocol 112) dropped in the peer, HTTP still passes.
    // Both become MASTER; the rules, evaluated on the daemons' real series, go off.
    pair.peer_ns.must(
        "iptables-legacy -A INPUT -p 112 -j DROP && iptables-legacy -A OUTPUT -p 112 -j DROP",
    );
    prom.wait_for(&state(&d), 2.0, long);
    prom.wait_for(&format!(r#"sum by (iname, vrid, ip_address) (keepalived_vrrp_state{{ip_address="{VRRP_VIP}"}} == bool 2)"#), 2.0, long);
    for alert in [
        "KeepalivedVIPMultipleMasters",
        "KeepalivedHealthScriptFailing",
        "KeepalivedRealServerDown",
    ] {
        expect_alert(prom, alert);
    }
    // Healed, and the script passes again: the director takes the VIP back.
    pair.peer_ns
        .must("iptables-legacy -F INPUT && iptables-legacy -F OUTPUT");
    pair.set_healthy(true);
    pair.wait_holder(true, Duration::from_secs(10));
    prom.wait_for(&state(&d), 2.0, long);
    prom.wait_for(&state(&p), 1.0, long);
    let made = traffic.stop();
    assert!(
        made >= 10,
        "only {made} client connections during the failover"
    );

    // The counters, through Prometheus, from both endpoints: ipvsadm's numbers.
    let stats = settled_stats();
    let line = stats
        .lines()
        .find(|l| l.starts_with(&format!("TCP  {vip}:80 ")))
        .unwrap_or_else(|| panic!("{vip}:80 in {stats}"));
    let want: Vec<f64> = line
        .split_whitespace()
        .skip(2)
        .map(|v| v.parse().expect("counter"))
        .collect();
    let total_conns: f64 = stats
        .lines()
        .filter(|l| l.starts_with("TCP ") || l.starts_with("UDP ") || l.starts_with("FWM "))
        .map(|l| {
            l.split_whitespace()
                .nth(2)
                .expect("column")
                .parse::<f64>()
                .expect("counter")
        })
        .sum();
    for instance in [exporter.to_string(), DIRECTOR_METRICS.to_string()] {
        let svc =
            format!(r#"instance="{instance}",local_address="{vip}",local_port="80",proto="TCP""#);
        for (name, want) in crate::ops::COUNTERS.iter().zip(&want) {
            prom.wait_for(&format!("ipvs_service_{name}_total{{{svc}}}"), *want, long);
        }
        prom.wait_for(
            &format!(r#"node_ipvs_connections_total{{instance="{instance}"}}"#),
            total_conns,
            long,
        );
    }

    // What the rules and the dashboard read is in the endpoints' real output; the
    // real promtool accepts the daemon's; every dashboard query runs and has data.
    let director_text = http_get(DIRECTOR_METRICS.parse().expect("addr"), "/metrics", "*/*").1;
    let exporter_text = http_get(exporter, "/metrics", "*/*").1;
    let file = pair.dir.path().join("director-metrics.txt");
    std::fs::write(&file, &director_text).expect("write");
    let lint = must(&format!("promtool check metrics < {}", file.display()));
    assert!(
        lint.stdout.trim().is_empty() && lint.stderr.trim().is_empty(),
        "{lint:?}"
    );
    let mut emitted = declared_families(&director_text);
    emitted.extend(declared_families(&exporter_text));
    let rules =
        std::fs::read_to_string(root().join("deploy/prometheus/ipvs-alerts.yml")).expect("rules");
    let exprs = dashboard_exprs();
    let dashboard = exprs.join("\n");
    for (what, text) in [("the rules", &rules), ("the dashboard", &dashboard)] {
        for m in metric_words(text) {
            assert!(
                emitted.iter().any(|e| e == m),
                "{what} read {m}, which neither endpoint emits"
            );
        }
    }
    for e in &exprs {
        let q = e
            .replace("$instance", ".*")
            .replace("$__rate_interval", "1m");
        let (status, samples) = prom.query_all(&q);
        assert_eq!(status, "success", "{q}");
        assert!(!samples.is_empty(), "the dashboard's {q} has no data");
    }
}

impl VrrpPair {
    /// A number from the director's state file (the first `"key": N`).
    pub fn director_counter(&self, key: &str) -> u64 {
        let state =
            std::fs::read_to_string(self.dir.path().join("director.json")).unwrap_or_default();
        let pat = format!("\"{key}\": ");
        state
            .find(&pat)
            .and_then(|i| {
                state[i + pat.len()..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{key} in {state}"))
    }
}

/// Whether a scrape of `addr` gets its response head within `limit`.
fn answers_within(addr: SocketAddr, limit: Duration) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(limit));
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut b = [0u8; 12];
    s.read_exact(&mut b).is_ok() && b.starts_with(b"HTTP/1.1 200")
}

ipvs_lab::lab_test! {
    /// A scrape that never finishes (a client that asks and does not read, with
    /// small socket buffers) holds the metrics thread, not VRRP: the master keeps
    /// advertising, its script still drives a failover, and once the client goes
    /// the next scrape shows the state as it is.
    fn a_stuck_scrape_never_stops_vrrp() {
        let topo = Topology::nat(2);
        // Small TCP buffers in the director's namespace, and a sizeable page: the
        // metrics thread blocks writing to a client that does not read.
        must("sysctl -qw net.ipv4.tcp_wmem='4096 4096 4096' net.ipv4.tcp_rmem='4096 4096 4096'");
        let restore: String = (0..200)
            .map(|i| format!("-A -t 203.0.113.{}:{} -s rr\n", 100 + i % 100, 1000 + i))
            .collect();
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("table"), restore).expect("table");
        must(&format!("ipvsadm -R < {}", dir.path().join("table").display()));
        let pair = VrrpPair::start(&topo);
        let metrics: SocketAddr = DIRECTOR_METRICS.parse().expect("addr");
        assert!(answers_within(metrics, Duration::from_secs(30)), "the endpoint answers");

        let mut stuck = TcpStream::connect(metrics).expect("connect");
        write!(stuck, "GET /metrics HTTP/1.1\r\nHost: {metrics}\r\n\r\n").expect("request");
        // The thread is held: the next scrape gets no answer.
        std::thread::sleep(Duration::from_secs(2));
        assert!(!answers_within(metrics, Duration::from_secs(3)), "the stuck scrape did not hold the endpoint");

        // VRRP goes on: adverts, and a failover driven by the tracked script.
        let sent = pair.director_counter("adverts_sent");
        std::thread::sleep(Duration::from_secs(3));
        let later = pair.director_counter("adverts_sent");
        assert!(later >= sent + 2, "adverts sent {sent} -> {later} while a scrape was stuck");
        pair.set_healthy(false);
        pair.wait_holder(false, Duration::from_secs(10));
        assert_eq!(pair.director_counter("effective_priority"), 50);

        // The client goes: the endpoint serves again, with the state as it is now.
        drop(stuck);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, text) = http_get(metrics, "/metrics", "*/*");
            let m = crate::ops::samples(&text);
            let state = m.get(&format!(r#"keepalived_vrrp_state{{iname="VI_API",intf="br-rs",vrid="51",ip_address="{VRRP_VIP}"}}"#));
            if state == Some(&1.0) {
                break;
            }
            assert!(Instant::now() < deadline, "state {state:?} after the failover");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
