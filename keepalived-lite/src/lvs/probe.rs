//! The probes, off the poll loop: each runs on a worker thread of its own, bounded by
//! its timeout, and sends its result through a channel; a byte on a socket pair wakes
//! the poll loop ([`Prober::raw_fd`](crate::lvs::probe::Prober::raw_fd)). A slow HTTP server or a hanging MISC_CHECK
//! delays nothing but its own result.
//!
//! - TCP_CHECK: a non-blocking connect (from `bindto` when given) that must complete
//!   within the connect timeout.
//! - HTTP_GET: HTTP/1.0 GET of every url (Host: `virtualhost` or the address), status
//!   in the expected set, and the body's MD5 equal to `digest` when one is given (what
//!   keepalived's `genhash` prints), all within the timeout.
//! - SSL_GET: the same over TLS ([`crate::lvs::tls`]: keepalived's rules, no certificate
//!   verification, SNI with `enable_sni`); connect, handshake and reply all within the
//!   timeout. The HTTP part is shared (`lvs::http`).
//! - MISC_CHECK: the program in its own process group (as vrrp_script), as its user;
//!   its exit status is the result; still running at the timeout, its whole process
//!   group is killed and it counts as a failure.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use std::sync::Arc;

use rustls::ClientConfig;

use super::checker::{Outcome, ProbeId, ProbeRequest};
use super::http::{self, left};
use super::tls;
use crate::children::command;
use crate::config::lvs::{CheckKind, HttpCheck};

pub use super::http::parse_reply;

/// Runs probes on worker threads and collects their results.
#[derive(Debug)]
pub struct Prober {
    tx: Sender<(ProbeId, Outcome)>,
    rx: Receiver<(ProbeId, Outcome)>,
    wake_rx: UnixStream,
    wake_tx: UnixStream,
    tls: Arc<ClientConfig>,
}

impl Prober {
    /// A prober with its wake-up socket pair; SSL_GET uses `tls`
    /// ([`tls::client_config`]).
    pub fn new(tls: Arc<ClientConfig>) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let (wake_rx, wake_tx) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        wake_tx.set_nonblocking(true)?;
        Ok(Prober {
            tx,
            rx,
            wake_rx,
            wake_tx,
            tls,
        })
    }

    /// The TLS client configuration of SSL_GET probes started from now on.
    pub fn set_tls(&mut self, tls: Arc<ClientConfig>) {
        self.tls = tls;
    }

    /// Readable when results are waiting.
    pub fn raw_fd(&self) -> RawFd {
        self.wake_rx.as_raw_fd()
    }

    /// Starts `req` on a worker thread; MISC_CHECK programs run as `misc_user`.
    pub fn start(&self, req: ProbeRequest, misc_user: Option<(u32, u32)>) {
        let tx = self.tx.clone();
        let wake = self.wake_tx.try_clone();
        let id = req.id;
        let tls = self.tls.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("probe-{id}"))
            .spawn(move || {
                let outcome = run(&req, misc_user, &tls);
                let _ = tx.send((req.id, outcome));
                if let Ok(mut w) = wake {
                    // A full pipe already wakes the loop; nothing to do on error.
                    let _ = w.write(&[1]);
                }
            });
        if let Err(e) = spawned {
            let _ = self
                .tx
                .send((id, Outcome::Down(format!("cannot start probe: {e}"))));
            let _ = (&self.wake_tx).write(&[1]);
        }
    }

    /// The results that arrived (never blocks).
    pub fn drain(&self) -> Vec<(ProbeId, Outcome)> {
        let mut buf = [0u8; 256];
        while matches!((&self.wake_rx).read(&mut buf), Ok(n) if n > 0) {}
        self.rx.try_iter().collect()
    }
}

/// Runs one probe to its end (blocking: call it on a worker thread); SSL_GET with
/// `tls`.
pub fn run(req: &ProbeRequest, misc_user: Option<(u32, u32)>, tls: &Arc<ClientConfig>) -> Outcome {
    let deadline = Instant::now() + req.timeout;
    let r = match &req.kind {
        CheckKind::Tcp => connect(req.target, req.bind, deadline).map(|_| ()),
        CheckKind::Http(h) => http(req, h, tls, deadline),
        CheckKind::Misc(m) => return misc(&m.command, misc_user, req.timeout),
    };
    match r {
        Ok(()) => Outcome::Up,
        Err(why) => Outcome::Down(why),
    }
}

