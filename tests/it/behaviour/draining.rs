//! Weights and draining, deleting a destination under a live connection
//! (`expire_nodest_conn` 0 and 1), and thresholds (-x / -y), with real connections.
//! Every expectation is exact: these paths have no randomness.

use super::{counts, ipvs, listing, named_servers, scenes, servers_of, tally, Scene, SceneFn};
use ipvs_lab::{lab_test, must, Topology};
use std::io::ErrorKind;
use std::time::{Duration, Instant};

/// Weight 0 stops new connections while open ones keep working; a raised weight
/// takes effect for the next connections (wrr 3:1: whole cycles of 4, exact).
fn weight_zero_then_raised(sc: &Scene) {
    sc.nat_service("-s wrr", &[1, 1]);
    let mut held = sc.hold(2);
    assert_eq!(tally(&servers_of(&held)), counts(&[("rs0", 1), ("rs1", 1)]));
    sc.dest("-e", 0, 0);
    assert_eq!(
        tally(&sc.ask(6)),
        counts(&[("rs1", 6)]),
        "weight 0 still took connections"
    );
    for h in &mut held {
        let server = h.server().to_string();
        h.echo("ping")
            .unwrap_or_else(|e| panic!("open connection to {server} broke: {e}"));
    }
    sc.dest("-e", 0, 3);
    assert_eq!(tally(&sc.ask(8)), counts(&[("rs0", 6), ("rs1", 2)]));
}

/// A destination deleted under a live connection. With expire_nodest_conn=0 the
/// director keeps the entry but drops its packets: the client's data is never
/// answered (its read times out) and nothing tells it. With 1 the entry is expired at
/// the next packet, which falls through to the director's own stack: no socket there,
/// so the client gets a reset. New connections go to the remaining server either way.
fn deleted_destination(expire: u8) -> SceneFn {
    Box::new(move |sc: &Scene| {
        must(&format!(
            "sysctl -qw net.ipv4.vs.expire_nodest_conn={expire}"
        ));
        sc.nat_service("-s rr", &[1, 1]);
        let mut held = sc.hold(1);
        let mut h = held.remove(0);
        let victim: usize = super::server_index(h.server());
        let rs = &sc.topo.servers[victim];
        ipvs(&format!(
            "-d -t {} -r {}:{}",
            sc.vip(),
            rs.addr,
            super::RS_PORT
        ));
        h.set_read_timeout(Duration::from_secs(3)).expect("timeout");
        let outcome = h.echo("after delete");
        must("sysctl -qw net.ipv4.vs.expire_nodest_conn=0");
        let err = outcome.expect_err("the connection to a deleted destination kept working");
        if expire == 0 {
            assert!(
                matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "{err}"
            );
        } else {
            assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        }
        let other = format!("rs{}", 1 - victim);
        assert_eq!(tally(&sc.ask(3)), counts(&[(&other, 3)]));
    })
}

/// Destination `i`'s connection counters (active, inactive) from ipvsadm-rs --json.
fn conns_of(sc: &Scene, i: usize) -> (u64, u64) {
    let addr = sc.topo.servers[i].addr.to_string();
    let json = listing();
    let svc = json["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["port"] == sc.port))
        .unwrap_or_else(|| panic!("service :{} not listed: {json}", sc.port));
    let dest = svc["destinations"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["address"] == addr.as_str()))
        .unwrap_or_else(|| panic!("{addr} not listed: {json}"));
    (
        dest["active_conns"].as_u64().unwrap_or(u64::MAX),
        dest["inactive_conns"].as_u64().unwrap_or(u64::MAX),
    )
}

/// -x 2 -y 1 on rs0 (rr with rs1): rs0 takes 2 connections and is then skipped. The
/// thresholds count inactive entries too: after its two connections are reset, rs0
/// stays out until their entries expire (CLOSE state, 10 s) and its count falls below
/// -y; then it is let back in.
fn thresholds(sc: &Scene) {
    ipvs(&format!("-A -t {} -s rr", sc.vip()));
    let (rs0, rs1) = (&sc.topo.servers[0], &sc.topo.servers[1]);
    ipvs(&format!(
        "-a -t {} -r {}:{} -m -x 2 -y 1",
        sc.vip(),
        rs0.addr,
        super::RS_PORT
    ));
    ipvs(&format!(
        "-a -t {} -r {}:{} -m",
        sc.vip(),
        rs1.addr,
        super::RS_PORT
    ));
    let held = sc.hold(6);
    assert_eq!(
        tally(&servers_of(&held)),
        counts(&[("rs0", 2), ("rs1", 4)]),
        "{held:?}"
    );
    assert_eq!(
        tally(&sc.ask(4)),
        counts(&[("rs1", 4)]),
        "rs0 over its -x took connections"
    );
    let (on_rs0, others): (Vec<_>, Vec<_>) = held.into_iter().partition(|h| h.server() == "rs0");
    for h in on_rs0 {
        h.reset().expect("reset");
    }
    assert_eq!(
        conns_of(sc, 0),
        (0, 2),
        "reset connections should be inactive entries"
    );
    assert_eq!(
        tally(&sc.ask(2)),
        counts(&[("rs1", 2)]),
        "inactive entries did not count"
    );
    let deadline = Instant::now() + Duration::from_secs(25);
    while conns_of(sc, 0) != (0, 0) {
        assert!(
            Instant::now() < deadline,
            "rs0's entries never expired: {:?}",
            conns_of(sc, 0)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let seen = sc.ask(4);
    assert!(
        seen.iter().any(|s| s == "rs0"),
        "rs0 not let back in: {seen:?}"
    );
    drop(others);
}

lab_test! {
    /// Weight 0 and raised weights, a destination deleted under a live connection
    /// with expire_nodest_conn 0 and 1, and thresholds, over one NAT topology.
    fn behaviour_weights_draining_thresholds() {
        let topo = Topology::nat(2);
        let _servers = named_servers(&topo);
        let cases: Vec<(&str, SceneFn)> = vec![
            ("weight 0, then raised", Box::new(weight_zero_then_raised)),
            ("delete, expire_nodest_conn=0", deleted_destination(0)),
            ("delete, expire_nodest_conn=1", deleted_destination(1)),
            ("thresholds", Box::new(thresholds)),
        ];
        scenes(&topo, cases);
    }
}
