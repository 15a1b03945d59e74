//! The end-to-end director pair's rig, in the lab: one segment (a bridge in the test's
//! namespace) with two director namespaces, three real servers and a client.
//!
//! ```text
//!  client 198.51.100.50 ─┐
//!  director A .2 ────────┤ br-pair
//!  director B .3 ────────┤        VIP 198.51.100.100 (VRRP, on the master's eth0)
//!  rs0 .10, rs1 .11, rs2 .12 (VIP on lo, arp_ignore 1 / arp_announce 2: direct routing)
//! ```
//!
//! Direct routing: the directors see only the client's half of each connection, the
//! real servers answer the client themselves, so one VIP is all the pair needs (NAT
//! would also need a floating gateway address on the real servers' side).

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ipvs_lab::{must, Netns, TcpServer};

pub use crate::vrrp::harness::wait_for;

/// The VIP, on the directors' segment.
pub const VIP: &str = "198.51.100.100";

/// The client's address.
pub const CLIENT: &str = "198.51.100.50";

/// Which daemon a director runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// keepalived-lite.
    Lite,
    /// keepalived 2.2.7, both halves (VRRP and checkers).
    Keepalived,
}

impl Kind {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Lite => "keepalived-lite",
            Kind::Keepalived => "keepalived",
        }
    }
}

/// A director: a namespace on the segment, a directory for its files, its daemon.
#[derive(Debug)]
pub struct Director {
    /// What it runs.
    pub kind: Kind,
    /// Its namespace.
    pub ns: Netns,
    /// Its bridge port (the veth end in the test's namespace).
    port: String,
    /// Configuration, pid, state and log files.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Director {
    /// A file in its directory.
    pub fn path(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }

    /// Writes `conf` (replacing the previous one).
    pub fn write_conf(&self, conf: &str) {
        std::fs::write(self.path("keepalived.conf"), conf).expect("write conf");
    }

    /// Writes `conf` and starts the daemon on it.
    pub fn start(&mut self, conf: &str) {
        assert!(self.child.is_none(), "{} already running", self.kind.name());
        self.write_conf(conf);
        let log = std::fs::File::create(self.path("daemon.log")).expect("log");
        let log2 = log.try_clone().expect("log");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.ns.name()]);
        match self.kind {
            Kind::Lite => {
                cmd.arg(ipvs_lab::workspace_bin("keepalived-lite"))
                    .args(["--dont-fork", "--log-console", "--use-file"])
                    .arg(self.path("keepalived.conf"))
                    .arg("--pid")
                    .arg(self.path("daemon.pid"))
                    .arg("--state-file")
                    .arg(self.path("state.json"));
            }
            Kind::Keepalived => {
                cmd.args(["keepalived", "--dont-fork", "--log-console", "--log-detail"])
                    .arg("--use-file")
                    .arg(self.path("keepalived.conf"))
                    .arg("--pid")
                    .arg(self.path("daemon.pid"))
                    .arg("--vrrp_pid")
                    .arg(self.path("vrrp.pid"))
                    .arg("--checkers_pid")
                    .arg(self.path("checkers.pid"));
            }
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        self.child = Some(cmd.spawn().expect("start daemon"));
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("daemon.log")).unwrap_or_default()
    }

    /// Whether the VIP is on its eth0.
    pub fn has_vip(&self) -> bool {
        let out = self
            .ns
            .run(&["ip", "-br", "-4", "addr", "show", "dev", "eth0"]);
        out.stdout
            .split_whitespace()
            .any(|w| w.split('/').next() == Some(VIP))
    }

    /// `ipvsadm -L --daemon` in its namespace.
    pub fn sync_daemons(&self) -> String {
        self.ns
            .must("ipvsadm -L --daemon")
            .stdout
            .trim()
            .to_string()
    }

    /// `ipvsadm -Lnc` in its namespace (the connection table).
    pub fn connections(&self) -> String {
        self.ns.must("ipvsadm -Lnc").stdout
    }

    /// `ipvsadm -Sn` in its namespace.
    pub fn table(&self) -> String {
        self.ns.must("ipvsadm -Sn").stdout
    }

    /// The director dies: every process in its namespace is stopped, then gets SIGKILL
    /// (stopped first so that none sees another die and resigns gracefully), and its
    /// link is cut. A crashed machine takes its kernel with it; a namespace's kernel
    /// state outlives its processes (the VIP, the IPVS table, the kernel's master sync
    /// thread), so without the cut the dead director would go on answering ARP for the
    /// VIP and forwarding.
    pub fn crash(&mut self) {
        must(&format!(
            "p=$(ip netns pids {}); [ -z \"$p\" ] || {{ kill -STOP $p; kill -KILL $p; }}",
            self.ns.name()
        ));
        must(&format!("ip link set {} down", self.port));
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }
}

