//! Forwarding methods under real traffic: masquerading, direct routing, and IPIP,
//! GUE and GRE tunnels, for TCP and UDP; IPv6 with masquerading and direct routing; a
//! fwmark service with marks set by iptables; SCTP.
//!
//! Each case sends four TCP connections (or four UDP datagrams, each from a new
//! source port, so each is a new IPVS connection) through an rr service over two real
//! servers, and checks each server answered exactly two: rr is deterministic, and an
//! answer proves the whole path (there and back) of that forwarding method.

use super::{counts, ipvs, names_of, run_here, tally, Case};
use ipvs_lab::{lab_test, must, Stream, TcpServer, Topology, UdpServer};
use std::net::{IpAddr, SocketAddr};

/// What a case sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Tcp,
    Udp,
    Sctp,
}

/// Servers named `rs<i>` on `bind(i):port` over `proto`, kept until dropped.
#[allow(dead_code)] // held only to be dropped at the end of the case
enum Servers {
    Stream(Vec<TcpServer>),
    Datagram(Vec<UdpServer>),
}

fn start_servers(
    topo: &Topology,
    proto: Proto,
    bind: &dyn Fn(usize) -> IpAddr,
    port: u16,
) -> Servers {
    let each = topo.servers.iter().enumerate();
    match proto {
        Proto::Udp => Servers::Datagram(
            each.map(|(i, rs)| {
                UdpServer::named(&rs.ns, SocketAddr::new(bind(i), port), &format!("rs{i}"))
            })
            .collect(),
        ),
        Proto::Tcp | Proto::Sctp => {
            let stream = if proto == Proto::Tcp {
                Stream::Tcp
            } else {
                Stream::Sctp
            };
            Servers::Stream(
                each.map(|(i, rs)| {
                    TcpServer::named_over(
                        &rs.ns,
                        SocketAddr::new(bind(i), port),
                        &format!("rs{i}"),
                        stream,
                    )
                })
                .collect(),
            )
        }
    }
}

/// Four requests from the client to `vip`: who answered each.
fn four_requests(topo: &Topology, proto: Proto, vip: SocketAddr) -> Vec<String> {
    match proto {
        Proto::Udp => {
            let from = SocketAddr::new(
                if vip.is_ipv4() {
                    super::CLIENT
                } else {
                    "2001:db8:1::2".parse().expect("v6")
                },
                0,
            );
            names_of(
                topo.client
                    .ask_names_udp(vec![(from, vip, b"who".to_vec()); 4]),
            )
        }
        Proto::Tcp => names_of(topo.client.ask_names(vec![(None, vip); 4], Stream::Tcp)),
        Proto::Sctp => names_of(topo.client.ask_names(vec![(None, vip); 4], Stream::Sctp)),
    }
}

/// One forwarding case: `method` is ipvsadm's destination flags (`-m`, `-g`, `-i
/// --tun-type gue --tun-port 6080`, ...), `v6` picks the IPv6 VIP and addresses.
fn forward(topo: &Topology, proto: Proto, method: &str, v6: bool, port: u16) {
    let vip = SocketAddr::new(if v6 { topo.vip6 } else { topo.vip }, port);
    let nat = method == "-m";
    let rs_addr = |i: usize| {
        if v6 {
            topo.servers[i].addr6
        } else {
            topo.servers[i].addr
        }
    };
    // Masquerading may change the port; the others deliver to the VIP's own port.
    let bind = |i: usize| if nat { rs_addr(i) } else { vip.ip() };
    let _servers = start_servers(topo, proto, &bind, port);
    let flag = match proto {
        Proto::Tcp => "-t",
        Proto::Udp => "-u",
        Proto::Sctp => "--sctp-service",
    };
    let svc = match vip {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    ipvs(&format!("-A {flag} {svc} -s rr"));
    for i in 0..topo.servers.len() {
        let rip = if v6 {
            format!("[{}]", rs_addr(i))
        } else {
            rs_addr(i).to_string()
        };
        ipvs(&format!("-a {flag} {svc} -r {rip}:{port} {method}"));
    }
    let seen = four_requests(topo, proto, vip);
    assert_eq!(
        tally(&seen),
        counts(&[("rs0", 2), ("rs1", 2)]),
        "{proto:?} {method} v6={v6}: {seen:?}"
    );
}

fn case<'a>(
    name: &'static str,
    topo: &'a Topology,
    proto: Proto,
    method: &'static str,
    v6: bool,
    port: u16,
) -> Case<'a> {
    (
        name,
        Box::new(move || forward(topo, proto, method, v6, port)),
    )
}

