//! A snapshot of the whole table: every service with its destinations.

use serde::{Deserialize, Serialize};

use super::Handle;
use crate::error::{Error, Result};
use crate::model::{Destination, Service, ServiceKey};
use crate::netlink::DUMP_ATTEMPTS;

/// Every service of a network namespace with its destinations, in the
/// kernel's order, read by [`Handle::table`].
///
/// ```no_run
/// let mut ipvs = ipvs_core::Handle::new()?;
/// for entry in ipvs.table()?.entries {
///     println!("{} -> {} destinations", entry.service.key, entry.destinations.len());
/// }
/// # Ok::<(), ipvs_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Table {
    /// The services, each with its destinations.
    pub entries: Vec<TableEntry>,
}

/// One service of a [`Table`] with its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TableEntry {
    /// The service.
    pub service: Service,
    /// Its destinations, in the kernel's order.
    pub destinations: Vec<Destination>,
}

impl TableEntry {
    /// A service with its destinations.
    pub fn new(service: Service, destinations: Vec<Destination>) -> Self {
        TableEntry {
            service,
            destinations,
        }
    }
}

impl Table {
    /// A table of these entries.
    pub fn new(entries: Vec<TableEntry>) -> Self {
        Table { entries }
    }

    /// The entry of a service.
    pub fn get(&self, key: &ServiceKey) -> Option<&TableEntry> {
        self.entries.iter().find(|e| e.service.key == *key)
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no service.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The service dump, then one destination dump per service. A service that
/// vanishes between the two is listed without destinations, as ipvsadm
/// lists it: the kernel answers an empty dump for a missing service, and a
/// table read while another program edits it must not fail. A dump the
/// kernel marks interrupted is read again; one still interrupted after
/// every try starts the whole snapshot over.
pub(super) fn snapshot(handle: &mut Handle) -> Result<Table> {
    for _ in 0..DUMP_ATTEMPTS {
        match try_snapshot(handle) {
            Err(Error::DumpInterrupted { .. }) => continue,
            other => return other,
        }
    }
    Err(Error::DumpInterrupted {
        attempts: DUMP_ATTEMPTS,
    })
}

fn try_snapshot(handle: &mut Handle) -> Result<Table> {
    let services = handle.services()?;
    let mut entries = Vec::with_capacity(services.len());
    for service in services {
        let destinations = handle.destinations_or_empty(&service.key)?;
        entries.push(TableEntry {
            service,
            destinations,
        });
    }
    Ok(Table { entries })
}
