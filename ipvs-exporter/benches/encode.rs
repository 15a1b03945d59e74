//! Encoding a scrape of a 10,000-service x 10-destination table (what
//! `ops_bench` times end to end in the lab), without the kernel: the table is
//! built here, so this measures the text the exporter writes per real server, in
//! both formats, on the host's own CPU.
//!
//! `cargo bench -p ipvs-exporter --bench encode`

use std::fmt::{self, Write};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipvs_core::{Destination, ForwardMethod, Scheduler, Service, ServiceKey, Table, TableEntry};
use ipvs_exporter::exposition::{write_registry, Format};
use ipvs_exporter::ipvs::IpvsCollector;
use prometheus_client::registry::Registry;

const SERVICES: u32 = 10_000;
const DESTINATIONS: u8 = 10;

/// Counts the bytes written and keeps none of them, as a socket would.
struct Sink(usize);

impl Write for Sink {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += black_box(s).len();
        Ok(())
    }
}

/// Services on 203.0.113.0/24 and beyond (ports vary), each with ten NAT real
/// servers and non-zero counters, so every series has digits to print.
fn table() -> Table {
    let entries = (0..SERVICES)
        .map(|i| {
            let vip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, (i % 250) as u8 + 1));
            let port = 1024 + (i / 250) as u16;
            let mut service =
                Service::new(ServiceKey::tcp(SocketAddr::new(vip, port)), Scheduler::Wrr);
            service.stats.conns = u64::from(i) * 7;
            service.stats.inbytes = u64::from(i) << 20;
            let destinations = (0..DESTINATIONS)
                .map(|d| {
                    let rip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, d + 1));
                    let mut dest =
                        Destination::new(SocketAddr::new(rip, port), ForwardMethod::Masquerade)
                            .weight(u32::from(d) + 1);
                    dest.active_conns = u32::from(d) * 3;
                    dest.stats.conns = u64::from(i) + u64::from(d);
                    dest.stats.outbytes = u64::from(i) << 12;
                    dest
                })
                .collect();
            TableEntry::new(service, destinations)
        })
        .collect();
    Table::new(entries)
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("scrape_10000x10");
    group.sample_size(10);
    group.throughput(Throughput::Elements(
        u64::from(SERVICES) * u64::from(DESTINATIONS),
    ));
    for (name, format) in [
        ("openmetrics", Format::OpenMetrics),
        ("classic", Format::Classic),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut registry = Registry::default();
                    registry.register_collector(Box::new(IpvsCollector::new(table())));
                    registry
                },
                |registry| {
                    let mut sink = Sink(0);
                    write_registry(&registry, format, &mut sink).expect("encodes");
                    sink.0
                },
                criterion::BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
