//! The checker core with simulated time: keepalived's rules one by one.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use super::checker::{Action, CheckerCore, Event, Outcome, ProbeRequest};
use super::table::desired;
use crate::config::parse_for_test;

const S: Duration = Duration::from_secs(1);

struct Sim {
    core: CheckerCore,
    groups: Vec<crate::config::lvs::VirtualServerGroup>,
    now: Duration,
    /// Every action so far.
    log: Vec<Action>,
    /// What each server's probes answer until told otherwise (default: up).
    standing: std::collections::HashMap<SocketAddr, Outcome>,
}

impl Sim {
    fn new(text: &str) -> Sim {
        Sim::with_local(text, &[])
    }

    fn with_local(text: &str, local: &[&str]) -> Sim {
        let cfg = parse_for_test(text);
        let local: HashSet<_> = local.iter().map(|a| a.parse().expect("addr")).collect();
        let (core, log) = CheckerCore::new(&cfg.virtual_servers, &local, Duration::ZERO, 7);
        Sim {
            core,
            groups: cfg.virtual_server_groups,
            now: Duration::ZERO,
            log,
            standing: Default::default(),
        }
    }

    /// Advances to the next deadline and returns the probes started.
    fn next(&mut self) -> Vec<ProbeRequest> {
        self.now = self.core.next_deadline().expect("a checker is due");
        self.feed(Event::Tick)
            .into_iter()
            .filter_map(|a| match a {
                Action::Probe(p) => Some(*p),
                _ => None,
            })
            .collect()
    }

    fn feed(&mut self, e: Event) -> Vec<Action> {
        let out = self.core.handle(self.now, e);
        self.log.extend(out.clone());
        out
    }

    fn answer(&mut self, p: &ProbeRequest, outcome: Outcome) -> Vec<Action> {
        self.feed(Event::Result { id: p.id, outcome })
    }

    /// Probes `addr`'s checker once (advancing time) and answers; from now on its
    /// probes answer `outcome`, the others what they answered last.
    fn check(&mut self, addr: &str, outcome: Outcome) -> Vec<Action> {
        let want: SocketAddr = addr.parse().expect("addr");
        self.standing.insert(want, outcome.clone());
        loop {
            let probes = self.next();
            let mut found = None;
            for p in probes {
                if p.target == want && found.is_none() {
                    found = Some(p);
                } else {
                    let o = self
                        .standing
                        .get(&p.target)
                        .cloned()
                        .unwrap_or(match p.kind {
                            crate::config::lvs::CheckKind::Misc(_) => Outcome::Exit(0),
                            _ => Outcome::Up,
                        });
                    self.answer(&p, o);
                }
            }
            if let Some(p) = found {
                return self.answer(&p, outcome);
            }
        }
    }

    /// (address, weight) of the first virtual service's destinations.
    fn table(&self) -> Vec<(String, u32)> {
        let (t, _) = desired(&self.core, &self.groups);
        t.entries[0]
            .destinations
            .iter()
            .map(|d| (d.socket_addr().to_string(), d.weight))
            .collect()
    }

    fn notifies(&self) -> Vec<String> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::Notify(v) => Some(v.join(" ")),
                _ => None,
            })
            .collect()
    }
}

fn down() -> Outcome {
    Outcome::Down("connection refused".into())
}

fn w(v: &[(&str, u32)]) -> Vec<(String, u32)> {
    v.iter().map(|(a, w)| (a.to_string(), *w)).collect()
}

const TWO: &str = "virtual_server 192.0.2.10 80 {
    protocol TCP
    lvs_sched wrr
    lvs_method NAT
    delay_loop 10
    warmup 0
    real_server 198.51.100.10 80 {
        weight 3
        notify_up \"/up rs0\"
        notify_down \"/down rs0\"
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 198.51.100.11 80 {
        TCP_CHECK {
            retry 0
        }
    }
}
";

#[test]
fn starts_up_and_first_check_after_the_bootstrap_delay() {
    let mut s = Sim::new(TWO);
    assert!(s.log.contains(&Action::TableChanged));
    assert_eq!(
        s.table(),
        w(&[("198.51.100.10:80", 3), ("198.51.100.11:80", 1)])
    );
    let probes = s.next();
    assert_eq!(s.now, S);
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[0].timeout, 2 * S);
    assert_eq!(probes[1].timeout, 5 * S, "default connect_timeout");
    // No second probe while one is in flight.
    assert_eq!(s.core.next_deadline(), None);
    s.answer(&probes[0], Outcome::Up);
    assert_eq!(
        s.core.next_deadline(),
        Some(11 * S),
        "delay_loop after a success"
    );
    assert!(
        s.notifies().is_empty(),
        "a first success without alpha notifies nothing"
    );
}

