//! Declarative apply against the real kernel, judged by the real ipvsadm:
//! idempotence, a 1% change that sends only the changed objects, scope that
//! keeps other programs' services, all-or-nothing rollback on a kernel
//! refusal, and graceful draining under a live TCP connection.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::core::{ipvsadm_save, sa};
use ipvs_core::apply::{ApplyMode, ApplyOptions, Change, Scope, Syncer, TableSpec};
use ipvs_core::*;
use ipvs_lab::{lab_test, must, TcpServer, Topology};

/// `n` TCP services on 192.0.2.1 ports 1000 + i, `per` destinations each on
/// 198.51.100.2 ports 2000 + 10 i + d.
fn table(n: u16, per: u16) -> TableSpec {
    let mut t = TableSpec::new();
    for i in 0..n {
        let key = ServiceKey::tcp(SocketAddr::new("192.0.2.1".parse().expect("ip"), 1000 + i));
        let dests = (0..per)
            .map(|d| {
                Destination::new(
                    SocketAddr::new("198.51.100.2".parse().expect("ip"), 2000 + 10 * i + d),
                    ForwardMethod::Masquerade,
                )
                .weight(1 + u32::from(d))
                .spec()
            })
            .collect();
        t.push(Service::new(key, Scheduler::Wrr).spec(), dests);
    }
    t
}

fn in_doc_net() -> Scope {
    Scope::new().cidr("192.0.2.0".parse().expect("ip"), 24)
}

