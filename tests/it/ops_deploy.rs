//! deploy/: the alert rules checked and unit-tested by the real `promtool` (Debian's
//! `prometheus` package), the Kubernetes manifests validated offline against the
//! Kubernetes schemas by `kubernetes-validate` (PyPI, strict mode), and the scrape
//! configuration inside the ConfigMap checked by `promtool check config`. Host tests:
//! nothing here needs IPVS.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use ipvs_lab::ensure_packages;

/// The version of kubernetes-validate the test installs when it is missing (it
/// bundles the schemas up to this Kubernetes version).
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
/// The Kubernetes version manifests are validated against.
const KUBERNETES_VERSION: &str = "1.37.0";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `program` in the workspace root; Python (`python3`, kubernetes-validate)
/// with the test's Python packages on its path.
pub fn run(program: impl AsRef<OsStr>, args: &[&str]) -> Output {
    let program = program.as_ref();
    let mut cmd = Command::new(program);
    // Only Python needs them (a first call installs them): not promtool, not the daemons.
    let python = program == "python3" || Path::new(program).ends_with("bin/kubernetes-validate");
    if python {
        cmd.env("PYTHONPATH", python_packages());
    }
    cmd.args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.to_string_lossy()))
}

/// Installs a PyPI requirement into `dir` under the build directory, unless the
/// file `marker` it installs is there already, and returns the directory.
/// `--target` leaves the system's Python alone: Debian's refuses installs into
/// its own site-packages (PEP 668). One install at a time: the tests run in
/// parallel threads of one process.
pub fn pip_target(requirement: &str, dir: &str, marker: &str) -> PathBuf {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one = INSTALLING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(dir);
    if !dir.join(marker).exists() {
        let out = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--target"])
            .arg(&dir)
            .arg(requirement)
            .output()
            .unwrap_or_else(|e| panic!("running python3 -m pip: {e}"));
        must_succeed(&format!("pip install {requirement}"), &out);
    }
    dir
}

/// The Python packages the deploy tests use: kubernetes-validate, and through it
/// PyYAML and jsonschema.
pub fn python_packages() -> PathBuf {
    pip_target(
        KUBERNETES_VALIDATE,
        "python-packages",
        "bin/kubernetes-validate",
    )
}

#[track_caller]
pub fn must_succeed(what: &str, out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

pub fn promtool() {
    ensure_packages(&[("/usr/bin/promtool", "prometheus")]).expect("install prometheus (promtool)");
}

pub fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect(dir)
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// The alert names of a rules file (`- alert: NAME` lines).
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(|n| n.trim().to_string())
        .collect()
}

#[test]
fn alert_rules_pass_promtool_check_and_every_alert_has_unit_tests() {
    promtool();
    let rules = "deploy/prometheus/ipvs-alerts.yml";
    let out = must_succeed(
        "promtool check rules",
        &run("promtool", &["check", "rules", rules]),
    );
    assert!(out.contains("SUCCESS"), "{out}");
    let tests = files("deploy/prometheus/tests", "yml");
    assert!(tests.len() >= 2, "{tests:?}");
    let mut tested = String::new();
    for t in &tests {
        let path = t.to_string_lossy();
        let out = must_succeed(
            "promtool test rules",
            &run("promtool", &["test", "rules", &path]),
        );
        assert!(out.contains("SUCCESS"), "{out}");
        tested += &std::fs::read_to_string(t).expect("test file");
    }
    let names = alert_names(&std::fs::read_to_string(root().join(rules)).expect("rules"));
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            tested.contains(&format!("alertname: {name}\n")),
            "alert {name} has no promtool unit test"
        );
    }
}

#[test]
fn a_wrong_expectation_fails_promtool_test_rules() {
    // The unit tests can fail: the same test with one expected label changed does.
    promtool();
    let dir = tempfile::tempdir().expect("tempdir");
    let tests = std::fs::read_to_string(root().join("deploy/prometheus/tests/keepalived.yml"))
        .expect("test file");
    let broken = tests.replacen(
        "summary: \"No node is MASTER",
        "summary: \"Someone is MASTER",
        1,
    );
    assert_ne!(broken, tests);
    std::fs::create_dir(dir.path().join("tests")).expect("mkdir");
    std::fs::copy(
        root().join("deploy/prometheus/ipvs-alerts.yml"),
        dir.path().join("ipvs-alerts.yml"),
    )
    .expect("copy rules");
    let file = dir.path().join("tests/keepalived.yml");
    std::fs::write(&file, broken).expect("write");
    let out = run("promtool", &["test", "rules", &file.to_string_lossy()]);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("KeepalivedVIPNoMaster"),
        "{out:?}"
    );
}

