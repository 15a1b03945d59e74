//! ipvs-core against the real kernel: every operation done through ipvs-core is read
//! back through ipvs-core and through the real ipvsadm in the same lab, and compared.

use ipvs_core::*;
use ipvs_lab::{lab_test, must};

fn handle() -> Handle {
    Handle::new().expect("IPVS handle in the lab")
}

/// `ipvsadm -Sn` lines, sorted, for order-free comparison.
fn ipvsadm_save() -> Vec<String> {
    let mut lines: Vec<String> = must("ipvsadm -Sn").stdout.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn sorted(lines: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

lab_test! {
    /// An IPv4 TCP service with two destinations: added by ipvs-core, read back by
    /// ipvs-core and by `ipvsadm -Sn`.
    fn ipv4_service_and_destinations() {
        let mut h = handle();
        let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
        h.add_service(&Service::new(key, Scheduler::Wrr)).unwrap();
        h.add_destination(&key, &Destination::new("198.51.100.2:8080".parse().unwrap(), ForwardMethod::Masquerade).weight(3)).unwrap();
        h.add_destination(&key, &Destination::new("198.51.100.3:8080".parse().unwrap(), ForwardMethod::Masquerade)).unwrap();
        let svcs = h.services().unwrap();
        assert_eq!(svcs.len(), 1);
        assert_eq!(svcs[0].key, key);
        assert_eq!(svcs[0].scheduler, Scheduler::Wrr);
        let dests = h.destinations(&key).unwrap();
        assert_eq!(dests.len(), 2);
        assert_eq!(ipvsadm_save(), sorted(&[
            "-A -t 192.0.2.1:80 -s wrr",
            "-a -t 192.0.2.1:80 -r 198.51.100.2:8080 -m -w 3",
            "-a -t 192.0.2.1:80 -r 198.51.100.3:8080 -m -w 1",
        ]));
    }
}
