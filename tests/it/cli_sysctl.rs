//! The IPVS kernel parameters in the lab: ipvs-core's `sysctl` module and
//! `ipvsadm-rs --sysctl` against procps's `sysctl`, in a namespace of their own.

use ipvs_core::sysctl::{self, Parameter};
use ipvs_lab::{lab_test, must, workspace_bin, Netns};

/// `a = b` lines with the spacing around `=` made one, in order.
fn normalised(listing: &str) -> Vec<String> {
    listing
        .lines()
        .map(|line| match line.split_once('=') {
            Some((name, value)) => format!("{} = {}", name.trim(), value.trim()),
            None => line.to_string(),
        })
        .collect()
}

lab_test! {
    /// ipvs-core writes `conntrack` and `expire_nodest_conn` in another namespace and
    /// procps reads them back there (and only there); `ipvsadm-rs --sysctl` prints what
    /// `sysctl net.ipv4.vs` prints, and `--json` holds the same values; an
    /// out-of-range write is refused with the range named and the file unchanged,
    /// a value the kernel refuses too.
    fn sysctl_listing_matches_procps_and_writes_are_range_checked() {
        let ns = Netns::new("sysctl");
        let target = ipvs_core::Netns::named(ns.name());
        for parameter in [Parameter::Conntrack, Parameter::ExpireNodestConn] {
            assert_eq!(ns.must(&format!("sysctl -n {parameter}")).stdout, "0\n", "{parameter} default");
            sysctl::write_in(&target, parameter, &1.into())
                .unwrap_or_else(|e| panic!("writing {parameter}: {e}"));
            assert_eq!(ns.must(&format!("sysctl -n {parameter}")).stdout, "1\n", "{parameter}");
            assert_eq!(sysctl::read_in(&target, parameter).expect("read back"), 1.into());
            // The test's own namespace is another one: untouched.
            assert_eq!(must(&format!("sysctl -n {parameter}")).stdout, "0\n", "{parameter} here");
        }

        let ours = ns.must(&format!("{} --sysctl", workspace_bin("ipvsadm-rs").display()));
        let theirs = ns.must("sysctl net.ipv4.vs");
        assert_eq!(normalised(&ours.stdout), normalised(&theirs.stdout));
        assert!(ours.stdout.contains("net.ipv4.vs.conntrack = 1\n"), "{}", ours.stdout);
        assert!(ours.stdout.contains("net.ipv4.vs.expire_nodest_conn = 1\n"), "{}", ours.stdout);
        assert_eq!(ours.stderr, "");

        let json = ns.must(&format!("{} --sysctl --json", workspace_bin("ipvsadm-rs").display()));
        let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("a JSON document");
        let params = doc["sysctl"].as_object().expect("a sysctl object");
        assert_eq!(params.len(), theirs.stdout.lines().count());
        assert_eq!(params["net.ipv4.vs.conntrack"], 1);
        assert_eq!(params["net.ipv4.vs.expire_nodest_conn"], 1);
        for line in normalised(&theirs.stdout) {
            let (name, value) = line.split_once(" = ").expect("name = value");
            let ours = match &params[name] {
                serde_json::Value::Array(ns) => {
                    ns.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(" ")
                }
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let theirs: Vec<&str> = value.split_whitespace().collect();
            assert_eq!(ours, theirs.join(" "), "{name}");
        }

        let before = ns.must("sysctl -n net.ipv4.vs.drop_entry").stdout;
        let refused = sysctl::write_in(&target, Parameter::DropEntry, &4.into())
            .expect_err("drop_entry 4 is out of range")
            .to_string();
        assert_eq!(refused, "net.ipv4.vs.drop_entry: 4 is out of range (0 to 3)");
        assert_eq!(ns.must("sysctl -n net.ipv4.vs.drop_entry").stdout, before);
        // The range is the kernel's: it refuses the same value.
        let kernel = ns.sh("sysctl -w net.ipv4.vs.drop_entry=4");
        assert!(!kernel.success(), "the kernel took drop_entry=4: {kernel}");
        assert_eq!(ns.must("sysctl -n net.ipv4.vs.drop_entry").stdout, before);
    }
}
