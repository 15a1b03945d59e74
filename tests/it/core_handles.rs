//! The async handle and handles opened in other network namespaces, exercised
//! in the lab by the scenarios the blocking handle's tests use (add, list,
//! batch, dumps, errors), and the table snapshot read while another program
//! changes the table.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::core::{example, ipvsadm_save, sa, sorted};
use ipvs_core::*;
use ipvs_lab::{lab_test, must, run, workspace_bin, Netns as LabNetns};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime")
}

/// The identity of the calling thread's network namespace.
fn current_netns() -> String {
    std::fs::read_link("/proc/thread-self/ns/net")
        .expect("own netns link")
        .display()
        .to_string()
}

/// What the async handle is asked in each scenario, the blocking handle and
/// the real ipvsadm must agree with.
async fn async_scenarios(ipvs: &mut AsyncHandle) {
    let web = ServiceKey::tcp(sa("192.0.2.1:80"));
    // Add and list.
    ipvs.add_service(&Service::new(web, Scheduler::Wrr).persistent(300))
        .await
        .expect("add service");
    let dest = Destination::new(sa("198.51.100.2:8080"), ForwardMethod::Masquerade)
        .weight(3)
        .thresholds(100, 10);
    ipvs.add_destination(&web, &dest)
        .await
        .expect("add destination");
    let svc = ipvs.service(&web).await.expect("service");
    assert_eq!(
        svc.spec(),
        Service::new(web, Scheduler::Wrr).persistent(300).spec()
    );
    let dests = ipvs.destinations(&web).await.expect("destinations");
    assert_eq!(
        dests.iter().map(Destination::spec).collect::<Vec<_>>(),
        vec![dest.spec()]
    );
    // Edit in place.
    ipvs.edit_destination(&web, &dest.clone().weight(7))
        .await
        .expect("edit destination");
    assert_eq!(
        ipvs.destinations(&web).await.expect("destinations")[0].weight,
        7
    );
    // Typed errors.
    assert!(matches!(
        ipvs.add_service(&Service::new(web, Scheduler::Rr)).await,
        Err(Error::ServiceExists)
    ));
    let missing = ServiceKey::tcp(sa("192.0.2.99:9"));
    assert!(matches!(
        ipvs.service(&missing).await,
        Err(Error::NoSuchService)
    ));
    assert!(matches!(
        ipvs.destinations(&missing).await,
        Err(Error::NoSuchService)
    ));
    let odd = ServiceKey::tcp(sa("192.0.2.98:1"));
    assert!(matches!(
        ipvs.add_service(&Service::new(odd, Scheduler::from("nonesuch")))
            .await,
        Err(Error::SchedulerNotFound { .. })
    ));
    assert_eq!(Error::NoSuchService.raw_os_error(), Some(libc::ESRCH));
    // A batch larger than one chunk, with bad items among good ones.
    let mut requests = Vec::new();
    for i in 0..300u16 {
        let key = ServiceKey::udp(SocketAddr::new("192.0.2.2".parse().expect("ip"), 1000 + i));
        requests.push(Request::AddService(Service::new(key, Scheduler::Rr)));
    }
    requests.push(Request::AddService(Service::new(web, Scheduler::Rr)));
    requests.push(Request::DeleteService(missing));
    requests.push(Request::AddService(Service::new(
        ServiceKey::fwmark(0, AddressFamily::Inet),
        Scheduler::Rr,
    )));
    let report = ipvs.batch(requests).await;
    assert!(report.aborted.is_none());
    assert_eq!(report.items.len(), 303);
    let failed: Vec<usize> = report.failures().map(|(i, _)| i).collect();
    assert_eq!(failed, vec![300, 301, 302]);
    assert!(matches!(
        report.items[300].result,
        Err(Error::ServiceExists)
    ));
    assert!(matches!(
        report.items[301].result,
        Err(Error::NoSuchService)
    ));
    assert!(matches!(
        report.items[302].result,
        Err(Error::InvalidArgument { errno: None, .. })
    ));
    // Dumps over many datagrams: 301 services.
    assert_eq!(ipvs.services().await.expect("services").len(), 301);
    let table = ipvs.table().await.expect("table");
    assert_eq!(table.len(), 301);
    assert_eq!(table.get(&web).expect("web in table").destinations.len(), 1);
    // Timeouts, info, daemons.
    ipvs.set_timeouts(&Timeouts::new(901, 0, 0))
        .await
        .expect("set timeouts");
    assert_eq!(ipvs.timeouts().await.expect("timeouts").tcp, 901);
    assert!(ipvs.info().await.expect("info").conn_table_size > 0);
    assert!(ipvs.daemons().await.expect("daemons").is_empty());
    // Delete.
    ipvs.delete_destination(&web, dest.socket_addr())
        .await
        .expect("delete destination");
    ipvs.delete_service(&web).await.expect("delete service");
    assert!(matches!(
        ipvs.delete_service(&web).await,
        Err(Error::NoSuchService)
    ));
}

