//! `--metrics ADDR:PORT`: the daemon's Prometheus endpoint, on a thread of its own.
//!
//! It serves what `ipvs-exporter` serves (the IPVS table read over netlink at each
//! scrape, the kernel parameters; ipvs-exporter's `Scraper` and blocking HTTP
//! `Endpoint`, no async runtime) plus the VRRP families
//! ([`ipvs_exporter::vrrp`]) and the checker families ([`ipvs_exporter::checker`])
//! of this daemon.
//!
//! The poll loop never waits for a scrape: it builds a [`Snapshot`] of plain values
//! when its state changes (at most every 100 ms, with the state file) and hands it
//! over with a `try_lock` on a [`SharedSnapshot`]; a scrape only clones the `Arc` of
//! the latest one under that lock, never encodes or does I/O while holding it. A
//! hand-over that finds the lock taken is retried on the next state write.
//!
//! A failure of the metrics thread never reaches VRRP: a panic while answering a
//! scrape is caught, logged, and the endpoint serves on ([`serve_forever`]); the
//! loop holds no lock the thread could leave poisoned or held.
//!
//! ```
//! use keepalived_lite::metrics::{SharedSnapshot, Snapshot};
//! let shared = SharedSnapshot::default();
//! assert!(shared.publish(Snapshot::default()).is_ok());
//! assert!(shared.current().instances.is_empty());
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipvs_exporter::checker::{CheckerCollector, RealServerMetrics, VirtualServerMetrics};
use ipvs_exporter::http::{Endpoint, ListenError};
use ipvs_exporter::scrape::Scraper;
use ipvs_exporter::vrrp::{
    DropReason, ScriptMetrics, VrrpCollector, VrrpInstanceMetrics, VrrpState,
};
use prometheus_client::collector::Collector;

use crate::check::Counters;
use crate::config::Instance;
use crate::log::Logger;
use crate::lvs::checker::VirtualServerState;
use crate::scripts::ScriptRt;
use crate::state::State;

/// What a scrape reports of the daemon: plain values, built by the poll loop.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Every VRRP instance.
    pub instances: Vec<VrrpInstanceMetrics>,
    /// Every tracked script, by name.
    pub scripts: Vec<ScriptMetrics>,
    /// Every virtual server of the checker half.
    pub virtual_servers: Vec<VirtualServerMetrics>,
}

/// The latest [`Snapshot`], shared between the poll loop (writer) and the metrics
/// thread (reader), with the loop's [`Heartbeat`].
#[derive(Debug, Clone, Default)]
pub struct SharedSnapshot(Arc<Mutex<Arc<Snapshot>>>, Heartbeat);

impl SharedSnapshot {
    /// Replaces the snapshot unless a reader holds the lock at this instant; then
    /// gives it back (the caller retries later) instead of waiting.
    // The snapshot is handed back whole so nothing is built twice; its size is the
    // point, not a mistake.
    #[allow(clippy::result_large_err)]
    pub fn publish(&self, snapshot: Snapshot) -> Result<(), Snapshot> {
        match self.0.try_lock() {
            Ok(mut g) => {
                *g = Arc::new(snapshot);
                Ok(())
            }
            // Poisoned: a reader panicked holding it; the value is a plain Arc,
            // still whole.
            Err(TryLockError::Poisoned(p)) => {
                *p.into_inner() = Arc::new(snapshot);
                Ok(())
            }
            Err(TryLockError::WouldBlock) => Err(snapshot),
        }
    }

    /// The latest snapshot (the lock is held only to clone the `Arc`).
    pub fn current(&self) -> Arc<Snapshot> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The poll loop's heartbeat.
    pub fn heartbeat(&self) -> &Heartbeat {
        &self.1
    }
}

/// How long the poll loop may go without a turn before `/healthz` fails: the daemon
/// turns it at least once a second, idle or not, so this is a loop stuck (a
/// blocking call, a livelock), not an idle one.
pub const LOOP_STALE_AFTER: Duration = Duration::from_secs(10);

/// When the poll loop last turned: a lock-free time stamp the loop writes and
/// `/healthz` reads.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    start: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            start: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Heartbeat {
    /// The loop turned now.
    pub fn beat(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// Time since the last [`Heartbeat::beat`] (since creation before the first).
    pub fn age(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }

    /// `/healthz`: healthy while the loop turned within `stale_after`.
    pub fn check(&self, stale_after: Duration) -> Result<String, String> {
        let age = self.age();
        if age <= stale_after {
            Ok(format!(
                "ok: the VRRP loop ran {:.1} s ago",
                age.as_secs_f64()
            ))
        } else {
            Err(format!(
                "unhealthy: the VRRP loop has not run for {:.1} s (limit {:.1} s)",
                age.as_secs_f64(),
                stale_after.as_secs_f64()
            ))
        }
    }
}

