//! Connection reuse against a drained destination, and the counters, rates and
//! connection list under real traffic, read through ipvsadm-rs --json and compared
//! with the real ipvsadm.

use super::{connections, ipvs, listing, named_servers, names_of, run_here, Scene, CLIENT};
use ipvs_lab::{lab_test, must, Stream, TcpServer, Topology};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The port of the servers that close first (so the client can reuse its port at once).
const CLOSE_FIRST_PORT: u16 = 8081;

/// A client reuses its source port at once against a server just set to weight 0
/// (kubernetes#81775, #70747). The first connection from port `port` ends in
/// TIME_WAIT on the director (the server closed first), then the server goes to
/// weight 0 and the client connects again from the same port:
/// - conn_reuse_mode=0: the old entry is reused, so the SYN goes to the drained
///   server, which answers (weight 0 drains only new entries);
/// - conn_reuse_mode=1 with vs.conntrack=0: the entry is expired and the SYN
///   scheduled anew, to the other server, at once;
/// - conn_reuse_mode=1 with vs.conntrack=1 (what the guide sets) and conntrack
///   running: also scheduled anew at once. Kernels before 5.9 dropped this SYN to
///   make conntrack forget the old flow, and the client's retransmission came 1 s
///   later (the kubernetes issues); 6.1 drops it only when the packet still belongs to
///   a confirmed conntrack entry, and conntrack itself replaces a TIME_WAIT entry
///   when a new SYN arrives, so nothing is dropped: the client retransmits nothing.
fn reuse(sc: &Scene, mode: u8, conntrack: u8, port: u16) {
    if conntrack == 1 {
        // vs.conntrack only matters where conntrack runs: a kube-proxy host has
        // iptables rules that need it. A rule matching on conntrack state turns it on
        // in this namespace (and accepts what the policy accepts anyway).
        must("iptables-legacy -A INPUT -m conntrack --ctstate NEW,ESTABLISHED -j ACCEPT");
    }
    must(&format!(
        "sysctl -qw net.ipv4.vs.conn_reuse_mode={mode} net.ipv4.vs.conntrack={conntrack}"
    ));
    ipvs(&format!("-A -t {} -s rr", sc.vip()));
    for rs in &sc.topo.servers {
        ipvs(&format!(
            "-a -t {} -r {}:{CLOSE_FIRST_PORT} -m",
            sc.vip(),
            rs.addr
        ));
    }
    let from = Some(SocketAddr::new(CLIENT, port));
    let first = names_of(
        sc.topo
            .client
            .ask_names(vec![(from, sc.vip())], Stream::Tcp),
    )
    .remove(0);
    let state = connections()
        .into_iter()
        .find(|c| c["client"]["port"] == port)
        .map(|c| c["state"].as_str().unwrap_or_default().to_string());
    assert_eq!(
        state.as_deref(),
        Some("TIME_WAIT"),
        "the first connection's entry"
    );
    if conntrack == 1 {
        // Conntrack did see the flow, so the result below is not for want of it.
        let table =
            std::fs::read_to_string("/proc/thread-self/net/nf_conntrack").unwrap_or_default();
        assert!(
            table
                .lines()
                .any(|l| l.contains("TIME_WAIT") && l.contains(&format!("sport={port} "))),
            "conntrack has no TIME_WAIT entry for port {port}:\n{table}"
        );
    }
    let drained = super::server_index(&first);
    ipvs(&format!(
        "-e -t {} -r {}:{CLOSE_FIRST_PORT} -m -w 0",
        sc.vip(),
        sc.topo.servers[drained].addr
    ));
    let retrans_before = client_retransmissions(sc);
    let started = Instant::now();
    let second = names_of(
        sc.topo
            .client
            .ask_names(vec![(from, sc.vip())], Stream::Tcp),
    )
    .remove(0);
    let took = started.elapsed();
    let retransmitted = client_retransmissions(sc) - retrans_before;
    must("sysctl -qw net.ipv4.vs.conn_reuse_mode=1 net.ipv4.vs.conntrack=0");
    eprintln!("reuse mode={mode} conntrack={conntrack}: {first} then {second} in {took:?}");
    if mode == 0 {
        assert_eq!(
            second, first,
            "mode 0 should reuse the entry to the drained server"
        );
    } else {
        assert_ne!(second, first, "mode 1 should schedule anew");
    }
    // A dropped SYN would show as a retransmission (after 1 s) in the client's TCP
    // counters; the 6.1 kernel drops none in any mode (see the doc comment).
    assert_eq!(retransmitted, 0, "the client retransmitted (took {took:?})");
}

/// The client namespace's TCP RetransSegs counter.
fn client_retransmissions(sc: &Scene) -> i64 {
    let snmp = sc
        .topo
        .client
        .spawn(|| std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap_or_default())
        .join()
        .unwrap_or_default();
    // Two "Tcp:" lines: the names, then the values.
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (
        tcp.next().unwrap_or_default(),
        tcp.next().unwrap_or_default(),
    );
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RetransSegs")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or_else(|| panic!("no Tcp RetransSegs in:\n{snmp}"))
}

