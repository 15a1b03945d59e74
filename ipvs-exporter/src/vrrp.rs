//! VRRP and health-script metric families for a VRRP daemon (keepalived-lite) to
//! serve beside the IPVS families, built from plain values so the daemon needs no
//! Prometheus types of its own.
//!
//! Names follow the keepalived exporter most dashboards use
//! (cafebazaar/keepalived-exporter): `keepalived_vrrp_state{iname,intf,vrid,ip_address}`,
//! one series per virtual address, numbered 0 init, 1 backup, 2 master, 3 fault;
//! `keepalived_advertisements_sent_total`, `keepalived_become_master_total`, one
//! family per drop reason keepalived counts, ... labelled `iname,intf,vrid`; and
//! `keepalived_script_status{name}` (1 good, 0 bad). That exporter also puts the
//! current state in a `state` label on its counters; here a counter keeps one series
//! across transitions (a label that changes with the state would restart it), and
//! queries selecting on `iname`/`intf`/`vrid` work unchanged. Beside them, of our own:
//! `keepalived_priority`, `keepalived_effective_priority`, and
//! `keepalived_lite_adverts_dropped_total{...,reason}` with every reason the daemon
//! counts, in its own words.
//!
//! ```
//! use ipvs_exporter::vrrp::{VrrpCollector, VrrpInstanceMetrics, VrrpState, ScriptMetrics};
//! let mut instance = VrrpInstanceMetrics::new("VI_API", "eth0", 51, VrrpState::Master);
//! instance.addresses = vec!["192.0.2.100".into()];
//! instance.adverts_sent = 12;
//! let collector = VrrpCollector::new(vec![instance], vec![ScriptMetrics::new("chk_apiserver", true)]);
//! let text = ipvs_exporter::encode_collectors(vec![Box::new(collector)]).unwrap();
//! assert!(text.contains(r#"keepalived_vrrp_state{iname="VI_API",intf="eth0",vrid="51",ip_address="192.0.2.100"} 2"#));
//! assert!(text.contains(r#"keepalived_advertisements_sent_total{iname="VI_API",intf="eth0",vrid="51"} 12"#));
//! assert!(text.contains(r#"keepalived_script_status{name="chk_apiserver"} 1"#));
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
    /// Shorter than the header or the address list says (`keepalived_packet_length_errors_total`).
    PacketLength,
    /// Advert interval differs from ours (`keepalived_advertisements_interval_errors_total`).
    AdvertInterval,
    /// TTL other than 255 (`keepalived_ip_ttl_errors_total`).
    IpTtl,
    /// Not an advertisement (`keepalived_invalid_type_received_total`).
    InvalidType,
    /// Address list differs from ours (`keepalived_address_list_errors_total`).
    AddressList,
    /// Unknown authentication type (`keepalived_authentication_invalid_total`).
    InvalidAuthType,
    /// Authentication type differs from ours (`keepalived_authentication_mismatch_total`).
    AuthTypeMismatch,
    /// Wrong password (`keepalived_authentication_failure_total`).
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
            DropReason::PacketLength => "keepalived_packet_length_errors",
            DropReason::AdvertInterval => "keepalived_advertisements_interval_errors",
            DropReason::IpTtl => "keepalived_ip_ttl_errors",
            DropReason::InvalidType => "keepalived_invalid_type_received",
            DropReason::AddressList => "keepalived_address_list_errors",
            DropReason::InvalidAuthType => "keepalived_authentication_invalid",
            DropReason::AuthTypeMismatch => "keepalived_authentication_mismatch",
            DropReason::AuthFailure => "keepalived_authentication_failure",
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
    /// Dropped adverts by keepalived's reasons; reasons absent count 0.
    pub drops: Vec<(DropReason, u64)>,
    /// Dropped adverts by the daemon's own reasons, in its words (`checksum`,
    /// `unknown_peer`, ...): `keepalived_lite_adverts_dropped_total{reason}`.
    pub dropped_by_reason: Vec<(String, u64)>,
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
            dropped_by_reason: Vec::new(),
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
            (
                "keepalived_advertisements_sent",
                "VRRP adverts sent.",
                |i| i.adverts_sent,
            ),
            (
                "keepalived_advertisements_received",
                "VRRP adverts received.",
                |i| i.adverts_received,
            ),
            ("keepalived_become_master", "Transitions to master.", |i| {
                i.become_master
            }),
            (
                "keepalived_release_master",
                "Transitions out of master.",
                |i| i.release_master,
            ),
            (
                "keepalived_priority_zero_received",
                "Adverts with priority 0 received.",
                |i| i.priority_zero_received,
            ),
            (
                "keepalived_priority_zero_sent",
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
        let mut dropped = encoder.encode_descriptor(
            "keepalived_lite_adverts_dropped",
            "VRRP adverts dropped, by the daemon's own reason.",
            None,
            MetricType::Counter,
        )?;
        for i in &self.instances {
            let vrid = i.vrid.to_string();
            for (reason, n) in &i.dropped_by_reason {
                let labels = [
                    ("iname", i.name.as_str()),
                    ("intf", i.interface.as_str()),
                    ("vrid", vrid.as_str()),
                    ("reason", reason.as_str()),
                ];
                ConstCounter::new(*n).encode(dropped.encode_family(&labels)?)?;
            }
        }
        let mut scripts = encoder.encode_descriptor(
            "keepalived_script_status",
            "Tracked script: 1 good, 0 bad (after fall/rise).",
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

#[cfg(test)]
mod tests {
    use super::*;

    fn series(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    /// Every family of an instance, with keepalived's drop reasons summed per family
    /// and the daemon's own reasons one series each.
    #[test]
    fn an_instance_renders_every_family_with_its_values() {
        let mut i = VrrpInstanceMetrics::new("VI_API", "eth0", 51, VrrpState::Backup);
        i.addresses = vec!["192.0.2.100".into(), "2001:db8::100".into()];
        i.priority = 150;
        i.effective_priority = 50;
        i.adverts_sent = 7;
        i.adverts_received = 9;
        i.become_master = 2;
        i.release_master = 1;
        i.priority_zero_received = 3;
        i.priority_zero_sent = 4;
        i.drops = vec![
            (DropReason::PacketLength, 5),
            (DropReason::PacketLength, 6),
            (DropReason::IpTtl, 8),
        ];
        i.dropped_by_reason = vec![("truncated".into(), 5), ("checksum".into(), 10)];
        let c = VrrpCollector::new(
            vec![i],
            vec![
                ScriptMetrics::new("chk_a", true),
                ScriptMetrics::new("chk_b", false),
            ],
        );
        let text = crate::encode_collectors(vec![Box::new(c)]).unwrap();
        let l = r#"{iname="VI_API",intf="eth0",vrid="51"}"#;
        let want = vec![
            r#"keepalived_vrrp_state{iname="VI_API",intf="eth0",vrid="51",ip_address="192.0.2.100"} 1"#.to_string(),
            r#"keepalived_vrrp_state{iname="VI_API",intf="eth0",vrid="51",ip_address="2001:db8::100"} 1"#.to_string(),
            format!("keepalived_priority{l} 150"),
            format!("keepalived_effective_priority{l} 50"),
            format!("keepalived_advertisements_sent_total{l} 7"),
            format!("keepalived_advertisements_received_total{l} 9"),
            format!("keepalived_become_master_total{l} 2"),
            format!("keepalived_release_master_total{l} 1"),
            format!("keepalived_priority_zero_received_total{l} 3"),
            format!("keepalived_priority_zero_sent_total{l} 4"),
            format!("keepalived_packet_length_errors_total{l} 11"),
            format!("keepalived_advertisements_interval_errors_total{l} 0"),
            format!("keepalived_ip_ttl_errors_total{l} 8"),
            format!("keepalived_invalid_type_received_total{l} 0"),
            format!("keepalived_address_list_errors_total{l} 0"),
            format!("keepalived_authentication_invalid_total{l} 0"),
            format!("keepalived_authentication_mismatch_total{l} 0"),
            format!("keepalived_authentication_failure_total{l} 0"),
            r#"keepalived_lite_adverts_dropped_total{iname="VI_API",intf="eth0",vrid="51",reason="truncated"} 5"#.to_string(),
            r#"keepalived_lite_adverts_dropped_total{iname="VI_API",intf="eth0",vrid="51",reason="checksum"} 10"#.to_string(),
            r#"keepalived_script_status{name="chk_a"} 1"#.to_string(),
            r#"keepalived_script_status{name="chk_b"} 0"#.to_string(),
        ];
        assert_eq!(series(&text), want, "{text}");
        assert!(
            text.contains("# TYPE keepalived_vrrp_state gauge"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE keepalived_become_master counter"),
            "{text}"
        );
    }

    #[test]
    fn states_are_numbered_as_the_keepalived_exporters_number_them() {
        let states = [
            (VrrpState::Init, 0),
            (VrrpState::Backup, 1),
            (VrrpState::Master, 2),
            (VrrpState::Fault, 3),
        ];
        for (state, n) in states {
            let c =
                VrrpCollector::new(vec![VrrpInstanceMetrics::new("V", "br0", 7, state)], vec![]);
            let text = crate::encode_collectors(vec![Box::new(c)]).unwrap();
            // No address: one series with an empty ip_address.
            let want = format!(
                r#"keepalived_vrrp_state{{iname="V",intf="br0",vrid="7",ip_address=""}} {n}"#
            );
            assert!(text.lines().any(|l| l == want), "{want} in\n{text}");
        }
    }
}
