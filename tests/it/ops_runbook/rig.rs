//! The runbook's setup in the lab (its steps: rig/steps.rs). The test's own namespace
//! is the segment (bridge `br0`); on it two directors (each its own namespace with
//! its own `/run` and `/etc/keepalived`, `$NODE_IP` set, the workspace's binaries on
//! `PATH`), two real servers (HTTPS on 6443 answering `/healthz` with `ok`, the VIP
//! on `lo` for direct routing) and a client. keepalived-lite on the directors holds
//! the VIP and programs its virtual service, as the runbook's addresses say.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipvs_lab::{must, run, veth, workspace_bin, Netns, Output};

use super::{Line, Step};
use crate::ops::Killed;

mod steps;

const VIP: &str = "192.0.2.100";
const SERVICE: &str = "192.0.2.100:6443";
const REAL_SERVERS: [&str; 2] = ["192.0.2.21", "192.0.2.22"];
const CLIENT: &str = "192.0.2.50";
/// The parameters step 1 sets, with the guide's values (and strictARP's).
const GUIDE: [(&str, u64); 7] = [
    ("net.ipv4.ip_forward", 1),
    ("net.ipv4.vs.conntrack", 1),
    ("net.ipv4.vs.expire_nodest_conn", 1),
    ("net.ipv4.vs.expire_quiescent_template", 1),
    ("net.netfilter.nf_conntrack_max", 1_000_000),
    ("net.ipv4.conf.all.arp_ignore", 1),
    ("net.ipv4.conf.all.arp_announce", 2),
];

/// A node's shell: its own `/run` and `/etc/keepalived` (bind mounts in the mount
/// namespace `ip netns exec` makes), the workspace's binaries first on `PATH`, and
/// `NODE_IP`. Arguments: node directory, binary directory, address, command.
const NODE_SHELL: &str = r#"mount --bind "$1/run" /run && mount --bind "$1/keepalived" /etc/keepalived && PATH="$2:$PATH" && NODE_IP="$3" && export PATH NODE_IP && exec sh -c "$4""#;

/// A director.
struct Node {
    name: &'static str,
    addr: &'static str,
    priority: u8,
    ns: Netns,
    dir: PathBuf,
    daemon: Option<Killed>,
    exporter: Option<Killed>,
}

impl Node {
    fn argv<'a>(&'a self, bin: &'a str, cmd: &'a str) -> Vec<&'a str> {
        let dir = self.dir.to_str().expect("utf-8 path");
        vec![
            "ip",
            "netns",
            "exec",
            self.ns.name(),
            "sh",
            "-c",
            NODE_SHELL,
            "node",
            dir,
            bin,
            self.addr,
            cmd,
        ]
    }

    fn sh(&self, bin: &str, cmd: &str) -> Output {
        run(&self.argv(bin, cmd))
    }

    /// Starts a long-running command of the runbook, its output in `NAME.log`.
    fn spawn(&self, bin: &str, cmd: &str, name: &str) -> Killed {
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).expect("log");
        let argv = self.argv(bin, cmd);
        let child = Command::new(argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn");
        Killed(child)
    }

    fn running(slot: &mut Option<Killed>) -> bool {
        if let Some(k) = slot {
            if matches!(k.0.try_wait(), Ok(None)) {
                return true;
            }
        }
        *slot = None;
        false
    }
}

/// The setup, and what the runbook's steps so far should have made of it.
pub struct Rig {
    nodes: Vec<Node>,
    client: Netns,
    _servers: Vec<(Netns, Killed)>,
    bin: String,
    /// Dropped last, after the daemons that write into it.
    _dir: tempfile::TempDir,
    /// Lines run, for the report at the end.
    ran: Vec<String>,
}

/// The runbook's conf with this node's priority (the conf's own is the first node's).
fn conf_for(conf: &str, priority: u8) -> String {
    let first = "    priority 150\n";
    assert_eq!(
        conf.matches(first).count(),
        1,
        "the runbook's conf sets `priority 150` once:\n{conf}"
    );
    conf.replacen(first, &format!("    priority {priority}\n"), 1)
}

