//! Mixed groups of keepalived-lite and keepalived: elections, node death, graceful
//! stops, VRRPv3 over IPv4 and IPv6, unicast, equal priorities.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::harness::{
    holders, master_down, prerequisites, skew, wait_for, who_answers, Daemon, Inst, Segment,
};
use super::{assert_takeover_window, expect_holder, expect_stable_holder, vip_sock, ELECTION, VIP};

#[test]
fn v2_multicast_mixed_group_elects_highest_and_survives_node_death() {
    if !prerequisites("v2_multicast_mixed_group_elects_highest_and_survives_node_death") {
        return;
    }
    let seg = Segment::new();
    let client = seg.client(200);
    let mut o1 = seg.node("ours-200", 1);
    let mut k1 = seg.node("keepalived-150", 2);
    let mut o2 = seg.node("ours-100", 3);
    for n in [&mut o1, &mut k1, &mut o2] {
        n.serve();
    }
    o1.start(Daemon::Ours, &Inst::v2(200).conf());
    k1.start(Daemon::Keepalived, &Inst::v2(150).conf());
    o2.start(Daemon::Ours, &Inst::v2(100).conf());
    expect_holder(&[&o1, &k1, &o2], VIP, "ours-200", ELECTION);
    // Stable: still only the highest after a few adverts.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&o1, &k1, &o2], VIP), ["ours-200"]);
    assert_eq!(
        who_answers(&client, vip_sock()).as_deref(),
        Some("ours-200")
    );

    // Our master dies: keepalived (150) must take over, not ours (100).
    let t0 = Instant::now();
    o1.kill_node();
    expect_holder(&[&k1, &o2], VIP, "keepalived-150", Duration::from_secs(6));
    let keepalived_took = t0.elapsed();
    assert_takeover_window("keepalived", keepalived_took, 150);
    let answered = wait_for(Duration::from_secs(2), || {
        who_answers(&client, vip_sock()).as_deref() == Some("keepalived-150")
    });
    assert!(
        answered.is_some(),
        "client does not reach the VIP on keepalived-150"
    );

    // keepalived's node dies: ours (100) takes over.
    std::thread::sleep(Duration::from_millis(1500));
    let t1 = Instant::now();
    k1.kill_node();
    expect_holder(&[&o2], VIP, "ours-100", Duration::from_secs(6));
    let ours_took = t1.elapsed();
    assert_takeover_window("keepalived-lite", ours_took, 100);
    let answered = wait_for(Duration::from_secs(2), || {
        who_answers(&client, vip_sock()).as_deref() == Some("ours-100")
    });
    assert!(
        answered.is_some(),
        "client does not reach the VIP on ours-100"
    );
    eprintln!(
        "TAKEOVER after SIGKILL of the master (advert_int 1): keepalived prio 150 {keepalived_took:?} (MDI {:?}), \
         keepalived-lite prio 100 {ours_took:?} (MDI {:?})",
        master_down(150),
        master_down(100)
    );
}

#[test]
fn v2_unicast_graceful_stop_and_preemption() {
    if !prerequisites("v2_unicast_graceful_stop_and_preemption") {
        return;
    }
    let seg = Segment::new();
    let mut k1 = seg.node("keepalived-200", 11);
    let mut o1 = seg.node("ours-100", 12);
    let mut kc = Inst::v2(200);
    kc.unicast = Some((k1.addr(), vec![o1.addr()]));
    let mut oc = Inst::v2(100);
    oc.unicast = Some((o1.addr(), vec![k1.addr()]));
    k1.start(Daemon::Keepalived, &kc.conf());
    o1.start(Daemon::Ours, &oc.conf());
    expect_stable_holder(&[&k1, &o1], VIP, "keepalived-200", ELECTION);

    // Graceful stop: keepalived resigns with priority 0, ours takes over after Skew_Time.
    let t0 = Instant::now();
    k1.terminate();
    expect_holder(&[&k1, &o1], VIP, "ours-100", Duration::from_secs(3));
    let took = t0.elapsed();
    k1.wait_stopped();
    assert!(o1.counter("priority_zero_received") >= 1, "{}", o1.state());
    assert!(
        took <= skew(100) + Duration::from_millis(400),
        "graceful takeover took {took:?}"
    );
    eprintln!("TAKEOVER after keepalived's graceful stop (unicast): keepalived-lite prio 100 {took:?} (skew {:?})", skew(100));

    // keepalived comes back with the higher priority and preempts us.
    k1.spawn();
    expect_holder(&[&k1, &o1], VIP, "keepalived-200", ELECTION);
    assert_eq!(o1.state_str("state").as_deref(), Some("BACKUP"));
    assert_eq!(o1.counter("dropped_unknown_peer"), 0);
}

