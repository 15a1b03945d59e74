//! Network namespaces and the client / director / real-server shapes built from them.
//!
//! The calling thread's namespace (a fresh one in every lab test) plays the director;
//! clients and real servers are named namespaces joined to it by veth pairs and a
//! bridge. Addresses come from the documentation ranges only.

use crate::{must, Output};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique number in this process, for names of namespaces and interfaces.
fn next_id() -> u32 {
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Where tests and the lab write scratch files: `/run` (a tmpfs) inside the lab, the
/// system's temporary directory elsewhere.
pub(crate) fn scratch_dir() -> std::path::PathBuf {
    let run = std::path::Path::new("/run");
    if crate::in_lab() && run.is_dir() {
        run.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// A named network namespace (`ip netns add`), deleted with every process in it when
/// dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named `<prefix>-<pid>-<n>` with loopback up.
    ///
    /// # Panics
    /// When `ip netns add` fails (the lab or a root shell is needed).
    #[track_caller]
    pub fn new(prefix: &str) -> Netns {
        let name = format!("{prefix}-{}-{}", std::process::id(), next_id());
        must(&format!("ip netns add {name}"));
        let ns = Netns { name };
        ns.must("ip link set lo up");
        ns
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command inside the namespace.
    pub fn run(&self, argv: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(argv);
        crate::run(&full)
    }

    /// Runs a shell command line inside the namespace.
    pub fn sh(&self, script: &str) -> Output {
        self.run(&["/bin/sh", "-c", script])
    }

    /// Runs a shell command line inside the namespace and panics when it fails.
    #[track_caller]
    pub fn must(&self, script: &str) -> Output {
        let out = self.sh(script);
        assert!(
            out.success(),
            "in netns {}: `{script}` failed:\n{out}",
            self.name
        );
        out
    }

    /// Runs `f` on a new thread inside the namespace (for servers and clients written
    /// in Rust: sockets it opens belong to the namespace).
    pub fn spawn<T, F>(&self, f: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = match std::fs::File::open(&path) {
                Ok(file) => file,
                Err(e) => panic!("open {path}: {e}"),
            };
            if let Err(e) = nix::sched::setns(file.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET) {
                panic!("setns {path}: {e}");
            }
            f()
        })
    }
}

impl Netns {
    /// Connects from inside the namespace to `addr` over TCP (5 s to connect), closes
    /// its sending side and returns everything the server sent until it closed (5 s
    /// between reads at most).
    pub fn fetch(&self, addr: std::net::SocketAddr) -> std::io::Result<String> {
        use std::io::Read;
        let timeout = std::time::Duration::from_secs(5);
        self.spawn(move || {
            let mut s = std::net::TcpStream::connect_timeout(&addr, timeout)?;
            s.set_read_timeout(Some(timeout))?;
            s.shutdown(std::net::Shutdown::Write)?;
            let mut reply = String::new();
            s.read_to_string(&mut reply)?;
            Ok(reply)
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("client thread panicked")))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Servers started inside would keep the namespace alive.
        let _ = crate::sh(&format!(
            "ip netns pids {n} | xargs -r kill -9; ip netns del {n}",
            n = self.name
        ));
    }
}

/// Creates a veth pair, one end `here` in the calling thread's namespace, the other
/// `there` inside `ns`.
#[track_caller]
pub fn veth(here: &str, ns: &Netns, there: &str) {
    must(&format!(
        "ip link add {here} type veth peer name {there} netns {}",
        ns.name()
    ));
    must(&format!("ip link set {here} up"));
    ns.must(&format!("ip link set {there} up"));
}

/// Which forwarding method a [`Topology`] is wired for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopologyKind {
    /// Masquerading: real servers route back through the director.
    Nat,
    /// Direct routing: real servers share the director's segment and hold the VIP on
    /// loopback (ARP for it suppressed).
    DirectRouting,
    /// IPIP tunnelling: real servers hold the VIP on their `tunl0`.
    Tunnel,
}

