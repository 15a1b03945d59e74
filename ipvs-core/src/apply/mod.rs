//! Declarative apply: say what the table should hold, get the ordered
//! changes that make it so, and apply them as one transaction.
//!
//! The loop every IPVS controller writes (read the table, compare, send the
//! difference) as one call:
//!
//! - [`plan`] (pure) compares the kernel's [`Table`] with a
//!   desired [`TableSpec`] inside a [`Scope`] and returns a [`Plan`]: add or
//!   edit services, add or edit destinations, drain then delete destinations
//!   that go, delete services that go. It edits in place whenever the kernel
//!   allows (scheduler, flags, persistence, weight, thresholds, forwarding
//!   method) and touches nothing both tables keep, so their traffic never
//!   drops. Services outside the scope are never edited or deleted.
//! - [`Handle::apply`](crate::Handle::apply) reads the table, plans, checks
//!   every change before sending anything, sends the changes in batches, and
//!   when the kernel refuses one, undoes what was done so the table is as
//!   before ([`ApplyMode::AllOrNothing`]), or carries on and reports each
//!   failure ([`ApplyMode::BestEffort`]).
//! - [`Syncer`] keeps the drain clocks between passes for a sync loop; the
//!   CLI's `--apply` waits for draining destinations with
//!   [`Handle::apply_and_drain`](crate::Handle::apply_and_drain).
//!
//! ```no_run
//! use ipvs_core::apply::{ApplyOptions, Scope, TableSpec};
//! use ipvs_core::{Destination, ForwardMethod, Handle, Scheduler, Service, ServiceKey};
//!
//! let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
//! let mut desired = TableSpec::new();
//! desired.push(
//!     Service::new(key, Scheduler::Wrr).spec(),
//!     vec![Destination::new("198.51.100.2:80".parse().unwrap(), ForwardMethod::Masquerade).spec()],
//! );
//! let options = ApplyOptions::new(Scope::new().cidr("192.0.2.0".parse().unwrap(), 24));
//! let mut ipvs = Handle::new()?;
//! let report = ipvs.apply(&desired, &options)?;
//! println!("{}", report.plan);
//! # Ok::<(), ipvs_core::Error>(())
//! ```

mod execute;
#[cfg(feature = "tokio")]
mod nonblocking;
mod plan;
mod scope;
mod transaction;

use serde::{Deserialize, Serialize};

use crate::handle::Table;
use crate::model::{DestinationSpec, ServiceKey, ServiceSpec};

pub use crate::error::PlanError;
pub use execute::{ApplyOptions, ApplyReport, Syncer};
pub use plan::{plan, Change, Plan, PlanOptions};
pub use scope::{Scope, ScopeParseError};
pub use transaction::{ApplyMode, Failure, Touches, Transaction, TransactionOutcome};

/// What a table should hold: services with their destinations, settings
/// only (the config-only view).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TableSpec {
    /// The services, each with its destinations.
    pub entries: Vec<EntrySpec>,
}

/// One desired service with its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EntrySpec {
    /// The service's settings.
    pub service: ServiceSpec,
    /// Its destinations' settings.
    pub destinations: Vec<DestinationSpec>,
}

impl TableSpec {
    /// An empty desired table.
    pub fn new() -> Self {
        TableSpec::default()
    }

    /// Add a service with its destinations.
    pub fn push(&mut self, service: ServiceSpec, destinations: Vec<DestinationSpec>) -> &mut Self {
        self.entries.push(EntrySpec {
            service,
            destinations,
        });
        self
    }

    /// The entry of a service.
    pub fn get(&self, key: &ServiceKey) -> Option<&EntrySpec> {
        self.entries.iter().find(|e| e.service.key == *key)
    }
}

impl Table {
    /// The settings of this table, as a desired table: applying it to the
    /// table it came from changes nothing.
    pub fn spec(&self) -> TableSpec {
        TableSpec {
            entries: self
                .entries
                .iter()
                .map(|e| EntrySpec {
                    service: e.service.spec(),
                    destinations: e.destinations.iter().map(|d| d.spec()).collect(),
                })
                .collect(),
        }
    }
}
