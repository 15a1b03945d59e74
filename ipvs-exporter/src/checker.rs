//! Health-checker families for a daemon that runs keepalived's checker half
//! (keepalived-lite's `virtual_server` blocks): each real server's health and
//! weight, each virtual server's quorum, built from plain values.
//!
//! No keepalived exporter reports health checks, so the names are ours, under
//! `keepalived_lvs_` (where gen2brain/keepalived_exporter puts its LVS families).
//! Real-server labels reuse node_exporter's `remote_address` and `remote_port`, so a
//! query can join them with `node_ipvs_backend_weight`.
//!
//! ```
//! use ipvs_exporter::checker::{CheckerCollector, RealServerMetrics, VirtualServerMetrics};
//! let vs = VirtualServerMetrics {
//!     name: "[192.0.2.10]:tcp:80".into(),
//!     quorum_up: true,
//!     real_servers: vec![RealServerMetrics {
//!         address: "198.51.100.10".parse().unwrap(),
//!         port: 80,
//!         up: false,
//!         weight: 3,
//!     }],
//! };
//! let text = ipvs_exporter::encode_collectors(vec![Box::new(CheckerCollector::new(vec![vs]))]).unwrap();
//! assert!(text.contains(r#"keepalived_lvs_rs_up{virtual_server="[192.0.2.10]:tcp:80",remote_address="198.51.100.10",remote_port="80"} 0"#));
//! ```

use std::net::IpAddr;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::labels::go_ip;

/// One real server as its checkers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerMetrics {
    /// Its address.
    pub address: IpAddr,
    /// Its port.
    pub port: u16,
    /// In service: every checker passes.
    pub up: bool,
    /// The weight IPVS gets while it is up (configured, with dynamic changes).
    pub weight: i64,
}

/// One virtual server and its real servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerMetrics {
    /// How the daemon names it (its state file's name, e.g. `[192.0.2.10]:tcp:80`,
    /// `FWM 7`).
    pub name: String,
    /// Quorum reached (else the sorry server, if any, serves).
    pub quorum_up: bool,
    /// Its real servers.
    pub real_servers: Vec<RealServerMetrics>,
}

/// The checker families of one scrape.
#[derive(Debug)]
pub struct CheckerCollector {
    virtual_servers: Vec<VirtualServerMetrics>,
}

impl CheckerCollector {
    /// The families of these virtual servers.
    pub fn new(virtual_servers: Vec<VirtualServerMetrics>) -> Self {
        CheckerCollector { virtual_servers }
    }

    fn per_real_server(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&RealServerMetrics) -> i64,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for vs in &self.virtual_servers {
            for rs in &vs.real_servers {
                let address = go_ip(rs.address).to_string();
                let port = rs.port.to_string();
                let labels = [
                    ("virtual_server", vs.name.as_str()),
                    ("remote_address", address.as_str()),
                    ("remote_port", port.as_str()),
                ];
                ConstGauge::new(value(rs)).encode(family.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

impl Collector for CheckerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut quorum = encoder.encode_descriptor(
            "keepalived_lvs_vs_quorum_up",
            "Virtual server: 1 quorum reached, 0 lost (the sorry server, if any, serves).",
            None,
            MetricType::Gauge,
        )?;
        for vs in &self.virtual_servers {
            let labels = [("virtual_server", vs.name.as_str())];
            ConstGauge::new(i64::from(vs.quorum_up)).encode(quorum.encode_family(&labels)?)?;
        }
        self.per_real_server(
            &mut encoder,
            "keepalived_lvs_rs_up",
            "Real server: 1 every health check passes (in service), 0 down.",
            |rs| i64::from(rs.up),
        )?;
        self.per_real_server(
            &mut encoder,
            "keepalived_lvs_rs_weight",
            "Real server: the weight IPVS gets while it is up.",
            |rs| rs.weight,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(address: &str, port: u16, up: bool, weight: i64) -> RealServerMetrics {
        RealServerMetrics {
            address: address.parse().unwrap(),
            port,
            up,
            weight,
        }
    }

    #[test]
    fn every_real_server_and_virtual_server_has_its_series() {
        let vss = vec![
            VirtualServerMetrics {
                name: "[192.0.2.10]:tcp:80".into(),
                quorum_up: false,
                real_servers: vec![
                    rs("198.51.100.10", 8080, true, 2),
                    rs("198.51.100.11", 8080, false, 1),
                ],
            },
            VirtualServerMetrics {
                name: "FWM 7".into(),
                quorum_up: true,
                real_servers: vec![rs("2001:db8::10", 0, true, 0)],
            },
        ];
        let text = crate::encode_collectors(vec![Box::new(CheckerCollector::new(vss))]).unwrap();
        let want = [
            "# TYPE keepalived_lvs_vs_quorum_up gauge",
            r#"keepalived_lvs_vs_quorum_up{virtual_server="[192.0.2.10]:tcp:80"} 0"#,
            r#"keepalived_lvs_vs_quorum_up{virtual_server="FWM 7"} 1"#,
            "# TYPE keepalived_lvs_rs_up gauge",
            r#"keepalived_lvs_rs_up{virtual_server="[192.0.2.10]:tcp:80",remote_address="198.51.100.10",remote_port="8080"} 1"#,
            r#"keepalived_lvs_rs_up{virtual_server="[192.0.2.10]:tcp:80",remote_address="198.51.100.11",remote_port="8080"} 0"#,
            r#"keepalived_lvs_rs_up{virtual_server="FWM 7",remote_address="2001:db8::10",remote_port="0"} 1"#,
            "# TYPE keepalived_lvs_rs_weight gauge",
            r#"keepalived_lvs_rs_weight{virtual_server="[192.0.2.10]:tcp:80",remote_address="198.51.100.10",remote_port="8080"} 2"#,
            r#"keepalived_lvs_rs_weight{virtual_server="[192.0.2.10]:tcp:80",remote_address="198.51.100.11",remote_port="8080"} 1"#,
            r#"keepalived_lvs_rs_weight{virtual_server="FWM 7",remote_address="2001:db8::10",remote_port="0"} 0"#,
        ];
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("# HELP") && *l != "# EOF")
            .collect();
        assert_eq!(lines, want, "{text}");
    }

    #[test]
    fn no_virtual_server_gives_empty_families() {
        let text = crate::encode_collectors(vec![Box::new(CheckerCollector::new(vec![]))]).unwrap();
        assert!(
            !text.lines().any(|l| l.starts_with("keepalived_lvs")),
            "{text}"
        );
        assert!(text.contains("# TYPE keepalived_lvs_rs_up gauge"), "{text}");
    }
}
