//! The async handle (feature `tokio`): the operations of [`Handle`](super::Handle)
//! as `async fn`s, on the same codec and the same sans-IO exchanges.

use std::net::SocketAddr;

use netlink_packet_generic::GenlMessage;
use netlink_sys::protocols::NETLINK_GENERIC;

use super::batch::{encode, report, to_send, BatchReport};
use super::errno::{map_error, Ctx};
use super::table::{Table, TableEntry};
use super::{family_of, family_request, first_reply, genl};
use crate::codec::{CodecError, IpvsMessage, Request};
use crate::error::{Error, Result};
use crate::model::*;
use crate::netlink::{AsyncTransport, DUMP_ATTEMPTS};
use crate::netns::Netns;

/// An async connection to the kernel's IPVS family, for tokio programs
/// (a kube-rs controller, an exporter). Open it inside a tokio runtime.
///
/// ```no_run
/// # async fn run() -> ipvs_core::Result<()> {
/// use ipvs_core::{AsyncHandle, Scheduler, Service, ServiceKey};
///
/// let mut ipvs = AsyncHandle::new().await?;
/// let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
/// ipvs.add_service(&Service::new(key, Scheduler::Rr)).await?;
/// for entry in ipvs.table().await?.entries {
///     println!("{}: {} destinations", entry.service.key, entry.destinations.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct AsyncHandle {
    transport: AsyncTransport,
    family_id: u16,
}

impl AsyncHandle {
    /// Open a handle in the calling thread's network namespace.
    ///
    /// Fails with [`Error::IpvsUnavailable`] when the kernel has no IPVS.
    pub async fn new() -> Result<AsyncHandle> {
        AsyncHandle::with_transport(AsyncTransport::open(NETLINK_GENERIC)?).await
    }

    /// Open a handle in another network namespace (see [`Netns`]).
    pub async fn in_netns(netns: &Netns) -> Result<AsyncHandle> {
        AsyncHandle::with_transport(AsyncTransport::open_in(NETLINK_GENERIC, netns)?).await
    }

    /// A handle on an opened async generic-netlink transport.
    pub async fn with_transport(mut transport: AsyncTransport) -> Result<AsyncHandle> {
        let family_id = family_of(transport.request(family_request()).await)?;
        Ok(AsyncHandle {
            transport,
            family_id,
        })
    }

    /// The resolved generic-netlink family id of `IPVS`.
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    async fn query(
        &mut self,
        msg: IpvsMessage,
        ctx: Ctx<'_>,
    ) -> Result<Vec<GenlMessage<IpvsMessage>>> {
        let msg = genl(self.family_id, msg);
        self.transport
            .request(msg)
            .await
            .map_err(|e| map_error(e, ctx))
    }

    /// Run a dump to its end (retrying an interrupted one), decoding each
    /// reply as it arrives (as the blocking handle does).
    async fn dump_decoded<R>(
        &mut self,
        msg: IpvsMessage,
        mut decode: impl FnMut(IpvsMessage) -> std::result::Result<R, CodecError>,
    ) -> Result<Vec<R>> {
        let msg = genl(self.family_id, msg);
        Ok(self
            .transport
            .dump_all_map(msg, |m| decode(m.payload))
            .await
            .map_err(|e| map_error(e, Ctx::Query))??)
    }

    /// Every virtual service.
    pub async fn services(&mut self) -> Result<Vec<Service>> {
        self.dump_decoded(IpvsMessage::dump_services(), |m| m.to_service())
            .await
    }

    /// One service by key ([`Error::NoSuchService`] when absent).
    pub async fn service(&mut self, key: &ServiceKey) -> Result<Service> {
        let reply = self
            .query(IpvsMessage::get_service(key)?, Ctx::GetService)
            .await?;
        Ok(first_reply(reply, "GET_SERVICE")?.to_service()?)
    }

    /// The destinations of a service ([`Error::NoSuchService`] when absent).
    pub async fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>> {
        let family = key.family();
        let dests = self
            .dump_decoded(IpvsMessage::dump_destinations(key)?, |m| {
                m.to_destination(family)
            })
            .await?;
        if dests.is_empty() {
            // The kernel answers an empty dump for a missing service too.
            self.service(key).await?;
        }
        Ok(dests)
    }

