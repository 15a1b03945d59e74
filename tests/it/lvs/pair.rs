//! End to end: the classic LVS director pair, two directors, one VIP, traffic that
//! survives the master's death (issue 10).
//!
//! Two director namespaces run keepalived-lite (or one of them keepalived 2.2.7) with
//! one VRRP instance holding the VIP and one direct-routing virtual server on it (rr
//! over three real servers, TCP_CHECK), `lvs_sync_daemon eth0 VI_1` on; a client sends
//! requests through the VIP (see [`super::pair_rig`]). The client holds six connections
//! (rr puts two on each real server); their entries reach the backup's connection
//! table through the kernel's sync daemon. Then the master crashes (every process in
//! its namespace SIGKILLed, its link cut): the backup takes the VIP within
//! Master_Down_Interval, new requests are served, and every held connection still
//! echoes over the same socket, through the new master, to the same real server.
//!
//! Without the sync daemon the same held connections die at the takeover (the new
//! master has no entry for them: its own stack answers their next segment with a
//! reset), which `lvs_pair_without_sync_held_connections_break` shows: the sync, not
//! luck, keeps them.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipvs_lab::{lab_test, HeldConnection, Netns, Stream};

use super::pair_rig::{director_conf, master_down, wait_for, Director, Kind, Pair, CLIENT, VIP};

/// How many connections the client holds across the takeover.
const HELD: usize = 6;

fn vip() -> SocketAddr {
    format!("{VIP}:80").parse().expect("addr")
}

/// Short requests every 100 ms from the client while the test runs: when each was
/// made and whether a real server answered.
struct Requests {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<(Instant, bool)>>>,
    thread: JoinHandle<()>,
}

impl Requests {
    fn start(client: &Netns) -> Requests {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (flag, out) = (stop.clone(), log.clone());
        let thread = client.spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let at = Instant::now();
                let ok = ask(vip()).is_some();
                out.lock().expect("lock").push((at, ok));
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Requests { stop, log, thread }
    }

    /// Waits (10 s at most) for a request made after `since` to be answered, stops;
    /// the longest time between two answered requests, and (answered, made).
    fn finish(self, since: Instant) -> (Duration, usize, usize) {
        let _ = wait_for(Duration::from_secs(10), || {
            self.log
                .lock()
                .expect("lock")
                .iter()
                .any(|(t, ok)| *ok && *t >= since)
        });
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let log = self.log.lock().expect("lock").clone();
        let ok: Vec<Instant> = log.iter().filter(|(_, ok)| *ok).map(|(t, _)| *t).collect();
        let gap = ok.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
        (gap, ok.len(), log.len())
    }
}

/// One short request: connect (0.5 s at most), read the real server's name (1 s).
fn ask(to: SocketAddr) -> Option<String> {
    let s = TcpStream::connect_timeout(&to, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    let mut name = String::new();
    BufReader::new(&s).read_line(&mut name).ok()?;
    let _ = s.shutdown(std::net::Shutdown::Both);
    let name = name.trim().to_string();
    (!name.is_empty()).then_some(name)
}

/// The line of `ipvsadm -Lnc` for the client's connection from `port` to `rs`.
fn entry<'a>(table: &'a str, port: u16, rs: &str) -> Option<&'a str> {
    let from = format!("{CLIENT}:{port} ");
    let to = format!(" {rs}:80");
    table
        .lines()
        .find(|l| l.contains(&from) && l.trim_end().ends_with(&to))
}

/// Waits until `d`'s sync daemons (`ipvsadm -L --daemon`) start with `want`.
#[track_caller]
fn expect_daemons(p: &Pair, d: &Director, want: &str, timeout: Duration) {
    let ok = wait_for(timeout, || d.sync_daemons().starts_with(want));
    assert!(
        ok.is_some(),
        "{}: sync daemons {:?}, expected {want:?}\n{}",
        d.kind.name(),
        d.sync_daemons(),
        p.logs()
    );
}

