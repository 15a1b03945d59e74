//! Helpers for the VRRP interop tests: a bridged segment in its own network namespace,
//! nodes (one namespace each) running keepalived-lite or the real keepalived, and
//! polling helpers. Everything a test starts is stopped by `Drop`, even on panic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ipvs_lab::{must, Netns, TcpServer};

static IDS: AtomicU32 = AtomicU32::new(0);

/// Whether the interop tests can run here (root, `ip`, `keepalived`); otherwise the
/// reason. Under `CI` a missing prerequisite is a failure, never a skip.
pub fn prerequisites(test: &str) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let keepalived = Command::new("keepalived").arg("--version").output().is_ok();
    let why = match (root, keepalived) {
        (true, true) => return true,
        (false, _) => "needs root for network namespaces",
        (_, false) => "needs keepalived installed",
    };
    // The lab's rule: CI set, non-empty and not "false"/"0" (so CI=false is no CI).
    if ipvs_lab::under_ci() {
        panic!("vrrp interop test {test} cannot run under CI: {why}");
    }
    eprintln!("SKIPPED vrrp test {test}: {why}");
    false
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns the time it took.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// An L2 segment: a bridge inside its own namespace; nodes attach with veth pairs.
/// Nothing is created in the test process's own namespace.
#[derive(Debug)]
pub struct Segment {
    br: Netns,
}

impl Segment {
    /// A new segment.
    pub fn new() -> Segment {
        let br = Netns::new("vrbr");
        br.must("ip link add br0 type bridge && ip link set br0 up");
        Segment { br }
    }

    /// Attaches `ns` with interface `eth0` holding `192.0.2.<host>/24` and
    /// `2001:db8::<host>/64` (duplicate address detection off, so addresses and the
    /// link-local one are usable at once).
    pub fn attach(&self, ns: &Netns, host: u8) -> String {
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        ns.must("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        let peer = format!("p{id}");
        must(&format!(
            "ip link add eth0 netns {} type veth peer name {peer} netns {}",
            ns.name(),
            self.br.name()
        ));
        self.br.must(&format!(
            "ip link set {peer} master br0 && ip link set {peer} up"
        ));
        ns.must(&format!(
            "ip addr add 192.0.2.{host}/24 dev eth0 && ip -6 addr add 2001:db8::{host:x}/64 dev eth0 nodad && ip link set eth0 up"
        ));
        peer
    }

    /// Cuts (`false`) or restores the bridge port of `node`: the node keeps its carrier
    /// but hears nothing and is heard by nobody.
    pub fn set_port(&self, node: &Node, up: bool) {
        // Bridge port states: 0 disabled, 3 forwarding.
        self.br.must(&format!(
            "bridge link set dev {} state {}",
            node.port,
            if up { 3 } else { 0 }
        ));
    }

    /// A node namespace attached as `192.0.2.<host>`.
    pub fn node(&self, name: &str, host: u8) -> Node {
        let ns = Netns::new("vrnode");
        let port = self.attach(&ns, host);
        Node::new(name, ns, host, port)
    }

    /// A client namespace attached as `192.0.2.<host>`.
    pub fn client(&self, host: u8) -> Netns {
        let ns = Netns::new("vrcli");
        self.attach(&ns, host);
        ns
    }
}

/// Which daemon a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Daemon {
    /// keepalived-lite.
    Ours,
    /// keepalived 2.2.7.
    Keepalived,
}

/// A node: a namespace, a temp directory for config, pid, state and log files, and the
/// daemon process.
#[derive(Debug)]
pub struct Node {
    /// Name used in messages and TCP replies.
    pub name: String,
    /// Host number: the node's address is 192.0.2.<host>.
    pub host: u8,
    child: Option<Child>,
    daemon: Option<Daemon>,
    server: Option<TcpServer>,
    /// The node's namespace.
    pub ns: Netns,
    /// Temporary directory with conf, pid, state and log files.
    pub dir: tempfile::TempDir,
    port: String,
    /// Extra command-line arguments for keepalived-lite.
    pub extra_args: Vec<String>,
    /// The umask the daemon starts with (default: the test's).
    pub umask: Option<u32>,
}

impl Node {
    fn new(name: &str, ns: Netns, host: u8, port: String) -> Node {
        // Under /tmp (sticky, root-owned) in a 0700 directory: acceptable to
        // enable_script_security.
        let dir = tempfile::Builder::new()
            .prefix("vrrp-it-")
            .tempdir()
            .expect("temp dir");
        Node {
            name: name.to_string(),
            host,
            child: None,
            daemon: None,
            server: None,
            ns,
            dir,
            port,
            extra_args: Vec::new(),
            umask: None,
        }
    }

    /// The node's IPv4 address.
    pub fn addr(&self) -> String {
        format!("192.0.2.{}", self.host)
    }

    /// A file in the node's temporary directory.
    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    /// Writes `conf` and starts `daemon` with it.
    pub fn start(&mut self, daemon: Daemon, conf: &str) {
        std::fs::write(self.path("keepalived.conf"), conf).expect("write conf");
        self.daemon = Some(daemon);
        self.spawn();
    }

