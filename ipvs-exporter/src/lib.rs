//! ipvs-exporter: Prometheus metrics for the kernel's IPVS table, read over
//! generic netlink through ipvs-core (64-bit counters), never from `/proc` text.
//!
//! - [`ipvs`]: node_exporter's IPVS collector names and labels, unchanged, plus
//!   this exporter's per-service and per-destination counters and rates (`ipvs_*`).
//! - [`kernel`]: the kernel parameters the operations guide tunes
//!   (`ipvs_node_sysctl`).
//! - [`vrrp`]: VRRP and health-script families built from plain values, for a VRRP
//!   daemon to serve beside the IPVS families.
//! - [`checker`]: real-server health, weight and quorum families of a daemon's
//!   health checkers.
//! - [`scrape`], [`exposition`], [`http`]: one scrape per request, streamed in
//!   bounded chunks by a blocking HTTP server.
//!
//! The metric reference is docs/operations.md.
//!
//! ```no_run
//! let scraper = ipvs_exporter::scrape::Scraper::default();
//! let endpoint = ipvs_exporter::http::Endpoint::bind(
//!     ipvs_exporter::DEFAULT_LISTEN.parse().unwrap(),
//!     scraper,
//! )?;
//! endpoint.serve();
//! # Ok::<(), ipvs_exporter::http::ListenError>(())
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod checker;
pub mod exposition;
pub mod http;
pub mod ipvs;
pub mod kernel;
pub mod labels;
pub mod scrape;
pub mod vrrp;

use prometheus_client::collector::Collector;
use prometheus_client::registry::Registry;

/// Where the exporter listens unless told otherwise: loopback only (the metrics
/// describe the node's load balancing; expose them deliberately), port 9888.
///
/// The exporter port range 9100-9999 of Prometheus's port allocation list is fully
/// allocated, so no number is reserved for us; 9888 collides with none of the
/// neighbours this exporter runs beside (node_exporter 9100, the keepalived
/// exporters 9165 and 9650, kube-proxy 10249/10256, kubelet 10250).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9888";

/// The OpenMetrics text of these collectors, in one string: for tests, examples,
/// and small families (a scrape streams instead, see [`http`]).
pub fn encode_collectors(collectors: Vec<Box<dyn Collector>>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    for c in collectors {
        registry.register_collector(c);
    }
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &registry)?;
    Ok(out)
}
