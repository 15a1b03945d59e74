//! `--check` (extension): the node's kernel settings against the ones the
//! operations guide sets for IPVS and kube-proxy's `ipvs.strictARP`, in the
//! network namespace ipvsadm-rs runs in.
//!
//! The advice is one table, [`ADVICE`]: a setting, how its value is compared,
//! the value advised and why. [`check_at`] reads every setting under a
//! `/proc/sys` root (a fake one in tests) through `ipvs_core::sysctl::node` and
//! judges it ([`judge`]); [`write_text`] prints an aligned table, [`write_json`]
//! an array of objects; [`exit_code`] is 0 when every setting is as advised,
//! [`OFF_EXIT`] when one is not, [`UNREADABLE_EXIT`] when one could not be read
//! (and none is off). docs/cli.md describes the output.

use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use ipvs_core::sysctl::{node, Value, PROC_SYS};

use crate::sysctl::json_value;

/// Exit status when a setting is not as advised (or a needed one is absent).
/// ipvsadm itself exits 0, 1, 2 or 255, so a script can tell this apart.
pub const OFF_EXIT: i32 = 3;

/// Exit status when a setting could not be read and none is off: the check is
/// incomplete (ipvsadm's code for "could not read the kernel's state").
pub const UNREADABLE_EXIT: i32 = 1;

/// How a setting's value is compared with the advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// The value must be this integer.
    Equal(i64),
    /// The value must be at least this integer.
    AtLeast(i64),
    /// The file or directory must exist (`net.ipv4.vs`: `ip_vs` is loaded).
    Present,
    /// No advice: the value is shown beside the others.
    Shown,
}

impl fmt::Display for Comparison {
    /// As the ADVISED column prints it: `1`, `>= 1000000`, `present`, `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Comparison::Equal(n) => write!(f, "{n}"),
            Comparison::AtLeast(n) => write!(f, ">= {n}"),
            Comparison::Present => f.write_str("present"),
            Comparison::Shown => f.write_str("-"),
        }
    }
}

/// What the absence of a setting's file means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenAbsent {
    /// The setting is needed: its module must be loaded ([`Outcome::Absent`]).
    Needed,
    /// The setting applies only where its module is loaded
    /// ([`Outcome::NotApplicable`]).
    NotApplicable,
}

/// One line of advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advice {
    /// The setting as `sysctl` names it (`net.ipv4.ip_forward`).
    pub setting: &'static str,
    /// How the found value is compared, with the value advised.
    pub comparison: Comparison,
    /// What a missing file means.
    pub when_absent: WhenAbsent,
    /// Why, in one short clause.
    pub reason: &'static str,
}

const fn advice(
    setting: &'static str,
    comparison: Comparison,
    when_absent: WhenAbsent,
    reason: &'static str,
) -> Advice {
    Advice {
        setting,
        comparison,
        when_absent,
        reason,
    }
}

use Comparison::{AtLeast, Equal, Present, Shown};
use WhenAbsent::{Needed, NotApplicable};

