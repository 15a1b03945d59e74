//! keepalived-lite: a minimal VRRP (RFC 3768 / RFC 5798 / RFC 9568) library and daemon
//! that reads keepalived.conf and interoperates with keepalived.
//!
//! The protocol core is sans-IO: [`packet`] encodes and decodes advertisements and
//! [`state::Machine`] is a pure state machine driven by inputs and the time.
//!
//! ```
//! use std::time::Duration;
//! use keepalived_lite::packet::Version;
//! use keepalived_lite::state::{Input, Machine, Params, State};
//!
//! let mut m = Machine::new(Params {
//!     version: Version::V2,
//!     priority: 100,
//!     advert_int_cs: 100,
//!     preempt: true,
//!     preempt_delay: Duration::ZERO,
//!     primary_addr: "192.0.2.2".parse().unwrap(),
//! });
//! m.handle(Duration::ZERO, Input::Startup);
//! assert_eq!(m.state(), State::Backup);
//! // Nobody advertises: after Master_Down_Interval (3 s + skew) we are master.
//! let later = m.next_deadline().unwrap();
//! m.handle(later, Input::Tick);
//! assert_eq!(m.state(), State::Master);
//! ```

#![warn(missing_docs)]

// Pure cores: no I/O.
pub mod check;
pub mod config;
pub mod diff;
pub mod lvs;
pub mod packet;
pub mod schedule;
pub mod state;
pub mod track;

// I/O edges.
pub mod children;
pub mod files;
pub mod instance;
pub mod log;
pub mod metrics;
pub mod net;
pub mod rtnl;
pub mod scripts;
pub mod signals;
pub mod statefile;
pub mod users;

// The poll loop gluing them together.
pub mod daemon;
pub mod error;
