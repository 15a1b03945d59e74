//! Kernel-captured byte fixtures (recipe: tests/it/core_fixtures.rs in the
//! workspace, run in the lab), each tested both ways: the bytes parse to the
//! expected typed value, and emitting gives back exactly the captured bytes —
//! both for the parsed message and, where ipvs-core sends the same message,
//! for the message built from the typed value.
#![allow(clippy::unwrap_used)]

#[path = "fixtures/mod.rs"]
mod fixtures;

use std::net::{IpAddr, Ipv4Addr};

use ipvs_core::codec::nla::{DestAttr, InfoAttr, IpvsCmdAttr, ServiceAttr, Stats64Attr, StatsAttr};
use ipvs_core::codec::{self, IpvsAttrs, IpvsCmd, IpvsMessage, IpvsNetlinkMessage};
use ipvs_core::*;
use netlink_packet_core::{Emitable, NetlinkPayload};

fn decode_one(bytes: &[u8]) -> IpvsNetlinkMessage {
    let mut it = codec::decode(bytes);
    let msg = it.next().expect("one message").expect("decodes");
    assert!(it.next().is_none(), "exactly one message");
    msg
}

fn payload(msg: &IpvsNetlinkMessage) -> &IpvsMessage {
    match &msg.payload {
        NetlinkPayload::InnerMessage(g) => &g.payload,
        other => panic!("not an IPVS message: {other:?}"),
    }
}

/// Parsed message re-emits the captured bytes exactly.
fn assert_reemits(bytes: &[u8]) {
    let msg = decode_one(bytes);
    let mut back = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut back);
    assert_eq!(back, bytes);
}

/// The attributes of the message payload (after nlmsghdr and genlmsghdr).
fn attr_bytes(bytes: &[u8]) -> &[u8] {
    &bytes[20..]
}

fn no_stats() -> Stats {
    Stats::default()
}

/// Counters and rates in the kernel's order.
fn stats(values: [u64; 10]) -> Stats {
    let mut s = Stats::default();
    let [conns, inpkts, outpkts, inbytes, outbytes, cps, inpps, outpps, inbps, outbps] = values;
    (s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes) =
        (conns, inpkts, outpkts, inbytes, outbytes);
    (s.cps, s.inpps, s.outpps, s.inbps, s.outbps) = (cps, inpps, outpps, inbps, outbps);
    s
}

/// The service attributes ipvs-core sends to add `svc`.
fn test_service_attrs(svc: &Service) -> Result<Vec<ServiceAttr>, codec::CodecError> {
    match &Request::AddService(svc.clone()).to_message()?.cmd_attrs()[0] {
        IpvsCmdAttr::Service(a) => Ok(a.clone()),
        other => panic!("{other:?}"),
    }
}

