//! Exhaustive tests of the state machine with simulated time.
use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn params(version: Version, priority: u8) -> Params {
    Params {
        version,
        priority,
        advert_int_cs: 100,
        preempt: true,
        preempt_delay: Duration::ZERO,
        primary_addr: "192.0.2.2".parse().expect("addr"),
    }
}

fn peer(last: u8) -> IpAddr {
    IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, last))
}

fn adv(src: IpAddr, priority: u8) -> Input {
    Input::Advert {
        src,
        priority,
        interval_cs: 100,
    }
}

/// Advances simulated time in 1 ms steps until `until`, collecting actions with times.
fn run_until(m: &mut Machine, from: Duration, until: Duration) -> Vec<(Duration, Action)> {
    let mut out = Vec::new();
    let mut t = from;
    while t <= until {
        if m.next_deadline().is_some_and(|d| d <= t) {
            out.extend(m.handle(t, Input::Tick).into_iter().map(|a| (t, a)));
        }
        t += ms(1);
    }
    out
}

fn became_master_at(actions: &[(Duration, Action)]) -> Option<Duration> {
    actions
        .iter()
        .find(|(_, a)| {
            matches!(
                a,
                Action::Transition {
                    to: State::Master,
                    ..
                }
            )
        })
        .map(|(t, _)| *t)
}

#[test]
fn formulas_v2_and_v3() {
    let m = Machine::new(params(Version::V2, 100));
    // (256-100)/256 s = 609.375 ms
    assert_eq!(m.skew_time(), Duration::from_micros(609_375));
    assert_eq!(m.master_down_interval(), Duration::from_micros(3_609_375));
    let mut p = params(Version::V3, 100);
    p.advert_int_cs = 50;
    let m = Machine::new(p);
    // (256-100)*50cs/256 = 304.6875 ms
    assert_eq!(m.skew_time(), Duration::from_micros(304_687));
    assert_eq!(
        m.master_down_interval(),
        ms(1500) + Duration::from_micros(304_687)
    );
    let m = Machine::new(params(Version::V2, 254));
    assert_eq!(m.skew_time(), Duration::from_micros(7_812));
}

#[test]
fn owner_becomes_master_at_once() {
    let mut m = Machine::new(params(Version::V2, 255));
    let a = m.handle(ms(0), Input::Startup);
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 255 },
            Action::AddVips,
            Action::Announce,
            Action::Transition {
                from: State::Initialize,
                to: State::Master
            },
        ]
    );
}

#[test]
fn alone_backup_takes_over_after_master_down_interval() {
    for version in [Version::V2, Version::V3] {
        let mut m = Machine::new(params(version, 100));
        let a = m.handle(ms(0), Input::Startup);
        assert_eq!(
            a,
            vec![Action::Transition {
                from: State::Initialize,
                to: State::Backup
            }]
        );
        let acts = run_until(&mut m, ms(0), ms(5000));
        assert_eq!(became_master_at(&acts), Some(ms(3610)), "{version:?}");
        // Then adverts every second.
        let sends: Vec<_> = acts
            .iter()
            .filter(|(_, a)| matches!(a, Action::SendAdvert { priority: 100 }))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(sends, vec![ms(3610), ms(4610)]);
    }
}

#[test]
fn backup_stays_while_higher_master_advertises_then_takes_over() {
    let mut m = Machine::new(params(Version::V2, 100));
    m.handle(ms(0), Input::Startup);
    let mut t = ms(0);
    for _ in 0..10 {
        t += ms(1000);
        assert!(m.handle(t, Input::Tick).is_empty());
        m.handle(t, adv(peer(1), 150));
    }
    assert_eq!(m.state(), State::Backup);
    assert_eq!(m.master_addr(), Some(peer(1)));
    // Master dies after its advert at t: takeover at t + MDI, not before.
    let acts = run_until(&mut m, t, t + ms(5000));
    assert_eq!(became_master_at(&acts), Some(t + ms(3610)));
}

