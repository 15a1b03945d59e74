//! deploy/kubernetes/prometheus-operator/: the PodMonitors and the PrometheusRule
//! validated against the Prometheus Operator's own CRD schemas (vendored in
//! tests/fixtures/prometheus-operator/, see its README; python's jsonschema, which
//! kubernetes-validate brings), the PrometheusRule's rules equal to
//! deploy/prometheus/ipvs-alerts.yml and unit-tested by promtool as taken from the
//! PrometheusRule, the PodMonitors agreeing with the DaemonSets and the scrape jobs.
//! Host tests.

use std::path::Path;
use std::process::Output;

use crate::ops_deploy::{files, must_succeed, promtool, root, run};

/// Python: validates every document of the files argv[2:] against the CRD schema
/// (argv[1]/*.schema.json) of its apiVersion and kind, strictly as the API server's
/// default field validation (Strict since Kubernetes 1.27) is: an object schema with
/// `properties` and neither `additionalProperties` nor
/// `x-kubernetes-preserve-unknown-fields` admits no other field. (The CRDs' CEL rules,
/// `x-kubernetes-validations`, are not evaluated.) One line per document; exit 1 on
/// any error.
const VALIDATE_CRS: &str = r#"
import glob, json, sys, yaml, jsonschema
schemas = {}
for f in glob.glob(sys.argv[1] + '/*.schema.json'):
    s = json.load(open(f))
    schemas[(s['group'] + '/' + s['version'], s['kind'])] = s['openAPIV3Schema']
def strict(node):
    if isinstance(node, dict):
        if (node.get('type') == 'object' and 'properties' in node
                and 'additionalProperties' not in node
                and not node.get('x-kubernetes-preserve-unknown-fields')):
            node['additionalProperties'] = False
        for v in node.values():
            strict(v)
    elif isinstance(node, list):
        for v in node:
            strict(v)
for s in schemas.values():
    strict(s)
failed = False
for path in sys.argv[2:]:
    for doc in yaml.safe_load_all(open(path)):
        key = (doc.get('apiVersion'), doc.get('kind'))
        name = '%s %s' % (doc.get('kind'), doc.get('metadata', {}).get('name'))
        if key not in schemas:
            print('%s: %s: no schema for %s' % (path, name, key))
            failed = True
            continue
        errors = sorted(jsonschema.Draft4Validator(schemas[key]).iter_errors(doc), key=str)
        for e in errors:
            print('%s: %s: %s: %s' % (path, name, '.'.join(map(str, e.absolute_path)), e.message))
        failed = failed or bool(errors)
        if not errors:
            print('%s: %s: valid' % (path, name))
sys.exit(1 if failed else 0)
"#;

