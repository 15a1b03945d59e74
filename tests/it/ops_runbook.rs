//! The runbook of docs/operations.md, run: every line of every shell block of its
//! "## Runbook" section, read from the document when the test runs (one source, no
//! copy), in order. Each line is matched to a step ([`STEPS`], by its beginning)
//! that knows where it runs (each node, the node holding the VIP, the client) and
//! checks its effect; a line no step matches fails the run, so a command added to
//! the runbook without a test breaks the build. Node commands run in the lab on two
//! directors with keepalived-lite and ipvs-exporter, two real servers and a client
//! ([`Rig`], tests/it/ops_runbook/rig.rs); kubectl lines run the real kubectl
//! against a fake API server (tests/it/ops_runbook/kubectl.rs).

mod kubectl;
mod rig;

use crate::ops_deploy::root;

/// Where a runbook line goes and what it must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `ipvsadm-rs --check` on each node: exit 0 exactly when the guide's parameters hold.
    Check,
    /// `sysctl -w ...` on each node (`nf_conntrack_max` kernel-wide): values read back.
    SysctlWrite,
    /// `modprobe MODULE` (the kernel's, so once for every node): loaded, its
    /// `/sys/module` entry there.
    Modprobe,
    /// `ipvsadm-rs --sysctl` on each node: what `sysctl net.ipv4.vs` prints.
    SysctlList,
    /// kubectl: the real kubectl against the fake API server (not in the lab).
    Kubectl,
    /// `keepalived-lite -t` on each node: accepted, and by the real keepalived too.
    ConfigTest,
    /// The daemon started on each node that has none; the highest priority gets the VIP.
    StartDaemon,
    /// The exporter started on each node that has none.
    StartExporter,
    /// `ip addr show eth0 | grep VIP` on each node: only the expected holder has it.
    VipHolder,
    /// A grep of keepalived-lite's `/metrics` on each node: every series checked.
    DaemonMetrics,
    /// A grep of ipvs-exporter's `/metrics` on each node: every series checked.
    ExporterMetrics,
    /// `curl -k https://VIP:6443/healthz` from the client: `ok`.
    ClientHealthz,
    /// A loop of requests from the client: `ok` each time.
    ClientLoop,
    /// `ipvsadm-rs -Ln -t VIP:PORT` on the holder: both real servers; the real ipvsadm's bytes.
    List,
    /// `--stats --exact` on the holder: both real servers took requests.
    Stats,
    /// `--rate` on the holder: the service and both real servers.
    Rate,
    /// `-Lnc` on the holder: connection entries to both real servers.
    Connections,
    /// `--json` on the holder: the service and both real servers.
    Json,
    /// `kill -TERM` of the daemon on the holder: it exits; the VIP is expected elsewhere.
    StopMaster,
    /// The state file on each node: state, priority and master as expected.
    StateFile,
    /// tcpdump on each node: the holder's adverts.
    Tcpdump,
    /// `setpriv` keeping only `NET_ADMIN`: the listing still works.
    NetAdminOnly,
    /// `setpriv` dropping every capability: refused, as the real ipvsadm is.
    NoCapabilities,
}

/// Each step by how its lines begin. A line must match exactly one.
pub const STEPS: &[(&str, Step)] = &[
    ("ipvsadm-rs --check", Step::Check),
    ("sysctl -w ", Step::SysctlWrite),
    ("modprobe ", Step::Modprobe),
    ("ipvsadm-rs --sysctl", Step::SysctlList),
    ("kubectl ", Step::Kubectl),
    ("keepalived-lite -t ", Step::ConfigTest),
    ("keepalived-lite --dont-fork ", Step::StartDaemon),
    ("ipvs-exporter --listen ", Step::StartExporter),
    ("ip addr show eth0 | grep ", Step::VipHolder),
    (
        r#"curl -s "http://$NODE_IP:9650/metrics" | "#,
        Step::DaemonMetrics,
    ),
    (
        r#"curl -s "http://$NODE_IP:9888/metrics" | "#,
        Step::ExporterMetrics,
    ),
    ("curl -k https://", Step::ClientHealthz),
    ("for i in ", Step::ClientLoop),
    ("ipvsadm-rs -Ln -t ", Step::List),
    ("ipvsadm-rs -Ln --stats --exact ", Step::Stats),
    ("ipvsadm-rs -Ln --rate ", Step::Rate),
    ("ipvsadm-rs -Lnc", Step::Connections),
    ("ipvsadm-rs -Ln --json ", Step::Json),
    ("kill -TERM ", Step::StopMaster),
    ("cat /run/keepalived-lite.json", Step::StateFile),
    ("timeout 10 tcpdump ", Step::Tcpdump),
    (
        "setpriv --bounding-set=-all,+net_admin ",
        Step::NetAdminOnly,
    ),
    ("setpriv --bounding-set=-all ", Step::NoCapabilities),
];

/// One command of the runbook: its line in the document, its text, its step.
#[derive(Debug, Clone)]
pub struct Line {
    /// 1-based line number in docs/operations.md.
    pub number: usize,
    /// The command as written (continuation lines joined).
    pub text: String,
    /// What runs and checks it.
    pub step: Step,
}