    /// Starts the daemon again with the same configuration.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = std::fs::File::create(self.path("daemon.log")).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let conf = self.path("keepalived.conf");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns.name()]);
        match self.daemon.expect("start() first") {
            Daemon::Ours => {
                cmd.arg(ipvs_lab::workspace_bin("keepalived-lite"))
                    .args(["--dont-fork", "--log-console", "--use-file"])
                    .arg(&conf)
                    .arg("--pid")
                    .arg(self.path("daemon.pid"))
                    .arg("--state-file")
                    .arg(self.path("state.json"))
                    .args(&self.extra_args);
            }
            Daemon::Keepalived => {
                cmd.args([
                    "keepalived",
                    "--dont-fork",
                    "--log-console",
                    "--log-detail",
                    "--vrrp",
                    "--use-file",
                ])
                .arg(&conf)
                .arg("--pid")
                .arg(self.path("daemon.pid"))
                .arg("--vrrp_pid")
                .arg(self.path("vrrp.pid"))
                .arg("--checkers_pid")
                .arg(self.path("checkers.pid"));
            }
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        if let Some(mask) = self.umask {
            use std::os::unix::process::CommandExt;
            // SAFETY: umask(2) is async-signal-safe and touches no memory.
            unsafe {
                cmd.pre_exec(move || {
                    libc::umask(mask as libc::mode_t);
                    Ok(())
                });
            }
        }
        self.child = Some(cmd.spawn().expect("start daemon"));
    }

    /// The daemon's pid (`ip netns exec` execs it, so the child's pid is the daemon's).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    /// Whether `vip` is configured on the node's eth0.
    pub fn has_vip(&self, vip: &str) -> bool {
        let out = self.ns.run(&["ip", "-br", "addr", "show", "dev", "eth0"]);
        out.stdout
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(vip))
    }

    /// Runs a TCP server on port 6443 answering with the node's name.
    pub fn serve(&mut self) {
        let addr: SocketAddr = "[::]:6443".parse().expect("addr");
        self.server = Some(TcpServer::reply(&self.ns, addr, self.name.clone()));
    }

    /// The node dies: every process in its namespace gets SIGKILL at once. They are
    /// stopped first: `kill` delivers one pid after another, and keepalived's VRRP
    /// child, seeing its parent die first, would otherwise resign gracefully.
    pub fn kill_node(&mut self) {
        must(&format!(
            "p=$(ip netns pids {}); [ -z \"$p\" ] || {{ kill -STOP $p; kill -KILL $p; }}",
            self.ns.name()
        ));
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// Graceful stop: SIGTERM to the daemon, without waiting for it to exit.
    pub fn terminate(&self) {
        if let Some(c) = &self.child {
            let pid = std::fs::read_to_string(self.path("daemon.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
                .unwrap_or(c.id());
            must(&format!("kill -TERM {pid}"));
        }
    }

    /// Waits (at most 10 s) for the daemon to exit after [`Node::terminate`].
    pub fn wait_stopped(&mut self) {
        if let Some(mut c) = self.child.take() {
            let exited = wait_for(Duration::from_secs(10), || {
                matches!(c.try_wait(), Ok(Some(_)))
            });
            assert!(
                exited.is_some(),
                "{} did not stop on SIGTERM:\n{}",
                self.name,
                self.log()
            );
        }
    }

    /// Waits (at most 10 s) for the daemon to exit by itself; its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let mut c = self.child.take()?;
        let mut code = None;
        wait_for(Duration::from_secs(10), || match c.try_wait() {
            Ok(Some(s)) => {
                code = s.code();
                true
            }
            _ => false,
        })?;
        code
    }

    /// Graceful stop: SIGTERM, then wait for the exit.
    pub fn stop(&mut self) {
        self.terminate();
        self.wait_stopped();
    }

    /// Sends `sig` (e.g. "HUP") to the daemon.
    pub fn signal(&self, sig: &str) {
        let pid = std::fs::read_to_string(self.path("daemon.pid")).expect("pid file");
        must(&format!("kill -{sig} {}", pid.trim()));
    }

    /// keepalived-lite's JSON state file.
    pub fn state(&self) -> String {
        std::fs::read_to_string(self.path("state.json")).unwrap_or_default()
    }

    /// A number from the state file (the first `"key": N`).
    pub fn counter(&self, key: &str) -> u64 {
        json_number(&self.state(), key)
            .unwrap_or_else(|| panic!("{key} not in state of {}:\n{}", self.name, self.state()))
    }

    /// A string from the state file (the first `"key": "V"`).
    pub fn state_str(&self, key: &str) -> Option<String> {
        let s = self.state();
        let pat = format!("\"{key}\": \"");
        let i = s.find(&pat)? + pat.len();
        Some(s[i..].split('"').next()?.to_string())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // The namespace's own Drop SIGKILLs whatever else runs inside.
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.server.take();
    }
}

fn json_number(s: &str, key: &str) -> Option<u64> {
    let pat = format!("\"{key}\": ");
    let i = s.find(&pat)? + pat.len();
    s[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Connects from `client` to `addr` and returns what the server said (its node name).
pub fn who_answers(client: &Netns, addr: SocketAddr) -> Option<String> {
    client
        .spawn(move || {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            let _ = s.write_all(b"hello");
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            Some(out)
        })
        .join()
        .ok()
        .flatten()
}

/// The names of the (running) nodes holding `vip`.
pub fn holders<'a>(nodes: &[&'a Node], vip: &str) -> Vec<&'a str> {
    nodes
        .iter()
        .filter(|n| n.has_vip(vip))
        .map(|n| n.name.as_str())
        .collect()
}

