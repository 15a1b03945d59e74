//! VRRP and health-script metric families for a VRRP daemon (keepalived-lite) to
//! serve beside the IPVS families, built from plain values so the daemon needs no
//! Prometheus types of its own.
//!
//! Names and labels follow the keepalived exporter most dashboards use
//! (`keepalived_vrrp_state{iname,intf,vrid,ip_address}`, one series per virtual
//! address; counters labelled `iname,intf,vrid`), with the state numbered as those
//! exporters number it: 0 init, 1 backup, 2 master, 3 fault.
//!
//! ```
//! use ipvs_exporter::vrrp::{VrrpCollector, VrrpInstanceMetrics, VrrpState, ScriptMetrics};
//! let mut instance = VrrpInstanceMetrics::new("VI_API", "eth0", 51, VrrpState::Master);
//! instance.addresses = vec!["192.0.2.100".into()];
//! instance.adverts_sent = 12;
//! let collector = VrrpCollector::new(vec![instance], vec![ScriptMetrics::new("chk_apiserver", true)]);
//! let text = ipvs_exporter::encode_collectors(vec![Box::new(collector)]).unwrap();
//! assert!(text.contains(r#"keepalived_vrrp_state{iname="VI_API",intf="eth0",vrid="51",ip_address="192.0.2.100"} 2"#));
//! ```

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// A VRRP instance's state, numbered as the keepalived exporters number it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VrrpState {
    /// Not started yet (0).
    Init,
    /// Backup (1).
    Backup,
    /// Master: holds the virtual addresses (2).
    Master,
    /// Fault: an interface or tracked script is down (3).
    Fault,
}

impl VrrpState {
    /// The gauge value.
    pub fn value(self) -> i64 {
        match self {
            VrrpState::Init => 0,
            VrrpState::Backup => 1,
            VrrpState::Master => 2,
            VrrpState::Fault => 3,
        }
    }
}

/// Why received adverts were dropped; each is its own counter family, as keepalived
/// counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than the header or the address list says (`keepalived_packet_len_err_total`).
    PacketLength,
    /// Advert interval differs from ours (`keepalived_advert_interval_err_total`).
    AdvertInterval,
    /// TTL other than 255 (`keepalived_ip_ttl_err_total`).
    IpTtl,
    /// Not an advertisement (`keepalived_invalid_type_rcvd_total`).
    InvalidType,
    /// Address list differs from ours (`keepalived_addr_list_err_total`).
    AddressList,
    /// Unknown authentication type (`keepalived_invalid_authtype_total`).
    InvalidAuthType,
    /// Authentication type differs from ours (`keepalived_authtype_mismatch_total`).
    AuthTypeMismatch,
    /// Wrong password (`keepalived_auth_failure_total`).
    AuthFailure,
}

impl DropReason {
    /// Every reason, in exposition order.
    pub const ALL: [DropReason; 8] = [
        DropReason::PacketLength,
        DropReason::AdvertInterval,
        DropReason::IpTtl,
        DropReason::InvalidType,
        DropReason::AddressList,
        DropReason::InvalidAuthType,
        DropReason::AuthTypeMismatch,
        DropReason::AuthFailure,
    ];

    /// The family name without `_total`.
    pub fn family(self) -> &'static str {
        match self {
            DropReason::PacketLength => "keepalived_packet_len_err",
            DropReason::AdvertInterval => "keepalived_advert_interval_err",
            DropReason::IpTtl => "keepalived_ip_ttl_err",
            DropReason::InvalidType => "keepalived_invalid_type_rcvd",
            DropReason::AddressList => "keepalived_addr_list_err",
            DropReason::InvalidAuthType => "keepalived_invalid_authtype",
            DropReason::AuthTypeMismatch => "keepalived_authtype_mismatch",
            DropReason::AuthFailure => "keepalived_auth_failure",
        }
    }
}

/// One VRRP instance's values at scrape time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VrrpInstanceMetrics {
    /// Instance name (`vrrp_instance VI_API`).
    pub name: String,
    /// Interface it runs on.
    pub interface: String,
    /// Virtual router id.
    pub vrid: u8,
    /// Current state.
    pub state: VrrpState,
    /// Virtual addresses (one state series each); none gives one series with an
    /// empty `ip_address`.
    pub addresses: Vec<String>,
    /// Configured priority.
    pub priority: u8,
    /// Priority after tracked scripts' weights.
    pub effective_priority: u8,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts received.
    pub adverts_received: u64,
    /// Transitions to master.
    pub become_master: u64,
    /// Transitions out of master.
    pub release_master: u64,
    /// Adverts with priority 0 received (a master resigning).
    pub priority_zero_received: u64,
    /// Adverts with priority 0 sent.
    pub priority_zero_sent: u64,
    /// Dropped adverts by reason; reasons absent count 0.
    pub drops: Vec<(DropReason, u64)>,
}

