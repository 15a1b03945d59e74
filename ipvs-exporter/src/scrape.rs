//! One scrape: read the IPVS table over netlink and the kernel parameters, and
//! build the registry that encodes them with the exporter's own health metrics.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use ipvs_core::Handle;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::ipvs::IpvsCollector;
use crate::kernel::{read_sysctls, SysctlCollector};

/// Reads the kernel at each scrape. One netlink handle, opened on first use and
/// reopened after a failure; scrapes are serialised on it.
pub struct Scraper {
    handle: Mutex<Option<Handle>>,
    errors: AtomicU64,
    proc_sys: PathBuf,
    extra: Option<ExtraCollectors>,
}

/// Families a program adds to every scrape (a VRRP daemon's
/// [`crate::vrrp::VrrpCollector`]), built at scrape time.
pub type ExtraCollectors = Box<dyn Fn() -> Vec<Box<dyn Collector>> + Send + Sync>;

impl std::fmt::Debug for Scraper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scraper")
            .field("errors", &self.errors)
            .field("proc_sys", &self.proc_sys)
            .field("extra", &self.extra.is_some())
            .finish()
    }
}

/// The outcome of reading the kernel, as the exporter reports it about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeHealth {
    /// Whether the IPVS table was read.
    pub success: bool,
    /// Failed reads since the exporter started.
    pub errors_total: u64,
    /// Seconds spent reading the table and the parameters.
    pub read_seconds: f64,
}

impl Default for Scraper {
    fn default() -> Self {
        Scraper::new("/proc/sys".into())
    }
}

impl Scraper {
    /// A scraper reading kernel parameters under `proc_sys` (normally `/proc/sys`).
    pub fn new(proc_sys: PathBuf) -> Self {
        Scraper {
            handle: Mutex::new(None),
            errors: AtomicU64::new(0),
            proc_sys,
            extra: None,
        }
    }

    /// Adds the families `extra` builds to every scrape: how a VRRP daemon serves
    /// its instances' metrics beside the IPVS ones.
    pub fn with_extra(mut self, extra: ExtraCollectors) -> Self {
        self.extra = Some(extra);
        self
    }

    /// Reads the kernel and returns the registry of this scrape. A failed read
    /// leaves the IPVS families out, counts an error and says why on stderr.
    pub fn registry(&self) -> Registry {
        let start = Instant::now();
        let table = self.read_table();
        let sysctls = read_sysctls(&self.proc_sys);
        let success = match &table {
            Ok(_) => true,
            Err(e) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                eprintln!("ipvs-exporter: reading the IPVS table: {e}");
                false
            }
        };
        let health = ScrapeHealth {
            success,
            errors_total: self.errors.load(Ordering::Relaxed),
            read_seconds: start.elapsed().as_secs_f64(),
        };
        let mut registry = Registry::default();
        if let Ok(table) = table {
            registry.register_collector(Box::new(IpvsCollector::new(table)));
        }
        registry.register_collector(Box::new(SysctlCollector::new(sysctls)));
        if let Some(extra) = &self.extra {
            for collector in extra() {
                registry.register_collector(collector);
            }
        }
        registry.register_collector(Box::new(HealthCollector(health)));
        registry
    }

    fn read_table(&self) -> Result<ipvs_core::Table, ipvs_core::Error> {
        // A poisoned lock only means an earlier scrape panicked; the handle is
        // replaced below when it failed, so carry on with it.
        let mut guard = self.handle.lock().unwrap_or_else(|p| p.into_inner());
        let handle = match guard.as_mut() {
            Some(h) => h,
            None => guard.insert(Handle::new()?),
        };
        let result = handle.table();
        if result.is_err() {
            *guard = None;
        }
        result
    }
}

/// `ipvs_exporter_*`: whether this scrape read the table, errors so far, and how
/// long reading took.
#[derive(Debug)]
pub struct HealthCollector(pub ScrapeHealth);

impl Collector for HealthCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        ConstGauge::new(i64::from(self.0.success)).encode(encoder.encode_descriptor(
            "ipvs_exporter_scrape_success",
            "1 if this scrape read the IPVS table over netlink, 0 if it failed (see the exporter's stderr).",
            None,
            MetricType::Gauge,
        )?)?;
        ConstCounter::new(self.0.errors_total).encode(encoder.encode_descriptor(
            "ipvs_exporter_scrape_errors",
            "Scrapes that failed to read the IPVS table since the exporter started.",
            None,
            MetricType::Counter,
        )?)?;
        ConstGauge::new(self.0.read_seconds).encode(encoder.encode_descriptor(
            "ipvs_exporter_scrape_duration_seconds",
            "Seconds this scrape spent reading the IPVS table and kernel parameters.",
            None,
            MetricType::Gauge,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrrp::{VrrpCollector, VrrpInstanceMetrics, VrrpState};

    /// Without IPVS (the development host) a scrape still answers: success 0, one
    /// error counted per scrape, the other families present. With IPVS the table's
    /// families are there instead.
    #[test]
    fn a_scrape_reports_its_own_health_and_keeps_the_extra_families() {
        let scraper = Scraper::default().with_extra(Box::new(|| {
            let i = VrrpInstanceMetrics::new("VI_API", "eth0", 51, VrrpState::Backup);
            vec![Box::new(VrrpCollector::new(vec![i], vec![])) as Box<dyn Collector>]
        }));
        let mut text = String::new();
        for _ in 0..2 {
            text.clear();
            prometheus_client::encoding::text::encode(&mut text, &scraper.registry()).unwrap();
        }
        assert!(
            text.contains(
                r#"keepalived_vrrp_state{iname="VI_API",intf="eth0",vrid="51",ip_address=""} 1"#
            ),
            "{text}"
        );
        let read = text.contains("node_ipvs_connections_total ");
        if read {
            assert!(text.contains("ipvs_exporter_scrape_success 1"), "{text}");
        } else {
            assert!(text.contains("ipvs_exporter_scrape_success 0"), "{text}");
            assert!(
                text.contains("ipvs_exporter_scrape_errors_total 2"),
                "{text}"
            );
        }
        assert!(
            text.contains("# TYPE ipvs_exporter_scrape_duration_seconds gauge"),
            "{text}"
        );
    }
}
