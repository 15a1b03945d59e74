//! Streaming dumps of services and destinations.

use netlink_packet_generic::GenlMessage;

use super::errno::{map_error, Ctx};
use super::{first_reply, genl};
use crate::codec::IpvsMessage;
use crate::error::Result;
use crate::model::{Destination, Service, ServiceKey};
use crate::netlink::Dump;

type IpvsDump<'h> = Dump<'h, GenlMessage<IpvsMessage>>;

/// A streaming dump of services; see [`Handle::services_iter`](super::Handle::services_iter).
///
/// An interrupted dump ends with `Err(Error::DumpInterrupted)` rather than
/// silently stopping short.
#[derive(Debug)]
pub struct ServiceDump<'h> {
    dump: IpvsDump<'h>,
}

impl<'h> ServiceDump<'h> {
    pub(super) fn new(dump: IpvsDump<'h>) -> Self {
        ServiceDump { dump }
    }
}

impl Iterator for ServiceDump<'_> {
    type Item = Result<Service>;
    fn next(&mut self) -> Option<Self::Item> {
        let item = self.dump.next()?;
        Some(
            item.map_err(|e| map_error(e, Ctx::Query))
                .and_then(|m| Ok(m.payload.to_service()?)),
        )
    }
}

/// A streaming dump of destinations; see
/// [`Handle::destinations_iter`](super::Handle::destinations_iter).
///
/// An interrupted dump ends with `Err(Error::DumpInterrupted)`; a dump of a
/// missing service ends with `Err(Error::NoSuchService)`.
#[derive(Debug)]
pub struct DestinationDump<'h> {
    dump: IpvsDump<'h>,
    key: ServiceKey,
    family_id: u16,
    /// Whether anything (a destination or an error) came out of the dump.
    yielded: bool,
}

impl<'h> DestinationDump<'h> {
    pub(super) fn new(dump: IpvsDump<'h>, key: ServiceKey, family_id: u16) -> Self {
        DestinationDump {
            dump,
            key,
            family_id,
            yielded: false,
        }
    }

    /// Ask for the service: an empty dump means "no destinations" only if
    /// the service exists.
    fn check_service(&mut self) -> Result<()> {
        let msg = genl(self.family_id, IpvsMessage::get_service(&self.key)?);
        let reply = self
            .dump
            .transport()
            .request(msg)
            .map_err(|e| map_error(e, Ctx::GetService))?;
        first_reply(reply, "GET_SERVICE").map(|_| ())
    }
}

impl Iterator for DestinationDump<'_> {
    type Item = Result<Destination>;
    fn next(&mut self) -> Option<Self::Item> {
        let family = self.key.family();
        match self.dump.next() {
            Some(r) => {
                self.yielded = true;
                Some(
                    r.map_err(|e| map_error(e, Ctx::Query))
                        .and_then(|m| Ok(m.payload.to_destination(family)?)),
                )
            }
            // An empty dump: an existing service without destinations, or a
            // missing service (the kernel does not say which). Ask once.
            None if !self.yielded => {
                self.yielded = true;
                match self.check_service() {
                    Ok(()) => None,
                    Err(e) => Some(Err(e)),
                }
            }
            None => None,
        }
    }
}
