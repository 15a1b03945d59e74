//! Requests as values: the changes ([`Request`]) and the queries
//! ([`IpvsMessage`] constructors) a handle sends, and the decoders of the
//! kernel's replies. Pure: nothing here needs a socket.

use std::net::SocketAddr;

use super::convert;
use super::error::CodecError;
use super::message::{IpvsAttrs, IpvsCmd, IpvsMessage};
use super::nla::{InfoAttr, IpvsCmdAttr};
use crate::model::{
    AddressFamily, DaemonState, Destination, Info, Service, ServiceKey, SyncDaemon, Timeouts,
};

/// One change to the IPVS table, for `Handle::execute` and batches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Request {
    /// Add a virtual service.
    AddService(Service),
    /// Change an existing service (scheduler, flags, timeout, netmask, pe).
    EditService(Service),
    /// Delete a service and its destinations.
    DeleteService(ServiceKey),
    /// Delete every service.
    Flush,
    /// Add a destination to a service.
    AddDestination(ServiceKey, Destination),
    /// Change a destination of a service.
    EditDestination(ServiceKey, Destination),
    /// Delete a destination (by address and port) from a service.
    DeleteDestination(ServiceKey, SocketAddr),
    /// Zero the counters of one service, or of all with `None`.
    Zero(Option<ServiceKey>),
    /// Set the connection timeouts (0 leaves a value unchanged).
    SetTimeouts(Timeouts),
    /// Start a sync daemon.
    StartDaemon(SyncDaemon),
    /// Stop the sync daemon of a state.
    StopDaemon(DaemonState),
}

impl Request {
    /// The message that carries this request, validated (names fit, fwmark
    /// non-zero, netmask of the service's family, ...).
    pub fn to_message(&self) -> Result<IpvsMessage, CodecError> {
        convert::request_message(self)
    }
}

impl IpvsMessage {
    /// The dump request for every service.
    pub fn dump_services() -> Self {
        IpvsMessage::new(IpvsCmd::GetService, vec![])
    }

    /// The request for one service.
    pub fn get_service(key: &ServiceKey) -> Result<Self, CodecError> {
        Ok(IpvsMessage::new(
            IpvsCmd::GetService,
            vec![IpvsCmdAttr::Service(convert::service_key_attrs(key)?)],
        ))
    }

    /// The dump request for the destinations of a service.
    pub fn dump_destinations(key: &ServiceKey) -> Result<Self, CodecError> {
        Ok(IpvsMessage::new(
            IpvsCmd::GetDest,
            vec![IpvsCmdAttr::Service(convert::service_key_attrs(key)?)],
        ))
    }

    /// The dump request for the running sync daemons.
    pub fn dump_daemons() -> Self {
        IpvsMessage::new(IpvsCmd::GetDaemon, vec![])
    }

    /// The request for the connection timeouts.
    pub fn get_timeouts() -> Self {
        IpvsMessage::new(IpvsCmd::GetConfig, vec![])
    }

    /// The request for the version and connection table size.
    pub fn get_info() -> Self {
        IpvsMessage::new(IpvsCmd::GetInfo, vec![])
    }

    /// The service this message carries (a service dump entry or reply).
    pub fn to_service(&self) -> Result<Service, CodecError> {
        Ok(convert::service_of(self)?)
    }

    /// The destination this message carries; `service_family` is used when
    /// the kernel sends no address family (kernels before 5.x).
    pub fn to_destination(&self, service_family: AddressFamily) -> Result<Destination, CodecError> {
        Ok(convert::dest_of(self, service_family)?)
    }

    /// The sync daemon this message carries.
    pub fn to_daemon(&self) -> Result<SyncDaemon, CodecError> {
        Ok(convert::daemon_of(self)?)
    }

    /// The timeouts of a `GET_CONFIG` reply (absent ones are 0).
    pub fn to_timeouts(&self) -> Timeouts {
        convert::timeouts_of(self)
    }

    /// The version and table size of a `GET_INFO` reply.
    pub fn to_info(&self) -> Result<Info, CodecError> {
        let (mut version, mut size) = (None, None);
        if let IpvsAttrs::Info(attrs) = &self.attrs {
            for a in attrs {
                match a {
                    InfoAttr::Version(v) => version = Some(*v),
                    InfoAttr::ConnTabSize(v) => size = Some(*v),
                    InfoAttr::Other(_) => {}
                }
            }
        }
        let missing = |name: &str| CodecError::Decode(format!("missing {name}"));
        Ok(Info::new(
            version.ok_or_else(|| missing("IPVS_INFO_ATTR_VERSION"))?,
            size.ok_or_else(|| missing("IPVS_INFO_ATTR_CONN_TAB_SIZE"))?,
        ))
    }
}
