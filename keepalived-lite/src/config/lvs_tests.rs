//! Tests of the LVS grammar: every keyword, keepalived's defaults, errors with file
//! and line.

use std::path::Path;

use super::lvs::*;
use super::parse_str;

const FILE: &str = "/etc/keepalived/keepalived.conf";

fn parse(text: &str) -> super::Config {
    parse_str(Path::new(FILE), text).expect("parses")
}

fn error(text: &str) -> String {
    parse_str(Path::new(FILE), text)
        .expect_err("must fail")
        .to_string()
}

const FULL: &str = r#"global_defs {
    lvs_flush
    lvs_flush_on_stop VS
    lvs_timeouts tcp 900 tcpfin 120 udp 300
    lvs_sync_daemon veth0 VI_1 id 51 maxlen 1400 port 8848 ttl 1 group 224.0.0.81
}
vrrp_instance VI_1 {
    interface veth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.10
    }
}
virtual_server_group VSG {
    192.0.2.20 80
    192.0.2.30-32 80
    fwmark 7
}
virtual_server 192.0.2.10 80 {
    delay_loop 3
    lvs_sched sh
    sh-port
    sh-fallback
    lvs_method NAT
    protocol TCP
    persistence_timeout 60
    persistence_granularity 255.255.255.0
    quorum 2
    hysteresis 1
    quorum_up "/bin/true up"
    quorum_down /bin/true
    sorry_server 198.51.100.99 80
    sorry_server_inhibit
    sorry_server_lvs_method DR
    inhibit_on_failure
    alpha
    omega
    ha_suspend
    connect_timeout 2
    retry 2
    delay_before_retry 1.5
    warmup 0
    real_server 198.51.100.10 80 {
        weight 2
        uthreshold 100
        lthreshold 10
        inhibit_on_failure
        notify_up /bin/true
        notify_down "/bin/true down"
        TCP_CHECK {
            connect_ip 198.51.100.10
            connect_port 8080
            bindto 198.51.100.1
            connect_timeout 2
            retry 3
            delay_before_retry 1
        }
    }
    real_server 198.51.100.11 80 {
        HTTP_GET {
            url {
                path /health
                status_code 200 201-204
                digest 9e107d9d372bb6826bd81d3542a419d6
            }
            connect_timeout 3
            retry 2
        }
        MISC_CHECK {
            misc_path "/bin/true arg"
            misc_timeout 5
            misc_dynamic
            user nobody
        }
    }
}
virtual_server fwmark 5 {
    lb_algo rr
    lb_kind TUN type gue port 6080 csum
    flag-1
    real_server 198.51.100.12 80 {
        SSL_GET {
            url {
                path /
            }
        }
    }
}
virtual_server group VSG {
    lvs_sched mh
    mh-port
    lvs_method DR
    protocol UDP
    ops
    persistence_engine sip
    real_server 198.51.100.13 0 {
        lvs_method TUN type gre
    }
}
"#;

