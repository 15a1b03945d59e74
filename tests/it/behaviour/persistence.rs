//! Persistence under real traffic: -p (and the template's expiry), -M, and the SIP
//! persistence engine. The service schedulers are rr, so without persistence each new
//! connection would go to the next server: every expectation here is exact.

use super::{
    client_addresses, connections, ipvs, named_servers, names_of, tally, Scene, SceneFn, RS_PORT,
};
use ipvs_lab::{lab_test, Stream, Topology, UdpServer};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// `n` datagrams to the scene's UDP service from `from` (a fresh source port each).
fn udp_names(sc: &Scene, from: IpAddr, payloads: Vec<Vec<u8>>) -> Vec<String> {
    let grams = payloads
        .into_iter()
        .map(|p| (SocketAddr::new(from, 0), sc.vip(), p))
        .collect();
    names_of(sc.topo.client.ask_names_udp(grams))
}

fn udp_service(sc: &Scene, opts: &str) {
    ipvs(&format!("-A -u {} -s rr {opts}", sc.vip()));
    for rs in &sc.topo.servers {
        ipvs(&format!("-a -u {} -r {}:{RS_PORT} -m", sc.vip(), rs.addr));
    }
}

/// -p over TCP: six connections from one client, each from a new source port, all to
/// one server; the listing shows the template (client port 0) beside them.
fn persistent_tcp(sc: &Scene) {
    sc.nat_service("-s rr -p 60", &[1, 1, 1]);
    let seen = sc.ask(6);
    assert_eq!(tally(&seen).len(), 1, "persistence broken: {seen:?}");
    let vport = sc.port;
    let templates: Vec<_> = connections()
        .into_iter()
        .filter(|c| c["virtual"]["port"] == vport && c["client"]["port"] == 0)
        .collect();
    assert_eq!(templates.len(), 1, "one template expected: {templates:?}");
    let expires = templates[0]["expires"].as_u64().unwrap_or(0);
    assert!(
        (50..=60).contains(&expires),
        "template expiry {expires} s, not about -p 60: {templates:?}"
    );
}

/// -p 2 over UDP with the UDP timeout at 1 s: datagrams from new source ports stick to
/// one server; once the connections and then the template have expired, the next
/// datagram is scheduled anew and rr hands it to the next server.
fn persistent_udp_expires(sc: &Scene) {
    ipvs("--set 0 0 1");
    udp_service(sc, "-p 2");
    let from = super::CLIENT;
    let first = udp_names(sc, from, vec![b"x".to_vec(); 6]);
    assert_eq!(tally(&first).len(), 1, "persistence broken: {first:?}");
    let vport = sc.port;
    let deadline = Instant::now() + Duration::from_secs(15);
    while connections().iter().any(|c| c["virtual"]["port"] == vport) {
        assert!(
            Instant::now() < deadline,
            "template never expired: {:?}",
            connections()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let second = udp_names(sc, from, vec![b"x".to_vec(); 6]);
    assert_eq!(tally(&second).len(), 1, "persistence broken: {second:?}");
    assert_ne!(
        first[0], second[0],
        "rr should have moved on after the template expired"
    );
    ipvs("--set 0 0 300");
}

/// -p with -M 255.255.255.240: the 32 client addresses .100-.131 fall in three /28s
/// (12, 16 and 4 addresses); each /28 sticks to one server and rr gives the three
/// groups three different servers. Without -M every address is its own group: 32
/// addresses go round the servers, 11/11/10.
fn netmask(clients: Vec<IpAddr>, mask: &'static str) -> SceneFn {
    Box::new(move |sc: &Scene| {
        sc.nat_service(&format!("-s rr -p 60 -M {mask}"), &[1, 1, 1]);
        let conns = clients
            .iter()
            .map(|a| (Some(SocketAddr::new(*a, 0)), sc.vip()))
            .collect();
        let seen = names_of(sc.topo.client.ask_names(conns, Stream::Tcp));
        if mask == "255.255.255.255" {
            let mut shares: Vec<usize> = tally(&seen).values().copied().collect();
            shares.sort();
            assert_eq!(shares, [10, 11, 11], "{seen:?}");
        } else {
            let groups = [&seen[..12], &seen[12..28], &seen[28..]];
            for g in groups {
                assert_eq!(tally(g).len(), 1, "a /28 was split: {seen:?}");
            }
            let servers: std::collections::BTreeSet<_> =
                groups.iter().map(|g| g[0].clone()).collect();
            assert_eq!(servers.len(), 3, "{seen:?}");
        }
    })
}

fn sip_invite(call_id: &str, from: IpAddr) -> Vec<u8> {
    format!(
        "INVITE sip:bob@192.0.2.99 SIP/2.0\r\nVia: SIP/2.0/UDP {from}:5060\r\n\
         From: <sip:alice@{from}>\r\nTo: <sip:bob@192.0.2.99>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The SIP persistence engine. In this kernel (6.1) its template matches on the
/// Call-ID *and* the client address: messages of one call from one client address
/// stick to one server, but the same call from another address, and another call
/// from the same address, are each scheduled anew (rr: the next server), where plain
/// -p would keep a client address on one server whatever the call.
fn sip_pe(clients: Vec<IpAddr>) -> SceneFn {
    Box::new(move |sc: &Scene| {
        udp_service(sc, "-p 60 --pe sip");
        let mut firsts = Vec::new();
        for call in ["call-a@203.0.113.2", "call-b@203.0.113.2"] {
            for &from in &clients {
                let seen = udp_names(sc, from, vec![sip_invite(call, from); 3]);
                assert_eq!(
                    tally(&seen).len(),
                    1,
                    "call {call} from {from} split: {seen:?}"
                );
                firsts.push(seen[0].clone());
            }
        }
        // Four (call, client) pairs, four rr decisions over three servers.
        for w in firsts.windows(2) {
            assert_ne!(w[0], w[1], "not scheduled anew: {firsts:?}");
        }
        assert_eq!(tally(&firsts).len(), 3, "{firsts:?}");
        let pe: Vec<_> = connections()
            .into_iter()
            .filter(|c| c["pe_name"] == "sip")
            .collect();
        assert!(
            pe.iter().any(|c| c["pe_data"] == "call-a@203.0.113.2"),
            "no SIP template in {pe:?}"
        );
    })
}

lab_test! {
    /// Persistence: -p over TCP and UDP (with the template's expiry), -M, and the SIP
    /// persistence engine, over one NAT topology.
    fn behaviour_persistence() {
        let topo = Topology::nat(3);
        let _servers = named_servers(&topo);
        let _udp: Vec<UdpServer> = topo
            .servers
            .iter()
            .enumerate()
            .map(|(i, rs)| UdpServer::named(&rs.ns, SocketAddr::new(rs.addr, RS_PORT), &format!("rs{i}")))
            .collect();
        let clients = client_addresses(&topo, 32);
        let cases: Vec<(&str, SceneFn)> = vec![
            ("-p tcp", Box::new(persistent_tcp)),
            ("-p udp expiry", Box::new(persistent_udp_expires)),
            ("-M /28", netmask(clients.clone(), "255.255.255.240")),
            ("no -M", netmask(clients.clone(), "255.255.255.255")),
            ("pe sip", sip_pe(clients[..2].to_vec())),
        ];
        super::scenes(&topo, cases);
    }
}
