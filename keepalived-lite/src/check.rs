//! Receive-side validation of an advertisement against one instance's configuration
//! (RFC 3768 section 7.1, RFC 5798 section 7.1). Pure; every reason to drop has its
//! own counter in [`Counters`].

use std::net::IpAddr;

use serde::Serialize;

use crate::net::Received;
use crate::packet::{Advert, Auth, ChecksumMode, PacketError, Version, VRRP_TTL};

/// What an instance expects of a peer's advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// Our VRID.
    pub vrid: u8,
    /// Our version.
    pub version: Version,
    /// Our authentication (v2).
    pub auth: Auth,
    /// Our advertisement interval (v2 peers must match it).
    pub interval_cs: u16,
    /// Our virtual addresses.
    pub addrs: Vec<IpAddr>,
    /// Unicast peers; empty means multicast (and the TTL must be 255).
    pub peers: Vec<IpAddr>,
    /// Our own source address: our own packets are ignored silently.
    pub own: IpAddr,
}

/// Why an advertisement was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drop {
    /// Our own packet looped back: not counted.
    Own,
    /// A packet for another VRID: counted, not an error.
    OtherVrid(u8),
    /// Malformed (length, version nibble, type, checksum, zero interval).
    Malformed(PacketError),
    /// TTL / hop limit not 255 on a multicast advertisement.
    Ttl(u8),
    /// Valid VRRP, but another version than ours.
    Version,
    /// Authentication type or password differs.
    Auth,
    /// VRRPv2 advertisement interval differs from ours.
    Interval(u16),
    /// Address list differs and the sender is not the owner.
    AddressList,
    /// Unicast mode: the sender is not a configured peer.
    UnknownPeer(IpAddr),
}

/// Per-instance packet counters (exposed in the state file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Accepted advertisements.
    pub adverts_received: u64,
    /// Advertisements sent.
    pub adverts_sent: u64,
    /// Priority-0 advertisements received.
    pub priority_zero_received: u64,
    /// Priority-0 advertisements sent.
    pub priority_zero_sent: u64,
    /// Times we became master.
    pub became_master: u64,
    /// Times we left master (for BACKUP, FAULT or a stop).
    pub released_master: u64,
    /// Packets for other VRIDs.
    pub other_vrid: u64,
    /// Dropped: truncated.
    pub dropped_truncated: u64,
    /// Dropped: oversized.
    pub dropped_oversized: u64,
    /// Dropped: bad checksum.
    pub dropped_checksum: u64,
    /// Dropped: unknown version nibble / type / zero interval / bad IP header.
    pub dropped_invalid: u64,
    /// Dropped: TTL or hop limit not 255.
    pub dropped_ttl: u64,
    /// Dropped: version differs from ours.
    pub dropped_version: u64,
    /// Dropped: authentication mismatch.
    pub dropped_auth: u64,
    /// Dropped: v2 advertisement interval mismatch.
    pub dropped_interval: u64,
    /// Dropped: address list mismatch.
    pub dropped_address_list: u64,
    /// Dropped: unicast sender not a configured peer.
    pub dropped_unknown_peer: u64,
}

impl Counters {
    /// Counts one drop.
    pub fn count(&mut self, d: &Drop) {
        match d {
            Drop::Own => {}
            Drop::OtherVrid(_) => self.other_vrid += 1,
            Drop::Malformed(PacketError::Truncated { .. }) => self.dropped_truncated += 1,
            Drop::Malformed(PacketError::Oversized { .. }) => self.dropped_oversized += 1,
            Drop::Malformed(PacketError::Checksum) => self.dropped_checksum += 1,
            Drop::Malformed(_) => self.dropped_invalid += 1,
            Drop::Ttl(_) => self.dropped_ttl += 1,
            Drop::Version => self.dropped_version += 1,
            Drop::Auth => self.dropped_auth += 1,
            Drop::Interval(_) => self.dropped_interval += 1,
            Drop::AddressList => self.dropped_address_list += 1,
            Drop::UnknownPeer(_) => self.dropped_unknown_peer += 1,
        }
    }

    /// Total of all drops except other VRIDs.
    pub fn dropped(&self) -> u64 {
        self.dropped_truncated
            + self.dropped_oversized
            + self.dropped_checksum
            + self.dropped_invalid
            + self.dropped_ttl
            + self.dropped_version
            + self.dropped_auth
            + self.dropped_interval
            + self.dropped_address_list
            + self.dropped_unknown_peer
    }
}

