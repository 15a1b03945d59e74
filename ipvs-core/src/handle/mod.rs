//! The blocking handle: the IPVS generic-netlink family on one
//! [`Transport`](crate::netlink::Transport), with typed operations.

#[cfg(feature = "tokio")]
mod asynchronous;
mod batch;
mod dump;
pub(crate) mod errno;
mod table;

use std::net::SocketAddr;

use netlink_packet_generic::ctrl::{nlas::GenlCtrlAttrs, GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::protocols::NETLINK_GENERIC;

use crate::codec::{self, CodecError, IpvsMessage, Request};
use crate::error::{Error, Result};
use crate::model::*;
use crate::netlink::{NetlinkError, Transport};
use crate::netns::Netns;
use errno::{map_error, Ctx};

#[cfg(feature = "tokio")]
pub use asynchronous::AsyncHandle;
pub use batch::{Batch, BatchItem, BatchReport};
pub use dump::{DestinationDump, ServiceDump};
pub use table::{Table, TableEntry};

/// A blocking connection to the kernel's IPVS generic-netlink family.
///
/// One netlink socket; the `IPVS` family id is resolved once when the
/// handle is opened. Every change asks for an ACK and the kernel's errno is
/// mapped to a typed [`Error`]. Methods take `&mut self`: one request is in
/// flight at a time; use one handle per thread.
///
/// IPVS tables are per network namespace: the handle talks to the namespace
/// it was opened in ([`Handle::new`]: the calling thread's; [`Handle::in_netns`]:
/// another), wherever it is used later.
///
/// ```no_run
/// use ipvs_core::{Handle, Request, Scheduler, Service, ServiceKey};
///
/// let mut ipvs = Handle::new()?;
/// let mut batch = ipvs.batch();
/// for port in [80, 443] {
///     let key = ServiceKey::tcp(std::net::SocketAddr::from(([192, 0, 2, 1], port)));
///     batch.push(Request::AddService(Service::new(key, Scheduler::Rr)));
/// }
/// let report = batch.execute();
/// for (i, item) in report.failures() {
///     if let Err(e) = &item.result {
///         eprintln!("request {i} ({:?}) failed: {e}", item.request);
///     }
/// }
/// # Ok::<(), ipvs_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Handle {
    transport: Transport,
    family_id: u16,
}

/// The generic-netlink message of an IPVS payload for family `family_id`.
pub(crate) fn genl(family_id: u16, msg: IpvsMessage) -> GenlMessage<IpvsMessage> {
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family_id);
    genl
}

/// The controller request that resolves the `IPVS` family id.
pub(crate) fn family_request() -> GenlMessage<GenlCtrl> {
    let mut genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(codec::IPVS_GENL_NAME.to_string())],
    });
    genl.finalize();
    genl
}

/// The family id in the controller's answer, or why there is none.
pub(crate) fn family_of(
    answer: std::result::Result<Vec<GenlMessage<GenlCtrl>>, NetlinkError>,
) -> Result<u16> {
    let unavailable = |reason: String| Error::IpvsUnavailable { reason };
    match answer {
        Ok(replies) => replies
            .iter()
            .flat_map(|m| &m.payload.nlas)
            .find_map(|a| match a {
                GenlCtrlAttrs::FamilyId(id) => Some(*id),
                _ => None,
            })
            .ok_or_else(|| unavailable("the controller answered without a family id".into())),
        Err(NetlinkError::Kernel {
            errno: libc::ENOENT,
            ..
        }) => Err(unavailable(
            "generic netlink family \"IPVS\" is not registered".into(),
        )),
        Err(e) => Err(unavailable(format!(
            "resolving the generic netlink family \"IPVS\" failed: {e}"
        ))),
    }
}

/// The IPVS payloads of replies.
pub(crate) fn payloads(
    replies: Vec<GenlMessage<IpvsMessage>>,
) -> impl Iterator<Item = IpvsMessage> {
    replies.into_iter().map(|g| g.payload)
}

