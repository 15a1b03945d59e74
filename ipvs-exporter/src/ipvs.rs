//! The IPVS families of one scrape, encoded from a [`Table`] snapshot read over
//! netlink (64-bit counters).
//!
//! Two groups of names:
//!
//! - node_exporter's IPVS collector, unchanged: the global totals
//!   `node_ipvs_{connections,incoming_packets,outgoing_packets,incoming_bytes,outgoing_bytes}_total`
//!   (no labels) and the per-backend gauges `node_ipvs_backend_connections_active`,
//!   `node_ipvs_backend_connections_inactive`, `node_ipvs_backend_weight` with the six
//!   labels of [`crate::labels`].
//! - this exporter's own, under `ipvs_`: per-service and per-destination counters and
//!   the kernel's estimated rates, persistent connections, and per-service
//!   destination counts and weight sums (what the "no backend" alert needs).
//!
//! The netlink API has no global counters (node_exporter reads them from
//! `/proc/net/ip_vs_stats`): the totals here are the sums over the services listed.
//! The kernel adds every packet to the destination, its service and the global
//! counters together, so the sums are equal while no service with traffic has been
//! deleted; deleting one lowers the sum, which Prometheus reads as a counter reset.

use ipvs_core::{Destination, ServiceKey, Stats, Table, TableEntry};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::labels::{backend_pairs, BackendAddr, ServiceLabels};

/// One counter of [`Stats`] and its names.
#[derive(Debug, Clone, Copy)]
struct StatField {
    /// node_exporter's name part (`connections`, `incoming_packets`...).
    name: &'static str,
    /// What it counts.
    help: &'static str,
    /// The cumulative counter.
    total: fn(&Stats) -> u64,
    /// The kernel's estimated rate of it.
    rate: fn(&Stats) -> u64,
}

const STAT_FIELDS: [StatField; 5] = [
    StatField {
        name: "connections",
        help: "connections scheduled",
        total: |s| s.conns,
        rate: |s| s.cps,
    },
    StatField {
        name: "incoming_packets",
        help: "incoming packets",
        total: |s| s.inpkts,
        rate: |s| s.inpps,
    },
    StatField {
        name: "outgoing_packets",
        help: "outgoing packets",
        total: |s| s.outpkts,
        rate: |s| s.outpps,
    },
    StatField {
        name: "incoming_bytes",
        help: "incoming bytes",
        total: |s| s.inbytes,
        rate: |s| s.inbps,
    },
    StatField {
        name: "outgoing_bytes",
        help: "outgoing bytes",
        total: |s| s.outbytes,
        rate: |s| s.outbps,
    },
];

/// The IPVS families of one scrape. Registered in a per-scrape registry; encoding
/// walks the snapshot once per family and writes through the registry's encoder,
/// so nothing larger than the snapshot itself is held.
#[derive(Debug)]
pub struct IpvsCollector {
    table: Table,
}

impl IpvsCollector {
    /// The families of this table.
    pub fn new(table: Table) -> Self {
        IpvsCollector { table }
    }

    fn destinations(&self) -> impl Iterator<Item = (&ServiceKey, &Destination)> {
        self.table
            .entries
            .iter()
            .flat_map(|e| e.destinations.iter().map(move |d| (&e.service.key, d)))
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(value);
    c.encode(encoder.encode_descriptor(name, help, None, MetricType::Counter)?)
}

impl Collector for IpvsCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        // node_exporter's global totals.
        for field in STAT_FIELDS {
            let sum = self.table.entries.iter().fold(0u64, |acc, e| {
                acc.wrapping_add((field.total)(&e.service.stats))
            });
            counter(
                &mut encoder,
                &format!("node_ipvs_{}", field.name),
                &format!(
                    "The total number of {} (sum over the IPVS services).",
                    field.help
                ),
                sum,
            )?;
        }
        // node_exporter's backend gauges.
        type DestValue = fn(&Destination) -> u64;
        let backend: [(&str, &str, DestValue); 3] = [
            (
                "node_ipvs_backend_connections_active",
                "The current active connections by local and remote address.",
                |d| u64::from(d.active_conns),
            ),
            (
                "node_ipvs_backend_connections_inactive",
                "The current inactive connections by local and remote address.",
                |d| u64::from(d.inactive_conns),
            ),
            (
                "node_ipvs_backend_weight",
                "The current backend weight by local and remote address.",
                |d| u64::from(d.weight),
            ),
        ];
        for (name, help, value) in backend {
            self.encode_destinations(&mut encoder, name, help, MetricType::Gauge, value)?;
        }
        self.encode_own(&mut encoder)
    }
}

