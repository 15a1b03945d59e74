//! Counters, timeouts, version information and connection-sync daemons.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Traffic counters and rates. 64-bit counters are used where the kernel sends
/// `STATS64` (Linux 4.1+); otherwise the 32-bit values are widened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Current connection rate (per second).
    pub cps: u64,
    /// Current incoming packet rate.
    pub inpps: u64,
    /// Current outgoing packet rate.
    pub outpps: u64,
    /// Current incoming byte rate.
    pub inbps: u64,
    /// Current outgoing byte rate.
    pub outbps: u64,
}

/// Connection timeouts in seconds (0 on set means "leave unchanged").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Timeouts {
    /// Established TCP connections.
    pub tcp: u32,
    /// TCP connections after FIN.
    pub tcp_fin: u32,
    /// UDP flows.
    pub udp: u32,
}

/// General IPVS information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Info {
    /// IPVS version code (0x010201 is 1.2.1).
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_table_size: u32,
}

impl Timeouts {
    /// Timeouts for TCP, TCP after FIN and UDP, in seconds (0 = unchanged on set).
    pub fn new(tcp: u32, tcp_fin: u32, udp: u32) -> Self {
        Timeouts { tcp, tcp_fin, udp }
    }
}

impl Info {
    /// Version code and connection table size as the kernel reports them.
    pub fn new(version: u32, conn_table_size: u32) -> Self {
        Info {
            version,
            conn_table_size,
        }
    }

    /// The version as `major.minor.patch`.
    pub fn version_string(&self) -> String {
        format!(
            "{}.{}.{}",
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff
        )
    }
}

/// Role of a connection-sync daemon (`IP_VS_STATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DaemonState {
    /// Sends connection updates (value 1).
    Master,
    /// Receives connection updates (value 2).
    Backup,
}

impl DaemonState {
    /// The kernel number.
    pub fn to_raw(self) -> u32 {
        match self {
            DaemonState::Master => 1,
            DaemonState::Backup => 2,
        }
    }

    /// The state for a kernel number.
    pub fn from_raw(raw: u32) -> Option<Self> {
        match raw {
            1 => Some(DaemonState::Master),
            2 => Some(DaemonState::Backup),
            _ => None,
        }
    }
}

/// A connection synchronisation daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SyncDaemon {
    /// Master or backup.
    pub state: DaemonState,
    /// Multicast interface name.
    pub mcast_ifn: String,
    /// Sync ID (0..=255).
    pub syncid: u32,
    /// Maximum sync message payload (UDP payload size); `None` = kernel default.
    pub sync_maxlen: Option<u16>,
    /// Multicast group (IPv4 or IPv6); `None` = 224.0.0.81.
    pub mcast_group: Option<IpAddr>,
    /// Multicast base port; `None` = 8848.
    pub mcast_port: Option<u16>,
    /// Multicast TTL; `None` = 1.
    pub mcast_ttl: Option<u8>,
}

impl SyncDaemon {
    /// A daemon with kernel defaults for every optional setting.
    pub fn new(state: DaemonState, mcast_ifn: &str, syncid: u32) -> Self {
        SyncDaemon {
            state,
            mcast_ifn: mcast_ifn.to_string(),
            syncid,
            sync_maxlen: None,
            mcast_group: None,
            mcast_port: None,
            mcast_ttl: None,
        }
    }

    /// Set the maximum sync message payload (ipvsadm `--sync-maxlen`).
    pub fn sync_maxlen(mut self, bytes: u16) -> Self {
        self.sync_maxlen = Some(bytes);
        self
    }

    /// Set the multicast group (ipvsadm `--mcast-group`).
    pub fn mcast_group(mut self, group: IpAddr) -> Self {
        self.mcast_group = Some(group);
        self
    }

    /// Set the multicast base port (ipvsadm `--mcast-port`).
    pub fn mcast_port(mut self, port: u16) -> Self {
        self.mcast_port = Some(port);
        self
    }

    /// Set the multicast TTL (ipvsadm `--mcast-ttl`).
    pub fn mcast_ttl(mut self, ttl: u8) -> Self {
        self.mcast_ttl = Some(ttl);
        self
    }
}
