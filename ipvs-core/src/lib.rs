//! Typed generic-netlink interface to Linux IPVS.
//!
//! Everything the kernel's `IPVS` generic-netlink family offers (Linux 6.1+):
//! services keyed by protocol/address/port or firewall mark, every scheduler,
//! persistence, destinations with every forwarding method and tunnel option,
//! 64-bit stats, zeroing, timeouts, info and sync daemons; plus the
//! `/proc/net/ip_vs_conn` connection table ([`connections`]).
//!
//! - [`Handle`] is the blocking entry point: one netlink socket, typed
//!   [`Error`]s, [`Batch`]es of many requests in one `sendmsg`, and streaming
//!   dumps ([`Handle::services_iter`]).
//! - The model types ([`Service`], [`Destination`], [`SyncDaemon`], ...) are
//!   plain data with `serde` support.
//! - [`codec`] is the pure encoder/decoder, usable without a kernel.
//!
//! List the table:
//!
//! ```no_run
//! use ipvs_core::Handle;
//!
//! let mut ipvs = Handle::new()?;
//! for service in ipvs.services()? {
//!     println!("{} {}", service.key, service.scheduler);
//!     for dest in ipvs.destinations(&service.key)? {
//!         println!("  -> {} weight {}", dest.socket_addr(), dest.weight);
//!     }
//! }
//! # Ok::<(), ipvs_core::Error>(())
//! ```

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod apply;
pub mod codec;
mod conn;
mod error;
mod handle;
mod model;
pub mod netlink;
mod netns;
pub mod sysctl;

pub use codec::Request;
pub use conn::{connections, parse_connections, PROC_IP_VS_CONN};
pub use error::{Error, Result};
#[cfg(feature = "tokio")]
pub use handle::AsyncHandle;
pub use handle::{
    Batch, BatchItem, BatchReport, DestinationDump, Handle, ServiceDump, Table, TableEntry,
};
pub use model::{
    AddressFamily, Connection, DaemonState, Destination, DestinationSpec, ForwardMethod, Info,
    Netmask, Protocol, Scheduler, Service, ServiceFlags, ServiceKey, ServiceSpec, Stats,
    SyncDaemon, Timeouts, TunnelChecksum, TunnelType,
};
pub use netns::Netns;

/// The examples of docs/architecture.md, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/architecture.md")]
pub struct ArchitectureDoc;

/// The examples of docs/apply.md, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/apply.md")]
pub struct ApplyDoc;