#[test]
fn v3_ipv4_mixed_group_and_checksum_variants() {
    if !prerequisites("v3_ipv4_mixed_group_and_checksum_variants") {
        return;
    }
    // Segment A: keepalived's default checksum (IPv4 pseudo-header included).
    let seg = Segment::new();
    let mut k1 = seg.node("keepalived-200", 21);
    let mut o1 = seg.node("ours-150", 22);
    let kc = Inst::v3(200);
    let oc = kc.at(150);
    // Segment B: a master with v3_checksum_as_v2 (RFC 9568's reading; keepalived 2.2.7
    // has no such keyword) and one of ours with the default, which recognises it.
    let seg_b = Segment::new();
    let mut o2 = seg_b.node("ours-b-as-v2-200", 23);
    let mut o3 = seg_b.node("ours-b-150", 24);
    let mut oc2 = kc.clone();
    oc2.extra.push("v3_checksum_as_v2".into());
    let oc3 = oc.clone();

    k1.start(Daemon::Keepalived, &kc.conf());
    o1.start(Daemon::Ours, &oc.conf());
    o2.start(Daemon::Ours, &oc2.conf());
    o3.start(Daemon::Ours, &oc3.conf());
    expect_holder(&[&k1, &o1], VIP, "keepalived-200", ELECTION);
    expect_holder(&[&o2, &o3], VIP, "ours-b-as-v2-200", ELECTION);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&k1, &o1], VIP), ["keepalived-200"]);
    assert_eq!(holders(&[&o2, &o3], VIP), ["ours-b-as-v2-200"]);
    assert_eq!(
        o1.state_str("peer_checksum").as_deref(),
        Some("PseudoHeader"),
        "{}",
        o1.state()
    );
    assert_eq!(
        o3.state_str("peer_checksum").as_deref(),
        Some("VrrpOnly"),
        "{}",
        o3.state()
    );
    assert_eq!(o1.counter("dropped_checksum"), 0);

    // The master dies; ours takes over within the v3 Master_Down_Interval.
    let t0 = Instant::now();
    k1.kill_node();
    expect_holder(&[&o1], VIP, "ours-150", Duration::from_secs(6));
    let took = t0.elapsed();
    assert_takeover_window("keepalived-lite (v3)", took, 150);
    eprintln!(
        "TAKEOVER after SIGKILL (VRRPv3 IPv4): keepalived-lite prio 150 {took:?} (MDI {:?})",
        master_down(150)
    );
}

#[test]
fn v3_ipv6_mixed_group_and_our_graceful_stop() {
    if !prerequisites("v3_ipv6_mixed_group_and_our_graceful_stop") {
        return;
    }
    let vip6 = "2001:db8::100";
    let seg = Segment::new();
    let client = seg.client(200);
    let mut o1 = seg.node("ours-200", 31);
    let mut k1 = seg.node("keepalived-150", 32);
    o1.serve();
    k1.serve();
    let mut oc = Inst::v3(200);
    oc.vips = vec![format!("{vip6}/64")];
    let kc = oc.at(150);
    o1.start(Daemon::Ours, &oc.conf());
    k1.start(Daemon::Keepalived, &kc.conf());
    expect_stable_holder(&[&o1, &k1], vip6, "ours-200", ELECTION);
    let sock: SocketAddr = format!("[{vip6}]:6443").parse().expect("addr");
    assert_eq!(who_answers(&client, sock).as_deref(), Some("ours-200"));

    // Our graceful stop: priority 0, keepalived takes over after its Skew_Time.
    let t0 = Instant::now();
    o1.terminate();
    expect_holder(&[&o1, &k1], vip6, "keepalived-150", Duration::from_secs(3));
    let took = t0.elapsed();
    o1.wait_stopped();
    assert!(
        took <= skew(150) + Duration::from_millis(400),
        "graceful takeover took {took:?}"
    );
    assert!(
        k1.log().contains("priority 0"),
        "keepalived saw no priority 0 advert:\n{}",
        k1.log()
    );
    // The unsolicited neighbour advertisement moves the client at once.
    let answered = wait_for(Duration::from_secs(2), || {
        who_answers(&client, sock).as_deref() == Some("keepalived-150")
    });
    assert!(
        answered.is_some(),
        "client does not reach [{vip6}] on keepalived"
    );
    eprintln!("TAKEOVER after keepalived-lite's graceful stop (VRRPv3 IPv6): keepalived prio 150 {took:?} (skew {:?})", skew(150));
}