/// The first reply of a query that must have one.
pub(crate) fn first_reply(
    replies: Vec<GenlMessage<IpvsMessage>>,
    what: &str,
) -> Result<IpvsMessage> {
    payloads(replies)
        .next()
        .ok_or_else(|| Error::Decode(format!("{what} acknowledged without a reply")))
}

impl Handle {
    /// Open a handle in the calling thread's network namespace.
    ///
    /// Fails with [`Error::IpvsUnavailable`] when the kernel has no IPVS.
    pub fn new() -> Result<Handle> {
        Handle::with_transport(Transport::open(NETLINK_GENERIC)?)
    }

    /// Open a handle on the IPVS table of another network namespace, without
    /// changing the calling thread's namespace (see [`Netns`]).
    ///
    /// ```no_run
    /// use ipvs_core::{Handle, Netns};
    ///
    /// let mut director = Handle::in_netns(&Netns::named("director"))?;
    /// println!("{} services there", director.services()?.len());
    /// # Ok::<(), ipvs_core::Error>(())
    /// ```
    pub fn in_netns(netns: &Netns) -> Result<Handle> {
        Handle::with_transport(Transport::open_in(NETLINK_GENERIC, netns)?)
    }

    /// A handle on an opened generic-netlink transport.
    pub fn with_transport(mut transport: Transport) -> Result<Handle> {
        let family_id = family_of(transport.request(family_request()))?;
        Ok(Handle {
            transport,
            family_id,
        })
    }

    /// Set the socket's receive buffer (`SO_RCVBUF`, capped by
    /// `net.core.rmem_max`). Replies that overflow it are lost and reported as
    /// [`Error::BufferOverflow`], never returned short.
    pub fn set_receive_buffer(&self, bytes: usize) -> Result<()> {
        Ok(self.transport.set_receive_buffer(bytes)?)
    }

    /// The resolved generic-netlink family id of `IPVS`.
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    fn query(&mut self, msg: IpvsMessage, ctx: Ctx<'_>) -> Result<Vec<GenlMessage<IpvsMessage>>> {
        let msg = genl(self.family_id, msg);
        self.transport.request(msg).map_err(|e| map_error(e, ctx))
    }

    /// Run a dump to its end (retrying an interrupted one), decoding each
    /// reply as it arrives so that only the decoded values are held.
    fn dump_decoded<R>(
        &mut self,
        msg: IpvsMessage,
        mut decode: impl FnMut(IpvsMessage) -> std::result::Result<R, CodecError>,
    ) -> Result<Vec<R>> {
        let msg = genl(self.family_id, msg);
        Ok(self
            .transport
            .dump_all_map(msg, |m| decode(m.payload))
            .map_err(|e| map_error(e, Ctx::Query))??)
    }

    /// Every virtual service (retrying interrupted dumps).
    pub fn services(&mut self) -> Result<Vec<Service>> {
        self.dump_decoded(IpvsMessage::dump_services(), |m| m.to_service())
    }

