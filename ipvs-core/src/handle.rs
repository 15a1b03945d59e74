//! The blocking handle: one generic-netlink socket bound to the IPVS family.

use std::net::SocketAddr;

use crate::error::{Error, Result};
use crate::model::*;

/// One change to the IPVS table, for [`Handle::execute`] and [`Batch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Add a virtual service.
    AddService(Service),
    /// Change an existing service (scheduler, flags, timeout, netmask, pe).
    EditService(Service),
    /// Delete a service and its destinations.
    DeleteService(ServiceKey),
    /// Delete every service.
    Flush,
    /// Add a destination to a service.
    AddDestination(ServiceKey, Destination),
    /// Change a destination of a service.
    EditDestination(ServiceKey, Destination),
    /// Delete a destination (by address and port) from a service.
    DeleteDestination(ServiceKey, SocketAddr),
    /// Zero the counters of one service, or of all with `None`.
    Zero(Option<ServiceKey>),
    /// Set the connection timeouts (0 leaves a value unchanged).
    SetTimeouts(Timeouts),
    /// Start a sync daemon.
    StartDaemon(SyncDaemon),
    /// Stop the sync daemon of a state.
    StopDaemon(DaemonState),
}

/// A blocking connection to the kernel's IPVS generic-netlink family.
///
/// Create one per thread with [`Handle::new`]; the family id is resolved once.
#[derive(Debug)]
pub struct Handle {
    _private: (),
}

fn todo<T>() -> Result<T> {
    Err(Error::Errno { errno: libc::ENOSYS })
}

impl Handle {
    /// Open a netlink socket and resolve the `IPVS` family.
    ///
    /// Fails with [`Error::IpvsUnavailable`] when the kernel has no IPVS.
    pub fn new() -> Result<Handle> {
        todo()
    }

    /// Every virtual service (retrying interrupted dumps).
    pub fn services(&mut self) -> Result<Vec<Service>> {
        todo()
    }

    /// Stream the services one by one without collecting the table.
    pub fn services_iter(&mut self) -> Result<ServiceDump<'_>> {
        todo()
    }

    /// One service by key ([`Error::NoSuchService`] when absent).
    pub fn service(&mut self, key: &ServiceKey) -> Result<Service> {
        let _ = key;
        todo()
    }

    /// Add a service.
    pub fn add_service(&mut self, service: &Service) -> Result<()> {
        self.execute(&Request::AddService(service.clone()))
    }

    /// Edit a service.
    pub fn edit_service(&mut self, service: &Service) -> Result<()> {
        self.execute(&Request::EditService(service.clone()))
    }

    /// Delete a service.
    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.execute(&Request::DeleteService(*key))
    }

    /// Delete all services.
    pub fn flush(&mut self) -> Result<()> {
        self.execute(&Request::Flush)
    }

    /// The destinations of a service.
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>> {
        let _ = key;
        todo()
    }

    /// Stream the destinations of a service.
    pub fn destinations_iter(&mut self, key: &ServiceKey) -> Result<DestinationDump<'_>> {
        let _ = key;
        todo()
    }

    /// Add a destination to a service.
    pub fn add_destination(&mut self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Request::AddDestination(*key, dest.clone()))
    }

    /// Edit a destination of a service.
    pub fn edit_destination(&mut self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Request::EditDestination(*key, dest.clone()))
    }

    /// Delete a destination of a service.
    pub fn delete_destination(&mut self, key: &ServiceKey, dest: SocketAddr) -> Result<()> {
        self.execute(&Request::DeleteDestination(*key, dest))
    }

    /// Zero counters of one service or of all services.
    pub fn zero(&mut self, key: Option<&ServiceKey>) -> Result<()> {
        self.execute(&Request::Zero(key.copied()))
    }

    /// Current connection timeouts.
    pub fn timeouts(&mut self) -> Result<Timeouts> {
        todo()
    }

    /// Set connection timeouts (0 leaves a value unchanged).
    pub fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<()> {
        self.execute(&Request::SetTimeouts(*timeouts))
    }

    /// IPVS version and connection table size.
    pub fn info(&mut self) -> Result<Info> {
        todo()
    }

    /// Running sync daemons.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        todo()
    }

    /// Start a sync daemon.
    pub fn start_daemon(&mut self, daemon: &SyncDaemon) -> Result<()> {
        self.execute(&Request::StartDaemon(daemon.clone()))
    }

    /// Stop the sync daemon of a state.
    pub fn stop_daemon(&mut self, state: DaemonState) -> Result<()> {
        self.execute(&Request::StopDaemon(state))
    }

    /// Send one request and wait for its ACK.
    pub fn execute(&mut self, request: &Request) -> Result<()> {
        let _ = request;
        todo()
    }

    /// Start a batch: requests sent together, ACKs matched per request.
    pub fn batch(&mut self) -> Batch<'_> {
        Batch { handle: self, requests: Vec::new() }
    }
}

/// Requests sent in one `sendmsg`, each acknowledged separately.
#[derive(Debug)]
pub struct Batch<'h> {
    handle: &'h mut Handle,
    requests: Vec<Request>,
}

impl Batch<'_> {
    /// Queue a request.
    pub fn push(&mut self, request: Request) -> &mut Self {
        self.requests.push(request);
        self
    }

    /// Number of queued requests.
    pub fn len(&self) -> usize {
        self.requests.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }

    /// Send every queued request and collect one result per request.
    pub fn execute(self) -> Result<BatchReport> {
        let _ = self.handle;
        todo()
    }
}

/// The outcome of a [`Batch`], one item per request in order.
#[derive(Debug)]
pub struct BatchReport {
    /// Each request with its result.
    pub items: Vec<BatchItem>,
}

/// One request of a batch and what the kernel said.
#[derive(Debug)]
pub struct BatchItem {
    /// The request.
    pub request: Request,
    /// `Ok` when acknowledged, else the typed error.
    pub result: Result<()>,
}

impl BatchReport {
    /// Whether every request succeeded.
    pub fn is_ok(&self) -> bool {
        self.items.iter().all(|i| i.result.is_ok())
    }

    /// The failed items with their index.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &BatchItem)> {
        self.items.iter().enumerate().filter(|(_, i)| i.result.is_err())
    }
}

/// A streaming dump of services; see [`Handle::services_iter`].
///
/// An interrupted dump ends with `Err(Error::DumpInterrupted)` rather than
/// silently stopping short.
#[derive(Debug)]
pub struct ServiceDump<'h> {
    _handle: &'h mut Handle,
}

impl Iterator for ServiceDump<'_> {
    type Item = Result<Service>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}

/// A streaming dump of destinations; see [`Handle::destinations_iter`].
#[derive(Debug)]
pub struct DestinationDump<'h> {
    _handle: &'h mut Handle,
}

impl Iterator for DestinationDump<'_> {
    type Item = Result<Destination>;
    fn next(&mut self) -> Option<Self::Item> {
        None
    }
}