#[test]
fn v3_backup_learns_the_master_advert_interval() {
    if !prerequisites("v3_backup_learns_the_master_advert_interval") {
        return;
    }
    let seg = Segment::new();
    let mut k1 = seg.node("keepalived-200-2s", 95);
    let mut o1 = seg.node("ours-100-1s", 96);
    let kc = Inst::v3(200);
    let oc = kc.at(100);
    k1.start(
        Daemon::Keepalived,
        &kc.conf().replace("advert_int 1", "advert_int 2"),
    );
    o1.start(Daemon::Ours, &oc.conf());
    expect_holder(
        &[&k1, &o1],
        VIP,
        "keepalived-200-2s",
        Duration::from_secs(12),
    );
    // Let our backup hear a few 2 s adverts.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(holders(&[&k1, &o1], VIP), ["keepalived-200-2s"]);
    let t0 = Instant::now();
    k1.kill_node();
    expect_holder(&[&o1], VIP, "ours-100-1s", Duration::from_secs(10));
    let took = t0.elapsed();
    // Master_Down_Interval with the learned 2 s: 6 s + 156/256 * 2 s = 7.22 s; without
    // learning it would be 3.6 s.
    let mdi = Duration::from_millis(6000) + skew(100) * 2;
    assert!(
        took > mdi - Duration::from_millis(2100) && took < mdi + Duration::from_millis(400),
        "took {took:?}, MDI {mdi:?}"
    );
    eprintln!("TAKEOVER with a learned 2 s master interval (VRRPv3): keepalived-lite {took:?} (MDI {mdi:?})");
}

#[test]
fn v3_ipv6_unicast_mixed_group_survives_node_death() {
    if !prerequisites("v3_ipv6_unicast_mixed_group_survives_node_death") {
        return;
    }
    let vip6 = "2001:db8::100";
    let seg = Segment::new();
    let mut o1 = seg.node("ours-200", 0x21);
    let mut k1 = seg.node("keepalived-150", 0x22);
    let mut oc = Inst::v3(200);
    oc.vips = vec![format!("{vip6}/64")];
    let mut kc = oc.at(150);
    oc.unicast = Some(("2001:db8::21".into(), vec!["2001:db8::22".into()]));
    kc.unicast = Some(("2001:db8::22".into(), vec!["2001:db8::21".into()]));
    o1.start(Daemon::Ours, &oc.conf());
    k1.start(Daemon::Keepalived, &kc.conf());
    expect_stable_holder(&[&o1, &k1], vip6, "ours-200", ELECTION);
    let t0 = Instant::now();
    o1.kill_node();
    expect_holder(&[&k1], vip6, "keepalived-150", Duration::from_secs(6));
    let took = t0.elapsed();
    assert_takeover_window("keepalived (v3 IPv6 unicast)", took, 150);
    // And back: ours restarts and preempts over unicast.
    o1.spawn();
    expect_holder(&[&o1, &k1], vip6, "ours-200", ELECTION);
    assert!(o1.counter("adverts_received") >= 1, "{}", o1.state());
    eprintln!(
        "TAKEOVER after SIGKILL (VRRPv3 IPv6 unicast): keepalived prio 150 {took:?} (MDI {:?})",
        master_down(150)
    );
}