/// The settings the operations guide sets ("Kernel parameters it sets"), plus
/// `ip_vs` itself and the two ARP settings kube-proxy's `ipvs.strictARP: true`
/// sets (the ones direct-routing real servers need too), in the order printed.
#[rustfmt::skip]
pub const ADVICE: &[Advice] = &[
    advice("net.ipv4.vs", Present, Needed,
        "the ip_vs module is loaded (the directory exists only then)"),
    advice("net.ipv4.ip_forward", Equal(1), Needed,
        "the node forwards packets to real servers and Pods (NAT, Services)"),
    advice("net.ipv4.vs.conntrack", Equal(1), Needed,
        "IPVS connections keep conntrack entries, which kube-proxy's SNAT and stateful rules need"),
    advice("net.ipv4.vs.expire_nodest_conn", Equal(1), Needed,
        "connections to a removed real server end at once instead of hanging"),
    advice("net.ipv4.vs.expire_quiescent_template", Equal(1), Needed,
        "persistence stops sending new clients to a real server of weight 0"),
    advice("net.netfilter.nf_conntrack_max", AtLeast(1_000_000), Needed,
        "a full conntrack table drops new connections"),
    advice("net.netfilter.nf_conntrack_buckets", Shown, NotApplicable,
        "the hash size behind nf_conntrack_max (shown, no advice)"),
    advice("net.bridge.bridge-nf-call-iptables", Equal(1), NotApplicable,
        "bridged pod traffic passes iptables (where br_netfilter is loaded)"),
    advice("net.bridge.bridge-nf-call-ip6tables", Equal(1), NotApplicable,
        "bridged pod traffic passes ip6tables (where br_netfilter is loaded)"),
    advice("net.bridge.bridge-nf-call-arptables", Equal(1), NotApplicable,
        "bridged ARP passes arptables (where br_netfilter is loaded)"),
    advice("net.ipv4.conf.all.arp_ignore", Equal(1), Needed,
        "answer ARP only for addresses of the asking interface, never for a VIP (strictARP, DR)"),
    advice("net.ipv4.conf.all.arp_announce", Equal(2), Needed,
        "ARP requests carry the interface's own address, never a VIP (strictARP, DR)"),
];

/// What was found for a setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// Its value.
    Value(Value),
    /// A directory that exists (`net.ipv4.vs`).
    Present,
    /// No such file: its module is not loaded, or the kernel lacks it.
    Absent,
    /// It exists but could not be read; the reason.
    Unreadable(String),
}

impl fmt::Display for Found {
    /// As the FOUND column prints it (a multi-integer value's tabs as spaces).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::Value(v) => f.write_str(&v.to_string().replace('\t', " ")),
            Found::Present => f.write_str("present"),
            Found::Absent => f.write_str("absent"),
            Found::Unreadable(_) => f.write_str("unreadable"),
        }
    }
}

/// The verdict on one setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// As advised.
    Ok,
    /// Not as advised.
    Off,
    /// Needed but absent (its module is not loaded).
    Absent,
    /// Absent, and needed only where its module is loaded.
    NotApplicable,
    /// Could not be read.
    Unreadable,
    /// Shown without advice.
    Info,
}

impl Outcome {
    /// The word printed and put in the JSON: `ok`, `off`, `absent`, `n/a`,
    /// `unreadable`, `info`.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Off => "off",
            Outcome::Absent => "absent",
            Outcome::NotApplicable => "n/a",
            Outcome::Unreadable => "unreadable",
            Outcome::Info => "info",
        }
    }
}

/// One setting checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The advice it was checked against.
    pub advice: Advice,
    /// What was found.
    pub found: Found,
    /// The verdict.
    pub outcome: Outcome,
}

/// The verdict on `found` under `advice`.
pub fn judge(advice: &Advice, found: &Found) -> Outcome {
    match (found, advice.comparison) {
        (Found::Unreadable(_), _) => Outcome::Unreadable,
        (Found::Absent, _) => match advice.when_absent {
            WhenAbsent::Needed => Outcome::Absent,
            WhenAbsent::NotApplicable => Outcome::NotApplicable,
        },
        (_, Comparison::Shown) => Outcome::Info,
        (Found::Present, Comparison::Present) => Outcome::Ok,
        (Found::Value(v), Comparison::Equal(n)) if v.as_integer() == Some(n) => Outcome::Ok,
        (Found::Value(v), Comparison::AtLeast(n)) if v.as_integer().is_some_and(|v| v >= n) => {
            Outcome::Ok
        }
        _ => Outcome::Off,
    }
}

/// Read one setting under `root`.
fn find_at(root: &Path, advice: &Advice) -> Found {
    let read = match advice.comparison {
        Comparison::Present => {
            node::exists_at(root, advice.setting).map(|e| e.then_some(Found::Present))
        }
        _ => node::read_at(root, advice.setting).map(|v| v.map(Found::Value)),
    };
    match read {
        Ok(Some(found)) => found,
        Ok(None) => Found::Absent,
        Err(e) => Found::Unreadable(e.to_string()),
    }
}

