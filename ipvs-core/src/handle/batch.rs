//! Batches: many requests in one `sendmsg`, one result each.

use netlink_packet_generic::GenlMessage;

use super::errno::{map_error, Ctx};
use super::{genl, Handle};
use crate::codec::{IpvsMessage, Request};
use crate::error::{Error, Result};
use crate::netlink::BatchOutcome;

/// Requests sent together, each acknowledged separately.
#[derive(Debug)]
pub struct Batch<'h> {
    handle: &'h mut Handle,
    requests: Vec<Request>,
}

impl<'h> Batch<'h> {
    pub(super) fn new(handle: &'h mut Handle) -> Self {
        Batch {
            handle,
            requests: Vec::new(),
        }
    }

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
    ///
    /// Requests that cannot be encoded fail alone without being sent. When
    /// the socket fails part-way, the report keeps what the kernel already
    /// acknowledged and says which requests were not sent
    /// ([`Error::NotSent`]) or not acknowledged ([`Error::Unacknowledged`]);
    /// [`BatchReport::aborted`] holds the socket error.
    pub fn execute(self) -> BatchReport {
        let encoded = encode(&self.requests);
        let outcome = self
            .handle
            .transport
            .batch(to_send(self.handle.family_id, &encoded));
        report(self.requests, encoded, outcome)
    }
}

/// Each request's message, or why it cannot be sent.
pub(crate) fn encode(requests: &[Request]) -> Vec<Result<IpvsMessage>> {
    requests
        .iter()
        .map(|r| r.to_message().map_err(Error::from))
        .collect()
}

/// The messages to send: those that encoded.
pub(crate) fn to_send(
    family_id: u16,
    encoded: &[Result<IpvsMessage>],
) -> Vec<GenlMessage<IpvsMessage>> {
    encoded
        .iter()
        .filter_map(|m| m.as_ref().ok().map(|m| genl(family_id, m.clone())))
        .collect()
}

/// One item per request: its encoding error, or what the kernel said.
pub(crate) fn report(
    requests: Vec<Request>,
    encoded: Vec<Result<IpvsMessage>>,
    outcome: BatchOutcome,
) -> BatchReport {
    let mut sent = outcome.results.into_iter();
    let items = requests
        .into_iter()
        .zip(encoded)
        .map(|(request, message)| {
            let result = match message {
                Err(e) => Err(e),
                Ok(_) => match sent.next() {
                    Some(Ok(())) => Ok(()),
                    Some(Err(e)) => Err(map_error(e, Ctx::Request(&request))),
                    None => Err(Error::Unacknowledged),
                },
            };
            BatchItem { request, result }
        })
        .collect();
    BatchReport {
        items,
        aborted: outcome.aborted.map(Error::from),
    }
}

/// The outcome of a [`Batch`], one item per request in order.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchReport {
    /// Each request with its result.
    pub items: Vec<BatchItem>,
    /// The socket error that stopped the batch part-way, if one did; the
    /// items then still say what was acknowledged before it.
    pub aborted: Option<Error>,
}

/// One request of a batch and what the kernel said.
#[derive(Debug)]
#[non_exhaustive]
pub struct BatchItem {
    /// The request.
    pub request: Request,
    /// `Ok` when acknowledged, else the typed error.
    pub result: Result<()>,
}

impl BatchReport {
    /// Whether every request succeeded.
    pub fn is_ok(&self) -> bool {
        self.aborted.is_none() && self.items.iter().all(|i| i.result.is_ok())
    }

    /// The failed items with their index.
    pub fn failures(&self) -> impl Iterator<Item = (usize, &BatchItem)> {
        self.items
            .iter()
            .enumerate()
            .filter(|(_, i)| i.result.is_err())
    }

    /// The requests the kernel acknowledged, in order.
    pub fn applied(&self) -> impl Iterator<Item = &Request> {
        self.items
            .iter()
            .filter(|i| i.result.is_ok())
            .map(|i| &i.request)
    }
}