/// The runbook section of `doc`: from `## Runbook` to the next `## ` heading, with
/// the line number of its first line.
fn runbook_section(doc: &str) -> Result<(usize, Vec<&str>), String> {
    let lines: Vec<&str> = doc.lines().collect();
    let start = lines
        .iter()
        .position(|l| *l == "## Runbook")
        .ok_or("docs/operations.md has no `## Runbook` section")?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    Ok((start + 1, lines[start..end].to_vec()))
}

/// Every command of every fenced block of the runbook, each matched to its step.
/// Errors name the line: a block that is not `sh` (its commands would go unrun), an
/// unclosed block, a command no step (or more than one) matches.
pub fn plan(doc: &str) -> Result<Vec<Line>, String> {
    let (first, section) = runbook_section(doc)?;
    let mut out = Vec::new();
    let mut in_block = false;
    let mut in_conf = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, raw) in section.iter().enumerate() {
        let number = first + i;
        let line = raw.trim();
        if let Some(info) = line.strip_prefix("```") {
            if in_block || in_conf {
                (in_block, in_conf) = (false, false);
                continue;
            }
            match info {
                "sh" => in_block = true,
                // The nodes' keepalived.conf: see runbook_conf.
                "conf" => in_conf = true,
                _ => {
                    return Err(format!(
                        "docs/operations.md:{number}: a ```{info} block in the runbook: commands go in ```sh blocks, which the test runs"
                    ))
                }
            }
            continue;
        }
        if !in_block {
            continue;
        }
        let (start, mut text) = pending.take().unwrap_or((number, String::new()));
        text.push_str(line.trim_end_matches('\\').trim_end());
        if line.ends_with('\\') {
            text.push(' ');
            pending = Some((start, text));
            continue;
        }
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let matches: Vec<Step> = STEPS
            .iter()
            .filter(|(prefix, _)| text.starts_with(prefix))
            .map(|(_, step)| *step)
            .collect();
        match matches[..] {
            [step] => out.push(Line {
                number: start,
                text,
                step,
            }),
            [] => {
                return Err(format!(
                    "docs/operations.md:{start}: `{text}` is run by no step of tests/it/ops_runbook.rs: add one that runs it and checks its effect"
                ))
            }
            _ => {
                return Err(format!(
                    "docs/operations.md:{start}: `{text}` matches several steps: {matches:?}"
                ))
            }
        }
    }
    if in_block || in_conf {
        return Err("docs/operations.md: the runbook's last block is not closed".into());
    }
    Ok(out)
}

/// The runbook's one ```conf block: the first node's keepalived.conf.
pub fn runbook_conf() -> String {
    let doc = std::fs::read_to_string(root().join("docs/operations.md")).expect("doc");
    let (_, section) = runbook_section(&doc).unwrap_or_else(|e| panic!("{e}"));
    let text = section.join("\n");
    let blocks: Vec<&str> = text
        .split("```conf\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or(""))
        .collect();
    match blocks[..] {
        [conf] => conf.to_string(),
        _ => panic!(
            "the runbook should have one ```conf block, it has {}",
            blocks.len()
        ),
    }
}

/// The runbook as the document has it now.
pub fn runbook() -> Vec<Line> {
    let doc =
        std::fs::read_to_string(root().join("docs/operations.md")).expect("docs/operations.md");
    plan(&doc).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_runbook_command_has_a_step_and_one_without_fails_the_plan() {
    let lines = runbook();
    let steps: Vec<Step> = lines.iter().map(|l| l.step).collect();
    // The guide's operations are all there.
    for step in [
        Step::SysctlWrite,
        Step::Kubectl,
        Step::StartDaemon,
        Step::VipHolder,
        Step::ClientHealthz,
        Step::List,
        Step::Stats,
        Step::StopMaster,
        Step::Tcpdump,
        Step::ExporterMetrics,
        Step::NetAdminOnly,
    ] {
        assert!(steps.contains(&step), "the runbook has no {step:?} line");
    }

    let doc = std::fs::read_to_string(root().join("docs/operations.md")).expect("doc");
    // A new command in a runbook block, with no step: the plan (and so the lab test) fails.
    let added = doc.replacen("ipvsadm-rs -Lnc\n", "ipvsadm-rs -Lnc\nipvsadm-rs -Z\n", 1);
    assert_ne!(added, doc, "the runbook lost its `ipvsadm-rs -Lnc` line");
    let err = plan(&added).expect_err("a command without a step");
    assert!(err.contains("`ipvsadm-rs -Z` is run by no step"), "{err}");
    // A block the test would not run.
    let bash = doc.replacen("```sh\nipvsadm-rs -Ln -t", "```bash\nipvsadm-rs -Ln -t", 1);
    assert_ne!(bash, doc);
    let err = plan(&bash).expect_err("a bash block");
    assert!(err.contains("a ```bash block in the runbook"), "{err}");
}

ipvs_lab::lab_test! {
    /// The runbook's node and client commands, in order, on two directors with
    /// keepalived-lite holding VIP 192.0.2.100, two real servers behind it and a
    /// client (tests/it/ops_runbook/rig.rs); each line's effect is checked by its step.
    fn the_runbook_runs_on_two_directors_real_servers_and_a_client() {
        let mut rig = rig::Rig::start(&runbook_conf());
        for line in runbook() {
            rig.run(&line);
        }
        rig.finish();
    }
}
