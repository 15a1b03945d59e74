//! The kernel parameters the operations guide tunes, exported as one gauge family,
//! `ipvs_node_sysctl{name="net.ipv4.vs.conntrack"}`, read from `/proc/sys` in the
//! exporter's network namespace at every scrape.
//!
//! Exported: every single-integer file under `/proc/sys/net/ipv4/vs/` (whatever the
//! running kernel has), and [`GUIDE_SYSCTLS`]. Files that hold several numbers
//! (`sync_ports` is one, `sync_threshold` holds two) are skipped, and so are missing
//! ones (no bridge module, no conntrack): a missing series means "not present".
//! Alert rules compare these with the guide's values (docs/operations.md).

use std::path::Path;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

/// Parameters outside `net.ipv4.vs` that the guide sets or that its checks read.
pub const GUIDE_SYSCTLS: &[&str] = &[
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.arp_ignore",
    "net.ipv4.conf.all.arp_announce",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.bridge.bridge-nf-call-arptables",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_count",
];

/// One parameter's dotted name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sysctl {
    /// Dotted name, `net.ipv4.vs.conntrack`.
    pub name: String,
    /// Its value.
    pub value: i64,
}

/// The parameters under `root` (normally `/proc/sys`): `net.ipv4.vs.*` sorted by
/// name, then [`GUIDE_SYSCTLS`]; skipped as the module documentation says.
pub fn read_sysctls(root: &Path) -> Vec<Sysctl> {
    // One reader of net.ipv4.vs: ipvs-core's. No directory (ip_vs not loaded): no series.
    let mut out: Vec<Sysctl> = ipvs_core::sysctl::read_all_at(root)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|setting| {
            let value = setting.value.as_integer()?;
            Some(Sysctl {
                name: setting.dotted_name(),
                value,
            })
        })
        .collect();
    // And ipvs-core's reader of dotted names for the rest (unreadable counts as missing).
    for name in GUIDE_SYSCTLS {
        let value = ipvs_core::sysctl::node::read_at(root, name).ok().flatten();
        if let Some(value) = value.and_then(|v| v.as_integer()) {
            out.push(Sysctl {
                name: (*name).to_string(),
                value,
            });
        }
    }
    out
}

/// The `ipvs_node_sysctl` family of one scrape.
#[derive(Debug)]
pub struct SysctlCollector {
    sysctls: Vec<Sysctl>,
}

impl SysctlCollector {
    /// The family of these values.
    pub fn new(sysctls: Vec<Sysctl>) -> Self {
        SysctlCollector { sysctls }
    }
}

impl Collector for SysctlCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "ipvs_node_sysctl",
            "Kernel parameter of the exporter's network namespace (IPVS and those the guide tunes).",
            None,
            MetricType::Gauge,
        )?;
        for s in &self.sysctls {
            let labels = [("name", s.name.as_str())];
            ConstGauge::new(s.value).encode(family.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_single_integers_and_skips_the_rest() {
        let dir = std::env::temp_dir().join(format!("ipvs-exporter-sysctl-{}", std::process::id()));
        let vs = dir.join("net/ipv4/vs");
        std::fs::create_dir_all(&vs).unwrap();
        std::fs::create_dir_all(dir.join("net/ipv4")).unwrap();
        std::fs::write(vs.join("conntrack"), "1\n").unwrap();
        std::fs::write(vs.join("sync_threshold"), "3\t50\n").unwrap();
        std::fs::write(vs.join("am_droprate"), "10\n").unwrap();
        std::fs::write(dir.join("net/ipv4/ip_forward"), "0\n").unwrap();
        let got = read_sysctls(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let pairs: Vec<(&str, i64)> = got.iter().map(|s| (s.name.as_str(), s.value)).collect();
        assert_eq!(
            pairs,
            [
                ("net.ipv4.vs.am_droprate", 10),
                ("net.ipv4.vs.conntrack", 1),
                ("net.ipv4.ip_forward", 0)
            ]
        );
    }
}
