//! The destination-address schedulers under real traffic: dh, lblc and lblcr, on
//! fwmark services that take whole address ranges (as a cache cluster in front of
//! many origin addresses would). The marks are set by iptables in the director's
//! namespace; the range is local to the director (`ip route add local`), so IPVS sees
//! every address in it.

use super::{client_addresses, counts, ipvs, named_servers, names_of, tally, RS_PORT};
use ipvs_lab::{lab_test, must, HeldConnection, Stream, Topology};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The mangle table: marks 1..=5 for five /28s of 192.0.2.0/24, one per scenario, so
/// no scenario meets another's service, destinations or connection entries. (The
/// lab kernel's nf_tables has only the bridge family, so iptables' legacy backend.)
const RULES: &str = "*mangle
-A PREROUTING -d 192.0.2.0/28 -j MARK --set-mark 1
-A PREROUTING -d 192.0.2.16/28 -j MARK --set-mark 2
-A PREROUTING -d 192.0.2.32/28 -j MARK --set-mark 3
-A PREROUTING -d 192.0.2.48/28 -j MARK --set-mark 4
-A PREROUTING -d 192.0.2.64/28 -j MARK --set-mark 5
COMMIT
";

/// Client, director and three real servers; the director owns 192.0.2.0/24 and marks it.
fn topology() -> (Topology, Vec<ipvs_lab::TcpServer>, Vec<IpAddr>) {
    let topo = Topology::nat(3);
    let servers = named_servers(&topo);
    let clients = client_addresses(&topo, 2);
    must("ip route add local 192.0.2.0/24 dev lo");
    let file = tempfile::NamedTempFile::new_in("/run").expect("temp file");
    std::fs::write(file.path(), RULES).expect("write rules");
    must(&format!(
        "iptables-legacy-restore < {}",
        file.path().display()
    ));
    (topo, servers, clients)
}

/// A NAT fwmark service for `mark` with scheduler `sched` over rs0..rs2 (weight 1).
fn fwmark_service(topo: &Topology, mark: u8, sched: &str) {
    ipvs(&format!("-A -f {mark} -s {sched}"));
    for rs in &topo.servers {
        ipvs(&format!("-a -f {mark} -r {}:{RS_PORT} -m", rs.addr));
    }
}

/// The 14 usable addresses (port 80) of mark `mark`'s /28.
fn targets(mark: u8) -> Vec<SocketAddr> {
    let base = (mark - 1) * 16;
    (1..15)
        .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, base + i)), 80))
        .collect()
}

/// One short connection to each target from client address `from`.
fn round(topo: &Topology, from: IpAddr, targets: &[SocketAddr]) -> Vec<String> {
    let conns = targets
        .iter()
        .map(|t| (Some(SocketAddr::new(from, 0)), *t))
        .collect();
    names_of(topo.client.ask_names(conns, Stream::Tcp))
}

/// Each destination address sticks to one server, whichever client asks: a second
/// round from another client address gets exactly the same answers. dh hashes the
/// address (all 14 on one server has probability 3 * 3^-14 < 1e-6 for a random hash,
/// so more than one server must be seen); lblc and lblcr give each new address to the
/// least-connected server, and each short connection leaves one inactive entry
/// behind, so 14 addresses go round the three servers: exactly 5/5/4.
fn sticky_by_destination(topo: &Topology, clients: &[IpAddr], sched: &str, mark: u8) {
    fwmark_service(topo, mark, sched);
    let targets = targets(mark);
    let first = round(topo, clients[0], &targets);
    let second = round(topo, clients[1], &targets);
    assert_eq!(first, second, "{sched}: an address changed server");
    let seen = tally(&first);
    if sched == "dh" {
        assert!(
            seen.len() > 1,
            "dh put every address on one server: {seen:?}"
        );
    } else {
        let mut shares: Vec<usize> = seen.values().copied().collect();
        shares.sort();
        assert_eq!(shares, [4, 5, 5], "{sched}: {seen:?}");
    }
}

/// One hot address under held connections (weights 1). lblc and lblcr both move on
/// when the address's server has more active connections than its weight while
/// another server is idle: six held connections are 2/2/2. Then the difference: lblc
/// keeps one server per address (the last it chose), so once the connections are
/// closed all new ones go there; lblcr keeps the whole set and picks its least loaded,
/// so they spread over all three (2/2/2: each adds one inactive entry).
fn hot_destination(topo: &Topology, sched: &str, mark: u8) {
    fwmark_service(topo, mark, sched);
    let hot = targets(mark)[0];
    let held: Vec<HeldConnection> = (0..6)
        .map(|i| {
            topo.client
                .hold(None, hot)
                .unwrap_or_else(|e| panic!("held connection {i}: {e}"))
        })
        .collect();
    let servers = super::servers_of(&held);
    assert_eq!(
        tally(&servers),
        counts(&[("rs0", 2), ("rs1", 2), ("rs2", 2)]),
        "{sched}: {servers:?}"
    );
    let last = servers[5].clone();
    for h in held {
        h.close().expect("close");
    }
    let after = names_of(topo.client.ask_names(vec![(None, hot); 6], Stream::Tcp));
    if sched == "lblc" {
        assert_eq!(
            tally(&after),
            counts(&[(&last, 6)]),
            "lblc after the burst: {after:?}"
        );
    } else {
        assert_eq!(
            tally(&after),
            counts(&[("rs0", 2), ("rs1", 2), ("rs2", 2)]),
            "lblcr after the burst: {after:?}"
        );
    }
}

lab_test! {
    /// dh, lblc and lblcr by destination address, on fwmark services marked by iptables.
    fn behaviour_destination_schedulers() {
        let (topo, _servers, clients) = topology();
        // One namespace for all: the cases use disjoint marks and addresses.
        let (t, c) = (&topo, &clients[..]);
        let cases: Vec<super::Case> = vec![
            ("dh", Box::new(|| sticky_by_destination(t, c, "dh", 1))),
            ("lblc", Box::new(|| sticky_by_destination(t, c, "lblc", 2))),
            ("lblcr", Box::new(|| sticky_by_destination(t, c, "lblcr", 3))),
            ("lblc hot address", Box::new(|| hot_destination(t, "lblc", 4))),
            ("lblcr hot address", Box::new(|| hot_destination(t, "lblcr", 5))),
        ];
        super::run_here(cases);
    }
}