#[test]
fn v3_ipv4_unicast_mixed_group_survives_node_death() {
    if !prerequisites("v3_ipv4_unicast_mixed_group_survives_node_death") {
        return;
    }
    let seg = Segment::new();
    let mut k1 = seg.node("keepalived-200", 0x25);
    let mut o1 = seg.node("ours-150", 0x26);
    let mut kc = Inst::v3(200);
    let mut oc = kc.at(150);
    kc.unicast = Some((k1.addr(), vec![o1.addr()]));
    oc.unicast = Some((o1.addr(), vec![k1.addr()]));
    k1.start(Daemon::Keepalived, &kc.conf());
    o1.start(Daemon::Ours, &oc.conf());
    expect_stable_holder(&[&k1, &o1], VIP, "keepalived-200", ELECTION);
    // keepalived's unicast v3 adverts are accepted (with its pseudo-header checksum),
    // nothing is dropped.
    assert!(o1.counter("adverts_received") >= 2, "{}", o1.state());
    assert_eq!(
        o1.state_str("peer_checksum").as_deref(),
        Some("PseudoHeader"),
        "{}",
        o1.state()
    );
    assert_eq!(
        o1.state_str("master").as_deref(),
        Some(k1.addr().as_str()),
        "{}",
        o1.state()
    );
    for c in [
        "dropped_checksum",
        "dropped_unknown_peer",
        "dropped_version",
    ] {
        assert_eq!(o1.counter(c), 0, "{c}:\n{}", o1.state());
    }

    // keepalived's node dies: ours takes over within the v3 Master_Down_Interval.
    let t0 = Instant::now();
    k1.kill_node();
    expect_holder(&[&o1], VIP, "ours-150", Duration::from_secs(6));
    let took = t0.elapsed();
    assert_takeover_window("keepalived-lite (v3 IPv4 unicast)", took, 150);
    // keepalived comes back with a lower priority: it stays backup past its own
    // Master_Down_Interval only if it accepts our unicast v3 adverts.
    let mut kc_low = kc.clone();
    kc_low.priority = 100;
    k1.start(Daemon::Keepalived, &kc_low.conf());
    std::thread::sleep(master_down(100) + Duration::from_secs(2));
    assert_eq!(
        holders(&[&k1, &o1], VIP),
        ["ours-150"],
        "keepalived does not hear our unicast v3 adverts:\n{}",
        k1.log()
    );
    assert_eq!(o1.state_str("state").as_deref(), Some("MASTER"));
    eprintln!(
        "TAKEOVER after SIGKILL (VRRPv3 IPv4 unicast): keepalived-lite prio 150 {took:?} (MDI {:?})",
        master_down(150)
    );
}

#[test]
fn equal_priority_higher_address_wins() {
    if !prerequisites("equal_priority_higher_address_wins") {
        return;
    }
    // A backup never preempts an equal priority (RFC 5798 6.4.2), so the address only
    // decides between two masters: each segment starts split, both become master, then
    // the split heals. Segment A: ours has the higher address; segment B: keepalived.
    let seg_a = Segment::new();
    let mut ka = seg_a.node("keepalived-low-addr", 0x31);
    let mut oa = seg_a.node("ours-high-addr", 0x32);
    let seg_b = Segment::new();
    let mut ob = seg_b.node("ours-low-addr", 0x33);
    let mut kb = seg_b.node("keepalived-high-addr", 0x34);
    seg_a.set_port(&oa, false);
    seg_b.set_port(&kb, false);
    let conf = Inst::v2(100).conf();
    ka.start(Daemon::Keepalived, &conf);
    oa.start(Daemon::Ours, &conf);
    ob.start(Daemon::Ours, &conf);
    kb.start(Daemon::Keepalived, &conf);
    // Generous: four daemons starting at once on a loaded machine.
    let split = wait_for(Duration::from_secs(12), || {
        [&ka, &oa, &ob, &kb].iter().all(|n| n.has_vip(VIP))
    });
    assert!(
        split.is_some(),
        "every node should be master while split; holders {:?}\n{}",
        holders(&[&ka, &oa, &ob, &kb], VIP),
        [&ka, &oa, &ob, &kb]
            .iter()
            .map(|n| format!("--- {} ---\n{}", n.name, n.log()))
            .collect::<String>()
    );
    seg_a.set_port(&oa, true);
    seg_b.set_port(&kb, true);
    expect_holder(&[&ka, &oa], VIP, "ours-high-addr", Duration::from_secs(3));
    expect_holder(
        &[&ob, &kb],
        VIP,
        "keepalived-high-addr",
        Duration::from_secs(3),
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(holders(&[&ka, &oa], VIP), ["ours-high-addr"]);
    assert_eq!(holders(&[&ob, &kb], VIP), ["keepalived-high-addr"]);
    assert_eq!(
        ob.state_str("master").as_deref(),
        Some("192.0.2.52"),
        "{}",
        ob.state()
    );
    assert_eq!(ob.state_str("state").as_deref(), Some("BACKUP"));
}