lab_test! {
    /// Masquerading for TCP, UDP and SCTP, IPv4 and IPv6, and a fwmark service whose
    /// marks (ports 80 and 443 of the VIP) are set by iptables.
    fn behaviour_forwarding_nat() {
        let topo = Topology::nat(2);
        let t = &topo;
        let fwmark: Case = ("fwmark", Box::new(move || {
            must("iptables-legacy -t mangle -A PREROUTING -d 203.0.113.10/32 -p tcp -m multiport --dports 80,443 -j MARK --set-mark 7");
            let mut servers = Vec::new();
            for port in [80, 443] {
                for (i, rs) in t.servers.iter().enumerate() {
                    servers.push(TcpServer::named(&rs.ns, SocketAddr::new(rs.addr, port), &format!("rs{i}:{port}")));
                }
            }
            ipvs("-A -f 7 -s rr");
            for rs in &t.servers {
                // No port: masquerading keeps the one the client asked for.
                ipvs(&format!("-a -f 7 -r {} -m", rs.addr));
            }
            let vip = |port| SocketAddr::new(t.vip, port);
            let conns = [80, 443, 80, 443, 80, 443, 80, 443].map(|p| (None, vip(p))).to_vec();
            let seen = names_of(t.client.ask_names(conns, Stream::Tcp));
            // One service for both ports: rr alternates over the whole sequence.
            for w in seen.windows(2) {
                assert_ne!(w[0].split(':').next(), w[1].split(':').next(), "{seen:?}");
            }
            for (s, port) in seen.iter().zip([80, 443].iter().cycle()) {
                assert!(s.ends_with(&format!(":{port}")), "{seen:?}");
            }
            let servers: Vec<&str> = seen.iter().filter_map(|s| s.split(':').next()).collect();
            assert_eq!(tally(&servers), counts(&[("rs0", 4), ("rs1", 4)]), "{seen:?}");
        }));
        run_here(vec![
            case("tcp", t, Proto::Tcp, "-m", false, 2001),
            case("udp", t, Proto::Udp, "-m", false, 2002),
            case("tcp6", t, Proto::Tcp, "-m", true, 2003),
            case("udp6", t, Proto::Udp, "-m", true, 2004),
            case("sctp", t, Proto::Sctp, "-m", false, 2005),
            fwmark,
        ]);
    }

    /// Direct routing for TCP and UDP, IPv4 and IPv6.
    fn behaviour_forwarding_direct_routing() {
        let topo = Topology::direct_routing(2);
        let t = &topo;
        run_here(vec![
            case("tcp", t, Proto::Tcp, "-g", false, 2011),
            case("udp", t, Proto::Udp, "-g", false, 2012),
            case("tcp6", t, Proto::Tcp, "-g", true, 2013),
            case("udp6", t, Proto::Udp, "-g", true, 2014),
        ]);
    }

    /// IPIP, GUE and GRE tunnels for TCP and UDP. The real servers decapsulate GUE
    /// with a fou port and GRE on their fallback gre0 device.
    fn behaviour_forwarding_tunnels() {
        let topo = Topology::tunnel(2);
        for rs in &topo.servers {
            rs.ns.must(
                "ip fou add port 6080 gue && ip link set gre0 up \
                 && sysctl -qw net.ipv4.conf.gre0.rp_filter=0",
            );
        }
        let t = &topo;
        const GUE: &str = "-i --tun-type gue --tun-port 6080";
        const GRE: &str = "-i --tun-type gre";
        run_here(vec![
            case("ipip tcp", t, Proto::Tcp, "-i", false, 2021),
            case("ipip udp", t, Proto::Udp, "-i", false, 2022),
            case("gue tcp", t, Proto::Tcp, GUE, false, 2023),
            case("gue udp", t, Proto::Udp, GUE, false, 2024),
            case("gre tcp", t, Proto::Tcp, GRE, false, 2025),
            case("gre udp", t, Proto::Udp, GRE, false, 2026),
        ]);
    }
}