/// The destination attributes ipvs-core sends to add `dest`.
fn test_dest_attrs(dest: &Destination) -> Result<Vec<DestAttr>, codec::CodecError> {
    let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
    match &Request::AddDestination(key, dest.clone())
        .to_message()?
        .cmd_attrs()[1]
    {
        IpvsCmdAttr::Dest(a) => Ok(a.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn service_dump_parses_to_typed_services() {
    let msgs = fixtures::service_dump::MESSAGES;
    let got: Vec<Service> = msgs
        .iter()
        .map(|m| payload(&decode_one(m)).to_service().unwrap())
        .collect();
    let hashed = ServiceFlags::HASHED;
    let expected = vec![
        Service::new(
            ServiceKey::udp("[2001:db8::1]:53".parse().unwrap()),
            Scheduler::Sh,
        )
        .flags(hashed | ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT)
        .netmask(Netmask::V6(128))
        .stats(no_stats()),
        Service::new(
            ServiceKey::udp("192.0.2.1:5060".parse().unwrap()),
            Scheduler::Rr,
        )
        .flags(hashed)
        .persistent(120)
        .netmask(Netmask::V4(Ipv4Addr::BROADCAST))
        .persistence_engine("sip"),
        Service::new(
            ServiceKey::tcp("203.0.113.10:80".parse().unwrap()),
            Scheduler::Wlc,
        )
        .flags(hashed)
        .persistent(300)
        .netmask(Netmask::V4(Ipv4Addr::new(255, 255, 255, 0)))
        // Six TCP connections of "hello ipvs" echoed back, through NAT.
        .stats(stats([6, 36, 24, 1980, 1356, 1, 3, 2, 186, 127])),
        Service::new(ServiceKey::fwmark(7, AddressFamily::Inet6), Scheduler::Mh)
            .flags(hashed | ServiceFlags::MH_PORT)
            .persistent(60)
            .netmask(Netmask::V6(64)),
    ];
    assert_eq!(got, expected);
}

#[test]
fn service_dump_reemits_byte_for_byte() {
    for m in fixtures::service_dump::MESSAGES {
        assert_reemits(m);
    }
}

/// The service attributes ipvs-core sends for add/edit are exactly the
/// kernel's own description of the service, minus the read-only stats.
#[test]
fn service_from_typed_value_encodes_like_the_kernel() {
    for m in fixtures::service_dump::MESSAGES {
        let msg = decode_one(m);
        let svc = payload(&msg).to_service().unwrap();
        let kernel: Vec<ServiceAttr> = match &payload(&msg).cmd_attrs()[0] {
            IpvsCmdAttr::Service(a) => a
                .iter()
                .filter(|a| !matches!(a, ServiceAttr::Stats(_) | ServiceAttr::Stats64(_)))
                .cloned()
                .collect(),
            other => panic!("{other:?}"),
        };
        let ours = test_service_attrs(&svc).unwrap();
        assert_eq!(ours, kernel);
        let emit = |attrs: &[ServiceAttr]| {
            let mut b = vec![0; attrs.buffer_len()];
            attrs.emit(&mut b);
            b
        };
        assert_eq!(emit(&ours), emit(&kernel));
        // And those bytes are a prefix of the kernel's nest (the stats follow).
        let nest = &attr_bytes(m)[4..];
        assert_eq!(&nest[..emit(&ours).len()], emit(&ours).as_slice());
    }
}

#[test]
fn dest_dump_parses_to_typed_destinations() {
    let got: Vec<Destination> = fixtures::dest_dump::MESSAGES
        .iter()
        .map(|m| {
            payload(&decode_one(m))
                .to_destination(AddressFamily::Inet)
                .unwrap()
        })
        .collect();
    let mut gue =
        Destination::new("192.0.2.50:80".parse().unwrap(), ForwardMethod::Tunnel).weight(0);
    gue.tunnel_type = TunnelType::Gue;
    gue.tunnel_port = 6080;
    gue.tunnel_checksum = TunnelChecksum::NoCsum;
    let mut rs1 = Destination::new(
        "198.51.100.11:8080".parse().unwrap(),
        ForwardMethod::Masquerade,
    );
    rs1.upper_threshold = 100;
    rs1.lower_threshold = 10;
    rs1.inactive_conns = 6;
    rs1.persistent_conns = 1;
    rs1.stats = stats([6, 36, 24, 1980, 1356, 1, 3, 2, 186, 127]);
    let rs0 = Destination::new(
        "198.51.100.10:8080".parse().unwrap(),
        ForwardMethod::Masquerade,
    )
    .weight(2);
    assert_eq!(got, vec![gue, rs1, rs0]);
}

#[test]
fn dest_dump_reemits_byte_for_byte() {
    for m in fixtures::dest_dump::MESSAGES {
        assert_reemits(m);
    }
}

/// Add-destination attributes built from the typed value equal the kernel's
/// description of the destination minus its read-only counters.
#[test]
fn destination_from_typed_value_encodes_like_the_kernel() {
    for m in fixtures::dest_dump::MESSAGES {
        let msg = decode_one(m);
        let dest = payload(&msg).to_destination(AddressFamily::Inet).unwrap();
        let kernel: Vec<DestAttr> = match &payload(&msg).cmd_attrs()[0] {
            IpvsCmdAttr::Dest(a) => a
                .iter()
                .filter(|a| {
                    !matches!(
                        a,
                        DestAttr::Stats(_)
                            | DestAttr::Stats64(_)
                            | DestAttr::ActiveConns(_)
                            | DestAttr::InactConns(_)
                            | DestAttr::PersistConns(_)
                    )
                })
                .cloned()
                .collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(test_dest_attrs(&dest).unwrap(), kernel);
    }
}

#[test]
fn daemon_dump_both_ways() {
    let bytes = fixtures::daemon_dump::MESSAGES[0];
    let msg = decode_one(bytes);
    let daemon = payload(&msg).to_daemon().unwrap();
    let expected = SyncDaemon::new(DaemonState::Master, "lo", 9)
        .sync_maxlen(1472)
        .mcast_group(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81)))
        .mcast_port(8848)
        .mcast_ttl(1);
    assert_eq!(daemon, expected);
    assert_reemits(bytes);
    // Starting this daemon sends NEW_DAEMON with exactly the kernel's attributes.
    let req = (Request::StartDaemon(expected)).to_message().unwrap();
    assert_eq!(req.cmd, IpvsCmd::NewDaemon);
    let mut b = vec![0; req.buffer_len()];
    req.emit(&mut b);
    assert_eq!(b, attr_bytes(bytes));
}

#[test]
fn config_reply_both_ways() {
    let bytes = fixtures::config_reply::MESSAGES[0];
    let msg = decode_one(bytes);
    let t = payload(&msg).to_timeouts();
    assert_eq!(t, Timeouts::new(900, 120, 300));
    assert_reemits(bytes);
    // The reply is SET_CONFIG with the three timeouts: what set_timeouts sends.
    let req = (Request::SetTimeouts(t)).to_message().unwrap();
    assert_eq!(req, *payload(&msg));
    let mut b = vec![0; req.buffer_len()];
    req.emit(&mut b);
    assert_eq!(b, attr_bytes(bytes));
}

#[test]
fn info_reply_both_ways() {
    let bytes = fixtures::info_reply::MESSAGES[0];
    let msg = decode_one(bytes);
    assert_eq!(payload(&msg).cmd, IpvsCmd::SetInfo);
    assert_eq!(
        payload(&msg).attrs,
        IpvsAttrs::Info(vec![
            InfoAttr::Version(0x010201),
            InfoAttr::ConnTabSize(4096)
        ])
    );
    assert_reemits(bytes);
}

#[test]
fn error_reply_carries_esrch() {
    let bytes = fixtures::error_no_such_service::MESSAGES[0];
    let msg = decode_one(bytes);
    match &msg.payload {
        NetlinkPayload::Error(e) => assert_eq!(e.raw_code(), -libc_esrch()),
        other => panic!("{other:?}"),
    }
    let mut back = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut back);
    assert_eq!(back, bytes);
}

fn libc_esrch() -> i32 {
    3
}

/// Truncating a captured message anywhere gives an error, never a panic, and
/// errors inside attributes name the attribute.
#[test]
fn truncated_fixtures_fail_cleanly_naming_the_attribute() {
    let bytes = fixtures::dest_dump::MESSAGES[1];
    for cut in 0..bytes.len() {
        let _ = codec::decode(&bytes[..cut]).collect::<Vec<_>>();
    }
    // Shrink IPVS_DEST_ATTR_WEIGHT's value from 4 to 3 bytes (keeping the framing valid).
    let mut msg = decode_one(bytes);
    if let NetlinkPayload::InnerMessage(g) = &mut msg.payload {
        if let IpvsAttrs::Cmd(attrs) = &mut g.payload.attrs {
            if let IpvsCmdAttr::Dest(d) = &mut attrs[0] {
                for a in d.iter_mut() {
                    if let DestAttr::Weight(_) = a {
                        *a =
                            DestAttr::Other(netlink_packet_core::DefaultNla::new(4, vec![1, 2, 3]));
                    }
                }
            }
        }
    }
    msg.finalize();
    let mut b = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut b);
    let err = codec::decode(&b).next().unwrap().unwrap_err().to_string();
    assert!(err.contains("IPVS_DEST_ATTR_WEIGHT"), "{err}");
    assert!(err.contains("IPVS_CMD_ATTR_DEST"), "{err}");
}