/// kubernetes-validate, installed from PyPI when missing.
pub fn kubernetes_validate() -> PathBuf {
    python_packages().join("bin/kubernetes-validate")
}

pub fn validate(path: &Path) -> Output {
    run(
        kubernetes_validate(),
        &[
            "--strict",
            "-k",
            KUBERNETES_VERSION,
            &path.to_string_lossy(),
        ],
    )
}

#[test]
fn kubernetes_manifests_validate_strictly_and_a_broken_one_does_not() {
    let manifests = files("deploy/kubernetes", "yaml");
    assert!(manifests.len() >= 2, "{manifests:?}");
    for m in &manifests {
        let out = must_succeed(&format!("validating {}", m.display()), &validate(m));
        assert!(out.contains("passed"), "{out}");
    }
    // Strict mode rejects a misspelt field: the validation can fail.
    let dir = tempfile::tempdir().expect("tempdir");
    let daemonset = std::fs::read_to_string(root().join("deploy/kubernetes/ipvs-exporter.yaml"))
        .expect("manifest");
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        daemonset.replacen("hostNetwork: true", "hostNetwrk: true", 1),
    )
    .expect("write");
    let out = validate(&broken);
    assert!(!out.status.success(), "{out:?}");
}

/// The scrape job in the ConfigMap agrees with the DaemonSet: the job name the alert
/// rules expect, the pod label it keeps, the annotated port the exporter listens on;
/// and the exporter's DaemonSet schedules on every node (every taint tolerated, no
/// control-plane node selector).
/// (Debian's promtool is built without Kubernetes service discovery, so
/// `promtool check config` cannot read this job; the ConfigMap itself is validated
/// by kubernetes-validate above.)
#[test]
fn scrape_config_in_the_configmap_matches_the_daemonset_and_the_rules() {
    let check = r#"
import yaml
cm = yaml.safe_load(open('deploy/kubernetes/prometheus-scrape-config.yaml'))
job = yaml.safe_load(cm['data']['ipvs-scrape.yml'])['scrape_configs'][0]
ds = yaml.safe_load(open('deploy/kubernetes/ipvs-exporter.yaml'))
tpl = ds['spec']['template']
# The exporter runs on every node: it tolerates every taint (no key, operator
# Exists, any effect) and no selector or affinity keeps it to control-plane nodes.
spec = tpl['spec']
assert {'operator': 'Exists'} in spec.get('tolerations', []), spec.get('tolerations')
assert not [k for k in spec.get('nodeSelector', {}) if 'control-plane' in k or 'master' in k], spec['nodeSelector']
assert 'affinity' not in spec, spec['affinity']
keep = [r['regex'] for r in job['relabel_configs'] if r.get('action') == 'keep']
c = tpl['spec']['containers'][0]
assert job['job_name'] == 'ipvs-exporter', job['job_name']
assert tpl['metadata']['labels']['app.kubernetes.io/name'] in keep, keep
assert tpl['metadata']['annotations']['prometheus.io/scrape'] in keep, keep
port = tpl['metadata']['annotations']['prometheus.io/port']
assert str(c['ports'][0]['containerPort']) == port, port
assert any(a.endswith(':' + port) for a in c['args']), c['args']
# keepalived-lite's job: its label, and the port its DaemonSet serves --metrics on.
job = yaml.safe_load(cm['data']['ipvs-scrape.yml'])['scrape_configs'][1]
ds = [d for d in yaml.safe_load_all(open('deploy/kubernetes/keepalived-lite.yaml')) if d['kind'] == 'DaemonSet'][0]
tpl = ds['spec']['template']
keep = [r['regex'] for r in job['relabel_configs'] if r.get('action') == 'keep']
c = tpl['spec']['containers'][0]
assert job['job_name'] == 'keepalived-lite', job['job_name']
assert tpl['metadata']['labels']['app.kubernetes.io/name'] in keep, keep
assert tpl['metadata']['annotations']['prometheus.io/scrape'] in keep, keep
port = tpl['metadata']['annotations']['prometheus.io/port']
assert str(c['ports'][0]['containerPort']) == port, port
assert '--metrics=$(NODE_IP):' + port in c['args'], c['args']
# Its probes ask the daemon's own /healthz (the VRRP loop's heartbeat) on that port.
for probe in ('livenessProbe', 'readinessProbe'):
    assert c[probe]['httpGet'] == {'path': '/healthz', 'port': c['ports'][0]['name']}, c[probe]
print('ok')
"#;
    let out = must_succeed("checking the scrape job", &run("python3", &["-c", check]));
    assert_eq!(out.trim(), "ok");
    let rules =
        std::fs::read_to_string(root().join("deploy/prometheus/ipvs-alerts.yml")).expect("rules");
    assert!(rules.contains(r#"up{job="ipvs-exporter"}"#));
}

/// The metric names (words with the exporters' prefixes) in PromQL or YAML text.
pub fn metric_words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| {
            w.starts_with("node_ipvs_") || w.starts_with("ipvs_") || w.starts_with("keepalived_")
        })
        .collect()
}