/// The exporter's number for a daemon state.
pub fn vrrp_state(state: State) -> VrrpState {
    match state {
        State::Initialize => VrrpState::Init,
        State::Backup => VrrpState::Backup,
        State::Master => VrrpState::Master,
        State::Fault => VrrpState::Fault,
    }
}

/// Every drop reason the daemon counts, in the state file's words (without
/// `dropped_`), with its count.
pub fn drop_reasons(c: &Counters) -> Vec<(String, u64)> {
    [
        ("truncated", c.dropped_truncated),
        ("oversized", c.dropped_oversized),
        ("checksum", c.dropped_checksum),
        ("invalid", c.dropped_invalid),
        ("ttl", c.dropped_ttl),
        ("version", c.dropped_version),
        ("auth", c.dropped_auth),
        ("interval", c.dropped_interval),
        ("address_list", c.dropped_address_list),
        ("unknown_peer", c.dropped_unknown_peer),
        ("other_vrid", c.other_vrid),
    ]
    .into_iter()
    .map(|(r, n)| (r.to_string(), n))
    .collect()
}

/// The daemon's drops under keepalived's reasons, where keepalived counts the same
/// thing: length (truncated or oversized), TTL, type (our "invalid": version nibble,
/// type, zero interval, IP header), interval, address list, and authentication (ours
/// does not tell a wrong type from a wrong password: both count as a failure).
pub fn keepalived_drops(c: &Counters) -> Vec<(DropReason, u64)> {
    vec![
        (
            DropReason::PacketLength,
            c.dropped_truncated + c.dropped_oversized,
        ),
        (DropReason::AdvertInterval, c.dropped_interval),
        (DropReason::IpTtl, c.dropped_ttl),
        (DropReason::InvalidType, c.dropped_invalid),
        (DropReason::AddressList, c.dropped_address_list),
        (DropReason::AuthFailure, c.dropped_auth),
    ]
}

/// One instance's metrics from its configuration, state, effective priority and
/// counters.
pub fn instance_metrics(
    cfg: &Instance,
    state: State,
    effective_priority: u8,
    c: &Counters,
) -> VrrpInstanceMetrics {
    let mut m = VrrpInstanceMetrics::new(&cfg.name, &cfg.interface, cfg.vrid, vrrp_state(state));
    m.addresses = cfg.vips.iter().map(|v| v.addr.to_string()).collect();
    m.priority = cfg.priority;
    m.effective_priority = effective_priority;
    m.adverts_sent = c.adverts_sent;
    m.adverts_received = c.adverts_received;
    m.become_master = c.became_master;
    m.release_master = c.released_master;
    m.priority_zero_received = c.priority_zero_received;
    m.priority_zero_sent = c.priority_zero_sent;
    m.drops = keepalived_drops(c);
    m.dropped_by_reason = drop_reasons(c);
    m
}

/// The tracked scripts' verdicts, sorted by name.
pub fn script_metrics(scripts: &HashMap<String, ScriptRt>) -> Vec<ScriptMetrics> {
    let mut v: Vec<ScriptMetrics> = scripts
        .iter()
        .map(|(name, s)| ScriptMetrics::new(name, s.health.is_good()))
        .collect();
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

/// The checker half's virtual servers: quorum, and each real server's health and
/// the weight IPVS gets while it is up.
pub fn checker_metrics(vss: &[VirtualServerState]) -> Vec<VirtualServerMetrics> {
    vss.iter()
        .map(|vs| VirtualServerMetrics {
            name: vs.name.clone(),
            quorum_up: vs.quorum_up,
            real_servers: vs
                .real_servers
                .iter()
                .map(|rs| RealServerMetrics {
                    address: rs.addr.ip(),
                    port: rs.addr.port(),
                    up: rs.alive,
                    weight: i64::from(rs.ipvs_weight()),
                })
                .collect(),
        })
        .collect()
}

/// The families a scrape adds to ipvs-exporter's: this daemon's VRRP and checker
/// state from the latest snapshot.
pub fn collectors(snapshot: &Snapshot) -> Vec<Box<dyn Collector>> {
    vec![
        Box::new(VrrpCollector::new(
            snapshot.instances.clone(),
            snapshot.scripts.clone(),
        )),
        Box::new(CheckerCollector::new(snapshot.virtual_servers.clone())),
    ]
}

/// Binds `addr` (an error names it) and serves `/metrics` on a thread of its own:
/// ipvs-exporter's families read at each scrape, plus `shared`'s; and `/healthz`
/// from `shared`'s heartbeat (503 once the loop is [`LOOP_STALE_AFTER`] late).
pub fn start(
    addr: SocketAddr,
    shared: SharedSnapshot,
    log: Logger,
) -> Result<JoinHandle<()>, ListenError> {
    let heartbeat = shared.heartbeat().clone();
    let scraper = Scraper::default().with_extra(Box::new(move || collectors(&shared.current())));
    let endpoint = Endpoint::bind(addr, scraper)?
        .with_health(Box::new(move || heartbeat.check(LOOP_STALE_AFTER)));
    let spawned = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || serve_forever(|| endpoint.serve(), log));
    spawned.map_err(|e| ListenError {
        addr,
        reason: format!("cannot start the metrics thread: {e}"),
    })
}

