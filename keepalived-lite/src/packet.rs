//! VRRP advertisement codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798 / RFC 9568)
//! over IPv4 and IPv6, with checksums, plus the minimal IPv4 header handling a raw
//! socket needs.
//!
//! Wire layout (both versions share the first 8 bytes' shape):
//! ```text
//!  0                   1                   2                   3
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IPvX Addr|
//! v2: | Auth Type |  Adver Int (s)  |          Checksum           |
//! v3: |(rsvd)| Max Adver Int (cs, 12 bits) |      Checksum        |
//! |                 IPvX Address(es)                               |
//! v2 only: Authentication Data (8 bytes)
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol number of VRRP.
pub const IPPROTO_VRRP: u8 = 112;
/// IPv4 multicast group of VRRP.
pub const VRRP_MCAST_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP.
pub const VRRP_MCAST_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The only TTL / hop limit a multicast advertisement may carry.
pub const VRRP_TTL: u8 = 255;
/// Largest advertisement we accept: header + 255 IPv6 addresses.
pub const MAX_ADVERT_LEN: usize = 8 + 255 * 16 + 8;

const VRRP_TYPE_ADVERTISEMENT: u8 = 1;
const AUTH_DATA_LEN: usize = 8;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Version {
    /// RFC 3768, IPv4 only, interval in seconds, optional authentication.
    V2,
    /// RFC 5798 / RFC 9568, IPv4 and IPv6, interval in centiseconds.
    V3,
}

impl Version {
    fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// VRRPv2 authentication (RFC 3768 section 5.3.6; deprecated but what keepalived's PASS sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Auth type 0.
    None,
    /// Auth type 1: clear-text password, NUL-padded / cut to 8 bytes.
    Pass([u8; AUTH_DATA_LEN]),
    /// Any other auth type (2 = IP AH) with its data: never accepted.
    Other(u8, [u8; AUTH_DATA_LEN]),
}

impl Auth {
    /// A PASS authentication from a configured password: cut to 8 bytes, NUL padded.
    pub fn pass(password: &str) -> Self {
        let mut data = [0u8; AUTH_DATA_LEN];
        for (d, s) in data.iter_mut().zip(password.as_bytes()) {
            *d = *s;
        }
        Auth::Pass(data)
    }

    fn type_and_data(&self) -> (u8, [u8; AUTH_DATA_LEN]) {
        match self {
            Auth::None => (0, [0; AUTH_DATA_LEN]),
            Auth::Pass(d) => (1, *d),
            Auth::Other(t, d) => (*t, *d),
        }
    }
}

/// How the VRRPv3-over-IPv4 checksum is computed. RFC 5798 is ambiguous; keepalived
/// includes the IPv4 pseudo-header by default and omits it with `v3_checksum_as_v2`.
/// VRRPv2 never uses a pseudo-header, IPv6 always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ChecksumMode {
    /// Checksum over pseudo-header + VRRP message (keepalived's default for v3/IPv4).
    PseudoHeader,
    /// Checksum over the VRRP message only (`v3_checksum_as_v2`, and all of VRRPv2).
    VrrpOnly,
}

/// A decoded VRRP advertisement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    /// Protocol version.
    pub version: Version,
    /// Virtual router id, 1-255.
    pub vrid: u8,
    /// Sender priority: 0 = master resigning, 255 = address owner.
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2 seconds are scaled by 100).
    pub interval_cs: u16,
    /// The virtual addresses the sender protects.
    pub addrs: Vec<IpAddr>,
    /// VRRPv2 authentication; always [`Auth::None`] for v3.
    pub auth: Auth,
}

