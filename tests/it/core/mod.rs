//! ipvs-core against the real kernel: every operation is done through ipvs-core,
//! read back through ipvs-core and through the real ipvsadm in the same lab, and
//! the two readings are compared (ipvs-core's reading is rendered in
//! `ipvsadm -Sn` syntax by [`render_save`]).

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ipvs_core::*;
use ipvs_lab::{lab_test, must, run, sh, TcpServer, Topology};

fn handle() -> Handle {
    Handle::new().expect("IPVS handle in the lab")
}

pub(crate) fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address literal")
}

/// `ipvsadm -Sn` of the calling thread's namespace, sorted.
pub(crate) fn ipvsadm_save() -> Vec<String> {
    sorted(&must("ipvsadm -Sn").stdout)
}

/// The lines of `text`, sorted.
pub(crate) fn sorted(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

fn key_arg(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { protocol, addr } => {
            let flag = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
                other => panic!("no ipvsadm switch for {other}"),
            };
            format!("{flag} {addr}")
        }
        ServiceKey::FwMark {
            mark,
            family: AddressFamily::Inet,
        } => format!("-f {mark}"),
        ServiceKey::FwMark {
            mark,
            family: AddressFamily::Inet6,
        } => format!("-f {mark} -6"),
        ServiceKey::FwMark { family, .. } => panic!("no ipvsadm switch for family {family}"),
    }
}

/// ipvs-core's view of the table, written the way `ipvsadm -Sn` writes it.
fn render_save(h: &mut Handle) -> Vec<String> {
    let mut lines = Vec::new();
    for svc in h.services().expect("services") {
        let mut l = format!("-A {} -s {}", key_arg(&svc.key), svc.scheduler);
        if svc.flags.contains(ServiceFlags::PERSISTENT) {
            l += &format!(" -p {}", svc.timeout);
            if svc.netmask != Netmask::host(svc.key.family()) {
                l += &format!(" -M {}", svc.netmask);
            }
        }
        if let Some(pe) = &svc.pe_name {
            l += &format!(" --pe {pe}");
        }
        if svc.flags.contains(ServiceFlags::ONEPACKET) {
            l += " -o";
        }
        let sched_flags = svc.flags.sched_flag_names(&svc.scheduler);
        if !sched_flags.is_empty() {
            l += &format!(" -b {}", sched_flags.join(","));
        }
        lines.push(l);
        for d in h.destinations(&svc.key).expect("destinations") {
            let fwd = match d.forward {
                ForwardMethod::Masquerade => "-m",
                ForwardMethod::DirectRoute => "-g",
                ForwardMethod::Tunnel => "-i",
                ForwardMethod::Local => "-m",
                ForwardMethod::Bypass => "-b?",
                other => panic!("no ipvsadm switch for {other}"),
            };
            let mut l = format!(
                "-a {} -r {} {fwd} -w {}",
                key_arg(&svc.key),
                d.socket_addr(),
                d.weight
            );
            if d.forward == ForwardMethod::Tunnel {
                let t = match d.tunnel_type {
                    TunnelType::Ipip => "ipip",
                    TunnelType::Gue => "gue",
                    TunnelType::Gre => "gre",
                    other => panic!("no ipvsadm name for {other:?}"),
                };
                l += &format!(" --tun-type {t}");
                if d.tunnel_type == TunnelType::Gue {
                    l += &format!(" --tun-port {}", d.tunnel_port);
                }
                if d.tunnel_type != TunnelType::Ipip {
                    match d.tunnel_checksum {
                        TunnelChecksum::NoCsum => l += " --tun-nocsum",
                        TunnelChecksum::Csum => l += " --tun-csum",
                        TunnelChecksum::RemCsum => l += " --tun-remcsum",
                        other => l += &format!(" --tun-flags?{}", other.to_raw()),
                    }
                }
            }
            lines.push(l);
        }
    }
    lines.sort();
    lines
}

/// ipvs-core and ipvsadm read the same table.
#[track_caller]
fn assert_agree(h: &mut Handle) {
    assert_eq!(
        render_save(h),
        ipvsadm_save(),
        "ipvs-core (left) and ipvsadm -Sn (right) disagree"
    );
}