    /// Stream the services one by one without collecting the table.
    ///
    /// Not retried: if the kernel marks the dump interrupted, the iterator
    /// ends with `Err(Error::DumpInterrupted)` instead of stopping short.
    pub fn services_iter(&mut self) -> Result<ServiceDump<'_>> {
        let msg = genl(self.family_id, IpvsMessage::dump_services());
        Ok(ServiceDump::new(self.transport.dump(msg)?))
    }

    /// One service by key ([`Error::NoSuchService`] when absent).
    pub fn service(&mut self, key: &ServiceKey) -> Result<Service> {
        let reply = self.query(IpvsMessage::get_service(key)?, Ctx::GetService)?;
        Ok(first_reply(reply, "GET_SERVICE")?.to_service()?)
    }

    /// Add a service.
    pub fn add_service(&mut self, service: &Service) -> Result<()> {
        self.execute(&Request::AddService(service.clone()))
    }

    /// Edit a service (scheduler, flags, timeout, netmask, persistence engine).
    pub fn edit_service(&mut self, service: &Service) -> Result<()> {
        self.execute(&Request::EditService(service.clone()))
    }

    /// Delete a service and its destinations.
    pub fn delete_service(&mut self, key: &ServiceKey) -> Result<()> {
        self.execute(&Request::DeleteService(*key))
    }

    /// Delete all services.
    pub fn flush(&mut self) -> Result<()> {
        self.execute(&Request::Flush)
    }

    /// The destinations of a service ([`Error::NoSuchService`] when absent).
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>> {
        let dests = self.destinations_or_empty(key)?;
        if dests.is_empty() {
            // The kernel answers an empty dump for a missing service too.
            self.service(key)?;
        }
        Ok(dests)
    }

    /// The destinations of a service as the kernel dumps them: a service
    /// that does not exist (or was deleted since it was listed) gives an
    /// empty list, without the `GET_SERVICE` that [`Handle::destinations`]
    /// spends on every empty dump. For listings of a table that others may
    /// change, where a vanished service is shown without destinations.
    pub fn destinations_or_empty(&mut self, key: &ServiceKey) -> Result<Vec<Destination>> {
        let family = key.family();
        self.dump_decoded(IpvsMessage::dump_destinations(key)?, |m| {
            m.to_destination(family)
        })
    }

    /// Stream the destinations of a service.
    ///
    /// A missing service ends the stream with `Err(Error::NoSuchService)`,
    /// so collecting it into `Result<Vec<_>>` agrees with
    /// [`Handle::destinations`]. The kernel answers an empty dump for a
    /// missing service, so only an empty dump costs one more request (a
    /// `GET_SERVICE`) to tell the two apart.
    pub fn destinations_iter(&mut self, key: &ServiceKey) -> Result<DestinationDump<'_>> {
        let msg = genl(self.family_id, IpvsMessage::dump_destinations(key)?);
        let family_id = self.family_id;
        Ok(DestinationDump::new(
            self.transport.dump(msg)?,
            *key,
            family_id,
        ))
    }

    /// Add a destination to a service.
    pub fn add_destination(&mut self, key: &ServiceKey, dest: &Destination) -> Result<()> {
        self.execute(&Request::AddDestination(*key, dest.clone()))
    }

    /// Edit a destination of a service (found by address and port).
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
        let reply = self.query(IpvsMessage::get_timeouts(), Ctx::Query)?;
        Ok(first_reply(reply, "GET_CONFIG")?.to_timeouts())
    }

    /// Set connection timeouts (0 leaves a value unchanged).
    pub fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<()> {
        self.execute(&Request::SetTimeouts(*timeouts))
    }

    /// IPVS version and connection table size.
    pub fn info(&mut self) -> Result<Info> {
        let reply = self.query(IpvsMessage::get_info(), Ctx::Query)?;
        Ok(first_reply(reply, "GET_INFO")?.to_info()?)
    }

    /// Running sync daemons.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        self.dump_decoded(IpvsMessage::dump_daemons(), |m| m.to_daemon())
    }

    /// Start a sync daemon.
    pub fn start_daemon(&mut self, daemon: &SyncDaemon) -> Result<()> {
        self.execute(&Request::StartDaemon(daemon.clone()))
    }

    /// Stop the sync daemon of a state.
    ///
    /// On Linux 6.1 (seen in the lab) the kernel can block this request when
    /// the daemon was started only milliseconds before; leave its sync thread
    /// time to come up (two seconds always sufficed).
    pub fn stop_daemon(&mut self, state: DaemonState) -> Result<()> {
        self.execute(&Request::StopDaemon(state))
    }

    /// Send one request and wait for its ACK.
    pub fn execute(&mut self, request: &Request) -> Result<()> {
        self.query(request.to_message()?, Ctx::Request(request))
            .map(|_| ())
    }

    /// Start a batch: requests sent together, ACKs matched per request.
    pub fn batch(&mut self) -> Batch<'_> {
        Batch::new(self)
    }

    /// A consistent snapshot of the whole table: every service with its
    /// destinations (see [`Table`]).
    pub fn table(&mut self) -> Result<Table> {
        table::snapshot(self)
    }
}