#[test]
fn unknown_attributes_decode_as_other() {
    // A service nest with an attribute number from the future (99).
    let mut msg = decode_one(fixtures::service_dump::MESSAGES[0]);
    if let NetlinkPayload::InnerMessage(g) = &mut msg.payload {
        if let IpvsAttrs::Cmd(attrs) = &mut g.payload.attrs {
            if let IpvsCmdAttr::Service(s) = &mut attrs[0] {
                s.push(ServiceAttr::Other(netlink_packet_core::DefaultNla::new(
                    99,
                    vec![7, 7, 7, 7],
                )));
            }
        }
    }
    msg.finalize();
    let mut b = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut b);
    let back = decode_one(&b);
    let svc = payload(&back).to_service().unwrap();
    assert_eq!(svc.scheduler, Scheduler::Sh);
    assert_eq!(back, msg);
}

/// Non-dump requests end with an ACK: NLMSG_ERROR with error 0, echoing the
/// request header. Both captured ACKs decode as such and re-encode exactly.
#[test]
fn acks_both_ways() {
    for bytes in [
        fixtures::config_reply::MESSAGES[1],
        fixtures::info_reply::MESSAGES[1],
    ] {
        let msg = decode_one(bytes);
        match &msg.payload {
            NetlinkPayload::Error(e) => {
                assert_eq!(e.code, None, "an ACK");
                // The echoed request header carries the same sequence number.
                assert_eq!(&e.header[8..12], &msg.header.sequence_number.to_ne_bytes());
            }
            other => panic!("{other:?}"),
        }
        let mut back = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut back);
        assert_eq!(back, bytes);
    }
}

