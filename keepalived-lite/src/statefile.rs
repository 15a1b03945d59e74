//! The JSON state file: pid, router_id and every instance's state, priority, master,
//! addresses and counters; written atomically, mode 0644, never through a link.

use std::net::IpAddr;
use std::path::Path;

use serde::Serialize;

use crate::check::Counters;
use crate::files::{write_atomic, FILE_MODE};
use crate::instance::InstanceRt;
use crate::lvs::checker::VirtualServerState;
use crate::packet::{ChecksumMode, Version};

/// One instance's entry in the JSON state file.
#[derive(Debug, Serialize)]
struct InstanceState<'a> {
    name: &'a str,
    state: &'static str,
    interface: &'a str,
    virtual_router_id: u8,
    version: u8,
    priority: u8,
    effective_priority: u8,
    master: Option<IpAddr>,
    source: IpAddr,
    virtual_ipaddress: Vec<String>,
    peer_checksum: Option<ChecksumMode>,
    counters: &'a Counters,
}

#[derive(Debug, Serialize)]
struct StateFile<'a> {
    pid: u32,
    router_id: Option<&'a str>,
    instances: Vec<InstanceState<'a>>,
    /// The checker half: each virtual server, real server health, weight, last result.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    virtual_servers: &'a [VirtualServerState],
}

/// Writes the state file at `path` for `instances`.
pub fn write(
    path: &Path,
    router_id: Option<&str>,
    instances: &[InstanceRt],
    virtual_servers: &[VirtualServerState],
) -> std::io::Result<()> {
    let instances = instances
        .iter()
        .map(|i| InstanceState {
            name: &i.cfg.name,
            state: i.machine.state().name(),
            interface: &i.cfg.interface,
            virtual_router_id: i.cfg.vrid,
            version: if i.cfg.version == Version::V2 { 2 } else { 3 },
            priority: i.cfg.priority,
            effective_priority: i.machine.priority(),
            master: i.machine.master_addr(),
            source: i.src,
            virtual_ipaddress: i
                .cfg
                .vips
                .iter()
                .map(|v| format!("{}/{}", v.addr, v.prefix_len))
                .collect(),
            peer_checksum: i.peer_checksum,
            counters: &i.counters,
        })
        .collect();
    let sf = StateFile {
        pid: std::process::id(),
        router_id,
        instances,
        virtual_servers,
    };
    let json = serde_json::to_vec_pretty(&sf).map_err(std::io::Error::other)?;
    write_atomic(path, &json, FILE_MODE)
}