lab_test! {
    /// The async handle does what the blocking one does: add, edit, list,
    /// batch with per-item errors, multi-datagram dumps, table, timeouts,
    /// typed errors. Its view agrees with the blocking handle's and with the
    /// real ipvsadm's.
    fn async_handle_does_what_the_blocking_one_does() {
        runtime().block_on(async {
            let mut ipvs = AsyncHandle::new().await.expect("async handle");
            async_scenarios(&mut ipvs).await;
            let mut blocking = Handle::new().expect("handle");
            assert_eq!(ipvs.table().await.expect("async table"), blocking.table().expect("table"));
        });
        assert_eq!(ipvsadm_save().len(), 300);
    }

    /// A handle opened in another namespace (by name, by path, by descriptor;
    /// blocking and async) programs that namespace's table and leaves the
    /// caller's thread, and its table, where they were.
    fn handles_in_another_netns_program_only_that_netns() {
        let other = LabNetns::new("director");
        let before = current_netns();
        let path = format!("/run/netns/{}", other.name());
        let by_fd: OwnedFd = std::fs::File::open(&path).expect("netns file").into();
        let cases: Vec<(&str, Netns, u16)> = vec![
            ("named", Netns::named(other.name()), 80),
            ("path", Netns::path(&path), 81),
            ("fd", Netns::Fd(by_fd), 82),
        ];
        for (how, netns, port) in &cases {
            let mut h = Handle::in_netns(netns).unwrap_or_else(|e| panic!("{how}: {e}"));
            h.add_service(&Service::new(ServiceKey::tcp(SocketAddr::new("192.0.2.1".parse().expect("ip"), *port)), Scheduler::Rr))
                .unwrap_or_else(|e| panic!("{how}: {e}"));
            assert_eq!(current_netns(), before, "{how}: the caller's thread moved");
        }
        runtime().block_on(async {
            let mut a = AsyncHandle::in_netns(&Netns::named(other.name())).await.expect("async in netns");
            a.add_service(&Service::new(ServiceKey::tcp(sa("192.0.2.1:83")), Scheduler::Rr))
                .await
                .expect("async add in netns");
            assert_eq!(a.services().await.expect("services").len(), 4);
        });
        assert_eq!(current_netns(), before);
        let theirs = sorted(&other.must("ipvsadm -Sn").stdout);
        assert_eq!(
            theirs,
            (80..=83).map(|p| format!("-A -t 192.0.2.1:{p} -s rr")).collect::<Vec<_>>()
        );
        assert!(ipvsadm_save().is_empty(), "the caller's namespace was changed");
        assert!(Handle::new().expect("handle").services().expect("services").is_empty());
        // A namespace that does not exist is an error naming it.
        match Handle::in_netns(&Netns::named("no-such-netns")) {
            Err(Error::Io(e)) => assert!(e.to_string().contains("/run/netns/no-such-netns"), "{e}"),
            other => panic!("expected an I/O error naming the namespace, got {other:?}"),
        }
    }

    /// While another program adds and deletes services (with destinations),
    /// the table snapshot never fails and never shows a destination under the
    /// wrong service; ipvsadm-rs -Ln, -Sn and --json exit 0 every time, as the
    /// real ipvsadm does (issue: listings failed 45 of 60 times with "No such
    /// service" before the snapshot moved into the library).
    fn table_and_listings_survive_a_churning_writer() {
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            // A thread spawned here shares this test's namespace.
            std::thread::spawn(move || {
                let mut h = Handle::new().expect("writer handle");
                let mut rounds = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..20u16 {
                        let key = ServiceKey::tcp(SocketAddr::new("192.0.2.7".parse().expect("ip"), 2000 + i));
                        h.add_service(&Service::new(key, Scheduler::Rr)).expect("churn add");
                        for d in 0..3u16 {
                            let dest = Destination::new(SocketAddr::new("198.51.100.7".parse().expect("ip"), 2000 + i * 10 + d), ForwardMethod::Masquerade);
                            h.add_destination(&key, &dest).expect("churn add dest");
                        }
                    }
                    for i in 0..20u16 {
                        let key = ServiceKey::tcp(SocketAddr::new("192.0.2.7".parse().expect("ip"), 2000 + i));
                        h.delete_service(&key).expect("churn delete");
                    }
                    rounds += 1;
                }
                rounds
            })
        };
        // A stable service the listings must always show whole.
        must("ipvsadm -A -t 192.0.2.1:80 -s rr && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.1:80 -m");
        let mut h = Handle::new().expect("reader handle");
        for _ in 0..60 {
            let table = h.table().expect("table under churn");
            let stable = table.get(&ServiceKey::tcp(sa("192.0.2.1:80"))).expect("stable service listed");
            assert_eq!(stable.destinations.len(), 1);
            for entry in &table.entries {
                if let ServiceKey::Addr { addr, .. } = entry.service.key {
                    for d in &entry.destinations {
                        // Churned destinations are numbered after their service.
                        if addr.ip() == "192.0.2.7".parse::<std::net::IpAddr>().expect("ip") {
                            assert_eq!((d.port - 2000) / 10, addr.port() - 2000, "{d:?} under {addr}");
                        }
                    }
                }
            }
        }
        let cli = workspace_bin("ipvsadm-rs").display().to_string();
        let mut failures = Vec::new();
        let listings: [(&[&str], &str); 3] = [
            (&["-Ln"], "TCP  192.0.2.1:80 rr"),
            (&["-Sn"], "-A -t 192.0.2.1:80 -s rr"),
            (&["-Ln", "--json"], "198.51.100.1"),
        ];
        for (args, needle) in listings {
            for _ in 0..20 {
                let mut argv = vec![cli.as_str()];
                argv.extend_from_slice(args);
                let out = run(&argv);
                if !out.success() || !out.stdout.contains(needle) {
                    failures.push(format!("{argv:?}: {out}"));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let rounds = writer.join().expect("writer");
        assert!(rounds > 0, "the writer never completed a round");
        assert!(failures.is_empty(), "{} of 60 listings failed under churn:\n{}", failures.len(), failures.join("\n"));
    }

    /// The examples of the API guide run as documented: the async handle and a
    /// namespace handle read a table set by the real ipvsadm in another
    /// namespace, and the config-only comparison reports exactly the
    /// differences (not the counters, not the HASHED flag).
    fn examples_async_netns_and_desired_state() {
        let other = LabNetns::new("exnet");
        other.must("ipvsadm -A -t 192.0.2.1:80 -s wrr && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 2");
        let out = run(&[&example("netns_services"), other.name()]);
        assert_eq!((out.status, out.stdout.as_str()), (0, "TCP 192.0.2.1:80 wrr\n"), "{out}");
        let out = run(&[&example("netns_services"), "no-such-netns"]);
        assert_eq!(out.status, 1, "{out}");
        assert!(out.stderr.contains("/run/netns/no-such-netns"), "{out}");
        let out = run(&[&example("async_table"), other.name()]);
        assert_eq!(out.status, 0, "{out}");
        let table: Table = serde_json::from_str(&out.stdout).expect("the example prints a Table");
        let entry = table.get(&ServiceKey::tcp(sa("192.0.2.1:80"))).expect("the service");
        assert_eq!(entry.destinations.iter().map(|d| (d.socket_addr(), d.weight)).collect::<Vec<_>>(), vec![(sa("198.51.100.2:80"), 2)]);
        // In this test's own namespace: the same table set by ipvsadm, then
        // compared with desired states through the config-only view.
        must("ipvsadm -A -t 192.0.2.1:80 -s wrr && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 2");
        let desired = example("desired_state");
        let out = run(&[&desired, "192.0.2.1:80", "wrr", "198.51.100.2:80=2"]);
        assert_eq!((out.status, out.stdout.as_str()), (0, "in line: nothing to change\n"), "{out}");
        let out = run(&[&desired, "192.0.2.1:80", "wrr", "198.51.100.2:80=5", "198.51.100.3:80=1"]);
        assert_eq!(out.status, 1, "{out}");
        assert_eq!(out.stdout, "edit destination 198.51.100.2:80: weight 2 -> 5\nadd destination 198.51.100.3:80\n");
        let out = run(&[&desired, "192.0.2.1:80", "rr"]);
        assert_eq!(out.status, 1, "{out}");
        assert!(out.stdout.starts_with("edit service TCP 192.0.2.1:80"), "{out}");
        assert!(out.stdout.ends_with("delete destination 198.51.100.2:80\n"), "{out}");
    }
}