lab_test! {
    /// Applying a table twice sends nothing the second time; a 1% change
    /// (an edited scheduler, an added and a removed service, a moved
    /// destination, a new weight) plans exactly those changes and leaves the
    /// table equal to the desired one, as the real ipvsadm reads it.
    fn apply_is_idempotent_and_a_small_change_sends_only_itself() {
        let mut h = Handle::new().expect("handle");
        let options = ApplyOptions::new(in_doc_net());
        let mut desired = table(100, 3);
        let first = h.apply(&desired, &options).expect("first apply");
        assert!(first.is_ok(), "{:?}", first.outcome);
        assert_eq!(first.plan.changes.len(), 400);
        assert_eq!(ipvsadm_save().len(), 400);
        let again = h.apply(&desired, &options).expect("second apply");
        assert!(again.plan.is_empty(), "{}", again.plan);
        assert!(again.outcome.is_none(), "the second apply sent something");
        // The 1% change (entries after the removed one shift down by one:
        // entries[9] is port 1010).
        desired.entries[5].service.scheduler = Scheduler::Wlc;
        desired.entries.remove(7);
        desired.push(Service::new(ServiceKey::tcp(sa("192.0.2.1:3000")), Scheduler::Rr).spec(), vec![]);
        let moved = desired.entries[9].destinations.remove(0);
        desired.entries[10].destinations.push(Destination::from(moved).weight(1).spec());
        desired.entries[11].destinations[1].weight = 42;
        let report = h.apply(&desired, &options).expect("small change");
        assert!(report.is_ok());
        let lines: Vec<String> = report.plan.changes.iter().map(|c| c.to_string()).collect();
        assert_eq!(
            lines,
            [
                "edit service TCP 192.0.2.1:1005: scheduler wrr -> wlc",
                "add service TCP 192.0.2.1:3000 rr",
                "add destination TCP 192.0.2.1:1011 -> 198.51.100.2:2100 masquerade weight 1",
                "edit destination TCP 192.0.2.1:1012 -> 198.51.100.2:2121: weight 2 -> 42",
                "delete destination TCP 192.0.2.1:1010 -> 198.51.100.2:2100",
                "delete service TCP 192.0.2.1:1007 (3 destinations)",
            ],
            "plan:\n{}",
            report.plan
        );
        // Exactly what the desired table says, as ipvsadm sees it.
        let mut expected = Vec::new();
        for e in &desired.entries {
            let vip = match e.service.key {
                ServiceKey::Addr { addr, .. } => addr,
                other => panic!("{other}"),
            };
            expected.push(format!("-A -t {vip} -s {}", e.service.scheduler));
            for d in &e.destinations {
                expected.push(format!("-a -t {vip} -r {} -m -w {}", d.socket_addr(), d.weight));
            }
        }
        expected.sort();
        assert_eq!(ipvsadm_save(), expected);
        // And the desired table read back plans nothing.
        assert!(h.apply(&desired, &options).expect("third apply").plan.is_empty());
        // The same kind of change through apply_delta, which reads only the
        // services whose desired entry changed, plans the same changes.
        let previous = desired.clone();
        desired.entries[20].service.scheduler = Scheduler::Sh;
        desired.entries[21].destinations[2].weight = 0;
        desired.entries.remove(22);
        let full = h.apply(&desired, &options.clone().dry_run(true)).expect("dry run");
        let delta = h.apply_delta(&previous, &desired, &options).expect("delta");
        assert!(delta.is_ok());
        assert_eq!(delta.plan.changes, full.plan.changes);
        assert_eq!(delta.plan.changes.len(), 3, "{}", delta.plan);
        assert!(h.apply(&desired, &options).expect("after delta").plan.is_empty());
    }

    /// Services of other programs (created with the real ipvsadm, as
    /// keepalived or kube-proxy would) survive an apply outside their scope,
    /// even an apply of an empty table.
    fn services_outside_the_scope_survive() {
        must("ipvsadm -A -t 198.51.100.100:80 -s rr -p 60 && ipvsadm -a -t 198.51.100.100:80 -r 203.0.113.5:80 -g -w 4 \
              && ipvsadm -A -f 7 -s sh && ipvsadm -A -u 192.0.2.1:53 -s rr");
        let theirs = vec![
            "-A -f 7 -s sh".to_string(),
            "-A -t 198.51.100.100:80 -s rr -p 60".to_string(),
            "-a -t 198.51.100.100:80 -r 203.0.113.5:80 -g -w 4".to_string(),
        ];
        let mut h = Handle::new().expect("handle");
        let report = h.apply(&table(3, 2), &ApplyOptions::new(in_doc_net())).expect("apply");
        assert!(report.is_ok());
        // The UDP service in our CIDR was ours to delete; the others stay.
        assert!(report.plan.changes.iter().any(|c| c.to_string() == "delete service UDP 192.0.2.1:53 (0 destinations)"));
        let after = ipvsadm_save();
        for line in &theirs {
            assert!(after.contains(line), "{line} missing after apply:\n{after:?}");
        }
        h.apply(&TableSpec::new(), &ApplyOptions::new(in_doc_net())).expect("empty apply");
        assert_eq!(ipvsadm_save(), theirs);
        // A desired service outside the scope is refused before anything is sent.
        let mut outside = TableSpec::new();
        outside.push(Service::new(ServiceKey::tcp(sa("198.51.100.100:80")), Scheduler::Wrr).spec(), vec![]);
        match h.apply(&outside, &ApplyOptions::new(in_doc_net())) {
            Err(Error::Plan(e)) => assert!(e.to_string().contains("outside the scope"), "{e}"),
            other => panic!("expected a plan error, got {other:?}"),
        }
        assert_eq!(ipvsadm_save(), theirs);
    }

    /// A kernel refusal part-way through an apply (a scheduler the kernel
    /// has no module for) leaves the table exactly as before, compared with
    /// the real ipvsadm -Sn; best effort applies the rest and names the
    /// failure.
    fn a_kernel_refusal_part_way_leaves_the_table_as_before() {
        let mut h = Handle::new().expect("handle");
        // Another program's service, outside the scope, must not disturb the undo.
        must("ipvsadm -A -t 203.0.113.1:443 -s sh");
        let options = ApplyOptions::new(in_doc_net());
        let start = table(4, 2);
        assert!(h.apply(&start, &options).expect("start").is_ok());
        let before = ipvsadm_save();
        let mut desired = start.clone();
        desired.entries[0].service.scheduler = Scheduler::Lc; // edited
        desired.entries.remove(3); // deleted
        desired.entries[1].destinations[0].weight = 9; // edited
        desired.push(Service::new(ServiceKey::tcp(sa("192.0.2.1:4000")), Scheduler::from("nonesuch")).spec(), vec![]);
        desired.push(Service::new(ServiceKey::tcp(sa("192.0.2.1:4001")), Scheduler::Rr).spec(), vec![Destination::new(sa("198.51.100.9:80"), ForwardMethod::Masquerade).spec()]);
        let report = h.apply(&desired, &options).expect("apply");
        assert!(!report.is_ok());
        let (change, error) = report.first_failure().expect("a failure is reported");
        assert_eq!(change.to_string(), "add service TCP 192.0.2.1:4000 nonesuch");
        assert!(matches!(error, Error::SchedulerNotFound { .. }), "{error}");
        let outcome = report.outcome.as_ref().expect("sent");
        assert!(outcome.rolled_back);
        assert!(outcome.rollback_failures.is_empty(), "{:?}", outcome.rollback_failures);
        assert_eq!(ipvsadm_save(), before, "the table changed although the apply failed");
        // Best effort: everything else is applied, the failure named.
        let report = h.apply(&desired, &options.clone().mode(ApplyMode::BestEffort)).expect("best effort");
        let outcome = report.outcome.as_ref().expect("sent");
        assert!(!outcome.rolled_back);
        assert_eq!(outcome.failures.len(), 1);
        assert_eq!(report.plan.changes[outcome.failures[0].index].to_string(), "add service TCP 192.0.2.1:4000 nonesuch");
        let after = ipvsadm_save();
        assert!(after.contains(&"-A -t 192.0.2.1:1000 -s lc".to_string()), "{after:?}");
        assert!(after.contains(&"-a -t 192.0.2.1:4001 -r 198.51.100.9:80 -m -w 1".to_string()), "{after:?}");
        assert!(!after.iter().any(|l| l.contains("192.0.2.1:1003")), "{after:?}");
    }

    /// The same through a transaction of plain requests (what ipvsadm-rs -R
    /// runs): a refusal part-way undoes services, destinations and timeouts.
    fn a_transaction_rolls_back_everything_it_did() {
        let mut h = Handle::new().expect("handle");
        must("ipvsadm -A -t 192.0.2.1:80 -s rr && ipvsadm -a -t 192.0.2.1:80 -r 198.51.100.2:80 -m -w 2 && ipvsadm --set 900 120 300");
        let before = ipvsadm_save();
        let key = ServiceKey::tcp(sa("192.0.2.1:80"));
        let requests = vec![
            Request::AddService(Service::new(ServiceKey::tcp(sa("192.0.2.2:80")), Scheduler::Rr)),
            Request::EditDestination(key, Destination::new(sa("198.51.100.2:80"), ForwardMethod::Masquerade).weight(7)),
            Request::SetTimeouts(Timeouts::new(100, 10, 10)),
            // Refused: no such service.
            Request::AddDestination(ServiceKey::tcp(sa("192.0.2.9:80")), Destination::new(sa("198.51.100.3:80"), ForwardMethod::Masquerade)),
            Request::DeleteService(key),
        ];
        let outcome = h.transaction(requests, ApplyMode::AllOrNothing).expect("transaction");
        assert_eq!(outcome.failures.len(), 1);
        assert_eq!(outcome.failures[0].index, 3);
        assert!(matches!(outcome.failures[0].error, Error::NoSuchService));
        assert!(outcome.rolled_back && outcome.rollback_failures.is_empty(), "{outcome:?}");
        assert_eq!(ipvsadm_save(), before);
        assert_eq!(h.timeouts().expect("timeouts"), Timeouts::new(900, 120, 300));
    }

    /// A TCP destination that goes drains: its established connection keeps
    /// working while new connections go elsewhere, and it is deleted once its
    /// drain time is over; a destination that comes back while draining gets
    /// its weight back.
    fn a_draining_destination_keeps_its_connection_then_goes() {
        let topo = Topology::nat(2);
        let (a, b) = (SocketAddr::new(topo.servers[0].addr, 8080), SocketAddr::new(topo.servers[1].addr, 8080));
        let _echo = TcpServer::echo(&topo.servers[0].ns, a);
        let _b = TcpServer::reply(&topo.servers[1].ns, b, "B".into());
        let vip = SocketAddr::new(topo.vip, 80);
        let key = ServiceKey::tcp(vip);
        let svc = Service::new(key, Scheduler::Rr).spec();
        let dest = |addr| Destination::new(addr, ForwardMethod::Masquerade).spec();
        let scope = Scope::new().key(key);
        let mut h = Handle::new().expect("handle");
        let only_a = {
            let mut t = TableSpec::new();
            t.push(svc.clone(), vec![dest(a)]);
            t
        };
        assert!(h.apply(&only_a, &ApplyOptions::new(scope.clone())).expect("only a").is_ok());
        // A long-lived client on A.
        let mut held: TcpStream = topo.client.spawn(move || TcpStream::connect_timeout(&vip, Duration::from_secs(5))).join().expect("client").expect("connect");
        held.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let echo = |held: &mut TcpStream, msg: &[u8]| {
            held.write_all(msg).expect("write on the held connection");
            let mut buf = vec![0u8; msg.len()];
            held.read_exact(&mut buf).expect("read on the held connection");
            assert_eq!(buf, msg);
        };
        echo(&mut held, b"before");
        // A goes, B comes: A drains.
        let only_b = {
            let mut t = TableSpec::new();
            t.push(svc.clone(), vec![dest(b)]);
            t
        };
        let mut syncer = Syncer::new(ApplyOptions::new(scope.clone()).drain_timeout(Duration::from_secs(6)));
        let started = Instant::now();
        let first = syncer.sync(&mut h, &only_b).expect("drain pass");
        assert!(first.is_ok());
        assert!(first.plan.changes.iter().any(|c| matches!(c, Change::DrainDestination { .. })), "{}", first.plan);
        for _ in 0..5 {
            assert_eq!(topo.client.fetch(vip).expect("new connection"), "B", "a new connection reached the draining destination");
        }
        echo(&mut held, b"while draining");
        let second = syncer.sync(&mut h, &only_b).expect("second pass");
        assert_eq!(second.plan.draining, vec![(key, a)], "{}", second.plan);
        let a_line = format!("-a -t {vip} -r {a} -m -w 0");
        assert!(ipvsadm_save().contains(&a_line), "{:?}", ipvsadm_save());
        echo(&mut held, b"still there");
        drop(held);
        // After the drain time the destination goes, connections or not.
        let deadline = started + Duration::from_secs(20);
        loop {
            let pass = syncer.sync(&mut h, &only_b).expect("pass");
            if !ipvsadm_save().iter().any(|l| l.contains(&a.to_string())) {
                assert!(started.elapsed() >= Duration::from_secs(1), "deleted before draining");
                assert!(pass.plan.changes.iter().any(|c| matches!(c, Change::DeleteDestination { .. })));
                break;
            }
            assert!(Instant::now() < deadline, "the draining destination was never deleted");
            std::thread::sleep(Duration::from_millis(500));
        }
        assert_eq!(ipvsadm_save(), vec![format!("-A -t {vip} -s rr"), format!("-a -t {vip} -r {b} -m -w 1")]);
        // A destination that comes back while draining gets its weight back.
        let both = {
            let mut t = TableSpec::new();
            t.push(svc, vec![dest(a), dest(b)]);
            t
        };
        h.apply(&both, &ApplyOptions::new(scope.clone())).expect("both");
        must(&format!("ipvsadm -e -t {vip} -r {a} -m -w 0"));
        let back = h.apply(&both, &ApplyOptions::new(scope)).expect("back");
        assert_eq!(back.plan.changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(), [format!("edit destination TCP {vip} -> {a}: weight 0 -> 1")]);
    }

    /// The async handle applies the same way: idempotent, rolled back on a
    /// refusal.
    fn async_apply_matches_the_blocking_one() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_io().build().expect("runtime");
        rt.block_on(async {
            let mut h = AsyncHandle::new().await.expect("async handle");
            let options = ApplyOptions::new(in_doc_net());
            let desired = table(10, 2);
            assert_eq!(h.apply(&desired, &options).await.expect("apply").plan.changes.len(), 30);
            assert!(h.apply(&desired, &options).await.expect("again").outcome.is_none());
            let before = ipvsadm_save();
            let mut bad = desired.clone();
            bad.entries[0].service.scheduler = Scheduler::Lc;
            bad.push(Service::new(ServiceKey::tcp(sa("192.0.2.1:4000")), Scheduler::from("nonesuch")).spec(), vec![]);
            let report = h.apply(&bad, &options).await.expect("apply");
            assert!(report.outcome.as_ref().is_some_and(|o| o.rolled_back && o.rollback_failures.is_empty()));
            assert_eq!(ipvsadm_save(), before);
        });
    }
}