#[test]
fn retry_then_down_then_up_with_notifies() {
    let mut s = Sim::new(TWO);
    // retry 1 (TCP_CHECK's default): the first failure retries after 1 s.
    let out = s.check("198.51.100.10:80", down());
    assert!(!out.contains(&Action::TableChanged));
    assert_eq!(s.table().len(), 2);
    let t = s.now;
    let p = s.next();
    assert_eq!(s.now - t, S, "delay_before_retry default 1 s");
    let out = s.answer(&p[0], down());
    assert!(out.contains(&Action::TableChanged));
    assert_eq!(s.table(), w(&[("198.51.100.11:80", 1)]));
    assert_eq!(s.notifies(), ["/down rs0"]);
    // Down: the next check after the delay_loop; success brings it back.
    let t = s.now;
    s.check("198.51.100.10:80", Outcome::Up);
    assert_eq!(s.now - t, 10 * S);
    assert_eq!(
        s.table(),
        w(&[("198.51.100.10:80", 3), ("198.51.100.11:80", 1)])
    );
    assert_eq!(s.notifies(), ["/down rs0", "/up rs0"]);
}

#[test]
fn retry_zero_goes_down_at_the_first_failure_and_a_success_resets_the_count() {
    let mut s = Sim::new(TWO);
    s.check("198.51.100.11:80", down());
    assert_eq!(s.table(), w(&[("198.51.100.10:80", 3)]));
    let mut s = Sim::new(TWO);
    s.check("198.51.100.10:80", down());
    s.check("198.51.100.10:80", Outcome::Up);
    s.check("198.51.100.10:80", down());
    assert_eq!(
        s.table().len(),
        2,
        "one failure after a success is a retry again"
    );
}

#[test]
fn a_stale_result_is_ignored() {
    let mut s = Sim::new(TWO);
    let p = s.next();
    let mut stale = p[1].clone();
    stale.id += 100;
    assert!(s.answer(&stale, down()).is_empty());
    assert_eq!(s.table().len(), 2);
}

const ALPHA_INHIBIT: &str = "virtual_server 192.0.2.10 80 {
    protocol TCP
    lvs_sched wrr
    lvs_method NAT
    delay_loop 5
    warmup 0
    alpha
    real_server 198.51.100.10 80 {
        notify_up /up
        notify_down /down
        TCP_CHECK {
            retry 0
        }
    }
    real_server 198.51.100.11 80 {
        inhibit_on_failure
        TCP_CHECK {
            retry 0
        }
    }
}
";

#[test]
fn alpha_starts_down_and_inhibit_keeps_weight_zero() {
    let mut s = Sim::new(ALPHA_INHIBIT);
    assert_eq!(s.table(), w(&[("198.51.100.11:80", 0)]));
    s.check("198.51.100.10:80", Outcome::Up);
    assert_eq!(s.notifies(), ["/up"]);
    s.check("198.51.100.11:80", Outcome::Up);
    assert_eq!(
        s.table(),
        w(&[("198.51.100.10:80", 1), ("198.51.100.11:80", 1)])
    );
    s.check("198.51.100.11:80", down());
    assert_eq!(
        s.table(),
        w(&[("198.51.100.10:80", 1), ("198.51.100.11:80", 0)])
    );
    // alpha: a first failure notifies down though nothing changed.
    let mut s = Sim::new(ALPHA_INHIBIT);
    s.check("198.51.100.10:80", down());
    assert_eq!(s.notifies(), ["/down"]);
}

const QUORUM: &str = "virtual_server 192.0.2.10 80 {
    protocol TCP
    lvs_sched wrr
    lvs_method NAT
    delay_loop 5
    warmup 0
    quorum 2
    hysteresis 1
    quorum_up /qup
    quorum_down /qdown
    sorry_server 198.51.100.99 80
    real_server 198.51.100.10 80 {
        TCP_CHECK {
            retry 0
        }
    }
    real_server 198.51.100.11 80 {
        inhibit_on_failure
        TCP_CHECK {
            retry 0
        }
    }
    real_server 198.51.100.12 80 {
        TCP_CHECK {
            retry 0
        }
    }
}
";

#[test]
fn quorum_with_hysteresis_and_the_sorry_server() {
    let mut s = Sim::new(QUORUM);
    s.check("198.51.100.10:80", down());
    s.check("198.51.100.11:80", down());
    // Sum 1 >= quorum - hysteresis (1): still up.
    assert_eq!(
        s.table(),
        w(&[("198.51.100.11:80", 0), ("198.51.100.12:80", 1)])
    );
    s.check("198.51.100.12:80", down());
    // Lost: the sorry server in, inhibited real servers stay at 0.
    assert_eq!(
        s.table(),
        w(&[("198.51.100.11:80", 0), ("198.51.100.99:80", 1)])
    );
    assert_eq!(s.notifies(), ["/qdown"]);
    s.check("198.51.100.10:80", Outcome::Up);
    s.check("198.51.100.11:80", Outcome::Up);
    // Sum 2 < quorum + hysteresis (3): still the sorry server; alive ones stay out.
    assert_eq!(
        s.table(),
        w(&[("198.51.100.11:80", 0), ("198.51.100.99:80", 1)])
    );
    s.check("198.51.100.12:80", Outcome::Up);
    assert_eq!(
        s.table(),
        w(&[
            ("198.51.100.10:80", 1),
            ("198.51.100.11:80", 1),
            ("198.51.100.12:80", 1)
        ])
    );
    assert_eq!(s.notifies(), ["/qdown", "/qup"]);
}

