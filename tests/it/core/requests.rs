//! Typed errors, permissions, batches, overflow and streaming dumps.

use super::*;

lab_test! {
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
