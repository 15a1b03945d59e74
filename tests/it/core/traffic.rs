//! Counters, connection counts and the examples under real traffic.

use super::*;

lab_test! {
    /// Counters grow with traffic through NAT, agree with ipvsadm --stats --exact,
    /// zero per service and globally; /proc/net/ip_vs_conn shows the connections.
    fn stats_grow_with_traffic_and_zero() {
        let topo = Topology::nat(2);
        let _echo: Vec<TcpServer> =
            topo.servers.iter().map(|s| TcpServer::echo(&s.ns, SocketAddr::new(s.addr, 8080))).collect();
        let mut h = handle();
        let key = ServiceKey::tcp(SocketAddr::new(topo.vip, 80));
        let other = ServiceKey::tcp(SocketAddr::new(topo.vip, 81));
        h.add_service(&Service::new(key, Scheduler::Rr)).unwrap();
        h.add_service(&Service::new(other, Scheduler::Rr)).unwrap();
        for s in &topo.servers {
            h.add_destination(&key, &Destination::new(SocketAddr::new(s.addr, 8080), ForwardMethod::Masquerade)).unwrap();
            h.add_destination(&other, &Destination::new(SocketAddr::new(s.addr, 8080), ForwardMethod::Masquerade)).unwrap();
        }
        assert_eq!(h.service(&key).unwrap().stats, Stats::default());
        let traffic = |port: u16, n: usize| {
            let vip = SocketAddr::new(topo.vip, port);
            topo.client
                .spawn(move || {
                    for _ in 0..n {
                        let mut s = TcpStream::connect_timeout(&vip, Duration::from_secs(5)).expect("connect");
                        s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                        s.write_all(b"0123456789").expect("write");
                        let mut b = [0u8; 10];
                        s.read_exact(&mut b).expect("echo");
                    }
                })
                .join()
                .expect("client");
        };
        traffic(80, 4);
        traffic(81, 2);
        // Counters are folded in by the 2-second estimator: poll until they show.
        let deadline = Instant::now() + Duration::from_secs(8);
        while h.service(&key).unwrap().stats.conns < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
        }
        let mut svc = h.service(&key).unwrap();
        svc.stats = settled_stats(&mut h, &key);
        assert_eq!(svc.stats.conns, 4, "{:?}", svc.stats);
        assert!(svc.stats.inpkts >= 4 * 4 && svc.stats.inbytes > 40 && svc.stats.outbytes > 40, "{:?}", svc.stats);
        let dests = h.destinations(&key).unwrap();
        assert_eq!(dests.iter().map(|d| d.stats.conns).sum::<u64>(), 4);
        assert!(dests.iter().all(|d| d.stats.conns == 2), "round robin: {dests:?}");
        // Same counters as ipvsadm, with no traffic in between.
        let exact = must("ipvsadm -Ln --stats --exact").stdout;
        assert_eq!(exact_counters(&exact, &format!("TCP  {}:80 ", topo.vip)), counters(&svc.stats), "{exact}");
        for d in &dests {
            assert_eq!(exact_counters(&exact, &format!("-> {} ", d.socket_addr())), counters(&d.stats), "{exact}");
        }
        // Connections are in /proc/net/ip_vs_conn, as ipvsadm -Lnc shows them.
        let conns = connections().unwrap();
        let to_vip: Vec<_> = conns.iter().filter(|c| c.virtual_addr == SocketAddr::new(topo.vip, 80)).collect();
        assert_eq!(to_vip.len(), 4, "{conns:?}");
        assert!(to_vip.iter().all(|c| c.protocol == "TCP" && c.destination.port() == 8080));
        let lnc = must("ipvsadm -Lnc").stdout;
        assert_eq!(lnc.lines().filter(|l| l.contains(&format!("{}:80", topo.vip))).count(), 4, "{lnc}");
        // Zero one service: its counters go to 0, the other keeps its own.
        while h.service(&other).unwrap().stats.conns < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
        }
        h.zero(Some(&key)).unwrap();
        assert_eq!(h.service(&key).unwrap().stats.conns, 0);
        assert!(h.destinations(&key).unwrap().iter().all(|d| d.stats.conns == 0));
        assert_eq!(h.service(&other).unwrap().stats.conns, 2);
        h.zero(None).unwrap();
        assert_eq!(h.service(&other).unwrap().stats.conns, 0);
        let exact = must("ipvsadm -Ln --stats --exact").stdout;
        assert!(exact.lines().skip(3).all(|l| l.split_whitespace().skip(2).all(|v| v == "0")), "{exact}");
    }

    /// IPv6 traffic through an IPv6 NAT service is counted, in 64-bit stats that
    /// agree with ipvsadm's exact numbers.
    fn ipv6_stats_grow_with_traffic() {
        let topo = Topology::nat(2);
        let _echo: Vec<TcpServer> =
            topo.servers.iter().map(|s| TcpServer::echo(&s.ns, SocketAddr::new(s.addr6, 8080))).collect();
        let mut h = handle();
        let key = ServiceKey::tcp(SocketAddr::new(topo.vip6, 80));
        h.add_service(&Service::new(key, Scheduler::Wrr)).unwrap();
        for s in &topo.servers {
            h.add_destination(&key, &Destination::new(SocketAddr::new(s.addr6, 8080), ForwardMethod::Masquerade)).unwrap();
        }
        let vip = SocketAddr::new(topo.vip6, 80);
        topo.client
            .spawn(move || {
                for _ in 0..3 {
                    let mut s = TcpStream::connect_timeout(&vip, Duration::from_secs(5)).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                    s.write_all(b"ipv6 bytes").expect("write");
                    let mut b = [0u8; 10];
                    s.read_exact(&mut b).expect("echo");
                }
            })
            .join()
            .expect("client");
        let deadline = Instant::now() + Duration::from_secs(8);
        while h.service(&key).unwrap().stats.conns < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
        }
        let st = settled_stats(&mut h, &key);
        assert_eq!(st.conns, 3, "{st:?}");
        assert!(st.inbytes > 30 && st.outbytes > 30, "{st:?}");
        let exact = must("ipvsadm -Ln --stats --exact").stdout;
        assert_eq!(exact_counters(&exact, &format!("TCP  {vip} ")), counters(&st), "{exact}");
        let conns = connections().unwrap();
        assert_eq!(conns.iter().filter(|c| c.virtual_addr == vip && c.client.is_ipv6()).count(), 3, "{conns:?}");
    }

    /// A SIP message through a `pe sip` service: the kernel's connection entries
    /// carry the persistence engine and the Call-ID, and connections() reads them.
    fn pe_sip_connections_carry_call_id() {
        let topo = Topology::nat(1);
        let rs = topo.servers[0].addr;
        let (tx, rx) = std::sync::mpsc::channel();
        let server = topo.servers[0].ns.spawn(move || {
            let sock = std::net::UdpSocket::bind(SocketAddr::new(rs, 5060)).expect("bind");
            sock.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
            tx.send(()).expect("ready");
            let mut buf = [0u8; 2048];
            sock.recv_from(&mut buf).map(|(n, _)| n).unwrap_or(0)
        });
        rx.recv().expect("server ready");
        let mut h = handle();
        let key = ServiceKey::udp(SocketAddr::new(topo.vip, 5060));
        let mut svc = Service::new(key, Scheduler::Rr).persistent(120);
        svc.pe_name = Some("sip".into());
        h.add_service(&svc).unwrap();
        h.add_destination(&key, &Destination::new(SocketAddr::new(rs, 5060), ForwardMethod::Masquerade)).unwrap();
        let vip = SocketAddr::new(topo.vip, 5060);
        topo.client
            .spawn(move || {
                let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("bind");
                let msg = "OPTIONS sip:rs@example.invalid SIP/2.0\r\n\
                           Via: SIP/2.0/UDP 203.0.113.2:5060\r\n\
                           Call-ID: a84b4c76e66710@client.example.invalid\r\n\
                           CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
                sock.send_to(msg.as_bytes(), vip).expect("send");
            })
            .join()
            .expect("client");
        assert!(server.join().expect("server") > 0, "the real server got the SIP message");
        let conns = connections().unwrap();
        let raw = std::fs::read_to_string(PROC_IP_VS_CONN).unwrap_or_default();
        let sip: Vec<_> = conns.iter().filter(|c| c.pe_name.as_deref() == Some("sip")).collect();
        assert!(!sip.is_empty(), "no sip entries:\n{raw}");
        assert!(sip.iter().all(|c| c.pe_data.as_deref() == Some("a84b4c76e66710@client.example.invalid")), "{raw}");
        assert!(sip.iter().any(|c| c.protocol == "UDP" && c.destination == SocketAddr::new(rs, 5060)), "{raw}");
    }

    /// Active, inactive and persistent connection counts read through
    /// ipvs-core equal ipvsadm's columns after real NAT traffic: open
    /// connections are active, closed ones inactive. Unlike the stats these
    /// counts are not estimator-driven: they change with the packets.
    fn connection_counts_agree_with_ipvsadm_after_traffic() {
        let topo = Topology::nat(2);
        // Port 8080 keeps every accepted connection open; 8081 closes at once.
        let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
        let mut servers = Vec::new();
        for s in &topo.servers {
            let keep = held.clone();
            servers.push(TcpServer::start(&s.ns, SocketAddr::new(s.addr, 8080), move |c| {
                keep.lock().expect("held connections").push(c);
            }));
            servers.push(TcpServer::start(&s.ns, SocketAddr::new(s.addr, 8081), drop));
        }
        let mut h = handle();
        // Persistent: the client's connections all go to one destination,
        // which also holds one persistence template.
        let open = ServiceKey::tcp(SocketAddr::new(topo.vip, 80));
        let closed = ServiceKey::tcp(SocketAddr::new(topo.vip, 81));
        h.add_service(&Service::new(open, Scheduler::Rr).persistent(60)).unwrap();
        h.add_service(&Service::new(closed, Scheduler::Rr)).unwrap();
        for s in &topo.servers {
            h.add_destination(&open, &Destination::new(SocketAddr::new(s.addr, 8080), ForwardMethod::Masquerade)).unwrap();
            h.add_destination(&closed, &Destination::new(SocketAddr::new(s.addr, 8081), ForwardMethod::Masquerade)).unwrap();
        }
        let (vip80, vip81) = (SocketAddr::new(topo.vip, 80), SocketAddr::new(topo.vip, 81));
        let client_streams = topo
            .client
            .spawn(move || {
                let opened: Vec<TcpStream> = (0..4)
                    .map(|_| TcpStream::connect_timeout(&vip80, Duration::from_secs(5)).expect("connect :80"))
                    .collect();
                for _ in 0..6 {
                    let mut c = TcpStream::connect_timeout(&vip81, Duration::from_secs(5)).expect("connect :81");
                    c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                    let mut rest = Vec::new();
                    c.read_to_end(&mut rest).expect("server closes");
                }
                opened
            })
            .join()
            .expect("client");
        // The last ACKs of the closed connections are through the director
        // well within this; the counts do not wait for the 2 s estimator.
        let want = |h: &mut Handle| {
            let a = h.destinations(&open).unwrap();
            let c = h.destinations(&closed).unwrap();
            a.iter().map(|d| d.active_conns).sum::<u32>() == 4 && c.iter().map(|d| d.inactive_conns).sum::<u32>() == 6
        };
        let start = Instant::now();
        let deadline = start + Duration::from_secs(2);
        while !want(&mut h) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("connection counts complete {:?} after the client finished", start.elapsed());
        // ipvsadm, ipvs-core, ipvsadm: the counts must not move in between.
        let ipvsadm_counts = || {
            let mut rows: Vec<(String, u32, u32, u32)> = Vec::new();
            let (list, pers) = (must("ipvsadm -Ln").stdout, must("ipvsadm -Ln --persistent-conn").stdout);
            // "  -> ADDR:PORT  Forward Weight ActiveConn InActConn" and, with
            // --persistent-conn, "  -> ADDR:PORT  Weight PersistConn ActiveConn
            // InActConn" (no Forward column); the two service blocks are told
            // apart by the destination port.
            let dest_rows = |out: &str| -> Vec<String> {
                out.lines()
                    .filter(|l| l.trim_start().starts_with("->") && !l.contains("RemoteAddress"))
                    .map(str::to_string)
                    .collect()
            };
            let (lrows, prows) = (dest_rows(&list), dest_rows(&pers));
            assert_eq!(lrows.len(), 4, "{list}");
            assert_eq!(prows.len(), 4, "{pers}");
            for (l, p) in lrows.iter().zip(&prows) {
                let l: Vec<&str> = l.split_whitespace().collect();
                let p: Vec<&str> = p.split_whitespace().collect();
                assert_eq!(l[1], p[1], "{list}\n{pers}");
                let n = |s: &str| s.parse::<u32>().unwrap_or_else(|_| panic!("count {s:?} in {list}"));
                assert_eq!((l[4], l[5]), (p[4], p[5]), "{list}\n{pers}");
                rows.push((l[1].to_string(), n(l[4]), n(l[5]), n(p[3])));
            }
            rows.sort();
            (rows, format!("{list}{pers}"))
        };
        let (before, list) = ipvsadm_counts();
        let mut ours: Vec<(String, u32, u32, u32)> = [open, closed]
            .iter()
            .flat_map(|k| h.destinations(k).unwrap())
            .map(|d| (d.socket_addr().to_string(), d.active_conns, d.inactive_conns, d.persistent_conns))
            .collect();
        ours.sort();
        let (after, _) = ipvsadm_counts();
        assert_eq!(before, after, "counts moved while reading");
        assert_eq!(ours, before, "ipvs-core (left) and ipvsadm (right) disagree:\n{list}");
        let total = |port: u16, f: fn(&(String, u32, u32, u32)) -> u32| -> u32 {
            ours.iter().filter(|r| r.0.ends_with(&format!(":{port}"))).map(f).sum()
        };
        assert_eq!((total(8080, |r| r.1), total(8080, |r| r.2), total(8080, |r| r.3)), (4, 0, 1), "{list}");
        assert_eq!((total(8081, |r| r.1), total(8081, |r| r.2), total(8081, |r| r.3)), (0, 6, 0), "{list}");
        // Persistence sent all four to one destination.
        assert!(ours.iter().any(|r| r.0.ends_with(":8080") && r.1 == 4), "{list}");
        drop(client_streams);
        held.lock().expect("held connections").clear();
        drop(servers);
    }

    /// The examples do what they say, judged by ipvsadm: add_service builds the
    /// service and its destinations (and fails cleanly on bad input or a
    /// duplicate), traffic flows through it, and watch_stats prints the same
    /// counters as `ipvsadm -Ln --stats --exact`.
    fn examples_add_service_and_watch_stats() {
        let add = example("add_service");
        let watch = example("watch_stats");
        let topo = Topology::nat(2);
        let _echo: Vec<TcpServer> =
            topo.servers.iter().map(|s| TcpServer::echo(&s.ns, SocketAddr::new(s.addr, 8080))).collect();
        let vip = SocketAddr::new(topo.vip, 80);
        let (rs0, rs1) = (SocketAddr::new(topo.servers[0].addr, 8080), SocketAddr::new(topo.servers[1].addr, 8080));
        let out = run(&[&add, &vip.to_string(), "wrr", &rs0.to_string(), &format!("{rs1}=3")]);
        assert_eq!(out.status, 0, "{out}");
        assert_save(&[
            &format!("-A -t {vip} -s wrr"),
            &format!("-a -t {vip} -r {rs0} -m -w 1"),
            &format!("-a -t {vip} -r {rs1} -m -w 3"),
        ]);
        // Bad input: exit 2, nothing applied; a duplicate service: exit 1, named.
        let out = run(&[&add, "192.0.2.99:80", "rr", "198.51.100.2:80=heavy"]);
        assert_eq!(out.status, 2, "{out}");
        assert!(out.stderr.contains("weight \"heavy\""), "{out}");
        let out = run(&[&add, &vip.to_string(), "rr"]);
        assert_eq!(out.status, 1, "{out}");
        assert!(out.stderr.contains("exists"), "{out}");
        assert_eq!(ipvsadm_save().len(), 3);
        topo.client
            .spawn(move || {
                for _ in 0..4 {
                    let mut c = TcpStream::connect_timeout(&vip, Duration::from_secs(5)).expect("connect");
                    c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                    c.write_all(b"example").expect("write");
                    let mut b = [0u8; 7];
                    c.read_exact(&mut b).expect("echo");
                }
            })
            .join()
            .expect("client");
        let mut h = handle();
        let key = ServiceKey::tcp(vip);
        let deadline = Instant::now() + Duration::from_secs(8);
        while h.service(&key).unwrap().stats.conns < 4 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(250));
        }
        let st = settled_stats(&mut h, &key);
        assert_eq!(st.conns, 4, "{st:?}");
        let out = run(&[&watch, "0.2", "2"]);
        assert_eq!(out.status, 0, "{out}");
        let rounds: Vec<&str> = out.stdout.split("\n\n").collect();
        assert_eq!(rounds.len(), 2, "{out}");
        let exact = must("ipvsadm -Ln --stats --exact").stdout;
        let c = exact_counters(&exact, &format!("TCP  {vip} "));
        let expected = format!(
            "TCP {vip} conns={} inpkts={} outpkts={} inbytes={} outbytes={} ",
            c[0], c[1], c[2], c[3], c[4]
        );
        for r in rounds {
            assert!(r.trim_start().starts_with(&expected), "watch_stats {r:?}\nipvsadm:\n{exact}");
        }
        assert_eq!(run(&[&watch, "0"]).status, 2);
    }
}