    /// A consistent snapshot of the whole table (as [`Handle::table`](super::Handle::table)).
    pub async fn table(&mut self) -> Result<Table> {
        for _ in 0..DUMP_ATTEMPTS {
            match self.try_table().await {
                Err(Error::DumpInterrupted { .. }) => continue,
                other => return other,
            }
        }
        Err(Error::DumpInterrupted {
            attempts: DUMP_ATTEMPTS,
        })
    }

    async fn try_table(&mut self) -> Result<Table> {
        let services = self.services().await?;
        let mut entries = Vec::with_capacity(services.len());
        for service in services {
            let family = service.key.family();
            let destinations = self
                .dump_decoded(IpvsMessage::dump_destinations(&service.key)?, |m| {
                    m.to_destination(family)
                })
                .await?;
            entries.push(TableEntry::new(service, destinations));
        }
        Ok(Table::new(entries))
    }

    /// Current connection timeouts.
    pub async fn timeouts(&mut self) -> Result<Timeouts> {
        let reply = self.query(IpvsMessage::get_timeouts(), Ctx::Query).await?;
        Ok(first_reply(reply, "GET_CONFIG")?.to_timeouts())
    }

    /// IPVS version and connection table size.
    pub async fn info(&mut self) -> Result<Info> {
        let reply = self.query(IpvsMessage::get_info(), Ctx::Query).await?;
        Ok(first_reply(reply, "GET_INFO")?.to_info()?)
    }

    /// Running sync daemons.
    pub async fn daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        self.dump_decoded(IpvsMessage::dump_daemons(), |m| m.to_daemon())
            .await
    }

    /// Send one request and wait for its ACK.
    pub async fn execute(&mut self, request: &Request) -> Result<()> {
        self.query(request.to_message()?, Ctx::Request(request))
            .await
            .map(|_| ())
    }

    /// Send many requests together, one result each (as [`Batch`](super::Batch)).
    pub async fn batch(&mut self, requests: Vec<Request>) -> BatchReport {
        let encoded = encode(&requests);
        let outcome = self
            .transport
            .batch(to_send(self.family_id, &encoded))
            .await;
        report(requests, encoded, outcome)
    }

    /// Add a service.
    pub async fn add_service(&mut self, service: &Service) -> Result<()> {
        self.execute(&Request::AddService(service.clone())).await
    }

    /// Edit a service.
    pub async fn edit_service(&mut self, service: &Service) -> Result<()> {
        self.execute(&Request::EditService(service.clone())).await
    }

    /// Delete a service and its destinations.
    pub async fn delete_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.execute(&Request::DeleteService(*key)).await
    }

    /// Delete all services.
    pub async fn flush(&mut self) -> Result<()> {
        self.execute(&Request::Flush).await
    }

    /// Add a destination to a service.
    pub async fn add_destination(&mut self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Request::AddDestination(*key, dest.clone()))
            .await
    }

    /// Edit a destination of a service.
    pub async fn edit_destination(&mut self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Request::EditDestination(*key, dest.clone()))
            .await
    }

    /// Delete a destination of a service.
    pub async fn delete_destination(&mut self, key: &ServiceKey, dest: SocketAddr) -> Result<()> {
        self.execute(&Request::DeleteDestination(*key, dest)).await
    }

    /// Zero counters of one service or of all services.
    pub async fn zero(&mut self, key: Option<&ServiceKey>) -> Result<()> {
        self.execute(&Request::Zero(key.copied())).await
    }

    /// Set connection timeouts (0 leaves a value unchanged).
    pub async fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<()> {
        self.execute(&Request::SetTimeouts(*timeouts)).await
    }

    /// Start a sync daemon.
    pub async fn start_daemon(&mut self, daemon: &SyncDaemon) -> Result<()> {
        self.execute(&Request::StartDaemon(daemon.clone())).await
    }

    /// Stop the sync daemon of a state.
    pub async fn stop_daemon(&mut self, state: DaemonState) -> Result<()> {
        self.execute(&Request::StopDaemon(state)).await
    }
}
