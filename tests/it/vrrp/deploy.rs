//! The deployment's own configuration in a failover: keepalived.conf and the
//! API-server health script are extracted from deploy/kubernetes/keepalived-lite.yaml
//! (the ConfigMaps, placed where the DaemonSet mounts them; the one source, no copy)
//! and run unchanged but for the mounted paths, which point at the extracted copies.
//! Its VIP (192.0.2.100/24 on eth0) is already the segment's, so no address is
//! rewritten. Each node runs a fake kube-apiserver: HTTPS on 127.0.0.1:6443 inside
//! its namespace (python3's ssl, a certificate made by openssl in the test's
//! directory), answering /healthz with a status the test sets.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ipvs_lab::{must, Netns};

use super::harness::{prerequisites, wait_for, Daemon, Node, Segment};
use super::{expect_holder, expect_stable_holder, VIP};
use crate::ops_deploy::{extract_keepalived_config, MountedConfig};

/// The fake API server: `/healthz` answers with the status in `STATUS_FILE`.
const FAKE_APISERVER: &str = r#"
import http.server, ssl, sys
status_file, cert, key = sys.argv[1:4]
class Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = int(open(status_file).read()) if self.path == '/healthz' else 404
        body = b'ok' if code == 200 else b'[-]etcd failed: reason withheld'
        self.send_response(code)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(('127.0.0.1', 6443), Healthz)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(cert, key)
server.socket = tls.wrap_socket(server.socket, server_side=True)
print('listening', flush=True)
server.serve_forever()
"#;

/// A fake kube-apiserver in a namespace; killed when dropped or [`ApiServer::stop`]ped.
struct ApiServer {
    child: Option<Child>,
    status: PathBuf,
}

impl ApiServer {
    fn start(ns: &Netns, dir: &Path) -> ApiServer {
        let (cert, key) = (dir.join("apiserver.crt"), dir.join("apiserver.key"));
        must(&format!(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=127.0.0.1 -keyout {} -out {} 2>/dev/null",
            key.display(),
            cert.display()
        ));
        let status = dir.join("healthz-status");
        std::fs::write(&status, "200").expect("write");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns.name(), "python3", "-c", FAKE_APISERVER])
            .arg(&status)
            .arg(&cert)
            .arg(&key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the fake API server");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout).read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "listening", "fake API server did not start");
        ApiServer {
            child: Some(child),
            status,
        }
    }

    /// The status `/healthz` answers with from now on.
    fn answer(&self, code: u16) {
        std::fs::write(&self.status, code.to_string()).expect("write");
    }

    /// The API server goes down: nothing listens on 6443 any more.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Extracts the deployment's configuration into `node`'s directory and starts
/// `daemon` with it.
fn start_deployed(node: &mut Node, daemon: Daemon) -> MountedConfig {
    let mounted = extract_keepalived_config(node.dir.path());
    let conf = std::fs::read_to_string(mounted.conf()).expect("conf");
    node.start(daemon, &conf);
    mounted
}

/// Exit status of `script` (a command line) run inside `ns`.
fn exit_status(ns: &Netns, script: &str) -> i32 {
    ns.sh(script).status
}