/// The series names a text exposition declares (`# TYPE` lines; counters with
/// `_total`, which OpenMetrics leaves out of the family name and the classic text
/// format keeps in it).
pub fn declared_families(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|t| match t.split_once(' ') {
            Some((name, "counter")) if !name.ends_with("_total") => format!("{name}_total"),
            Some((name, _)) => name.to_string(),
            None => t.to_string(),
        })
        .collect()
}

/// Every PromQL expression of the Grafana dashboard, after checking its shape:
/// panels with unique ids, each non-row panel with at least one target.
pub fn dashboard_exprs() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("deploy/grafana/ipvs.json")).expect("dashboard");
    let d: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    assert!(d["title"].is_string() && d["uid"].is_string(), "title, uid");
    let panels = d["panels"].as_array().expect("panels");
    let mut ids: Vec<u64> = panels
        .iter()
        .map(|p| p["id"].as_u64().expect("id"))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    let mut exprs = Vec::new();
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "panel {} has no query", p["title"]);
        for t in targets {
            let e = t["expr"].as_str().expect("expr");
            assert!(!e.trim().is_empty(), "panel {}", p["title"]);
            exprs.push(e.to_string());
        }
    }
    assert!(exprs.len() >= 15, "{exprs:?}");
    exprs
}

/// Every family the exporter, its VRRP and checker modules emit is in
/// docs/operations.md's reference, and every metric the alert rules and the Grafana
/// dashboard read is emitted. (The lab test `ops::exporter_agrees_with_ipvsadm_and_prometheus_reads_it`
/// checks the same against the daemons' real scrapes and runs the dashboard's
/// queries on the real Prometheus.)
#[test]
fn the_metrics_reference_the_rules_and_the_dashboard_name_only_emitted_families() {
    use ipvs_core::{
        Destination, ForwardMethod, Scheduler, Service, ServiceKey, Table, TableEntry,
    };
    use ipvs_exporter::checker::{CheckerCollector, RealServerMetrics, VirtualServerMetrics};
    use ipvs_exporter::vrrp::{ScriptMetrics, VrrpCollector, VrrpInstanceMetrics, VrrpState};
    let key = ServiceKey::tcp("192.0.2.1:80".parse().expect("address"));
    let dest = Destination::new(
        "198.51.100.2:80".parse().expect("address"),
        ForwardMethod::Masquerade,
    );
    let table = Table::new(vec![TableEntry::new(
        Service::new(key, Scheduler::Rr),
        vec![dest],
    )]);
    let mut instance = VrrpInstanceMetrics::new("VI_API", "eth0", 51, VrrpState::Master);
    instance.dropped_by_reason = vec![("checksum".into(), 0)];
    let vrrp = VrrpCollector::new(
        vec![instance],
        vec![ScriptMetrics::new("chk_apiserver", true)],
    );
    let checker = CheckerCollector::new(vec![VirtualServerMetrics {
        name: "[192.0.2.1]:tcp:80".into(),
        quorum_up: true,
        real_servers: vec![RealServerMetrics {
            address: "198.51.100.2".parse().expect("address"),
            port: 80,
            up: true,
            weight: 1,
        }],
    }]);
    let health = ipvs_exporter::scrape::HealthCollector(ipvs_exporter::scrape::ScrapeHealth {
        success: true,
        errors_total: 0,
        read_seconds: 0.0,
    });
    let sysctl = ipvs_exporter::kernel::SysctlCollector::new(vec![ipvs_exporter::kernel::Sysctl {
        name: "net.ipv4.ip_forward".into(),
        value: 1,
    }]);
    let text = ipvs_exporter::encode_collectors(vec![
        Box::new(ipvs_exporter::ipvs::IpvsCollector::new(table)),
        Box::new(health),
        Box::new(sysctl),
        Box::new(vrrp),
        Box::new(checker),
    ])
    .expect("encode");
    let emitted = declared_families(&text);
    assert!(emitted.len() > 50, "{emitted:?}");
    keepalived_lite_jobs_drop_exactly_the_ipvs_families(&emitted);
    let doc =
        std::fs::read_to_string(root().join("docs/operations.md")).expect("docs/operations.md");
    for name in &emitted {
        assert!(
            doc.contains(&format!("`{name}`")),
            "{name} is not in docs/operations.md's reference"
        );
    }
    let rules =
        std::fs::read_to_string(root().join("deploy/prometheus/ipvs-alerts.yml")).expect("rules");
    // Every metric-like word of the rules file (expressions, also multi-line ones,
    // and comments) and of the dashboard's queries must be emitted.
    let exprs = dashboard_exprs().join("\n");
    for (what, text) in [("the rules", &rules), ("the dashboard", &exprs)] {
        let read = metric_words(text);
        assert!(read.len() > 10, "{what}: {read:?}");
        for m in read {
            assert!(
                emitted.iter().any(|e| e == m),
                "{what} read {m}, which nothing emits"
            );
        }
    }
}