/// Validates a received packet for the instance described by `e`.
pub fn check(e: &Expect, rx: &Received) -> Result<(Advert, ChecksumMode), Drop> {
    if rx.src == e.own {
        return Err(Drop::Own);
    }
    let multicast = e.peers.is_empty();
    if !multicast && !e.peers.contains(&rx.src) {
        return Err(Drop::UnknownPeer(rx.src));
    }
    // The VRID is looked at before the checksum so another group's traffic is not
    // reported as corrupt; everything else needs a sound packet first.
    if rx.payload.len() >= 2 && rx.payload[1] != e.vrid {
        return Err(Drop::OtherVrid(rx.payload[1]));
    }
    if multicast && rx.ttl != VRRP_TTL {
        return Err(Drop::Ttl(rx.ttl));
    }
    let (adv, mode) = Advert::decode(&rx.payload, rx.src, rx.dst).map_err(Drop::Malformed)?;
    if adv.version != e.version {
        return Err(Drop::Version);
    }
    if adv.version == Version::V2 {
        if adv.auth != e.auth {
            return Err(Drop::Auth);
        }
        if adv.interval_cs != e.interval_cs {
            return Err(Drop::Interval(adv.interval_cs));
        }
    }
    if adv.priority != 255 {
        let mut a = adv.addrs.clone();
        let mut b = e.addrs.clone();
        a.sort();
        b.sort();
        if a != b {
            return Err(Drop::AddressList);
        }
    }
    Ok((adv, mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::VRRP_MCAST_V4;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn expect() -> Expect {
        Expect {
            vrid: 51,
            version: Version::V2,
            auth: Auth::pass("secret"),
            interval_cs: 100,
            addrs: vec![ip("192.0.2.100")],
            peers: vec![],
            own: ip("192.0.2.2"),
        }
    }

    fn advert() -> Advert {
        Advert {
            version: Version::V2,
            vrid: 51,
            priority: 100,
            interval_cs: 100,
            addrs: vec![ip("192.0.2.100")],
            auth: Auth::pass("secret"),
        }
    }

    fn rx(adv: &Advert, ttl: u8) -> Received {
        let src = ip("192.0.2.1");
        let dst = IpAddr::V4(VRRP_MCAST_V4);
        Received {
            src,
            dst,
            ttl,
            payload: adv.encode(src, dst, ChecksumMode::PseudoHeader),
        }
    }

    #[test]
    fn accepts_good_and_counts_each_drop() {
        let e = expect();
        assert!(check(&e, &rx(&advert(), 255)).is_ok());
        let mut c = Counters::default();
        let cases: Vec<(Received, Drop)> = vec![
            (rx(&advert(), 64), Drop::Ttl(64)),
            (
                rx(
                    &Advert {
                        vrid: 52,
                        ..advert()
                    },
                    255,
                ),
                Drop::OtherVrid(52),
            ),
            (
                rx(
                    &Advert {
                        auth: Auth::pass("wrong"),
                        ..advert()
                    },
                    255,
                ),
                Drop::Auth,
            ),
            (
                rx(
                    &Advert {
                        auth: Auth::None,
                        ..advert()
                    },
                    255,
                ),
                Drop::Auth,
            ),
            (
                rx(
                    &Advert {
                        interval_cs: 200,
                        ..advert()
                    },
                    255,
                ),
                Drop::Interval(200),
            ),
            (
                rx(
                    &Advert {
                        addrs: vec![ip("192.0.2.101")],
                        ..advert()
                    },
                    255,
                ),
                Drop::AddressList,
            ),
            (
                rx(
                    &Advert {
                        version: Version::V3,
                        auth: Auth::None,
                        ..advert()
                    },
                    255,
                ),
                Drop::Version,
            ),
        ];
        for (r, want) in cases {
            let got = check(&e, &r).expect_err("dropped");
            assert_eq!(got, want);
            c.count(&got);
        }
        let mut bad = rx(&advert(), 255);
        bad.payload[7] ^= 1;
        let d = check(&e, &bad).expect_err("checksum");
        assert_eq!(d, Drop::Malformed(PacketError::Checksum));
        c.count(&d);
        let mut short = rx(&advert(), 255);
        short.payload.truncate(12);
        let d = check(&e, &short).expect_err("short");
        c.count(&d);
        let mut long = rx(&advert(), 255);
        long.payload.extend_from_slice(&[0; 4]);
        let d = check(&e, &long).expect_err("long");
        c.count(&d);
        assert_eq!(c.other_vrid, 1);
        assert_eq!(
            (
                c.dropped_ttl,
                c.dropped_auth,
                c.dropped_interval,
                c.dropped_address_list,
                c.dropped_version
            ),
            (1, 2, 1, 1, 1)
        );
        assert_eq!(
            (c.dropped_checksum, c.dropped_truncated, c.dropped_oversized),
            (1, 1, 1)
        );
        assert_eq!(c.dropped(), 9);
        // The owner may advertise a different list.
        assert!(check(
            &e,
            &rx(
                &Advert {
                    priority: 255,
                    addrs: vec![],
                    ..advert()
                },
                255
            )
        )
        .is_ok());
    }

    #[test]
    fn own_packets_and_unicast_peers() {
        let mut e = expect();
        let mut own = rx(&advert(), 255);
        own.src = e.own;
        assert_eq!(check(&e, &own).err(), Some(Drop::Own));
        e.peers = vec![ip("192.0.2.3")];
        assert_eq!(
            check(&e, &rx(&advert(), 255)).err(),
            Some(Drop::UnknownPeer(ip("192.0.2.1")))
        );
        e.peers = vec![ip("192.0.2.1")];
        assert!(
            check(&e, &rx(&advert(), 64)).is_ok(),
            "unicast does not require TTL 255"
        );
    }
}
