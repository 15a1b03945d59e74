//! The blocking driver of the transport: one `netlink-sys` socket.

use std::convert::Infallible;
use std::fmt::Debug;
use std::os::fd::AsRawFd;

use netlink_packet_core::{
    NetlinkDeserializable, NetlinkSerializable, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_sys::{Socket, SocketAddr};

use super::exchange::{
    encode_request, BatchOutcome, BatchRun, BatchState, DumpState, RequestState,
};
use super::frames::frames;
use super::{NetlinkError, DUMP_ATTEMPTS, RECEIVE_BUFFER};
use crate::netns::{self, Netns};

/// A blocking netlink socket of one protocol that sends requests and reads
/// their replies: one request in flight at a time (`&mut self`).
#[derive(Debug)]
pub struct Transport {
    socket: Socket,
    seq: u32,
    rx: Vec<u8>,
    /// The second datagram of [`Transport::recv_two`].
    rx_next: Vec<u8>,
}

/// Bind and connect an unbound socket, and turn on small ACKs and
/// extended-ACK messages where the kernel offers them.
pub(crate) fn prepare(socket: &mut Socket) -> Result<(), NetlinkError> {
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    // Both are optional features; without them errors echo the request
    // and carry no text, which the exchange handles too.
    let _ = socket.set_cap_ack(true);
    let _ = socket.set_ext_ack(true);
    // Room for the ACKs of a batch chunk; capped by net.core.rmem_max.
    let _ = socket.set_rx_buf_sz(1 << 20);
    Ok(())
}

/// Receive one datagram into `rx` (cleared first) with `MSG_TRUNC`, so the
/// returned length is the datagram's even when it did not fit.
pub(crate) fn receive(
    socket: &Socket,
    rx: &mut Vec<u8>,
    flags: libc::c_int,
) -> std::io::Result<usize> {
    rx.clear();
    if rx.capacity() < RECEIVE_BUFFER {
        rx.reserve(RECEIVE_BUFFER);
    }
    socket.recv(rx, flags | libc::MSG_TRUNC)
}

/// What a [`receive`] means: a whole datagram, or an overflow (a datagram
/// larger than the buffer, or `ENOBUFS`: then the queue is drained so the
/// next request starts from a clean socket).
pub(crate) fn checked(
    socket: &Socket,
    rx: &mut Vec<u8>,
    got: std::io::Result<usize>,
) -> Result<(), NetlinkError> {
    let cap = rx.capacity();
    match got {
        Ok(n) if n > cap => Err(NetlinkError::BufferOverflow(format!(
            "a {n}-byte reply did not fit the {cap}-byte receive buffer"
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
            drain(socket, rx);
            Err(NetlinkError::BufferOverflow(
                "the socket receive queue overflowed (ENOBUFS); replies were lost".into(),
            ))
        }
        Err(e) => Err(NetlinkError::Io(e)),
    }
}

/// Discard every queued datagram without blocking.
fn drain(socket: &Socket, rx: &mut Vec<u8>) {
    loop {
        rx.clear();
        match socket.recv(rx, libc::MSG_DONTWAIT | libc::MSG_TRUNC) {
            Ok(_) => continue,
            // ENOBUFS may be reported again; anything else (EAGAIN) ends it.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
            Err(_) => break,
        }
    }
}

impl Transport {
    /// Open a socket of `protocol` (`NETLINK_GENERIC`, `NETLINK_ROUTE`, ...)
    /// in the calling thread's network namespace.
    pub fn open(protocol: isize) -> Result<Transport, NetlinkError> {
        Transport::from_socket(Socket::new(protocol)?)
    }

    /// Open a socket of `protocol` in another network namespace. The socket
    /// stays in that namespace for its whole life; the calling thread's
    /// namespace is not changed (a short-lived thread enters the namespace).
    pub fn open_in(protocol: isize, netns: &Netns) -> Result<Transport, NetlinkError> {
        let socket = netns::run_in(netns, || Socket::new(protocol))??;
        Transport::from_socket(socket)
    }

    /// Bind and connect an unbound socket, and turn on small ACKs and
    /// extended-ACK messages where the kernel offers them.
    pub fn from_socket(mut socket: Socket) -> Result<Transport, NetlinkError> {
        prepare(&mut socket)?;
        Ok(Transport {
            socket,
            seq: 0,
            rx: Vec::with_capacity(RECEIVE_BUFFER),
            rx_next: Vec::new(),
        })
    }

    /// The underlying socket (for options such as multicast groups).
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Set the socket's receive buffer (`SO_RCVBUF`, capped by
    /// `net.core.rmem_max`). Replies that overflow it are reported as
    /// [`NetlinkError::BufferOverflow`], never returned short.
    pub fn set_receive_buffer(&self, bytes: usize) -> Result<(), NetlinkError> {
        self.socket.set_rx_buf_sz(bytes)?;
        Ok(())
    }

    pub(crate) fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    fn send(&self, bytes: &[u8]) -> Result<(), NetlinkError> {
        let n = self.socket.send(bytes, 0)?;
        if n != bytes.len() {
            return Err(NetlinkError::Io(std::io::Error::other(format!(
                "netlink send wrote {n} of {} bytes",
                bytes.len()
            ))));
        }
        Ok(())
    }

    /// Receive one datagram into `self.rx`.
    fn recv(&mut self) -> Result<(), NetlinkError> {
        let got = receive(&self.socket, &mut self.rx, 0);
        checked(&self.socket, &mut self.rx, got)
    }

    /// Receive one datagram, and a second one if it is already queued, in
    /// one system call (`recvmmsg` with `MSG_WAITFORONE`), into `self.rx`
    /// and `self.rx_next`; how many came. Made for dumps: reading a dump's
    /// datagram makes the kernel queue the next one (or the `NLMSG_DONE`)
    /// before the read returns, so a small dump costs one call, not two.
    fn recv_two(&mut self) -> Result<usize, NetlinkError> {
        for rx in [&mut self.rx, &mut self.rx_next] {
            rx.clear();
            if rx.capacity() < RECEIVE_BUFFER {
                rx.reserve(RECEIVE_BUFFER);
            }
        }
        let caps = [self.rx.capacity(), self.rx_next.capacity()];
        let mut iov = [
            libc::iovec {
                iov_base: self.rx.as_mut_ptr().cast(),
                iov_len: caps[0],
            },
            libc::iovec {
                iov_base: self.rx_next.as_mut_ptr().cast(),
                iov_len: caps[1],
            },
        ];
        // SAFETY: mmsghdr is plain data; all-zero is a valid empty header.
        let mut headers: [libc::mmsghdr; 2] = unsafe { std::mem::zeroed() };
        for (header, iov) in headers.iter_mut().zip(iov.iter_mut()) {
            header.msg_hdr.msg_iov = iov;
            header.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: each header points at one iovec describing the spare
        // capacity of a live Vec; the kernel writes at most iov_len bytes
        // there. Nothing else borrows the Vecs during the call.
        let got = unsafe {
            libc::recvmmsg(
                self.socket.as_raw_fd(),
                headers.as_mut_ptr(),
                2,
                libc::MSG_WAITFORONE | libc::MSG_TRUNC,
                std::ptr::null_mut(),
            )
        };
        if got < 0 {
            let e = std::io::Error::last_os_error();
            return checked(&self.socket, &mut self.rx, Err(e)).map(|()| 0);
        }
        let got = got as usize;
        for (i, rx) in [&mut self.rx, &mut self.rx_next]
            .into_iter()
            .enumerate()
            .take(got)
        {
            // With MSG_TRUNC, msg_len is the datagram's length even when it
            // did not fit: `checked` reports that as an overflow.
            let len = headers[i].msg_len as usize;
            // SAFETY: the kernel initialised min(len, capacity) bytes.
            unsafe { rx.set_len(len.min(caps[i])) };
            checked(&self.socket, rx, Ok(len))?;
        }
        Ok(got)
    }

    /// Send one request with `NLM_F_ACK` and return its reply messages once
    /// the kernel acknowledged it; a kernel error is [`NetlinkError::Kernel`].
    pub fn request<T>(&mut self, payload: T) -> Result<Vec<T>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        self.request_with(payload, 0)
    }

    /// [`Transport::request`] with more header flags (`NLM_F_CREATE`,
    /// `NLM_F_EXCL`, `NLM_F_REPLACE`, ...).
    pub fn request_with<T>(&mut self, payload: T, flags: u16) -> Result<Vec<T>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        encode_request(payload, NLM_F_REQUEST | NLM_F_ACK | flags, seq, &mut buf);
        self.send(&buf)?;
        let mut state = RequestState::new(seq);
        loop {
            self.recv()?;
            if let Some(done) = state.feed(&self.rx) {
                return done;
            }
        }
    }

    /// Start a dump and stream its messages. Not retried: a dump the kernel
    /// marks interrupted ends with [`NetlinkError::DumpInterrupted`].
    pub fn dump<T>(&mut self, payload: T) -> Result<Dump<'_, T>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        encode_request(payload, NLM_F_REQUEST | NLM_F_DUMP, seq, &mut buf);
        self.send(&buf)?;
        Ok(Dump {
            transport: self,
            state: DumpState::new(seq),
            finished: false,
        })
    }

    /// Run a dump to its end, retrying it whole (up to [`DUMP_ATTEMPTS`]
    /// times) when the kernel marks it interrupted.
    pub fn dump_all<T>(&mut self, payload: T) -> Result<Vec<T>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug + Clone,
    {
        match self.dump_all_map(payload, Ok::<T, Infallible>)? {
            Ok(all) => Ok(all),
            Err(never) => match never {},
        }
    }

    /// [`Transport::dump_all`] that hands each message to `decode` as it
    /// arrives and keeps only what `decode` returns. A parsed message is
    /// several times the size of the value it describes, so a large table is
    /// never held as messages. The first decode error ends the dump (its rest
    /// is read and dropped) and is returned inside `Ok`.
    pub fn dump_all_map<T, R, E>(
        &mut self,
        payload: T,
        mut decode: impl FnMut(T) -> Result<R, E>,
    ) -> Result<Result<Vec<R>, E>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug + Clone,
    {
        'attempts: for _ in 0..DUMP_ATTEMPTS {
            let mut out = Vec::new();
            for item in self.dump(payload.clone())? {
                match item {
                    Ok(message) => match decode(message) {
                        Ok(value) => out.push(value),
                        Err(e) => return Ok(Err(e)),
                    },
                    Err(NetlinkError::DumpInterrupted { .. }) => continue 'attempts,
                    Err(e) => return Err(e),
                }
            }
            return Ok(Ok(out));
        }
        Err(NetlinkError::DumpInterrupted {
            attempts: DUMP_ATTEMPTS,
        })
    }

    /// Send `payload` with `flags` and return every reply message's bytes as
    /// the kernel sent them, up to the end of the exchange: the ACK or error
    /// (included), or a dump's `NLMSG_DONE` (left out). For capturing byte
    /// fixtures and for debugging.
    pub fn capture<T>(&mut self, payload: T, flags: u16) -> Result<Vec<Vec<u8>>, NetlinkError>
    where
        T: NetlinkSerializable + Debug,
    {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        encode_request(payload, flags, seq, &mut buf);
        self.send(&buf)?;
        let mut messages = Vec::new();
        loop {
            self.recv()?;
            for frame in frames(&self.rx) {
                let frame = frame?;
                if frame.sequence_number() != seq {
                    continue;
                }
                match frame.message_type() {
                    NLMSG_DONE => return Ok(messages),
                    NLMSG_ERROR => {
                        messages.push(frame.into_inner().to_vec());
                        return Ok(messages);
                    }
                    _ => messages.push(frame.into_inner().to_vec()),
                }
            }
        }
    }

    /// Send many requests, [`BATCH_CHUNK`](super::BATCH_CHUNK) per `sendmsg`, each with
    /// `NLM_F_ACK`, and collect one result per request. A socket error stops
    /// the batch but keeps the results already acknowledged.
    pub fn batch<T>(&mut self, payloads: Vec<T>) -> BatchOutcome
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        let mut run = BatchRun::new(payloads);
        while let Some((bytes, seqs)) = run.next_chunk(|| self.next_seq()) {
            if let Err(e) = self.send(&bytes) {
                return run.abort(e);
            }
            let mut state = BatchState::new(&seqs);
            while !state.is_done() {
                if let Err(e) = self.recv().and_then(|()| state.feed::<T>(&self.rx)) {
                    run.record(state.finish());
                    return run.abort(e);
                }
            }
            run.record(state.finish());
        }
        run.finish()
    }
}

