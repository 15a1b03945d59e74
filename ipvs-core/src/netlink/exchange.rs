//! The sans-IO half of the transport: state machines fed the datagrams a
//! socket received, telling their driver when an exchange is complete.
//! The blocking and the async transports drive the same machines.

use std::collections::HashMap;
use std::fmt::Debug;
use std::marker::PhantomData;

use netlink_packet_core::{
    NetlinkBuffer, NetlinkDeserializable, NetlinkHeader, NetlinkMessage, NetlinkPayload,
    NetlinkSerializable, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN, NLM_F_ACK, NLM_F_DUMP_INTR,
    NLM_F_REQUEST,
};

use super::frames::{ext_ack_message, frames};
use super::{NetlinkError, BATCH_CHUNK};

/// One reply to a request, decoded.
#[derive(Debug)]
pub enum Reply<T> {
    /// A message of the protocol (a dump entry, a `GET` answer).
    Message(T),
    /// `NLMSG_ERROR` with code 0: the request was acknowledged.
    Ack,
    /// `NLMSG_ERROR` with an error code.
    Error {
        /// The positive errno.
        errno: i32,
        /// The kernel's extended-ACK text.
        ext_ack: Option<String>,
    },
    /// `NLMSG_DONE`: the end of a dump.
    Done,
}

/// A reply with the sequence number and flags of its header.
#[derive(Debug)]
pub struct Incoming<T> {
    /// The sequence number it answers.
    pub seq: u32,
    /// The header flags (`NLM_F_MULTI`, `NLM_F_DUMP_INTR`, ...).
    pub flags: u16,
    /// What it says.
    pub reply: Reply<T>,
}

/// Decode the messages of `datagram` whose sequence number `wanted`
/// accepts; the others (answers to abandoned requests, possibly of another
/// message type) are skipped before decoding. `NLMSG_OVERRUN` is an error.
pub fn parse<T>(
    datagram: &[u8],
    mut wanted: impl FnMut(u32) -> bool,
) -> Result<Vec<Incoming<T>>, NetlinkError>
where
    T: NetlinkDeserializable + Debug,
{
    let mut out = Vec::new();
    for frame in frames(datagram) {
        let frame = frame?;
        if !wanted(frame.sequence_number()) {
            continue;
        }
        out.extend(decode(frame)?);
    }
    Ok(out)
}

/// Decode one message; `None` for `NLMSG_NOOP` and types newer than ours.
fn decode<T>(frame: NetlinkBuffer<&[u8]>) -> Result<Option<Incoming<T>>, NetlinkError>
where
    T: NetlinkDeserializable + Debug,
{
    let seq = frame.sequence_number();
    let message = NetlinkMessage::<T>::deserialize(frame.into_inner())?;
    let (header, payload) = message.into_parts();
    let reply = match payload {
        NetlinkPayload::InnerMessage(m) => Reply::Message(m),
        NetlinkPayload::Error(e) => match e.code {
            None => Reply::Ack,
            Some(code) => Reply::Error {
                errno: -code.get(),
                ext_ack: ext_ack_message(header.flags, &e.header),
            },
        },
        NetlinkPayload::Done(_) => Reply::Done,
        NetlinkPayload::Overrun(_) => {
            return Err(NetlinkError::BufferOverflow(
                "the kernel reported NLMSG_OVERRUN".into(),
            ))
        }
        _ => return Ok(None),
    };
    Ok(Some(Incoming {
        seq,
        flags: header.flags,
        reply,
    }))
}

/// A request sent with `NLM_F_ACK`: its messages, up to the ACK or error.
#[derive(Debug)]
pub struct RequestState<T> {
    seq: u32,
    messages: Vec<T>,
}

impl<T: NetlinkDeserializable + Debug> RequestState<T> {
    /// The exchange of the request sent with sequence number `seq`.
    pub fn new(seq: u32) -> Self {
        RequestState {
            seq,
            messages: Vec::new(),
        }
    }

