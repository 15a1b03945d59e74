//! Pure encoding and decoding of IPVS generic-netlink messages (no I/O).
//!
//! [`nla`] holds one enum per attribute set, [`message`] the command and
//! message type, [`Request`] and the [`IpvsMessage`] constructors the
//! requests, and this module the netlink framing. The mapping to and from
//! the [model](crate) types is internal; its public faces are
//! [`Request::to_message`] and the `IpvsMessage::to_*` decoders. Errors are
//! [`CodecError`]s: nothing here touches a socket.
//!
//! ```
//! use ipvs_core::codec::{self, Request};
//! use ipvs_core::{Scheduler, Service, ServiceKey};
//!
//! let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
//! let msg = Request::AddService(Service::new(key, Scheduler::Rr)).to_message()?;
//! let mut bytes = Vec::new();
//! codec::encode(0x1c, 0x5, 1, msg, &mut bytes);
//! let back = codec::decode(&bytes).next().unwrap()?;
//! let netlink_packet_core::NetlinkPayload::InnerMessage(genl) = back.payload else { panic!() };
//! assert_eq!(genl.payload.to_service()?.key, key);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod convert;
mod error;
pub mod message;
pub mod nla;
mod request;

pub use error::CodecError;
pub use request::Request;

use netlink_packet_core::{DecodeError, NetlinkMessage};
use netlink_packet_generic::GenlMessage;

use crate::netlink::{frames, Frames};

pub use message::{IpvsAttrs, IpvsCmd, IpvsMessage, IPVS_GENL_NAME, IPVS_GENL_VERSION};

/// A whole netlink message carrying an IPVS payload.
pub type IpvsNetlinkMessage = NetlinkMessage<GenlMessage<IpvsMessage>>;

/// Append one framed request (netlink header + genl header + attributes) to `out`.
pub fn encode(family_id: u16, flags: u16, seq: u32, msg: IpvsMessage, out: &mut Vec<u8>) {
    let mut genl = GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family_id);
    let mut nl = NetlinkMessage::from(genl);
    nl.header.flags = flags;
    nl.header.sequence_number = seq;
    nl.finalize();
    let start = out.len();
    out.resize(start + nl.buffer_len(), 0);
    nl.serialize(&mut out[start..]);
}

/// Iterate over the netlink messages packed in one datagram.
pub fn decode(datagram: &[u8]) -> Messages<'_> {
    Messages {
        frames: frames(datagram),
    }
}

/// Iterator returned by [`decode`]; stops after the first error.
#[derive(Debug)]
pub struct Messages<'a> {
    frames: Frames<'a>,
}

impl Iterator for Messages<'_> {
    type Item = Result<IpvsNetlinkMessage, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = self
            .frames
            .next()?
            .and_then(|frame| IpvsNetlinkMessage::deserialize(frame.into_inner()));
        if result.is_err() {
            self.frames.stop();
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod service_dump {
        include!("../../tests/fixtures/service_dump.rs");
    }

    /// Frames cut a datagram at each `nlmsg_len` (padded to 4), whatever the
    /// message type, and stop at the first bad frame; `decode` keeps working
    /// over them.
    #[test]
    fn frames_split_a_datagram_and_stop_at_bad_framing() {
        let msgs = service_dump::MESSAGES;
        // A controller-type message (type 0x10) with a 1-byte payload: its
        // length is not a multiple of 4, so the next frame starts after padding.
        let ctrl: [u8; 17] = [17, 0, 0, 0, 0x10, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0xAB];
        let mut datagram = Vec::new();
        datagram.extend_from_slice(msgs[0]);
        datagram.extend_from_slice(&ctrl);
        datagram.extend_from_slice(&[0, 0, 0]);
        datagram.extend_from_slice(msgs[1]);
        let got: Vec<(u16, u32, usize)> = frames(&datagram)
            .map(|f| {
                f.map(|b| (b.message_type(), b.sequence_number(), b.payload().len()))
                    .unwrap()
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (28, 1, msgs[0].len() - 16),
                (0x10, 9, 1),
                (28, 1, msgs[1].len() - 16)
            ]
        );
        // A frame claiming more than is there: an error, then nothing.
        let mut bad = msgs[0].to_vec();
        bad.extend_from_slice(&[200, 0, 0, 0, 28, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
        let mut it = frames(&bad);
        assert!(it.next().is_some_and(|f| f.is_ok()));
        assert!(it.next().is_some_and(|f| f.is_err()));
        assert!(it.next().is_none());
        let mut it = decode(&bad);
        assert!(it.next().is_some_and(|m| m.is_ok()));
        assert!(it.next().is_some_and(|m| m.is_err()));
        assert!(it.next().is_none());
    }
}
