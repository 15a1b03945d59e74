//! ipvs-core against the real kernel: every operation is done through ipvs-core,
//! read back through ipvs-core and through the real ipvsadm in the same lab, and
//! the two readings are compared (ipvs-core's reading is rendered in
//! `ipvsadm -Sn` syntax by [`render_save`]).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ipvs_core::*;
use ipvs_lab::{lab_test, must, run, sh, TcpServer, Topology};

fn handle() -> Handle {
    Handle::new().expect("IPVS handle in the lab")
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address literal")
}

/// `ipvsadm -Sn`, sorted.
fn ipvsadm_save() -> Vec<String> {
    let mut lines: Vec<String> = must("ipvsadm -Sn")
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

fn key_arg(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, addr } => {
            let flag = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
                other => panic!("no ipvsadm switch for {other}"),
            };
            format!("{flag} {addr}")
        }
        ServiceKey::FwMark {
            mark,
            family: AddressFamily::Inet,
        } => format!("-f {mark}"),
        ServiceKey::FwMark {
            mark,
            family: AddressFamily::Inet6,
        } => format!("-f {mark} -6"),
        ServiceKey::FwMark { family, .. } => panic!("no ipvsadm switch for family {family}"),
    }
}

/// ipvs-core's view of the table, written the way `ipvsadm -Sn` writes it.
fn render_save(h: &mut Handle) -> Vec<String> {
    let mut lines = Vec::new();
    for svc in h.services().expect("services") {
        let mut l = format!("-A {} -s {}", key_arg(&svc.key), svc.scheduler);
        if svc.flags.contains(ServiceFlags::PERSISTENT) {
            l += &format!(" -p {}", svc.timeout);
            if svc.netmask != Netmask::host(svc.key.family()) {
                l += &format!(" -M {}", svc.netmask);
            }
        }
        if let Some(pe) = &svc.pe_name {
            l += &format!(" --pe {pe}");
        }
        if svc.flags.contains(ServiceFlags::ONEPACKET) {
            l += " -o";
        }
        let sched_flags = svc.flags.sched_flag_names(&svc.scheduler);
        if !sched_flags.is_empty() {
            l += &format!(" -b {}", sched_flags.join(","));
        }
        lines.push(l);
        for d in h.destinations(&svc.key).expect("destinations") {
            let fwd = match d.forward {
                ForwardMethod::Masquerade => "-m",
                ForwardMethod::DirectRoute => "-g",
                ForwardMethod::Tunnel => "-i",
                ForwardMethod::Local => "-m",
                ForwardMethod::Bypass => "-b?",
                other => panic!("no ipvsadm switch for {other}"),
            };
            let mut l = format!(
                "-a {} -r {} {fwd} -w {}",
                key_arg(&svc.key),
                d.socket_addr(),
                d.weight
            );
            if d.forward == ForwardMethod::Tunnel {
                let t = match d.tunnel_type {
                    TunnelType::Ipip => "ipip",
                    TunnelType::Gue => "gue",
                    TunnelType::Gre => "gre",
                    other => panic!("no ipvsadm name for {other:?}"),
                };
                l += &format!(" --tun-type {t}");
                if d.tunnel_type == TunnelType::Gue {
                    l += &format!(" --tun-port {}", d.tunnel_port);
                }
                if d.tunnel_type != TunnelType::Ipip {
                    match d.tunnel_checksum {
                        TunnelChecksum::NoCsum => l += " --tun-nocsum",
                        TunnelChecksum::Csum => l += " --tun-csum",
                        TunnelChecksum::RemCsum => l += " --tun-remcsum",
                        other => l += &format!(" --tun-flags?{}", other.to_raw()),
                    }
                }
            }
            lines.push(l);
        }
    }
    lines.sort();
    lines
}

/// ipvs-core and ipvsadm read the same table.
#[track_caller]
fn assert_agree(h: &mut Handle) {
    assert_eq!(
        render_save(h),
        ipvsadm_save(),
        "ipvs-core (left) and ipvsadm -Sn (right) disagree"
    );
}

#[track_caller]
fn assert_save(expected: &[&str]) {
    let mut e: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    e.sort();
    assert_eq!(ipvsadm_save(), e);
}

/// The settable part of a service, to compare what was written with what is
/// read: the config-only view (no counters, no kernel-set HASHED flag).
#[track_caller]
fn assert_same_settings(read: &Service, written: &Service) {
    assert_eq!(read.spec(), written.spec());
}

