//! Preemption, `nopreempt` and `preempt_delay`, ours and keepalived side by side.

use std::time::{Duration, Instant};

use super::harness::{holders, prerequisites, Daemon, Inst, Node, Segment};
use super::{expect_holder, ELECTION, VIP};

/// One preemption scenario: a low-priority master of one implementation, then a
/// high-priority node of the other joins with `extra` settings.
struct Preempt {
    _seg: Segment,
    low: Node,
    high: Node,
    joined: Option<Instant>,
    took: Option<Duration>,
}

fn preempt_scenario(high_daemon: Daemon, extra: &[&str], host: u8) -> Preempt {
    let seg = Segment::new();
    let (low_daemon, lname, hname) = match high_daemon {
        Daemon::Ours => (Daemon::Keepalived, "keepalived-100", "ours-200"),
        Daemon::Keepalived => (Daemon::Ours, "ours-100", "keepalived-200"),
    };
    let mut low = seg.node(lname, host);
    let high = seg.node(&format!("{hname} {}", extra.join(" ")), host + 1);
    low.start(low_daemon, &Inst::v2(100).conf());
    Preempt {
        _seg: seg,
        low,
        high,
        joined: None,
        took: None,
    }
}

#[test]
fn preemption_nopreempt_and_preempt_delay_match_keepalived() {
    if !prerequisites("preemption_nopreempt_and_preempt_delay_match_keepalived") {
        return;
    }
    let variants: [&[&str]; 3] = [&[], &["nopreempt"], &["preempt_delay 3"]];
    let mut all = Vec::new();
    for (i, extra) in variants.iter().enumerate() {
        for (j, d) in [Daemon::Ours, Daemon::Keepalived].into_iter().enumerate() {
            all.push((
                d,
                *extra,
                preempt_scenario(d, extra, 40 + (i * 4 + j * 2) as u8),
            ));
        }
    }
    for (_, _, s) in &all {
        expect_holder(&[&s.low], VIP, &s.low.name, ELECTION);
    }
    for (d, extra, s) in &mut all {
        let mut c = Inst::v2(200);
        c.extra = extra.iter().map(|e| e.to_string()).collect();
        s.high.start(*d, &c.conf());
        s.joined = Some(Instant::now());
    }
    // Watch every scenario for 10 s.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        for (_, _, s) in &mut all {
            if s.took.is_none() && s.high.has_vip(VIP) {
                s.took = s.joined.map(|j| j.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut report = String::new();
    for (d, extra, s) in &all {
        report += &format!(
            "{d:?} high priority with {extra:?}: took over after {:?}\n",
            s.took
        );
    }
    eprintln!("PREEMPTION\n{report}");
    for pair in all.chunks(2) {
        let (ours, theirs) = (&pair[0], &pair[1]);
        let extra = ours.1;
        match (ours.2.took, theirs.2.took) {
            (None, None) => assert_eq!(extra, ["nopreempt"], "nobody preempted:\n{report}"),
            (Some(a), Some(b)) => {
                assert_ne!(extra, ["nopreempt"], "nopreempt preempted:\n{report}");
                // Measured from each daemon's start, so each includes its own
                // start-up, which a loaded machine stretches (keepalived forks a
                // VRRP child): the tolerance grows with the slower time.
                let tolerance = Duration::from_millis(1200).max(a.max(b) / 4);
                assert!(
                    a.abs_diff(b) < tolerance,
                    "ours and keepalived differ by more than {tolerance:?}:\n{report}"
                );
                if extra == ["preempt_delay 3"] {
                    assert!(
                        a > Duration::from_secs(3),
                        "preempt_delay not honoured:\n{report}"
                    );
                }
            }
            _ => panic!("ours and keepalived disagree:\n{report}"),
        }
    }
    // After preemption exactly one holder; with nopreempt the low one keeps the VIP.
    for (_, extra, s) in &all {
        let want = if *extra == ["nopreempt"] {
            &s.low.name
        } else {
            &s.high.name
        };
        assert_eq!(
            holders(&[&s.low, &s.high], VIP),
            [want.as_str()],
            "{report}"
        );
    }
}
