//! ipvs-exporter in the lab: a table programmed by the real ipvsadm, real NAT
//! traffic, the exporter's numbers against `ipvsadm -Ln --stats --exact` and
//! `ipvsadm -Ln` under node_exporter's names and label formats, the output checked by
//! the real `promtool check metrics`, and the real Prometheus (Debian's package)
//! scraping the exporter and answering queries through its HTTP API; then the same
//! Prometheus scraping keepalived-lite's `--metrics` through a failover
//! (tests/it/ops_vrrp.rs).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipvs_lab::{lab_test, must, workspace_bin, TcpServer, Topology};

use crate::ops_vrrp::{
    failover_under_traffic, Prometheus, VrrpPair, DIRECTOR_METRICS, PEER_METRICS,
};

/// A child process killed on drop (also when an assertion fails).
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `ipvs-exporter --listen addr`, started and answering: the workspace's build, or
/// the binary `IPVS_EXPORTER_BIN` names (a release build for the benchmark).
pub fn start_exporter(addr: SocketAddr) -> Killed {
    let bin = std::env::var_os("IPVS_EXPORTER_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_bin("ipvs-exporter"));
    let child = Command::new(bin)
        .args(["--listen", &addr.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("start ipvs-exporter");
    let killed = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "ipvs-exporter did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    killed
}

/// An HTTP/1.1 GET with `Connection: close`: the response head, and the body as a
/// reader (chunked transfer encoding decoded), so large bodies stream.
pub fn http_get_stream(addr: SocketAddr, path: &str, accept: &str) -> (String, ChunkedBody) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(300)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("response head");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head += &line;
    }
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    (
        head,
        ChunkedBody {
            reader,
            chunked,
            left: 0,
            done: false,
        },
    )
}

/// The whole body of a GET (see [`http_get_stream`]).
pub fn http_get(addr: SocketAddr, path: &str, accept: &str) -> (String, String) {
    let (head, mut body) = http_get_stream(addr, path, accept);
    let mut text = String::new();
    body.read_to_string(&mut text).expect("response body");
    (head, text)
}

/// A response body, chunked (RFC 9112 section 7.1) or read to the end.
pub struct ChunkedBody {
    reader: BufReader<TcpStream>,
    chunked: bool,
    left: usize,
    done: bool,
}

impl Read for ChunkedBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.chunked {
            return self.reader.read(buf);
        }
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut size = String::new();
            self.reader.read_line(&mut size)?;
            let hex = size.trim().split(';').next().unwrap_or("");
            self.left = usize::from_str_radix(hex, 16).map_err(|_| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("chunk size {size:?}"),
                )
            })?;
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.reader.read(&mut buf[..want])?;
        self.left -= n;
        if self.left == 0 {
            let mut crlf = String::new();
            self.reader.read_line(&mut crlf)?;
        }
        Ok(n)
    }
}

/// Series line (name with labels) to value, from the text format.
pub fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series and value");
            (
                series.to_string(),
                value
                    .parse::<f64>()
                    .unwrap_or_else(|_| panic!("value in {l:?}")),
            )
        })
        .collect()
}

/// The five counters of the first `ipvsadm -Ln --stats --exact` line containing `needle`.
fn exact(stats: &str, needle: &str) -> Vec<u64> {
    let line = stats
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} in {stats}"));
    line.split_whitespace()
        .skip(2)
        .map(|v| v.parse().expect("counter"))
        .collect()
}

