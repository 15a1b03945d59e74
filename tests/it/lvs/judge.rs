//! The differential scenarios: keepalived 2.2.7 and keepalived-lite on the same
//! keepalived.conf, each in its own director namespace, the same real servers behind
//! them. Each scenario is an event; after it both IPVS tables must become equal (and
//! differ from before). A service made by the real ipvsadm beside ours in each
//! director is never touched.

use ipvs_lab::lab_test;

use super::harness::{Answer, Rig};

/// The service another program (the real ipvsadm) made in each director.
const OTHERS: &str = "-A -t 192.0.2.50:80 -s rr";

fn conf(rig: &Rig, reload: bool) -> String {
    let misc = rig.path("misc2.sh");
    let digest = ipvs_lab::must("printf 'ok\\n' | md5sum").stdout[..32].to_string();
    // The first reload adds rs5, removes rs0 and changes the weight of rs1 (down
    // then); the second changes the weight of rs5.
    let (rs0, rs1_weight, rs5) = match reload {
        false => (
            "    real_server 198.51.100.10 80 {\n        weight 2\n        TCP_CHECK {\n            retry 0\n        }\n    }\n",
            1,
            String::new(),
        ),
        true => (
            "",
            4,
            "    real_server 198.51.100.15 80 {\n        weight RS5W\n        TCP_CHECK {\n            retry 0\n        }\n    }\n".to_string(),
        ),
    };
    format!(
        r#"global_defs {{
    script_user root
    enable_script_security
}}
virtual_server 192.0.2.10 80 {{
    delay_loop 1
    warmup 0
    lvs_sched wrr
    lvs_method NAT
    protocol TCP
    connect_timeout 1
{rs0}    real_server 198.51.100.11 80 {{
        weight {rs1_weight}
        HTTP_GET {{
            url {{
                path /health
                digest {digest}
            }}
            retry 0
        }}
    }}
    real_server 198.51.100.12 80 {{
        weight 3
        inhibit_on_failure
        MISC_CHECK {{
            misc_path {misc}
            misc_dynamic
            misc_timeout 2
        }}
    }}
{rs5}}}
virtual_server 192.0.2.11 8080 {{
    delay_loop 1
    warmup 0
    lvs_sched rr
    lvs_method DR
    protocol TCP
    quorum 3
    hysteresis 1
    sorry_server 198.51.100.99 8080
    connect_timeout 1
    real_server 198.51.100.13 8080 {{
        weight 2
        TCP_CHECK {{
            retry 0
        }}
    }}
    real_server 198.51.100.14 8080 {{
        weight 2
        TCP_CHECK {{
            retry 0
        }}
    }}
}}
virtual_server fwmark 5 {{
    lvs_sched sh
    sh-port
    persistence_timeout 60
    lvs_method TUN
    real_server 198.51.100.10 0 {{
        weight 1
    }}
}}
"#
    )
}

fn has(table: &[String], line: &str) -> bool {
    table.iter().any(|l| l == line)
}