/// A TCP connection to `target` (from `bind`), established before `deadline`.
pub fn connect(
    target: SocketAddr,
    bind: Option<SocketAddr>,
    deadline: Instant,
) -> Result<TcpStream, String> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::socket::{
        connect as sys_connect, getsockopt, socket, sockopt, AddressFamily, SockFlag, SockType,
        SockaddrStorage,
    };
    let family = if target.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let fd: OwnedFd = socket(
        family,
        SockType::Stream,
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("socket: {e}"))?;
    if let Some(b) = bind {
        nix::sys::socket::bind(fd.as_raw_fd(), &SockaddrStorage::from(b))
            .map_err(|e| format!("bind to {b}: {e}"))?;
    }
    match sys_connect(fd.as_raw_fd(), &SockaddrStorage::from(target)) {
        Ok(()) | Err(nix::errno::Errno::EINPROGRESS) => {}
        Err(e) => return Err(format!("connect: {e}")),
    }
    loop {
        let wait = left(deadline)?;
        let ms = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            PollFlags::POLLOUT,
        )];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => break,
            Err(e) => return Err(format!("poll: {e}")),
        }
    }
    let err = getsockopt(&fd, sockopt::SocketError).map_err(|e| format!("SO_ERROR: {e}"))?;
    if err != 0 {
        return Err(format!(
            "connect: {}",
            std::io::Error::from_raw_os_error(err)
        ));
    }
    let s = TcpStream::from(fd);
    s.set_nonblocking(false).map_err(|e| e.to_string())?;
    Ok(s)
}

/// What an HTTP_GET / SSL_GET check found: every url must pass (each over a
/// connection of its own, TLS for SSL_GET).
fn http(
    req: &ProbeRequest,
    h: &HttpCheck,
    tls: &Arc<ClientConfig>,
    deadline: Instant,
) -> Result<(), String> {
    for url in &h.urls {
        let tcp = connect(req.target, req.bind, deadline)?;
        let host = url
            .virtualhost
            .as_deref()
            .or(h.virtualhost.as_deref())
            .or(req.virtualhost.as_deref());
        let request = http::request(&url.path, host, req.target);
        // The socket's timeouts bound TLS and plain reads and writes alike.
        let sock = tcp.try_clone().map_err(|e| e.to_string())?;
        let arm = |d: Duration| {
            sock.set_read_timeout(Some(d))?;
            sock.set_write_timeout(Some(d))
        };
        let reply = if h.tls {
            let sni = url
                .virtualhost
                .as_deref()
                .or(h.virtualhost.as_deref())
                .or(req.vs_virtualhost.as_deref())
                .filter(|n| h.enable_sni && n.parse::<std::net::IpAddr>().is_err());
            let mut s = tls::connect(tls, tcp, sni, &arm, deadline)?;
            http::exchange(&mut s, &arm, &request, deadline)?
        } else {
            let mut s = tcp;
            http::exchange(&mut s, &arm, &request, deadline)?
        };
        http::judge(url, &reply)?;
    }
    Ok(())
}

