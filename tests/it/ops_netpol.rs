//! deploy/kubernetes/networkpolicy.yaml against the Kubernetes API's rules, and the
//! guide's VRRP NetworkPolicy (`protocol: 112`) shown to be invalid. (The firewall
//! rule that does confine VRRP to the peers runs in `vrrp::deploy`.) Host tests.

use crate::ops_deploy::{must_succeed, root, run, validate};

/// The guide's egress policy for the keepalived pods, as it writes it.
const GUIDE_POLICY: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: keepalived
  namespace: kube-system
spec:
  podSelector:
    matchLabels:
      app: keepalived
  policyTypes:
    - Egress
  egress:
    - to:
        - ipBlock:
            cidr: 10.0.0.0/24
      ports:
        - protocol: 112
";

/// Python: the protocols the bundled Kubernetes schema allows in a NetworkPolicy
/// port (its description, "(TCP, UDP, or SCTP)": the schema itself has no enum;
/// the API server's validation enforces the list), then, for each file argv[1:],
/// `file: OK` or `file: kind/name: protocol P is not one of them`.
const PORT_PROTOCOLS: &str = r#"
import glob, json, os, re, sys, yaml, kubernetes_validate
base = os.path.join(os.path.dirname(kubernetes_validate.__file__), 'kubernetes-json-schema')
schema = json.load(open(glob.glob(base + '/v1.37.0-local-strict/networkpolicyport-networking-v1.json')[0]))
described = schema['properties']['protocol']['description']
allowed = re.search(r'\(([A-Z]+), ([A-Z]+), or ([A-Z]+)\)', described).groups()
print('allowed', ' '.join(allowed))
for path in sys.argv[1:]:
    bad = []
    for d in yaml.safe_load_all(open(path)):
        if d['kind'] != 'NetworkPolicy':
            continue
        for direction in ('ingress', 'egress'):
            for rule in d['spec'].get(direction, []):
                for p in rule.get('ports', []):
                    proto = p.get('protocol', 'TCP')
                    if proto not in allowed:
                        bad.append('%s: NetworkPolicy/%s: protocol %r is not one of them' % (path, d['metadata']['name'], proto))
    print('\n'.join(bad) if bad else path + ': OK')
"#;

#[test]
fn the_guides_vrrp_policy_is_invalid_and_the_shipped_ones_use_only_tcp_udp_sctp() {
    let dir = tempfile::tempdir().expect("tempdir");
    let guide = dir.path().join("guide.yaml");
    std::fs::write(&guide, GUIDE_POLICY).expect("write");
    // As the guide writes it: rejected by the schema (a protocol is a name).
    let out = validate(&guide);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("spec.egress.0.ports.0.protocol: 112 is not of type 'string'"),
        "{text}"
    );
    // Quoted, the schema lets it through (it has no enum), but the protocols the
    // API names are TCP, UDP and SCTP: "112" is none of them.
    let quoted = dir.path().join("quoted.yaml");
    std::fs::write(
        &quoted,
        GUIDE_POLICY.replace("protocol: 112", "protocol: \"112\""),
    )
    .expect("write");
    must_succeed("the quoted form against the schema", &validate(&quoted));
    let shipped = root().join("deploy/kubernetes/networkpolicy.yaml");
    let out = must_succeed(
        "checking port protocols",
        &run(
            "python3",
            &[
                "-c",
                PORT_PROTOCOLS,
                &quoted.to_string_lossy(),
                &shipped.to_string_lossy(),
            ],
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            "allowed TCP UDP SCTP".to_string(),
            format!(
                "{}: NetworkPolicy/keepalived: protocol '112' is not one of them",
                quoted.display()
            ),
            format!("{}: OK", shipped.display()),
        ]
    );
}

/// The shipped policies say what docs/operations.md says they do: VRRP from and to
/// the peers (and the multicast group) by rules without `ports`, scrapes on exactly
/// the DaemonSets' metrics ports.
#[test]
fn the_shipped_policies_admit_vrrp_by_peers_and_scrapes_on_the_daemonsets_ports() {
    let check = r#"
import yaml
pols = {d['metadata']['name']: d['spec'] for d in yaml.safe_load_all(open('deploy/kubernetes/networkpolicy.yaml'))}
ports = {}
for f in ['ipvs-exporter', 'keepalived-lite']:
    for d in yaml.safe_load_all(open('deploy/kubernetes/%s.yaml' % f)):
        if d['kind'] == 'DaemonSet':
            tpl = d['spec']['template']
            ports[f] = tpl['spec']['containers'][0]['ports'][0]['containerPort']
            labels = tpl['metadata']['labels']
vrrp = pols['keepalived-lite-vrrp']
assert vrrp['podSelector']['matchLabels'].items() <= labels.items()
assert sorted(vrrp['policyTypes']) == ['Egress', 'Ingress']
peers_in = [r for r in vrrp['ingress'] if 'ports' not in r]
peers_out = [r for r in vrrp['egress'] if 'ports' not in r]
assert len(peers_in) == 1 and len(peers_out) == 1, vrrp
cidrs_out = [p['ipBlock']['cidr'] for p in peers_out[0]['to']]
assert '224.0.0.18/32' in cidrs_out, cidrs_out
assert [p['ipBlock']['cidr'] for p in peers_in[0]['from']] == [c for c in cidrs_out if c != '224.0.0.18/32']
scrape_in = [r for r in vrrp['ingress'] if 'ports' in r]
assert [p['port'] for r in scrape_in for p in r['ports']] == [ports['keepalived-lite']]
scrape = pols['prometheus-scrapes-ipvs']
assert sorted(p['port'] for r in scrape['egress'] for p in r['ports']) == sorted(ports.values()), ports
print('ok')
"#;
    let out = must_succeed("checking the policies", &run("python3", &["-c", check]));
    assert_eq!(out.trim(), "ok");
}