impl Director {
    /// After [`Director::crash`]: its link back up (the daemon is not restarted).
    pub fn reconnect(&self) {
        must(&format!("ip link set {} up", self.port));
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A real server: its namespace, address and name-telling echo server on port 80.
#[derive(Debug)]
pub struct RealServer {
    /// Its address.
    pub addr: String,
    /// "rs0"...
    pub name: String,
    _server: TcpServer,
    /// Its namespace (after the server: dropped last).
    _ns: Netns,
}

/// The segment with two directors (not started), three real servers and the client.
#[derive(Debug)]
pub struct Pair {
    /// Director A (198.51.100.2).
    pub a: Director,
    /// Director B (198.51.100.3).
    pub b: Director,
    /// rs0..rs2 at 198.51.100.10-12.
    pub rs: Vec<RealServer>,
    /// The client (198.51.100.50).
    pub client: Netns,
}

/// Adds a namespace to the segment as `eth0` with `addr`/24; returns its bridge port.
fn attach(ns: &Netns, addr: &str) -> String {
    let port = format!("bp-{}", ns.name().rsplit('-').next().unwrap_or("x"));
    ipvs_lab::veth(&port, ns, "eth0");
    must(&format!("ip link set {port} master br-pair"));
    ns.must(&format!(
        "ip addr add {addr}/24 dev eth0 && ip link set eth0 up"
    ));
    port
}

impl Pair {
    /// Builds the segment: directors running `a` and `b`, real servers answering with
    /// their name and echoing (on every address, so that TCP_CHECK reaches them on
    /// theirs and clients on the VIP).
    pub fn new(a: Kind, b: Kind) -> Pair {
        must("ip link add br-pair type bridge && ip link set br-pair up");
        let director = |kind: Kind, prefix: &str, addr: &str| {
            let ns = Netns::new(prefix);
            let port = attach(&ns, addr);
            let dir = tempfile::Builder::new()
                .prefix("lvs-pair-")
                .tempdir()
                .expect("dir");
            Director {
                kind,
                ns,
                port,
                dir,
                child: None,
            }
        };
        let a = director(a, "pda", "198.51.100.2");
        let b = director(b, "pdb", "198.51.100.3");
        let rs = (0..3)
            .map(|i| {
                let ns = Netns::new(&format!("prs{i}"));
                let addr = format!("198.51.100.{}", 10 + i);
                attach(&ns, &addr);
                // Direct routing: the VIP is local, but never announced by ARP.
                ns.must(&format!(
                    "ip addr add {VIP}/32 dev lo && sysctl -qw net.ipv4.conf.all.arp_ignore=1 \
                     net.ipv4.conf.all.arp_announce=2 net.ipv4.conf.eth0.arp_ignore=1 \
                     net.ipv4.conf.eth0.arp_announce=2"
                ));
                let name = format!("rs{i}");
                let any = "0.0.0.0:80".parse().expect("addr");
                let server = TcpServer::named(&ns, any, &name);
                RealServer {
                    addr,
                    name,
                    _server: server,
                    _ns: ns,
                }
            })
            .collect();
        let client = Netns::new("pcl");
        attach(&client, CLIENT);
        Pair { a, b, rs, client }
    }

    /// The real server called `name`'s address.
    pub fn addr_of(&self, name: &str) -> &str {
        self.rs
            .iter()
            .find(|r| r.name == name)
            .map_or("?", |r| r.addr.as_str())
    }

    /// Both directors' logs, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "--- A ({}) ---\n{}\n--- B ({}) ---\n{}",
            self.a.kind.name(),
            self.a.log(),
            self.b.kind.name(),
            self.b.log()
        )
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        let _ = ipvs_lab::sh("ip link del br-pair");
    }
}

/// keepalived.conf for a director of the pair: one VRRP instance holding the VIP, one
/// direct-routing virtual server on it (rr over the three real servers, TCP_CHECK),
/// and `lvs_sync_daemon` following the instance when `sync`.
pub fn director_conf(router_id: &str, priority: u8, sync: bool) -> String {
    let sync = if sync {
        "    lvs_sync_daemon eth0 VI_1\n"
    } else {
        ""
    };
    let state = if priority > 100 { "MASTER" } else { "BACKUP" };
    let mut conf = format!(
        "global_defs {{
    router_id {router_id}
{sync}}}
vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        {VIP}/32
    }}
}}
virtual_server {VIP} 80 {{
    delay_loop 2
    lvs_sched rr
    lvs_method DR
    protocol TCP
"
    );
    for i in 0..3 {
        conf += &format!(
            "    real_server 198.51.100.{} 80 {{
        weight 1
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
",
            10 + i
        );
    }
    conf += "}\n";
    conf
}

/// Master_Down_Interval of a VRRPv2 backup of `priority` at advert_int 1 s.
pub fn master_down(priority: u8) -> Duration {
    Duration::from_secs(3) + Duration::from_micros((256 - u64::from(priority)) * 1_000_000 / 256)
}
