//! Pure encoding and decoding of IPVS generic-netlink messages (no I/O).
//!
//! [`nla`] holds one enum per attribute set, [`message`] the command and
//! message type, [`convert`] the mapping to and from the [model](crate)
//! types, and this module the netlink framing.

pub mod convert;
pub mod message;
pub mod nla;

use netlink_packet_core::{
    DecodeError, ErrorContext, NetlinkBuffer, NetlinkMessage, NlasIterator, NLM_F_CAPPED,
};
use netlink_packet_generic::GenlMessage;

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

/// Split a datagram into its netlink messages, whatever their payload (the
/// handle also reads generic-netlink controller replies this way).
pub(crate) fn frames(datagram: &[u8]) -> Frames<'_> {
    Frames {
        buf: datagram,
        pos: 0,
    }
}

/// Iterator returned by [`frames`]: each item is one message, length-checked
/// and cut to its own `nlmsg_len`; stops after the first error.
#[derive(Debug)]
pub(crate) struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Frames<'_> {
    fn stop(&mut self) {
        self.pos = self.buf.len();
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<NetlinkBuffer<&'a [u8]>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let frame = NetlinkBuffer::new_checked(rest)
            .context("invalid netlink message framing")
            .map(|b| {
                let len = b.length() as usize;
                // Messages are 4-byte aligned; a length under the header size
                // was already rejected by new_checked, so this always advances.
                self.pos += (len + 3) & !3;
                NetlinkBuffer::new(&rest[..len])
            });
        if frame.is_err() {
            self.stop();
        }
        Some(frame)
    }
}

/// The extended-ack text (`NLMSGERR_ATTR_MSG`) of an `NLMSG_ERROR` payload,
/// if the kernel sent one. `error_flags` are the flags of the error message.
pub fn ext_ack_message(error_flags: u16, echoed: &[u8]) -> Option<String> {
    const NLMSGERR_ATTR_MSG: u16 = 1;
    let orig_len = u32::from_ne_bytes(echoed.get(..4)?.try_into().ok()?) as usize;
    let skip = if error_flags & NLM_F_CAPPED != 0 {
        16
    } else {
        (orig_len + 3) & !3
    };
    let tlvs = echoed.get(skip..)?;
    for nla in NlasIterator::new(tlvs) {
        let nla = nla.ok()?;
        if nla.kind() == NLMSGERR_ATTR_MSG {
            let v = nla.value();
            let v = v.strip_suffix(&[0]).unwrap_or(v);
            return Some(String::from_utf8_lossy(v).into_owned());
        }
    }
    None
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
