//! Socket edge: raw IP protocol 112 sockets for VRRP (IPv4 with our own IP header,
//! IPv6 with hop limit and destination from ancillary data), gratuitous ARP and
//! unsolicited neighbour advertisements.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::packet::{Ipv4Header, IPPROTO_VRRP, VRRP_MCAST_V4, VRRP_MCAST_V6, VRRP_TTL};

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of the given size.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val as *const T as *const libc::c_void,
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned by the returned OwnedFd.
    let fd =
        cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, proto) })?;
    // SAFETY: fd was just created and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn bind_to_device(fd: RawFd, ifname: &str) -> io::Result<()> {
    // SAFETY: pointer and length describe the interface name bytes.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            ifname.as_ptr() as *const libc::c_void,
            ifname.len() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn sockaddr_v4(a: Ipv4Addr) -> libc::sockaddr_in {
    // SAFETY: sockaddr_in is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in = unsafe { zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_addr.s_addr = u32::from_ne_bytes(a.octets());
    sa
}

fn sockaddr_v6(a: Ipv6Addr, scope: u32) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_in6 = unsafe { zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = a.octets();
    sa.sin6_scope_id = scope;
    sa
}

/// A received VRRP packet with the IP facts validation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL / hop limit.
    pub ttl: u8,
    /// The VRRP message (IP header removed).
    pub payload: Vec<u8>,
}

/// One instance's VRRP socket on one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    fd: OwnedFd,
    v6: bool,
    ifindex: u32,
}

impl VrrpSocket {
    /// Opens a raw protocol-112 socket bound to `ifname`; joins the VRRP group unless
    /// `multicast` is false. IPv4 sends carry our own IP header (TTL 255, chosen source).
    pub fn open(
        ifname: &str,
        ifindex: u32,
        v6: bool,
        multicast: bool,
        src: IpAddr,
    ) -> io::Result<Self> {
        let domain = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        let fd = socket(domain, libc::SOCK_RAW, libc::c_int::from(IPPROTO_VRRP))?;
        let raw = fd.as_raw_fd();
        bind_to_device(raw, ifname)?;
        let one: libc::c_int = 1;
        let zero: libc::c_int = 0;
        let ttl: libc::c_int = libc::c_int::from(VRRP_TTL);
        if v6 {
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &one)?;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &one)?;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &ttl)?;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &ttl)?;
            setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &zero)?;
            setsockopt(
                raw,
                libc::IPPROTO_IPV6,
                libc::IPV6_MULTICAST_IF,
                &(ifindex as libc::c_int),
            )?;
            if let IpAddr::V6(s) = src {
                let sa = sockaddr_v6(
                    s,
                    if s.is_unicast_link_local() {
                        ifindex
                    } else {
                        0
                    },
                );
                // SAFETY: sa is a valid sockaddr_in6.
                cvt(unsafe {
                    libc::bind(
                        raw,
                        &sa as *const _ as *const libc::sockaddr,
                        size_of::<libc::sockaddr_in6>() as u32,
                    )
                })?;
            }
            if multicast {
                let mreq = libc::ipv6_mreq {
                    ipv6mr_multiaddr: libc::in6_addr {
                        s6_addr: VRRP_MCAST_V6.octets(),
                    },
                    ipv6mr_interface: ifindex,
                };
                setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &mreq)?;
            }
        } else {
            setsockopt(raw, libc::IPPROTO_IP, libc::IP_HDRINCL, &one)?;
            setsockopt(raw, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &zero)?;
            if multicast {
                let mreq = libc::ip_mreqn {
                    imr_multiaddr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(VRRP_MCAST_V4.octets()),
                    },
                    imr_address: libc::in_addr { s_addr: 0 },
                    imr_ifindex: ifindex as libc::c_int,
                };
                setsockopt(raw, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
            }
        }
        Ok(VrrpSocket { fd, v6, ifindex })
    }

    /// The fd, for poll.
    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Sends one VRRP message from `src` to `dst`.
    pub fn send(&self, src: IpAddr, dst: IpAddr, msg: &[u8]) -> io::Result<()> {
        let raw = self.fd.as_raw_fd();
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let mut pkt = Ipv4Header::build(s, d, VRRP_TTL, msg.len()).to_vec();
                pkt.extend_from_slice(msg);
                send_to(raw, &pkt, &sockaddr_v4(d))
            }
            (_, IpAddr::V6(d)) => {
                let scope = if d.is_multicast() || d.is_unicast_link_local() {
                    self.ifindex
                } else {
                    0
                };
                send_to(raw, msg, &sockaddr_v6(d, scope))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "address family mismatch",
            )),
        }
    }

    /// Receives one packet; `Ok(None)` when nothing is waiting. Packets whose IPv4
    /// header does not parse are returned as `Err` with kind `InvalidData`.
    pub fn recv(&self) -> io::Result<Option<Received>> {
        let mut buf = vec![0u8; 9000];
        let mut cmsg = [0u64; 16];
        // SAFETY: sockaddr_in6 is plain data; all-zero is valid.
        let mut from: libc::sockaddr_in6 = unsafe { zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        // SAFETY: msghdr is plain data; all-zero is valid.
        let mut mh: libc::msghdr = unsafe { zeroed() };
        mh.msg_name = &mut from as *mut _ as *mut libc::c_void;
        mh.msg_namelen = size_of::<libc::sockaddr_in6>() as u32;
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cmsg.as_mut_ptr() as *mut libc::c_void;
        mh.msg_controllen = size_of::<[u64; 16]>();
        // SAFETY: every pointer in mh refers to live buffers of the stated sizes.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut mh, libc::MSG_TRUNC) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(e);
        }
        let n = n as usize;
        if n > buf.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("oversized datagram of {n} bytes"),
            ));
        }
        buf.truncate(n);
        if !self.v6 {
            let h = Ipv4Header::parse(&buf)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            return Ok(Some(Received {
                src: IpAddr::V4(h.src),
                dst: IpAddr::V4(h.dst),
                ttl: h.ttl,
                payload: buf[h.header_len..].to_vec(),
            }));
        }
        let src = IpAddr::V6(Ipv6Addr::from(from.sin6_addr.s6_addr));
        let mut dst = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let mut ttl = 0u8;
        // SAFETY: walking the control buffer the kernel filled, with the CMSG macros.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&mh);
            while !c.is_null() {
                let h = &*c;
                if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_HOPLIMIT {
                    let v = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::c_int);
                    ttl = v.clamp(0, 255) as u8;
                } else if h.cmsg_level == libc::IPPROTO_IPV6 && h.cmsg_type == libc::IPV6_PKTINFO {
                    let v =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in6_pktinfo);
                    dst = IpAddr::V6(Ipv6Addr::from(v.ipi6_addr.s6_addr));
                }
                c = libc::CMSG_NXTHDR(&mh, c);
            }
        }
        Ok(Some(Received {
            src,
            dst,
            ttl,
            payload: buf,
        }))
    }
}