/// IPv6 service: an IPv4 GUE tunnel destination (mixed family: the kernel's
/// ADDR_FAMILY wins over the service's), a GRE destination with csum, and an
/// IPv6 masquerading destination with thresholds.
#[test]
fn dest_dump_v6_both_ways() {
    let msgs = fixtures::dest_dump_v6::MESSAGES;
    let got: Vec<Destination> = msgs
        .iter()
        .map(|m| {
            payload(&decode_one(m))
                .to_destination(AddressFamily::Inet6)
                .unwrap()
        })
        .collect();
    let mut mixed = Destination::new("192.0.2.77:443".parse().unwrap(), ForwardMethod::Tunnel);
    mixed.tunnel_type = TunnelType::Gue;
    mixed.tunnel_port = 7777;
    mixed.tunnel_checksum = TunnelChecksum::RemCsum;
    let mut gre =
        Destination::new("[2001:db8::3]:443".parse().unwrap(), ForwardMethod::Tunnel).weight(9);
    gre.tunnel_type = TunnelType::Gre;
    gre.tunnel_checksum = TunnelChecksum::Csum;
    let mut masq = Destination::new(
        "[2001:db8::2]:8443".parse().unwrap(),
        ForwardMethod::Masquerade,
    )
    .weight(5);
    masq.upper_threshold = 50;
    masq.lower_threshold = 5;
    assert_eq!(got, vec![mixed, gre, masq]);
    for m in msgs {
        assert_reemits(m);
        let msg = decode_one(m);
        let dest = payload(&msg).to_destination(AddressFamily::Inet6).unwrap();
        let IpvsCmdAttr::Dest(kernel) = &payload(&msg).cmd_attrs()[0] else {
            panic!("not a dest")
        };
        let settable: Vec<DestAttr> = kernel
            .iter()
            .filter(|a| {
                !matches!(
                    a,
                    DestAttr::Stats(_)
                        | DestAttr::Stats64(_)
                        | DestAttr::ActiveConns(_)
                        | DestAttr::InactConns(_)
                        | DestAttr::PersistConns(_)
                )
            })
            .cloned()
            .collect();
        assert_eq!(test_dest_attrs(&dest).unwrap(), settable);
    }
}

