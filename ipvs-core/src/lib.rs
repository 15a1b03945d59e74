//! Typed generic-netlink interface to Linux IPVS.
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

pub mod codec;
mod conn;
mod error;
mod handle;
mod model;

pub use conn::{connections, parse_connections, PROC_IP_VS_CONN};
pub use error::{Error, Result};
pub use handle::{Batch, BatchItem, BatchReport, DestinationDump, Handle, Request, ServiceDump};
pub use model::{
    AddressFamily, Connection, DaemonState, Destination, ForwardMethod, Info, Netmask, Protocol,
    Scheduler, Service, ServiceFlags, ServiceKey, Stats, SyncDaemon, Timeouts, TunnelChecksum,
    TunnelType,
};