/// Why a packet was dropped. Each variant is counted separately by the daemon.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PacketError {
    /// Shorter than a VRRP header or than its own address count says.
    #[error("truncated packet: {len} bytes, need {need}")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Bytes the header implies.
        need: usize,
    },
    /// Longer than the header implies (trailing bytes) or than any valid advert.
    #[error("oversized packet: {len} bytes, expected {expected}")]
    Oversized {
        /// Bytes received.
        len: usize,
        /// Bytes the header implies.
        expected: usize,
    },
    /// Version nibble is not 2 or 3, or not the configured one.
    #[error("unsupported VRRP version {0}")]
    Version(u8),
    /// Type nibble is not 1 (advertisement).
    #[error("unknown VRRP packet type {0}")]
    Type(u8),
    /// Checksum does not verify.
    #[error("bad checksum")]
    Checksum,
    /// VRRPv2 on IPv6 does not exist.
    #[error("VRRPv2 over IPv6")]
    V2OverIpv6,
    /// An IPv4 header that does not parse.
    #[error("bad IPv4 header: {0}")]
    IpHeader(&'static str),
    /// A zero advertisement interval.
    #[error("advertisement interval 0")]
    ZeroInterval,
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// The Internet checksum of `msg`, with the pseudo-header of `src`/`dst` when `pseudo`.
pub fn checksum(msg: &[u8], src: IpAddr, dst: IpAddr, pseudo: bool) -> u16 {
    let mut acc = 0u32;
    if pseudo {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                acc = sum16(&s.octets(), acc);
                acc = sum16(&d.octets(), acc);
                acc += u32::from(IPPROTO_VRRP);
                acc += msg.len() as u32;
            }
            (s, d) => {
                acc = sum16(&ip_octets(s), acc);
                acc = sum16(&ip_octets(d), acc);
                acc += msg.len() as u32;
                acc += u32::from(IPPROTO_VRRP);
            }
        }
    }
    fold(sum16(msg, acc))
}

fn ip_octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl Advert {
    /// Encodes the advertisement sent from `src` to `dst` (needed for the pseudo-header).
    /// `mode` matters only for VRRPv3 over IPv4.
    pub fn encode(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.addrs.len() * 16 + AUTH_DATA_LEN);
        out.push((self.version.number() << 4) | VRRP_TYPE_ADVERTISEMENT);
        out.push(self.vrid);
        out.push(self.priority);
        out.push(self.addrs.len() as u8);
        match self.version {
            Version::V2 => {
                out.push(self.auth.type_and_data().0);
                out.push((self.interval_cs / 100).clamp(1, 255) as u8);
            }
            Version::V3 => {
                out.extend_from_slice(&(self.interval_cs & 0x0fff).to_be_bytes());
            }
        }
        out.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            out.extend_from_slice(&ip_octets(*a));
        }
        if self.version == Version::V2 {
            out.extend_from_slice(&self.auth.type_and_data().1);
        }
        let pseudo = uses_pseudo_header(self.version, src, mode);
        let c = checksum(&out, src, dst, pseudo);
        out[6..8].copy_from_slice(&c.to_be_bytes());
        out
    }

    /// Decodes a VRRP message received from `src` to `dst`. Checks everything that can
    /// be checked without the instance's configuration: version, type, length, checksum.
    /// Returns the advert and the checksum variant that verified.
    pub fn decode(
        msg: &[u8],
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(Advert, ChecksumMode), PacketError> {
        if msg.len() < 8 {
            return Err(PacketError::Truncated {
                len: msg.len(),
                need: 8,
            });
        }
        if msg.len() > MAX_ADVERT_LEN {
            return Err(PacketError::Oversized {
                len: msg.len(),
                expected: MAX_ADVERT_LEN,
            });
        }
        let version = match msg[0] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(PacketError::Version(v)),
        };
        let typ = msg[0] & 0x0f;
        if typ != VRRP_TYPE_ADVERTISEMENT {
            return Err(PacketError::Type(typ));
        }
        let v6 = src.is_ipv6();
        if v6 && version == Version::V2 {
            return Err(PacketError::V2OverIpv6);
        }
        let count = usize::from(msg[3]);
        let alen = if v6 { 16 } else { 4 };
        let auth_len = if version == Version::V2 {
            AUTH_DATA_LEN
        } else {
            0
        };
        let need = 8 + count * alen + auth_len;
        if msg.len() < need {
            return Err(PacketError::Truncated {
                len: msg.len(),
                need,
            });
        }
        if msg.len() > need {
            return Err(PacketError::Oversized {
                len: msg.len(),
                expected: need,
            });
        }
        let mode = match version {
            Version::V2 => {
                if checksum(msg, src, dst, false) != 0 {
                    return Err(PacketError::Checksum);
                }
                ChecksumMode::VrrpOnly
            }
            Version::V3 if v6 => {
                if checksum(msg, src, dst, true) != 0 {
                    return Err(PacketError::Checksum);
                }
                ChecksumMode::PseudoHeader
            }
            Version::V3 => {
                if checksum(msg, src, dst, true) == 0 {
                    ChecksumMode::PseudoHeader
                } else if checksum(msg, src, dst, false) == 0 {
                    ChecksumMode::VrrpOnly
                } else {
                    return Err(PacketError::Checksum);
                }
            }
        };
        let (interval_cs, auth) = match version {
            Version::V2 => {
                let mut data = [0u8; AUTH_DATA_LEN];
                data.copy_from_slice(&msg[need - AUTH_DATA_LEN..need]);
                let auth = match msg[4] {
                    0 => Auth::None,
                    1 => Auth::Pass(data),
                    t => Auth::Other(t, data),
                };
                (u16::from(msg[5]) * 100, auth)
            }
            Version::V3 => (u16::from_be_bytes([msg[4], msg[5]]) & 0x0fff, Auth::None),
        };
        if interval_cs == 0 {
            return Err(PacketError::ZeroInterval);
        }
        let addrs = msg[8..8 + count * alen]
            .chunks_exact(alen)
            .map(|c| {
                if v6 {
                    let mut o = [0u8; 16];
                    o.copy_from_slice(c);
                    IpAddr::V6(Ipv6Addr::from(o))
                } else {
                    IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3]))
                }
            })
            .collect();
        Ok((
            Advert {
                version,
                vrid: msg[1],
                priority: msg[2],
                interval_cs,
                addrs,
                auth,
            },
            mode,
        ))
    }
}