/// Polls `check` until it passes or `timeout` ends; the last error otherwise.
fn eventually(
    timeout: Duration,
    mut check: impl FnMut() -> Result<(), String>,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        match check() {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

impl Rig {
    /// Builds the segment, the real servers, the client and the two directors (with
    /// their configuration, nothing running yet: the runbook starts the daemons).
    /// `conf` is the first node's keepalived.conf; the second's differs in its
    /// priority, as the runbook says.
    pub fn start(conf: &str) -> Rig {
        assert_ne!(
            std::env::var("IPVS_LAB").as_deref(),
            Ok("host"),
            "the runbook test sets the kernel-wide nf_conntrack_max: it runs in the UML lab only"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = workspace_bin("ipvsadm-rs")
            .parent()
            .expect("bin dir")
            .display()
            .to_string();
        must("ip link add br0 type bridge && ip link set br0 up");
        let attach = |ns: &Netns, port: &str, addr: &str| {
            veth(port, ns, "eth0");
            must(&format!("ip link set {port} master br0"));
            ns.must(&format!("ip addr add {addr}/24 dev eth0"));
        };
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        must(&format!(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN={VIP} -keyout {} -out {} 2>/dev/null",
            key.display(),
            cert.display()
        ));
        let servers: Vec<(Netns, Killed)> = REAL_SERVERS
            .iter()
            .enumerate()
            .map(|(i, rs)| {
                let ns = Netns::new("rs");
                attach(&ns, &format!("rs{i}"), rs);
                // Direct routing: the VIP on lo, never answered for in ARP.
                ns.must(&format!(
                    "ip addr add {VIP}/32 dev lo && sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2"
                ));
                // A kube-apiserver's /healthz: openssl's web server serves files of its
                // working directory.
                let www = dir.path().join(format!("www{i}"));
                std::fs::create_dir(&www).expect("www");
                std::fs::write(www.join("healthz"), "ok").expect("healthz");
                let child = Command::new("ip")
                    .args(["netns", "exec", ns.name(), "openssl", "s_server", "-quiet", "-WWW", "-accept", "6443"])
                    .arg("-cert")
                    .arg(&cert)
                    .arg("-key")
                    .arg(&key)
                    .current_dir(&www)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("openssl s_server");
                (ns, Killed(child))
            })
            .collect();
        let client = Netns::new("client");
        attach(&client, "client", CLIENT);
        let nodes: Vec<Node> = [("node-a", "192.0.2.11", 150), ("node-b", "192.0.2.12", 100)]
            .into_iter()
            .map(|(name, addr, priority)| {
                let ns = Netns::new(name);
                attach(&ns, name, addr);
                let d = dir.path().join(name);
                std::fs::create_dir_all(d.join("run")).expect("run");
                std::fs::create_dir_all(d.join("keepalived")).expect("keepalived");
                std::fs::write(
                    d.join("keepalived/keepalived.conf"),
                    conf_for(conf, priority),
                )
                .expect("conf");
                Node {
                    name,
                    addr,
                    priority,
                    ns,
                    dir: d,
                    daemon: None,
                    exporter: None,
                }
            })
            .collect();
        let rig = Rig {
            nodes,
            client,
            _servers: servers,
            bin,
            _dir: dir,
            ran: Vec::new(),
        };
        for rs in REAL_SERVERS {
            let node = &rig.nodes[0];
            eventually(Duration::from_secs(10), || {
                let out = node.sh(&rig.bin, &format!("curl -sk https://{rs}:6443/healthz"));
                (out.stdout == "ok")
                    .then_some(())
                    .ok_or(format!("real server {rs}: {out}"))
            })
            .unwrap_or_else(|e| panic!("{e}"));
        }
        rig
    }

    /// The node that should hold the VIP: the highest priority with a running daemon.
    fn holder(&mut self) -> Option<usize> {
        let mut best: Option<usize> = None;
        for i in 0..self.nodes.len() {
            if Node::running(&mut self.nodes[i].daemon)
                && best.is_none_or(|b| self.nodes[i].priority > self.nodes[b].priority)
            {
                best = Some(i);
            }
        }
        best
    }

    /// Runs one runbook line where its step says and checks its effect; panics naming
    /// the line otherwise.
    pub fn run(&mut self, line: &Line) {
        if line.step == Step::Kubectl {
            // Run by ops_runbook::kubectl against the fake API server (no cluster here).
            return;
        }
        eprintln!("runbook line {}: {}", line.number, line.text);
        if let Err(e) = self.step(line) {
            let logs: String = self
                .nodes
                .iter()
                .flat_map(|n| ["daemon", "exporter"].map(|w| (n, w)))
                .map(|(n, w)| {
                    let log =
                        std::fs::read_to_string(n.dir.join(format!("{w}.log"))).unwrap_or_default();
                    format!("--- {} {w} log ---\n{log}", n.name)
                })
                .collect();
            panic!(
                "docs/operations.md:{}: `{}`: {e}\n{logs}",
                line.number, line.text
            );
        }
        self.ran.push(line.text.clone());
    }

    /// The end: every daemon the runbook started is stopped.
    pub fn finish(self) {
        assert!(!self.ran.is_empty(), "no runbook line ran");
        eprintln!("{} runbook lines ran in the lab", self.ran.len());
    }

    fn on_each(&self, cmd: &str, only: impl Fn(&Node) -> bool) -> Vec<(usize, Output)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| only(n))
            .map(|(i, n)| (i, n.sh(&self.bin, cmd)))
            .collect()
    }
}