#[test]
fn the_deployed_health_script_moves_the_vip_when_the_api_server_fails() {
    if !prerequisites("the_deployed_health_script_moves_the_vip_when_the_api_server_fails") {
        return;
    }
    let seg = Segment::new();
    // Equal priorities (the ConfigMap gives every node 100): the higher address wins.
    let mut ours = seg.node("ours", 74);
    let mut theirs = seg.node("keepalived", 73);
    let api_ours = ApiServer::start(&ours.ns, ours.dir.path());
    let mut api_theirs = ApiServer::start(&theirs.ns, theirs.dir.path());

    // In a directory of mode 0777, as a ConfigMap volume's own is, the script is
    // refused by enable_script_security (keepalived-lite: at start, exit 3): why the
    // DaemonSet mounts it with subPath.
    let volume = tempfile::tempdir().expect("temp dir");
    let mounted = extract_keepalived_config(volume.path());
    must(&format!("chmod 777 {}", volume.path().display()));
    let conf = std::fs::read_to_string(mounted.conf()).expect("conf");
    ours.start(Daemon::Ours, &conf);
    assert_eq!(ours.wait_exit(), Some(3), "{}", ours.log());
    let script = mounted.local("/usr/local/bin/health_check.sh");
    assert!(
        ours.log().contains(&format!(
            "vrrp_script chk_apiserver: SECURITY VIOLATION: directory {} is writable by everyone",
            volume.path().display()
        )),
        "{}",
        ours.log()
    );
    assert!(script.starts_with(volume.path()));
    // keepalived disables the check and runs on without it (no failover on an API
    // server failure).
    theirs.start(Daemon::Keepalived, &conf);
    let disabled = wait_for(Duration::from_secs(5), || {
        theirs.log().contains(&format!(
            "Unsafe permissions found for script '{}' - disabling",
            script.display()
        )) && theirs
            .log()
            .contains("Disabling track script chk_apiserver due to insecure")
    });
    assert!(disabled.is_some(), "{}", theirs.log());
    theirs.stop();

    // Mounted as the DaemonSet does (a root-owned directory nobody else may write).
    let mounted = start_deployed(&mut ours, Daemon::Ours);
    let script = mounted.local("/usr/local/bin/health_check.sh").to_owned();
    expect_holder(&[&ours], VIP, "ours", Duration::from_secs(10));
    start_deployed(&mut theirs, Daemon::Keepalived);
    expect_stable_holder(&[&ours, &theirs], VIP, "ours", Duration::from_secs(5));
    assert_eq!(ours.counter("effective_priority"), 100, "{}", ours.state());

    // The script as shipped, and the guide's form, by hand: an API server answering
    // 500 is healthy to the guide's curl (no -f) and unhealthy to the shipped one.
    api_ours.answer(500);
    let guide = "curl -k -s --connect-timeout 2 https://127.0.0.1:6443/healthz > /dev/null";
    assert_eq!(exit_status(&ours.ns, guide), 0);
    assert_eq!(exit_status(&ours.ns, &script.display().to_string()), 22);

    // So the 500 lowers our priority to 80 (weight -20, fall 2) and keepalived, at
    // 100 once its own script has risen, takes the VIP.
    expect_holder(
        &[&ours, &theirs],
        VIP,
        "keepalived",
        Duration::from_secs(25),
    );
    assert_eq!(ours.counter("effective_priority"), 80, "{}", ours.state());

    // Ours heals (rise 2); then keepalived's API server goes down (connection
    // refused): keepalived drops to 80 and ours, at 100, preempts.
    api_ours.answer(200);
    let risen = wait_for(Duration::from_secs(15), || {
        ours.counter("effective_priority") == 100
    });
    assert!(risen.is_some(), "{}", ours.state());
    assert_eq!(exit_status(&ours.ns, &script.display().to_string()), 0);
    api_theirs.stop();
    expect_holder(&[&ours, &theirs], VIP, "ours", Duration::from_secs(25));
    assert_eq!(ours.counter("effective_priority"), 100, "{}", ours.state());
}

/// deploy/firewall/vrrp.nft, loaded as it is into a node: adverts from an address
/// outside its peer set are dropped before the daemon sees them; the same advert
/// from a peer is accepted (the daemon yields to its priority 254).
#[test]
fn the_documented_firewall_admits_vrrp_only_from_the_peers() {
    if !prerequisites("the_documented_firewall_admits_vrrp_only_from_the_peers") {
        return;
    }
    let seg = Segment::new();
    // 192.0.2.11 and .12 are in the file's peer set, .14 is not.
    let mut ours = seg.node("ours", 11);
    let peer = seg.client(12);
    let stranger = seg.client(14);
    let rules = crate::ops_deploy::root().join("deploy/firewall/vrrp.nft");
    ours.ns.must(&format!("nft -f {}", rules.display()));
    ours.start(Daemon::Ours, &super::harness::Inst::v2(100).conf());
    expect_holder(&[&ours], VIP, "ours", Duration::from_secs(10));
    let send = |ns: &Netns, src: &str| {
        ns.must(&format!(
            "{} --interface eth0 --src {src} --vrid 51 --priority 254 --vip {VIP} --pass secret12 --count 3",
            ipvs_lab::workspace_bin("vrrp-send").display()
        ));
    };
    send(&stranger, "192.0.2.14");
    // The drop rule counted them; the daemon never heard them and stays master.
    let dropped = wait_for(Duration::from_secs(2), || {
        ours.ns
            .must("nft list chain inet keepalived_vrrp input")
            .stdout
            .contains("counter packets 3 ")
    });
    assert!(
        dropped.is_some(),
        "{}",
        ours.ns.must("nft list ruleset").stdout
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(ours.counter("adverts_received"), 0, "{}", ours.state());
    assert!(ours.has_vip(VIP));
    // A peer's advert passes: the daemon yields at once.
    send(&peer, "192.0.2.12");
    let yielded = wait_for(Duration::from_secs(2), || !ours.has_vip(VIP));
    assert!(yielded.is_some(), "{}", ours.log());
    assert!(ours.counter("adverts_received") >= 1, "{}", ours.state());
}
