//! Services, destinations, schedulers, forwarding, persistence, timeouts and sync daemons: set through ipvs-core, read back through ipvs-core and ipvsadm.

use super::*;

lab_test! {
    /// IPv4 TCP service with masquerading destinations and thresholds.
    fn ipv4_service_and_destinations() {
        let mut h = handle();
        let key = ServiceKey::tcp(sa("192.0.2.1:80"));
        let svc = Service::new(key, Scheduler::Wrr);
        h.add_service(&svc).unwrap();
        let mut d1 = Destination::new(sa("198.51.100.2:8080"), ForwardMethod::Masquerade).weight(3);
        d1.upper_threshold = 100;
        d1.lower_threshold = 10;
        let d2 = Destination::new(sa("198.51.100.3:8080"), ForwardMethod::Masquerade);
        h.add_destination(&key, &d1).unwrap();
        h.add_destination(&key, &d2).unwrap();
        assert_same_settings(&h.service(&key).unwrap(), &svc);
        let mut dests = h.destinations(&key).unwrap();
        dests.sort_by_key(|d| d.socket_addr());
        assert_same_dest(&dests[0], &d1);
        assert_same_dest(&dests[1], &d2);
        assert_save(&[
            "-A -t 192.0.2.1:80 -s wrr",
            "-a -t 192.0.2.1:80 -r 198.51.100.2:8080 -m -w 3",
            "-a -t 192.0.2.1:80 -r 198.51.100.3:8080 -m -w 1",
        ]);
        assert_agree(&mut h);
        // Thresholds are not in -S output; ipvsadm shows them with --thresholds.
        let thr = must("ipvsadm -Ln --thresholds").stdout;
        let line = thr.lines().find(|l| l.contains("198.51.100.2:8080")).expect(&thr);
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(&cols[cols.len() - 4..cols.len() - 2], &["100", "10"], "{thr}");
    }

    /// IPv6 UDP service with IPv6 destinations.
    fn ipv6_service_and_destinations() {
        let mut h = handle();
        let key = ServiceKey::udp(sa("[2001:db8::1]:53"));
        let svc = Service::new(key, Scheduler::Lc);
        h.add_service(&svc).unwrap();
        let d = Destination::new(sa("[2001:db8::2]:5353"), ForwardMethod::Masquerade).weight(7);
        h.add_destination(&key, &d).unwrap();
        assert_same_settings(&h.service(&key).unwrap(), &svc);
        assert_same_dest(&h.destinations(&key).unwrap()[0], &d);
        assert_save(&["-A -u [2001:db8::1]:53 -s lc", "-a -u [2001:db8::1]:53 -r [2001:db8::2]:5353 -m -w 7"]);
        assert_agree(&mut h);
    }

    /// Firewall-mark services for IPv4 and IPv6, with destinations.
    fn fwmark_services_v4_and_v6() {
        let mut h = handle();
        let k4 = ServiceKey::fwmark(7, AddressFamily::Inet);
        let k6 = ServiceKey::fwmark(8, AddressFamily::Inet6);
        h.add_service(&Service::new(k4, Scheduler::Rr)).unwrap();
        h.add_service(&Service::new(k6, Scheduler::Wlc)).unwrap();
        h.add_destination(&k4, &Destination::new(sa("198.51.100.2:0"), ForwardMethod::DirectRoute)).unwrap();
        h.add_destination(&k6, &Destination::new(sa("[2001:db8::5]:0"), ForwardMethod::DirectRoute)).unwrap();
        assert_eq!(h.service(&k6).unwrap().key, k6);
        assert_save(&[
            "-A -f 7 -s rr",
            "-a -f 7 -r 198.51.100.2:0 -g -w 1",
            "-A -f 8 -6 -s wlc",
            "-a -f 8 -6 -r [2001:db8::5]:0 -g -w 1",
        ]);
        assert_agree(&mut h);
    }

    /// SCTP services (IPv4 and IPv6).
    fn sctp_service() {
        let mut h = handle();
        let k = ServiceKey::sctp(sa("192.0.2.1:3868"));
        let k6 = ServiceKey::sctp(sa("[2001:db8::1]:3868"));
        h.add_service(&Service::new(k, Scheduler::Rr)).unwrap();
        h.add_service(&Service::new(k6, Scheduler::Rr)).unwrap();
        h.add_destination(&k, &Destination::new(sa("198.51.100.2:3868"), ForwardMethod::Masquerade)).unwrap();
        assert_save(&[
            "-A --sctp-service 192.0.2.1:3868 -s rr",
            "-A --sctp-service [2001:db8::1]:3868 -s rr",
            "-a --sctp-service 192.0.2.1:3868 -r 198.51.100.2:3868 -m -w 1",
        ]);
        assert_agree(&mut h);
    }

    /// Every scheduler the kernel has, set and read back; one the kernel lacks
    /// fails exactly as it does for ipvsadm.
    fn every_scheduler() {
        let mut h = handle();
        for (i, sched) in Scheduler::KNOWN.iter().enumerate() {
            let key = ServiceKey::tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 1000 + i as u16));
            let by_ipvsadm = sh(&format!("ipvsadm -A -t 192.0.2.2:{} -s {sched}", 1000 + i));
            match h.add_service(&Service::new(key, sched.clone())) {
                Ok(()) => {
                    assert!(by_ipvsadm.success(), "ipvs-core could add {sched}, ipvsadm not: {by_ipvsadm}");
                    assert_eq!(&h.service(&key).unwrap().scheduler, sched);
                }
                Err(Error::SchedulerNotFound { name }) => {
                    assert_eq!(name, sched.as_str());
                    assert!(!by_ipvsadm.success(), "ipvsadm has {sched}, ipvs-core said not found");
                    assert!(by_ipvsadm.stderr.contains("Scheduler or persistence engine not found"), "{by_ipvsadm}");
                }
                Err(e) => panic!("{sched}: {e}"),
            }
        }
        // Linux 6.1 has all but twos (added in 6.3).
        let n = h.services().unwrap().len();
        assert!(n >= 2 * 13, "only {n} services");
        assert_agree(&mut h);
    }

    /// Every forwarding method, and the tunnel options (ipip, gue with port and
    /// checksum flags, gre).
    fn forward_methods_and_tunnel_options() {
        let mut h = handle();
        let key = ServiceKey::tcp(sa("192.0.2.1:80"));
        h.add_service(&Service::new(key, Scheduler::Rr)).unwrap();
        let masq = Destination::new(sa("198.51.100.2:8080"), ForwardMethod::Masquerade);
        let dr = Destination::new(sa("198.51.100.3:80"), ForwardMethod::DirectRoute);
        let ipip = Destination::new(sa("198.51.100.4:80"), ForwardMethod::Tunnel);
        let mut gue = Destination::new(sa("198.51.100.5:80"), ForwardMethod::Tunnel);
        gue.tunnel_type = TunnelType::Gue;
        gue.tunnel_port = 6080;
        gue.tunnel_checksum = TunnelChecksum::RemCsum;
        let mut gue2 = gue.clone();
        gue2.addr = "198.51.100.6".parse().unwrap();
        gue2.tunnel_checksum = TunnelChecksum::Csum;
        let mut gre = Destination::new(sa("198.51.100.7:80"), ForwardMethod::Tunnel);
        gre.tunnel_type = TunnelType::Gre;
        gre.tunnel_checksum = TunnelChecksum::Csum;
        let all = [&masq, &dr, &ipip, &gue, &gue2, &gre];
        for d in all {
            h.add_destination(&key, d).unwrap();
        }
        let read = h.destinations(&key).unwrap();
        for d in all {
            let r = read.iter().find(|r| r.addr == d.addr).expect("destination read back");
            assert_same_dest(r, d);
        }
        assert_save(&[
            "-A -t 192.0.2.1:80 -s rr",
            "-a -t 192.0.2.1:80 -r 198.51.100.2:8080 -m -w 1",
            "-a -t 192.0.2.1:80 -r 198.51.100.3:80 -g -w 1",
            "-a -t 192.0.2.1:80 -r 198.51.100.4:80 -i -w 1 --tun-type ipip",
            "-a -t 192.0.2.1:80 -r 198.51.100.5:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum",
            "-a -t 192.0.2.1:80 -r 198.51.100.6:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum",
            "-a -t 192.0.2.1:80 -r 198.51.100.7:80 -i -w 1 --tun-type gre --tun-csum",
        ]);
        assert_agree(&mut h);
        // Local and bypass have no ipvsadm flag; the kernel keeps them and ipvs-core reads them back.
        let key2 = ServiceKey::tcp(sa("192.0.2.1:81"));
        h.add_service(&Service::new(key2, Scheduler::Rr)).unwrap();
        let local = Destination::new(sa("198.51.100.8:81"), ForwardMethod::Local);
        let bypass = Destination::new(sa("198.51.100.9:81"), ForwardMethod::Bypass);
        h.add_destination(&key2, &local).unwrap();
        h.add_destination(&key2, &bypass).unwrap();
        let read = h.destinations(&key2).unwrap();
        assert_same_dest(read.iter().find(|r| r.addr == local.addr).unwrap(), &local);
        assert_same_dest(read.iter().find(|r| r.addr == bypass.addr).unwrap(), &bypass);
        let list = must("ipvsadm -Ln -t 192.0.2.1:81").stdout;
        assert!(list.lines().any(|l| l.contains("198.51.100.8:81") && l.contains("Local")), "{list}");
    }

    /// Persistence with netmask (IPv4 mask, IPv6 prefix), persistence engine sip,
    /// scheduler flags and one-packet scheduling.
    fn persistence_netmask_pe_and_flags() {
        let mut h = handle();
        let mut p4 = Service::new(ServiceKey::tcp(sa("192.0.2.1:443")), Scheduler::Wlc).persistent(300);
        p4.netmask = Netmask::V4(Ipv4Addr::new(255, 255, 255, 0));
        let mut p6 = Service::new(ServiceKey::tcp(sa("[2001:db8::1]:443")), Scheduler::Sh).persistent(60);
        p6.netmask = Netmask::V6(64);
        p6.flags |= ServiceFlags::SH_FALLBACK | ServiceFlags::SH_PORT;
        let mut sip = Service::new(ServiceKey::udp(sa("192.0.2.1:5060")), Scheduler::Rr).persistent(120);
        sip.pe_name = Some("sip".into());
        let mut one = Service::new(ServiceKey::udp(sa("192.0.2.1:53")), Scheduler::Mh);
        one.flags |= ServiceFlags::ONEPACKET | ServiceFlags::MH_PORT;
        for s in [&p4, &p6, &sip, &one] {
            h.add_service(s).unwrap();
            assert_same_settings(&h.service(&s.key).unwrap(), s);
        }
        assert_save(&[
            "-A -t 192.0.2.1:443 -s wlc -p 300 -M 255.255.255.0",
            "-A -t [2001:db8::1]:443 -s sh -p 60 -M 64 -b sh-fallback,sh-port",
            "-A -u 192.0.2.1:5060 -s rr -p 120 --pe sip",
            "-A -u 192.0.2.1:53 -s mh -o -b mh-port",
        ]);
        assert_agree(&mut h);
    }

    /// Editing a service and a destination; deleting them.
    fn edit_and_delete() {
        let mut h = handle();
        let key = ServiceKey::tcp(sa("192.0.2.1:80"));
        h.add_service(&Service::new(key, Scheduler::Rr)).unwrap();
        let mut d = Destination::new(sa("198.51.100.2:80"), ForwardMethod::DirectRoute);
        h.add_destination(&key, &d).unwrap();
        let mut edited = Service::new(key, Scheduler::Wlc).persistent(600);
        edited.netmask = Netmask::V4(Ipv4Addr::new(255, 255, 0, 0));
        h.edit_service(&edited).unwrap();
        assert_same_settings(&h.service(&key).unwrap(), &edited);
        d.weight = 42;
        d.upper_threshold = 5;
        h.edit_destination(&key, &d).unwrap();
        assert_same_dest(&h.destinations(&key).unwrap()[0], &d);
        assert_save(&["-A -t 192.0.2.1:80 -s wlc -p 600 -M 255.255.0.0", "-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 42"]);
        assert_agree(&mut h);
        // Switch the destination to a GUE tunnel and the service to sh with flags.
        d.forward = ForwardMethod::Tunnel;
        d.tunnel_type = TunnelType::Gue;
        d.tunnel_port = 5555;
        d.tunnel_checksum = TunnelChecksum::Csum;
        h.edit_destination(&key, &d).unwrap();
        assert_same_dest(&h.destinations(&key).unwrap()[0], &d);
        edited.scheduler = Scheduler::Sh;
        edited.flags |= ServiceFlags::SH_PORT;
        h.edit_service(&edited).unwrap();
        assert_same_settings(&h.service(&key).unwrap(), &edited);
        assert_save(&[
            "-A -t 192.0.2.1:80 -s sh -p 600 -M 255.255.0.0 -b sh-port",
            "-a -t 192.0.2.1:80 -r 198.51.100.2:80 -i -w 42 --tun-type gue --tun-port 5555 --tun-csum",
        ]);
        assert_agree(&mut h);
        h.delete_destination(&key, d.socket_addr()).unwrap();
        assert!(h.destinations(&key).unwrap().is_empty());
        assert_save(&["-A -t 192.0.2.1:80 -s sh -p 600 -M 255.255.0.0 -b sh-port"]);
        h.delete_service(&key).unwrap();
        assert!(h.services().unwrap().is_empty());
        assert_save(&[]);
    }

    /// Flush removes every service, as ipvsadm -C does.
    fn flush() {
        let mut h = handle();
        must("ipvsadm -A -t 192.0.2.1:80 -s rr && ipvsadm -A -u 192.0.2.1:53 -s rr && ipvsadm -A -f 3 -s rr");
        assert_eq!(h.services().unwrap().len(), 3);
        h.flush().unwrap();
        assert!(h.services().unwrap().is_empty());
        assert_save(&[]);
    }

    /// Timeouts set through ipvs-core show in ipvsadm, and the other way round;
    /// zero leaves a value unchanged.
    fn timeouts() {
        let mut h = handle();
        h.set_timeouts(&Timeouts::new(900, 120, 300)).unwrap();
        assert_eq!(h.timeouts().unwrap(), Timeouts::new(900, 120, 300));
        assert_eq!(must("ipvsadm -L --timeout").stdout.trim(), "Timeout (tcp tcpfin udp): 900 120 300");
        h.set_timeouts(&Timeouts::new(0, 0, 77)).unwrap();
        assert_eq!(h.timeouts().unwrap(), Timeouts::new(900, 120, 77));
        must("ipvsadm --set 1000 100 10");
        assert_eq!(h.timeouts().unwrap(), Timeouts::new(1000, 100, 10));
    }

    /// Version and connection table size agree with ipvsadm's header line.
    fn info() {
        let mut h = handle();
        let info = h.info().unwrap();
        let header = must("ipvsadm -Ln").stdout.lines().next().unwrap_or_default().to_string();
        assert_eq!(header, format!("IP Virtual Server version {} (size={})", info.version_string(), info.conn_table_size));
    }

    /// Sync daemons: start master and backup with every attribute, list, stop.
    fn sync_daemons() {
        let _guard = StopDaemonsOnDrop;
        let mut h = handle();
        let master = SyncDaemon::new(DaemonState::Master, "lo", 9);
        let backup = SyncDaemon::new(DaemonState::Backup, "lo", 3)
            .sync_maxlen(1400)
            // MCAST-TEST-NET (RFC 5771), the IPv4 multicast documentation block.
            .mcast_group("233.252.0.1".parse().unwrap())
            .mcast_port(9000)
            .mcast_ttl(2);
        h.start_daemon(&master).unwrap();
        h.start_daemon(&backup).unwrap();
        let mut ds = h.daemons().unwrap();
        ds.sort_by_key(|d| d.state.to_raw());
        assert_eq!(ds.len(), 2);
        assert_eq!(ds[0].state, DaemonState::Master);
        assert_eq!((ds[0].mcast_ifn.as_str(), ds[0].syncid), ("lo", 9));
        assert_eq!(ds[1], backup);
        let listed = must("ipvsadm -L --daemon").stdout;
        let render = |d: &SyncDaemon| {
            format!(
                "{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})",
                if d.state == DaemonState::Master { "master" } else { "backup" },
                d.mcast_ifn,
                d.syncid,
                d.sync_maxlen.unwrap_or_default(),
                d.mcast_group.map(|g| g.to_string()).unwrap_or_default(),
                d.mcast_port.unwrap_or_default(),
                d.mcast_ttl.unwrap_or_default()
            )
        };
        let mut ours: Vec<String> = ds.iter().map(render).collect();
        let mut theirs: Vec<String> = listed.lines().map(str::to_string).collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs);
        assert!(matches!(h.start_daemon(&master), Err(Error::DaemonExists)));
        // A sync thread stopped right after its start can block the lab kernel.
        std::thread::sleep(Duration::from_secs(2));
        h.stop_daemon(DaemonState::Master).unwrap();
        assert_eq!(h.daemons().unwrap(), vec![backup]);
        h.stop_daemon(DaemonState::Backup).unwrap();
        assert!(h.daemons().unwrap().is_empty());
        assert_eq!(must("ipvsadm -L --daemon").stdout, "");
        assert!(matches!(h.stop_daemon(DaemonState::Backup), Err(Error::NoSuchDaemon)), "stopping a stopped daemon");
        // An IPv6 multicast group (IPVS_DAEMON_ATTR_MCAST_GROUP6) on a multicast-capable interface.
        must("ip link add sync0 type dummy && ip link set sync0 multicast on up");
        let v6 = SyncDaemon::new(DaemonState::Master, "sync0", 200)
            .sync_maxlen(1200)
            // Site-local (scope 5) group derived from 2001:db8::/32 by RFC 3306
            // (unicast-prefix-based: ff3s:0:plen:prefix::group), so documentation space.
            .mcast_group("ff35:20:2001:db8::8848".parse().unwrap())
            .mcast_port(8850)
            .mcast_ttl(5);
        h.start_daemon(&v6).unwrap();
        assert_eq!(h.daemons().unwrap(), vec![v6.clone()]);
        assert_eq!(must("ipvsadm -L --daemon").stdout.trim(), render(&v6));
        std::thread::sleep(Duration::from_secs(2));
        h.stop_daemon(DaemonState::Master).unwrap();
    }

    /// mh-fallback (alone and with mh-port) set, edited and read back through
    /// ipvs-core agrees with ipvsadm; and what the kernel does with HASHED.
    fn mh_fallback_and_hashed_flags() {
        let mut h = handle();
        let mut fallback = Service::new(ServiceKey::tcp(sa("192.0.2.1:80")), Scheduler::Mh);
        fallback.flags |= ServiceFlags::MH_FALLBACK;
        let mut both = Service::new(ServiceKey::fwmark(5, AddressFamily::Inet), Scheduler::Mh);
        both.flags |= ServiceFlags::MH_FALLBACK | ServiceFlags::MH_PORT;
        for s in [&fallback, &both] {
            h.add_service(s).unwrap();
            assert_same_settings(&h.service(&s.key).unwrap(), s);
        }
        h.add_destination(&fallback.key, &Destination::new(sa("198.51.100.2:80"), ForwardMethod::DirectRoute)).unwrap();
        assert_save(&[
            "-A -t 192.0.2.1:80 -s mh -b mh-fallback",
            "-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 1",
            "-A -f 5 -s mh -b mh-fallback,mh-port",
        ]);
        assert_agree(&mut h);
        // Edit: mh-fallback off, mh-port on; then both off.
        fallback.flags = ServiceFlags::MH_PORT;
        h.edit_service(&fallback).unwrap();
        assert_same_settings(&h.service(&fallback.key).unwrap(), &fallback);
        both.flags = ServiceFlags::default();
        h.edit_service(&both).unwrap();
        assert_same_settings(&h.service(&both.key).unwrap(), &both);
        assert_save(&["-A -t 192.0.2.1:80 -s mh -b mh-port", "-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 1", "-A -f 5 -s mh"]);
        assert_agree(&mut h);
        // And ipvsadm's mh-fallback read back through ipvs-core.
        must("ipvsadm -A -u 192.0.2.1:53 -s mh -b mh-fallback");
        let read = h.service(&ServiceKey::udp(sa("192.0.2.1:53"))).unwrap();
        assert_eq!(read.spec().flags, ServiceFlags::MH_FALLBACK);
        assert_eq!(read.flags.sched_flag_names(&read.scheduler), ["mh-fallback"]);

        // HASHED (IP_VS_SVC_F_HASHED) is kernel bookkeeping: every service reads
        // back with it, whether or not the request carried it.
        let plain = Service::new(ServiceKey::tcp(sa("192.0.2.2:80")), Scheduler::Rr);
        assert!(!plain.flags.contains(ServiceFlags::HASHED));
        h.add_service(&plain).unwrap();
        assert!(h.service(&plain.key).unwrap().flags.contains(ServiceFlags::HASHED));
        // Sent on add (a service read back and re-added, as a JSON restore
        // does): the kernel ignores it on add and hashes the service itself.
        // GET_SERVICE looks the service up in the hash table, so finding it
        // proves it was hashed, not merely created.
        let mut with_hashed = Service::new(ServiceKey::tcp(sa("192.0.2.3:80")), Scheduler::Rr);
        with_hashed.flags |= ServiceFlags::HASHED;
        h.add_service(&with_hashed).unwrap();
        let read = h.service(&with_hashed.key).unwrap();
        assert_eq!(read.flags, ServiceFlags::HASHED);
        h.add_destination(&with_hashed.key, &Destination::new(sa("198.51.100.3:80"), ForwardMethod::DirectRoute)).unwrap();
        assert_eq!(h.destinations(&with_hashed.key).unwrap().len(), 1);
        // Edit with HASHED cleared in flags and mask: the kernel keeps it.
        h.edit_service(&Service::new(with_hashed.key, Scheduler::Wlc)).unwrap();
        let read = h.service(&with_hashed.key).unwrap();
        assert_eq!((read.scheduler, read.flags), (Scheduler::Wlc, ServiceFlags::HASHED));
        // ipvsadm shows no trace of it, for either service.
        let save = ipvsadm_save();
        assert!(save.contains(&"-A -t 192.0.2.3:80 -s wlc".to_string()), "{save:?}");
        assert!(save.contains(&"-A -t 192.0.2.2:80 -s rr".to_string()), "{save:?}");
        assert_agree(&mut h);
        h.delete_service(&with_hashed.key).unwrap();
        assert!(matches!(h.service(&with_hashed.key), Err(Error::NoSuchService)));
    }

    /// GUE and GRE tunnels without checksums (`nocsum`), added and edited
    /// through ipvs-core and read back through ipvsadm, and the other way round.
    fn tunnel_nocsum_gue_and_gre() {
        let mut h = handle();
        let key = ServiceKey::tcp(sa("192.0.2.1:80"));
        h.add_service(&Service::new(key, Scheduler::Wrr)).unwrap();
        let mut gue = Destination::new(sa("198.51.100.5:80"), ForwardMethod::Tunnel).weight(3);
        gue.tunnel_type = TunnelType::Gue;
        gue.tunnel_port = 6080;
        gue.tunnel_checksum = TunnelChecksum::NoCsum;
        let mut gre = Destination::new(sa("198.51.100.7:80"), ForwardMethod::Tunnel).weight(4);
        gre.tunnel_type = TunnelType::Gre;
        gre.tunnel_checksum = TunnelChecksum::NoCsum;
        // A GRE tunnel that starts with a checksum and is edited to nocsum.
        let mut gre_edit = Destination::new(sa("198.51.100.8:80"), ForwardMethod::Tunnel);
        gre_edit.tunnel_type = TunnelType::Gre;
        gre_edit.tunnel_checksum = TunnelChecksum::Csum;
        for d in [&gue, &gre, &gre_edit] {
            h.add_destination(&key, d).unwrap();
        }
        gre_edit.tunnel_checksum = TunnelChecksum::NoCsum;
        h.edit_destination(&key, &gre_edit).unwrap();
        let read = h.destinations(&key).unwrap();
        for d in [&gue, &gre, &gre_edit] {
            assert_same_dest(read.iter().find(|r| r.addr == d.addr).expect("read back"), d);
        }
        assert_save(&[
            "-A -t 192.0.2.1:80 -s wrr",
            "-a -t 192.0.2.1:80 -r 198.51.100.5:80 -i -w 3 --tun-type gue --tun-port 6080 --tun-nocsum",
            "-a -t 192.0.2.1:80 -r 198.51.100.7:80 -i -w 4 --tun-type gre --tun-nocsum",
            "-a -t 192.0.2.1:80 -r 198.51.100.8:80 -i -w 1 --tun-type gre --tun-nocsum",
        ]);
        assert_agree(&mut h);
        // ipvsadm's nocsum tunnels read through ipvs-core.
        must("ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.9:80 -i --tun-type gue --tun-port 7000 --tun-nocsum \
              && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.10:80 -i --tun-type gre --tun-nocsum");
        let read = h.destinations(&key).unwrap();
        for (addr, ty, port) in [("198.51.100.9", TunnelType::Gue, 7000), ("198.51.100.10", TunnelType::Gre, 0)] {
            let d = read.iter().find(|d| d.addr.to_string() == addr).expect("ipvsadm's destination");
            assert_eq!((d.tunnel_type, d.tunnel_port, d.tunnel_checksum), (ty, port, TunnelChecksum::NoCsum), "{d:?}");
        }
        assert_agree(&mut h);
    }

    /// A tunnelled destination of the other family (IPv4 real server behind an IPv6
    /// service) works through ipvs-core; while a sync daemon runs the kernel refuses
    /// it, and with one in the table a daemon does not start.
    fn mixed_family_tunnel_and_sync_daemon_exclude_each_other() {
        let _guard = StopDaemonsOnDrop;
        let mut h = handle();
        let key = ServiceKey::tcp(sa("[2001:db8::1]:443"));
        h.add_service(&Service::new(key, Scheduler::Rr)).unwrap();
        let v4 = Destination::new(sa("192.0.2.77:443"), ForwardMethod::Tunnel);
        let master = SyncDaemon::new(DaemonState::Master, "lo", 1);
        h.start_daemon(&master).unwrap();
        assert!(matches!(h.add_destination(&key, &v4), Err(Error::InvalidArgument { .. })));
        // Stopping a master within milliseconds of its start blocks in the lab
        // kernel (see docs/ipvs-core.md); give the sync thread time to come up.
        std::thread::sleep(Duration::from_secs(2));
        h.stop_daemon(DaemonState::Master).unwrap();
        h.add_destination(&key, &v4).unwrap();
        assert_same_dest(&h.destinations(&key).unwrap()[0], &v4);
        let list = must("ipvsadm -Ln").stdout;
        assert!(list.contains("192.0.2.77:443") && list.contains("Tunnel"), "{list}");
        let started = h.start_daemon(&master);
        assert!(matches!(started, Err(Error::InvalidArgument { .. })), "{started:?}");
    }
}
