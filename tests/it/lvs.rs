//! keepalived-lite's checker half beside keepalived 2.2.7's.
//!
//! - `-t` on the same files: both accept the valid ones, both refuse the broken ones
//!   (exit 5), ours naming file, line and what (no root, no lab: nothing starts).
//! - The judge, in the lab (IPVS): keepalived and keepalived-lite each direct their own
//!   copy of the same services from the same keepalived.conf, in two director
//!   namespaces, with the same real servers behind them; after each event the two
//!   `ipvsadm -Sn` become equal; both reaction times are printed.

mod blocking;
mod harness;
mod judge;
mod judge_reload;
mod judge_ssl;
mod pair;
mod pair_rig;
mod sync;

use std::process::Command;

/// keepalived's `-t` on `conf` (its pid files in `dir`): the exit code and stderr.
fn keepalived_t(dir: &std::path::Path, conf: &str) -> (i32, String) {
    let p = |f: &str| dir.join(f).display().to_string();
    let out = Command::new("keepalived")
        .args([
            "-t",
            "-f",
            conf,
            "-p",
            &p("k.pid"),
            "-r",
            &p("v.pid"),
            "-c",
            &p("c.pid"),
        ])
        .output()
        .expect("run keepalived");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A configuration that uses every LVS keyword keepalived-lite supports and that
/// keepalived 2.2.7's `-t` accepts.
pub(crate) const EVERY_KEYWORD: &str = r#"global_defs {
    script_user root
    enable_script_security
    lvs_flush
    lvs_flush_on_stop VS
    lvs_timeouts tcp 900 tcpfin 120 udp 300
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
    sorry_server_lvs_method NAT
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
            connect_port 80
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
        }
    }
}
virtual_server fwmark 5 {
    lb_algo rr
    lb_kind TUN type gue port 6080 csum
    flag-1
    real_server 198.51.100.12 0 {
        weight 3
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
virtual_server 192.0.2.40 443 {
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    virtualhost www.example.test
    real_server 198.51.100.14 443 {
        SSL_GET {
            enable_sni
            url {
                path /health
            }
        }
    }
}
"#;

/// Both `-t`s on the same files: the valid one passes both; each broken variant is
/// refused by both with exit 5, ours with file, line and what.
#[test]
fn config_test_agrees_with_keepalived() {
    if Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(!ipvs_lab::under_ci(), "keepalived is needed under CI");
        eprintln!("SKIPPED lvs test config_test_agrees_with_keepalived: needs keepalived");
        return;
    }
    let bin = ipvs_lab::workspace_bin("keepalived-lite")
        .display()
        .to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("keepalived.conf");
    let fs = f.display().to_string();
    let both = |text: &str| {
        std::fs::write(&f, text).expect("write");
        let ours = ipvs_lab::run(&[&bin, "-t", "-f", &fs]);
        (ours, keepalived_t(dir.path(), &fs))
    };
    let (ours, theirs) = both(EVERY_KEYWORD);
    assert_eq!(
        (ours.status, theirs.0),
        (0, 0),
        "ours: {ours}\nkeepalived: {}",
        theirs.1
    );
    for (from, to, ours_says) in [
        (
            "    delay_loop 3\n",
            "    delay_loop 3\n    bogus_keyword 1\n",
            ":15: unsupported keyword 'bogus_keyword' in virtual_server",
        ),
        (
            "            retry 3\n",
            "            retry 3\n            bogus 1\n",
            ":50: unsupported keyword 'bogus' in TCP_CHECK",
        ),
        (
            "misc_dynamic\n",
            "misc_dynamic\n            connect_port 80\n",
            ":67: unsupported keyword 'connect_port' in MISC_CHECK",
        ),
        (
            "lvs_sched sh\n",
            "lvs_sched xyz\n",
            ":15: lvs_sched: unknown scheduler 'xyz'",
        ),
        (
            "lvs_method NAT\n",
            "lvs_method FOO\n",
            ":18: lvs_method: unknown forwarding method 'FOO'",
        ),
        (
            "        weight 2\n",
            "        weight 2147483648\n",
            ":38: weight: invalid value '2147483648'",
        ),
        (
            "delay_loop 3\n",
            "delay_loop 0\n",
            ":14: delay_loop: invalid value '0'",
        ),
        (
            "    retry 2\n",
            "    retry 0\n",
            ":34: retry: invalid value '0'",
        ),
        (
            "    sorry_server 198.51.100.99 80\n",
            "",
            ":26: sorry_server_inhibit: used before or without sorry_server",
        ),
        (
            "protocol TCP\n",
            "protocol ICMP\n",
            ":19: protocol: unknown protocol 'ICMP'",
        ),
        ("quorum 2\n", "quorum 0\n", ":22: quorum: invalid value '0'"),
        (
            "port 6080 csum",
            "csum",
            ":72: lb_kind: gue tunnels require a port",
        ),
        (
            "flag-1\n",
            "flag-1\n    protocol TCP\n",
            ":70: virtual_server FWM 5: protocol specified for fwmark",
        ),
        (
            "lvs_method NAT\n",
            "",
            ":13: virtual_server [192.0.2.10]:tcp:80: no forwarding method set",
        ),
        (
            "lvs_sched sh\n    sh-port\n    sh-fallback\n",
            "",
            ":13: virtual_server [192.0.2.10]:tcp:80: no scheduler set",
        ),
        (
            "protocol TCP\n",
            "",
            ":13: virtual_server [192.0.2.10]:none:80: no protocol set",
        ),
        (
            "    lvs_method NAT\n    protocol TCP\n",
            "    lvs_method NAT\n    protocol TCP\n    ops\n",
            ":13: virtual_server [192.0.2.10]:tcp:80: one packet scheduling (ops) requires UDP",
        ),
        (
            "real_server 198.51.100.11 80 {",
            "real_server 198.51.100.10 80 {",
            ":53: real_server 198.51.100.10:80: duplicated",
        ),
        (
            "real_server 198.51.100.11 80 {",
            "real_server 2001:db8::11 80 {",
            ":53: real_server [2001:db8::11]:80: address family differs",
        ),
        (
            "digest 9e107d9d372bb6826bd81d3542a419d6",
            "digest 9e10",
            ":58: digest: '9e10' is not 32 hex digits",
        ),
        (
            "enable_sni\n",
            "enable_sni maybe\n",
            ":96: enable_sni: invalid value 'maybe'",
        ),
    ] {
        assert!(EVERY_KEYWORD.contains(from), "{from}");
        let text = EVERY_KEYWORD.replacen(from, to, 1);
        let (ours, theirs) = both(&text);
        assert_eq!(ours.status, 5, "{to}: {ours}");
        assert!(
            ours.stderr.starts_with(&format!("{fs}{ours_says}")),
            "{to}: ours said {}, expected {ours_says}",
            ours.stderr
        );
        assert_eq!(theirs.0, 5, "{to}: keepalived -t accepted it: {}", theirs.1);
    }
}