/// A VRRP instance block for tests.
#[derive(Debug, Clone)]
pub struct Inst {
    /// Extra lines inside the instance block.
    pub extra: Vec<String>,
    /// Priority.
    pub priority: u8,
    /// VRID.
    pub vrid: u8,
    /// VIPs.
    pub vips: Vec<String>,
    /// `version` line (None = keepalived's default 2).
    pub version: Option<u8>,
    /// PASS password (v2 only).
    pub pass: Option<String>,
    /// Unicast source and peers.
    pub unicast: Option<(String, Vec<String>)>,
    /// `state`.
    pub state: &'static str,
}

impl Inst {
    /// A VRRPv2 multicast instance with VRID 51 and VIP 192.0.2.100/24.
    pub fn v2(priority: u8) -> Inst {
        Inst {
            extra: vec![],
            priority,
            vrid: 51,
            vips: vec!["192.0.2.100/24".into()],
            version: None,
            pass: Some("secret12".into()),
            unicast: None,
            state: "BACKUP",
        }
    }

    /// A VRRPv3 instance (no authentication), otherwise as [`Inst::v2`].
    pub fn v3(priority: u8) -> Inst {
        Inst {
            version: Some(3),
            pass: None,
            ..Inst::v2(priority)
        }
    }

    /// The same instance at another priority.
    pub fn at(&self, priority: u8) -> Inst {
        Inst {
            priority,
            ..self.clone()
        }
    }

    /// The same instance tracking the `vrrp_script` `script`.
    pub fn tracking(mut self, script: &str) -> Inst {
        self.extra
            .extend(["track_script {".into(), format!("    {script}"), "}".into()]);
        self
    }

    /// Renders a complete keepalived.conf with one instance `VI_T` on eth0.
    pub fn conf(&self) -> String {
        let mut s = String::from("vrrp_instance VI_T {\n");
        s += &format!(
            "    state {}\n    interface eth0\n    virtual_router_id {}\n",
            self.state, self.vrid
        );
        s += &format!("    priority {}\n    advert_int 1\n", self.priority);
        if let Some(v) = self.version {
            s += &format!("    version {v}\n");
        }
        if let Some(p) = &self.pass {
            s += &format!(
                "    authentication {{\n        auth_type PASS\n        auth_pass {p}\n    }}\n"
            );
        }
        if let Some((src, peers)) = &self.unicast {
            s += &format!("    unicast_src_ip {src}\n    unicast_peer {{\n");
            for p in peers {
                s += &format!("        {p}\n");
            }
            s += "    }\n";
        }
        s += "    virtual_ipaddress {\n";
        for v in &self.vips {
            s += &format!("        {v} dev eth0\n");
        }
        s += "    }\n";
        for e in &self.extra {
            s += &format!("    {e}\n");
        }
        s += "}\n";
        s
    }
}

/// Writes an executable (mode 0755) script.
pub fn write_exec(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).expect("write");
    must(&format!("chmod 755 {}", path.display()));
}

/// Master_Down_Interval for advert_int 1 s: 3 s + (256 - priority)/256 s.
pub fn master_down(priority: u8) -> Duration {
    Duration::from_millis(3000)
        + Duration::from_micros((256 - u64::from(priority)) * 1_000_000 / 256)
}

/// Skew_Time for advert_int 1 s.
pub fn skew(priority: u8) -> Duration {
    Duration::from_micros((256 - u64::from(priority)) * 1_000_000 / 256)
}

/// A process as /proc shows it.
#[derive(Debug, Clone)]
pub struct Proc {
    /// Its pid.
    pub pid: u32,
    /// Its parent's pid.
    pub ppid: u32,
    /// Its state letter (`Z` for a zombie).
    pub state: char,
    /// Its command line, arguments separated by spaces.
    pub cmdline: String,
}

/// Every process on the machine (zombies included, which `ip netns pids` cannot see).
pub fn processes() -> Vec<Proc> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.filter_map(|e| e.ok()) {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) S ppid ...": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let mut f = rest.split_whitespace();
        let state = f.next().and_then(|s| s.chars().next()).unwrap_or('?');
        let ppid = f.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .split('\0')
                    .filter(|a| !a.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        out.push(Proc {
            pid,
            ppid,
            state,
            cmdline,
        });
    }
    out
}

/// Runs `argv` with a time limit: `None` when it did not finish (it is killed), else
/// its exit code and stderr.
pub fn run_limited(argv: &[&str], limit: Duration) -> Option<(i32, String)> {
    let mut child = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let done = wait_for(limit, || matches!(child.try_wait(), Ok(Some(_))));
    if done.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let out = child.wait_with_output().expect("output");
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}