#[test]
fn priority_zero_makes_backup_take_over_after_skew() {
    let mut m = Machine::new(params(Version::V2, 100));
    m.handle(ms(0), Input::Startup);
    m.handle(ms(500), adv(peer(1), 150));
    m.handle(ms(1000), adv(peer(1), 0));
    let acts = run_until(&mut m, ms(1000), ms(3000));
    assert_eq!(became_master_at(&acts), Some(ms(1610)));
}

#[test]
fn preempt_lower_master_is_ignored_so_backup_takes_over() {
    let mut m = Machine::new(params(Version::V2, 100));
    m.handle(ms(0), Input::Startup);
    let mut t = ms(0);
    let mut master_at = None;
    for _ in 0..6 {
        let acts = run_until(&mut m, t, t + ms(999));
        master_at = master_at.or(became_master_at(&acts));
        t += ms(1000);
        if m.state() == State::Backup {
            m.handle(t, adv(peer(1), 50));
        }
    }
    assert_eq!(
        master_at,
        Some(ms(3610)),
        "lower adverts do not reset the down timer"
    );
}

#[test]
fn nopreempt_backup_stays_behind_lower_master() {
    let mut p = params(Version::V2, 100);
    p.preempt = false;
    let mut m = Machine::new(p);
    m.handle(ms(0), Input::Startup);
    for i in 1..20 {
        m.handle(ms(i * 1000), adv(peer(1), 50));
        assert!(run_until(&mut m, ms(i * 1000), ms(i * 1000 + 999)).is_empty());
    }
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn preempt_delay_holds_preemption_back() {
    let mut p = params(Version::V2, 100);
    p.preempt_delay = ms(10_000);
    let mut m = Machine::new(p);
    m.handle(ms(0), Input::Startup);
    let mut t = ms(0);
    let mut master_at = None;
    while t < ms(20_000) && master_at.is_none() {
        t += ms(1000);
        if m.state() == State::Backup {
            m.handle(t, adv(peer(1), 50));
        }
        master_at = became_master_at(&run_until(&mut m, t, t + ms(999)));
    }
    // Adverts are honoured until 10 s after start-up; the advert at 10 s is the first
    // ignored one, so the down timer set at 9 s fires at 9 s + MDI.
    assert_eq!(master_at, Some(ms(9000 + 3610)));
}

#[test]
fn master_yields_to_higher_priority_and_to_higher_address_on_tie() {
    let mut m = Machine::new(params(Version::V2, 255));
    m.handle(ms(0), Input::Startup);
    // Owner never yields to less than 255; answers with an advert.
    assert_eq!(
        m.handle(ms(10), adv(peer(9), 200)),
        vec![Action::SendAdvert { priority: 255 }]
    );
    let mut m = Machine::new(params(Version::V2, 100));
    m.handle(ms(0), Input::Startup);
    run_until(&mut m, ms(0), ms(4000));
    assert_eq!(m.state(), State::Master);
    // Tie, lower address (192.0.2.1 < 192.0.2.2): we stay and assert.
    assert_eq!(
        m.handle(ms(4001), adv(peer(1), 100)),
        vec![Action::SendAdvert { priority: 100 }]
    );
    // Tie, higher address: we yield.
    let a = m.handle(ms(4002), adv(peer(3), 100));
    assert_eq!(
        a,
        vec![
            Action::RemoveVips,
            Action::Transition {
                from: State::Master,
                to: State::Backup
            }
        ]
    );
    assert_eq!(m.master_addr(), Some(peer(3)));
}

#[test]
fn master_answers_resigning_peer_and_higher_priority_wins() {
    let mut m = Machine::new(params(Version::V2, 100));
    m.handle(ms(0), Input::Startup);
    run_until(&mut m, ms(0), ms(4000));
    assert_eq!(
        m.handle(ms(4100), adv(peer(1), 0)),
        vec![Action::SendAdvert { priority: 100 }]
    );
    let a = m.handle(ms(4200), adv(peer(1), 101));
    assert_eq!(a[0], Action::RemoveVips);
    assert_eq!(m.state(), State::Backup);
}

#[test]
fn shutdown_resigns_with_priority_zero() {
    let mut m = Machine::new(params(Version::V3, 100));
    m.handle(ms(0), Input::Startup);
    run_until(&mut m, ms(0), ms(4000));
    let a = m.handle(ms(4001), Input::Shutdown);
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::Transition {
                from: State::Master,
                to: State::Initialize
            },
        ]
    );
    assert_eq!(m.next_deadline(), None);
    // A backup shutting down sends nothing.
    let mut b = Machine::new(params(Version::V3, 100));
    b.handle(ms(0), Input::Startup);
    assert_eq!(
        b.handle(ms(1), Input::Shutdown),
        vec![Action::Transition {
            from: State::Backup,
            to: State::Initialize
        }]
    );
}