/// A dump in progress on a [`Transport`]: an iterator of its messages.
///
/// Dropping it early reads the rest of the dump, so the next request on the
/// transport starts clean.
#[derive(Debug)]
pub struct Dump<'t, T: NetlinkDeserializable + Debug> {
    transport: &'t mut Transport,
    state: DumpState<T>,
    finished: bool,
}

impl<T: NetlinkDeserializable + Debug> Dump<'_, T> {
    /// The transport the dump runs on, for a request after it ended.
    pub(crate) fn transport(&mut self) -> &mut Transport {
        self.transport
    }
}

impl<T: NetlinkDeserializable + Debug> Iterator for Dump<'_, T> {
    type Item = Result<T, NetlinkError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(item) = self.state.next_ready() {
                if item.is_err() && self.state.is_done() {
                    self.finished = true;
                }
                return Some(item);
            }
            if self.state.is_done() {
                self.finished = true;
                return None;
            }
            match self.transport.recv_two() {
                Ok(got) => {
                    self.state.feed(&self.transport.rx);
                    if got > 1 {
                        self.state.feed(&self.transport.rx_next);
                    }
                }
                Err(e) => self.state.fail(e),
            }
        }
    }
}

impl<T: NetlinkDeserializable + Debug> Drop for Dump<'_, T> {
    fn drop(&mut self) {
        while !self.state.is_done() {
            match self.transport.recv() {
                Ok(()) => self.state.feed(&self.transport.rx),
                Err(_) => break,
            }
        }
    }
}