fn uses_pseudo_header(version: Version, src: IpAddr, mode: ChecksumMode) -> bool {
    match version {
        Version::V2 => false,
        Version::V3 => src.is_ipv6() || mode == ChecksumMode::PseudoHeader,
    }
}

/// The fields of an IPv4 header that VRRP reception needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Protocol number.
    pub protocol: u8,
    /// Header length in bytes.
    pub header_len: usize,
    /// Total length from the header.
    pub total_len: usize,
}

impl Ipv4Header {
    /// Parses the IPv4 header at the start of `pkt` (as a raw IPv4 socket delivers it).
    pub fn parse(pkt: &[u8]) -> Result<Self, PacketError> {
        if pkt.len() < 20 {
            return Err(PacketError::IpHeader("shorter than 20 bytes"));
        }
        if pkt[0] >> 4 != 4 {
            return Err(PacketError::IpHeader("version is not 4"));
        }
        let header_len = usize::from(pkt[0] & 0x0f) * 4;
        if header_len < 20 || pkt.len() < header_len {
            return Err(PacketError::IpHeader("bad header length"));
        }
        let total_len = usize::from(u16::from_be_bytes([pkt[2], pkt[3]]));
        if total_len != pkt.len() {
            return Err(PacketError::IpHeader(
                "total length does not match the packet",
            ));
        }
        Ok(Ipv4Header {
            src: Ipv4Addr::new(pkt[12], pkt[13], pkt[14], pkt[15]),
            dst: Ipv4Addr::new(pkt[16], pkt[17], pkt[18], pkt[19]),
            ttl: pkt[8],
            protocol: pkt[9],
            header_len,
            total_len,
        })
    }

    /// Builds a 20-byte IPv4 header for a VRRP payload of `payload_len` bytes
    /// (used with `IP_HDRINCL`; the kernel fills in id and header checksum when 0).
    pub fn build(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, payload_len: usize) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[1] = 0xc0; // DSCP CS6 (network control), as keepalived sends
        h[2..4].copy_from_slice(&((20 + payload_len) as u16).to_be_bytes());
        h[8] = ttl;
        h[9] = IPPROTO_VRRP;
        h[12..16].copy_from_slice(&src.octets());
        h[16..20].copy_from_slice(&dst.octets());
        let c = fold(sum16(&h, 0));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    // Fixtures captured from keepalived 2.2.7 on a veth in a network namespace:
    //   keepalived -n -l -P -f cap.conf   (vrrp_instance: interface eth0, priority 150,
    //   advert_int 1, virtual_ipaddress 192.0.2.100/24; VRID 51 with
    //   authentication PASS secret12; VRID 52 with version 3)
    //   tcpdump -i eth0 -c 2 -xx -n 'ip proto 112'    (from 192.0.2.1 to 224.0.0.18)
    // The IPv4 header keepalived sent: 45 c0 (DSCP CS6) 0028 0001 0000 ff (TTL 255) 70
    // (protocol 112) 1891 c0000201 e0000012.

    /// keepalived's VRRPv2 advertisement, VRID 51.
    const KEEPALIVED_V2: [u8; 20] = [
        0x21, // version 2, type 1 (advertisement)
        0x33, // VRID 51
        0x96, // priority 150
        0x01, // one address
        0x01, // auth type 1 (simple text password)
        0x01, // advert interval 1 s
        0x17, 0xe7, // checksum over the VRRP message only
        0xc0, 0x00, 0x02, 0x64, // 192.0.2.100
        b's', b'e', b'c', b'r', b'e', b't', b'1', b'2', // password, 8 bytes
    ];