/// Sends `count` gratuitous ARP requests for `ip` from `mac` on interface `ifindex`
/// (one socket: closing a packet socket waits for an RCU grace period).
pub fn send_garp(ifindex: u32, mac: &[u8], ip: Ipv4Addr, count: u32) -> io::Result<()> {
    if mac.len() != 6 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface has no Ethernet address",
        ));
    }
    let fd = socket(
        libc::AF_PACKET,
        libc::SOCK_DGRAM,
        i32::from((libc::ETH_P_ARP as u16).to_be()),
    )?;
    let mut arp = Vec::with_capacity(28);
    arp.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]); // Ethernet, IPv4, request
    arp.extend_from_slice(mac);
    arp.extend_from_slice(&ip.octets());
    arp.extend_from_slice(&[0xff; 6]);
    arp.extend_from_slice(&ip.octets());
    // SAFETY: sockaddr_ll is plain data; all-zero is valid.
    let mut sa: libc::sockaddr_ll = unsafe { zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = (libc::ETH_P_ARP as u16).to_be();
    sa.sll_ifindex = ifindex as i32;
    sa.sll_halen = 6;
    sa.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    for _ in 0..count {
        send_to(fd.as_raw_fd(), &arp, &sa)?;
    }
    Ok(())
}

/// Sends `buf` to the socket address `sa` (a `libc::sockaddr_*` struct) in one
/// datagram.
fn send_to<T>(fd: RawFd, buf: &[u8], sa: &T) -> io::Result<()> {
    // SAFETY: `buf` and `sa` are valid for their lengths during the call.
    let r = unsafe {
        libc::sendto(
            fd,
            buf.as_ptr() as *const libc::c_void,
            buf.len(),
            0,
            sa as *const T as *const libc::sockaddr,
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends `count` unsolicited neighbour advertisements (override flag) for `ip` to ff02::1.
pub fn send_unsolicited_na(
    ifname: &str,
    ifindex: u32,
    mac: &[u8],
    ip: Ipv6Addr,
    count: u32,
) -> io::Result<()> {
    let fd = socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6)?;
    let raw = fd.as_raw_fd();
    bind_to_device(raw, ifname)?;
    let hops: libc::c_int = 255;
    setsockopt(raw, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops)?;
    setsockopt(
        raw,
        libc::IPPROTO_IPV6,
        libc::IPV6_MULTICAST_IF,
        &(ifindex as libc::c_int),
    )?;
    let mut na = vec![136u8, 0, 0, 0, 0x20, 0, 0, 0]; // type NA, code 0, checksum by kernel, Override
    na.extend_from_slice(&ip.octets());
    if mac.len() == 6 {
        na.extend_from_slice(&[2, 1]); // target link-layer address option, 8 bytes
        na.extend_from_slice(mac);
    }
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let sa = sockaddr_v6(all_nodes, ifindex);
    for _ in 0..count {
        send_to(raw, &na, &sa)?;
    }
    Ok(())
}

/// Sends one hand-made IPv4 packet with protocol 112 and any TTL on `ifname`: the test
/// and diagnostics path (`vrrp-send`), not used by the daemon.
pub fn send_ipv4_raw(
    ifname: &str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    payload: &[u8],
) -> io::Result<()> {
    let fd = socket(
        libc::AF_INET,
        libc::SOCK_RAW,
        libc::c_int::from(IPPROTO_VRRP),
    )?;
    let raw = fd.as_raw_fd();
    bind_to_device(raw, ifname)?;
    let one: libc::c_int = 1;
    setsockopt(raw, libc::IPPROTO_IP, libc::IP_HDRINCL, &one)?;
    let mut pkt = Ipv4Header::build(src, dst, ttl, payload.len()).to_vec();
    pkt.extend_from_slice(payload);
    let sa = sockaddr_v4(dst);
    send_to(raw, &pkt, &sa)
}