#[test]
fn every_keyword_parses_with_its_value() {
    let c = parse(FULL);
    let g = &c.global.lvs;
    assert!(g.flush);
    assert_eq!(g.flush_on_stop, Some(FlushOnStop::VirtualServers));
    assert_eq!(
        g.timeouts,
        Some(LvsTimeouts {
            tcp: Some(900),
            tcp_fin: Some(120),
            udp: Some(300)
        })
    );
    let sd = g.sync_daemon.as_ref().expect("sync daemon");
    assert_eq!(
        (
            sd.interface.as_str(),
            sd.instance.as_deref(),
            sd.id,
            sd.maxlen,
            sd.port,
            sd.ttl
        ),
        (
            "veth0",
            Some("VI_1"),
            Some(51),
            Some(1400),
            Some(8848),
            Some(1)
        )
    );
    assert_eq!(sd.group, Some("224.0.0.81".parse().expect("addr")));
    assert_eq!(
        c.virtual_server_groups[0].entries,
        [
            VsgEntry::Range {
                first: "192.0.2.20".parse().expect("a"),
                count: 1,
                port: 80
            },
            VsgEntry::Range {
                first: "192.0.2.30".parse().expect("a"),
                count: 3,
                port: 80
            },
            VsgEntry::Fwmark(7),
        ]
    );
    let vs = &c.virtual_servers[0];
    assert_eq!(
        vs.address,
        VsAddress::Socket("192.0.2.10:80".parse().expect("a"))
    );
    assert_eq!(vs.scheduler.as_deref(), Some("sh"));
    assert_eq!(vs.sched_flags, ["sh-port", "sh-fallback"]);
    assert_eq!(vs.forwarding.map(|f| f.method), Some(LvsMethod::Nat));
    assert_eq!(vs.protocol, Some(LvsProtocol::Tcp));
    assert_eq!(vs.persistence_timeout, Some(60));
    assert_eq!(vs.persistence_granularity.as_deref(), Some("255.255.255.0"));
    assert_eq!((vs.quorum, vs.hysteresis), (2, 1));
    assert_eq!(
        vs.quorum_up.as_deref(),
        Some(&["/bin/true".to_string(), "up".into()][..])
    );
    let ss = vs.sorry_server.as_ref().expect("sorry");
    assert_eq!(ss.addr, "198.51.100.99:80".parse().expect("a"));
    assert!(ss.inhibit);
    assert_eq!(ss.forwarding.map(|f| f.method), Some(LvsMethod::Dr));
    assert!(vs.inhibit_on_failure && vs.omega && vs.ha_suspend);
    assert_eq!(vs.timers.alpha, Some(true));
    assert_eq!(
        vs.timers.delay_loop,
        Some(std::time::Duration::from_secs(3))
    );
    assert_eq!(
        vs.timers.connect_timeout,
        Some(std::time::Duration::from_secs(2))
    );
    assert_eq!(vs.timers.retry, Some(2));
    assert_eq!(
        vs.timers.delay_before_retry,
        Some(std::time::Duration::from_millis(1500))
    );
    assert_eq!(vs.timers.warmup, Some(std::time::Duration::ZERO));
    let rs = &vs.real_servers[0];
    assert_eq!(
        (rs.weight, rs.uthreshold, rs.lthreshold),
        (Some(2), 100, 10)
    );
    assert_eq!(rs.inhibit_on_failure, Some(true));
    assert_eq!(rs.notify_down.as_ref().map(|v| v.len()), Some(2));
    let tcp = &rs.checkers[0];
    assert_eq!(tcp.kind, CheckKind::Tcp);
    assert_eq!(tcp.connect_port, Some(8080));
    assert_eq!(tcp.bindto, Some("198.51.100.1".parse().expect("a")));
    assert_eq!(tcp.timers.retry, Some(3));
    let CheckKind::Http(h) = &vs.real_servers[1].checkers[0].kind else {
        panic!("HTTP_GET expected")
    };
    assert!(!h.tls);
    assert_eq!(h.urls[0].path, "/health");
    assert_eq!(h.urls[0].status_codes, [(200, 200), (201, 204)]);
    assert_eq!(h.urls[0].digest.map(|d| d[0]), Some(0x9e));
    assert!(h.urls[0].status_ok(203) && !h.urls[0].status_ok(500));
    let CheckKind::Misc(m) = &vs.real_servers[1].checkers[1].kind else {
        panic!("MISC_CHECK expected")
    };
    assert_eq!(m.command, ["/bin/true", "arg"]);
    assert!(m.dynamic);
    assert_eq!(m.timeout, Some(std::time::Duration::from_secs(5)));
    assert_eq!(m.user, Some(("nobody".to_string(), None)));
    let fw = &c.virtual_servers[1];
    assert_eq!(fw.address, VsAddress::Fwmark(5));
    assert_eq!(fw.scheduler.as_deref(), Some("rr"));
    let f = fw.forwarding.expect("fwd");
    assert_eq!(
        (f.method, f.tunnel, f.tunnel_port, f.csum),
        (LvsMethod::Tun, TunnelKind::Gue, 6080, TunnelCsum::Csum)
    );
    // keepalived clears a fwmark service's real server port, with a warning.
    assert_eq!(fw.real_servers[0].addr.port(), 0);
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("has port specified - clearing")),
        "{:?}",
        c.warnings
    );
    let CheckKind::Http(h) = &fw.real_servers[0].checkers[0].kind else {
        panic!("SSL_GET")
    };
    assert!(h.tls && h.urls[0].status_codes.is_empty());
    let grp = &c.virtual_servers[2];
    assert_eq!(grp.address, VsAddress::Group("VSG".into()));
    assert_eq!(grp.protocol, Some(LvsProtocol::Udp));
    assert!(grp.ops, "UDP keeps ops");
    assert_eq!(grp.persistence_engine.as_deref(), Some("sip"));
    assert_eq!(
        grp.real_servers[0].forwarding.map(|f| f.tunnel),
        Some(TunnelKind::Gre)
    );
}