    /// keepalived's VRRPv3 advertisement, VRID 52.
    const KEEPALIVED_V3: [u8; 12] = [
        0x31, // version 3, type 1
        0x34, // VRID 52
        0x96, // priority 150
        0x01, // one address
        0x00, 0x64, // 4 reserved bits, max advert interval 100 cs
        0xd3, 0x70, // checksum including the IPv4 pseudo-header
        0xc0, 0x00, 0x02, 0x64, // 192.0.2.100
    ];

    /// keepalived's VRRPv3 advertisement over IPv6, VRID 53 (same recipe with
    /// `version 3` and `virtual_ipaddress { 2001:db8::100/64 }`, captured with
    /// `tcpdump -xx 'ip6 proto 112'`; sent from fe80::c412:f6ff:fe6f:e302 to ff02::12
    /// with hop limit 255).
    const KEEPALIVED_V3_IPV6: [u8; 24] = [
        0x31, // version 3, type 1
        0x35, // VRID 53
        0x96, // priority 150
        0x01, // one address
        0x00, 0x64, // max advert interval 100 cs
        0x6f, 0x08, // checksum including the IPv6 pseudo-header
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // 2001:db8::100
    ];

    #[test]
    fn keepalived_ipv6_fixture_both_ways() {
        let src: IpAddr = "fe80::c412:f6ff:fe6f:e302".parse().expect("addr");
        let dst = IpAddr::V6(VRRP_MCAST_V6);
        let adv = Advert {
            version: Version::V3,
            vrid: 53,
            priority: 150,
            interval_cs: 100,
            addrs: vec!["2001:db8::100".parse().expect("addr")],
            auth: Auth::None,
        };
        assert_eq!(
            Advert::decode(&KEEPALIVED_V3_IPV6, src, dst),
            Ok((adv.clone(), ChecksumMode::PseudoHeader))
        );
        assert_eq!(
            adv.encode(src, dst, ChecksumMode::VrrpOnly),
            KEEPALIVED_V3_IPV6,
            "IPv6 always uses the pseudo-header"
        );
    }

    #[test]
    fn keepalived_fixtures_both_ways() {
        let src = v4(192, 0, 2, 1);
        let dst = IpAddr::V4(VRRP_MCAST_V4);
        let v2 = Advert {
            version: Version::V2,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            addrs: vec![v4(192, 0, 2, 100)],
            auth: Auth::pass("secret12"),
        };
        assert_eq!(
            Advert::decode(&KEEPALIVED_V2, src, dst),
            Ok((v2.clone(), ChecksumMode::VrrpOnly))
        );
        assert_eq!(
            v2.encode(src, dst, ChecksumMode::PseudoHeader),
            KEEPALIVED_V2
        );
        let v3 = Advert {
            version: Version::V3,
            vrid: 52,
            auth: Auth::None,
            ..v2
        };
        assert_eq!(
            Advert::decode(&KEEPALIVED_V3, src, dst),
            Ok((v3.clone(), ChecksumMode::PseudoHeader))
        );
        assert_eq!(
            v3.encode(src, dst, ChecksumMode::PseudoHeader),
            KEEPALIVED_V3
        );
        // The same advert under v3_checksum_as_v2 differs only in the checksum.
        let as_v2 = v3.encode(src, dst, ChecksumMode::VrrpOnly);
        assert_eq!(as_v2[..6], KEEPALIVED_V3[..6]);
        assert_ne!(as_v2[6..8], KEEPALIVED_V3[6..8]);
        // A long password is cut to 8 bytes on the wire, as keepalived does.
        assert_eq!(Auth::pass("YourStrongPass123!"), Auth::pass("YourStro"));
    }

    #[test]
    fn v3_ipv4_detects_checksum_variant() {
        let adv = Advert {
            version: Version::V3,
            vrid: 7,
            priority: 200,
            interval_cs: 100,
            addrs: vec![v4(192, 0, 2, 10), v4(192, 0, 2, 11)],
            auth: Auth::None,
        };
        let src = v4(192, 0, 2, 1);
        let dst = IpAddr::V4(VRRP_MCAST_V4);
        for mode in [ChecksumMode::PseudoHeader, ChecksumMode::VrrpOnly] {
            let bytes = adv.encode(src, dst, mode);
            assert_eq!(bytes.len(), 16);
            assert_eq!(bytes[0], 0x31);
            assert_eq!(&bytes[4..6], &[0x00, 0x64]);
            let (back, got) = Advert::decode(&bytes, src, dst).expect("decodes");
            assert_eq!(back, adv);
            assert_eq!(got, mode);
        }
        // A different source breaks the pseudo-header checksum only.
        let bytes = adv.encode(src, dst, ChecksumMode::PseudoHeader);
        assert_eq!(
            Advert::decode(&bytes, v4(192, 0, 2, 2), dst).err(),
            Some(PacketError::Checksum)
        );
    }

