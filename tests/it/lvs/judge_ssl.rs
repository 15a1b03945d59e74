//! SSL_GET judged against keepalived 2.2.7: both daemons check the same HTTPS real
//! servers (rustls servers in the real-server namespaces, self-signed certificates made
//! at test time, for a name neither checker uses) and must program the same table after
//! each event. Both also load the same `SSL { }` block (a client certificate and a CA
//! file, made at test time; the CA signed none of the servers' certificates, and
//! keepalived still accepts them: it verifies nothing) and must send the same server
//! names (SNI).

use ipvs_lab::lab_test;

use super::harness::{Answer, Rig};

fn conf(rig: &Rig, digest: &str) -> String {
    format!(
        r#"SSL {{
    certificate {cert}
    key {key}
    ca {cert}
}}
virtual_server 192.0.2.30 443 {{
    delay_loop 1
    warmup 0
    lvs_sched wrr
    lvs_method NAT
    protocol TCP
    connect_timeout 1
    virtualhost www.example.test
    real_server 198.51.100.10 443 {{
        weight 2
        SSL_GET {{
            enable_sni
            url {{
                path /health
                digest {digest}
            }}
            retry 0
        }}
    }}
    real_server 198.51.100.11 443 {{
        weight 3
        SSL_GET {{
            url {{
                path /health
                status_code 200-204
            }}
            retry 0
        }}
    }}
}}
"#,
        cert = rig.path("client.pem"),
        key = rig.path("client.key"),
    )
}

fn has(table: &[String], line: &str) -> bool {
    table.iter().any(|l| l == line)
}

lab_test! {
    /// Start, the TLS server of rs0 down and up, rs1 answering 500 then 200, rs0's
    /// digest changing and back, stop: both tables equal after each. keepalived and
    /// keepalived-lite send `www.example.test` as SNI with `enable_sni` (from the
    /// virtual server's virtualhost) and none without.
    fn lvs_judge_ssl_get() {
        let mut rig = Rig::new(2);
        let client = rcgen::generate_simple_self_signed(vec!["director.example".into()])
            .expect("client certificate");
        std::fs::write(rig.path("client.pem"), client.cert.pem()).expect("write");
        std::fs::write(rig.path("client.key"), client.signing_key.serialize_pem()).expect("write");
        for rs in &mut rig.rs {
            rs.listen_tls(443);
        }
        let digest = ipvs_lab::must("printf 'ok\\n' | md5sum").stdout[..32].to_string();
        rig.write_conf(&conf(&rig, &digest));
        let rs0 = "-a -t 192.0.2.30:443 -r 198.51.100.10:443 -m -w 2";
        let rs1 = "-a -t 192.0.2.30:443 -r 198.51.100.11:443 -m -w 3";

        let t = rig.judge("start", |r| r.start());
        assert!(has(&t, rs0) && has(&t, rs1), "{t:?}");
        let t = rig.judge("TLS server down", |r| r.rs[0].close(443));
        assert!(!has(&t, rs0) && has(&t, rs1), "{t:?}");
        let t = rig.judge("TLS server up", |r| r.rs[0].listen_tls(443));
        assert!(has(&t, rs0), "{t:?}");
        let t = rig.judge("HTTPS 500", |r| r.rs[1].set(Answer::Http(500, "ok\n".into())));
        assert!(!has(&t, rs1), "{t:?}");
        let t = rig.judge("HTTPS 200", |r| r.rs[1].set(Answer::Http(200, "ok\n".into())));
        assert!(has(&t, rs1), "{t:?}");
        let t = rig.judge("digest changes", |r| {
            r.rs[0].set(Answer::Http(200, "changed\n".into()))
        });
        assert!(!has(&t, rs0), "{t:?}");
        let t = rig.judge("digest back", |r| r.rs[0].set(Answer::Http(200, "ok\n".into())));
        assert!(has(&t, rs0), "{t:?}");

        for (who, from) in [("keepalived", "198.51.100.2"), ("keepalived-lite", "198.51.100.3")] {
            let with = rig.rs[0].sni_from(from);
            assert!(!with.is_empty(), "{who} made no TLS connection to rs0");
            assert!(
                with.iter().all(|n| n.as_deref() == Some("www.example.test")),
                "{who} with enable_sni: {with:?}"
            );
            let without = rig.rs[1].sni_from(from);
            assert!(!without.is_empty(), "{who} made no TLS connection to rs1");
            assert!(without.iter().all(Option::is_none), "{who} without enable_sni: {without:?}");
        }
        let t = rig.judge("stop", |r| {
            r.theirs.stop();
            r.ours.stop();
        });
        assert!(t.is_empty(), "{t:?}");
        eprintln!("reaction times (s):\n{}", rig.report());
    }
}