/// A backup daemon with an IPv6 group (IPVS_DAEMON_ATTR_MCAST_GROUP6). The
/// kernel reports sync_maxlen 1024 for the 1000 asked: it is what it uses.
#[test]
fn daemon_dump_v6_both_ways() {
    let bytes = fixtures::daemon_dump_v6::MESSAGES[0];
    let msg = decode_one(bytes);
    let daemon = payload(&msg).to_daemon().unwrap();
    let expected = SyncDaemon::new(DaemonState::Backup, "sync0", 42)
        .sync_maxlen(1024)
        .mcast_group("ff35:20:2001:db8::8848".parse().unwrap())
        .mcast_port(9999)
        .mcast_ttl(3);
    assert_eq!(daemon, expected);
    assert_reemits(bytes);
    let req = (Request::StartDaemon(expected)).to_message().unwrap();
    let mut b = vec![0; req.buffer_len()];
    req.emit(&mut b);
    assert_eq!(b, attr_bytes(bytes));
}

/// Which of a nest's stats attributes comes first after mutation.
#[derive(Clone, Copy, Debug)]
enum StatsOrder {
    /// STATS, then STATS64: the kernel's own order.
    Kernel,
    /// STATS64, then STATS: a decoder that lets the last one win would fail.
    Stats64First,
}

/// A counter above `u32::MAX`, distinct per counter and from the captured value.
fn beyond_u32(captured: u64, index: u64) -> u64 {
    u64::from(u32::MAX) + 1 + captured + 1000 * index
}

/// Give every 64-bit counter a value no 32-bit counter can hold, keep the
/// captured 32-bit STATS as they are, and reorder the two nests.
fn mutate_stats64(stats64: &mut [Stats64Attr]) -> Stats {
    let mut expected = Stats::default();
    let mut index = 0;
    for a in stats64.iter_mut() {
        index += 1;
        let (v, slot) = match a {
            Stats64Attr::Conns(v) => (v, &mut expected.conns),
            Stats64Attr::InPkts(v) => (v, &mut expected.inpkts),
            Stats64Attr::OutPkts(v) => (v, &mut expected.outpkts),
            Stats64Attr::InBytes(v) => (v, &mut expected.inbytes),
            Stats64Attr::OutBytes(v) => (v, &mut expected.outbytes),
            Stats64Attr::Cps(v) => (v, &mut expected.cps),
            Stats64Attr::InPps(v) => (v, &mut expected.inpps),
            Stats64Attr::OutPps(v) => (v, &mut expected.outpps),
            Stats64Attr::InBps(v) => (v, &mut expected.inbps),
            Stats64Attr::OutBps(v) => (v, &mut expected.outbps),
            // IPVS_STATS_ATTR_PAD, and whatever a newer kernel adds.
            _ => continue,
        };
        *v = beyond_u32(*v, index);
        *slot = *v;
    }
    expected
}

/// Move the STATS64 nest before the STATS nest (same relative place).
fn stats64_first<T>(
    attrs: &mut Vec<T>,
    is_stats: impl Fn(&T) -> bool,
    is_stats64: impl Fn(&T) -> bool,
) {
    let s32 = attrs.iter().position(&is_stats).expect("captured STATS");
    let s64 = attrs
        .iter()
        .position(&is_stats64)
        .expect("captured STATS64");
    assert!(s32 < s64, "the kernel sends STATS before STATS64");
    let moved = attrs.remove(s64);
    attrs.insert(s32, moved);
}

/// Re-frame a mutated message and decode it again from bytes, so the test
/// goes through the same path as a kernel reply.
fn reframe(mut msg: IpvsNetlinkMessage) -> IpvsNetlinkMessage {
    msg.finalize();
    let mut b = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut b);
    decode_one(&b)
}

fn cmd_attrs_mut(msg: &mut IpvsNetlinkMessage) -> &mut Vec<IpvsCmdAttr> {
    match &mut msg.payload {
        NetlinkPayload::InnerMessage(g) => match &mut g.payload.attrs {
            IpvsAttrs::Cmd(a) => a,
            IpvsAttrs::Info(_) => panic!("not a command message"),
        },
        other => panic!("not an IPVS message: {other:?}"),
    }
}