/// Five held connections through a NAT service, each echoing a 1000-byte message:
/// counters equal the traffic (connections exactly; bytes are the payload plus 40 to
/// 80 bytes of IPv4 and TCP headers per packet), match the real ipvsadm, rates rise
/// while the traffic runs and fall after, and the connection list shows the live
/// connections as ESTABLISHED with about the TCP timeout (900 s) to run.
fn counters_rates_connections(sc: &Scene) {
    sc.nat_service("-s rr", &[1, 1]);
    let mut held = sc.hold(5);
    let msg = "m".repeat(999); // + newline: 1000 bytes each way
    for h in &mut held {
        h.echo(&msg).expect("echo");
    }
    // The connection list: the five live connections, established.
    let conns = connections();
    for h in &held {
        let port = h.local_addr().expect("local address").port();
        let c = conns
            .iter()
            .find(|c| c["client"]["port"] == port)
            .unwrap_or_else(|| panic!("connection from port {port} not listed: {conns:?}"));
        assert_eq!(c["state"], "ESTABLISHED", "{c}");
        let expires = c["expires"].as_u64().unwrap_or(0);
        assert!((850..=900).contains(&expires), "{c}");
        let rs = &sc.topo.servers[super::server_index(h.server())];
        assert_eq!(
            c["destination"]["address"],
            rs.addr.to_string().as_str(),
            "{c}"
        );
    }
    let lines = must("/usr/sbin/ipvsadm -Lcn").stdout.lines().count() - 2;
    assert_eq!(
        conns.len(),
        lines,
        "ipvsadm-rs and ipvsadm list different numbers of connections"
    );

    // Rates: keep traffic flowing for a while (rates are 2 s estimates).
    let stop = Instant::now() + Duration::from_secs(7);
    let (mut peak, mut made) = (0u64, 0u64);
    while Instant::now() < stop {
        made += sc.ask(5).len() as u64;
        peak = peak.max(service(sc)["rate"]["cps"].as_u64().unwrap_or(0));
    }
    assert!(peak > 0, "no connection rate while connections were made");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let cps = service(sc)["rate"]["cps"].as_u64().unwrap_or(u64::MAX);
        if cps * 2 < peak {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rate stayed at {cps} (peak {peak})"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    for h in held {
        h.close().expect("close");
    }

    // Counters: settled (two equal readings of the real ipvsadm, 2.5 s apart).
    let real = settle();
    let svc = service(sc);
    let stats = &svc["stats"];
    let n = |k: &str| stats[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(n("conns"), 5 + made, "{svc}");
    // Only the held connections carried a payload from the client (the short ones
    // send nothing but their handshake and FIN).
    let payload = 5 * 1000;
    assert!(
        n("inbytes") >= payload + 40 * n("inpkts") && n("inbytes") <= payload + 80 * n("inpkts"),
        "{stats}"
    );
    let line = real
        .lines()
        .find(|l| l.contains(&format!("{}:{}", sc.topo.vip, sc.port)))
        .unwrap_or_else(|| panic!("service not in ipvsadm:\n{real}"));
    let theirs: Vec<u64> = line
        .split_whitespace()
        .skip(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    let ours: Vec<u64> = ["conns", "inpkts", "outpkts", "inbytes", "outbytes"]
        .map(n)
        .to_vec();
    assert_eq!(ours, theirs, "ipvsadm-rs {stats} vs ipvsadm `{line}`");
    let per_dest: Vec<u64> = svc["destinations"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|d| d["stats"]["conns"].as_u64().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(per_dest.iter().sum::<u64>(), n("conns"), "{svc}");
}

/// This scene's service from ipvsadm-rs --json.
fn service(sc: &Scene) -> serde_json::Value {
    let json = listing();
    json["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["port"] == sc.port).cloned())
        .unwrap_or_else(|| panic!("service :{} not listed: {json}", sc.port))
}

/// The real ipvsadm's exact stats, once two readings 2.5 s apart agree (the kernel
/// folds its per-CPU counters every 2 s).
fn settle() -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut prev = String::new();
    loop {
        let now = must("/usr/sbin/ipvsadm -Ln --stats --exact").stdout;
        if now == prev {
            return now;
        }
        assert!(Instant::now() < deadline, "stats never settled:\n{now}");
        prev = now;
        std::thread::sleep(Duration::from_millis(2500));
    }
}

lab_test! {
    /// conn_reuse_mode against a drained server, and counters, rates and the
    /// connection list under traffic, over one NAT topology.
    fn behaviour_reuse_and_stats() {
        let topo = Topology::nat(2);
        let _servers = named_servers(&topo);
        let _close_first: Vec<TcpServer> = topo
            .servers
            .iter()
            .enumerate()
            .map(|(i, rs)| TcpServer::reply(&rs.ns, SocketAddr::new(rs.addr, CLOSE_FIRST_PORT), format!("rs{i}")))
            .collect();
        let t = &topo;
        let scene = |port| Scene { topo: t, port };
        run_here(vec![
            ("reuse mode 0", Box::new(move || reuse(&scene(3001), 0, 0, 40001))),
            ("reuse mode 1", Box::new(move || reuse(&scene(3002), 1, 0, 40002))),
            ("reuse mode 1 conntrack", Box::new(move || reuse(&scene(3003), 1, 1, 40003))),
            ("stats", Box::new(move || counters_rates_connections(&scene(3004)))),
        ]);
    }
}
