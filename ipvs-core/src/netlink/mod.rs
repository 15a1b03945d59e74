//! The workspace's one netlink transport, for any netlink protocol.
//!
//! ipvs-core talks generic netlink through it and keepalived-lite talks
//! rtnetlink through it. It is built on the rust-netlink crates
//! (`netlink-sys` sockets, `netlink-packet-core` messages) and adds what
//! every request/reply exchange needs and those crates leave to the caller:
//!
//! - sequence numbers, and replies to abandoned requests skipped by number
//!   before they are decoded (they may be of another message type);
//! - messages split at their 4-byte aligned length ([`frames`]);
//! - multi-part dumps to `NLMSG_DONE`, with `NLM_F_DUMP_INTR` reported as
//!   [`NetlinkError::DumpInterrupted`] (and retried whole by
//!   [`Transport::dump_all`]) instead of a silently short answer;
//! - a receive buffer that cannot truncate silently (`MSG_TRUNC`), and
//!   `ENOBUFS` reported as [`NetlinkError::BufferOverflow`] after the
//!   socket is drained, never returned as a short answer;
//! - kernel errors with their extended-ACK text ([`ext_ack_message`]);
//! - batches: many requests in one `sendmsg`, one result each, partial
//!   results kept when a later chunk fails.
//!
//! The exchange logic is sans-IO ([`exchange`]): the blocking
//! [`Transport`] and the async transport (feature `tokio`) only send bytes
//! and feed the datagrams they receive to the same state machines.
//!
//! ```no_run
//! use ipvs_core::netlink::Transport;
//! use netlink_packet_core::{NetlinkMessage, NLM_F_DUMP, NLM_F_REQUEST};
//! use netlink_packet_route::{link::LinkMessage, RouteNetlinkMessage};
//! use netlink_sys::protocols::NETLINK_ROUTE;
//!
//! let mut rtnl = Transport::open(NETLINK_ROUTE)?;
//! let links = rtnl.dump_all(RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
//! println!("{} links", links.len());
//! # Ok::<(), ipvs_core::netlink::NetlinkError>(())
//! ```

mod blocking;
pub mod exchange;
mod frames;
#[cfg(feature = "tokio")]
mod nonblocking;

use std::io;

pub use blocking::{Dump, Transport};
pub use exchange::BatchOutcome;
pub use frames::{ext_ack_message, frames, Frames};
#[cfg(feature = "tokio")]
pub use nonblocking::AsyncTransport;

/// Receive buffer for one datagram; the kernel's dump skbs stay well below.
pub const RECEIVE_BUFFER: usize = 64 * 1024;
/// Requests per `sendmsg` in a batch, so their ACKs fit the receive queue.
pub const BATCH_CHUNK: usize = 128;
/// How often [`Transport::dump_all`] retries a dump marked interrupted.
pub const DUMP_ATTEMPTS: u32 = 5;

/// What can go wrong in a netlink exchange.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetlinkError {
    /// The socket failed.
    #[error("netlink socket error: {0}")]
    Io(#[from] io::Error),
    /// The kernel answered with an error code.
    #[error("kernel returned {}{}", io::Error::from_raw_os_error(*errno), ext_ack.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kernel {
        /// The positive errno value.
        errno: i32,
        /// The kernel's extended-ACK message, when it sent one.
        ext_ack: Option<String>,
    },
    /// Replies were lost (`ENOBUFS`, `NLMSG_OVERRUN`) or a datagram did not fit
    /// the buffer: the answer would be incomplete, so none is given.
    #[error("netlink receive buffer overflow: {0}")]
    BufferOverflow(String),
    /// A dump was marked `NLM_F_DUMP_INTR` (the table changed during it).
    #[error("dump interrupted by concurrent changes {attempts} times; giving up")]
    DumpInterrupted {
        /// How many times the dump was tried.
        attempts: u32,
    },
    /// A reply could not be decoded.
    #[error("cannot decode netlink message: {0}")]
    Decode(String),
    /// A batch request that was not sent because an earlier chunk failed.
    #[error("not sent: an earlier part of the batch failed")]
    NotSent,
    /// A batch request that was sent but whose acknowledgement was never
    /// read; the kernel may or may not have applied it.
    #[error("sent, but no acknowledgement was read (the kernel may have applied it)")]
    Unacknowledged,
}

impl NetlinkError {
    /// The kernel's errno, for [`NetlinkError::Kernel`] and socket errors.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { errno, .. } => Some(*errno),
            NetlinkError::Io(e) => e.raw_os_error(),
            NetlinkError::BufferOverflow(_) => Some(libc::ENOBUFS),
            _ => None,
        }
    }
}

impl From<netlink_packet_core::DecodeError> for NetlinkError {
    fn from(e: netlink_packet_core::DecodeError) -> Self {
        NetlinkError::Decode(e.to_string())
    }
}
