//! Codec throughput: decoding a kernel-captured destination dump (with stats)
//! into typed destinations, and encoding add-destination requests.
//!
//! `cargo bench -p ipvs-core --bench codec`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipvs_core::codec;
use ipvs_core::{AddressFamily, Destination, ForwardMethod, Request, ServiceKey};
use netlink_packet_core::{NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};

mod dest_dump {
    include!("../tests/fixtures/dest_dump.rs");
}

/// The captured messages repeated into one buffer, like a large dump datagram.
fn dump_buffer(copies: usize) -> (Vec<u8>, usize) {
    let mut buf = Vec::new();
    let mut n = 0;
    for _ in 0..copies {
        for m in dest_dump::MESSAGES {
            buf.extend_from_slice(m);
            n += 1;
        }
    }
    (buf, n)
}

fn decode_destinations(buf: &[u8]) -> usize {
    let mut count = 0;
    for msg in codec::decode(buf) {
        let msg = msg.expect("fixture decodes");
        if let NetlinkPayload::InnerMessage(g) = &msg.payload {
            let d = &g
                .payload
                .to_destination(AddressFamily::Inet)
                .expect("fixture converts");
            black_box(&d);
            count += 1;
        }
    }
    count
}

fn bench_decode(c: &mut Criterion) {
    let (buf, n) = dump_buffer(100);
    assert_eq!(decode_destinations(&buf), n);
    let mut g = c.benchmark_group("decode_dest_dump");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function(format!("{n}_destinations_with_stats"), |b| {
        b.iter(|| decode_destinations(black_box(&buf)))
    });
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let key = ServiceKey::tcp("192.0.2.1:80".parse().expect("literal"));
    let dests: Vec<Request> = (0..100u16)
        .map(|i| {
            let d = Destination::new(
                std::net::SocketAddr::new("198.51.100.2".parse().expect("literal"), 1000 + i),
                ForwardMethod::Masquerade,
            );
            Request::AddDestination(key, d)
        })
        .collect();
    let mut g = c.benchmark_group("encode_add_destination");
    g.throughput(Throughput::Elements(dests.len() as u64));
    g.bench_function("100_requests_one_buffer", |b| {
        let mut buf = Vec::with_capacity(16 * 1024);
        b.iter(|| {
            buf.clear();
            for (seq, r) in dests.iter().enumerate() {
                let msg = (black_box(r)).to_message().expect("valid request");
                codec::encode(28, NLM_F_REQUEST | NLM_F_ACK, seq as u32, msg, &mut buf);
            }
            black_box(buf.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
