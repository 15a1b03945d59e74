//! `ipvsadm-rs --check` in the lab: a namespace of the test's own with the
//! settings the operations guide advises set wrong, then set right with
//! `sysctl -w` as a runbook would, each reading compared with procps's
//! `sysctl -n` in the same namespace.
//!
//! Nothing here writes files: `ip netns add` writes under /run (a tmpfs in the
//! lab), `sysctl -w` writes only /proc/sys, so there is nothing of the host's
//! (hostfs) to cover.

use ipvs_lab::{lab_test, must, workspace_bin, Mode, Netns, Output};

/// The per-namespace settings and their wrong and advised values.
const PER_NAMESPACE: &[(&str, &str, &str)] = &[
    ("net.ipv4.ip_forward", "0", "1"),
    ("net.ipv4.vs.conntrack", "0", "1"),
    ("net.ipv4.vs.expire_nodest_conn", "0", "1"),
    ("net.ipv4.vs.expire_quiescent_template", "0", "1"),
    ("net.ipv4.conf.all.arp_ignore", "2", "1"),
    ("net.ipv4.conf.all.arp_announce", "1", "2"),
];

/// Per namespace too, once br_netfilter is loaded.
const BRIDGE: &[(&str, &str, &str)] = &[
    ("net.bridge.bridge-nf-call-iptables", "0", "1"),
    ("net.bridge.bridge-nf-call-ip6tables", "0", "1"),
    ("net.bridge.bridge-nf-call-arptables", "0", "1"),
];

/// Global: read-only outside the initial namespace, so written there (lab only).
const CONNTRACK_MAX: (&str, &str, &str) = ("net.netfilter.nf_conntrack_max", "65536", "1000000");

/// One line of the text table, cut at the header's column starts.
#[derive(Debug)]
struct Row {
    outcome: String,
    setting: String,
    found: String,
    advised: String,
}

fn rows(table: &str) -> Vec<Row> {
    let mut lines = table.lines();
    let header = lines.next().expect("a header line");
    let at = |column: &str| {
        header
            .find(column)
            .unwrap_or_else(|| panic!("no {column} in {header:?}"))
    };
    let starts = [0, at("SETTING"), at("FOUND"), at("ADVISED"), at("WHY")];
    lines
        .map(|line| {
            let cell = |i: usize| line[starts[i]..starts[i + 1]].trim().to_string();
            Row {
                outcome: cell(0),
                setting: cell(1),
                found: cell(2),
                advised: cell(3),
            }
        })
        .collect()
}

struct Node {
    ns: Netns,
    /// br_netfilter is loaded (the net.bridge files exist).
    bridge: bool,
    /// The lab's own kernel: its global settings are the test's to change.
    own_kernel: bool,
}

impl Node {
    fn sysctl_w(&self, pairs: &[(&str, &str)]) {
        let words: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.ns.must(&format!("sysctl -w {}", words.join(" ")));
    }

    /// Write the global conntrack limit in the initial namespace (PID 1's).
    fn set_conntrack_max(&self, value: &str) {
        assert!(
            self.own_kernel,
            "the host's global settings are not the test's"
        );
        must(&format!(
            "nsenter --net=/proc/1/ns/net sysctl -w {}={value}",
            CONNTRACK_MAX.0
        ));
    }

    /// What procps prints for `setting` in the namespace.
    fn procps(&self, setting: &str) -> String {
        self.ns
            .must(&format!("sysctl -n {setting}"))
            .stdout
            .trim()
            .replace('\t', " ")
    }

    fn run_check(&self, json: bool) -> Output {
        let flag = if json { " --json" } else { "" };
        self.ns.sh(&format!(
            "{} --check{flag}",
            workspace_bin("ipvsadm-rs").display()
        ))
    }