/// Runs `serve` again after each panic (logged), until it returns: a failing
/// scrape never ends the endpoint, and never the daemon.
pub fn serve_forever(mut serve: impl FnMut(), log: Logger) {
    while catch_unwind(AssertUnwindSafe(&mut serve)).is_err() {
        log.log("metrics: a scrape failed (panic, above); serving on");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn instance() -> Instance {
        let cfg = crate::config::parse_str(
            Path::new("k.conf"),
            "vrrp_instance VI_API {\n interface eth0\n virtual_router_id 51\n priority 150\n\
             virtual_ipaddress {\n 192.0.2.100/24\n 192.0.2.101\n }\n}\n",
        )
        .expect("config");
        cfg.instances[0].clone()
    }

    #[test]
    fn an_instance_maps_every_counter_and_each_drop_reason() {
        let c = Counters {
            adverts_received: 1,
            adverts_sent: 2,
            priority_zero_received: 3,
            priority_zero_sent: 4,
            became_master: 5,
            released_master: 6,
            other_vrid: 7,
            dropped_truncated: 8,
            dropped_oversized: 9,
            dropped_checksum: 10,
            dropped_invalid: 11,
            dropped_ttl: 12,
            dropped_version: 13,
            dropped_auth: 14,
            dropped_interval: 15,
            dropped_address_list: 16,
            dropped_unknown_peer: 17,
        };
        let m = instance_metrics(&instance(), State::Fault, 50, &c);
        let text =
            ipvs_exporter::encode_collectors(vec![Box::new(VrrpCollector::new(vec![m], vec![]))])
                .expect("encode");
        let l = r#"{iname="VI_API",intf="eth0",vrid="51"}"#;
        let r = |reason: &str| {
            format!(
                r#"keepalived_lite_adverts_dropped_total{{iname="VI_API",intf="eth0",vrid="51",reason="{reason}"}}"#
            )
        };
        let want = [
            (r#"keepalived_vrrp_state{iname="VI_API",intf="eth0",vrid="51",ip_address="192.0.2.100"}"#.to_string(), 3),
            (r#"keepalived_vrrp_state{iname="VI_API",intf="eth0",vrid="51",ip_address="192.0.2.101"}"#.to_string(), 3),
            (format!("keepalived_priority{l}"), 150),
            (format!("keepalived_effective_priority{l}"), 50),
            (format!("keepalived_advertisements_received_total{l}"), 1),
            (format!("keepalived_advertisements_sent_total{l}"), 2),
            (format!("keepalived_priority_zero_received_total{l}"), 3),
            (format!("keepalived_priority_zero_sent_total{l}"), 4),
            (format!("keepalived_become_master_total{l}"), 5),
            (format!("keepalived_release_master_total{l}"), 6),
            (format!("keepalived_packet_length_errors_total{l}"), 17),
            (format!("keepalived_invalid_type_received_total{l}"), 11),
            (format!("keepalived_ip_ttl_errors_total{l}"), 12),
            (format!("keepalived_authentication_failure_total{l}"), 14),
            (format!("keepalived_advertisements_interval_errors_total{l}"), 15),
            (format!("keepalived_address_list_errors_total{l}"), 16),
            (format!("keepalived_authentication_invalid_total{l}"), 0),
            (format!("keepalived_authentication_mismatch_total{l}"), 0),
            (r("truncated"), 8),
            (r("oversized"), 9),
            (r("checksum"), 10),
            (r("invalid"), 11),
            (r("ttl"), 12),
            (r("version"), 13),
            (r("auth"), 14),
            (r("interval"), 15),
            (r("address_list"), 16),
            (r("unknown_peer"), 17),
            (r("other_vrid"), 7),
        ];
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        for (series, value) in &want {
            let line = format!("{series} {value}");
            assert!(lines.contains(&line.as_str()), "{line} in\n{text}");
        }
        assert_eq!(lines.len(), want.len(), "{text}");
    }

    #[test]
    fn states_follow_the_machine() {
        let c = Counters::default();
        for (state, n) in [
            (State::Initialize, 0),
            (State::Backup, 1),
            (State::Master, 2),
            (State::Fault, 3),
        ] {
            let m = instance_metrics(&instance(), state, 150, &c);
            assert_eq!(m.state.value(), n, "{state:?}");
        }
    }

    #[test]
    fn the_checker_half_maps_health_weight_and_quorum() {
        let cfg = crate::config::parse_str(
            Path::new("k.conf"),
            "virtual_server 192.0.2.10 80 {\n delay_loop 5\n lvs_method NAT\n protocol TCP\n\
             lvs_sched rr\n quorum 5\n\
             real_server 198.51.100.10 8080 {\n weight 3\n TCP_CHECK {\n }\n }\n\
             real_server 198.51.100.11 8080 {\n TCP_CHECK {\n }\n }\n}\n",
        )
        .expect("config");
        let (core, _) = crate::lvs::checker::CheckerCore::new(
            &cfg.virtual_servers,
            &Default::default(),
            std::time::Duration::ZERO,
            1,
        );
        let mut vss = core.virtual_servers().to_vec();
        vss[0].real_servers[1].alive = false;
        let m = checker_metrics(&vss);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, vss[0].name);
        // Live weight 3 + 1 = 4 < quorum 5 at start.
        assert!(!m[0].quorum_up);
        let rs: Vec<(String, u16, bool, i64)> = m[0]
            .real_servers
            .iter()
            .map(|r| (r.address.to_string(), r.port, r.up, r.weight))
            .collect();
        assert_eq!(
            rs,
            [
                ("198.51.100.10".to_string(), 8080, true, 3),
                ("198.51.100.11".to_string(), 8080, false, 1)
            ]
        );
    }

    /// The writer never waits: while a reader holds the lock, a publish hands the
    /// snapshot back at once; afterwards it goes through.
    #[test]
    fn publishing_never_waits_for_a_reader() {
        let shared = SharedSnapshot::default();
        let mut s = Snapshot::default();
        s.scripts.push(ScriptMetrics::new("chk", false));
        let guard = shared.0.lock().expect("lock");
        let back = shared.publish(s.clone());
        assert_eq!(back, Err(s.clone()));
        drop(guard);
        assert_eq!(shared.publish(s.clone()), Ok(()));
        assert_eq!(*shared.current(), s);
    }

    /// A reader that panicked while holding the lock leaves it poisoned: the writer
    /// still publishes and readers still read.
    #[test]
    fn a_poisoned_lock_does_not_stop_publishing() {
        let shared = SharedSnapshot::default();
        let s2 = shared.clone();
        let _ = std::thread::spawn(move || {
            let _g = s2.0.lock().expect("lock");
            panic!("a scrape failed");
        })
        .join();
        assert!(shared.0.is_poisoned());
        let mut s = Snapshot::default();
        s.scripts.push(ScriptMetrics::new("chk", true));
        assert_eq!(shared.publish(s.clone()), Ok(()));
        assert_eq!(*shared.current(), s);
    }

    /// A panic while serving is caught and the endpoint serves again; a normal end
    /// ends it.
    #[test]
    fn a_panic_while_serving_does_not_end_the_endpoint() {
        let runs = AtomicU32::new(0);
        serve_forever(
            || {
                if runs.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("scrape failed");
                }
            },
            Logger::new(true),
        );
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn the_heartbeat_is_healthy_while_the_loop_turns_and_names_the_delay_when_not() {
        let h = Heartbeat::default();
        h.beat();
        let ok = h.check(Duration::from_secs(10)).expect("just beaten");
        assert!(
            ok.starts_with("ok: the VRRP loop ran ") && ok.ends_with(" s ago"),
            "{ok}"
        );
        std::thread::sleep(Duration::from_millis(30));
        let stale = h.check(Duration::from_millis(10)).expect_err("late");
        assert!(
            stale.starts_with("unhealthy: the VRRP loop has not run for ")
                && stale.ends_with(" s (limit 0.0 s)"),
            "{stale}"
        );
        assert!(h.age() >= Duration::from_millis(30));
        // A clone (the metrics thread's) sees the loop's beats.
        let reader = h.clone();
        h.beat();
        assert!(reader.age() < Duration::from_millis(30));
    }
}
