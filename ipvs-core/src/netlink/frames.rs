//! Netlink framing: a datagram cut into messages at their aligned lengths,
//! and the extended-ACK text of an error message. Pure.

use netlink_packet_core::{DecodeError, ErrorContext, NetlinkBuffer, NlasIterator, NLM_F_CAPPED};

/// Split a datagram into its netlink messages, whatever their payload.
pub fn frames(datagram: &[u8]) -> Frames<'_> {
    Frames {
        buf: datagram,
        pos: 0,
    }
}

/// Iterator returned by [`frames`]: each item is one message, length-checked
/// and cut to its own `nlmsg_len`; stops after the first error.
#[derive(Debug)]
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Frames<'_> {
    pub(crate) fn stop(&mut self) {
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
