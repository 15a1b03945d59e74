//! Property tests over the decoder: no input makes it panic.
//!
//! Inputs are random bytes, and kernel-captured fixtures mutated by bit flips,
//! byte overwrites, length-field corruption and truncation, driven by a fixed
//! seed so failures reproduce. This runs on stable in every `cargo test`; the
//! cargo-fuzz target in `fuzz/` explores the same function with coverage.
#![allow(clippy::unwrap_used)]

#[path = "fixtures/mod.rs"]
mod fixtures;

use std::net::{IpAddr, SocketAddr};

use ipvs_core::codec;
use ipvs_core::*;
use netlink_packet_core::NetlinkPayload;

/// xorshift64*: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn all_fixtures() -> Vec<&'static [u8]> {
    let mut v = Vec::new();
    for set in [
        fixtures::service_dump::MESSAGES,
        fixtures::dest_dump::MESSAGES,
        fixtures::daemon_dump::MESSAGES,
        fixtures::config_reply::MESSAGES,
        fixtures::info_reply::MESSAGES,
        fixtures::error_no_such_service::MESSAGES,
        fixtures::dest_dump_v6::MESSAGES,
        fixtures::daemon_dump_v6::MESSAGES,
    ] {
        v.extend_from_slice(set);
    }
    v
}

/// Decode and convert everything; only errors are allowed, never a panic.
fn exercise(bytes: &[u8]) -> usize {
    let mut ok = 0;
    for msg in codec::decode(bytes) {
        let Ok(mut msg) = msg else { continue };
        if let NetlinkPayload::InnerMessage(g) = &msg.payload {
            let m = &g.payload;
            ok += usize::from(m.to_service().is_ok());
            ok += usize::from(m.to_destination(AddressFamily::Inet).is_ok());
            ok += usize::from(m.to_destination(AddressFamily::Inet6).is_ok());
            ok += usize::from(m.to_daemon().is_ok());
            let _ = m.to_timeouts();
        }
        if let NetlinkPayload::InnerMessage(_) = &msg.payload {
            // Whatever decoded must also re-encode without panicking (after
            // fixing the header length: a normalised string may change size).
            msg.finalize();
            let mut out = vec![0u8; msg.buffer_len()];
            msg.serialize(&mut out);
        }
        if let NetlinkPayload::Error(e) = &msg.payload {
            let _ = ipvs_core::netlink::ext_ack_message(msg.header.flags, &e.header);
        }
    }
    ok
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for _ in 0..20_000 {
        let len = rng.below(256);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        exercise(&bytes);
    }
}

#[test]
fn mutated_kernel_messages_never_panic() {
    let fixtures = all_fixtures();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    let mut decoded_some = 0;
    for round in 0..40_000 {
        let base = fixtures[round % fixtures.len()];
        let mut m = base.to_vec();
        for _ in 0..=rng.below(4) {
            let i = rng.below(m.len());
            match rng.below(5) {
                0 => m[i] ^= 1 << rng.below(8),
                1 => m[i] = rng.next() as u8,
                // Corrupt a 16-bit length at an attribute-ish boundary.
                2 => {
                    let j = i & !3;
                    if j + 1 < m.len() {
                        let v = rng.next() as u16;
                        m[j..j + 2].copy_from_slice(&v.to_ne_bytes());
                    }
                }
                3 => m.truncate(i),
                _ => m.insert(i, rng.next() as u8),
            }
            if m.is_empty() {
                break;
            }
        }
        decoded_some += exercise(&m);
    }
    // The mutations are mild enough that plenty still decode: the test exercises
    // the converters, not just the framing.
    assert!(
        decoded_some > 1000,
        "only {decoded_some} conversions succeeded"
    );
}

/// Typed requests survive encode → decode unchanged (random values).
#[test]
fn random_requests_round_trip() {
    let mut rng = Rng(42);
    let scheds = Scheduler::KNOWN;
    for _ in 0..5_000 {
        let v6 = rng.below(2) == 1;
        let ip = |rng: &mut Rng| -> IpAddr {
            if v6 {
                IpAddr::V6(std::net::Ipv6Addr::from(
                    (rng.next() as u128) << 64 | rng.next() as u128,
                ))
            } else {
                IpAddr::V4(std::net::Ipv4Addr::from(rng.next() as u32))
            }
        };
        let family = if v6 {
            AddressFamily::Inet6
        } else {
            AddressFamily::Inet
        };
        let key = match rng.below(4) {
            0 => ServiceKey::tcp(SocketAddr::new(ip(&mut rng), rng.next() as u16)),
            1 => ServiceKey::udp(SocketAddr::new(ip(&mut rng), rng.next() as u16)),
            2 => ServiceKey::sctp(SocketAddr::new(ip(&mut rng), rng.next() as u16)),
            _ => ServiceKey::fwmark((rng.next() as u32).max(1), family),
        };
        let mut svc = Service::new(key, scheds[rng.below(scheds.len())].clone());
        svc.flags = ServiceFlags::from_bits_retain(rng.next() as u32 & 0x3f);
        svc.timeout = rng.next() as u32;
        svc.netmask = if v6 {
            Netmask::V6(rng.below(129) as u8)
        } else {
            Netmask::V4(std::net::Ipv4Addr::from(rng.next() as u32))
        };
        if rng.below(2) == 1 {
            svc.pe_name = Some("sip".into());
        }
        let mut dest = Destination::new(
            SocketAddr::new(ip(&mut rng), rng.next() as u16),
            ForwardMethod::Tunnel,
        );
        dest.weight = rng.next() as u32 & 0x7fff_ffff;
        dest.upper_threshold = rng.next() as u32;
        dest.lower_threshold = rng.next() as u32;
        dest.tunnel_type = [TunnelType::Ipip, TunnelType::Gue, TunnelType::Gre][rng.below(3)];
        dest.tunnel_port = rng.next() as u16;
        dest.tunnel_checksum = TunnelChecksum::from_raw(rng.below(3) as u16);
        for req in [
            Request::AddService(svc.clone()),
            Request::AddDestination(key, dest.clone()),
        ] {
            let msg = req.to_message().unwrap();
            let mut buf = Vec::new();
            codec::encode(28, 5, 1, msg.clone(), &mut buf);
            let back = codec::decode(&buf).next().unwrap().unwrap();
            let NetlinkPayload::InnerMessage(g) = back.payload else {
                panic!("not inner")
            };
            assert_eq!(g.payload, msg);
            match &req {
                Request::AddService(s) => {
                    let read = g.payload.to_service().unwrap();
                    assert_eq!(&read, s);
                }
                Request::AddDestination(_, d) => {
                    let read = g.payload.to_destination(family).unwrap();
                    assert_eq!(&read, d);
                }
                _ => unreachable!(),
            }
        }
    }
}
