//! Planning cost: the diff of two 10,000-service x 10-destination tables
//! (one with 1% of its services changed), as a sync loop pays it every pass.
//!
//! `cargo bench -p ipvs-core --bench apply`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use criterion::{criterion_group, criterion_main, Criterion};
use ipvs_core::apply::{plan, PlanOptions, Scope, TableSpec};
use ipvs_core::{
    Destination, ForwardMethod, Scheduler, Service, ServiceFlags, ServiceKey, Table, TableEntry,
};

fn vip(i: u32) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::from(0xC000_0200 + (i % 250))),
        1000 + (i / 250) as u16,
    )
}

/// What the kernel would report: HASHED services with counters.
fn kernel_table(services: u32, dests: u16) -> Table {
    Table::new(
        (0..services)
            .map(|i| {
                let svc = Service::new(ServiceKey::tcp(vip(i)), Scheduler::Wrr)
                    .flags(ServiceFlags::HASHED);
                let ds = (0..dests)
                    .map(|d| {
                        Destination::new(
                            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)), 2000 + d),
                            ForwardMethod::Masquerade,
                        )
                        .weight(1 + u32::from(d))
                        .connections(3, 10, 0)
                    })
                    .collect();
                TableEntry::new(svc, ds)
            })
            .collect(),
    )
}

fn bench(c: &mut Criterion) {
    let current = kernel_table(10_000, 10);
    let same: TableSpec = current.spec();
    let mut changed = same.clone();
    for i in (0..changed.entries.len()).step_by(100) {
        changed.entries[i].service.scheduler = Scheduler::Wlc;
        changed.entries[i].destinations[0].weight = 99;
    }
    let options = PlanOptions::new(Scope::all());
    let mut group = c.benchmark_group("plan 10000 svc x 10 dest");
    group.sample_size(20);
    group.bench_function("nothing changed", |b| {
        b.iter(|| plan(black_box(&current), black_box(&same), &options).expect("plan"))
    });
    group.bench_function("1% changed", |b| {
        b.iter(|| plan(black_box(&current), black_box(&changed), &options).expect("plan"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
