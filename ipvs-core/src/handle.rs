//! The blocking handle: one generic-netlink socket bound to the IPVS family.

use std::net::SocketAddr;

use netlink_packet_core::{
    parse_u16, NetlinkMessage, NetlinkPayload, NlasIterator, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_generic::constants::{CTRL_ATTR_FAMILY_ID, GENL_ID_CTRL};
use netlink_packet_generic::ctrl::{nlas::GenlCtrlAttrs, GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::GenlMessage;
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr as NlSocketAddr};

use crate::codec::{
    self, convert, nla::InfoAttr, nla::IpvsCmdAttr, IpvsAttrs, IpvsCmd, IpvsMessage,
};
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
/// One netlink socket; the `IPVS` family id is resolved once in
/// [`Handle::new`]. Every change asks for an ACK and the kernel's errno is
/// mapped to a typed [`Error`]. Methods take `&mut self`: one request is in
/// flight at a time; use one handle per thread.
///
/// IPVS tables are per network namespace: the handle talks to the namespace
/// of the thread that called [`Handle::new`], wherever it is used later.
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
/// let report = batch.execute()?;
/// for (i, item) in report.failures() {
///     if let Err(e) = &item.result {
///         eprintln!("request {i} ({:?}) failed: {e}", item.request);
///     }
/// }
/// # Ok::<(), ipvs_core::Error>(())
/// ```
#[derive(Debug)]
pub struct Handle {
    socket: Socket,
    family_id: u16,
    seq: u32,
    rx: Vec<u8>,
}

/// Receive buffer for one datagram; kernel dump skbs stay well below this.
const RX_BUF: usize = 64 * 1024;
/// Requests per `sendmsg` in a batch, so the ACKs fit the socket's receive queue.
const BATCH_CHUNK: usize = 128;
/// How often a dump marked `NLM_F_DUMP_INTR` is retried.
const DUMP_ATTEMPTS: u32 = 5;

/// What a request was, to give errnos their meaning.
#[derive(Debug, Clone, Copy)]
enum Ctx<'a> {
    Request(&'a Request),
    GetService,
    Query,
}

fn map_errno(errno: i32, ctx: Ctx<'_>, ext: Option<String>) -> Error {
    let detail = |base: String| match &ext {
        Some(m) => format!("{base}: {m}"),
        None => base,
    };
    if errno == libc::EPERM || errno == libc::EACCES {
        return Error::PermissionDenied;
    }
    let req = match ctx {
        Ctx::GetService if errno == libc::ESRCH => return Error::NoSuchService,
        Ctx::Request(r) => r,
        _ => return Error::Errno { errno },
    };
    use Request as R;
    match (req, errno) {
        (R::AddService(_), libc::EEXIST) => Error::ServiceExists,
        (R::AddService(s) | R::EditService(s), libc::ENOENT) => Error::SchedulerNotFound {
            name: match &s.pe_name {
                Some(pe) => format!("{} (or persistence engine {pe})", s.scheduler),
                None => s.scheduler.to_string(),
            },
        },
        (R::AddService(s) | R::EditService(s), libc::EINVAL) => Error::InvalidArgument {
            what: detail(format!(
                "service {} (scheduler {}, flags {:#x}, timeout {}, netmask {}) rejected by the kernel",
                s.key, s.scheduler, s.flags.bits(), s.timeout, s.netmask
            )),
            errno: Some(errno),
        },
        (R::EditService(_) | R::DeleteService(_) | R::Zero(Some(_)), libc::ESRCH) => Error::NoSuchService,
        (R::AddDestination(..) | R::EditDestination(..) | R::DeleteDestination(..), libc::ESRCH) => {
            Error::NoSuchService
        }
        (R::AddDestination(..), libc::EEXIST) => Error::DestinationExists,
        (R::EditDestination(..) | R::DeleteDestination(..), libc::ENOENT) => Error::NoSuchDestination,
        (R::AddDestination(_, d) | R::EditDestination(_, d), libc::EINVAL | libc::ERANGE) => {
            Error::InvalidArgument {
                what: detail(format!(
                    "destination {} ({:?}, weight {}, thresholds {}/{}, tunnel {:?}) rejected by the kernel",
                    d.socket_addr(),
                    d.forward,
                    d.weight,
                    d.upper_threshold,
                    d.lower_threshold,
                    d.tunnel_type
                )),
                errno: Some(errno),
            }
        }
        (R::StartDaemon(_), libc::EEXIST) => Error::DaemonExists,
        (R::StartDaemon(d), libc::ENODEV) => Error::InvalidArgument {
            what: detail(format!("multicast interface {:?} does not exist", d.mcast_ifn)),
            errno: Some(errno),
        },
        (R::StartDaemon(d), libc::EINVAL) => Error::InvalidArgument {
            what: detail(format!("sync daemon settings {d:?} rejected by the kernel")),
            errno: Some(errno),
        },
        (R::StopDaemon(_), libc::ESRCH) => Error::NoSuchDaemon,
        (R::SetTimeouts(t), libc::EINVAL) => Error::InvalidArgument {
            what: detail(format!("timeouts {t:?} rejected by the kernel")),
            errno: Some(errno),
        },
        _ => Error::Errno { errno },
    }
}

/// One decoded reply message, reduced to what the handle needs.
enum Reply {
    Msg(IpvsMessage),
    Ack,
    Nack(i32, Option<String>),
    Done,
    Skip,
}

impl Handle {
    /// Open a netlink socket and resolve the `IPVS` family.
    ///
    /// Fails with [`Error::IpvsUnavailable`] when the kernel has no IPVS.
    pub fn new() -> Result<Handle> {
        let mut socket = Socket::new(NETLINK_GENERIC)?;
        socket.bind_auto()?;
        socket.connect(&NlSocketAddr::new(0, 0))?;
        // Small ACKs (no echo of the request) and kernel error strings; both
        // are optional features, so failures to enable them are ignored.
        let _ = socket.set_cap_ack(true);
        let _ = socket.set_ext_ack(true);
        // Room for the ACKs of a batch chunk; capped by net.core.rmem_max.
        let _ = socket.set_rx_buf_sz(1 << 20);
        let mut handle = Handle {
            socket,
            family_id: 0,
            seq: 0,
            rx: Vec::with_capacity(RX_BUF),
        };
        handle.family_id = handle.resolve_family()?;
        Ok(handle)
    }

    /// Set the socket's receive buffer (`SO_RCVBUF`, capped by
    /// `net.core.rmem_max`). Replies that overflow it are lost and reported as
    /// [`Error::BufferOverflow`], never returned short.
    pub fn set_receive_buffer(&self, bytes: usize) -> Result<()> {
        self.socket.set_rx_buf_sz(bytes)?;
        Ok(())
    }

    /// The resolved generic-netlink family id of `IPVS`.
    pub fn family_id(&self) -> u16 {
        self.family_id
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn send(&self, bytes: &[u8]) -> Result<()> {
        let n = self.socket.send(bytes, 0)?;
        if n != bytes.len() {
            return Err(Error::Io(std::io::Error::other(format!(
                "netlink send wrote {n} of {} bytes",
                bytes.len()
            ))));
        }
        Ok(())
    }

    /// Receive one datagram into `self.rx`.
    fn recv(&mut self) -> Result<()> {
        self.rx.clear();
        if self.rx.capacity() < RX_BUF {
            self.rx.reserve(RX_BUF);
        }
        let cap = self.rx.capacity();
        match self.socket.recv(&mut self.rx, libc::MSG_TRUNC) {
            Ok(n) if n > cap => Err(Error::BufferOverflow(format!(
                "a {n}-byte reply did not fit the {cap}-byte receive buffer"
            ))),
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // Replies were dropped; throw away what is still queued so the
                // next request starts from a clean socket.
                self.drain();
                Err(Error::BufferOverflow(
                    "the socket receive queue overflowed (ENOBUFS); replies were lost".into(),
                ))
            }
            Err(e) => Err(Error::Io(e)),
        }
    }

    /// Discard every queued datagram without blocking.
    fn drain(&mut self) {
        loop {
            self.rx.clear();
            match self
                .socket
                .recv(&mut self.rx, libc::MSG_DONTWAIT | libc::MSG_TRUNC)
            {
                Ok(_) => continue,
                // ENOBUFS may be reported again; anything else (EAGAIN) ends it.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                Err(_) => break,
            }
        }
    }

    /// Send one request with `NLM_F_ACK` and collect its replies up to the ACK.
    fn transact(&mut self, msg: IpvsMessage, ctx: Ctx<'_>) -> Result<Vec<IpvsMessage>> {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        codec::encode(
            self.family_id,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            msg,
            &mut buf,
        );
        self.send(&buf)?;
        let mut messages = Vec::new();
        let mut interrupted = false;
        loop {
            self.recv()?;
            for reply in parse_replies(&self.rx, seq, &mut interrupted)? {
                match reply {
                    Reply::Msg(m) => messages.push(m),
                    Reply::Ack => return Ok(messages),
                    Reply::Nack(errno, ext) => return Err(map_errno(errno, ctx, ext)),
                    Reply::Done | Reply::Skip => {}
                }
            }
        }
    }

    fn dump_start(&mut self, msg: IpvsMessage) -> Result<u32> {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        codec::encode(
            self.family_id,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            msg,
            &mut buf,
        );
        self.send(&buf)?;
        Ok(seq)
    }

    /// Run a dump to the end, retrying when the kernel marks it interrupted.
    fn dump_all(&mut self, msg: IpvsMessage) -> Result<Vec<IpvsMessage>> {
        for _ in 0..DUMP_ATTEMPTS {
            let mut dump = RawDump::start(self, msg.clone())?;
            let mut out = Vec::new();
            let mut interrupted = false;
            while let Some(item) = dump.next_raw() {
                match item {
                    Ok(m) => out.push(m),
                    Err(Error::DumpInterrupted { .. }) => interrupted = true,
                    Err(e) => return Err(e),
                }
            }
            if !interrupted {
                return Ok(out);
            }
        }
        Err(Error::DumpInterrupted {
            attempts: DUMP_ATTEMPTS,
        })
    }

    fn resolve_family(&mut self) -> Result<u16> {
        let seq = self.next_seq();
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(codec::IPVS_GENL_NAME.to_string())],
        });
        genl.finalize();
        let mut nl = NetlinkMessage::from(genl);
        nl.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        nl.header.sequence_number = seq;
        nl.finalize();
        let mut buf = vec![0; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.send(&buf)?;
        let mut family = None;
        loop {
            self.recv()?;
            for nb in codec::frames(&self.rx) {
                let nb = nb?;
                let (mtype, mseq, payload) =
                    (nb.message_type(), nb.sequence_number(), nb.payload());
                if mseq != seq {
                    continue;
                }
                match mtype {
                    NLMSG_ERROR => {
                        let code = payload
                            .get(..4)
                            .and_then(|b| b.try_into().ok())
                            .map(i32::from_ne_bytes)
                            .ok_or_else(|| Error::Decode("short NLMSG_ERROR".into()))?;
                        if code == 0 {
                            return family.ok_or_else(|| Error::IpvsUnavailable {
                                reason: "the controller acknowledged without a family id".into(),
                            });
                        }
                        return Err(match -code {
                            libc::ENOENT => Error::IpvsUnavailable {
                                reason: "generic netlink family \"IPVS\" is not registered".into(),
                            },
                            errno => Error::IpvsUnavailable {
                                reason: format!(
                                    "resolving the generic netlink family \"IPVS\" failed: {}",
                                    std::io::Error::from_raw_os_error(errno)
                                ),
                            },
                        });
                    }
                    t if t == GENL_ID_CTRL => {
                        // Skip the 4-byte genl header, then look for CTRL_ATTR_FAMILY_ID.
                        for nla in NlasIterator::new(payload.get(4..).unwrap_or(&[])) {
                            let nla = nla?;
                            if nla.kind() == CTRL_ATTR_FAMILY_ID {
                                family = Some(parse_u16(nla.value()).map_err(|e| {
                                    Error::Decode(format!("invalid CTRL_ATTR_FAMILY_ID: {e}"))
                                })?);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every virtual service (retrying interrupted dumps).
    pub fn services(&mut self) -> Result<Vec<Service>> {
        self.dump_all(IpvsMessage::new(IpvsCmd::GetService, vec![]))?
            .iter()
            .map(|m| convert::service_of(m).map_err(Error::from))
            .collect()
    }

    /// Stream the services one by one without collecting the table.
    ///
    /// Not retried: if the kernel marks the dump interrupted, the iterator
    /// ends with `Err(Error::DumpInterrupted)` instead of stopping short.
    pub fn services_iter(&mut self) -> Result<ServiceDump<'_>> {
        let raw = RawDump::start(self, IpvsMessage::new(IpvsCmd::GetService, vec![]))?;
        Ok(ServiceDump { raw })
    }

    /// One service by key ([`Error::NoSuchService`] when absent).
    pub fn service(&mut self, key: &ServiceKey) -> Result<Service> {
        let msg = IpvsMessage::new(
            IpvsCmd::GetService,
            vec![IpvsCmdAttr::Service(convert::service_key_attrs(key)?)],
        );
        let replies = self.transact(msg, Ctx::GetService)?;
        let first = replies
            .first()
            .ok_or_else(|| Error::Decode("GET_SERVICE acknowledged without a service".into()))?;
        Ok(convert::service_of(first)?)
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

    fn dest_dump_message(key: &ServiceKey) -> Result<IpvsMessage> {
        Ok(IpvsMessage::new(
            IpvsCmd::GetDest,
            vec![IpvsCmdAttr::Service(convert::service_key_attrs(key)?)],
        ))
    }

    /// The destinations of a service ([`Error::NoSuchService`] when absent).
    pub fn destinations(&mut self, key: &ServiceKey) -> Result<Vec<Destination>> {
        let family = key.family();
        let dests = self
            .dump_all(Self::dest_dump_message(key)?)?
            .iter()
            .map(|m| convert::dest_of(m, family).map_err(Error::from))
            .collect::<Result<Vec<_>>>()?;
        if dests.is_empty() {
            // The kernel answers an empty dump for a missing service too.
            self.service(key)?;
        }
        Ok(dests)
    }

    /// Stream the destinations of a service.
    ///
    /// A missing service ends the stream with `Err(Error::NoSuchService)`,
    /// so collecting it into `Result<Vec<_>>` agrees with
    /// [`Handle::destinations`]. The kernel answers an empty dump for a
    /// missing service, so only an empty dump costs one more request (a
    /// `GET_SERVICE`) to tell the two apart.
    pub fn destinations_iter(&mut self, key: &ServiceKey) -> Result<DestinationDump<'_>> {
        let raw = RawDump::start(self, Self::dest_dump_message(key)?)?;
        Ok(DestinationDump {
            raw,
            key: *key,
            yielded: false,
        })
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
        let replies = self.transact(IpvsMessage::new(IpvsCmd::GetConfig, vec![]), Ctx::Query)?;
        let first = replies
            .first()
            .ok_or_else(|| Error::Decode("GET_CONFIG acknowledged without a reply".into()))?;
        Ok(convert::timeouts_of(first))
    }

    /// Set connection timeouts (0 leaves a value unchanged).
    pub fn set_timeouts(&mut self, timeouts: &Timeouts) -> Result<()> {
        self.execute(&Request::SetTimeouts(*timeouts))
    }

    /// IPVS version and connection table size.
    pub fn info(&mut self) -> Result<Info> {
        let replies = self.transact(IpvsMessage::new(IpvsCmd::GetInfo, vec![]), Ctx::Query)?;
        let first = replies
            .first()
            .ok_or_else(|| Error::Decode("GET_INFO acknowledged without a reply".into()))?;
        let (mut version, mut size) = (None, None);
        if let IpvsAttrs::Info(attrs) = &first.attrs {
            for a in attrs {
                match a {
                    InfoAttr::Version(v) => version = Some(*v),
                    InfoAttr::ConnTabSize(v) => size = Some(*v),
                    InfoAttr::Other(_) => {}
                }
            }
        }
        Ok(Info {
            version: version
                .ok_or_else(|| Error::Decode("missing IPVS_INFO_ATTR_VERSION".into()))?,
            conn_table_size: size
                .ok_or_else(|| Error::Decode("missing IPVS_INFO_ATTR_CONN_TAB_SIZE".into()))?,
        })
    }

    /// Running sync daemons.
    pub fn daemons(&mut self) -> Result<Vec<SyncDaemon>> {
        self.dump_all(IpvsMessage::new(IpvsCmd::GetDaemon, vec![]))?
            .iter()
            .map(|m| convert::daemon_of(m).map_err(Error::from))
            .collect()
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
        let msg = convert::request_message(request)?;
        self.transact(msg, Ctx::Request(request)).map(|_| ())
    }

    /// Start a batch: requests sent together, ACKs matched per request.
    pub fn batch(&mut self) -> Batch<'_> {
        Batch {
            handle: self,
            requests: Vec::new(),
        }
    }

    fn execute_batch(&mut self, requests: Vec<Request>) -> Result<BatchReport> {
        let mut results: Vec<Option<Result<()>>> = Vec::with_capacity(requests.len());
        let mut index = 0;
        while index < requests.len() {
            let chunk_end = (index + BATCH_CHUNK).min(requests.len());
            let mut buf = Vec::new();
            let mut pending: Vec<(u32, usize)> = Vec::new();
            for (i, req) in requests.iter().enumerate().take(chunk_end).skip(index) {
                match convert::request_message(req) {
                    Ok(msg) => {
                        let seq = self.next_seq();
                        codec::encode(
                            self.family_id,
                            NLM_F_REQUEST | NLM_F_ACK,
                            seq,
                            msg,
                            &mut buf,
                        );
                        pending.push((seq, i));
                        results.push(None);
                    }
                    Err(e) => results.push(Some(Err(e))),
                }
            }
            if !pending.is_empty() {
                self.send(&buf)?;
            }
            let mut remaining = pending.len();
            while remaining > 0 {
                self.recv()?;
                for msg in codec::decode(&self.rx) {
                    let (header, payload) = msg?.into_parts();
                    let Some(&(_, i)) = pending.iter().find(|(s, _)| *s == header.sequence_number)
                    else {
                        continue;
                    };
                    if let NetlinkPayload::Error(e) = payload {
                        if results[i].is_some() {
                            continue;
                        }
                        results[i] = Some(match e.code {
                            None => Ok(()),
                            Some(code) => Err(map_errno(
                                -code.get(),
                                Ctx::Request(&requests[i]),
                                codec::ext_ack_message(header.flags, &e.header),
                            )),
                        });
                        remaining -= 1;
                    }
                }
            }
            index = chunk_end;
        }
        let items = requests
            .into_iter()
            .zip(results)
            .map(|(request, result)| BatchItem {
                request,
                result: result.unwrap_or_else(|| Err(Error::Decode("no acknowledgement".into()))),
            })
            .collect();
        Ok(BatchReport { items })
    }
}

/// The sans-IO part of a dump: fed datagrams, it queues this dump's messages
/// and notes the end, an error, or the kernel's `NLM_F_DUMP_INTR` mark.
#[derive(Debug, Default)]
struct DumpProgress {
    seq: u32,
    queue: std::collections::VecDeque<IpvsMessage>,
    done: bool,
    interrupted: bool,
    error: Option<Error>,
}

impl DumpProgress {
    fn new(seq: u32) -> Self {
        DumpProgress {
            seq,
            ..Default::default()
        }
    }

    /// Take in one datagram. Messages of other sequence numbers are ignored.
    fn feed(&mut self, datagram: &[u8]) -> Result<()> {
        for reply in parse_replies(datagram, self.seq, &mut self.interrupted)? {
            match reply {
                Reply::Msg(m) if !self.done => self.queue.push_back(m),
                Reply::Done | Reply::Ack => self.done = true,
                Reply::Nack(errno, ext) => {
                    self.done = true;
                    self.queue.clear();
                    self.error = Some(map_errno(errno, Ctx::Query, ext));
                }
                Reply::Msg(_) | Reply::Skip => {}
            }
        }
        Ok(())
    }

    /// The next item if one is known without reading more: a message, the
    /// kernel's error, or the interrupted mark at the end. `None` means
    /// "read more" unless [`DumpProgress::done`] is set.
    fn next_ready(&mut self) -> Option<Result<IpvsMessage>> {
        if let Some(m) = self.queue.pop_front() {
            return Some(Ok(m));
        }
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        if self.done && self.interrupted {
            self.interrupted = false;
            return Some(Err(Error::DumpInterrupted { attempts: 1 }));
        }
        None
    }
}

/// A dump in progress: the request was sent, replies are read on demand.
#[derive(Debug)]
struct RawDump<'h> {
    handle: &'h mut Handle,
    progress: DumpProgress,
    failed: bool,
}

impl<'h> RawDump<'h> {
    fn start(handle: &'h mut Handle, msg: IpvsMessage) -> Result<RawDump<'h>> {
        let seq = handle.dump_start(msg)?;
        Ok(RawDump {
            handle,
            progress: DumpProgress::new(seq),
            failed: false,
        })
    }

    /// Next message; ends with `Err(DumpInterrupted)` if the kernel flagged the dump.
    fn next_raw(&mut self) -> Option<Result<IpvsMessage>> {
        loop {
            if self.failed {
                return None;
            }
            if let Some(item) = self.progress.next_ready() {
                if item.is_err() && self.progress.done {
                    self.failed = true;
                }
                return Some(item);
            }
            if self.progress.done {
                return None;
            }
            let step = self
                .handle
                .recv()
                .and_then(|()| self.progress.feed(&self.handle.rx));
            if let Err(e) = step {
                self.failed = true;
                return Some(Err(e));
            }
        }
    }
}

impl Drop for RawDump<'_> {
    fn drop(&mut self) {
        // Read the rest of an abandoned dump so the next request starts clean.
        while !self.progress.done && !self.failed {
            let step = self
                .handle
                .recv()
                .and_then(|()| self.progress.feed(&self.handle.rx));
            if step.is_err() {
                break;
            }
        }
    }
}

/// Decode one datagram into replies for sequence `seq`, noting `NLM_F_DUMP_INTR`.
fn parse_replies(datagram: &[u8], seq: u32, interrupted: &mut bool) -> Result<Vec<Reply>> {
    let mut out = Vec::new();
    for msg in codec::decode(datagram) {
        let (header, payload) = msg?.into_parts();
        if header.sequence_number != seq {
            // A reply to an earlier request that was abandoned: not ours.
            out.push(Reply::Skip);
            continue;
        }
        if header.flags & NLM_F_DUMP_INTR != 0 {
            *interrupted = true;
        }
        out.push(match payload {
            NetlinkPayload::InnerMessage(genl) => Reply::Msg(genl.payload),
            NetlinkPayload::Error(e) => match e.code {
                None => Reply::Ack,
                Some(code) => {
                    Reply::Nack(-code.get(), codec::ext_ack_message(header.flags, &e.header))
                }
            },
            NetlinkPayload::Done(_) => Reply::Done,
            NetlinkPayload::Overrun(_) => {
                return Err(Error::BufferOverflow(
                    "kernel reported NLMSG_OVERRUN".into(),
                ))
            }
            _ => Reply::Skip,
        });
    }
    Ok(out)
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
        self.handle.execute_batch(self.requests)
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
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.result.is_err())
    }
}

/// A streaming dump of services; see [`Handle::services_iter`].
///
/// An interrupted dump ends with `Err(Error::DumpInterrupted)` rather than
/// silently stopping short.
#[derive(Debug)]
pub struct ServiceDump<'h> {
    raw: RawDump<'h>,
}