impl VrrpInstanceMetrics {
    /// An instance with zero counters.
    pub fn new(name: &str, interface: &str, vrid: u8, state: VrrpState) -> Self {
        VrrpInstanceMetrics {
            name: name.to_string(),
            interface: interface.to_string(),
            vrid,
            state,
            addresses: Vec::new(),
            priority: 0,
            effective_priority: 0,
            adverts_sent: 0,
            adverts_received: 0,
            become_master: 0,
            release_master: 0,
            priority_zero_received: 0,
            priority_zero_sent: 0,
            drops: Vec::new(),
        }
    }
}

/// A tracked health script's state.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScriptMetrics {
    /// `vrrp_script` name.
    pub name: String,
    /// Whether it is currently healthy (after rise/fall).
    pub healthy: bool,
}

impl ScriptMetrics {
    /// A script's state.
    pub fn new(name: &str, healthy: bool) -> Self {
        ScriptMetrics {
            name: name.to_string(),
            healthy,
        }
    }
}

/// The VRRP families of one scrape.
#[derive(Debug)]
pub struct VrrpCollector {
    instances: Vec<VrrpInstanceMetrics>,
    scripts: Vec<ScriptMetrics>,
}

impl VrrpCollector {
    /// The families of these instances and scripts.
    pub fn new(instances: Vec<VrrpInstanceMetrics>, scripts: Vec<ScriptMetrics>) -> Self {
        VrrpCollector { instances, scripts }
    }

    fn per_instance(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        kind: MetricType,
        value: impl Fn(&VrrpInstanceMetrics) -> u64,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, kind)?;
        for i in &self.instances {
            let vrid = i.vrid.to_string();
            let labels = [
                ("iname", i.name.as_str()),
                ("intf", i.interface.as_str()),
                ("vrid", vrid.as_str()),
            ];
            let series = family.encode_family(&labels)?;
            match kind {
                MetricType::Counter => ConstCounter::new(value(i)).encode(series)?,
                _ => ConstGauge::new(value(i) as i64).encode(series)?,
            }
        }
        Ok(())
    }
}

impl Collector for VrrpCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut state = encoder.encode_descriptor(
            "keepalived_vrrp_state",
            "VRRP state: 0 init, 1 backup, 2 master, 3 fault.",
            None,
            MetricType::Gauge,
        )?;
        for i in &self.instances {
            let vrid = i.vrid.to_string();
            let none = [String::new()];
            let addresses = if i.addresses.is_empty() {
                &none[..]
            } else {
                &i.addresses[..]
            };
            for address in addresses {
                let labels = [
                    ("iname", i.name.as_str()),
                    ("intf", i.interface.as_str()),
                    ("vrid", vrid.as_str()),
                    ("ip_address", address.as_str()),
                ];
                ConstGauge::new(i.state.value()).encode(state.encode_family(&labels)?)?;
            }
        }
        type Field = fn(&VrrpInstanceMetrics) -> u64;
        let gauges: [(&str, &str, Field); 2] = [
            ("keepalived_priority", "Configured VRRP priority.", |i| {
                u64::from(i.priority)
            }),
            (
                "keepalived_effective_priority",
                "VRRP priority after tracked scripts' weights.",
                |i| u64::from(i.effective_priority),
            ),
        ];
        for (name, help, value) in gauges {
            self.per_instance(&mut encoder, name, help, MetricType::Gauge, value)?;
        }
        let counters: [(&str, &str, Field); 6] = [
            ("keepalived_advert_sent", "VRRP adverts sent.", |i| {
                i.adverts_sent
            }),
            ("keepalived_advert_rcvd", "VRRP adverts received.", |i| {
                i.adverts_received
            }),
            ("keepalived_become_master", "Transitions to master.", |i| {
                i.become_master
            }),
            (
                "keepalived_release_master",
                "Transitions out of master.",
                |i| i.release_master,
            ),
            (
                "keepalived_pri_zero_rcvd",
                "Adverts with priority 0 received.",
                |i| i.priority_zero_received,
            ),
            (
                "keepalived_pri_zero_sent",
                "Adverts with priority 0 sent.",
                |i| i.priority_zero_sent,
            ),
        ];
        for (name, help, value) in counters {
            self.per_instance(&mut encoder, name, help, MetricType::Counter, value)?;
        }
        for reason in DropReason::ALL {
            self.per_instance(
                &mut encoder,
                reason.family(),
                "VRRP adverts dropped for this reason.",
                MetricType::Counter,
                |i| {
                    i.drops
                        .iter()
                        .filter(|(r, _)| *r == reason)
                        .map(|(_, n)| *n)
                        .sum()
                },
            )?;
        }
        let mut scripts = encoder.encode_descriptor(
            "keepalived_check_script_status",
            "Tracked script: 1 healthy, 0 failing.",
            None,
            MetricType::Gauge,
        )?;
        for s in &self.scripts {
            let labels = [("name", s.name.as_str())];
            ConstGauge::new(i64::from(s.healthy)).encode(scripts.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
