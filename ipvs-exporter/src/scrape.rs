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
#[derive(Debug)]
pub struct Scraper {
    handle: Mutex<Option<Handle>>,
    errors: AtomicU64,
    proc_sys: PathBuf,
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
        }
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