/// Runs a MISC_CHECK program; kills its process group at the timeout.
fn misc(argv: &[String], user: Option<(u32, u32)>, timeout: Duration) -> Outcome {
    let mut child = match command(argv, user).spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::Down(format!("cannot run {}: {e}", argv[0])),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                return match status.code() {
                    Some(c) => Outcome::Exit(c),
                    None => Outcome::Down(format!("{} killed by a signal", argv[0])),
                }
            }
            Ok(None) if Instant::now() >= deadline => {
                if let Ok(pid) = i32::try_from(child.id()) {
                    // Its own group (see `command`): everything it started goes too.
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.wait();
                return Outcome::Down(format!("timed out after {} s", timeout.as_secs_f32()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Outcome::Down(format!("wait: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::lvs::{MiscCheck, UrlCheck};
    use md5::Digest;
    use std::net::TcpListener;

    fn req(kind: CheckKind, target: SocketAddr, timeout: Duration) -> ProbeRequest {
        ProbeRequest {
            id: 1,
            kind,
            target,
            bind: None,
            timeout,
            virtualhost: None,
            vs_virtualhost: None,
        }
    }

    fn run_plain(req: &ProbeRequest, misc_user: Option<(u32, u32)>) -> Outcome {
        let tls = tls::client_config(None).expect("default TLS context");
        run(req, misc_user, &tls)
    }

    #[test]
    fn tcp_up_and_refused() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        assert_eq!(
            run_plain(&req(CheckKind::Tcp, a, Duration::from_secs(2)), None),
            Outcome::Up
        );
        drop(l);
        let o = run_plain(&req(CheckKind::Tcp, a, Duration::from_secs(2)), None);
        assert!(
            matches!(&o, Outcome::Down(w) if w.contains("refused")),
            "{o:?}"
        );
    }

    fn serve(reply: &'static [u8]) -> (SocketAddr, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).expect("read");
            s.write_all(reply).expect("write");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (a, t)
    }

    fn http_kind(status: Vec<(u16, u16)>, digest: Option<[u8; 16]>) -> CheckKind {
        CheckKind::Http(HttpCheck {
            tls: false,
            virtualhost: None,
            enable_sni: false,
            urls: vec![UrlCheck {
                path: "/health".into(),
                status_codes: status,
                digest,
                virtualhost: None,
            }],
        })
    }

    #[test]
    fn http_status_and_digest() {
        let body_md5: [u8; 16] = md5::Md5::digest(b"ok\n").into();
        let (a, t) = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
        let o = run_plain(
            &req(http_kind(vec![], Some(body_md5)), a, Duration::from_secs(2)),
            None,
        );
        assert_eq!(o, Outcome::Up);
        let sent = t.join().expect("server");
        assert!(sent.starts_with("GET /health HTTP/1.0\r\n"), "{sent}");
        assert!(sent.contains(&format!("Host: {a}\r\n")), "{sent}");
        let (a, _t) = serve(b"HTTP/1.1 500 Oops\r\n\r\nok\n");
        let o = run_plain(
            &req(http_kind(vec![], None), a, Duration::from_secs(2)),
            None,
        );
        assert_eq!(o, Outcome::Down("HTTP status 500".into()));
        let (a, _t) = serve(b"HTTP/1.1 500 Oops\r\n\r\nok\n");
        let o = run_plain(
            &req(http_kind(vec![(500, 503)], None), a, Duration::from_secs(2)),
            None,
        );
        assert_eq!(o, Outcome::Up);
        let (a, _t) = serve(b"HTTP/1.0 200 OK\r\n\r\nchanged\n");
        let o = run_plain(
            &req(http_kind(vec![], Some(body_md5)), a, Duration::from_secs(2)),
            None,
        );
        assert!(
            matches!(&o, Outcome::Down(w) if w.contains("MD5 digest")),
            "{o:?}"
        );
    }

    #[test]
    fn a_silent_http_server_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let a = l.local_addr().expect("addr");
        let t0 = Instant::now();
        let o = run_plain(
            &req(http_kind(vec![], None), a, Duration::from_millis(300)),
            None,
        );
        assert!(matches!(&o, Outcome::Down(_)), "{o:?}");
        assert!(t0.elapsed() < Duration::from_secs(5));
        drop(l);
    }

    #[test]
    fn misc_exit_codes_and_timeout_kills_the_group() {
        let m = |cmd: &str| {
            CheckKind::Misc(MiscCheck {
                command: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
                timeout: None,
                dynamic: true,
                user: None,
            })
        };
        let a: SocketAddr = "127.0.0.1:1".parse().expect("addr");
        assert_eq!(
            run_plain(&req(m("exit 7"), a, Duration::from_secs(5)), None),
            Outcome::Exit(7)
        );
        assert_eq!(
            run_plain(&req(m("exit 0"), a, Duration::from_secs(5)), None),
            Outcome::Exit(0)
        );
        let dir = tempfile::tempdir().expect("dir");
        let pidfile = dir.path().join("pid");
        let cmd = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let o = run_plain(&req(m(&cmd), a, Duration::from_millis(500)), None);
        assert!(
            matches!(&o, Outcome::Down(w) if w.contains("timed out")),
            "{o:?}"
        );
        // The grandchild went with the group.
        let pid = std::fs::read_to_string(&pidfile).expect("pid");
        std::thread::sleep(Duration::from_millis(100));
        let alive = std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
            && !std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "sleep {pid} survived");
    }
}