/// The scenario: `a` (priority 150) master, `b` (priority 100) backup, `a` crashes.
fn director_pair(a: Kind, b: Kind, sync: bool) {
    let label = format!(
        "{} master, {} backup, {}",
        a.name(),
        b.name(),
        if sync {
            "lvs_sync_daemon"
        } else {
            "no sync daemon"
        }
    );
    let mut p = Pair::new(a, b);
    p.a.start(&director_conf("DIR_A", 150, sync));
    p.b.start(&director_conf("DIR_B", 100, sync));
    // A wins the election (a backup first, as keepalived, then master at its MDI).
    let elected = wait_for(Duration::from_secs(15), || p.a.has_vip() && !p.b.has_vip());
    assert!(
        elected.is_some(),
        "{label}: A never became the only master\n{}",
        p.logs()
    );
    // Both directors program the same service with the three real servers up.
    let three = |d: &Director| d.table().lines().filter(|l| l.starts_with("-a ")).count() == 3;
    let programmed = wait_for(Duration::from_secs(10), || three(&p.a) && three(&p.b));
    assert!(
        programmed.is_some(),
        "{label}: tables\nA:\n{}\nB:\n{}\n{}",
        p.a.table(),
        p.b.table(),
        p.logs()
    );
    // The sync daemons follow the VRRP state; the id is the instance's VRID.
    if sync {
        expect_daemons(
            &p,
            &p.a,
            "master sync daemon (mcast=eth0, syncid=51",
            secs(5),
        );
        expect_daemons(
            &p,
            &p.b,
            "backup sync daemon (mcast=eth0, syncid=51",
            secs(5),
        );
    } else {
        assert_eq!(
            (p.a.sync_daemons(), p.b.sync_daemons()),
            (String::new(), String::new())
        );
    }

    // Held connections through the VIP, spread by rr over the three real servers.
    let mut held: Vec<HeldConnection> = (0..HELD)
        .map(|i| {
            let mut h = p
                .client
                .hold(None, vip())
                .unwrap_or_else(|e| panic!("{label}: connection {i} through the VIP: {e}"));
            h.echo(&format!("before {i}"))
                .unwrap_or_else(|e| panic!("{label}: echo {i} before the crash: {e}"));
            h
        })
        .collect();
    let placed: Vec<(u16, String)> = held
        .iter()
        .map(|h| {
            let port = h.local_addr().expect("local address").port();
            (port, p.addr_of(h.server()).to_string())
        })
        .collect();
    let servers: BTreeSet<&str> = held.iter().map(HeldConnection::server).collect();
    assert_eq!(servers.len(), 3, "{label}: rr used {servers:?}");
    // The master's entries; with the sync daemon, the same on the backup.
    let on_master = p.a.connections();
    for (port, rs) in &placed {
        assert!(
            entry(&on_master, *port, rs).is_some(),
            "{label}: no entry for :{port} -> {rs} on the master:\n{on_master}"
        );
    }
    let all_on_b = || {
        let t = p.b.connections();
        placed
            .iter()
            .all(|(port, rs)| entry(&t, *port, rs).is_some())
    };
    let synced = wait_for(secs(10), all_on_b);
    let on_backup = p.b.connections();
    if sync {
        assert!(
            synced.is_some(),
            "{label}: the backup never got every entry by the sync daemon:\n{on_backup}\n\
             master:\n{on_master}\n{}",
            p.logs()
        );
        eprintln!("{label}: the backup's connection table (ipvsadm -Lnc) before the crash, by the sync daemon, after {synced:?}:\n{on_backup}");
    } else {
        assert!(
            placed
                .iter()
                .all(|(port, rs)| entry(&on_backup, *port, rs).is_none()),
            "{label}: entries on the backup without a sync daemon:\n{on_backup}"
        );
    }

    let requests = Requests::start(&p.client);
    std::thread::sleep(Duration::from_millis(700));
    // The master crashes.
    let t0 = Instant::now();
    p.a.crash();
    let crash = t0.elapsed();
    // 3 × advert_int + Skew_Time of the backup, plus slack for a loaded shared machine.
    let bound = master_down(100) + secs(3);
    let took = wait_for(bound, || p.b.has_vip())
        .map(|_| t0.elapsed())
        .unwrap_or_else(|| {
            panic!(
                "{label}: B did not take the VIP within {bound:?}\n{}",
                p.logs()
            )
        });
    eprintln!(
        "TAKEOVER {label}: the backup held the VIP {took:.2?} after the crash began, {:.2?} after it \
         ended (stopping, killing and cutting took {crash:.2?}; Master_Down_Interval {:?})",
        took.saturating_sub(crash),
        master_down(100)
    );

    // The held connections, over the same sockets, after the crash.
    let after: Vec<Result<(), std::io::Error>> = held
        .iter_mut()
        .enumerate()
        .map(|(i, h)| h.echo(&format!("after {i}")))
        .collect();
    // New requests are served by the new master, over every real server.
    let fresh = p.client.ask_names(vec![(None, vip()); 6], Stream::Tcp);
    let (gap, answered, made) = requests.finish(t0 + took);
    eprintln!(
        "{label}: requests every 100 ms: {answered} of {made} answered, longest gap between answers {gap:.2?}"
    );
    let fresh: Vec<String> = fresh
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|e| panic!("{label}: new request {i} after the takeover: {e}"))
        })
        .collect();
    let fresh_servers: BTreeSet<&String> = fresh.iter().collect();
    assert_eq!(
        fresh_servers.len(),
        3,
        "{label}: new requests went to {fresh:?}"
    );
    let on_new_master = p.b.connections();
    if sync {
        for (i, r) in after.iter().enumerate() {
            assert!(
                r.is_ok(),
                "{label}: held connection {i} ({} -> {}) broke at the takeover: {:?}\n\
                 new master's connections:\n{on_new_master}\n{}",
                placed[i].0,
                placed[i].1,
                r,
                p.logs()
            );
        }
        // The new master's sync daemon is the master one now.
        expect_daemons(
            &p,
            &p.b,
            "master sync daemon (mcast=eth0, syncid=51",
            secs(5),
        );
        eprintln!(
            "{label}: all {HELD} held connections echoed through the new master; its table:\n{on_new_master}"
        );
        failback(&mut p, &label, &mut held);
    } else {
        let broken = after.iter().filter(|r| r.is_err()).count();
        assert_eq!(
            broken, HELD,
            "{label}: without a sync daemon every held connection should break: {after:?}"
        );
        eprintln!(
            "{label}: all {HELD} held connections broke at the takeover, as expected without \
             sync (the first: {:?})",
            after[0]
        );
    }
}