    /// Run `--check` and `--check --json`: exactly `off` is flagged off, each with the
    /// value procps reads; every other advised line is ok; the exit status is 3 if
    /// anything is off, else 0.
    #[track_caller]
    fn expect_off(&self, off: &[&str]) {
        let text = self.run_check(false);
        let expected_status = if off.is_empty() { 0 } else { 3 };
        assert_eq!(text.status, expected_status, "off: {off:?}\n{text}");
        assert_eq!(text.stderr, "");
        let rows = rows(&text.stdout);
        assert_eq!(rows.len(), 12, "{}", text.stdout);
        for row in &rows {
            let expected = self.expected_outcome(&row.setting, off);
            assert_eq!(row.outcome, expected, "{row:?}\n{}", text.stdout);
            let found = match expected {
                "n/a" => "absent".to_string(),
                _ if row.setting == "net.ipv4.vs" => "present".to_string(),
                _ => self.procps(&row.setting),
            };
            assert_eq!(row.found, found, "{row:?}");
        }
        let flagged: Vec<&str> = rows
            .iter()
            .filter(|r| r.outcome == "off")
            .map(|r| r.setting.as_str())
            .collect();
        assert_eq!(flagged.len(), off.len(), "{}", text.stdout);

        let json = self.run_check(true);
        assert_eq!(json.status, expected_status, "{json}");
        let doc: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
        let items = doc.as_array().expect("an array");
        assert_eq!(items.len(), rows.len());
        for (item, row) in items.iter().zip(&rows) {
            assert_eq!(item["setting"], row.setting.as_str());
            assert_eq!(item["outcome"], row.outcome.as_str(), "{item}");
            match &item["found"] {
                serde_json::Value::Number(n) => assert_eq!(n.to_string(), row.found, "{item}"),
                serde_json::Value::String(s) => assert_eq!(s, "present", "{item}"),
                serde_json::Value::Null => assert_eq!(row.found, "absent", "{item}"),
                other => panic!("found {other} in {item}"),
            }
            let advised = match (&item["comparison"], &item["advised"]) {
                (c, n) if c == "=" => n.to_string(),
                (c, n) if c == ">=" => format!(">= {n}"),
                (c, _) if c == "shown" => "-".into(),
                (c, _) => c.as_str().unwrap_or_default().to_string(),
            };
            assert_eq!(advised, row.advised, "{item}");
        }
    }

    fn expected_outcome(&self, setting: &str, off: &[&str]) -> &'static str {
        if setting.starts_with("net.bridge.") && !self.bridge {
            "n/a"
        } else if setting.ends_with("nf_conntrack_buckets") {
            "info"
        } else if off.contains(&setting) {
            "off"
        } else {
            "ok"
        }
    }
}

lab_test! {
    /// Without br_netfilter the bridge lines are `n/a` and do not fail the check; with
    /// every setting wrong (br_netfilter loaded, the global conntrack limit lowered in
    /// the lab's initial namespace) `--check` exits 3 and flags each with the value
    /// `sysctl -n` prints, in text and JSON; set as advised with `sysctl -w` it exits 0
    /// with every line ok; then each setting alone set wrong again fails it.
    fn check_flags_each_wrong_setting_and_passes_once_set_as_advised() {
        let own_kernel = matches!(Mode::from_env(), Ok(Mode::Uml));
        let ns = Netns::new("check");
        let bridge_loaded = ns.sh("test -d /proc/sys/net/bridge").success();
        let mut node = Node { ns, bridge: bridge_loaded, own_kernel };
        // On a real host (IPVS_LAB=host) the global limit is the host's: judged as found.
        let host_max_low = !own_kernel
            && node.procps(CONNTRACK_MAX.0).parse::<i64>().map_or(true, |n| n < 1_000_000);
        let always_off: Vec<&str> = if host_max_low { vec![CONNTRACK_MAX.0] } else { vec![] };

        let advised: Vec<(&str, &str)> = PER_NAMESPACE.iter().map(|(k, _, v)| (*k, *v)).collect();
        let wrong: Vec<(&str, &str)> = PER_NAMESPACE.iter().map(|(k, v, _)| (*k, *v)).collect();
        if own_kernel {
            assert!(!node.bridge, "br_netfilter is loaded before the test loads it");
            node.set_conntrack_max(CONNTRACK_MAX.2);
        }
        if !node.bridge {
            node.sysctl_w(&advised);
            node.expect_off(&always_off);
        }

        if own_kernel {
            must("/run/lab/modprobe br_netfilter");
            node.bridge = true;
        }
        let mut wrong_all = wrong.clone();
        let mut advised_all = advised.clone();
        if node.bridge {
            wrong_all.extend(BRIDGE.iter().map(|(k, v, _)| (*k, *v)));
            advised_all.extend(BRIDGE.iter().map(|(k, _, v)| (*k, *v)));
        }
        node.sysctl_w(&wrong_all);
        let mut off: Vec<&str> = wrong_all.iter().map(|(k, _)| *k).collect();
        if own_kernel {
            node.set_conntrack_max(CONNTRACK_MAX.1);
        }
        off.extend(&always_off);
        if own_kernel {
            off.push(CONNTRACK_MAX.0);
        }
        node.expect_off(&off);

        // As the runbook sets them.
        node.sysctl_w(&advised_all);
        if own_kernel {
            node.set_conntrack_max(CONNTRACK_MAX.2);
        }
        node.expect_off(&always_off);

        // Any one left wrong fails the check.
        for (setting, bad, good) in PER_NAMESPACE.iter().chain(if node.bridge { BRIDGE } else { &[] }) {
            node.sysctl_w(&[(setting, bad)]);
            let mut off = always_off.clone();
            off.push(setting);
            node.expect_off(&off);
            node.sysctl_w(&[(setting, good)]);
        }
        if own_kernel {
            node.set_conntrack_max("999999");
            node.expect_off(&[CONNTRACK_MAX.0]);
            node.set_conntrack_max(CONNTRACK_MAX.2);
            node.expect_off(&[]);
        }
    }
}
