//! What the kernel does with real traffic (issue 12): schedulers, weights and
//! draining, persistence, thresholds, forwarding methods, connection reuse, stats.
//!
//! Tables are programmed only through the `ipvsadm-rs` binary; every real server
//! answers with its name (`rs0`, `rs1`, ...), so a client learns which destination the
//! scheduler chose. Each scenario asserts what was observed, with its tolerance
//! justified beside it. What these tests saw is written up in docs/schedulers.md.
//!
//! Scenarios share boots through `run_cases`; each case has its own namespace and so
//! its own empty IPVS table.

mod by_destination;
mod draining;
mod forwarding;
mod hashing;
mod persistence;
mod schedulers;
mod stats;

use ipvs_lab::{must, workspace_bin, HeldConnection, Output, Stream, TcpServer, Topology};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The client namespace's own address.
pub const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2));

/// The port real servers listen on behind a NAT service.
pub const RS_PORT: u16 = 8080;

/// Runs `ipvsadm-rs` with `args` (a shell command line) and panics when it fails.
#[track_caller]
pub fn ipvs(args: &str) -> Output {
    must(&format!("{} {args}", workspace_bin("ipvsadm-rs").display()))
}

/// The services as `ipvsadm-rs -L --json` prints them (with stats and rates).
#[track_caller]
pub fn listing() -> serde_json::Value {
    let out = ipvs("-L -n --json --stats");
    match serde_json::from_str(&out.stdout) {
        Ok(v) => v,
        Err(e) => panic!("ipvsadm-rs --json: {e}\n{out}"),
    }
}

/// The live connections as `ipvsadm-rs -L -c --json` prints them.
#[track_caller]
pub fn connections() -> Vec<serde_json::Value> {
    let out = ipvs("-L -n -c --json");
    match serde_json::from_str::<serde_json::Value>(&out.stdout) {
        Ok(v) => v["connections"].as_array().cloned().unwrap_or_default(),
        Err(e) => panic!("ipvsadm-rs -c --json: {e}\n{out}"),
    }
}

/// How many times each name occurs.
pub fn tally<S: AsRef<str>>(names: &[S]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for n in names {
        *counts.entry(n.as_ref().to_string()).or_insert(0) += 1;
    }
    counts
}

/// `[(name, count)]` as a map, for comparing with [`tally`].
pub fn counts(expected: &[(&str, usize)]) -> BTreeMap<String, usize> {
    expected.iter().map(|(n, c)| (n.to_string(), *c)).collect()
}

/// Names servers `rs0`, `rs1`, ... listening on their own address, port [`RS_PORT`].
pub fn named_servers(topo: &Topology) -> Vec<TcpServer> {
    topo.servers
        .iter()
        .enumerate()
        .map(|(i, rs)| {
            TcpServer::named(&rs.ns, SocketAddr::new(rs.addr, RS_PORT), &format!("rs{i}"))
        })
        .collect()
}

/// One scenario's place in a shared topology: its own virtual port, so scenarios
/// that share a boot and a topology (building one costs seconds in the lab) never
/// share a service, a destination or a connection entry.
#[derive(Debug)]
pub struct Scene<'a> {
    /// The shared topology.
    pub topo: &'a Topology,
    /// This scenario's virtual port.
    pub port: u16,
}

impl Scene<'_> {
    /// The IPv4 virtual service address.
    pub fn vip(&self) -> SocketAddr {
        SocketAddr::new(self.topo.vip, self.port)
    }

    /// A NAT TCP service on [`Scene::vip`] with scheduler arguments `sched` (such as
    /// `-s wrr`) and one destination per weight, `rs<i>` with weight `weights[i]`,
    /// added in that order.
    #[track_caller]
    pub fn nat_service(&self, sched: &str, weights: &[u32]) {
        ipvs(&format!("-A -t {} {sched}", self.vip()));
        for (i, w) in weights.iter().enumerate() {
            self.dest("-a", i, *w);
        }
    }

    /// Adds (`-a`) or edits (`-e`) destination `rs<i>` of the NAT service with `weight`.
    #[track_caller]
    pub fn dest(&self, op: &str, i: usize, weight: u32) {
        let rs = &self.topo.servers[i];
        ipvs(&format!(
            "{op} -t {} -r {}:{RS_PORT} -m -w {weight}",
            self.vip(),
            rs.addr
        ));
    }

    /// `n` short TCP connections from the client's own address: who answered each.
    #[track_caller]
    pub fn ask(&self, n: usize) -> Vec<String> {
        names_of(
            self.topo
                .client
                .ask_names(vec![(None, self.vip()); n], Stream::Tcp),
        )
    }

    /// Opens `n` connections from the client and keeps them open.
    #[track_caller]
    pub fn hold(&self, n: usize) -> Vec<HeldConnection> {
        (0..n)
            .map(|i| {
                self.topo
                    .client
                    .hold(None, self.vip())
                    .unwrap_or_else(|e| panic!("held connection {i}: {e}"))
            })
            .collect()
    }
}

/// A named case run by [`run_here`].
pub type Case<'a> = (&'static str, Box<dyn FnOnce() + 'a>);

/// A scenario run by [`scenes`].
pub type SceneFn = Box<dyn FnOnce(&Scene)>;

/// Runs each scenario in the calling thread's namespace against the shared `topo`,
/// scenario `i` on virtual port `1000 + i`; see [`run_here`].
pub fn scenes(topo: &Topology, cases: Vec<(&'static str, SceneFn)>) {
    let cases = cases
        .into_iter()
        .enumerate()
        .map(|(i, (name, case))| {
            let scene = Scene {
                topo,
                port: 1000 + i as u16,
            };
            let run: Box<dyn FnOnce() + '_> = Box::new(move || case(&scene));
            (name, run)
        })
        .collect();
    run_here(cases);
}

/// Runs each case in the calling thread's namespace (unlike `run_cases`, which gives
/// each a fresh one: these share a topology, which costs seconds to build in the
/// lab). Every case runs even when an earlier one failed; then a panic names each
/// failed case with its message. Each case's time goes to stderr.
pub fn run_here(cases: Vec<Case<'_>>) {
    let mut failed = Vec::new();
    for (name, case) in cases {
        let started = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case));
        eprintln!("case {name}: {:.1?}", started.elapsed());
        if let Err(panic) = outcome {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("case {name}: {msg}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} cases failed:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}

/// Names of the servers behind held connections.
pub fn servers_of(held: &[HeldConnection]) -> Vec<String> {
    held.iter().map(|h| h.server().to_string()).collect()
}

/// The names, or a panic naming the first connection that failed.
#[track_caller]
pub fn names_of(results: Vec<std::io::Result<String>>) -> Vec<String> {
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("connection {i} failed: {e}")))
        .collect()
}

/// `n` client addresses 203.0.113.100, .101, ... added to the client's `eth0`.
#[track_caller]
pub fn client_addresses(topo: &Topology, n: u8) -> Vec<IpAddr> {
    assert!(n <= 150, "the client range is 203.0.113.100-249");
    let addrs: Vec<IpAddr> = (0..n)
        .map(|i| IpAddr::V4(Ipv4Addr::new(203, 0, 113, 100 + i)))
        .collect();
    topo.client.add_addresses("eth0", &addrs);
    addrs
}

/// The index `i` of a name `rs<i>`.
#[track_caller]
pub fn server_index(name: &str) -> usize {
    match name.strip_prefix("rs").and_then(|i| i.parse().ok()) {
        Some(i) => i,
        None => panic!("not a server name: {name:?}"),
    }
}