/// The keepalived-lite scrape job and PodMonitor drop the same families: every
/// IPVS family (ipvs-exporter serves them on every node) and no VRRP or checker
/// one. Prometheus anchors a relabel regex at both ends, as `re.fullmatch` does.
fn keepalived_lite_jobs_drop_exactly_the_ipvs_families(emitted: &[String]) {
    let check = r#"
import re, sys, yaml
cm = yaml.safe_load(open('deploy/kubernetes/prometheus-scrape-config.yaml'))
job = [j for j in yaml.safe_load(cm['data']['ipvs-scrape.yml'])['scrape_configs'] if j['job_name'] == 'keepalived-lite'][0]
pm = [d for d in yaml.safe_load_all(open('deploy/kubernetes/prometheus-operator/podmonitors.yaml')) if d['metadata']['name'] == 'keepalived-lite'][0]
endpoint = pm['spec']['podMetricsEndpoints'][0]
drops = [r for r in job.get('metric_relabel_configs', []) if r.get('action') == 'drop']
ops = [r for r in endpoint.get('metricRelabelings', []) if r.get('action') == 'drop']
assert [(r['source_labels'], r['regex']) for r in drops] == [(r['sourceLabels'], r['regex']) for r in ops], (drops, ops)
assert [r['source_labels'] for r in drops] == [['__name__']], drops
dropped = [f for f in sys.argv[1:] if re.fullmatch(drops[0]['regex'], f)]
print(' '.join(dropped))
"#;
    let mut args = vec!["-c", check];
    args.extend(emitted.iter().map(String::as_str));
    let out = must_succeed(
        "checking the keepalived-lite drop rule",
        &run("python3", &args),
    );
    let dropped: Vec<&str> = out.split_whitespace().collect();
    let ipvs: Vec<&str> = emitted
        .iter()
        .map(String::as_str)
        .filter(|f| f.starts_with("node_ipvs_") || f.starts_with("ipvs_"))
        .collect();
    assert!(ipvs.len() > 20, "{ipvs:?}");
    assert_eq!(
        dropped, ipvs,
        "the keepalived-lite job drops these, ipvs-exporter serves those"
    );
}

/// Python: the files keepalived-lite's DaemonSet mounts from its ConfigMaps, read
/// from deploy/kubernetes/keepalived-lite.yaml as the kubelet would place them (each
/// `volumeMounts` entry of a ConfigMap volume, `subPath` or whole directory, with
/// `items`/`defaultMode`). Each is written under argv[1] by its base name, with every
/// mounted path inside every file rewritten to the written copy, and its mode; prints
/// JSON: `{"files": {container path: [local path, mode]}, "args": [...]}`.
const EXTRACT_KEEPALIVED: &str = r#"
import json, os, sys, yaml
out = sys.argv[1]
docs = list(yaml.safe_load_all(open('deploy/kubernetes/keepalived-lite.yaml')))
cms = {d['metadata']['name']: d for d in docs if d['kind'] == 'ConfigMap'}
spec = [d for d in docs if d['kind'] == 'DaemonSet'][0]['spec']['template']['spec']
vols = {v['name']: v for v in spec['volumes']}
c = spec['containers'][0]
files = {}
for m in c['volumeMounts']:
    cmv = vols[m['name']].get('configMap')
    if cmv is None:
        continue
    data = cms[cmv['name']]['data']
    items = cmv.get('items') or [{'key': k, 'path': k} for k in data]
    for it in items:
        mode = it.get('mode', cmv.get('defaultMode', 0o644))
        if 'subPath' in m:
            if m['subPath'] == it['path']:
                files[m['mountPath']] = (data[it['key']], mode)
        else:
            files[os.path.join(m['mountPath'], it['path'])] = (data[it['key']], mode)
