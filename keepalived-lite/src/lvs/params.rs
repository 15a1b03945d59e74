//! A checker's settings after inheritance (pure).

use std::time::Duration;

use serde::Serialize;

use crate::config::lvs::{
    CheckKind, Checker, RealServer, VirtualServer, DEFAULT_CONNECT_TIMEOUT, DEFAULT_DELAY_LOOP,
};

/// A checker's settings after inheritance from real server and virtual server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CheckParams {
    /// Time between checks.
    pub delay_loop: Duration,
    /// Failures tolerated before down.
    pub retry: u32,
    /// Time before a retry.
    pub delay_before_retry: Duration,
    /// Up to this much random delay before the first check.
    pub warmup: Duration,
    /// Probe timeout (connect and whole exchange; MISC: `misc_timeout`).
    pub timeout: Duration,
    /// Start down.
    pub alpha: bool,
}

impl CheckParams {
    /// Resolves `chk`'s settings as keepalived does: checker, else real server, else
    /// virtual server, else the checker type's default (retry 1, MISC 0; delay before
    /// retry 1 s, HTTP 3 s; warmup the delay_loop; timeout 5 s, MISC the delay_loop).
    pub fn resolve(vs: &VirtualServer, rs: &RealServer, chk: &Checker) -> Self {
        macro_rules! pick {
            ($f:ident) => {
                chk.timers.$f.or(rs.timers.$f).or(vs.timers.$f)
            };
        }
        let delay_loop = pick!(delay_loop).unwrap_or(DEFAULT_DELAY_LOOP);
        let misc = matches!(chk.kind, CheckKind::Misc(_));
        let timeout = match &chk.kind {
            CheckKind::Misc(m) => m.timeout.filter(|t| !t.is_zero()).unwrap_or(delay_loop),
            _ => pick!(connect_timeout).unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        };
        CheckParams {
            delay_loop,
            retry: pick!(retry).unwrap_or(if misc { 0 } else { 1 }),
            delay_before_retry: pick!(delay_before_retry).unwrap_or(
                if matches!(chk.kind, CheckKind::Http(_)) {
                    Duration::from_secs(3)
                } else {
                    Duration::from_secs(1)
                },
            ),
            warmup: pick!(warmup).unwrap_or(delay_loop),
            timeout,
            alpha: pick!(alpha).unwrap_or(false),
        }
    }
}
