//! The connection-count schedulers under real traffic: rr, wrr, lc, wlc, sed, nq, fo
//! and ovf. All of them decide from state the test controls (the order of decisions,
//! the weights, the active connections held open), so every expectation here is exact:
//! there is no randomness in these schedulers, and a tolerance would only hide a change.

use super::{counts, named_servers, scenes, servers_of, tally, Scene, SceneFn};
use ipvs_lab::{lab_test, Topology};

/// rr: one decision per connection, in list order: 30 connections over 3 servers are
/// exactly 10 each, in a cycle of period 3.
fn rr(sc: &Scene) {
    sc.nat_service("-s rr", &[1, 1, 1]);
    let seen = sc.ask(30);
    assert_eq!(
        tally(&seen),
        counts(&[("rs0", 10), ("rs1", 10), ("rs2", 10)]),
        "{seen:?}"
    );
    for i in 3..seen.len() {
        assert_eq!(seen[i], seen[i - 3], "not a cycle of 3: {seen:?}");
    }
}

/// wrr with weights 1:2:3: one cycle is 6 decisions with each server chosen `weight`
/// times, so 60 connections (10 whole cycles) are exactly 10/20/30. Changing the
/// weights restarts the cycle (the scheduler's state is reset on every destination
/// change), so the next 60 follow the new weights exactly too.
fn wrr(sc: &Scene) {
    sc.nat_service("-s wrr", &[1, 2, 3]);
    let seen = sc.ask(60);
    assert_eq!(
        tally(&seen),
        counts(&[("rs0", 10), ("rs1", 20), ("rs2", 30)]),
        "{seen:?}"
    );
    for (i, w) in [3, 2, 1].into_iter().enumerate() {
        sc.dest("-e", i, w);
    }
    let seen = sc.ask(60);
    assert_eq!(
        tally(&seen),
        counts(&[("rs0", 30), ("rs1", 20), ("rs2", 10)]),
        "after the change: {seen:?}"
    );
}

/// lc: each new connection goes to the server with the least `256 * active + inactive`.
/// Six held connections are 2/2/2; after the two of one server are closed, that server
/// has only inactive entries (cost 2 against 512) and takes every new short connection.
fn lc(sc: &Scene) {
    sc.nat_service("-s lc", &[1, 1, 1]);
    let held = sc.hold(6);
    assert_eq!(
        tally(&servers_of(&held)),
        counts(&[("rs0", 2), ("rs1", 2), ("rs2", 2)]),
        "{held:?}"
    );
    let freed = held[0].server().to_string();
    let (closed, kept): (Vec<_>, Vec<_>) = held.into_iter().partition(|h| h.server() == freed);
    for h in closed {
        h.reset().expect("reset");
    }
    // 10 new short connections: each leaves one more inactive entry on `freed` (cost
    // 3..12), still far below the 512 of the others.
    let seen = sc.ask(10);
    assert_eq!(tally(&seen), counts(&[(&freed, 10)]), "{seen:?}");
    drop(kept);
}

/// wlc with weights 1:2:3: the cost `256 * active + inactive` is compared divided by
/// the weight, so 12 held connections settle exactly at 2/4/6 (worked through by hand
/// in docs/schedulers.md; the same for either list order).
fn wlc(sc: &Scene) {
    sc.nat_service("-s wlc", &[1, 2, 3]);
    let held = sc.hold(12);
    assert_eq!(
        tally(&servers_of(&held)),
        counts(&[("rs0", 2), ("rs1", 4), ("rs2", 6)]),
        "{held:?}"
    );
}

/// sed and nq with a slow server (weight 1) and a fast one (weight 4). sed picks the
/// least `(active + 1) / weight`: the first two connections both go to the fast server
/// (1/4, then 2/4, against 1/1). nq first gives a connection to any idle server, so the
/// first two go one to each. Six held connections end 1/5 under both.
fn sed_nq(sched: &'static str) -> SceneFn {
    Box::new(move |sc: &Scene| {
        sc.nat_service(&format!("-s {sched}"), &[1, 4]);
        let held = sc.hold(6);
        let seen = servers_of(&held);
        let first_two = tally(&seen[..2]);
        if sched == "sed" {
            assert_eq!(first_two, counts(&[("rs1", 2)]), "{seen:?}");
        } else {
            assert_eq!(first_two, counts(&[("rs0", 1), ("rs1", 1)]), "{seen:?}");
        }
        assert_eq!(tally(&seen), counts(&[("rs0", 1), ("rs1", 5)]), "{seen:?}");
    })
}

/// fo: everything to the available server of highest weight; when it is set to weight
/// 0, everything new to the next, while its open connection keeps working; back when
/// its weight returns.
fn fo(sc: &Scene) {
    sc.nat_service("-s fo", &[1, 3, 2]);
    assert_eq!(tally(&sc.ask(6)), counts(&[("rs1", 6)]));
    let mut held = sc.hold(1);
    assert_eq!(held[0].server(), "rs1");
    let edit = |i: usize, w: u32| sc.dest("-e", i, w);
    edit(1, 0);
    assert_eq!(tally(&sc.ask(6)), counts(&[("rs2", 6)]));
    held[0]
        .echo("still there")
        .expect("the connection to the drained server works");
    edit(1, 3);
    assert_eq!(tally(&sc.ask(6)), counts(&[("rs1", 6)]));
}

/// ovf: the server of highest weight until its active connections pass its weight,
/// then the next; when every server is past its weight, new connections are refused.
fn ovf(sc: &Scene) {
    sc.nat_service("-s ovf", &[2, 1]);
    let mut held = Vec::new();
    let mut refused = None;
    for i in 0..8 {
        match sc.topo.client.hold(None, sc.vip()) {
            Ok(h) => held.push(h),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let seen = servers_of(&held);
    eprintln!("ovf: {seen:?} then {refused:?}");
    assert_eq!(
        seen,
        ["rs0", "rs0", "rs0", "rs1", "rs1"],
        "refused: {refused:?}"
    );
    let (i, e) = refused.expect("a connection is refused once all are full");
    assert_eq!(i, 5);
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused, "{e}");
}

lab_test! {
    /// rr, wrr, lc, wlc, sed, nq, fo and ovf with real connections (see each case),
    /// over one NAT topology of three real servers.
    fn behaviour_connection_count_schedulers() {
        let topo = Topology::nat(3);
        let _servers = named_servers(&topo);
        let cases: Vec<(&str, SceneFn)> = vec![
            ("rr", Box::new(rr)),
            ("wrr", Box::new(wrr)),
            ("lc", Box::new(lc)),
            ("wlc", Box::new(wlc)),
            ("sed", sed_nq("sed")),
            ("nq", sed_nq("nq")),
            ("fo", Box::new(fo)),
            ("ovf", Box::new(ovf)),
        ];
        scenes(&topo, cases);
    }
}
