//! Traffic for behaviour tests: servers that say who they are, and clients that
//! connect from chosen addresses and ports, hold connections open, or send UDP.
//!
//! A real server started with [`TcpServer::named`] or [`UdpServer::named`] answers
//! with its name, so a client learns which destination the scheduler chose.

use crate::net::{Netns, TcpServer};
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockProtocol, SockType};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a client waits to connect, and between reads.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A held connection's server thread gives up after this long without data, so a
/// connection whose path was cut (a deleted destination) does not keep a thread forever.
const SERVER_IDLE: Duration = Duration::from_secs(120);

/// Which stream protocol a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// TCP.
    Tcp,
    /// SCTP, one-to-one style (it reads and writes like TCP).
    Sctp,
}

impl Stream {
    fn protocol(self) -> SockProtocol {
        match self {
            Stream::Tcp => SockProtocol::Tcp,
            Stream::Sctp => SockProtocol::Sctp,
        }
    }
}

fn family(addr: &SocketAddr) -> AddressFamily {
    if addr.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn stream_socket(addr: &SocketAddr, proto: Stream) -> io::Result<OwnedFd> {
    let fd = socket::socket(
        family(addr),
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        proto.protocol(),
    )?;
    // Clients reuse source ports on purpose; servers restart on the same port.
    socket::setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    Ok(fd)
}

/// Connects to `to` over `proto`, from `from` when given (an address, and a port or 0
/// for any), within 5 s; reads time out after 5 s.
pub fn connect_stream(
    from: Option<SocketAddr>,
    to: SocketAddr,
    proto: Stream,
) -> io::Result<TcpStream> {
    let fd = stream_socket(&to, proto)?;
    // SO_SNDTIMEO bounds connect() too, so a dropped SYN does not wait for minutes.
    let timeout = nix::sys::time::TimeVal::new(IO_TIMEOUT.as_secs() as _, 0);
    socket::setsockopt(&fd, sockopt::SendTimeout, &timeout)?;
    if let Some(from) = from {
        socket::bind(fd.as_raw_fd(), &socket::SockaddrStorage::from(from))?;
    }
    socket::connect(fd.as_raw_fd(), &socket::SockaddrStorage::from(to))?;
    let stream = TcpStream::from(fd);
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    Ok(stream)
}

/// Reads one line (without its newline), or up to the end of the stream.
fn read_line(s: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        match s.read(&mut byte)? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// One short connection: connect, read the server's name, close our side and wait
/// for the server to close.
fn ask_name(from: Option<SocketAddr>, to: SocketAddr, proto: Stream) -> io::Result<String> {
    let mut s = connect_stream(from, to, proto)?;
    let name = read_line(&mut s)?;
    if name.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "server closed without a name",
        ));
    }
    if proto == Stream::Tcp {
        s.shutdown(std::net::Shutdown::Write)?;
        io::copy(&mut s, &mut io::sink())?;
    }
    // SCTP has no half-close: shutdown() starts the association's SHUTDOWN and a
    // read after it fails (ENOTCONN); closing the socket ends it gracefully.
    Ok(name)
}

/// A connection to a named server, held open; the server echoes what it is sent.
#[derive(Debug)]
pub struct HeldConnection {
    stream: TcpStream,
    server: String,
}

impl HeldConnection {
    /// The name of the server that answered.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// The client's end of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Sends `msg` and a newline, and waits for the echo: an error when the connection
    /// no longer works (timeout, reset, or something else came back).
    pub fn echo(&mut self, msg: &str) -> io::Result<()> {
        self.stream.write_all(format!("{msg}\n").as_bytes())?;
        let back = read_line(&mut self.stream)?;
        if back == msg {
            Ok(())
        } else {
            Err(io::Error::other(format!("sent {msg:?}, got {back:?} back")))
        }
    }

    /// Sets how long [`HeldConnection::echo`] waits for an answer.
    pub fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(timeout))
    }

    /// Closes with a reset (SO_LINGER 0): no TIME_WAIT anywhere, and the director's
    /// entry moves to its CLOSE state (10 s) rather than TIME_WAIT (2 min).
    pub fn reset(self) -> io::Result<()> {
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        socket::setsockopt(&self.stream, sockopt::Linger, &linger)?;
        Ok(())
    }

    /// Closes gracefully: our FIN, then the server's.
    pub fn close(mut self) -> io::Result<()> {
        self.stream.shutdown(std::net::Shutdown::Write)?;
        io::copy(&mut self.stream, &mut io::sink())?;
        Ok(())
    }
}

impl Netns {
    /// Opens a connection from inside the namespace (from `from` when given) to a named
    /// server at `to`, reads the server's name and keeps the connection open.
    pub fn hold(&self, from: Option<SocketAddr>, to: SocketAddr) -> io::Result<HeldConnection> {
        self.spawn(move || {
            let mut stream = connect_stream(from, to, Stream::Tcp)?;
            let server = read_line(&mut stream)?;
            Ok(HeldConnection { stream, server })
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("client thread panicked")))
    }

    /// Makes one short connection per entry of `conns` (from, to), one after another,
    /// from inside the namespace, and returns the name of the server that answered each.
    pub fn ask_names(
        &self,
        conns: Vec<(Option<SocketAddr>, SocketAddr)>,
        proto: Stream,
    ) -> Vec<io::Result<String>> {
        let n = conns.len();
        self.spawn(move || {
            conns
                .into_iter()
                .map(|(from, to)| ask_name(from, to, proto))
                .collect()
        })
        .join()
        .unwrap_or_else(|_| {
            (0..n)
                .map(|_| Err(io::Error::other("client thread panicked")))
                .collect()
        })
    }

