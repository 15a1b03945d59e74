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