/// Check every setting of [`ADVICE`] under `root` (`/proc/sys` in production).
pub fn check_at(root: &Path) -> Vec<Finding> {
    ADVICE
        .iter()
        .map(|advice| {
            let found = find_at(root, advice);
            Finding {
                advice: *advice,
                outcome: judge(advice, &found),
                found,
            }
        })
        .collect()
}

/// The exit status for these findings: [`OFF_EXIT`] if any is off or absent,
/// else [`UNREADABLE_EXIT`] if any is unreadable, else 0.
pub fn exit_code(findings: &[Finding]) -> i32 {
    let any = |o: Outcome| findings.iter().any(|f| f.outcome == o);
    if any(Outcome::Off) || any(Outcome::Absent) {
        OFF_EXIT
    } else if any(Outcome::Unreadable) {
        UNREADABLE_EXIT
    } else {
        0
    }
}

/// The WHY column: the reason, and for an unreadable setting what went wrong.
fn why(f: &Finding) -> String {
    match &f.found {
        Found::Unreadable(e) => format!("{} (cannot read: {e})", f.advice.reason),
        _ => f.advice.reason.to_string(),
    }
}

/// A table with a header, `OUTCOME SETTING FOUND ADVISED WHY`, columns padded
/// to their widest cell with two spaces between them.
pub fn write_text(findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
    let mut rows: Vec<[String; 5]> =
        vec![["OUTCOME", "SETTING", "FOUND", "ADVISED", "WHY"].map(String::from)];
    rows.extend(findings.iter().map(|f| {
        [
            f.outcome.word().to_string(),
            f.advice.setting.to_string(),
            f.found.to_string(),
            f.advice.comparison.to_string(),
            why(f),
        ]
    }));
    let mut widths = [0usize; 4];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in &rows {
        for (w, cell) in widths.iter().zip(row) {
            write!(out, "{cell:<w$}  ")?;
        }
        writeln!(out, "{}", row[4])?;
    }
    Ok(())
}

/// One setting as `--check --json` prints it (fields in this order).
#[derive(Debug, serde::Serialize)]
struct JsonFinding<'a> {
    setting: &'a str,
    found: serde_json::Value,
    comparison: &'a str,
    advised: Option<i64>,
    outcome: &'a str,
    reason: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// One object per setting, in table order: `setting`, `found` (the value as a
/// number, an array of numbers or a string; `"present"` for a directory; null
/// when absent or unreadable), `comparison` (`=`, `>=`, `present`, `shown`),
/// `advised` (a number, null for `present` and `shown`), `outcome` (the word of
/// [`Outcome::word`]), `reason`, and `error` for an unreadable setting only.
pub fn write_json(findings: &[Finding], out: &mut dyn Write) -> io::Result<()> {
    let items: Vec<JsonFinding<'_>> = findings
        .iter()
        .map(|f| {
            let (comparison, advised) = match f.advice.comparison {
                Comparison::Equal(n) => ("=", Some(n)),
                Comparison::AtLeast(n) => (">=", Some(n)),
                Comparison::Present => ("present", None),
                Comparison::Shown => ("shown", None),
            };
            JsonFinding {
                setting: f.advice.setting,
                found: match &f.found {
                    Found::Value(v) => json_value(v),
                    Found::Present => "present".into(),
                    Found::Absent | Found::Unreadable(_) => serde_json::Value::Null,
                },
                comparison,
                advised,
                outcome: f.outcome.word(),
                reason: f.advice.reason,
                error: match &f.found {
                    Found::Unreadable(e) => Some(e),
                    _ => None,
                },
            }
        })
        .collect();
    serde_json::to_writer_pretty(&mut *out, &items)?;
    writeln!(out)
}