#[track_caller]
fn assert_save(expected: &[&str]) {
    let mut e: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    e.sort();
    assert_eq!(ipvsadm_save(), e);
}

/// The settable part of a service, to compare what was written with what is
/// read: the config-only view (no counters, no kernel-set HASHED flag).
#[track_caller]
fn assert_same_settings(read: &Service, written: &Service) {
    assert_eq!(read.spec(), written.spec());
}

/// The settable part of a destination (no connection counts, no counters).
#[track_caller]
fn assert_same_dest(read: &Destination, written: &Destination) {
    assert_eq!(read.spec(), written.spec());
}

/// The five cumulative counters in `ipvsadm -Ln --stats --exact` column order.
fn counters(s: &Stats) -> Vec<u64> {
    vec![s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes]
}

/// The counters of the first line of `ipvsadm -Ln --stats --exact` output
/// containing `needle` ("TCP  VIP:PORT " for a service, "-> RIP:PORT " for a
/// destination): the columns after the first two (protocol or arrow, address).
#[track_caller]
fn exact_counters(exact: &str, needle: &str) -> Vec<u64> {
    let line = exact
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} in {exact}"));
    line.split_whitespace()
        .skip(2)
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("counter {v:?} in {line:?}"))
        })
        .collect()
}

/// An ipvs-core example binary (`cargo build -p ipvs-core --examples`, which
/// `cargo test --workspace` also does), beside the running test binary.
pub(crate) fn example(name: &str) -> String {
    let exe = std::env::current_exe().expect("the running test binary has a path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build -p ipvs-core --examples`",
        path.display()
    );
    path.display().to_string()
}

/// The service's counters once traffic is over: the kernel folds per-CPU
/// counters in every 2 s, so wait until two readings an estimator period apart agree.
fn settled_stats(h: &mut Handle, key: &ServiceKey) -> Stats {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = h.service(key).expect("service").stats;
    loop {
        std::thread::sleep(Duration::from_millis(2100));
        let now = h.service(key).expect("service").stats;
        let counters = |s: &Stats| (s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes);
        if counters(&now) == counters(&last) || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

mod objects;
mod requests;
mod traffic;

/// Stops every sync daemon of the calling thread's namespace when dropped, also
/// when a test panics: a namespace torn down with a running daemon can hang the
/// lab kernel.
struct StopDaemonsOnDrop;

impl Drop for StopDaemonsOnDrop {
    fn drop(&mut self) {
        if let Ok(mut h) = Handle::new() {
            if h.daemons().is_ok_and(|d| !d.is_empty()) {
                // A sync thread stopped right after its start can block the kernel.
                std::thread::sleep(Duration::from_secs(2));
                for state in [DaemonState::Master, DaemonState::Backup] {
                    let _ = h.stop_daemon(state);
                }
            }
        }
    }
}

/// Drop CAP_NET_ADMIN from the calling thread's effective set.
fn drop_cap_net_admin() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    const CAP_NET_ADMIN: u32 = 12;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset with a v3 header and two data structs, as the ABI requires.
    unsafe {
        assert_eq!(
            libc::syscall(
                libc::SYS_capget,
                &mut header as *mut Header,
                data.as_mut_ptr()
            ),
            0
        );
        data[0].effective &= !(1 << CAP_NET_ADMIN);
        assert_eq!(
            libc::syscall(libc::SYS_capset, &mut header as *mut Header, data.as_ptr()),
            0
        );
    }
}

/// On a host without IPVS (development machines and CI), the handle says so.
#[test]
fn ipvs_unavailable_on_a_host_without_ipvs() {
    if std::path::Path::new("/proc/net/ip_vs").exists()
        || std::env::var_os(ipvs_lab::INSIDE_ENV).is_some()
    {
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED core::ipvs_unavailable_on_a_host_without_ipvs: this kernel has IPVS"
        );
        return;
    }
    match Handle::new() {
        Err(Error::IpvsUnavailable { reason }) => assert!(reason.contains("IPVS"), "{reason}"),
        other => panic!("expected IpvsUnavailable, got {other:?}"),
    }
    let msg = Handle::new().unwrap_err().to_string();
    assert!(msg.contains("modprobe ip_vs"), "{msg}");
}