#[test]
fn v3_backup_learns_master_interval() {
    let mut m = Machine::new(params(Version::V3, 100));
    m.handle(ms(0), Input::Startup);
    m.handle(
        ms(100),
        Input::Advert {
            src: peer(1),
            priority: 200,
            interval_cs: 300,
        },
    );
    assert_eq!(m.master_adver_int_cs(), 300);
    // 3 * 3 s + (156 * 3 s / 256) = 9 s + 1.828125 s
    assert_eq!(
        m.master_down_interval(),
        ms(9000) + Duration::from_micros(1_828_125)
    );
    let acts = run_until(&mut m, ms(100), ms(12_000));
    assert_eq!(became_master_at(&acts), Some(ms(100 + 10_829)));
    // v2 does not learn.
    let mut m = Machine::new(params(Version::V2, 100));
    m.handle(ms(0), Input::Startup);
    m.handle(
        ms(100),
        Input::Advert {
            src: peer(1),
            priority: 200,
            interval_cs: 300,
        },
    );
    assert_eq!(m.master_down_interval(), Duration::from_micros(3_609_375));
}

#[test]
fn fault_removes_vips_and_recovery_returns_to_backup() {
    let mut m = Machine::new(params(Version::V2, 100));
    m.handle(ms(0), Input::Startup);
    run_until(&mut m, ms(0), ms(4000));
    let a = m.handle(ms(4001), Input::Fault(true));
    assert_eq!(
        a,
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::Transition {
                from: State::Master,
                to: State::Fault
            },
        ]
    );
    assert!(m.handle(ms(4002), adv(peer(1), 50)).is_empty());
    assert_eq!(m.next_deadline(), None);
    let a = m.handle(ms(5000), Input::Fault(false));
    assert_eq!(
        a,
        vec![Action::Transition {
            from: State::Fault,
            to: State::Backup
        }]
    );
    let acts = run_until(&mut m, ms(5000), ms(9000));
    assert_eq!(became_master_at(&acts), Some(ms(8610)));
    // Fault before start-up: start in Fault.
    let mut f = Machine::new(params(Version::V2, 100));
    f.handle(ms(0), Input::Fault(true));
    assert_eq!(
        f.handle(ms(0), Input::Startup),
        vec![Action::Transition {
            from: State::Initialize,
            to: State::Fault
        }]
    );
}

#[test]
fn priority_change_moves_skew_and_is_clamped() {
    let mut m = Machine::new(params(Version::V2, 100));
    m.handle(ms(0), Input::Priority(0));
    assert_eq!(m.priority(), 1);
    m.handle(ms(0), Input::Priority(250));
    assert_eq!(m.priority(), 250);
    assert_eq!(m.skew_time(), Duration::from_micros(23_437));
    let mut o = Machine::new(params(Version::V2, 255));
    o.handle(ms(0), Input::Priority(200));
    assert_eq!(o.priority(), 255, "the owner's priority is fixed");
}

fn step(
    me: &mut Machine,
    other: &mut Machine,
    addr: IpAddr,
    t: Duration,
    log: &mut Vec<(Duration, IpAddr, State)>,
) {
    if me.next_deadline().is_some_and(|d| d <= t) {
        for act in me.handle(t, Input::Tick) {
            match act {
                Action::SendAdvert { priority } => {
                    for back in other.handle(t, adv(addr, priority)) {
                        if let Action::SendAdvert { priority } = back {
                            me.handle(t, adv(other.params().primary_addr, priority));
                        }
                    }
                }
                Action::Transition { to, .. } => log.push((t, addr, to)),
                _ => {}
            }
        }
    }
}