/// A real server of a [`Topology`].
#[derive(Debug)]
pub struct Server {
    /// Its namespace.
    pub ns: Netns,
    /// Its IPv4 address on the server segment.
    pub addr: IpAddr,
    /// Its IPv6 address on the server segment.
    pub addr6: IpAddr,
}

/// A client, the calling thread's namespace as director, and real servers:
///
/// ```text
///  client 203.0.113.2 ── to-client 203.0.113.1 [director] br-rs 198.51.100.1 ─┬─ rs0 198.51.100.10
///  2001:db8:1::2          2001:db8:1::1   VIP 203.0.113.10     2001:db8:2::1   ├─ rs1 198.51.100.11
///                                         VIP 2001:db8:1::10                   └─ ...
/// ```
///
/// The client's default route points at the director; the real servers' default route
/// too (NAT needs it; direct routing and tunnels use it as the return path, for which
/// the director accepts packets from the VIP it also holds). Forwarding is on in the
/// director.
#[derive(Debug)]
pub struct Topology {
    /// The forwarding method it is wired for.
    pub kind: TopologyKind,
    /// The virtual IPv4 address, on the director's client side.
    pub vip: IpAddr,
    /// The virtual IPv6 address, on the director's client side.
    pub vip6: IpAddr,
    /// The client namespace.
    pub client: Netns,
    /// The real servers.
    pub servers: Vec<Server>,
}

impl Topology {
    /// Client, director and `n` real servers for masquerading (NAT).
    #[track_caller]
    pub fn nat(n: usize) -> Topology {
        Topology::build(TopologyKind::Nat, n)
    }

    /// Client, director and `n` real servers for direct routing.
    #[track_caller]
    pub fn direct_routing(n: usize) -> Topology {
        Topology::build(TopologyKind::DirectRouting, n)
    }

    /// Client, director and `n` real servers for IPIP tunnelling.
    #[track_caller]
    pub fn tunnel(n: usize) -> Topology {
        Topology::build(TopologyKind::Tunnel, n)
    }

    #[track_caller]
    fn build(kind: TopologyKind, n: usize) -> Topology {
        let vip = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10));
        let vip6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x10));
        // No duplicate address detection: addresses are usable at once.
        must(
            "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
             net.ipv6.conf.default.accept_dad=0",
        );
        let client = Netns::new("client");
        client.must("sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0");
        veth("to-client", &client, "eth0");
        must(
            "ip addr add 203.0.113.1/24 dev to-client && ip addr add 203.0.113.10/32 dev to-client \
             && ip addr add 2001:db8:1::1/64 dev to-client nodad \
             && ip addr add 2001:db8:1::10/128 dev to-client nodad",
        );
        client.must(
            "ip addr add 203.0.113.2/24 dev eth0 && ip route add default via 203.0.113.1 \
             && ip addr add 2001:db8:1::2/64 dev eth0 nodad \
             && ip -6 route add default via 2001:db8:1::1",
        );
        must(
            "ip link add br-rs type bridge && ip link set br-rs up \
             && ip addr add 198.51.100.1/24 dev br-rs && ip addr add 2001:db8:2::1/64 dev br-rs nodad",
        );
        let servers = (0..n)
            .map(|i| {
                let ns = Netns::new(&format!("rs{i}"));
                let here = format!("rs{i}-{}", next_id());
                veth(&here, &ns, "eth0");
                must(&format!("ip link set {here} master br-rs"));
                let last = 10 + i;
                ns.must(&format!(
                    "sysctl -qw net.ipv6.conf.all.accept_dad=0 \
                     && ip addr add 198.51.100.{last}/24 dev eth0 \
                     && ip route add default via 198.51.100.1 \
                     && ip addr add 2001:db8:2::{last:x}/64 dev eth0 nodad \
                     && ip -6 route add default via 2001:db8:2::1"
                ));
                match kind {
                    TopologyKind::Nat => {}
                    TopologyKind::DirectRouting => drop(ns.must(
                        "sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
                         && ip addr add 203.0.113.10/32 dev lo \
                         && ip addr add 2001:db8:1::10/128 dev lo nodad",
                    )),
                    TopologyKind::Tunnel => drop(ns.must(
                        "ip link set tunl0 up && ip addr add 203.0.113.10/32 dev tunl0 \
                         && sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.tunl0.rp_filter=0 \
                         net.ipv4.conf.default.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0",
                    )),
                };
                Server {
                    ns,
                    addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, last as u8)),
                    addr6: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, last as u16)),
                }
            })
            .collect();
        if kind != TopologyKind::Nat {
            // Real servers answer from the VIP through their default route, the
            // director, which holds the VIP too: accept such packets instead of dropping
            // them as martians, and forward them to the client.
            must(
                "sysctl -qw net.ipv4.conf.all.accept_local=1 net.ipv4.conf.br-rs.accept_local=1 \
                 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.br-rs.rp_filter=0",
            );
        }
        if kind == TopologyKind::Tunnel {
            must("ip link set tunl0 up");
        }
        Topology {
            kind,
            vip,
            vip6,
            client,
            servers,
        }
    }
}