/// `ipvsadm -Ln --stats --exact` once the 2-second estimator has folded everything in.
fn settled_stats() -> String {
    let mut last = must("ipvsadm -Ln --stats --exact").stdout;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        std::thread::sleep(Duration::from_millis(2100));
        let now = must("ipvsadm -Ln --stats --exact").stdout;
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// The five counters of a service or destination, as the `ipvs_` families name them.
pub const COUNTERS: [&str; 5] = [
    "connections",
    "incoming_packets",
    "outgoing_packets",
    "incoming_bytes",
    "outgoing_bytes",
];

fn node_labels(vip: &str, port: u16, rs: &str, rport: u16, proto: &str, mark: &str) -> String {
    format!(
        r#"{{local_address="{vip}",local_port="{port}",remote_address="{rs}",remote_port="{rport}",proto="{proto}",local_mark="{mark}"}}"#
    )
}

lab_test! {
    /// The exporter's numbers equal ipvsadm's after NAT traffic, under node_exporter's
    /// names and labels (TCP and fwmark services, a service without real servers);
    /// promtool accepts the output; a real Prometheus scrapes it and its query API
    /// returns the same counters. Then the real Prometheus also scrapes two
    /// keepalived-lite daemons through client traffic, a failover and a split brain
    /// (issue 11's acceptance, tests/it/ops_vrrp.rs).
    fn exporter_agrees_with_ipvsadm_and_prometheus_reads_it() {
        let topo = Topology::nat(2);
        let _echo: Vec<TcpServer> =
            topo.servers.iter().map(|s| TcpServer::echo(&s.ns, SocketAddr::new(s.addr, 8080))).collect();
        let vip = topo.vip;
        let (rs0, rs1) = (topo.servers[0].addr, topo.servers[1].addr);
        must(&format!("ipvsadm -A -t {vip}:80 -s rr"));
        must(&format!("ipvsadm -a -t {vip}:80 -r {rs0}:8080 -m -w 1"));
        must(&format!("ipvsadm -a -t {vip}:80 -r {rs1}:8080 -m -w 3"));
        must("ipvsadm -A -f 7 -s wrr");
        must(&format!("ipvsadm -a -f 7 -r {rs0}:8080 -m -w 0"));
        must(&format!("ipvsadm -A -u {vip}:53 -s rr"));
        let target = SocketAddr::new(vip, 80);
        // Five echoed and closed connections (inactive), then three left open without
        // data (active: the handshake is done; the echo servers serve one at a time).
        let open: Vec<TcpStream> = topo
            .client
            .spawn(move || {
                for _ in 0..5 {
                    let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(5)).expect("connect");
                    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
                    s.write_all(b"0123456789").expect("write");
                    let mut b = [0u8; 10];
                    s.read_exact(&mut b).expect("echo");
                }
                (0..3)
                    .map(|_| TcpStream::connect_timeout(&target, Duration::from_secs(5)).expect("connect"))
                    .collect()
            })
            .join()
            .expect("client");
        let stats = settled_stats();
        let listing = must("ipvsadm -Ln").stdout;

        let addr: SocketAddr = "127.0.0.1:9888".parse().expect("address");
        let _exporter = start_exporter(addr);
        let (head, text) = http_get(addr, "/metrics", "*/*");
        assert!(head.contains("text/plain; version=0.0.4"), "{head}");
        let m = samples(&text);
        let get = |series: &str| *m.get(series).unwrap_or_else(|| panic!("no {series} in\n{text}"));

        // Per service and per destination: ipvsadm --stats --exact, counter by counter.
        let svc = format!(r#"{{local_address="{vip}",local_port="80",proto="TCP",local_mark=""}}"#);
        let want = exact(&stats, &format!("TCP  {vip}:80 "));
        for (name, want) in COUNTERS.iter().zip(&want) {
            assert_eq!(get(&format!("ipvs_service_{name}_total{svc}")), *want as f64, "{name}");
        }
        for rs in [rs0, rs1] {
            let want = exact(&stats, &format!("-> {rs}:8080 "));
            let labels = node_labels(&vip.to_string(), 80, &rs.to_string(), 8080, "TCP", "");
            for (name, want) in COUNTERS.iter().zip(&want) {
                assert_eq!(get(&format!("ipvs_destination_{name}_total{labels}")), *want as f64, "{rs} {name}");
            }
        }
        // node_exporter's global totals: the sum over the services ipvsadm lists.
        for (i, name) in COUNTERS.iter().enumerate() {
            let sum: u64 = stats
                .lines()
                .filter(|l| l.starts_with("TCP ") || l.starts_with("UDP ") || l.starts_with("FWM "))
                .map(|l| l.split_whitespace().nth(2 + i).expect("column").parse::<u64>().expect("counter"))
                .sum();
            assert_eq!(get(&format!("node_ipvs_{name}_total")), sum as f64, "{name}");
        }
        assert_eq!(get("node_ipvs_connections_total"), 8.0);
        // node_exporter's backend gauges against ipvsadm -Ln (Weight ActiveConn InActConn).
        for rs in [rs0, rs1] {
            let line = listing.lines().find(|l| l.contains(&format!("-> {rs}:8080"))).expect("dest line");
            let cols: Vec<f64> = line.split_whitespace().skip(3).map(|v| v.parse().expect("number")).collect();
            let labels = node_labels(&vip.to_string(), 80, &rs.to_string(), 8080, "TCP", "");
            assert_eq!(get(&format!("node_ipvs_backend_weight{labels}")), cols[0], "{line}");
            assert_eq!(get(&format!("node_ipvs_backend_connections_active{labels}")), cols[1], "{line}");
            assert_eq!(get(&format!("node_ipvs_backend_connections_inactive{labels}")), cols[2], "{line}");
        }
        let active: f64 = m.iter().filter(|(k, _)| k.starts_with("node_ipvs_backend_connections_active{")).map(|(_, v)| v).sum();
        assert_eq!(active, 3.0, "{text}");
        // A firewall-mark service: no local address, port 0, proto FWM, the mark as %08X.
        let fwm = node_labels("", 0, &rs0.to_string(), 8080, "FWM", "00000007");
        assert_eq!(get(&format!("node_ipvs_backend_weight{fwm}")), 0.0);
        assert_eq!(get(r#"ipvs_service_total_weight{local_address="",local_port="0",proto="FWM",local_mark="00000007"}"#), 0.0);
        assert_eq!(get(&format!(r#"ipvs_service_destinations{{local_address="{vip}",local_port="53",proto="UDP",local_mark=""}}"#)), 0.0);
        assert_eq!(get("ipvs_services"), 3.0);
        assert_eq!(get("ipvs_exporter_scrape_success"), 1.0);
        assert_eq!(get("ipvs_exporter_scrape_errors_total"), 0.0);
        assert_eq!(get(r#"ipvs_node_sysctl{name="net.ipv4.vs.conntrack"}"#), 0.0);
        must("echo 1 > /proc/sys/net/ipv4/vs/conntrack");
        let again = samples(&http_get(addr, "/metrics", "*/*").1);
        assert_eq!(again.get(r#"ipvs_node_sysctl{name="net.ipv4.vs.conntrack"}"#), Some(&1.0));

        // The real promtool accepts the classic text.
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("metrics.txt");
        std::fs::write(&file, &text).expect("write metrics");
        let lint = must(&format!("promtool check metrics < {}", file.display()));
        assert!(lint.stdout.trim().is_empty() && lint.stderr.trim().is_empty(), "{lint:?}");
        // OpenMetrics for clients that ask for it, ending with # EOF.
        let (om_head, om) = http_get(addr, "/metrics", "application/openmetrics-text;version=1.0.0");
        assert!(om_head.contains("application/openmetrics-text"), "{om_head}");
        assert!(om.ends_with("# EOF\n") && om.contains("# TYPE node_ipvs_connections counter"), "{om}");

        // Two keepalived-lite daemons (the director's and a peer's) serve the same
        // IPVS families plus VRRP and checker families (tests/it/ops_vrrp.rs).
        let pair = VrrpPair::start(&topo);
        // The real Prometheus scrapes the exporter and both daemons; its API answers
        // with ipvsadm's numbers.
        let prometheus = Prometheus::start(
            dir.path(),
            &[
                ("ipvs", vec![addr.to_string()]),
                ("keepalived-lite", vec![DIRECTOR_METRICS.to_string(), PEER_METRICS.to_string()]),
            ],
        );
        let want_conns = exact(&stats, &format!("TCP  {vip}:80 "))[0] as f64;
        let long = Duration::from_secs(60);
        prometheus.wait_for(
            &format!(r#"ipvs_service_connections_total{{job="ipvs",local_address="{vip}",local_port="80"}}"#),
            want_conns,
            long,
        );
        prometheus.wait_for(r#"node_ipvs_connections_total{job="ipvs"}"#, 8.0, long);
        prometheus.wait_for(&format!(r#"node_ipvs_backend_weight{{job="ipvs",remote_address="{rs1}",proto="TCP"}}"#), 3.0, long);
        prometheus.wait_for(r#"up{job="ipvs"}"#, 1.0, long);
        drop(open);

        // The acceptance: traffic, a failover, a split brain, watched through
        // Prometheus.
        failover_under_traffic(&topo, &pair, &prometheus, addr, settled_stats);
    }
}
