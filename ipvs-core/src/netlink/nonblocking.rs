//! The async driver of the transport, on tokio (feature `tokio`): the same
//! sans-IO exchanges as the blocking [`Transport`](super::Transport), with
//! the socket registered in tokio's reactor.

use std::convert::Infallible;
use std::fmt::Debug;

use netlink_packet_core::{
    NetlinkDeserializable, NetlinkSerializable, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_sys::Socket;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::blocking::{checked, prepare, receive};
use super::exchange::{
    encode_request, BatchOutcome, BatchRun, BatchState, DumpState, RequestState,
};
use super::{NetlinkError, DUMP_ATTEMPTS, RECEIVE_BUFFER};
use crate::netns::{self, Netns};

/// An async netlink socket of one protocol: one request in flight at a time
/// (`&mut self`). Must be opened inside a tokio runtime.
#[derive(Debug)]
pub struct AsyncTransport {
    fd: AsyncFd<Socket>,
    seq: u32,
    rx: Vec<u8>,
}

impl AsyncTransport {
    /// Open a socket of `protocol` in the calling thread's network namespace.
    pub fn open(protocol: isize) -> Result<AsyncTransport, NetlinkError> {
        AsyncTransport::from_socket(Socket::new(protocol)?)
    }

    /// Open a socket of `protocol` in another network namespace (see
    /// [`Transport::open_in`](super::Transport::open_in)).
    pub fn open_in(protocol: isize, netns: &Netns) -> Result<AsyncTransport, NetlinkError> {
        let socket = netns::run_in(netns, || Socket::new(protocol))??;
        AsyncTransport::from_socket(socket)
    }

    /// Bind, connect and register an unbound socket.
    pub fn from_socket(mut socket: Socket) -> Result<AsyncTransport, NetlinkError> {
        prepare(&mut socket)?;
        socket.set_non_blocking(true)?;
        // Registering outside a runtime panics in tokio; say it instead.
        tokio::runtime::Handle::try_current().map_err(|e| {
            std::io::Error::other(format!(
                "an async netlink socket needs a tokio runtime: {e}"
            ))
        })?;
        // SAFETY: the Socket owns its file descriptor and closes it only when
        // dropped, and the AsyncFd owns the Socket: the descriptor stays open
        // and the same for the AsyncFd's whole life.
        let fd = unsafe { AsyncFd::register(socket) }.map_err(std::io::Error::from)?;
        Ok(AsyncTransport {
            fd,
            seq: 0,
            rx: Vec::with_capacity(RECEIVE_BUFFER),
        })
    }

    /// Set the socket's receive buffer (`SO_RCVBUF`).
    pub fn set_receive_buffer(&self, bytes: usize) -> Result<(), NetlinkError> {
        self.fd.get_ref().set_rx_buf_sz(bytes)?;
        Ok(())
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1).max(1);
        self.seq
    }

    async fn send(&self, bytes: &[u8]) -> Result<(), NetlinkError> {
        let n = self
            .fd
            .async_io(Interest::WRITABLE, |s| s.send(bytes, 0))
            .await?;
        if n != bytes.len() {
            return Err(NetlinkError::Io(std::io::Error::other(format!(
                "netlink send wrote {n} of {} bytes",
                bytes.len()
            ))));
        }
        Ok(())
    }

    async fn recv(&mut self) -> Result<(), NetlinkError> {
        let rx = &mut self.rx;
        let got = loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|s| receive(s.get_ref(), rx, 0)) {
                Ok(result) => break result,
                Err(_would_block) => continue,
            }
        };
        checked(self.fd.get_ref(), &mut self.rx, got)
    }

    /// Send one request with `NLM_F_ACK` and return its reply messages.
    pub async fn request<T>(&mut self, payload: T) -> Result<Vec<T>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        encode_request(payload, NLM_F_REQUEST | NLM_F_ACK, seq, &mut buf);
        self.send(&buf).await?;
        let mut state = RequestState::new(seq);
        loop {
            self.recv().await?;
            if let Some(done) = state.feed(&self.rx) {
                return done;
            }
        }
    }

    /// Run a dump to its end, without retrying.
    pub async fn dump<T>(&mut self, payload: T) -> Result<Vec<T>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        match self.dump_map(payload, &mut Ok::<T, Infallible>).await? {
            Ok(all) => Ok(all),
            Err(never) => match never {},
        }
    }

    /// [`AsyncTransport::dump`] that hands each message to `decode` as it
    /// arrives and keeps only what it returns (as
    /// [`Transport::dump_all_map`](super::Transport::dump_all_map)).
    async fn dump_map<T, R, E>(
        &mut self,
        payload: T,
        decode: &mut impl FnMut(T) -> Result<R, E>,
    ) -> Result<Result<Vec<R>, E>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        let seq = self.next_seq();
        let mut buf = Vec::new();
        encode_request(payload, NLM_F_REQUEST | NLM_F_DUMP, seq, &mut buf);
        self.send(&buf).await?;
        let mut state = DumpState::new(seq);
        let mut out = Vec::new();
        let mut failed = None;
        loop {
            while let Some(item) = state.next_ready() {
                let err = match item {
                    Ok(m) if failed.is_none() => match decode(m) {
                        Ok(value) => {
                            out.push(value);
                            continue;
                        }
                        Err(e) => {
                            failed = Some(e);
                            continue;
                        }
                    },
                    Ok(_) => continue,
                    Err(e) => e,
                };
                // Read the rest so the next request starts clean.
                while !state.is_done() && self.recv().await.is_ok() {
                    state.feed(&self.rx);
                }
                return Err(err);
            }
            if state.is_done() {
                return Ok(match failed {
                    Some(e) => Err(e),
                    None => Ok(out),
                });
            }
            match self.recv().await {
                Ok(()) => state.feed(&self.rx),
                Err(e) => state.fail(e),
            }
        }
    }

    /// Run a dump to its end, retrying it whole when the kernel marks it
    /// interrupted (as [`Transport::dump_all`](super::Transport::dump_all)).
    pub async fn dump_all<T>(&mut self, payload: T) -> Result<Vec<T>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug + Clone,
    {
        match self.dump_all_map(payload, Ok::<T, Infallible>).await? {
            Ok(all) => Ok(all),
            Err(never) => match never {},
        }
    }

    /// [`AsyncTransport::dump_all`] that decodes as it reads (as
    /// [`Transport::dump_all_map`](super::Transport::dump_all_map)).
    pub async fn dump_all_map<T, R, E>(
        &mut self,
        payload: T,
        mut decode: impl FnMut(T) -> Result<R, E>,
    ) -> Result<Result<Vec<R>, E>, NetlinkError>
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug + Clone,
    {
        for _ in 0..DUMP_ATTEMPTS {
            match self.dump_map(payload.clone(), &mut decode).await {
                Err(NetlinkError::DumpInterrupted { .. }) => continue,
                other => return other,
            }
        }
        Err(NetlinkError::DumpInterrupted {
            attempts: DUMP_ATTEMPTS,
        })
    }

    /// Send many requests with one result each (as
    /// [`Transport::batch`](super::Transport::batch)).
    pub async fn batch<T>(&mut self, payloads: Vec<T>) -> BatchOutcome
    where
        T: NetlinkSerializable + NetlinkDeserializable + Debug,
    {
        let mut run = BatchRun::new(payloads);
        while let Some((bytes, seqs)) = run.next_chunk(|| self.next_seq()) {
            if let Err(e) = self.send(&bytes).await {
                return run.abort(e);
            }
            let mut state = BatchState::new(&seqs);
            while !state.is_done() {
                let step = match self.recv().await {
                    Ok(()) => state.feed::<T>(&self.rx),
                    Err(e) => Err(e),
                };
                if let Err(e) = step {
                    run.record(state.finish());
                    return run.abort(e);
                }
            }
            run.record(state.finish());
        }
        run.finish()
    }
}