    /// Take in one datagram; `Some` once the exchange is complete.
    pub fn feed(&mut self, datagram: &[u8]) -> Option<Result<Vec<T>, NetlinkError>> {
        let seq = self.seq;
        let replies = match parse::<T>(datagram, |s| s == seq) {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        for incoming in replies {
            match incoming.reply {
                Reply::Message(m) => self.messages.push(m),
                Reply::Ack => return Some(Ok(std::mem::take(&mut self.messages))),
                Reply::Error { errno, ext_ack } => {
                    return Some(Err(NetlinkError::Kernel { errno, ext_ack }))
                }
                // A multi-part answer to a non-dump request ends with an ACK too.
                Reply::Done => {}
            }
        }
        None
    }
}

/// A dump in progress: fed datagrams, it notes the end, an error, or the
/// kernel's `NLM_F_DUMP_INTR` mark at once (from the headers), and decodes
/// this dump's messages one at a time as they are asked for. Holding the
/// datagram's bytes rather than its decoded messages keeps a large dump's
/// footprint at one datagram plus one message: a decoded message is several
/// times the size of its bytes.
#[derive(Debug)]
pub struct DumpState<T> {
    seq: u32,
    /// Bytes received and not yet decoded, from `pos` on.
    datagram: Vec<u8>,
    pos: usize,
    done: bool,
    interrupted: bool,
    error: Option<NetlinkError>,
    decoded: PhantomData<T>,
}

impl<T: NetlinkDeserializable + Debug> DumpState<T> {
    /// The dump requested with sequence number `seq`.
    pub fn new(seq: u32) -> Self {
        DumpState {
            seq,
            datagram: Vec::new(),
            pos: 0,
            done: false,
            interrupted: false,
            error: None,
            decoded: PhantomData,
        }
    }