/// A TCP server running on a thread inside a namespace; stops when dropped.
#[derive(Debug)]
pub struct TcpServer {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TcpServer {
    /// Listens on `addr` inside `ns` and hands each accepted connection to `handler`
    /// (one at a time, on the server's thread). Returns once the socket is listening.
    ///
    /// # Panics
    /// When the address cannot be bound.
    #[track_caller]
    pub fn start<F>(ns: &Netns, addr: std::net::SocketAddr, handler: F) -> TcpServer
    where
        F: Fn(std::net::TcpStream) + Send + 'static,
    {
        TcpServer::start_on(ns, addr, std::net::TcpListener::bind, handler)
    }

    /// [`TcpServer::start`] with a listening socket made by `listen` (an SCTP one, for
    /// instance).
    #[track_caller]
    pub(crate) fn start_on<L, F>(
        ns: &Netns,
        addr: std::net::SocketAddr,
        listen: L,
        handler: F,
    ) -> TcpServer
    where
        L: FnOnce(std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> + Send + 'static,
        F: Fn(std::net::TcpStream) + Send + 'static,
    {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let flag = stop.clone();
        let thread = ns.spawn(move || {
            let listener = match listen(addr) {
                Ok(l) => l,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = listener.set_nonblocking(true);
            let _ = ready_tx.send(Ok(()));
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let _ = stream.set_nonblocking(false);
                        handler(stream);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        match ready_rx.recv() {
            Ok(Ok(())) => TcpServer {
                stop,
                thread: Some(thread),
            },
            Ok(Err(e)) => panic!("bind {addr} in {}: {e}", ns.name()),
            Err(_) => panic!("server thread for {addr} in {} died", ns.name()),
        }
    }

    /// A server that echoes every byte back until the client closes.
    #[track_caller]
    pub fn echo(ns: &Netns, addr: std::net::SocketAddr) -> TcpServer {
        TcpServer::start(ns, addr, |mut s| {
            let mut r = match s.try_clone() {
                Ok(r) => r,
                Err(_) => return,
            };
            let _ = std::io::copy(&mut r, &mut s);
        })
    }

    /// A server that answers each connection with `reply` and closes it (reading and
    /// discarding whatever the client sends, such as a request).
    #[track_caller]
    pub fn reply(ns: &Netns, addr: std::net::SocketAddr, reply: String) -> TcpServer {
        TcpServer::start(ns, addr, move |mut s| {
            let _ = std::io::Write::write_all(&mut s, reply.as_bytes());
            // Half-close, then drain what the client sent until it closes: closing a
            // socket with unread data would answer with a reset instead.
            let _ = s.shutdown(std::net::Shutdown::Write);
            let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(2)));
            let _ = std::io::copy(&mut s, &mut std::io::sink());
        })
    }
}

impl Drop for TcpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