/// `--check [--json]`: check the settings of the caller's network namespace,
/// print them; `Ok` holds the exit status.
pub fn run(json: bool, out: &mut dyn Write) -> io::Result<i32> {
    let findings = check_at(Path::new(PROC_SYS));
    if json {
        write_json(&findings, out)?;
    } else {
        write_text(&findings, out)?;
    }
    Ok(exit_code(&findings))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/proc/sys` holding `files` (dotted name, contents); a name ending
    /// in `/` is made a directory.
    fn fake_root(files: &[(&str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = root
                .path()
                .join(name.trim_end_matches('/').replace('.', "/"));
            if name.ends_with('/') {
                std::fs::create_dir_all(&path).unwrap();
            } else {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, text).unwrap();
            }
        }
        root
    }

    /// Every setting as the guide advises, br_netfilter loaded.
    const ADVISED: &[(&str, &str)] = &[
        ("net.ipv4.vs/", ""),
        ("net.ipv4.ip_forward", "1\n"),
        ("net.ipv4.vs.conntrack", "1\n"),
        ("net.ipv4.vs.expire_nodest_conn", "1\n"),
        ("net.ipv4.vs.expire_quiescent_template", "1\n"),
        ("net.netfilter.nf_conntrack_max", "1048576\n"),
        ("net.netfilter.nf_conntrack_buckets", "262144\n"),
        ("net.bridge.bridge-nf-call-iptables", "1\n"),
        ("net.bridge.bridge-nf-call-ip6tables", "1\n"),
        ("net.bridge.bridge-nf-call-arptables", "1\n"),
        ("net.ipv4.conf.all.arp_ignore", "1\n"),
        ("net.ipv4.conf.all.arp_announce", "2\n"),
    ];

    /// `ADVISED` with some files given other contents, or left out (`None`).
    fn advised_but(changes: &[(&str, Option<&str>)]) -> tempfile::TempDir {
        let files: Vec<(&str, &str)> = ADVISED
            .iter()
            .filter_map(
                |&(name, text)| match changes.iter().find(|(n, _)| *n == name) {
                    Some((_, Some(other))) => Some((name, *other)),
                    Some((_, None)) => None,
                    None => Some((name, text)),
                },
            )
            .collect();
        fake_root(&files)
    }

    fn outcomes(findings: &[Finding]) -> Vec<(&'static str, &'static str)> {
        findings
            .iter()
            .map(|f| (f.advice.setting, f.outcome.word()))
            .collect()
    }

    fn text(findings: &[Finding]) -> String {
        let mut out = Vec::new();
        write_text(findings, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_table_covers_the_guide_and_strict_arp() {
        let settings: Vec<&str> = ADVICE.iter().map(|a| a.setting).collect();
        let fixture: Vec<&str> = ADVISED
            .iter()
            .map(|(n, _)| n.trim_end_matches('/'))
            .collect();
        assert_eq!(settings, fixture);
        for a in ADVICE {
            assert!(
                !a.reason.is_empty() && a.reason.len() < 100,
                "{}",
                a.setting
            );
        }
    }

    #[test]
    fn a_node_as_advised_is_all_ok_and_exits_0() {
        let root = advised_but(&[]);
        let findings = check_at(root.path());
        for (setting, outcome) in outcomes(&findings) {
            let expected = if setting.ends_with("buckets") {
                "info"
            } else {
                "ok"
            };
            assert_eq!(outcome, expected, "{setting}");
        }
        assert_eq!(exit_code(&findings), 0);
    }

    #[test]
    fn each_setting_off_is_flagged_alone_and_exits_3() {
        let wrong: &[(&str, &str)] = &[
            ("net.ipv4.ip_forward", "0\n"),
            ("net.ipv4.vs.conntrack", "0\n"),
            ("net.ipv4.vs.expire_nodest_conn", "0\n"),
            ("net.ipv4.vs.expire_quiescent_template", "0\n"),
            ("net.netfilter.nf_conntrack_max", "999999\n"),
            ("net.bridge.bridge-nf-call-iptables", "0\n"),
            ("net.bridge.bridge-nf-call-ip6tables", "0\n"),
            ("net.bridge.bridge-nf-call-arptables", "0\n"),
            ("net.ipv4.conf.all.arp_ignore", "2\n"),
            ("net.ipv4.conf.all.arp_announce", "1\n"),
        ];
        for &(name, value) in wrong {
            let root = advised_but(&[(name, Some(value))]);
            let findings = check_at(root.path());
            let off: Vec<_> = findings
                .iter()
                .filter(|f| f.outcome != Outcome::Ok)
                .collect();
            let off: Vec<(&str, String)> = off
                .iter()
                .filter(|f| f.outcome != Outcome::Info)
                .map(|f| (f.advice.setting, f.found.to_string()))
                .collect();
            assert_eq!(off, [(name, value.trim().to_string())], "{name}");
            assert_eq!(exit_code(&findings), OFF_EXIT, "{name}");
        }
    }

    #[test]
    fn at_least_compares_and_more_is_fine() {
        let max = ADVICE
            .iter()
            .find(|a| a.setting == "net.netfilter.nf_conntrack_max")
            .unwrap();
        let v = |n: i64| Found::Value(Value::Integer(n));
        assert_eq!(judge(max, &v(1_000_000)), Outcome::Ok);
        assert_eq!(judge(max, &v(4_000_000)), Outcome::Ok);
        assert_eq!(judge(max, &v(999_999)), Outcome::Off);
        assert_eq!(
            judge(max, &Found::Value(Value::Text("x".into()))),
            Outcome::Off
        );
        let forward = &ADVICE[1];
        assert_eq!(
            judge(forward, &Found::Value(Value::Integers(vec![1, 1]))),
            Outcome::Off
        );
    }

    #[test]
    fn without_br_netfilter_the_bridge_lines_say_so_and_do_not_fail() {
        let root = advised_but(&[
            ("net.bridge.bridge-nf-call-iptables", None),
            ("net.bridge.bridge-nf-call-ip6tables", None),
            ("net.bridge.bridge-nf-call-arptables", None),
        ]);
        let findings = check_at(root.path());
        let bridge: Vec<_> = outcomes(&findings)
            .into_iter()
            .filter(|(s, _)| s.starts_with("net.bridge."))
            .collect();
        assert_eq!(
            bridge,
            [
                ("net.bridge.bridge-nf-call-iptables", "n/a"),
                ("net.bridge.bridge-nf-call-ip6tables", "n/a"),
                ("net.bridge.bridge-nf-call-arptables", "n/a"),
            ]
        );
        assert!(text(&findings).contains("n/a      net.bridge.bridge-nf-call-iptables     absent"));
        assert_eq!(exit_code(&findings), 0);
    }

    #[test]
    fn without_ip_vs_or_conntrack_the_needed_lines_are_absent_and_exit_3() {
        let root = advised_but(&[
            ("net.ipv4.vs/", None),
            ("net.ipv4.vs.conntrack", None),
            ("net.ipv4.vs.expire_nodest_conn", None),
            ("net.ipv4.vs.expire_quiescent_template", None),
        ]);
        let findings = check_at(root.path());
        let absent: Vec<&str> = findings
            .iter()
            .filter(|f| f.outcome == Outcome::Absent)
            .map(|f| f.advice.setting)
            .collect();
        assert_eq!(
            absent,
            [
                "net.ipv4.vs",
                "net.ipv4.vs.conntrack",
                "net.ipv4.vs.expire_nodest_conn",
                "net.ipv4.vs.expire_quiescent_template"
            ]
        );
        assert_eq!(exit_code(&findings), OFF_EXIT);

        let root = advised_but(&[
            ("net.netfilter.nf_conntrack_max", None),
            ("net.netfilter.nf_conntrack_buckets", None),
        ]);
        let findings = check_at(root.path());
        let max = findings
            .iter()
            .find(|f| f.advice.setting.ends_with("max"))
            .unwrap();
        assert_eq!(max.outcome, Outcome::Absent);
        let buckets = findings
            .iter()
            .find(|f| f.advice.setting.ends_with("buckets"))
            .unwrap();
        assert_eq!(buckets.outcome, Outcome::NotApplicable);
        assert_eq!(exit_code(&findings), OFF_EXIT);
    }

    #[test]
    fn an_unreadable_setting_is_reported_with_its_error_and_exits_1_unless_one_is_off() {
        // A directory where the value should be: reading it fails (EISDIR), even as root.
        let root = advised_but(&[("net.ipv4.ip_forward", None)]);
        std::fs::create_dir(root.path().join("net/ipv4/ip_forward")).unwrap();
        let findings = check_at(root.path());
        let f = &findings[1];
        assert_eq!(
            (f.advice.setting, f.outcome),
            ("net.ipv4.ip_forward", Outcome::Unreadable)
        );
        let Found::Unreadable(error) = &f.found else {
            panic!("{:?}", f.found)
        };
        assert!(error.contains("net/ipv4/ip_forward"), "{error}");
        assert_eq!(exit_code(&findings), UNREADABLE_EXIT);
        let line = text(&findings).lines().nth(2).unwrap().to_string();
        assert!(
            line.starts_with("unreadable  net.ipv4.ip_forward "),
            "{line}"
        );
        assert!(line.contains(" unreadable  1 "), "{line}");
        assert!(line.contains("(cannot read: "), "{line}");

        let mut out = Vec::new();
        write_json(&findings, &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc[1]["outcome"], "unreadable");
        assert_eq!(doc[1]["found"], serde_json::Value::Null);
        assert!(doc[1]["error"]
            .as_str()
            .unwrap()
            .contains("net/ipv4/ip_forward"));
        assert!(doc[0].get("error").is_none());

        // An off setting beside it decides the exit status.
        std::fs::write(root.path().join("net/ipv4/conf/all/arp_ignore"), "0\n").unwrap();
        assert_eq!(exit_code(&check_at(root.path())), OFF_EXIT);
    }

    #[test]
    fn text_is_an_aligned_table_with_a_header() {
        let root = advised_but(&[("net.ipv4.ip_forward", Some("0\n"))]);
        let out = text(&check_at(root.path()));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), ADVICE.len() + 1);
        assert_eq!(
            lines[0],
            "OUTCOME  SETTING                                FOUND    ADVISED     WHY"
        );
        assert_eq!(
            lines[2],
            "off      net.ipv4.ip_forward                    0        1           the node forwards packets to real servers and Pods (NAT, Services)"
        );
        assert_eq!(
            lines[6],
            "ok       net.netfilter.nf_conntrack_max         1048576  >= 1000000  a full conntrack table drops new connections"
        );
        // Every column starts at the same place on every line.
        for column in ["SETTING", "FOUND", "ADVISED", "WHY"] {
            let at = lines[0].find(column).unwrap();
            for line in &lines[1..] {
                assert_eq!(&line[at - 2..at], "  ", "{column} in {line:?}");
                assert_ne!(&line[at..=at], " ", "{column} in {line:?}");
            }
        }
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn json_is_one_typed_object_per_setting() {
        let root = advised_but(&[("net.ipv4.conf.all.arp_announce", Some("0\n"))]);
        let mut out = Vec::new();
        write_json(&check_at(root.path()), &mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.starts_with("[\n  {\n    \"setting\": \"net.ipv4.vs\",\n    \"found\""),
            "{text}"
        );
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let items = doc.as_array().unwrap();
        assert_eq!(items.len(), ADVICE.len());
        assert_eq!(
            items[0],
            serde_json::json!({"setting": "net.ipv4.vs", "found": "present",
                "comparison": "present", "advised": null, "outcome": "ok",
                "reason": ADVICE[0].reason})
        );
        assert_eq!(
            items[5],
            serde_json::json!({"setting": "net.netfilter.nf_conntrack_max", "found": 1048576,
                "comparison": ">=", "advised": 1000000, "outcome": "ok",
                "reason": ADVICE[5].reason})
        );
        assert_eq!(items[6]["comparison"], "shown");
        assert_eq!(items[6]["outcome"], "info");
        assert_eq!(
            items[11],
            serde_json::json!({"setting": "net.ipv4.conf.all.arp_announce", "found": 0,
                "comparison": "=", "advised": 2, "outcome": "off",
                "reason": ADVICE[11].reason})
        );
    }
}