impl IpvsCollector {
    /// One family with a series per destination, labelled as node_exporter labels
    /// backends.
    fn encode_destinations(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        kind: MetricType,
        value: impl Fn(&Destination) -> u64,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, kind)?;
        let mut current: Option<(&ServiceKey, ServiceLabels)> = None;
        for (key, dest) in self.destinations() {
            let service = match &current {
                Some((k, labels)) if *k == key => labels,
                _ => &current.insert((key, ServiceLabels::of(key))).1,
            };
            let addr = BackendAddr::of(dest);
            let labels = backend_pairs(service, &addr);
            let series = family.encode_family(&labels)?;
            match kind {
                MetricType::Counter => ConstCounter::new(value(dest)).encode(series)?,
                _ => ConstGauge::new(value(dest) as f64).encode(series)?,
            }
        }
        Ok(())
    }

    /// One family with a series per service.
    fn encode_services(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        kind: MetricType,
        value: impl Fn(&TableEntry) -> u64,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(name, help, None, kind)?;
        for entry in &self.table.entries {
            let labels = ServiceLabels::of(&entry.service.key);
            let pairs = labels.pairs();
            let series = family.encode_family(&pairs)?;
            match kind {
                MetricType::Counter => ConstCounter::new(value(entry)).encode(series)?,
                _ => ConstGauge::new(value(entry) as f64).encode(series)?,
            }
        }
        Ok(())
    }

    /// The `ipvs_` families.
    fn encode_own(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        ConstGauge::new(self.table.entries.len() as f64).encode(encoder.encode_descriptor(
            "ipvs_services",
            "Virtual services in the table.",
            None,
            MetricType::Gauge,
        )?)?;
        for field in STAT_FIELDS {
            self.encode_services(
                encoder,
                &format!("ipvs_service_{}", field.name),
                &format!(
                    "Virtual service: {} (the kernel's 64-bit counter).",
                    field.help
                ),
                MetricType::Counter,
                |e| (field.total)(&e.service.stats),
            )?;
            self.encode_services(
                encoder,
                &format!("ipvs_service_{}_per_second", field.name),
                &format!(
                    "Virtual service: {} per second, as the kernel's 2 s estimator reports it.",
                    field.help
                ),
                MetricType::Gauge,
                |e| (field.rate)(&e.service.stats),
            )?;
        }
        self.encode_services(
            encoder,
            "ipvs_service_destinations",
            "Real servers of the virtual service.",
            MetricType::Gauge,
            |e| e.destinations.len() as u64,
        )?;
        self.encode_services(
            encoder,
            "ipvs_service_total_weight",
            "Sum of the real servers' weights: 0 means no real server gets new connections.",
            MetricType::Gauge,
            |e| e.destinations.iter().map(|d| u64::from(d.weight)).sum(),
        )?;
        for field in STAT_FIELDS {
            self.encode_destinations(
                encoder,
                &format!("ipvs_destination_{}", field.name),
                &format!("Real server: {} (the kernel's 64-bit counter).", field.help),
                MetricType::Counter,
                |d| (field.total)(&d.stats),
            )?;
            self.encode_destinations(
                encoder,
                &format!("ipvs_destination_{}_per_second", field.name),
                &format!(
                    "Real server: {} per second, as the kernel's 2 s estimator reports it.",
                    field.help
                ),
                MetricType::Gauge,
                |d| (field.rate)(&d.stats),
            )?;
        }
        self.encode_destinations(
            encoder,
            "ipvs_destination_persistent_connections",
            "Persistence templates held by the real server (ipvsadm's PersistConn).",
            MetricType::Gauge,
            |d| u64::from(d.persistent_conns),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::{AddressFamily, ForwardMethod, Scheduler, Service};

    fn stats(base: u64) -> Stats {
        let mut s = Stats::default();
        s.conns = base;
        s.inpkts = base * 10;
        s.outpkts = base * 9;
        s.inbytes = base * 1000 + u64::from(u32::MAX);
        s.outbytes = base * 2000;
        s.cps = 3;
        s.outbps = 77;
        s
    }

    #[test]
    fn families_follow_node_exporter_and_sum_the_services() {
        let mut tcp = Service::new(
            ServiceKey::tcp("192.0.2.10:6443".parse().unwrap()),
            Scheduler::Wrr,
        );
        tcp.stats = stats(5);
        let mut d1 = Destination::new(
            "198.51.100.10:6443".parse().unwrap(),
            ForwardMethod::Masquerade,
        )
        .weight(2);
        d1.active_conns = 4;
        d1.inactive_conns = 6;
        d1.stats = stats(5);
        let d2 = Destination::new(
            "198.51.100.11:6443".parse().unwrap(),
            ForwardMethod::Masquerade,
        )
        .weight(0);
        let mut fwm = Service::new(
            ServiceKey::FwMark {
                mark: 7,
                family: AddressFamily::Inet,
            },
            Scheduler::Rr,
        );
        fwm.stats = stats(1);
        let table = Table::new(vec![
            TableEntry::new(tcp, vec![d1, d2]),
            TableEntry::new(fwm, vec![]),
        ]);
        let text = crate::encode_collectors(vec![Box::new(IpvsCollector::new(table))]).unwrap();
        let has = |line: &str| {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            )
        };
        has("# TYPE node_ipvs_connections counter");
        has("node_ipvs_connections_total 6");
        has(&format!(
            "node_ipvs_incoming_bytes_total {}",
            6000 + 2 * u64::from(u32::MAX)
        ));
        has(
            r#"node_ipvs_backend_connections_active{local_address="192.0.2.10",local_port="6443",remote_address="198.51.100.10",remote_port="6443",proto="TCP",local_mark=""} 4.0"#,
        );
        has(
            r#"node_ipvs_backend_connections_inactive{local_address="192.0.2.10",local_port="6443",remote_address="198.51.100.10",remote_port="6443",proto="TCP",local_mark=""} 6.0"#,
        );
        has(
            r#"node_ipvs_backend_weight{local_address="192.0.2.10",local_port="6443",remote_address="198.51.100.11",remote_port="6443",proto="TCP",local_mark=""} 0.0"#,
        );
        has(
            r#"ipvs_service_connections_total{local_address="",local_port="0",proto="FWM",local_mark="00000007"} 1"#,
        );
        has(
            r#"ipvs_service_outgoing_bytes_per_second{local_address="192.0.2.10",local_port="6443",proto="TCP",local_mark=""} 77.0"#,
        );
        has(
            r#"ipvs_service_total_weight{local_address="",local_port="0",proto="FWM",local_mark="00000007"} 0.0"#,
        );
        has(
            r#"ipvs_service_total_weight{local_address="192.0.2.10",local_port="6443",proto="TCP",local_mark=""} 2.0"#,
        );
        has(
            r#"ipvs_destination_incoming_packets_total{local_address="192.0.2.10",local_port="6443",remote_address="198.51.100.10",remote_port="6443",proto="TCP",local_mark=""} 50"#,
        );
        has("ipvs_services 2.0");
        // Each family is declared once (the exposition format requires contiguous families).
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut unique = types.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(types.len(), unique.len());
    }
}