/// A minimal virtual server keepalived 2.2.7's `-t` accepts, with `extra` lines.
fn minimal(extra: &str) -> String {
    format!(
        "virtual_server 192.0.2.10 80 {{\n lvs_sched wrr\n lvs_method NAT\n protocol TCP\n{extra}\n real_server 198.51.100.10 80 {{\n TCP_CHECK {{\n }}\n }}\n}}\n"
    )
}

#[test]
fn defaults_are_keepalived_s() {
    let c = parse(&minimal(""));
    let vs = &c.virtual_servers[0];
    assert_eq!(vs.scheduler.as_deref(), Some("wrr"));
    assert_eq!(vs.protocol, Some(LvsProtocol::Tcp));
    assert_eq!((vs.quorum, vs.hysteresis, vs.weight), (1, 0, 1));
    assert_eq!(vs.persistence_timeout, None);
    assert!(!vs.inhibit_on_failure && !vs.omega && !vs.ha_suspend);
    assert_eq!(vs.timers, CheckTimers::default());
    // persistence_timeout alone: 360 s; a granularity alone turns persistence on too.
    let c = parse(&minimal(" persistence_timeout"));
    assert_eq!(c.virtual_servers[0].persistence_timeout, Some(360));
    let c = parse(&minimal(" persistence_granularity 255.255.0.0"));
    assert_eq!(c.virtual_servers[0].persistence_timeout, Some(360));
    // lvs_flush_on_stop alone: the whole table (keepalived 2.2.7 knows no ALL).
    let c = parse("global_defs {\n lvs_flush_on_stop\n}\n");
    assert_eq!(c.global.lvs.flush_on_stop, Some(FlushOnStop::All));
}

/// What keepalived reports as a configuration error (and `keepalived -t` refuses) but
/// runs with a default: refused, naming the virtual server.
#[test]
fn keepalived_s_configuration_errors_are_refused() {
    let m = minimal("");
    for (text, want) in [
        (
            m.replace(" lvs_sched wrr\n", ""),
            ":1: virtual_server [192.0.2.10]:tcp:80: no scheduler set (lvs_sched)",
        ),
        (
            m.replace(" lvs_method NAT\n", ""),
            ":1: virtual_server [192.0.2.10]:tcp:80: no forwarding method set (lvs_method)",
        ),
        (
            m.replace(" protocol TCP\n", ""),
            ":1: virtual_server [192.0.2.10]:none:80: no protocol set",
        ),
        (
            m.replace("192.0.2.10 80 {", "fwmark 5 {"),
            ":1: virtual_server FWM 5: protocol specified for fwmark",
        ),
        (
            minimal(" ops"),
            ":1: virtual_server [192.0.2.10]:tcp:80: one packet scheduling (ops) requires UDP",
        ),
        (
            m.replace("192.0.2.10 80 {", "192.0.2.10 0 {"),
            ":1: virtual_server [192.0.2.10]:tcp:0: zero port only valid for persistent services",
        ),
        (
            m.replace(
                " real_server 198.51.100.10 80 {\n TCP_CHECK {\n }\n }\n",
                "",
            ),
            ":1: virtual_server [192.0.2.10]:tcp:80 has no real servers",
        ),
        (
            minimal(" real_server 198.51.100.10 80 {\n }"),
            ":7: real_server 198.51.100.10:80: duplicated in virtual_server",
        ),
        (
            minimal(" retry 0"),
            ":5: retry: invalid value '0', expected an integer 1-4294967295",
        ),
    ] {
        let got = error(&text);
        assert!(
            got.starts_with(&format!("{FILE}{want}")),
            "{text}\n got: {got}\nwant: {want}"
        );
    }
    // In a checker, retry 0 is valid; ops is valid with UDP.
    parse(&minimal("").replace("TCP_CHECK {\n", "TCP_CHECK {\n retry 0\n"));
    parse(&minimal(" ops").replace("protocol TCP", "protocol UDP"));
}

