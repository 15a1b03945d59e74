//! The LVS judge's rig, in the lab: two director namespaces (one runs keepalived 2.2.7,
//! one keepalived-lite, same keepalived.conf, checkers only) and real-server namespaces
//! on one bridge, each with HTTP/TCP servers (or HTTPS, with a certificate made at test
//! time) the test switches between answering 200 with a body, answering 500, and not
//! listening; MISC_CHECK programs exit with a code
//! the test writes. After each event the two IPVS tables (`ipvsadm -Sn` in each
//! director) must become equal, and each daemon's reaction time is recorded.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipvs_lab::{must, veth, Netns, TcpServer};

/// What a real server's HTTP/TCP server does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `HTTP/1.0 CODE` with this body.
    Http(u16, String),
}

/// TLS clients' addresses and the server names they sent, in order.
type SniLog = Arc<Mutex<Vec<(IpAddr, Option<String>)>>>;

/// A real server: its namespace, address and switchable listeners.
#[derive(Debug)]
pub struct RealServer {
    /// Its namespace.
    pub ns: Netns,
    /// Its address.
    pub addr: String,
    answer: Arc<Mutex<Answer>>,
    listeners: Vec<(u16, TcpServer)>,
    sni: SniLog,
}

impl RealServer {
    /// Starts answering on `port` (HTTP: whatever [`RealServer::set`] says).
    pub fn listen(&mut self, port: u16) {
        self.listen_with(port, None);
    }

    /// Starts answering HTTPS on `port`: as [`RealServer::listen`], over TLS with a
    /// self-signed certificate made now (for `rs.example`, which is no name the
    /// checkers use: neither verifies it). Records each client's server name (SNI).
    pub fn listen_tls(&mut self, port: u16) {
        self.listen_with(port, Some(tls_server_config()));
    }

    fn listen_with(&mut self, port: u16, tls: Option<Arc<rustls::ServerConfig>>) {
        let answer = self.answer.clone();
        let sni = self.sni.clone();
        let addr: SocketAddr = format!("{}:{port}", self.addr).parse().expect("addr");
        let server = TcpServer::start(&self.ns, addr, move |mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let Some(config) = &tls else {
                return answer_http(&mut s, &answer);
            };
            let Ok(mut conn) = rustls::ServerConnection::new(config.clone()) else {
                return;
            };
            while conn.is_handshaking() {
                if conn.complete_io(&mut s).is_err() {
                    return;
                }
            }
            if let Ok(peer) = s.peer_addr() {
                let name = conn.server_name().map(str::to_string);
                sni.lock().expect("lock").push((peer.ip(), name));
            }
            answer_http(&mut rustls::Stream::new(&mut conn, &mut s), &answer);
            conn.send_close_notify();
            while conn.wants_write() && conn.write_tls(&mut s).is_ok() {}
        });
        self.listeners.push((port, server));
    }

    /// The server names (SNI) TLS clients from `from` sent so far, in order.
    pub fn sni_from(&self, from: &str) -> Vec<Option<String>> {
        let ip: IpAddr = from.parse().expect("address");
        let seen = self.sni.lock().expect("lock");
        seen.iter()
            .filter(|(a, _)| *a == ip)
            .map(|(_, n)| n.clone())
            .collect()
    }

    /// Stops listening on `port` (connections are refused).
    pub fn close(&mut self, port: u16) {
        self.listeners.retain(|(p, _)| *p != port);
    }

    /// What HTTP requests get from now on.
    pub fn set(&self, a: Answer) {
        *self.answer.lock().expect("lock") = a;
    }
}

/// Reads a request (a TCP_CHECK closes at once; an HTTP_GET sends one) and answers
/// what `answer` holds.
fn answer_http(s: &mut impl ReadWrite, answer: &Mutex<Answer>) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let Answer::Http(code, body) = answer.lock().expect("lock").clone();
    let _ = write!(
        s,
        "HTTP/1.0 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = s.flush();
}

/// A byte stream both ways (a TCP connection, or TLS over one).
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// A TLS server configuration with a fresh self-signed certificate.
fn tls_server_config() -> Arc<rustls::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec!["rs.example".into()]).expect("cert");
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key.into())
        .expect("certificate");
    Arc::new(config)
}

