//! The IPVS kernel parameters in the lab: ipvs-core's `sysctl` module and
//! `ipvsadm-rs --sysctl` against procps's `sysctl`, in a namespace of their own.

use ipvs_core::sysctl::{self, Parameter, Range, Value};
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

/// Values at and just beyond each edge of `range`, and the usual suspects
/// (0, 1, 2, -1), to offer the kernel and the range alike.
fn probes(range: Range) -> Vec<Value> {
    let edges = |min: i64, max: i64| {
        let mut values = vec![0, 1, 2, -1, min, max];
        values.extend(min.checked_sub(1));
        values.extend(max.checked_add(1));
        values.sort_unstable();
        values.dedup();
        values.into_iter().map(Value::from).collect::<Vec<_>>()
    };
    match range {
        Range::Boolean => edges(i32::MIN.into(), i32::MAX.into()),
        // 2147483 is INT_MAX / 1000; any kernel (HZ >= 100) refuses beyond INT_MAX / 100.
        Range::Seconds => [0, 1, -1, 2_147_483, -2_147_483, 21_474_837, -21_474_837]
            .map(Value::from)
            .to_vec(),
        Range::Integer { min, max } => edges(min, max),
        Range::PowerOfTwo { max } => {
            let mut values = edges(1, max);
            values.extend([3, 4, 6, 128].map(Value::from));
            values
        }
        Range::ThresholdPeriod => [[3, 50], [50, 3], [0, 0], [5, 0], [-1, 5], [50, 50], [0, 1]]
            .map(|pair| Value::Integers(pair.to_vec()))
            .to_vec(),
        Range::CpuList => vec![Value::Text("0".into()), Value::Text("0-0".into())],
    }
}

lab_test! {
    /// Every range is the kernel's: each parameter the lab kernel has is offered
    /// values at and beyond its range's edges, written straight to the file (no
    /// range check on our side); the kernel takes exactly the values the range
    /// accepts. Each accepted value is put back before the next one. A file the
    /// kernel makes read-only here (`debug_level`, global) refuses our write with
    /// its path named.
    fn sysctl_ranges_accept_what_the_kernel_accepts() {
        let ns = Netns::new("ranges");
        let target = ipvs_core::Netns::named(ns.name());
        let present = sysctl::read_all_in(&target).expect("the IPVS parameters");
        let mut disagreements = Vec::new();
        let mut probed = 0;
        let mut read_only = Vec::new();
        for setting in &present {
            let Some(parameter) = setting.parameter else {
                disagreements.push(format!("{}: not known to ipvs-core", setting.name));
                continue;
            };
            let file = format!("/proc/sys/net/ipv4/vs/{}", parameter.name());
            if !ns.sh(&format!("test -w {file}")).success() {
                // Global parameters are read-only outside the first namespace: the
                // write is refused by the file, with its path named.
                let err = sysctl::write_in(&target, parameter, &setting.value)
                    .expect_err("a read-only parameter")
                    .to_string();
                assert!(err.contains(&file), "{err}");
                read_only.push(parameter);
                continue;
            }
            for value in probes(parameter.range()) {
                let taken = ns.sh(&format!("printf '%s\\n' '{value}' > {file}")).success();
                probed += 1;
                if taken != parameter.range().accepts(&value) {
                    disagreements.push(format!(
                        "{parameter} = {value}: the kernel {} it, the range ({}) {} it",
                        if taken { "takes" } else { "refuses" },
                        parameter.range(),
                        if taken { "refuses" } else { "takes" },
                    ));
                }
                if taken {
                    ns.must(&format!("printf '%s\\n' '{}' > {file}", setting.value));
                }
            }
            assert_eq!(
                sysctl::read_in(&target, parameter).expect("read back"),
                setting.value,
                "{parameter} restored"
            );
        }
        assert!(probed > 100, "only {probed} values offered");
        assert!(read_only.len() <= 1, "read-only: {read_only:?}");
        assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    }
}