#[test]
fn master_with_lowered_priority_is_preempted_by_backup() {
    // Two machines talking through a perfect wire: A (100) and B (90, weight +20).
    let pa = params(Version::V2, 100);
    let mut pb = params(Version::V2, 90);
    pb.primary_addr = peer(3);
    let mut a = Machine::new(pa.clone());
    let mut b = Machine::new(pb.clone());
    a.handle(ms(0), Input::Startup);
    b.handle(ms(0), Input::Startup);
    let mut t = ms(0);
    let mut log = Vec::new();
    while t < ms(30_000) {
        if t == ms(10_000) {
            a.handle(t, Input::Priority(80)); // A's track script failed (weight -20)
        }
        step(&mut a, &mut b, pa.primary_addr, t, &mut log);
        step(&mut b, &mut a, pb.primary_addr, t, &mut log);
        t += ms(1);
    }
    assert_eq!(a.state(), State::Backup);
    assert_eq!(b.state(), State::Master);
    let takeover = log
        .iter()
        .find(|(_, who, to)| *who == pb.primary_addr && *to == State::Master);
    let (tb, _, _) = takeover.expect("B took over");
    assert!(
        *tb > ms(10_000) && *tb < ms(14_000),
        "B preempted at {tb:?}"
    );
}

/// A tiny deterministic generator (no dependency needed for a fuzz-style test).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A simulated node: its machine and what the I/O edge would hold.
struct SimNode {
    m: Machine,
    alive: bool,
    vips: bool,
    fault: bool,
}

/// Feeds an input and checks the invariants every action sequence must keep.
fn feed(n: &mut SimNode, t: Duration, input: Input, out: &mut Vec<u8>) {
    let before = n.m.state();
    let acts = n.m.handle(t, input.clone());
    let mut state = before;
    for a in &acts {
        match a {
            Action::AddVips => {
                assert!(!n.vips, "VIPs added twice at {t:?} on {input:?}");
                n.vips = true;
            }
            Action::RemoveVips => {
                assert!(n.vips, "VIPs removed while not held at {t:?}");
                n.vips = false;
            }
            Action::Transition { from, to } => {
                assert_eq!(*from, state, "transition from a state we were not in");
                assert_ne!(from, to);
                state = *to;
            }
            Action::SendAdvert { priority } => {
                if *priority == 0 {
                    assert_eq!(before, State::Master, "only a master resigns");
                } else {
                    assert_eq!(*priority, n.m.priority());
                }
                out.push(*priority);
            }
            Action::Announce => assert!(n.vips, "announce without VIPs"),
        }
    }
    assert_eq!(state, n.m.state());
    assert_eq!(n.vips, n.m.state() == State::Master, "VIPs held iff master");
    let timers = n.m.next_deadline().is_some();
    assert_eq!(
        timers,
        matches!(n.m.state(), State::Master | State::Backup),
        "timers iff running"
    );
    if n.m.state() == State::Master {
        assert!(n
            .m
            .next_deadline()
            .is_some_and(|d| d <= t + ms(u64::from(n.m.params().advert_int_cs) * 10)));
    }
}

/// Delivers `adverts` (sender index, priority) to every other live node, and the
/// answers they provoke, until the wire is quiet.
fn deliver(nodes: &mut [SimNode], t: Duration, mut adverts: Vec<(usize, u8)>) {
    let mut rounds = 0;
    while let Some((from, priority)) = adverts.pop() {
        rounds += 1;
        assert!(rounds < 1000, "advert storm at {t:?}");
        let src = nodes[from].m.params().primary_addr;
        let interval_cs = nodes[from].m.params().advert_int_cs;
        for (i, node) in nodes.iter_mut().enumerate() {
            if i == from || !node.alive {
                continue;
            }
            let mut out = Vec::new();
            feed(
                node,
                t,
                Input::Advert {
                    src,
                    priority,
                    interval_cs,
                },
                &mut out,
            );
            adverts.extend(out.into_iter().map(|p| (i, p)));
        }
    }
}

