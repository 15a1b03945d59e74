//! `lvs_sync_daemon` follows the VRRP state, in a mixed director pair: keepalived 2.2.7
//! and keepalived-lite on one segment with one instance of equal priority (whoever is
//! master first stays). Each director's `ipvsadm -L --daemon` shows the master sync
//! daemon on the master and the backup one on the backup; when the master stops, the
//! other's becomes master; a stopped daemon leaves none.

use std::time::{Duration, Instant};

use ipvs_lab::lab_test;

use super::harness::{Director, Rig};

const CONF: &str = "global_defs {
    lvs_sync_daemon eth0 VI_1 id 7
}
vrrp_instance VI_1 {
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/32
    }
}
virtual_server 192.0.2.100 80 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 198.51.100.10 80 {
        weight 1
    }
}
";

fn daemons(d: &Director) -> String {
    d.ns.must("ipvsadm -L --daemon").stdout.trim().to_string()
}

/// Waits until keepalived's daemons start with `theirs` and ours with `ours` ("" for
/// none).
#[track_caller]
fn expect(rig: &Rig, theirs: &str, ours: &str) -> Duration {
    let t0 = Instant::now();
    loop {
        let (k, o) = (daemons(&rig.theirs), daemons(&rig.ours));
        if k.starts_with(theirs)
            && o.starts_with(ours)
            && ours.is_empty() == o.is_empty()
            && theirs.is_empty() == k.is_empty()
        {
            return t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(15) {
            panic!(
                "sync daemons: keepalived {k:?} (want {theirs:?}), keepalived-lite {o:?} (want {ours:?})\n\
                 --- keepalived ---\n{}\n--- keepalived-lite ---\n{}",
                rig.theirs.log(),
                rig.ours.log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

lab_test! {
    fn lvs_sync_daemon_follows_the_vrrp_state_in_a_mixed_pair() {
        // As ipvsadm prints them, up to the defaults it adds.
        let master = "master sync daemon (mcast=eth0, syncid=7,";
        let backup = "backup sync daemon (mcast=eth0, syncid=7,";
        let mut rig = Rig::new(1);
        rig.with_vrrp = true;
        rig.write_conf(CONF);
        // Whoever is master first stays: a backup does not preempt an equal priority.
        rig.start_one(false);
        expect(&rig, master, "");
        rig.start_one(true);
        expect(&rig, master, backup);
        // keepalived stops (priority 0): ours takes over, its daemon becomes master.
        rig.theirs.stop();
        expect(&rig, "", master);
        rig.start_one(false);
        expect(&rig, backup, master);
        rig.ours.stop();
        expect(&rig, master, "");
    }
}

/// keepalived.conf with `sync` in global_defs: VI_1 on eth0 (alone on the segment:
/// MASTER) and VI_2 on eth1, a veth whose peer is down (no carrier: FAULT, never
/// MASTER), and one virtual server.
fn reload_conf(sync: &str) -> String {
    let instance = |name: &str, dev: &str, vrid: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{
    state BACKUP
    interface {dev}
    virtual_router_id {vrid}
    priority 100
    advert_int 1
    virtual_ipaddress {{
        {vip}/32
    }}
}}
"
        )
    };
    format!(
        "global_defs {{
    {sync}
}}
{}{}virtual_server 192.0.2.100 80 {{
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 198.51.100.10 80 {{
        weight 1
    }}
}}
",
        instance("VI_1", "eth0", 51, "192.0.2.100"),
        instance("VI_2", "eth1", 52, "192.0.2.101")
    )
}

/// Whether `ipvsadm -L --daemon` output `got` is exactly the daemons `want` (each line
/// as ipvsadm starts it).
fn daemons_are(got: &str, want: &[&str]) -> bool {
    let lines: Vec<&str> = got.lines().collect();
    lines.len() == want.len() && lines.iter().zip(want).all(|(l, w)| l.starts_with(w))
}