impl Iterator for ServiceDump<'_> {
    type Item = Result<Service>;
    fn next(&mut self) -> Option<Self::Item> {
        self.raw
            .next_raw()
            .map(|r| r.and_then(|m| convert::service_of(&m).map_err(Error::from)))
    }
}

/// A streaming dump of destinations; see [`Handle::destinations_iter`].
///
/// An interrupted dump ends with `Err(Error::DumpInterrupted)`; a dump of a
/// missing service ends with `Err(Error::NoSuchService)`.
#[derive(Debug)]
pub struct DestinationDump<'h> {
    raw: RawDump<'h>,
    key: ServiceKey,
    /// Whether anything (a destination or an error) came out of the dump.
    yielded: bool,
}

impl Iterator for DestinationDump<'_> {
    type Item = Result<Destination>;
    fn next(&mut self) -> Option<Self::Item> {
        let family = self.key.family();
        match self.raw.next_raw() {
            Some(r) => {
                self.yielded = true;
                Some(r.and_then(|m| convert::dest_of(&m, family).map_err(Error::from)))
            }
            // An empty dump: an existing service without destinations, or a
            // missing service (the kernel does not say which). Ask once.
            None if !self.yielded => {
                self.yielded = true;
                match self.raw.handle.service(&self.key) {
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                }
            }
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod service_dump {
        include!("../tests/fixtures/service_dump.rs");
    }

    /// A kernel-captured message with its sequence number and flags replaced.
    fn with(msg: &[u8], seq: u32, extra_flags: u16) -> Vec<u8> {
        let mut m = msg.to_vec();
        let flags = u16::from_ne_bytes([m[6], m[7]]) | extra_flags;
        m[6..8].copy_from_slice(&flags.to_ne_bytes());
        m[8..12].copy_from_slice(&seq.to_ne_bytes());
        m
    }

    fn done(seq: u32) -> Vec<u8> {
        let mut m = vec![0u8; 20];
        m[0..4].copy_from_slice(&20u32.to_ne_bytes());
        m[4..6].copy_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE
        m[6..8].copy_from_slice(&2u16.to_ne_bytes()); // NLM_F_MULTI
        m[8..12].copy_from_slice(&seq.to_ne_bytes());
        m
    }

    fn drain(p: &mut DumpProgress) -> Vec<Result<IpvsMessage>> {
        std::iter::from_fn(|| p.next_ready()).collect()
    }

    #[test]
    fn dump_collects_its_own_messages_until_done() {
        let msgs = service_dump::MESSAGES;
        let mut p = DumpProgress::new(7);
        // A stale reply to another request in the same datagram is skipped.
        let mut first = with(msgs[0], 6, 0);
        first.extend(with(msgs[0], 7, 0));
        p.feed(&first).unwrap();
        assert!(!p.done);
        let mut rest = with(msgs[1], 7, 0);
        rest.extend(done(7));
        p.feed(&rest).unwrap();
        assert!(p.done);
        let items = drain(&mut p);
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i.is_ok()));
    }

    #[test]
    fn interrupted_dump_ends_with_an_error_not_silently() {
        let msgs = service_dump::MESSAGES;
        let mut p = DumpProgress::new(3);
        let mut d = with(msgs[0], 3, NLM_F_DUMP_INTR);
        d.extend(with(msgs[1], 3, 0));
        d.extend(done(3));
        p.feed(&d).unwrap();
        let items = drain(&mut p);
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok());
        assert!(matches!(items[2], Err(Error::DumpInterrupted { .. })));
    }

    #[test]
    fn kernel_error_in_a_dump_is_typed() {
        let mut nack = vec![0u8; 36];
        nack[0..4].copy_from_slice(&36u32.to_ne_bytes());
        nack[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        nack[8..12].copy_from_slice(&9u32.to_ne_bytes());
        nack[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        nack[20..24].copy_from_slice(&16u32.to_ne_bytes());
        let mut p = DumpProgress::new(9);
        p.feed(&nack).unwrap();
        let items = drain(&mut p);
        assert!(
            matches!(items.as_slice(), [Err(Error::PermissionDenied)]),
            "{items:?}"
        );
    }

    #[test]
    fn overrun_is_an_error() {
        let mut m = done(4);
        m[4..6].copy_from_slice(&4u16.to_ne_bytes()); // NLMSG_OVERRUN
        let mut p = DumpProgress::new(4);
        assert!(matches!(p.feed(&m), Err(Error::BufferOverflow(_))));
    }

    #[test]
    fn errno_mapping_depends_on_the_request() {
        let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
        let svc = Service::new(key, Scheduler::Rr);
        let dest = Destination::new(
            "198.51.100.1:80".parse().unwrap(),
            ForwardMethod::DirectRoute,
        );
        let add_svc = Request::AddService(svc.clone());
        let add_dest = Request::AddDestination(key, dest.clone());
        let del_dest = Request::DeleteDestination(key, dest.socket_addr());
        let m = |errno, r| map_errno(errno, Ctx::Request(r), None);
        assert!(matches!(m(libc::EEXIST, &add_svc), Error::ServiceExists));
        assert!(matches!(
            m(libc::EEXIST, &add_dest),
            Error::DestinationExists
        ));
        assert!(matches!(
            m(libc::ENOENT, &add_svc),
            Error::SchedulerNotFound { .. }
        ));
        assert!(matches!(
            m(libc::ENOENT, &del_dest),
            Error::NoSuchDestination
        ));
        assert!(matches!(m(libc::ESRCH, &add_dest), Error::NoSuchService));
        assert!(matches!(m(libc::EPERM, &add_dest), Error::PermissionDenied));
        assert!(
            matches!(m(libc::ENOMEM, &add_dest), Error::Errno { errno } if errno == libc::ENOMEM)
        );
        match map_errno(
            libc::EINVAL,
            Ctx::Request(&add_svc),
            Some("bad attr".into()),
        ) {
            Error::InvalidArgument { what, errno } => assert!(
                errno == Some(libc::EINVAL)
                    && what.contains("bad attr")
                    && what.contains("192.0.2.1:80"),
                "{what}"
            ),
            other => panic!("{other}"),
        }
    }
}
