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
    Messages { buf: datagram, pos: 0 }
}

/// Iterator returned by [`decode`]; stops after the first error.
#[derive(Debug)]
pub struct Messages<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Iterator for Messages<'_> {
    type Item = Result<IpvsNetlinkMessage, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let result = NetlinkBuffer::new_checked(rest)
            .context("invalid netlink message framing")
            .and_then(|b| {
                let len = b.length() as usize;
                let msg = IpvsNetlinkMessage::deserialize(&rest[..len]);
                // Messages are 4-byte aligned; a length under the header size
                // was already rejected by new_checked, so this always advances.
                self.pos += (len + 3) & !3;
                msg
            });
        if result.is_err() {
            self.pos = self.buf.len();
        }
        Some(result)
    }
}

/// The extended-ack text (`NLMSGERR_ATTR_MSG`) of an `NLMSG_ERROR` payload,
/// if the kernel sent one. `error_flags` are the flags of the error message.
pub fn ext_ack_message(error_flags: u16, echoed: &[u8]) -> Option<String> {
    const NLMSGERR_ATTR_MSG: u16 = 1;
    let orig_len = u32::from_ne_bytes(echoed.get(..4)?.try_into().ok()?) as usize;
    let skip = if error_flags & NLM_F_CAPPED != 0 { 16 } else { (orig_len + 3) & !3 };
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
