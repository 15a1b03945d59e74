//! The checker half of keepalived: `virtual_server` blocks kept in the kernel's IPVS
//! table, real servers added and removed as their health checks pass and fail.
//!
//! - [`checker`]: the pure core (events and time in; probes, notifies, table changes
//!   out), like [`crate::state::Machine`] for VRRP.
//! - [`table`]: the desired IPVS table and its scope, from the core's state (pure).
//! - [`probe`]: the probes (TCP, HTTP, HTTPS, MISC) on worker threads, results back
//!   through a channel the poll loop wakes on.
//! - [`Lvs`]: the daemon's glue: core, probes and ipvs-core's scoped apply.
//!
//! ```
//! use std::collections::HashSet;
//! use std::time::Duration;
//! use keepalived_lite::lvs::checker::{Action, CheckerCore, Event, Outcome};
//!
//! let cfg = keepalived_lite::config::parse_str(
//!     std::path::Path::new("k.conf"),
//!     "virtual_server 192.0.2.10 80 {\n delay_loop 5\n warmup 0\n lvs_method NAT\n\
//!      protocol TCP\n lvs_sched rr\n\
//!      real_server 198.51.100.10 80 {\n TCP_CHECK {\n }\n }\n}\n",
//! ).unwrap();
//! let (mut core, _) = CheckerCore::new(&cfg.virtual_servers, &HashSet::new(), Duration::ZERO, 1);
//! assert!(core.virtual_servers()[0].real_servers[0].alive); // up until a check fails
//! let now = core.next_deadline().unwrap(); // 1 s: keepalived's bootstrap delay
//! let probe = match &core.handle(now, Event::Tick)[..] {
//!     [Action::Probe(p)] => p.id,
//!     other => panic!("{other:?}"),
//! };
//! // retry 1 (TCP_CHECK's default): the first failure is retried...
//! core.handle(now, Event::Result { id: probe, outcome: Outcome::Down("refused".into()) });
//! assert!(core.virtual_servers()[0].real_servers[0].alive);
//! ```

pub mod checker;
mod http;
mod params;
/// Probes on worker threads.
pub mod probe;
mod runtime;
pub mod table;
pub mod tls;

pub use runtime::{check, Lvs};

#[cfg(test)]
mod checker_tests;
#[cfg(test)]
mod tls_tests;