lab_test! {
    /// Start, TCP port closes and opens, HTTP 500 and 200, digest change and back,
    /// MISC_CHECK 1 (inhibit_on_failure: weight 0), 0, 7 (misc_dynamic: weight 5), a
    /// quorum server down, quorum lost (sorry server in), quorum back past the
    /// hysteresis, reload adding, removing and re-weighting a down server, the down
    /// server back with its new weight, a weight change, stop: both tables equal after
    /// each; another program's service untouched throughout.
    fn lvs_judge_keepalived_and_lite_program_the_same_table() {
        let mut rig = Rig::new(6);
        for d in [&rig.theirs, &rig.ours] {
            d.ns.must(&format!("ipvsadm {OTHERS} && ipvsadm -a -t 192.0.2.50:80 -r 198.51.100.77:80 -m"));
        }
        for i in [0, 1, 5] {
            rig.rs[i].listen(80);
        }
        for i in [3, 4] {
            rig.rs[i].listen(8080);
        }
        rig.misc("misc2", 0);
        rig.write_conf(&conf(&rig, false));

        let t = rig.judge("start", |r| r.start());
        assert!(has(&t, "-a -t 192.0.2.10:80 -r 198.51.100.10:80 -m -w 2"), "{t:?}");
        assert!(has(&t, "-a -t 192.0.2.11:8080 -r 198.51.100.13:8080 -g -w 2"), "{t:?}");
        assert!(has(&t, OTHERS), "{t:?}");
        let t = rig.judge("TCP port closes", |r| r.rs[0].close(80));
        assert!(!t.iter().any(|l| l.contains("198.51.100.10:80 -m")), "{t:?}");
        rig.judge("TCP port opens", |r| r.rs[0].listen(80));
        let t = rig.judge("HTTP 500", |r| r.rs[1].set(Answer::Http(500, "ok\n".into())));
        assert!(!t.iter().any(|l| l.contains("198.51.100.11:80")), "{t:?}");
        rig.judge("HTTP 200", |r| r.rs[1].set(Answer::Http(200, "ok\n".into())));
        rig.judge("digest changes", |r| r.rs[1].set(Answer::Http(200, "changed\n".into())));
        rig.judge("digest back", |r| r.rs[1].set(Answer::Http(200, "ok\n".into())));
        let t = rig.judge("MISC_CHECK exit 1 (inhibit_on_failure)", |r| r.set_misc("misc2", 1));
        assert!(has(&t, "-a -t 192.0.2.10:80 -r 198.51.100.12:80 -m -w 0"), "{t:?}");
        rig.judge("MISC_CHECK exit 0", |r| r.set_misc("misc2", 0));
        let t = rig.judge("MISC_CHECK exit 7 (misc_dynamic)", |r| r.set_misc("misc2", 7));
        assert!(has(&t, "-a -t 192.0.2.10:80 -r 198.51.100.12:80 -m -w 5"), "{t:?}");
        rig.judge("quorum server down (weight 2 >= quorum 3 - hysteresis 1)", |r| {
            r.rs[3].close(8080)
        });
        let t = rig.judge("quorum lost: sorry server in", |r| r.rs[4].close(8080));
        assert!(has(&t, "-a -t 192.0.2.11:8080 -r 198.51.100.99:8080 -g -w 1"), "{t:?}");
        let t = rig.judge("quorum back (4 >= 3 + 1): sorry server out", |r| {
            r.rs[3].listen(8080);
            r.rs[4].listen(8080);
        });
        assert!(!t.iter().any(|l| l.contains("198.51.100.99")), "{t:?}");
        rig.judge("HTTP server down before the reload", |r| {
            r.rs[1].set(Answer::Http(500, "ok\n".into()))
        });
        let t = rig.judge("reload: add rs5, remove rs0, re-weight the down rs1", |r| {
            r.write_conf(&conf(r, true).replace("RS5W", "1"));
            r.theirs.signal("HUP");
            r.ours.signal("HUP");
        });
        assert!(!t.iter().any(|l| l.contains("198.51.100.11:80")), "down stays down: {t:?}");
        assert!(has(&t, "-a -t 192.0.2.10:80 -r 198.51.100.15:80 -m -w 1"), "{t:?}");
        let t = rig.judge("the down server back with its new weight", |r| {
            r.rs[1].set(Answer::Http(200, "ok\n".into()))
        });
        assert!(has(&t, "-a -t 192.0.2.10:80 -r 198.51.100.11:80 -m -w 4"), "{t:?}");
        rig.judge("reload: weight change", |r| {
            r.write_conf(&conf(r, true).replace("RS5W", "3"));
            r.theirs.signal("HUP");
            r.ours.signal("HUP");
        });
        let t = rig.judge("stop", |r| {
            r.theirs.stop();
            r.ours.stop();
        });
        assert_eq!(t.iter().filter(|l| l.starts_with("-A")).collect::<Vec<_>>(), [OTHERS]);
        // On stderr: the outer run reads the inner test lines from stdout.
        eprintln!("reaction times (s):\n{}", rig.report());
    }
}