    /// Whether the kernel has sent everything (or an error).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Take in one datagram. Its headers are read now (the end of the dump,
    /// an error, the interrupted mark, a framing error); its messages are
    /// decoded by [`Self::next_ready`].
    pub fn feed(&mut self, datagram: &[u8]) {
        if self.done {
            return;
        }
        for frame in frames(datagram) {
            let frame = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.fail(e.into());
                    return;
                }
            };
            if frame.sequence_number() != self.seq {
                continue;
            }
            if frame.flags() & NLM_F_DUMP_INTR != 0 {
                self.interrupted = true;
            }
            if matches!(
                frame.message_type(),
                NLMSG_DONE | NLMSG_ERROR | NLMSG_OVERRUN
            ) {
                self.done = true;
            }
        }
        self.datagram.drain(..self.pos);
        self.pos = 0;
        self.datagram.extend_from_slice(datagram);
    }

    /// End the dump with `error` (a socket error seen by the driver, too).
    pub fn fail(&mut self, error: NetlinkError) {
        self.done = true;
        self.datagram.clear();
        self.pos = 0;
        self.error = Some(error);
    }

    /// The next item known without reading more: a message, the error, or
    /// [`NetlinkError::DumpInterrupted`] after the last message of a dump
    /// the kernel marked. `None` means "read more" unless [`Self::is_done`].
    pub fn next_ready(&mut self) -> Option<Result<T, NetlinkError>> {
        while let Some(item) = self.next_frame() {
            match item {
                Ok(Reply::Message(m)) => return Some(Ok(m)),
                Ok(Reply::Error { errno, ext_ack }) => {
                    self.fail(NetlinkError::Kernel { errno, ext_ack })
                }
                Err(e) => self.fail(e),
                // The end was noted by `feed`; a dump has no ACK.
                Ok(Reply::Done | Reply::Ack) => {
                    self.datagram.clear();
                    self.pos = 0;
                }
            }
        }
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        if self.done && self.interrupted {
            self.interrupted = false;
            return Some(Err(NetlinkError::DumpInterrupted { attempts: 1 }));
        }
        None
    }

    /// Decode the next message of this dump in the held bytes.
    fn next_frame(&mut self) -> Option<Result<Reply<T>, NetlinkError>> {
        loop {
            let rest = self.datagram.get(self.pos..)?;
            let frame = frames(rest).next()?;
            let frame = match frame {
                Ok(f) => f,
                Err(e) => return Some(Err(e.into())),
            };
            self.pos += (frame.length() as usize + 3) & !3;
            if frame.sequence_number() != self.seq {
                continue;
            }
            match decode::<T>(frame) {
                Ok(Some(incoming)) => return Some(Ok(incoming.reply)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

/// The acknowledgements of a batch chunk: requests sent together, each
/// answered on its own.
#[derive(Debug)]
pub struct BatchState {
    pending: HashMap<u32, usize>,
    results: Vec<Option<Result<(), NetlinkError>>>,
}

impl BatchState {
    /// `seqs[i]` is the sequence number of request `i` of the chunk.
    pub fn new(seqs: &[u32]) -> Self {
        BatchState {
            pending: seqs.iter().enumerate().map(|(i, s)| (*s, i)).collect(),
            results: seqs.iter().map(|_| None).collect(),
        }
    }

    /// Whether every request has its answer.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }

    /// Take in one datagram of acknowledgements.
    pub fn feed<T: NetlinkDeserializable + Debug>(
        &mut self,
        datagram: &[u8],
    ) -> Result<(), NetlinkError> {
        let pending = &self.pending;
        for incoming in parse::<T>(datagram, |s| pending.contains_key(&s))? {
            let result = match incoming.reply {
                Reply::Ack => Ok(()),
                Reply::Error { errno, ext_ack } => Err(NetlinkError::Kernel { errno, ext_ack }),
                Reply::Message(_) | Reply::Done => continue,
            };
            if let Some(i) = self.pending.remove(&incoming.seq) {
                self.results[i] = Some(result);
            }
        }
        Ok(())
    }

    /// One result per request; those never answered are
    /// [`NetlinkError::Unacknowledged`].
    pub fn finish(self) -> Vec<Result<(), NetlinkError>> {
        self.results
            .into_iter()
            .map(|r| r.unwrap_or(Err(NetlinkError::Unacknowledged)))
            .collect()
    }
}

/// Serialize `payload` as one request message with `flags` and `seq`,
/// appended to `out`.
pub fn encode_request<T>(payload: T, flags: u16, seq: u32, out: &mut Vec<u8>)
where
    T: NetlinkSerializable + Debug,
{
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(payload));
    message.finalize();
    let start = out.len();
    out.resize(start + message.buffer_len(), 0);
    message.serialize(&mut out[start..]);
}

/// The outcome of a batch ([`Transport::batch`](super::Transport::batch)): one result per request, in order,
/// and the error that stopped the batch early, if one did.
#[derive(Debug)]
pub struct BatchOutcome {
    /// One result per request. After a failure that stopped the batch,
    /// requests sent but not answered are [`NetlinkError::Unacknowledged`]
    /// and those never sent [`NetlinkError::NotSent`].
    pub results: Vec<Result<(), NetlinkError>>,
    /// The socket error that stopped the batch, if any.
    pub aborted: Option<NetlinkError>,
}

/// A batch being sent chunk by chunk: the encoded chunks to send and the
/// results gathered so far, completed with [`NetlinkError::NotSent`] when
/// the batch stops early.
#[derive(Debug)]
pub struct BatchRun<T> {
    payloads: std::vec::IntoIter<T>,
    total: usize,
    results: Vec<Result<(), NetlinkError>>,
}

impl<T: NetlinkSerializable + Debug> BatchRun<T> {
    /// A batch of these requests.
    pub fn new(payloads: Vec<T>) -> Self {
        BatchRun {
            total: payloads.len(),
            payloads: payloads.into_iter(),
            results: Vec::new(),
        }
    }

    /// The next chunk's bytes (up to [`BATCH_CHUNK`] requests with
    /// `NLM_F_ACK`, numbered by `next_seq`) and its sequence numbers.
    pub fn next_chunk(&mut self, mut next_seq: impl FnMut() -> u32) -> Option<(Vec<u8>, Vec<u32>)> {
        let mut bytes = Vec::new();
        let mut seqs = Vec::new();
        for payload in self.payloads.by_ref().take(BATCH_CHUNK) {
            let seq = next_seq();
            encode_request(payload, NLM_F_REQUEST | NLM_F_ACK, seq, &mut bytes);
            seqs.push(seq);
        }
        (!seqs.is_empty()).then_some((bytes, seqs))
    }

    /// The answers to the chunk just sent.
    pub fn record(&mut self, chunk: Vec<Result<(), NetlinkError>>) {
        self.results.extend(chunk);
    }

    /// Stop after `error`: every request not yet recorded is not sent.
    pub fn abort(mut self, error: NetlinkError) -> BatchOutcome {
        let done = self.results.len();
        self.results
            .extend((done..self.total).map(|_| Err(NetlinkError::NotSent)));
        BatchOutcome {
            results: self.results,
            aborted: Some(error),
        }
    }

    /// Every chunk was answered.
    pub fn finish(self) -> BatchOutcome {
        BatchOutcome {
            results: self.results,
            aborted: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::IpvsMessage;
    use netlink_packet_generic::GenlMessage;

    type Progress = DumpState<GenlMessage<IpvsMessage>>;

    mod service_dump {
        include!("../../tests/fixtures/service_dump.rs");
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

    fn drain(p: &mut Progress) -> Vec<Result<GenlMessage<IpvsMessage>, NetlinkError>> {
        std::iter::from_fn(|| p.next_ready()).collect()
    }

    #[test]
    fn dump_collects_its_own_messages_until_done() {
        let msgs = service_dump::MESSAGES;
        let mut p = Progress::new(7);
        // A stale reply to another request in the same datagram is skipped.
        let mut first = with(msgs[0], 6, 0);
        first.extend(with(msgs[0], 7, 0));
        p.feed(&first);
        assert!(!p.is_done());
        let mut rest = with(msgs[1], 7, 0);
        rest.extend(done(7));
        p.feed(&rest);
        assert!(p.is_done());
        let items = drain(&mut p);
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(|i| i.is_ok()));
    }

    #[test]
    fn dump_decodes_on_demand_across_datagrams_fed_early() {
        // Two datagrams fed before anything is taken (the blocking driver
        // receives two at once): every message comes out, in order, and the
        // end is known from the headers before any message is decoded.
        let msgs = service_dump::MESSAGES;
        let mut p = Progress::new(5);
        p.feed(&with(msgs[0], 5, 0));
        let mut second = with(msgs[1], 5, 0);
        second.extend(done(5));
        p.feed(&second);
        assert!(p.is_done());
        let first = p.next_ready().expect("first").expect("decodes");
        p.feed(&done(5)); // after the end: ignored
        let rest = drain(&mut p);
        assert_eq!(rest.len(), 1);
        let expected = |raw: &[u8]| {
            NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(raw)
                .expect("fixture")
                .payload
        };
        assert_eq!(NetlinkPayload::InnerMessage(first), expected(msgs[0]));
        let second = rest.into_iter().next().expect("second").expect("decodes");
        assert_eq!(NetlinkPayload::InnerMessage(second), expected(msgs[1]));
    }

    #[test]
    fn undecodable_message_ends_the_dump_with_an_error() {
        let msgs = service_dump::MESSAGES;
        let mut bad = with(msgs[0], 2, 0);
        // The first attribute's length runs past the message.
        bad[20..22].copy_from_slice(&0xfff0u16.to_ne_bytes());
        let mut d = with(msgs[1], 2, 0);
        d.extend(bad);
        d.extend(done(2));
        let mut p = Progress::new(2);
        p.feed(&d);
        let items = drain(&mut p);
        assert!(items[0].is_ok(), "{items:?}");
        assert!(items.last().is_some_and(|i| i.is_err()), "{items:?}");
    }

    #[test]
    fn interrupted_dump_ends_with_an_error_not_silently() {
        let msgs = service_dump::MESSAGES;
        let mut p = Progress::new(3);
        let mut d = with(msgs[0], 3, NLM_F_DUMP_INTR);
        d.extend(with(msgs[1], 3, 0));
        d.extend(done(3));
        p.feed(&d);
        let items = drain(&mut p);
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok());
        assert!(matches!(
            items[2],
            Err(NetlinkError::DumpInterrupted { .. })
        ));
    }

    #[test]
    fn kernel_error_in_a_dump_is_typed() {
        let mut nack = vec![0u8; 36];
        nack[0..4].copy_from_slice(&36u32.to_ne_bytes());
        nack[4..6].copy_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        nack[8..12].copy_from_slice(&9u32.to_ne_bytes());
        nack[16..20].copy_from_slice(&(-libc::EPERM).to_ne_bytes());
        nack[20..24].copy_from_slice(&16u32.to_ne_bytes());
        let mut p = Progress::new(9);
        p.feed(&nack);
        let items = drain(&mut p);
        assert!(
            matches!(
                items.as_slice(),
                [Err(NetlinkError::Kernel {
                    errno: libc::EPERM,
                    ..
                })]
            ),
            "{items:?}"
        );
    }

    #[test]
    fn overrun_is_an_error() {
        let mut m = done(4);
        m[4..6].copy_from_slice(&4u16.to_ne_bytes()); // NLMSG_OVERRUN
        let mut p = Progress::new(4);
        p.feed(&m);
        assert!(matches!(
            drain(&mut p).as_slice(),
            [Err(NetlinkError::BufferOverflow(_))]
        ));
    }
}