#[test]
fn errors_name_file_line_and_what() {
    let vs = |body: &str| {
        format!("virtual_server 192.0.2.10 80 {{\n{body}\nlvs_method NAT\nprotocol TCP\nreal_server 198.51.100.50 80 {{\n}}\n}}\n")
    };
    let rs = |body: &str| vs(&format!("real_server 198.51.100.10 80 {{\n{body}\n}}"));
    for (text, want) in [
        (
            vs("bogus 1"),
            ":2: unsupported keyword 'bogus' in virtual_server",
        ),
        (
            rs("bogus"),
            ":3: unsupported keyword 'bogus' in real_server",
        ),
        (
            rs("TCP_CHECK {\nmisc_path /x\n}"),
            ":4: unsupported keyword 'misc_path' in TCP_CHECK",
        ),
        (
            rs("MISC_CHECK {\nconnect_port 80\n}"),
            ":4: unsupported keyword 'connect_port' in MISC_CHECK",
        ),
        (rs("MISC_CHECK {\n}"), ":3: MISC_CHECK: missing 'misc_path'"),
        (
            rs("HTTP_GET {\n}"),
            ":3: HTTP_GET: needs at least one 'url' block",
        ),
        (
            rs("HTTP_GET {\nurl {\nstatus_code 200\n}\n}"),
            ":4: url: missing 'path'",
        ),
        (
            rs("HTTP_GET {\nurl {\npath /\ndigest 12\n}\n}"),
            ":6: digest: '12' is not 32 hex digits (an MD5 sum)",
        ),
        (
            rs("HTTP_GET {\nurl {\npath /\nstatus_code 700\n}\n}"),
            ":6: status_code: '700' is no status code (100-599) or range",
        ),
        (
            vs("lvs_sched xyz"),
            ":2: lvs_sched: unknown scheduler 'xyz'",
        ),
        (
            vs("lvs_method FOO"),
            ":2: lvs_method: unknown forwarding method 'FOO', expected NAT, DR or TUN",
        ),
        (
            vs("lvs_method TUN type gue"),
            ":2: lvs_method: gue tunnels require a port",
        ),
        (
            vs("lvs_method TUN type ipip csum"),
            ":2: lvs_method: ipip tunnels do not support checksum options",
        ),
        (
            vs("lvs_method NAT type gre"),
            ":2: lvs_method: tunnel options need TUN",
        ),
        (vs("protocol ICMP"), ":2: protocol: unknown protocol 'ICMP'"),
        (
            vs("sh-port"),
            ":1: virtual_server: sh-port only applies to the sh scheduler",
        ),
        (
            vs("sorry_server_inhibit"),
            ":2: sorry_server_inhibit: used before or without sorry_server",
        ),
        (
            vs("delay_loop 0"),
            ":2: delay_loop: invalid value '0', expected a number of seconds above 0",
        ),
        (vs("delay_loop abc"), ":2: delay_loop: invalid value 'abc'"),
        (
            rs("weight 2147483648"),
            ":3: weight: invalid value '2147483648', expected an integer 0-2147483647",
        ),
        (
            vs("quorum 0"),
            ":2: quorum: invalid value '0', expected an integer 1-4294967295",
        ),
        (
            vs("lvs_sched rr\nreal_server 2001:db8::1 80 {\n}"),
            ":3: real_server [2001:db8::1]:80: address family differs",
        ),
        (
            "virtual_server group NOPE {\n}\n".to_string(),
            ":1: virtual_server group 'NOPE': no virtual_server_group of that name",
        ),
        (
            "virtual_server 192.0.2.1 80\n".to_string(),
            ":1: virtual_server: expected 'virtual_server IP PORT {'",
        ),
        (
            "global_defs {\n lvs_timeouts tcp\n}\n".to_string(),
            ":2: lvs_timeouts: tcp needs a value",
        ),
        (
            "global_defs {\n lvs_flush_on_stop ALL\n}\n".to_string(),
            ":2: lvs_flush_on_stop: expected nothing (the whole table) or VS",
        ),
        (
            "global_defs {\n lvs_sync_daemon eth0 VI_X\n}\n".to_string(),
            ":2: lvs_sync_daemon: no vrrp_instance 'VI_X'",
        ),
    ] {
        let got = error(&text);
        assert!(
            got.starts_with(&format!("{FILE}{want}")),
            "{text}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn timers_read_to_the_microsecond() {
    use super::parser::lvs_parse_secs as secs;
    use std::time::Duration;
    assert_eq!(secs("3"), Some(Duration::from_secs(3)));
    assert_eq!(secs("0.5"), Some(Duration::from_millis(500)));
    assert_eq!(secs("1.000001"), Some(Duration::from_micros(1_000_001)));
    assert_eq!(secs(".25"), Some(Duration::from_millis(250)));
    for bad in ["", ".", "1.0000001", "-1", "1e3", "x"] {
        assert_eq!(secs(bad), None, "{bad}");
    }
}

#[test]
fn ssl_block_and_enable_sni() {
    let ssl_get = |extra: &str| {
        format!(
            "virtual_server 192.0.2.1 443 {{\n lvs_sched rr\n lvs_method NAT\n protocol TCP\n\
             real_server 198.51.100.1 443 {{\n SSL_GET {{\n{extra}\n url {{\n path /\n }}\n }}\n }}\n}}\n"
        )
    };
    let c = parse(&format!(
        "SSL {{\n certificate /etc/k/client.pem\n key /etc/k/client.key\n ca /etc/k/ca.pem\n}}\n{}",
        ssl_get(" enable_sni")
    ));
    let ssl = c.ssl.as_ref().expect("SSL block");
    let (cert, loc) = ssl.certificate.as_ref().expect("certificate");
    assert_eq!(cert, Path::new("/etc/k/client.pem"));
    assert_eq!(loc.line, 2);
    assert_eq!(
        ssl.key.as_ref().map(|k| k.0.clone()),
        Some("/etc/k/client.key".into())
    );
    assert_eq!(
        ssl.ca.as_ref().map(|k| k.0.clone()),
        Some("/etc/k/ca.pem".into())
    );
    let sni = |c: &super::Config| match &c.virtual_servers[0].real_servers[0].checkers[0].kind {
        CheckKind::Http(h) => h.enable_sni,
        other => panic!("{other:?}"),
    };
    assert!(sni(&c));
    assert!(!sni(&parse(&ssl_get(""))));
    assert!(!sni(&parse(&ssl_get(" enable_sni off"))));
    assert!(sni(&parse(&ssl_get(" enable_sni yes"))));
    assert!(parse("SSL {\n}\n").ssl.is_some());
    for (text, want) in [
        (
            "SSL {\n password secret\n}\n".to_string(),
            ":2: SSL password: encrypted private keys are not supported by keepalived-lite",
        ),
        (
            "SSL {\n certificate /a.pem\n}\n".to_string(),
            ":1: SSL: 'certificate' and 'key' go together",
        ),
        (
            "SSL {\n ca /a.pem\n ca /b.pem\n}\n".to_string(),
            ":3: SSL ca: given twice",
        ),
        (
            "SSL {\n}\nSSL {\n}\n".to_string(),
            ":3: SSL: a second SSL block",
        ),
        (
            "SSL {\n cafile /a\n}\n".to_string(),
            ":2: unsupported keyword 'cafile' in SSL",
        ),
        ("SSL\n".to_string(), ":1: SSL: expected 'SSL {'"),
        (
            ssl_get(" enable_sni maybe"),
            ":7: enable_sni: invalid value 'maybe', expected true or false",
        ),
    ] {
        let got = error(&text);
        assert!(
            got.starts_with(&format!("{FILE}{want}")),
            "{text}\n got: {got}\nwant: {want}"
        );
    }
}