    /// Like [`Netns::ask_names`], but all connections at once, each on a thread of its
    /// own: for schedulers whose choice does not depend on earlier connections, where
    /// waiting on each refused or dropped connection in turn would cost seconds.
    pub fn ask_names_at_once(
        &self,
        conns: Vec<(Option<SocketAddr>, SocketAddr)>,
        proto: Stream,
    ) -> Vec<io::Result<String>> {
        let n = conns.len();
        self.spawn(move || {
            // Threads started here inherit this thread's network namespace.
            let threads: Vec<_> = conns
                .into_iter()
                .map(|(from, to)| std::thread::spawn(move || ask_name(from, to, proto)))
                .collect();
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err(io::Error::other("client thread panicked")))
                })
                .collect()
        })
        .join()
        .unwrap_or_else(|_| {
            (0..n)
                .map(|_| Err(io::Error::other("client thread panicked")))
                .collect()
        })
    }

    /// Sends one UDP datagram per entry of `datagrams` (from, to, payload), each from a
    /// fresh socket bound to `from`, and returns each answer (3 s to come).
    pub fn ask_names_udp(
        &self,
        datagrams: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    ) -> Vec<io::Result<String>> {
        let n = datagrams.len();
        self.spawn(move || {
            datagrams
                .into_iter()
                .map(|(from, to, payload)| {
                    let sock = UdpSocket::bind(from)?;
                    sock.set_read_timeout(Some(Duration::from_secs(3)))?;
                    sock.send_to(&payload, to)?;
                    let mut buf = [0u8; 1500];
                    let (len, _) = sock.recv_from(&mut buf)?;
                    Ok(String::from_utf8_lossy(&buf[..len]).into_owned())
                })
                .collect()
        })
        .join()
        .unwrap_or_else(|_| {
            (0..n)
                .map(|_| Err(io::Error::other("client thread panicked")))
                .collect()
        })
    }

    /// Adds `addrs` to interface `dev` inside the namespace (IPv4 as /24, IPv6 as /64,
    /// without duplicate address detection), in one `ip -batch` run.
    #[track_caller]
    pub fn add_addresses(&self, dev: &str, addrs: &[IpAddr]) {
        let batch: String = addrs
            .iter()
            .map(|a| match a {
                IpAddr::V4(_) => format!("addr add {a}/24 dev {dev}\n"),
                IpAddr::V6(_) => format!("addr add {a}/64 dev {dev} nodad\n"),
            })
            .collect();
        let file = match tempfile::NamedTempFile::new_in(crate::net::scratch_dir()) {
            Ok(f) => f,
            Err(e) => panic!("temporary file for ip -batch: {e}"),
        };
        if let Err(e) = std::fs::write(file.path(), batch) {
            panic!("write {}: {e}", file.path().display());
        }
        self.must(&format!("ip -batch {}", file.path().display()));
    }
}

impl TcpServer {
    /// A server that answers each connection at once with `name` and a newline, then
    /// echoes what the client sends until it closes. Connections are served each on a
    /// thread of its own, so clients may hold many open.
    ///
    /// # Panics
    /// When the address cannot be bound.
    #[track_caller]
    pub fn named(ns: &Netns, addr: SocketAddr, name: &str) -> TcpServer {
        TcpServer::named_over(ns, addr, name, Stream::Tcp)
    }

    /// [`TcpServer::named`] over TCP or SCTP.
    ///
    /// # Panics
    /// When the address cannot be bound.
    #[track_caller]
    pub fn named_over(ns: &Netns, addr: SocketAddr, name: &str, proto: Stream) -> TcpServer {
        let greeting = format!("{name}\n");
        let listen = move |addr: SocketAddr| -> io::Result<TcpListener> {
            let fd = stream_socket(&addr, proto)?;
            socket::bind(fd.as_raw_fd(), &socket::SockaddrStorage::from(addr))?;
            socket::listen(&fd, socket::Backlog::new(128).map_err(io::Error::from)?)?;
            Ok(TcpListener::from(fd))
        };
        TcpServer::start_on(ns, addr, listen, move |s| {
            let greeting = greeting.clone();
            std::thread::spawn(move || serve_named(s, &greeting));
        })
    }
}

fn serve_named(mut s: TcpStream, greeting: &str) {
    let _ = s.set_read_timeout(Some(SERVER_IDLE));
    if s.write_all(greeting.as_bytes()).is_err() {
        return;
    }
    if let Ok(mut r) = s.try_clone() {
        let _ = io::copy(&mut r, &mut s);
    }
}

/// A UDP server running on a thread inside a namespace; stops when dropped.
#[derive(Debug)]
pub struct UdpServer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UdpServer {
    /// Answers every datagram sent to `addr` inside `ns` with `name`, to its sender.
    ///
    /// # Panics
    /// When the address cannot be bound.
    #[track_caller]
    pub fn named(ns: &Netns, addr: SocketAddr, name: &str) -> UdpServer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let name = name.to_string();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = ns.spawn(move || {
            let sock = match UdpSocket::bind(addr) {
                Ok(s) => s,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            // Wake up now and then to see the stop flag.
            let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
            let _ = ready_tx.send(Ok(()));
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::Relaxed) {
                if let Ok((_, peer)) = sock.recv_from(&mut buf) {
                    let _ = sock.send_to(name.as_bytes(), peer);
                }
            }
        });
        match ready_rx.recv() {
            Ok(Ok(())) => UdpServer {
                stop,
                thread: Some(thread),
            },
            Ok(Err(e)) => panic!("bind udp {addr} in {}: {e}", ns.name()),
            Err(_) => panic!("udp server thread for {addr} in {} died", ns.name()),
        }
    }
}

impl Drop for UdpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