/// The reload steps: the `lvs_sync_daemon` line, and the daemons that must then run
/// under keepalived-lite and under keepalived 2.2.7. They differ in one place:
/// keepalived leaves the sync daemon running when a reload removes `lvs_sync_daemon`.
type Step = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);
const RELOAD_STEPS: &[Step] = &[
    (
        "lvs_sync_daemon eth0 VI_1 id 9",
        &["master sync daemon (mcast=eth0, syncid=9,"],
        &["master sync daemon (mcast=eth0, syncid=9,"],
    ),
    (
        "lvs_sync_daemon eth1 VI_1 id 9",
        &["master sync daemon (mcast=eth1, syncid=9,"],
        &["master sync daemon (mcast=eth1, syncid=9,"],
    ),
    (
        "lvs_sync_daemon eth0 VI_2",
        &["backup sync daemon (mcast=eth0, syncid=52,"],
        &["backup sync daemon (mcast=eth0, syncid=52,"],
    ),
    (
        "router_id no-sync-daemon",
        &[],
        &["backup sync daemon (mcast=eth0, syncid=52,"],
    ),
    (
        "lvs_sync_daemon eth0 VI_1",
        &["master sync daemon (mcast=eth0, syncid=51,"],
        &["master sync daemon (mcast=eth0, syncid=51,"],
    ),
];

/// Runs the reload steps on `d` (started on `lvs_sync_daemon eth0 VI_1`, VI_1 MASTER):
/// after each SIGHUP the daemons must become the step's within 10 s; then a broken
/// file that would change the id changes nothing.
fn reload_sync_steps(rig: &Rig, d: &Director) {
    let wait = |want: &[&str], what: &str| {
        let t0 = Instant::now();
        while !daemons_are(&daemons(d), want) {
            if t0.elapsed() > Duration::from_secs(10) {
                panic!(
                    "{}: {what}: sync daemons {:?}, want {want:?}\n{}",
                    d.name,
                    daemons(d),
                    d.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait(&["master sync daemon (mcast=eth0, syncid=51,"], "start");
    let mut before = daemons(d);
    for (line, ours, theirs) in RELOAD_STEPS {
        rig.write_conf(&reload_conf(line));
        d.signal("HUP");
        let want = if d.name == "keepalived" { theirs } else { ours };
        if daemons_are(&before, want) {
            // Nothing is to change: give the reload time to change something anyway.
            std::thread::sleep(Duration::from_secs(2));
        }
        wait(want, line);
        before = daemons(d);
    }
    // A broken file (an unknown instance) that would change the id: nothing changes.
    let reloads = d.log().matches("Reloading").count();
    rig.write_conf(&reload_conf("lvs_sync_daemon eth0 VI_9 id 77"));
    d.signal("HUP");
    let t0 = Instant::now();
    while d.log().matches("Reloading").count() == reloads && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        daemons_are(&daemons(d), &["master sync daemon (mcast=eth0, syncid=51,"]),
        "{}: a broken reload changed the sync daemons: {:?}\n{}",
        d.name,
        daemons(d),
        d.log()
    );
}

lab_test! {
    fn lvs_sync_daemon_settings_follow_a_reload() {
        let mut rig = Rig::new(0);
        rig.with_vrrp = true;
        for d in [&rig.theirs, &rig.ours] {
            d.ns.must(
                "ip link add eth1 type veth peer name eth1p && ip link set eth1 up \
                 && ip addr add 203.0.113.1/24 dev eth1",
            );
        }
        rig.write_conf(&reload_conf("lvs_sync_daemon eth0 VI_1"));
        rig.start_one(true);
        reload_sync_steps(&rig, &rig.ours);
        assert!(rig.ours.log().contains("reload failed"), "{}", rig.ours.log());
        rig.ours.stop();
        // The judge: keepalived alone through the same reloads.
        rig.write_conf(&reload_conf("lvs_sync_daemon eth0 VI_1"));
        rig.start_one(false);
        reload_sync_steps(&rig, &rig.theirs);
    }
}