fn validate_crs(paths: &[&Path]) -> Output {
    let schemas = root().join("tests/fixtures/prometheus-operator");
    let mut args = vec![
        "-c".to_string(),
        VALIDATE_CRS.to_string(),
        schemas.to_string_lossy().into_owned(),
    ];
    args.extend(paths.iter().map(|p| p.to_string_lossy().into_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run("python3", &args)
}

#[test]
fn operator_resources_validate_against_the_crd_schemas_and_broken_ones_do_not() {
    let manifests = files("deploy/kubernetes/prometheus-operator", "yaml");
    let paths: Vec<&Path> = manifests.iter().map(|p| p.as_path()).collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    let out = must_succeed("validating the operator resources", &validate_crs(&paths));
    for doc in [
        "PodMonitor ipvs-exporter: valid",
        "PodMonitor keepalived-lite: valid",
        "PrometheusRule ipvs-alerts: valid",
    ] {
        assert!(out.contains(doc), "{doc}:\n{out}");
    }
    // The validation can fail: a misspelt field, a duration the CRD's pattern
    // refuses, a kind without a schema.
    let dir = tempfile::tempdir().expect("tempdir");
    let monitors = std::fs::read_to_string(
        root().join("deploy/kubernetes/prometheus-operator/podmonitors.yaml"),
    )
    .expect("podmonitors");
    let rules = std::fs::read_to_string(
        root().join("deploy/kubernetes/prometheus-operator/prometheusrule.yaml"),
    )
    .expect("prometheusrule");
    for (name, text, error) in [
        (
            "misspelt.yaml",
            monitors.replacen("jobLabel:", "jobLabels:", 1),
            "PodMonitor ipvs-exporter: spec: Additional properties are not allowed ('jobLabels' was unexpected)",
        ),
        (
            "duration.yaml",
            rules.replacen("for: 2m", "for: 2 minutes", 1),
            "PrometheusRule ipvs-alerts: spec.groups.0.rules.0.for: '2 minutes' does not match",
        ),
        (
            "kind.yaml",
            monitors.replacen("kind: PodMonitor", "kind: PodMonitr", 1),
            "no schema for ('monitoring.coreos.com/v1', 'PodMonitr')",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        let out = validate_crs(&[&path]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!out.status.success(), "{name}: {text}");
        assert!(text.contains(error), "{name}: {text}");
    }
}

/// The PrometheusRule's `spec.groups` is ipvs-alerts.yml's `groups`, and promtool's
/// unit tests pass on the rules as taken from the PrometheusRule.
#[test]
fn the_prometheusrule_carries_the_rules_promtool_tests() {
    promtool();
    let dir = tempfile::tempdir().expect("tempdir");
    let extract = r#"
import sys, yaml
cr = yaml.safe_load(open('deploy/kubernetes/prometheus-operator/prometheusrule.yaml'))
rules = yaml.safe_load(open('deploy/prometheus/ipvs-alerts.yml'))
assert cr['spec'] == {'groups': rules['groups']}, 'the PrometheusRule differs from deploy/prometheus/ipvs-alerts.yml'
yaml.safe_dump(cr['spec'], open(sys.argv[1] + '/ipvs-alerts.yml', 'w'), sort_keys=False)
print(sum(len(g['rules']) for g in cr['spec']['groups']))
"#;
    let out = must_succeed(
        "comparing the PrometheusRule with the rules file",
        &run("python3", &["-c", extract, &dir.path().to_string_lossy()]),
    );
    let count: usize = out.trim().parse().expect("rule count");
    assert!(count >= 10, "{out}");
    let rules = dir.path().join("ipvs-alerts.yml");
    let out = must_succeed(
        "promtool check rules",
        &run("promtool", &["check", "rules", &rules.to_string_lossy()]),
    );
    assert!(
        out.contains(&format!("SUCCESS: {count} rules found")),
        "{out}"
    );
    std::fs::create_dir(dir.path().join("tests")).expect("mkdir");
    let tests = files("deploy/prometheus/tests", "yml");
    assert!(tests.len() >= 2, "{tests:?}");
    for t in &tests {
        let copy = dir.path().join("tests").join(t.file_name().expect("name"));
        std::fs::copy(t, &copy).expect("copy");
        let out = must_succeed(
            "promtool test rules",
            &run("promtool", &["test", "rules", &copy.to_string_lossy()]),
        );
        assert!(out.contains("SUCCESS"), "{out}");
    }
}

/// Each PodMonitor selects its DaemonSet's pods, on a port the container names, and
/// its jobLabel gives the job name the scrape configuration (and the alert rules)
/// use.
#[test]
fn the_podmonitors_scrape_what_the_scrape_config_scrapes() {
    let check = r#"
import yaml
monitors = list(yaml.safe_load_all(open('deploy/kubernetes/prometheus-operator/podmonitors.yaml')))
cm = yaml.safe_load(open('deploy/kubernetes/prometheus-scrape-config.yaml'))
jobs = [j['job_name'] for j in yaml.safe_load(cm['data']['ipvs-scrape.yml'])['scrape_configs']]
daemonsets = [d for f in ['ipvs-exporter', 'keepalived-lite']
              for d in yaml.safe_load_all(open('deploy/kubernetes/%s.yaml' % f)) if d['kind'] == 'DaemonSet']
seen = []
for pm in monitors:
    s = pm['spec']
    ds = [d for d in daemonsets
          if all(d['spec']['template']['metadata']['labels'].get(k) == v for k, v in s['selector']['matchLabels'].items())]
    assert len(ds) == 1, (pm['metadata']['name'], len(ds))
    tpl = ds[0]['spec']['template']
    assert ds[0]['metadata']['namespace'] in s['namespaceSelector']['matchNames']
    ports = [p['name'] for c in tpl['spec']['containers'] for p in c.get('ports', [])]
    for e in s['podMetricsEndpoints']:
        assert e['port'] in ports, (e['port'], ports)
    job = tpl['metadata']['labels'][s['jobLabel']]
    assert job in jobs, (job, jobs)
    seen.append(job)
assert sorted(seen) == sorted(jobs), (seen, jobs)
print('ok', ' '.join(sorted(seen)))
"#;
    let out = must_succeed("checking the PodMonitors", &run("python3", &["-c", check]));
    assert_eq!(out.trim(), "ok ipvs-exporter keepalived-lite");
}