#[test]
fn quorum_down_at_start_puts_the_sorry_server_in() {
    let s = Sim::new(&QUORUM.replace("warmup 0", "warmup 0\n    alpha"));
    assert_eq!(
        s.table(),
        w(&[("198.51.100.11:80", 0), ("198.51.100.99:80", 1)])
    );
}

const MISC: &str = "virtual_server 192.0.2.10 80 {
    protocol TCP
    lvs_sched wrr
    lvs_method NAT
    delay_loop 5
    warmup 0
    real_server 198.51.100.10 80 {
        weight 4
        MISC_CHECK {
            misc_path \"/check rs0\"
            misc_dynamic
        }
    }
}
";

#[test]
fn misc_dynamic_sets_the_weight_and_exit_1_is_down() {
    let mut s = Sim::new(MISC);
    let p = s.next();
    assert_eq!(
        p[0].timeout,
        5 * S,
        "misc_timeout defaults to the delay_loop"
    );
    s.answer(&p[0], Outcome::Exit(7));
    assert_eq!(s.table(), w(&[("198.51.100.10:80", 5)]));
    let p = s.next();
    s.answer(&p[0], Outcome::Exit(1));
    assert_eq!(s.table(), w(&[]), "retry 0 by default: down at once");
    let p = s.next();
    s.answer(&p[0], Outcome::Exit(0));
    assert_eq!(
        s.table(),
        w(&[("198.51.100.10:80", 4)]),
        "exit 0: the configured weight"
    );
    let p = s.next();
    s.answer(&p[0], Outcome::Exit(2));
    assert_eq!(
        s.table(),
        w(&[("198.51.100.10:80", 0)]),
        "exit 2: weight 0, still in"
    );
    let p = s.next();
    s.answer(&p[0], Outcome::Down("timed out".into()));
    assert_eq!(s.table(), w(&[]), "a killed program is a failure");
    // Without misc_dynamic, 7 is a failure.
    let mut s = Sim::new(&MISC.replace("misc_dynamic", ""));
    let p = s.next();
    s.answer(&p[0], Outcome::Exit(7));
    assert_eq!(s.table(), w(&[]));
}

#[test]
fn warmup_spreads_the_first_checks_within_the_warmup() {
    let text = TWO.replace("warmup 0", "warmup 4");
    for seed in 1..50u64 {
        let cfg = parse_for_test(&text);
        let (core, _) =
            CheckerCore::new(&cfg.virtual_servers, &HashSet::new(), Duration::ZERO, seed);
        let d = core.next_deadline().expect("due");
        assert!(d >= S && d <= 5 * S, "{d:?}");
    }
    // Default warmup: the delay_loop.
    let cfg = parse_for_test(&TWO.replace("warmup 0", ""));
    let (core, _) = CheckerCore::new(&cfg.virtual_servers, &HashSet::new(), Duration::ZERO, 3);
    let p = core.virtual_servers()[0].real_servers[0].checkers[0].params;
    assert_eq!(p.warmup, 10 * S);
}

#[test]
fn ha_suspend_checks_only_while_the_address_is_here() {
    let text = TWO.replace("warmup 0", "warmup 0\n    ha_suspend");
    let mut s = Sim::new(&text);
    assert_eq!(s.core.next_deadline(), None);
    assert!(s.core.virtual_servers()[0].suspended);
    s.now = 3 * S;
    let out = s.feed(Event::Address {
        addr: "192.0.2.10".parse().expect("a"),
        present: true,
    });
    assert_eq!(
        out.iter().filter(|a| matches!(a, Action::Probe(_))).count(),
        2
    );
    let out = s.feed(Event::Address {
        addr: "192.0.2.10".parse().expect("a"),
        present: false,
    });
    assert!(out.iter().all(|a| !matches!(a, Action::Probe(_))));
    assert_eq!(s.core.next_deadline(), None);
    // Present from the start: checks run.
    let s = Sim::with_local(&text, &["192.0.2.10"]);
    assert_eq!(s.core.next_deadline(), Some(S));
}

