//! The parsed configuration: what each block and keyword means, and the error type.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::packet::{ChecksumMode, Version};

/// A configuration error with its location.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), if *line == 0 { String::new() } else { format!(":{line}") })]
pub struct ConfigError {
    /// File the error is in.
    pub file: PathBuf,
    /// 1-based line number (0 when the file itself is the problem).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Config {
    /// `global_defs`.
    pub global: GlobalDefs,
    /// `vrrp_script` blocks, in file order.
    pub scripts: Vec<VrrpScript>,
    /// `vrrp_instance` blocks, in file order.
    pub instances: Vec<Instance>,
    /// Settings adjusted the way keepalived adjusts them, with keepalived's reason.
    pub warnings: Vec<String>,
    /// `virtual_server` blocks, in file order.
    pub virtual_servers: Vec<crate::config::lvs::VirtualServer>,
    /// `virtual_server_group` blocks, in file order.
    pub virtual_server_groups: Vec<crate::config::lvs::VirtualServerGroup>,
    /// The top-level `SSL { }` block (SSL_GET's client certificate).
    pub ssl: Option<crate::config::lvs::SslContext>,
}

/// `global_defs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GlobalDefs {
    /// `router_id NAME`.
    pub router_id: Option<String>,
    /// `script_user USER [GROUP]`.
    pub script_user: Option<(String, Option<String>)>,
    /// Where `script_user` is, for the error when the user does not exist.
    pub script_user_location: Option<Location>,
    /// `enable_script_security`.
    pub enable_script_security: bool,
    /// `vrrp_version 2|3`: default version of instances.
    pub vrrp_version: Option<Version>,
    /// `lvs_flush`, `lvs_flush_on_stop`, `lvs_timeouts`, `lvs_sync_daemon`.
    pub lvs: crate::config::lvs::LvsGlobal,
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VrrpScript {
    /// Block name.
    pub name: String,
    /// `script "CMD ARGS"`: program and arguments (split on whitespace, no shell).
    pub command: Vec<String>,
    /// `interval SECONDS` (default 1).
    pub interval: Duration,
    /// `timeout SECONDS` (default: the interval).
    pub timeout: Duration,
    /// `weight -253..253` (default 0: failure means FAULT).
    pub weight: i32,
    /// `fall 1..` (default 1).
    pub fall: u32,
    /// `rise 1..` (default 1).
    pub rise: u32,
    /// `user USER [GROUP]`.
    pub user: Option<(String, Option<String>)>,
    /// Where `user` is, for the error when the user does not exist.
    pub user_location: Option<Location>,
    /// Where the block starts.
    pub location: Location,
}

pub use crate::config::location::Location;

/// One virtual address line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vip {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length (default /32 or /128, as keepalived).
    pub prefix_len: u8,
    /// `dev IFACE` (default: the instance's interface).
    pub dev: Option<String>,
    /// `label LABEL` (IPv4 only).
    pub label: Option<String>,
}

/// Initial `state` wish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum InitialState {
    /// `state MASTER`.
    Master,
    /// `state BACKUP`.
    Backup,
}

/// A tracked script reference with an optional weight override.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrackRef {
    /// Name of the `vrrp_script` or interface.
    pub name: String,
    /// `weight N` after the name, overriding the script's weight.
    pub weight: Option<i32>,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Instance {
    /// Block name.
    pub name: String,
    /// `state MASTER|BACKUP`.
    pub initial_state: Option<InitialState>,
    /// `interface IFACE`.
    pub interface: String,
    /// `virtual_router_id 1-255`.
    pub vrid: u8,
    /// `priority 1-255` (default 100).
    pub priority: u8,
    /// `advert_int` in centiseconds (default 100).
    pub advert_int_cs: u16,
    /// `version 2|3` (default `vrrp_version` or 2; 3 for IPv6).
    pub version: Version,
    /// `v3_checksum_as_v2` selects [`ChecksumMode::VrrpOnly`].
    pub checksum_mode: ChecksumMode,
    /// `authentication { auth_type PASS auth_pass P }` (VRRPv2 only).
    pub auth_pass: Option<String>,
    /// `virtual_ipaddress { ... }`.
    pub vips: Vec<Vip>,
    /// `unicast_src_ip ADDR`.
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { ADDR ... }`.
    pub unicast_peers: Vec<IpAddr>,
    /// `track_script { NAME [weight N] ... }`.
    pub track_scripts: Vec<TrackRef>,
    /// `track_interface { IFACE ... }`.
    pub track_interfaces: Vec<TrackRef>,
    /// `nopreempt`.
    pub nopreempt: bool,
    /// `preempt_delay 0-1000` seconds.
    pub preempt_delay: Duration,
    /// `notify_master`.
    pub notify_master: Option<Vec<String>>,
    /// `notify_backup`.
    pub notify_backup: Option<Vec<String>>,
    /// `notify_fault`.
    pub notify_fault: Option<Vec<String>>,
    /// `notify_stop`.
    pub notify_stop: Option<Vec<String>>,
    /// `notify` (called with INSTANCE NAME STATE PRIORITY).
    pub notify: Option<Vec<String>>,
    /// Where the block starts.
    pub location: Location,
}

impl Instance {
    /// Whether this instance speaks IPv6 (decided by its virtual addresses).
    pub fn is_ipv6(&self) -> bool {
        self.vips.first().is_some_and(|v| v.addr.is_ipv6())
    }
}

/// A configuration error at `file:line` (line 0: the file as a whole).
pub(crate) fn err_at(file: &Path, line: usize, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// Longest token repeated in an error message.
const SHOWN_MAX: usize = 64;

/// An offending token as an error message shows it: quoted when it is short printable
/// text, else only its length (a long or binary word is more likely a secret from a
/// file that is no configuration than a typo).
pub(crate) fn shown(v: &str) -> String {
    let n = v.chars().count();
    if n <= SHOWN_MAX && !v.chars().any(char::is_control) {
        format!("'{v}'")
    } else {
        format!("a word of {n} characters (not shown)")
    }
}

/// An instance as parsed, and whether it named its `version` (else the global default
/// applies, see the validation step).
pub(crate) type ParsedInstance = (Instance, bool);