#[test]
fn random_groups_converge_on_the_highest_priority() {
    let mut rng = Lcg(0x5eed);
    let mut checks = 0u64;
    let mut events = 0u64;
    for scenario in 0..40 {
        let n = 2 + rng.next(4) as usize;
        let version = if rng.next(2) == 0 {
            Version::V2
        } else {
            Version::V3
        };
        let mut nodes: Vec<SimNode> = (0..n)
            .map(|i| {
                let mut p = params(version, 1 + rng.next(254) as u8);
                p.primary_addr = peer(10 + i as u8);
                SimNode {
                    m: Machine::new(p),
                    alive: false,
                    vips: false,
                    fault: false,
                }
            })
            .collect();
        let mut t = Duration::ZERO;
        for node in nodes.iter_mut() {
            node.alive = true;
            feed(node, t, Input::Startup, &mut Vec::new());
        }
        let mut quiet_since = t;
        while t < ms(300_000) {
            t += ms(10);
            // Now and then something happens to one node.
            if rng.next(1500) == 0 {
                events += 1;
                quiet_since = t;
                let i = rng.next(n as u64) as usize;
                let mut out = Vec::new();
                match rng.next(5) {
                    0 if nodes[i].alive => {
                        feed(&mut nodes[i], t, Input::Shutdown, &mut out);
                        nodes[i].alive = false;
                    }
                    1 if nodes[i].alive => {
                        // Crash: no resignation; the edge loses its VIPs with the node.
                        nodes[i].alive = false;
                        let p = nodes[i].m.params().clone();
                        nodes[i] = SimNode {
                            m: Machine::new(p),
                            alive: false,
                            vips: false,
                            fault: false,
                        };
                    }
                    0 | 1 => {
                        nodes[i].alive = true;
                        let f = nodes[i].fault;
                        feed(&mut nodes[i], t, Input::Fault(f), &mut out);
                        feed(&mut nodes[i], t, Input::Startup, &mut out);
                    }
                    2 if nodes[i].alive => {
                        let p = 1 + rng.next(254) as u8;
                        feed(&mut nodes[i], t, Input::Priority(p), &mut out);
                    }
                    3 => {
                        nodes[i].fault = !nodes[i].fault;
                        let f = nodes[i].fault;
                        feed(&mut nodes[i], t, Input::Fault(f), &mut out);
                    }
                    _ => {}
                }
                let sent = out.into_iter().map(|p| (i, p)).collect();
                deliver(&mut nodes, t, sent);
            }
            for i in 0..n {
                if nodes[i].alive && nodes[i].m.next_deadline().is_some_and(|d| d <= t) {
                    let mut out = Vec::new();
                    feed(&mut nodes[i], t, Input::Tick, &mut out);
                    let sent = out.into_iter().map(|p| (i, p)).collect();
                    deliver(&mut nodes, t, sent);
                }
            }
            // After 10 quiet seconds (more than any Master_Down_Interval here, plus a
            // preemption) exactly one eligible node is master, with the top priority.
            if t - quiet_since > ms(10_000) {
                let eligible: Vec<&SimNode> = nodes
                    .iter()
                    .filter(|x| x.alive && x.m.state() != State::Fault)
                    .collect();
                let masters: Vec<&&SimNode> = eligible
                    .iter()
                    .filter(|x| x.m.state() == State::Master)
                    .collect();
                checks += 1;
                if eligible.is_empty() {
                    assert!(masters.is_empty());
                } else {
                    let top = eligible.iter().map(|x| x.m.priority()).max().unwrap_or(0);
                    assert_eq!(
                        masters.len(),
                        1,
                        "scenario {scenario} at {t:?}: {} masters",
                        masters.len()
                    );
                    assert_eq!(masters[0].m.priority(), top, "scenario {scenario} at {t:?}");
                }
            }
        }
    }
    // The run must have exercised both the events and the steady-state check.
    assert!(
        events > 500 && checks > 300_000,
        "events {events}, checks {checks}"
    );
}