/// The crashed director comes back: link up, daemon started again on the kernel state
/// its killed run left (the VIP, the table, the master sync daemon). keepalived-lite
/// must start as a backup with only the backup sync daemon (the one left behind
/// stopped); keepalived 2.2.7 leaves the old master daemon running beside its backup
/// one (recorded here as the difference it is). Then it preempts (priority 150):
/// master daemon on it, backup daemon on the other. The held connections still echo
/// (through its own old entries).
fn failback(p: &mut Pair, label: &str, held: &mut [HeldConnection]) {
    let master = "master sync daemon (mcast=eth0, syncid=51,";
    let backup = "backup sync daemon (mcast=eth0, syncid=51,";
    let only = |d: &Director, want: &str| {
        let got = d.sync_daemons();
        got.lines().count() == 1 && got.starts_with(want)
    };
    assert!(
        p.a.sync_daemons().starts_with(master),
        "{label}: the killed run's master sync daemon is gone"
    );
    p.a.reconnect();
    p.a.start(&director_conf("DIR_A", 150, true));
    match p.a.kind {
        Kind::Lite => {
            let mut seen = Vec::new();
            let backup_first = wait_for(secs(10), || {
                let d = p.a.sync_daemons();
                if seen.last() != Some(&d) {
                    seen.push(d);
                }
                only(&p.a, backup) || p.a.has_vip()
            });
            assert!(
                backup_first.is_some() && !p.a.has_vip(),
                "{label}: the restarted director did not start as a backup with the backup \
                 sync daemon only; its sync daemons were {seen:?}\n{}",
                p.logs()
            );
        }
        Kind::Keepalived => {
            // 2 s into its backup time (Master_Down_Interval 3.4 s): the old master
            // daemon still runs.
            std::thread::sleep(secs(2));
            let d = p.a.sync_daemons();
            assert!(
                !p.a.has_vip() && d.starts_with(master),
                "{label}: keepalived's sync daemons as a backup: {d:?}\n{}",
                p.logs()
            );
            eprintln!("{label}: keepalived restarted, backup, runs the sync daemons {d:?}");
        }
    }
    let t0 = Instant::now();
    let back = wait_for(secs(10), || p.a.has_vip() && !p.b.has_vip());
    assert!(
        back.is_some(),
        "{label}: the restarted director never preempted\n{}",
        p.logs()
    );
    expect_daemons(p, &p.a, master, secs(5));
    let both = wait_for(secs(5), || only(&p.a, master) && only(&p.b, backup));
    assert!(
        both.is_some(),
        "{label}: after the failback: A {:?}, B {:?}\n{}",
        p.a.sync_daemons(),
        p.b.sync_daemons(),
        p.logs()
    );
    for (i, h) in held.iter_mut().enumerate() {
        h.echo(&format!("failback {i}"))
            .unwrap_or_else(|e| panic!("{label}: held connection {i} after the failback: {e}"));
    }
    eprintln!(
        "{label}: the restarted director preempted {:.2?} after its start, sync daemons right on both",
        t0.elapsed()
    );
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

lab_test! {
    /// Two keepalived-lite directors: the master crashes, the backup takes the VIP,
    /// every held connection survives through the synced entries.
    fn lvs_pair_lite_master_crashes_connections_survive() {
        director_pair(Kind::Lite, Kind::Lite, true);
    }
}

lab_test! {
    /// Mixed pair: keepalived-lite master crashes, keepalived 2.2.7 takes over with
    /// the entries keepalived-lite's master sync daemon sent.
    fn lvs_pair_lite_master_crashes_keepalived_takes_over() {
        director_pair(Kind::Lite, Kind::Keepalived, true);
    }
}

lab_test! {
    /// Mixed pair the other way: keepalived 2.2.7 master crashes, keepalived-lite takes
    /// over with the entries keepalived's master sync daemon sent.
    fn lvs_pair_keepalived_master_crashes_lite_takes_over() {
        director_pair(Kind::Keepalived, Kind::Lite, true);
    }
}

lab_test! {
    /// The control: without `lvs_sync_daemon` the same takeover breaks every held
    /// connection (new ones are served), so the survival above is the sync's doing.
    fn lvs_pair_without_sync_held_connections_break() {
        director_pair(Kind::Lite, Kind::Lite, false);
    }
}
