//! The recipe that captures kernel byte fixtures for ipvs-core
//! (ipvs-core/tests/fixtures/*.rs) and checks that live kernel replies decode and
//! re-encode byte for byte.
//!
//! Re-capture (inside the lab, writing to the worktree through hostfs):
//! `IPVS_CORE_FIXTURE_DIR=$PWD/ipvs-core/tests/fixtures cargo test --test it core_fixtures::`
//!
//! Without the variable the test still captures, decodes and re-encodes, and writes
//! nothing.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ipvs_core::codec::nla::{IpvsCmdAttr, ServiceAttr};
use ipvs_core::codec::{self, IpvsCmd, IpvsMessage};
use ipvs_core::netlink::Transport;
use ipvs_core::Handle;
use ipvs_lab::{lab_test, must, TcpServer, Topology};
use netlink_packet_core::{NetlinkBuffer, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_generic::GenlMessage;
use netlink_sys::protocols::NETLINK_GENERIC;

/// Records every reply message to one request, through the workspace's
/// netlink transport.
struct Recorder {
    transport: Transport,
    family: u16,
}

impl Recorder {
    fn new() -> Recorder {
        let family = Handle::new().expect("handle").family_id();
        let transport = Transport::open(NETLINK_GENERIC).expect("netlink socket");
        Recorder { transport, family }
    }

    /// Send `msg` and return every reply message (each a whole netlink message),
    /// without the closing NLMSG_DONE.
    fn record(&mut self, msg: IpvsMessage, dump: bool) -> Vec<Vec<u8>> {
        let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        let mut genl = GenlMessage::from_payload(msg);
        genl.set_resolved_family_id(self.family);
        self.transport.capture(genl, flags).expect("capture")
    }
}

/// The service-key attributes of `key`, as ipvs-core sends them.
fn test_service_key_attrs(
    key: &ipvs_core::ServiceKey,
) -> Result<Vec<ServiceAttr>, ipvs_core::codec::CodecError> {
    match &IpvsMessage::get_service(key)?.cmd_attrs()[0] {
        IpvsCmdAttr::Service(attrs) => Ok(attrs.clone()),
        other => panic!("not a service key: {other:?}"),
    }
}

fn name(set: &str, kind: u16) -> (&'static str, Option<&'static str>) {
    // (attribute name, nested set)
    let n = |s: &'static str| (s, None);
    match (set, kind) {
        ("cmd", 1) => ("IPVS_CMD_ATTR_SERVICE", Some("svc")),
        ("cmd", 2) => ("IPVS_CMD_ATTR_DEST", Some("dest")),
        ("cmd", 3) => ("IPVS_CMD_ATTR_DAEMON", Some("daemon")),
        ("cmd", 4) => n("IPVS_CMD_ATTR_TIMEOUT_TCP (u32 s)"),
        ("cmd", 5) => n("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN (u32 s)"),
        ("cmd", 6) => n("IPVS_CMD_ATTR_TIMEOUT_UDP (u32 s)"),
        ("info", 1) => n("IPVS_INFO_ATTR_VERSION (u32)"),
        ("info", 2) => n("IPVS_INFO_ATTR_CONN_TAB_SIZE (u32)"),
        ("svc", 1) => n("IPVS_SVC_ATTR_AF (u16)"),
        ("svc", 2) => n("IPVS_SVC_ATTR_PROTOCOL (u16)"),
        ("svc", 3) => n("IPVS_SVC_ATTR_ADDR (nf_inet_addr)"),
        ("svc", 4) => n("IPVS_SVC_ATTR_PORT (be16)"),
        ("svc", 5) => n("IPVS_SVC_ATTR_FWMARK (u32)"),
        ("svc", 6) => n("IPVS_SVC_ATTR_SCHED_NAME (string)"),
        ("svc", 7) => n("IPVS_SVC_ATTR_FLAGS (flags u32, mask u32)"),
        ("svc", 8) => n("IPVS_SVC_ATTR_TIMEOUT (u32 s)"),
        ("svc", 9) => n("IPVS_SVC_ATTR_NETMASK (be32 mask / host-order IPv6 plen)"),
        ("svc", 10) => ("IPVS_SVC_ATTR_STATS", Some("stats")),
        ("svc", 11) => n("IPVS_SVC_ATTR_PE_NAME (string)"),
        ("svc", 12) => ("IPVS_SVC_ATTR_STATS64", Some("stats")),
        ("dest", 1) => n("IPVS_DEST_ATTR_ADDR (nf_inet_addr)"),
        ("dest", 2) => n("IPVS_DEST_ATTR_PORT (be16)"),
        ("dest", 3) => n("IPVS_DEST_ATTR_FWD_METHOD (u32)"),
        ("dest", 4) => n("IPVS_DEST_ATTR_WEIGHT (u32)"),
        ("dest", 5) => n("IPVS_DEST_ATTR_U_THRESH (u32)"),
        ("dest", 6) => n("IPVS_DEST_ATTR_L_THRESH (u32)"),
        ("dest", 7) => n("IPVS_DEST_ATTR_ACTIVE_CONNS (u32)"),
        ("dest", 8) => n("IPVS_DEST_ATTR_INACT_CONNS (u32)"),
        ("dest", 9) => n("IPVS_DEST_ATTR_PERSIST_CONNS (u32)"),
        ("dest", 10) => ("IPVS_DEST_ATTR_STATS", Some("stats")),
        ("dest", 11) => n("IPVS_DEST_ATTR_ADDR_FAMILY (u16)"),
        ("dest", 12) => ("IPVS_DEST_ATTR_STATS64", Some("stats")),
        ("dest", 13) => n("IPVS_DEST_ATTR_TUN_TYPE (u8)"),
        ("dest", 14) => n("IPVS_DEST_ATTR_TUN_PORT (be16)"),
        ("dest", 15) => n("IPVS_DEST_ATTR_TUN_FLAGS (u16)"),
        ("daemon", 1) => n("IPVS_DAEMON_ATTR_STATE (u32)"),
        ("daemon", 2) => n("IPVS_DAEMON_ATTR_MCAST_IFN (string)"),
        ("daemon", 3) => n("IPVS_DAEMON_ATTR_SYNC_ID (u32)"),
        ("daemon", 4) => n("IPVS_DAEMON_ATTR_SYNC_MAXLEN (u16)"),
        ("daemon", 5) => n("IPVS_DAEMON_ATTR_MCAST_GROUP (in_addr)"),
        ("daemon", 6) => n("IPVS_DAEMON_ATTR_MCAST_GROUP6 (in6_addr)"),
        ("daemon", 7) => n("IPVS_DAEMON_ATTR_MCAST_PORT (u16, host order)"),
        ("daemon", 8) => n("IPVS_DAEMON_ATTR_MCAST_TTL (u8)"),
        ("stats", 1) => n("IPVS_STATS_ATTR_CONNS"),
        ("stats", 2) => n("IPVS_STATS_ATTR_INPKTS"),
        ("stats", 3) => n("IPVS_STATS_ATTR_OUTPKTS"),
        ("stats", 4) => n("IPVS_STATS_ATTR_INBYTES"),
        ("stats", 5) => n("IPVS_STATS_ATTR_OUTBYTES"),
        ("stats", 6) => n("IPVS_STATS_ATTR_CPS"),
        ("stats", 7) => n("IPVS_STATS_ATTR_INPPS"),
        ("stats", 8) => n("IPVS_STATS_ATTR_OUTPPS"),
        ("stats", 9) => n("IPVS_STATS_ATTR_INBPS"),
        ("stats", 10) => n("IPVS_STATS_ATTR_OUTBPS"),
        ("stats", 11) => n("IPVS_STATS_ATTR_PAD"),
        _ => n("unknown attribute"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("0x{b:02x},"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn value_hint(attr: &str, v: &[u8]) -> String {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let arr16 = <[u8; 16]>::try_from(v).ok();
    let arr4 = <[u8; 4]>::try_from(v).ok();
    if attr.contains("FLAGS (flags u32, mask u32)") && v.len() == 8 {
        let f = u32::from_ne_bytes([v[0], v[1], v[2], v[3]]);
        let m = u32::from_ne_bytes([v[4], v[5], v[6], v[7]]);
        return format!("flags {f:#x}, mask {m:#x}");
    }
    if attr.contains("(nf_inet_addr)") {
        if let Some(a) = arr16 {
            return format!(
                "{} if AF_INET (first 4 bytes), {} if AF_INET6",
                Ipv4Addr::new(a[0], a[1], a[2], a[3]),
                Ipv6Addr::from(a)
            );
        }
    }
    if let (true, Some(a)) = (attr.contains("(in_addr)"), arr4) {
        return Ipv4Addr::from(a).to_string();
    }
    if let (true, Some(a)) = (attr.contains("(in6_addr)"), arr16) {
        return Ipv6Addr::from(a).to_string();
    }
    if let (true, Some(a)) = (attr.contains("NETMASK"), arr4) {
        return format!(
            "{} as an IPv4 mask, or prefix length {} for IPv6 (host order)",
            Ipv4Addr::from(a),
            u32::from_ne_bytes(a)
        );
    }
    if attr.contains("IPVS_STATS_ATTR_PAD") && v.is_empty() {
        return "none (empty: aligns the next 64-bit counter)".into();
    }
    let printable =
        v.len() > 1 && v[..v.len() - 1].iter().all(|b| b.is_ascii_graphic()) && v[v.len() - 1] == 0;
    match v.len() {
        _ if printable => format!("{:?}", String::from_utf8_lossy(&v[..v.len() - 1])),
        1 => format!("{}", v[0]),
        2 => format!(
            "{} (host order), {} (network order)",
            u16::from_ne_bytes([v[0], v[1]]),
            u16::from_be_bytes([v[0], v[1]])
        ),
        4 => format!(
            "{} (host order)",
            u32::from_ne_bytes([v[0], v[1], v[2], v[3]])
        ),
        8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(v);
            format!("{}", u64::from_ne_bytes(a))
        }
        _ => "raw bytes".into(),
    }
}

fn annotate_attrs(out: &mut String, bytes: &[u8], set: &str, depth: usize) {
    let mut pos = 0;
    let pad = "    ".repeat(depth);
    while pos + 4 <= bytes.len() {
        let len = u16::from_ne_bytes([bytes[pos], bytes[pos + 1]]) as usize;
        let kind = u16::from_ne_bytes([bytes[pos + 2], bytes[pos + 3]]) & 0x3fff;
        let (attr, nested) = name(set, kind);
        let end = (pos + len).min(bytes.len());
        let aligned = ((pos + len + 3) & !3).min(bytes.len());
        let value = &bytes[pos + 4..end];
        match nested {
            Some(inner) => {
                let _ = writeln!(
                    out,
                    "{pad}// {attr}: nla_len {len}, nla_type {kind} (nested)"
                );
                let _ = writeln!(out, "{pad}{}", hex(&bytes[pos..pos + 4]));
                annotate_attrs(out, value, inner, depth + 1);
            }
            None => {
                let _ = writeln!(
                    out,
                    "{pad}// {attr}: nla_len {len}, nla_type {kind}, value {}",
                    value_hint(attr, value)
                );
                let _ = writeln!(out, "{pad}{} {}", hex(&bytes[pos..pos + 4]), hex(value));
            }
        }
        if aligned > end {
            let _ = writeln!(out, "{pad}// padding to 4 bytes");
            let _ = writeln!(out, "{pad}{}", hex(&bytes[end..aligned]));
        }
        pos = aligned;
    }
}

/// One message as a commented Rust byte-array literal.
fn annotate(msg: &[u8]) -> String {
    let mut out = String::new();
    let nb = NetlinkBuffer::new_checked(msg).expect("framing");
    let _ = writeln!(
        out,
        "    // nlmsghdr: nlmsg_len {}, nlmsg_type {} (the IPVS family id here, or 2 = NLMSG_ERROR), nlmsg_flags {:#06x}, nlmsg_seq {}, nlmsg_pid {}",
        nb.length(), nb.message_type(), nb.flags(), nb.sequence_number(), nb.port_number()
    );
    let _ = writeln!(out, "    {}", hex(&msg[..16]));
    if nb.message_type() == netlink_packet_core::NLMSG_ERROR {
        let code = i32::from_ne_bytes([msg[16], msg[17], msg[18], msg[19]]);
        let _ = writeln!(out, "    // nlmsgerr.error = {code} (negative errno)");
        let _ = writeln!(out, "    {}", hex(&msg[16..20]));
        let _ = writeln!(
            out,
            "    // nlmsgerr.msg: the request's nlmsghdr and payload, echoed"
        );
        let _ = writeln!(out, "    {}", hex(&msg[20..]));
        return out;
    }
    let cmd = msg[16];
    let _ = writeln!(
        out,
        "    // genlmsghdr: cmd {cmd} ({:?}), version {}, reserved",
        IpvsCmd::from(cmd),
        msg[17]
    );
    let _ = writeln!(out, "    {}", hex(&msg[16..20]));
    let set = if IpvsCmd::from(cmd) == IpvsCmd::SetInfo {
        "info"
    } else {
        "cmd"
    };
    annotate_attrs(&mut out, &msg[20..], set, 1);
    out
}

fn fixture_source(name: &str, recipe: &str, msgs: &[Vec<u8>]) -> String {
    let mut s = format!(
        "// Captured from the lab kernel (Linux 6.1 user-mode-linux) by tests/it/core_fixtures.rs.\n\
         // Recipe: {recipe}\n// Do not edit by hand; re-run the recipe instead.\n\n\
         /// `{name}`: {} netlink message(s) exactly as the kernel sent them.\n\
         pub const MESSAGES: &[&[u8]] = &[\n",
        msgs.len()
    );
    for m in msgs {
        s.push_str("  &[\n");
        s.push_str(&annotate(m));
        s.push_str("  ],\n");
    }
    s.push_str("];\n");
    s
}

/// Every captured message decodes and re-encodes to the same bytes.
fn assert_round_trip(name: &str, msgs: &[Vec<u8>]) {
    assert!(!msgs.is_empty(), "{name}: nothing captured");
    for (i, m) in msgs.iter().enumerate() {
        let decoded: Vec<_> = codec::decode(m).collect();
        assert_eq!(decoded.len(), 1, "{name}[{i}]");
        let msg = decoded
            .into_iter()
            .next()
            .unwrap()
            .unwrap_or_else(|e| panic!("{name}[{i}] decode: {e}"));
        let mut back = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut back);
        assert_eq!(&back, m, "{name}[{i}] re-encodes differently");
    }
}

fn traffic(topo: &Topology, port: u16, rounds: usize) {
    let vip = SocketAddr::new(topo.vip, port);
    topo.client
        .spawn(move || {
            for _ in 0..rounds {
                let mut s =
                    TcpStream::connect_timeout(&vip, Duration::from_secs(5)).expect("connect");
                s.set_read_timeout(Some(Duration::from_secs(5)))
                    .expect("timeout");
                s.write_all(b"hello ipvs").expect("write");
                let mut buf = [0u8; 10];
                s.read_exact(&mut buf).expect("echo");
            }
        })
        .join()
        .expect("client");
}

lab_test! {
    /// Capture kernel replies for every reply type ipvs-core decodes; check each
    /// decodes and re-encodes byte for byte; write them as fixtures when
    /// IPVS_CORE_FIXTURE_DIR is set.
    fn capture_kernel_fixtures() {
        let topo = Topology::nat(2);
        let _echo: Vec<TcpServer> =
            topo.servers.iter().map(|s| TcpServer::echo(&s.ns, SocketAddr::new(s.addr, 8080))).collect();
        let vip = topo.vip;
        let (rs0, rs1) = (topo.servers[0].addr, topo.servers[1].addr);
        must(&format!(
            "ipvsadm -A -t {vip}:80 -s wlc -p 300 -M 255.255.255.0 \
             && ipvsadm -a -t {vip}:80 -r {rs0}:8080 -m -w 2 \
             && ipvsadm -a -t {vip}:80 -r {rs1}:8080 -m -w 1 -x 100 -y 10 \
             && ipvsadm -a -t {vip}:80 -r 192.0.2.50:8080 -i -w 0 --tun-type gue --tun-port 6080 --tun-nocsum \
             && ipvsadm -A -u [2001:db8::1]:53 -s sh -b sh-fallback,sh-port \
             && ipvsadm -A -f 7 -6 -s mh -b mh-port -p 60 -M 64 \
             && ipvsadm -A -u 192.0.2.1:5060 -s rr -p 120 --pe sip \
             && ipvsadm --set 900 120 300 \
             && ipvsadm --start-daemon master --mcast-interface lo --syncid 9"
        ));
        traffic(&topo, 80, 6);
        // The estimator folds per-CPU counters into what dumps report every 2 s.
        std::thread::sleep(Duration::from_millis(4500));
        let mut rec = Recorder::new();
        let svc_key = || IpvsCmdAttr::Service(
            test_service_key_attrs(&ipvs_core::ServiceKey::tcp(SocketAddr::new(vip, 80))).unwrap(),
        );
        let missing_key = || IpvsCmdAttr::Service(
            test_service_key_attrs(&ipvs_core::ServiceKey::tcp("192.0.2.99:81".parse().unwrap())).unwrap(),
        );
        let captures: Vec<(&str, &str, Vec<Vec<u8>>)> = vec![
            ("service_dump", "GET_SERVICE dump over: TCP VIP:80 wlc persistent 300 netmask 255.255.255.0; UDP [2001:db8::1]:53 sh sh-fallback,sh-port; FWM 7 IPv6 mh mh-port persistent 60 /64; UDP 192.0.2.1:5060 rr persistent 120 pe sip",
                rec.record(IpvsMessage::new(IpvsCmd::GetService, vec![]), true)),
            ("dest_dump", "GET_DEST dump of TCP 203.0.113.10:80 after 6 TCP connections through NAT: two Masq destinations (one with thresholds 100/10) and a GUE tunnel destination port 6080 nocsum weight 0",
                rec.record(IpvsMessage::new(IpvsCmd::GetDest, vec![svc_key()]), true)),
            ("daemon_dump", "GET_DAEMON dump after `ipvsadm --start-daemon master --mcast-interface lo --syncid 9`",
                rec.record(IpvsMessage::new(IpvsCmd::GetDaemon, vec![]), true)),
            ("config_reply", "GET_CONFIG after `ipvsadm --set 900 120 300`",
                rec.record(IpvsMessage::new(IpvsCmd::GetConfig, vec![]), false)),
            ("info_reply", "GET_INFO",
                rec.record(IpvsMessage::new(IpvsCmd::GetInfo, vec![]), false)),
            ("error_no_such_service", "GET_SERVICE of the missing TCP 192.0.2.99:81: NLMSG_ERROR -ESRCH",
                rec.record(IpvsMessage::new(IpvsCmd::GetService, vec![missing_key()]), false)),
        ];
        for (name, _, msgs) in &captures {
            if *name != "error_no_such_service" {
                assert_round_trip(name, msgs);
            }
        }
        if let Ok(dir) = std::env::var("IPVS_CORE_FIXTURE_DIR") {
            for (name, recipe, msgs) in &captures {
                let path = format!("{dir}/{name}.rs");
                std::fs::write(&path, fixture_source(name, recipe, msgs)).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
        }
    }

    /// IPv6 destinations, a mixed-family (IPv4) tunnel destination and a GRE
    /// destination under an IPv6 service, and a backup daemon with an IPv6 group;
    /// written when IPVS_CORE_FIXTURE_DIR is set.
    fn capture_kernel_fixtures_v6() {
        must(
            "ip link add sync0 type dummy && ip link set sync0 multicast on up \
             && ipvsadm -A -t [2001:db8::1]:443 -s wrr \
             && ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8::2]:8443 -m -w 5 -x 50 -y 5 \
             && ipvsadm -a -t [2001:db8::1]:443 -r [2001:db8::3]:443 -i --tun-type gre --tun-csum -w 9",
        );
        // ipvsadm refuses a destination of another family; the kernel takes it
        // for tunnelling, so ipvs-core adds it (the dump below is still the kernel's).
        let mixed = ipvs_core::Destination::new("192.0.2.77:443".parse().unwrap(), ipvs_core::ForwardMethod::Tunnel)
            .tunnel(ipvs_core::TunnelType::Gue, 7777)
            .tunnel_checksum(ipvs_core::TunnelChecksum::RemCsum);
        let v6svc = ipvs_core::ServiceKey::tcp("[2001:db8::1]:443".parse().unwrap());
        let mut h = Handle::new().expect("handle");
        h.add_destination(&v6svc, &mixed).expect("mixed-family tunnel destination");
        let mut rec = Recorder::new();
        let key = IpvsCmdAttr::Service(
            test_service_key_attrs(&ipvs_core::ServiceKey::tcp("[2001:db8::1]:443".parse().unwrap())).unwrap(),
        );
        let dests = rec.record(IpvsMessage::new(IpvsCmd::GetDest, vec![key]), true);
        // The kernel refuses a sync daemon while mixed-family destinations exist
        // (and mixed-family destinations while a daemon runs).
        h.delete_destination(&v6svc, mixed.socket_addr()).expect("delete the mixed-family destination");
        must(
            "ipvsadm --start-daemon backup --mcast-interface sync0 --syncid 42 --mcast-group ff35:20:2001:db8::8848 \
             --mcast-port 9999 --mcast-ttl 3 --sync-maxlen 1000",
        );
        let captures: Vec<(&str, &str, Vec<Vec<u8>>)> = vec![
            ("dest_dump_v6", "GET_DEST dump of TCP [2001:db8::1]:443: Masq [2001:db8::2]:8443 weight 5 thresholds 50/5; IPv4 GUE tunnel 192.0.2.77 port 7777 remcsum (mixed family, added through ipvs-core since ipvsadm refuses it); GRE [2001:db8::3]:443 csum weight 9",
                dests),
            ("daemon_dump_v6", "GET_DAEMON dump after `ipvsadm --start-daemon backup --mcast-interface sync0 --syncid 42 --mcast-group ff35:20:2001:db8::8848 --mcast-port 9999 --mcast-ttl 3 --sync-maxlen 1000`",
                rec.record(IpvsMessage::new(IpvsCmd::GetDaemon, vec![]), true)),
        ];
        for (name, _, msgs) in &captures {
            assert_round_trip(name, msgs);
        }
        if let Ok(dir) = std::env::var("IPVS_CORE_FIXTURE_DIR") {
            for (name, recipe, msgs) in &captures {
                let path = format!("{dir}/{name}.rs");
                std::fs::write(&path, fixture_source(name, recipe, msgs)).unwrap_or_else(|e| panic!("{path}: {e}"));
            }
        }
        // Stop the daemon, giving its thread time first: a sync thread stopped
        // right after its start can block the lab kernel.
        std::thread::sleep(Duration::from_secs(2));
        must("ipvsadm --stop-daemon backup");
    }
}