/// The second configuration: `lvs_flush`, `lvs_flush_on_stop`, `lvs_timeouts`,
/// `alpha`, `ha_suspend`, a UDP service with `ops` and no checker.
const FLUSH_ALPHA_SUSPEND: &str = r#"global_defs {
    lvs_flush
    lvs_flush_on_stop
    lvs_timeouts tcp 900 tcpfin 120 udp 300
}
virtual_server 192.0.2.20 80 {
    delay_loop 1
    warmup 0
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    connect_timeout 1
    alpha
    real_server 198.51.100.10 80 {
        TCP_CHECK {
            retry 0
        }
    }
    real_server 198.51.100.11 80 {
        TCP_CHECK {
            retry 0
        }
    }
}
virtual_server 192.0.2.21 80 {
    delay_loop 1
    warmup 0
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    connect_timeout 1
    ha_suspend
    real_server 198.51.100.12 80 {
        TCP_CHECK {
            retry 0
        }
    }
}
virtual_server 192.0.2.22 53 {
    lvs_sched wrr
    lvs_method NAT
    protocol UDP
    ops
    real_server 198.51.100.13 53 {
        weight 2
    }
}
"#;

lab_test! {
    /// `lvs_flush` at start (the other service goes, in both), `lvs_timeouts`, `alpha`
    /// (a server down at start never appears; up later, it comes in), `ha_suspend`
    /// (checks start when the address arrives: a closed port goes out), a service
    /// ipvsadm adds while the daemons run (left alone), `lvs_flush_on_stop`.
    fn lvs_judge_flush_alpha_ha_suspend() {
        let mut rig = Rig::new(4);
        for d in [&rig.theirs, &rig.ours] {
            d.ns.must(&format!("ipvsadm {OTHERS}"));
        }
        rig.rs[0].listen(80);
        rig.write_conf(FLUSH_ALPHA_SUSPEND);
        let t = rig.judge_until(
            "start (lvs_flush, alpha)",
            |r| r.start(),
            |t| has(t, "-a -t 192.0.2.20:80 -r 198.51.100.10:80 -m -w 1"),
        );
        assert!(!has(&t, OTHERS), "lvs_flush: {t:?}");
        assert!(!t.iter().any(|l| l.contains("198.51.100.11")), "alpha: {t:?}");
        assert!(has(&t, "-A -u 192.0.2.22:53 -s wrr -o"), "{t:?}");
        // ha_suspend: no checks yet, so the closed port of rs2 is still in.
        assert!(has(&t, "-a -t 192.0.2.21:80 -r 198.51.100.12:80 -m -w 1"), "{t:?}");
        let timeouts: Vec<String> = [&rig.theirs, &rig.ours]
            .iter()
            .map(|d| d.ns.must("ipvsadm -L --timeout").stdout)
            .collect();
        assert_eq!(timeouts[0], timeouts[1]);
        assert_eq!(timeouts[1].trim(), "Timeout (tcp tcpfin udp): 900 120 300");
        rig.judge("alpha: the server opens", |r| r.rs[1].listen(80));
        let t = rig.judge("ha_suspend: the address arrives, checks start", |r| {
            for d in [&r.theirs, &r.ours] {
                d.ns.must("ip addr add 192.0.2.21/32 dev lo");
            }
        });
        assert!(!t.iter().any(|l| l.contains("198.51.100.12")), "{t:?}");
        // The state file: each real server's health, weight and last check result.
        let state: serde_json::Value =
            serde_json::from_str(&rig.our_state()).expect("state file is JSON");
        let vss = state["virtual_servers"].as_array().expect("virtual_servers");
        assert_eq!(vss.len(), 3, "{state}");
        let rs12 = &vss[1]["real_servers"][0];
        assert_eq!(rs12["addr"], "198.51.100.12:80", "{state}");
        assert_eq!(rs12["alive"], false, "{state}");
        assert_eq!(vss[1]["suspended"], false, "{state}");
        let last = rs12["checkers"][0]["last_result"].as_str().unwrap_or_default();
        assert!(last.contains("refused"), "{state}");
        assert_eq!(vss[0]["real_servers"][1]["alive"], true, "{state}");
        assert_eq!(vss[2]["real_servers"][0]["weight"], 2, "{state}");
        rig.judge("ipvsadm adds a service beside (left alone)", |r| {
            for d in [&r.theirs, &r.ours] {
                d.ns.must(&format!("ipvsadm {OTHERS}"));
            }
        });
        // A check later, the service is still there in both.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        assert!(has(&rig.ours.table(), OTHERS) && has(&rig.theirs.table(), OTHERS));
        let t = rig.judge("stop (lvs_flush_on_stop: the whole table)", |r| {
            r.theirs.stop();
            r.ours.stop();
        });
        assert!(t.is_empty(), "{t:?}");
        eprintln!("reaction times (s):\n{}", rig.report());
    }
}