local = {p: os.path.join(out, os.path.basename(p)) for p in files}
for p, (text, mode) in files.items():
    for q, l in local.items():
        text = text.replace(q, l)
    open(local[p], 'w').write(text)
    os.chmod(local[p], mode)
print(json.dumps({'files': {p: [local[p], files[p][1]] for p in files}, 'args': c['args']}))
"#;

/// keepalived-lite's configuration as its DaemonSet mounts it, extracted from the
/// manifest (the one source) into a directory.
#[derive(Debug)]
pub struct MountedConfig {
    /// Container path -> (local copy, mode).
    pub files: std::collections::BTreeMap<String, (PathBuf, u32)>,
    /// The container's arguments.
    pub args: Vec<String>,
}

impl MountedConfig {
    /// The local copy of the file the DaemonSet mounts at `container_path`.
    pub fn local(&self, container_path: &str) -> &Path {
        &self
            .files
            .get(container_path)
            .unwrap_or_else(|| panic!("nothing mounted at {container_path}: {self:?}"))
            .0
    }

    /// The local copy of the configuration the daemon is started with
    /// (`--use-file=`).
    pub fn conf(&self) -> &Path {
        let path = self
            .args
            .iter()
            .find_map(|a| a.strip_prefix("--use-file="))
            .expect("--use-file= in the DaemonSet's args");
        self.local(path)
    }
}

/// Extracts keepalived-lite's mounted configuration into `dir` (see
/// [`EXTRACT_KEEPALIVED`]).
pub fn extract_keepalived_config(dir: &Path) -> MountedConfig {
    let out = must_succeed(
        "extracting keepalived-lite's ConfigMaps",
        &run(
            "python3",
            &["-c", EXTRACT_KEEPALIVED, &dir.to_string_lossy()],
        ),
    );
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("extractor's JSON");
    let files = v["files"]
        .as_object()
        .expect("files")
        .iter()
        .map(|(k, f)| {
            let local = PathBuf::from(f[0].as_str().expect("path"));
            let mode = f[1].as_u64().expect("mode") as u32;
            (k.clone(), (local, mode))
        })
        .collect();
    let args = v["args"]
        .as_array()
        .expect("args")
        .iter()
        .map(|a| a.as_str().expect("arg").to_string())
        .collect();
    MountedConfig { files, args }
}

/// The keepalived.conf and the health script keepalived-lite's DaemonSet mounts,
/// extracted from the YAML (the one source): keepalived-lite and the real keepalived
/// accept the configuration (`-t`); the script is where the configuration runs it,
/// executable and writable by nobody but root (the volume's mode; the mount is
/// read-only besides).
#[test]
fn the_keepalived_conf_in_the_configmap_passes_the_config_test() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mounted = extract_keepalived_config(dir.path());
    let script = "/usr/local/bin/health_check.sh";
    let names: Vec<&str> = mounted.files.keys().map(String::as_str).collect();
    assert_eq!(names, ["/etc/keepalived/keepalived.conf", script]);
    let conf_text = std::fs::read_to_string(mounted.conf()).expect("conf");
    let local_script = mounted.local(script);
    assert!(
        conf_text.contains(&format!("script \"{}\"", local_script.display())),
        "{conf_text}"
    );
    assert!(conf_text.contains("enable_script_security"), "{conf_text}");
    for (path, (_, mode)) in &mounted.files {
        assert_eq!(mode & 0o022, 0, "{path} is writable by group or others");
    }
    assert_eq!(mounted.files[script].1 & 0o111, 0o111, "script executable");
    let conf = mounted.conf().to_string_lossy().into_owned();
    let ours = run(
        ipvs_lab::workspace_bin("keepalived-lite"),
        &["-t", "-f", &conf],
    );
    let text = must_succeed("keepalived-lite -t", &ours);
    assert!(text.trim().is_empty(), "{text}");
    if Command::new("keepalived").arg("--version").output().is_ok() {
        let theirs = run("keepalived", &["-t", "-f", &conf]);
        must_succeed("keepalived -t", &theirs);
    }
}