/// The settable part of a destination (no connection counts, no counters).
#[track_caller]
fn assert_same_dest(read: &Destination, written: &Destination) {
    assert_eq!(read.spec(), written.spec());
}

/// The five cumulative counters in `ipvsadm -Ln --stats --exact` column order.
fn counters(s: &Stats) -> Vec<u64> {
    vec![s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
}

/// The counters of the first line of `ipvsadm -Ln --stats --exact` output
/// containing `needle` ("TCP  VIP:PORT " for a service, "-> RIP:PORT " for a
/// destination): the columns after the first two (protocol or arrow, address).
#[track_caller]
fn exact_counters(exact: &str, needle: &str) -> Vec<u64> {
    let line = exact
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} in {exact}"));
    line.split_whitespace()
        .skip(2)
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("counter {v:?} in {line:?}"))
        })
        .collect()
}

/// An ipvs-core example binary (`cargo build -p ipvs-core --examples`, which
/// `cargo test --workspace` also does), beside the running test binary.
fn example(name: &str) -> String {
    let exe = std::env::current_exe().expect("the running test binary has a path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build -p ipvs-core --examples`",
        path.display()
    );
    path.display().to_string()
}

/// The service's counters once traffic is over: the kernel folds per-CPU
/// counters in every 2 s, so wait until two readings an estimator period apart agree.
fn settled_stats(h: &mut Handle, key: &ServiceKey) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = h.service(key).expect("service").stats;
    loop {
        std::thread::sleep(Duration::from_millis(2100));
        let now = h.service(key).expect("service").stats;
        let counters = |s: &Stats| (s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes);
        if counters(&now) == counters(&last) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

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

    /// Every error a user can hit comes back typed, and ipvsadm agrees it is an error.
    fn typed_errors() {
        let mut h = handle();
        let key = ServiceKey::tcp(sa("192.0.2.1:80"));
        let missing = ServiceKey::tcp(sa("192.0.2.77:80"));
        let d = Destination::new(sa("198.51.100.2:80"), ForwardMethod::DirectRoute);
        h.add_service(&Service::new(key, Scheduler::Rr)).unwrap();
        h.add_destination(&key, &d).unwrap();
        let e = |r: Result<()>| r.expect_err("must fail");
        assert!(matches!(e(h.add_service(&Service::new(key, Scheduler::Rr))), Error::ServiceExists));
        assert!(sh("ipvsadm -A -t 192.0.2.1:80 -s rr").stderr.contains("Service already exists"));
        assert!(matches!(h.service(&missing), Err(Error::NoSuchService)));
        assert!(matches!(e(h.edit_service(&Service::new(missing, Scheduler::Rr))), Error::NoSuchService));
        assert!(matches!(e(h.delete_service(&missing)), Error::NoSuchService));
        assert!(sh("ipvsadm -D -t 192.0.2.77:80").stderr.contains("No such service"));
        assert!(matches!(h.destinations(&missing), Err(Error::NoSuchService)));
        assert!(matches!(e(h.zero(Some(&missing))), Error::NoSuchService));
        assert!(matches!(e(h.add_destination(&missing, &d)), Error::NoSuchService));
        assert!(matches!(e(h.add_destination(&key, &d)), Error::DestinationExists));
        assert!(sh("ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -g").stderr.contains("Destination already exists"));
        let nod = Destination::new(sa("198.51.100.99:80"), ForwardMethod::DirectRoute);
        assert!(matches!(e(h.edit_destination(&key, &nod)), Error::NoSuchDestination));
        assert!(matches!(e(h.delete_destination(&key, nod.socket_addr())), Error::NoSuchDestination));
        assert!(sh("ipvsadm -d -t 192.0.2.1:80 -r 198.51.100.99:80").stderr.contains("No such destination"));
        match e(h.add_service(&Service::new(ServiceKey::tcp(sa("192.0.2.1:81")), Scheduler::from("nosuch")))) {
            Error::SchedulerNotFound { name } => assert_eq!(name, "nosuch"),
            other => panic!("{other}"),
        }
        let mut bad_pe = Service::new(ServiceKey::udp(sa("192.0.2.1:5060")), Scheduler::Rr).persistent(10);
        bad_pe.pe_name = Some("nope".into());
        assert!(matches!(e(h.add_service(&bad_pe)), Error::SchedulerNotFound { .. }));
        // Bad netmasks: the family mismatch is caught before sending; an IPv6
        // prefix of 0 is refused by the kernel (ipvsadm refuses it too).
        let mut wrong_family = Service::new(ServiceKey::tcp(sa("192.0.2.1:82")), Scheduler::Rr).persistent(10);
        wrong_family.netmask = Netmask::V6(64);
        match e(h.add_service(&wrong_family)) {
            Error::InvalidArgument { what, errno } => assert!(errno.is_none() && what.contains("netmask"), "{what} {errno:?}"),
            other => panic!("{other}"),
        }
        let mut plen0 = Service::new(ServiceKey::tcp(sa("[2001:db8::1]:80")), Scheduler::Rr).persistent(10);
        plen0.netmask = Netmask::V6(0);
        match e(h.add_service(&plen0)) {
            Error::InvalidArgument { what, errno } => assert!(errno == Some(libc::EINVAL) && what.contains("netmask 0"), "{what} {errno:?}"),
            other => panic!("{other}"),
        }
        assert!(!sh("ipvsadm -A -t [2001:db8::1]:80 -s rr -p 10 -M 0").success());
        // Thresholds the kernel refuses (lower above upper) name the destination.
        let mut thr = Destination::new(sa("198.51.100.3:80"), ForwardMethod::DirectRoute);
        thr.upper_threshold = 5;
        thr.lower_threshold = 10;
        match e(h.add_destination(&key, &thr)) {
            Error::InvalidArgument { what, errno } => assert!(errno == Some(libc::ERANGE) && what.contains("198.51.100.3:80"), "{what} {errno:?}"),
            other => panic!("{other}"),
        }
        // A destination of another family is only valid for tunnelling.
        let mixed = Destination::new(sa("[2001:db8::5]:80"), ForwardMethod::Masquerade);
        match e(h.add_destination(&key, &mixed)) {
            Error::InvalidArgument { what, errno } => assert!(errno == Some(libc::EINVAL) && what.contains("[2001:db8::5]:80"), "{what} {errno:?}"),
            other => panic!("{other}"),
        }
        // GUE needs a tunnel port.
        let mut gue = Destination::new(sa("198.51.100.4:80"), ForwardMethod::Tunnel);
        gue.tunnel_type = TunnelType::Gue;
        assert!(matches!(e(h.add_destination(&key, &gue)), Error::InvalidArgument { .. }));
        match e(h.add_service(&Service::new(ServiceKey::fwmark(0, AddressFamily::Inet), Scheduler::Rr))) {
            Error::InvalidArgument { what, errno } => assert!(errno.is_none() && what.contains("mark"), "{what} {errno:?}"),
            other => panic!("{other}"),
        }
        match e(h.start_daemon(&SyncDaemon::new(DaemonState::Master, "nosuchif0", 1))) {
            Error::InvalidArgument { what, errno } => assert!(errno == Some(libc::ENODEV) && what.contains("nosuchif0"), "{what} {errno:?}"),
            other => panic!("{other}"),
        }
        // Nothing half-applied: the table is what it was.
        assert_eq!(ipvsadm_save(), vec!["-A -t 192.0.2.1:80 -s rr".to_string(), "-a -t 192.0.2.1:80 -r 198.51.100.2:80 -g -w 1".to_string()]);
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

    /// Without CAP_NET_ADMIN every IPVS command is refused with PermissionDenied.
    fn permission_denied_without_cap_net_admin() {
        // Capabilities are per thread: drop CAP_NET_ADMIN on a fresh thread only
        // (it inherits this thread's network namespace).
        let r = std::thread::spawn(|| {
            drop_cap_net_admin();
            let mut h = Handle::new().expect("family lookup needs no capability");
            (h.services().map(|_| ()), h.add_service(&Service::new(ServiceKey::tcp(sa("192.0.2.1:80")), Scheduler::Rr)))
        })
        .join()
        .expect("thread");
        assert!(matches!(r.0, Err(Error::PermissionDenied)), "{:?}", r.0);
        assert!(matches!(r.1, Err(Error::PermissionDenied)), "{:?}", r.1);
        assert!(r.1.unwrap_err().to_string().contains("CAP_NET_ADMIN"));
        assert!(ipvsadm_save().is_empty());
    }

    /// A batch sends many requests in one sendmsg and reports each item: good ones
    /// are applied, failing ones say why, in order.
    fn batch_reports_each_item() {
        let mut h = handle();
        let mut b = h.batch();
        for i in 0..150u16 {
            let key = ServiceKey::tcp(SocketAddr::new("192.0.2.1".parse().unwrap(), 1000 + i));
            b.push(Request::AddService(Service::new(key, Scheduler::Rr)));
            b.push(Request::AddDestination(key, Destination::new(sa("198.51.100.2:80"), ForwardMethod::DirectRoute)));
        }
        // Three bad items among them.
        b.push(Request::AddService(Service::new(ServiceKey::tcp(sa("192.0.2.1:1000")), Scheduler::Rr)));
        b.push(Request::DeleteService(ServiceKey::tcp(sa("192.0.2.9:9"))));
        b.push(Request::AddService(Service::new(ServiceKey::fwmark(0, AddressFamily::Inet), Scheduler::Rr)));
        b.push(Request::SetTimeouts(Timeouts::new(901, 0, 0)));
        assert_eq!(b.len(), 304);
        let report = b.execute();
        assert!(report.aborted.is_none(), "{:?}", report.aborted);
        assert_eq!(report.items.len(), 304);
        let failed: Vec<usize> = report.failures().map(|(i, _)| i).collect();
        assert_eq!(failed, vec![300, 301, 302]);
        assert!(matches!(report.items[300].result, Err(Error::ServiceExists)));
        assert!(matches!(report.items[301].result, Err(Error::NoSuchService)));
        assert!(matches!(report.items[302].result, Err(Error::InvalidArgument { .. })));
        assert!(report.items[303].result.is_ok());
        assert_eq!(h.services().unwrap().len(), 150);
        assert_eq!(ipvsadm_save().len(), 300);
        assert_eq!(h.timeouts().unwrap().tcp, 901);
        assert_agree(&mut h);
    }

    /// A receive queue that overflows (ENOBUFS) is an error, never a short answer;
    /// afterwards the handle works again.
    fn receive_overflow_is_an_error() {
        let mut h = handle();
        h.set_receive_buffer(0).unwrap(); // the kernel raises it to its minimum
        let mut b = h.batch();
        for i in 0..120u16 {
            b.push(Request::AddService(Service::new(ServiceKey::tcp(SocketAddr::new("192.0.2.1".parse().unwrap(), 4000 + i)), Scheduler::Rr)));
        }
        // The report keeps what was acknowledged before the overflow and
        // claims nothing for the requests whose ACKs were lost.
        let report = b.execute();
        match &report.aborted {
            Some(Error::BufferOverflow(why)) => assert!(why.contains("ENOBUFS"), "{why}"),
            other => panic!("expected BufferOverflow, got {other:?}"),
        }
        assert!(!report.is_ok());
        assert_eq!(report.items.len(), 120);
        assert!(report.items.iter().any(|i| matches!(i.result, Err(Error::Unacknowledged))));
        assert!(report.items.iter().all(|i| matches!(i.result, Ok(()) | Err(Error::Unacknowledged | Error::NotSent))));
        // The kernel applied the requests; only their ACKs were lost. Dumps are
        // flow-controlled by the kernel and complete even with the small buffer.
        assert_eq!(h.services().unwrap().len(), 120);
        h.set_receive_buffer(1 << 20).unwrap();
        h.delete_service(&ServiceKey::tcp(sa("192.0.2.1:4000"))).unwrap();
        assert_eq!(h.services().unwrap().len(), 119);
        assert_eq!(ipvsadm_save().len(), 119);
    }

    /// Streaming dumps yield the same as the collected ones over a table larger than
    /// one netlink datagram; an abandoned stream leaves the handle usable.
    fn streaming_dumps() {
        let mut h = handle();
        let mut b = h.batch();
        for i in 0..400u16 {
            b.push(Request::AddService(Service::new(ServiceKey::udp(SocketAddr::new("192.0.2.1".parse().unwrap(), 2000 + i)), Scheduler::Wrr)));
        }
        let key = ServiceKey::udp(sa("192.0.2.1:2000"));
        for i in 0..300u16 {
            b.push(Request::AddDestination(key, Destination::new(SocketAddr::new("198.51.100.2".parse().unwrap(), 3000 + i), ForwardMethod::Masquerade)));
        }
        assert!(b.execute().is_ok());
        let all = h.services().unwrap();
        let streamed: Vec<Service> = h.services_iter().unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(all.len(), 400);
        assert_eq!(streamed, all);
        let dests: Vec<Destination> = h.destinations_iter(&key).unwrap().map(|r| r.unwrap()).collect();
        assert_eq!(dests, h.destinations(&key).unwrap());
        assert_eq!(dests.len(), 300);
        {
            let mut it = h.services_iter().unwrap();
            assert!(it.next().is_some());
        }
        assert_eq!(h.services().unwrap().len(), 400);
        assert_eq!(ipvsadm_save().len(), 700);
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

    /// `destinations()` and `destinations_iter()` agree on a missing service
    /// (NoSuchService, as `ipvsadm -L` of it fails), on a service without
    /// destinations (empty) and on one with destinations (the same list).
    fn destinations_and_stream_agree_on_missing_and_empty_services() {
        let mut h = handle();
        let collect = |h: &mut Handle, key: &ServiceKey| h.destinations_iter(key).unwrap().collect::<Result<Vec<_>>>();
        for missing in [ServiceKey::tcp(sa("192.0.2.9:80")), ServiceKey::fwmark(9, AddressFamily::Inet6)] {
            assert!(matches!(h.destinations(&missing), Err(Error::NoSuchService)), "{missing}");
            let streamed = collect(&mut h, &missing);
            assert!(matches!(streamed, Err(Error::NoSuchService)), "{missing}: {streamed:?}");
            // The error ends the stream: nothing follows it.
            let mut it = h.destinations_iter(&missing).unwrap();
            assert!(matches!(it.next(), Some(Err(Error::NoSuchService))));
            assert!(it.next().is_none());
            drop(it);
            let listed = sh(&format!("ipvsadm -Ln {}", key_arg(&missing)));
            assert_ne!(listed.status, 0, "ipvsadm lists a missing service: {listed}");
        }
        let empty = ServiceKey::tcp(sa("192.0.2.9:80"));
        h.add_service(&Service::new(empty, Scheduler::Rr)).unwrap();
        assert_eq!(h.destinations(&empty).unwrap(), vec![]);
        assert_eq!(collect(&mut h, &empty).unwrap(), vec![]);
        let listed = must(&format!("ipvsadm -Ln {}", key_arg(&empty))).stdout;
        assert!(!listed.contains("->  "), "ipvsadm shows destinations: {listed}");
        h.add_destination(&empty, &Destination::new(sa("198.51.100.2:80"), ForwardMethod::Masquerade)).unwrap();
        let dests = h.destinations(&empty).unwrap();
        assert_eq!(dests.len(), 1);
        assert_eq!(collect(&mut h, &empty).unwrap(), dests);
        // The handle stays usable after every stream above.
        assert_eq!(h.services().unwrap().len(), 1);
        assert_eq!(render_save(&mut h), ipvsadm_save());
    }
}

/// Stops every sync daemon of the calling thread's namespace when dropped, also
/// when a test panics: a namespace torn down with a running daemon can hang the
/// lab kernel.
struct StopDaemonsOnDrop;

impl Drop for StopDaemonsOnDrop {
    fn drop(&mut self) {
        if let Ok(mut h) = Handle::new() {
            if h.daemons().is_ok_and(|d| !d.is_empty()) {
                // A sync thread stopped right after its start can block the kernel.
                std::thread::sleep(Duration::from_secs(2));
                for state in [DaemonState::Master, DaemonState::Backup] {
                    let _ = h.stop_daemon(state);
                }
            }
        }
    }
}

/// Drop CAP_NET_ADMIN from the calling thread's effective set.
fn drop_cap_net_admin() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_ADMIN: u32 = 12;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data structs, as the ABI requires.
    unsafe {
        assert_eq!(
            libc::syscall(
                libc::SYS_capget,
                &mut header as *mut Header,
                data.as_mut_ptr()
            ),
            0
        );
        data[0].effective &= !(1 << CAP_NET_ADMIN);
        assert_eq!(
            libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()),
            0
        );
    }
}

/// On a host without IPVS (development machines and CI), the handle says so.
#[test]
fn ipvs_unavailable_on_a_host_without_ipvs() {
    if std::path::Path::new("/proc/net/ip_vs").exists()
        || std::env::var_os(ipvs_lab::INSIDE_ENV).is_some()
    {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED core::ipvs_unavailable_on_a_host_without_ipvs: this kernel has IPVS"
        );
        return;
    }
    match Handle::new() {
        Err(Error::IpvsUnavailable { reason }) => assert!(reason.contains("IPVS"), "{reason}"),
        other => panic!("expected IpvsUnavailable, got {other:?}"),
    }
    let msg = Handle::new().unwrap_err().to_string();
    assert!(msg.contains("modprobe ip_vs"), "{msg}");
}