/// The kernel sends both STATS (32-bit packet counters) and STATS64; the
/// service gets the 64-bit counters whichever nest comes first. The captured
/// service with traffic is mutated so every STATS64 counter exceeds
/// `u32::MAX` and differs from its STATS counterpart.
#[test]
fn service_prefers_stats64_over_stats_in_either_order() {
    for order in [StatsOrder::Kernel, StatsOrder::Stats64First] {
        // Message 2: TCP 203.0.113.10:80, the one with traffic (non-zero STATS).
        let mut msg = decode_one(fixtures::service_dump::MESSAGES[2]);
        let IpvsCmdAttr::Service(attrs) = &mut cmd_attrs_mut(&mut msg)[0] else {
            panic!("not a service")
        };
        let captured32 = attrs
            .iter()
            .find_map(|a| match a {
                ServiceAttr::Stats(s) => Some(s.clone()),
                _ => None,
            })
            .expect("captured STATS");
        assert!(
            captured32.contains(&StatsAttr::Conns(6)),
            "fixture has traffic: {captured32:?}"
        );
        let expected = attrs
            .iter_mut()
            .find_map(|a| match a {
                ServiceAttr::Stats64(s) => Some(mutate_stats64(s)),
                _ => None,
            })
            .expect("captured STATS64");
        if let StatsOrder::Stats64First = order {
            stats64_first(
                attrs,
                |a| matches!(a, ServiceAttr::Stats(_)),
                |a| matches!(a, ServiceAttr::Stats64(_)),
            );
        }
        let back = reframe(msg);
        // The 32-bit nest is still the captured one, and survives re-framing.
        let IpvsCmdAttr::Service(back_attrs) = &payload(&back).cmd_attrs()[0] else {
            panic!("not a service")
        };
        assert!(
            back_attrs.contains(&ServiceAttr::Stats(captured32)),
            "{order:?}"
        );
        let svc = payload(&back).to_service().unwrap();
        assert!(
            svc.stats.conns > u64::from(u32::MAX),
            "{order:?}: {:?}",
            svc.stats
        );
        assert_eq!(svc.stats, expected, "{order:?}");
    }
}

/// Same for a destination: the captured one with traffic (rs1).
#[test]
fn destination_prefers_stats64_over_stats_in_either_order() {
    for order in [StatsOrder::Kernel, StatsOrder::Stats64First] {
        // Message 1: 198.51.100.11:8080, six connections (non-zero STATS).
        let mut msg = decode_one(fixtures::dest_dump::MESSAGES[1]);
        let IpvsCmdAttr::Dest(attrs) = &mut cmd_attrs_mut(&mut msg)[0] else {
            panic!("not a destination")
        };
        let captured32 = attrs
            .iter()
            .find_map(|a| match a {
                DestAttr::Stats(s) => Some(s.clone()),
                _ => None,
            })
            .expect("captured STATS");
        assert!(
            captured32.contains(&StatsAttr::Conns(6)),
            "fixture has traffic: {captured32:?}"
        );
        let expected = attrs
            .iter_mut()
            .find_map(|a| match a {
                DestAttr::Stats64(s) => Some(mutate_stats64(s)),
                _ => None,
            })
            .expect("captured STATS64");
        if let StatsOrder::Stats64First = order {
            stats64_first(
                attrs,
                |a| matches!(a, DestAttr::Stats(_)),
                |a| matches!(a, DestAttr::Stats64(_)),
            );
        }
        let back = reframe(msg);
        let IpvsCmdAttr::Dest(back_attrs) = &payload(&back).cmd_attrs()[0] else {
            panic!("not a destination")
        };
        assert!(
            back_attrs.contains(&DestAttr::Stats(captured32)),
            "{order:?}"
        );
        let dest = payload(&back).to_destination(AddressFamily::Inet).unwrap();
        assert!(
            dest.stats.conns > u64::from(u32::MAX),
            "{order:?}: {:?}",
            dest.stats
        );
        assert_eq!(dest.stats, expected, "{order:?}");
        // The rest of the destination is untouched by the mutation.
        assert_eq!(dest.inactive_conns, 6, "{order:?}");
        assert_eq!(dest.addr, "198.51.100.11".parse::<IpAddr>().unwrap());
    }
}