    #[test]
    fn v3_ipv6_roundtrip_and_pseudo_header() {
        let vip: IpAddr = "2001:db8::100".parse().expect("addr");
        let src: IpAddr = "fe80::1".parse().expect("addr");
        let dst = IpAddr::V6(VRRP_MCAST_V6);
        let adv = Advert {
            version: Version::V3,
            vrid: 9,
            priority: 150,
            interval_cs: 50,
            addrs: vec![vip],
            auth: Auth::None,
        };
        let bytes = adv.encode(src, dst, ChecksumMode::VrrpOnly);
        assert_eq!(bytes.len(), 24);
        let (back, mode) = Advert::decode(&bytes, src, dst).expect("decodes");
        assert_eq!(back, adv);
        assert_eq!(mode, ChecksumMode::PseudoHeader);
        let other: IpAddr = "fe80::2".parse().expect("addr");
        assert_eq!(
            Advert::decode(&bytes, other, dst).err(),
            Some(PacketError::Checksum)
        );
    }

    #[test]
    fn rejects_malformed() {
        let src = v4(192, 0, 2, 1);
        let dst = IpAddr::V4(VRRP_MCAST_V4);
        let adv = Advert {
            version: Version::V2,
            vrid: 1,
            priority: 100,
            interval_cs: 100,
            addrs: vec![v4(192, 0, 2, 100)],
            auth: Auth::None,
        };
        let good = adv.encode(src, dst, ChecksumMode::VrrpOnly);
        assert!(matches!(
            Advert::decode(&good[..7], src, dst),
            Err(PacketError::Truncated { len: 7, need: 8 })
        ));
        assert!(matches!(
            Advert::decode(&good[..15], src, dst),
            Err(PacketError::Truncated { len: 15, need: 20 })
        ));
        let mut long = good.clone();
        long.extend_from_slice(&[0, 0]);
        assert!(matches!(
            Advert::decode(&long, src, dst),
            Err(PacketError::Oversized { .. })
        ));
        let mut bad = good.clone();
        bad[6] ^= 0xff;
        assert_eq!(
            Advert::decode(&bad, src, dst).err(),
            Some(PacketError::Checksum)
        );
        let mut ver = good.clone();
        ver[0] = 0x41;
        assert_eq!(
            Advert::decode(&ver, src, dst).err(),
            Some(PacketError::Version(4))
        );
        let mut typ = good.clone();
        typ[0] = 0x22;
        assert_eq!(
            Advert::decode(&typ, src, dst).err(),
            Some(PacketError::Type(2))
        );
        let mut zero = good;
        zero[5] = 0;
        zero[6] = 0;
        zero[7] = 0;
        let c = checksum(&zero, src, dst, false);
        zero[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(
            Advert::decode(&zero, src, dst).err(),
            Some(PacketError::ZeroInterval)
        );
        assert_eq!(
            Advert::decode(&[0u8; MAX_ADVERT_LEN + 1], src, dst).err(),
            Some(PacketError::Oversized {
                len: MAX_ADVERT_LEN + 1,
                expected: MAX_ADVERT_LEN
            })
        );
    }

    #[test]
    fn ipv4_header_build_parse() {
        let h = Ipv4Header::build(Ipv4Addr::new(192, 0, 2, 1), VRRP_MCAST_V4, 255, 20);
        let mut pkt = h.to_vec();
        pkt.extend_from_slice(&[0u8; 20]);
        let p = Ipv4Header::parse(&pkt).expect("parses");
        assert_eq!(p.ttl, 255);
        assert_eq!(p.protocol, IPPROTO_VRRP);
        assert_eq!(p.header_len, 20);
        assert_eq!(p.total_len, 40);
        assert_eq!(fold(sum16(&h, 0)), 0, "header checksum verifies");
        assert!(Ipv4Header::parse(&pkt[..19]).is_err());
        assert!(Ipv4Header::parse(&pkt[..30]).is_err());
    }
}