/// A director namespace running one daemon.
#[derive(Debug)]
pub struct Director {
    /// "keepalived" or "keepalived-lite".
    pub name: &'static str,
    /// Its namespace.
    pub ns: Netns,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Director {
    /// `ipvsadm -Sn` in its namespace, sorted.
    pub fn table(&self) -> Vec<String> {
        let out = self.ns.run(&["ipvsadm", "-Sn"]);
        assert!(out.success(), "ipvsadm in {}: {out}", self.name);
        let mut v: Vec<String> = out.stdout.lines().map(str::to_string).collect();
        v.sort();
        v
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("{}.log", self.name))).unwrap_or_default()
    }

    fn pid(&self) -> Option<String> {
        let f = if self.name == "keepalived" {
            "daemon.pid"
        } else {
            "lite.pid"
        };
        std::fs::read_to_string(self.dir.join(f))
            .ok()
            .map(|p| p.trim().to_string())
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: &str) {
        let pid = self
            .pid()
            .unwrap_or_else(|| panic!("{} has no pid file", self.name));
        must(&format!("kill -{sig} {pid}"));
    }

    /// SIGTERM and wait (10 s at most) for the exit.
    pub fn stop(&mut self) {
        self.signal("TERM");
        if let Some(mut c) = self.child.take() {
            let t = Instant::now();
            while t.elapsed() < Duration::from_secs(10) {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("{} did not stop:\n{}", self.name, self.log());
        }
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The rig: real servers and the two directors.
#[derive(Debug)]
pub struct Rig {
    /// Temporary directory (configuration, MISC programs and their exit codes, logs).
    pub dir: tempfile::TempDir,
    /// Real servers rs0.. at 198.51.100.10...
    pub rs: Vec<RealServer>,
    /// keepalived's director (198.51.100.2).
    pub theirs: Director,
    /// keepalived-lite's director (198.51.100.3).
    pub ours: Director,
    /// Reaction times: (event, keepalived, keepalived-lite).
    pub times: Vec<(String, Duration, Duration)>,
    /// [`Rig::start`] starts keepalived-lite alone.
    pub ours_only: bool,
    /// [`Rig::start`] starts keepalived alone.
    pub theirs_only: bool,
    /// keepalived runs its VRRP half too (else `--check` only).
    pub with_vrrp: bool,
}

impl Rig {
    /// Bridge, `n` real servers answering `200 ok`, two directors (not started).
    pub fn new(n: usize) -> Rig {
        let dir = tempfile::Builder::new()
            .prefix("lvs-judge-")
            .tempdir()
            .expect("dir");
        must("ip link add br-lvs type bridge && ip link set br-lvs up");
        let mut k = 0;
        let mut attach = |ns: &Netns, addr: &str| {
            k += 1;
            let here = format!("lvs{k}");
            veth(&here, ns, "eth0");
            must(&format!("ip link set {here} master br-lvs"));
            ns.must(&format!("ip addr add {addr}/24 dev eth0"));
        };
        let director = |name: &'static str, addr: &str, attach: &mut dyn FnMut(&Netns, &str)| {
            let ns = Netns::new(if name == "keepalived" { "dk" } else { "dl" });
            attach(&ns, addr);
            Director {
                name,
                ns,
                child: None,
                dir: dir.path().to_path_buf(),
            }
        };
        let theirs = director("keepalived", "198.51.100.2", &mut attach);
        let ours = director("keepalived-lite", "198.51.100.3", &mut attach);
        let rs = (0..n)
            .map(|i| {
                let ns = Netns::new(&format!("lrs{i}"));
                let addr = format!("198.51.100.{}", 10 + i);
                attach(&ns, &addr);
                RealServer {
                    ns,
                    addr,
                    answer: Arc::new(Mutex::new(Answer::Http(200, "ok\n".into()))),
                    listeners: Vec::new(),
                    sni: Arc::default(),
                }
            })
            .collect();
        Rig {
            dir,
            rs,
            theirs,
            ours,
            times: Vec::new(),
            ours_only: false,
            theirs_only: false,
            with_vrrp: false,
        }
    }

    /// A file in the rig's directory.
    pub fn path(&self, f: &str) -> String {
        self.dir.path().join(f).display().to_string()
    }

    /// Writes MISC_CHECK program `name`: it exits with the number in `name.code`.
    pub fn misc(&self, name: &str, code: u8) -> String {
        let prog = self.path(&format!("{name}.sh"));
        std::fs::write(
            &prog,
            format!("#!/bin/sh\nexit $(cat {}.code)\n", self.path(name)),
        )
        .expect("write");
        must(&format!("chmod 755 {prog}"));
        self.set_misc(name, code);
        prog
    }

    /// What MISC_CHECK program `name` exits with from now on.
    pub fn set_misc(&self, name: &str, code: u8) {
        std::fs::write(self.path(&format!("{name}.code")), format!("{code}\n")).expect("write");
    }

    /// Writes the configuration both daemons read.
    pub fn write_conf(&self, conf: &str) {
        std::fs::write(self.path("keepalived.conf"), conf).expect("write conf");
    }

    /// Starts both daemons on the configuration (checkers only for keepalived).
    pub fn start(&mut self) {
        let conf = self.path("keepalived.conf");
        let d = self.dir.path().to_path_buf();
        let spawn = |dir: &Director, argv: Vec<String>| -> Child {
            let log = std::fs::File::create(d.join(format!("{}.log", dir.name))).expect("log");
            let log2 = log.try_clone().expect("log");
            Command::new("ip")
                .args(["netns", "exec", dir.ns.name()])
                .args(argv)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2)
                .spawn()
                .expect("start daemon")
        };
        let p = |f: &str| d.join(f).display().to_string();
        let mut theirs: Vec<String> = vec![
            "keepalived".into(),
            "--dont-fork".into(),
            "--log-console".into(),
            "--log-detail".into(),
            "--check".into(),
            "--use-file".into(),
            conf.clone(),
            "--pid".into(),
            p("daemon.pid"),
            "--checkers_pid".into(),
            p("checkers.pid"),
            "--vrrp_pid".into(),
            p("vrrp.pid"),
        ];
        if self.with_vrrp {
            // Both halves, as a director pair runs it.
            theirs.retain(|a| a != "--check");
        }
        let ours = vec![
            ipvs_lab::workspace_bin("keepalived-lite")
                .display()
                .to_string(),
            "--dont-fork".into(),
            "--log-console".into(),
            "--use-file".into(),
            conf,
            "--pid".into(),
            p("lite.pid"),
            "--state-file".into(),
            p("state.json"),
        ];
        if !self.ours_only {
            self.theirs.child = Some(spawn(&self.theirs, theirs));
        }
        if !self.theirs_only {
            self.ours.child = Some(spawn(&self.ours, ours));
        }
    }

    /// Starts one daemon (again, after [`Director::stop`]): ours or keepalived.
    pub fn start_one(&mut self, ours: bool) {
        let (o, t) = (self.ours_only, self.theirs_only);
        (self.ours_only, self.theirs_only) = (ours, !ours);
        self.start();
        (self.ours_only, self.theirs_only) = (o, t);
    }

    /// keepalived-lite's state file.
    pub fn our_state(&self) -> String {
        std::fs::read_to_string(self.path("state.json")).unwrap_or_default()
    }

    /// Runs `event`, then waits until both tables changed and are equal; records and
    /// returns both reaction times. Panics with both tables and logs after 15 s.
    #[track_caller]
    pub fn judge(&mut self, name: &str, event: impl FnOnce(&mut Rig)) -> Vec<String> {
        self.judge_until(name, event, |_| true)
    }

    /// [`Rig::judge`], and the equal tables must also satisfy `done` (for events whose
    /// effect comes in steps, such as a start with `alpha`).
    #[track_caller]
    pub fn judge_until(
        &mut self,
        name: &str,
        event: impl FnOnce(&mut Rig),
        done: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let before = (self.theirs.table(), self.ours.table());
        let t0 = Instant::now();
        event(self);
        let (mut kt, mut ot) = (None, None);
        loop {
            let (k, o) = (self.theirs.table(), self.ours.table());
            if kt.is_none() && k != before.0 {
                kt = Some(t0.elapsed());
            }
            if ot.is_none() && o != before.1 {
                ot = Some(t0.elapsed());
            }
            if let (Some(a), Some(b)) = (kt, ot) {
                if k == o && done(&k) {
                    self.times.push((name.to_string(), a, b));
                    return k;
                }
            }
            if t0.elapsed() > Duration::from_secs(15) {
                panic!(
                    "{name}: tables not equal after 15 s (changed: keepalived {kt:?}, ours {ot:?})\n\
                     --- before ---\n{}\n--- keepalived ---\n{}\n--- keepalived-lite ---\n{}\n\
                     --- keepalived log ---\n{}\n--- keepalived-lite log ---\n{}",
                    before.0.join("\n"),
                    k.join("\n"),
                    o.join("\n"),
                    self.theirs.log(),
                    self.ours.log()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The recorded reaction times as a table (printed by the test).
    pub fn report(&self) -> String {
        let mut s = String::from("event | keepalived 2.2.7 | keepalived-lite\n");
        for (e, k, o) in &self.times {
            s += &format!(
                "{e} | {:.2} s | {:.2} s\n",
                k.as_secs_f64(),
                o.as_secs_f64()
            );
        }
        s
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = ipvs_lab::sh("ip link del br-lvs");
    }
}