#[test]
fn reload_keeps_the_health_of_unchanged_real_servers() {
    let mut s = Sim::new(TWO);
    s.check("198.51.100.11:80", down());
    assert_eq!(s.table(), w(&[("198.51.100.10:80", 3)]));
    // Same file: the failed server stays out (keepalived#373, #608, #1163, #1720).
    let cfg = parse_for_test(TWO);
    s.core.reload(&cfg.virtual_servers, s.now);
    assert_eq!(s.table(), w(&[("198.51.100.10:80", 3)]));
    // Its weight changes while it is down: still down, and up with the new weight.
    let text = TWO
        .replace(
            "real_server 198.51.100.11 80 {",
            "real_server 198.51.100.11 80 {\n weight 7",
        )
        .replace("weight 3", "weight 2")
        + "";
    let text = text.replace(
        "    real_server 198.51.100.10 80 {",
        "    real_server 198.51.100.12 80 {\n    }\n    real_server 198.51.100.10 80 {",
    );
    let cfg = parse_for_test(&text);
    let out = s.core.reload(&cfg.virtual_servers, s.now);
    assert!(out.contains(&Action::TableChanged));
    assert_eq!(
        s.table(),
        w(&[("198.51.100.12:80", 1), ("198.51.100.10:80", 2)])
    );
    s.check("198.51.100.11:80", Outcome::Up);
    assert_eq!(
        s.table(),
        w(&[
            ("198.51.100.12:80", 1),
            ("198.51.100.10:80", 2),
            ("198.51.100.11:80", 7)
        ])
    );
    // Removing one: gone; a changed checker starts afresh (up).
    let cfg = parse_for_test(&TWO.replace("retry 0", "retry 2"));
    s.core.reload(&cfg.virtual_servers, s.now);
    assert_eq!(
        s.table(),
        w(&[("198.51.100.10:80", 3), ("198.51.100.11:80", 1)])
    );
}

#[test]
fn omega_runs_notify_down_and_quorum_down_when_removed_or_stopping() {
    let text = QUORUM.replace("quorum 2", "quorum 1\n    omega").replace(
        "real_server 198.51.100.10 80 {",
        "real_server 198.51.100.10 80 {\n notify_down /rs-down",
    );
    let s = Sim::new(&text);
    let notifies: Vec<_> = s
        .core
        .shutdown()
        .into_iter()
        .filter_map(|a| match a {
            Action::Notify(v) => Some(v.join(" ")),
            _ => None,
        })
        .collect();
    assert_eq!(notifies, ["/rs-down", "/qdown"]);
    let mut s = Sim::new(&text);
    let out = s.core.reload(&[], s.now);
    assert_eq!(
        out.iter()
            .filter(|a| matches!(a, Action::Notify(_)))
            .count(),
        2
    );
    assert!(
        Sim::new(QUORUM).core.shutdown().is_empty(),
        "no omega, no notifies"
    );
}

#[test]
fn table_scope_is_exactly_the_configured_keys() {
    let s = Sim::new(
        "virtual_server_group G {\n 192.0.2.20-21 80\n fwmark 7\n}\nvirtual_server group G {\n lvs_sched rr\n protocol TCP\n lvs_method DR\n real_server 198.51.100.10 80 {\n }\n}\nvirtual_server fwmark 9 {\n lvs_sched rr\n lvs_method DR\n persistence_timeout 30\n real_server 198.51.100.11 0 {\n }\n}\n",
    );
    let (t, scope) = desired(&s.core, &s.groups);
    let keys: Vec<String> = t
        .entries
        .iter()
        .map(|e| format!("{:?}", e.service.key))
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for e in &t.entries {
        assert!(scope.contains(&e.service.key));
    }
    let other = ipvs_core::ServiceKey::tcp("192.0.2.22:80".parse().expect("a"));
    assert!(!scope.contains(&other));
    assert_eq!(t.entries[3].service.timeout, 30);
}

#[test]
fn reload_changing_the_scheduler_keeps_health_and_the_service_key() {
    let mut s = Sim::new(TWO);
    s.check("198.51.100.11:80", down());
    let (before, _) = desired(&s.core, &s.groups);
    let cfg = parse_for_test(&TWO.replace(
        "lvs_sched wrr",
        "lvs_sched wlc\n    persistence_timeout 120",
    ));
    let out = s.core.reload(&cfg.virtual_servers, s.now);
    assert!(out.contains(&Action::TableChanged));
    // Same key (so ipvs-core's apply edits the service), new settings, the failed
    // server still out.
    let (after, _) = desired(&s.core, &s.groups);
    assert_eq!(after.entries[0].service.key, before.entries[0].service.key);
    assert_eq!(format!("{}", after.entries[0].service.scheduler), "wlc");
    assert_eq!(after.entries[0].service.timeout, 120);
    assert_eq!(s.table(), w(&[("198.51.100.10:80", 3)]));
}
