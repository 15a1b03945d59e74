//! Probes never block the VRRP loop: with a MISC_CHECK that hangs (until its timeout
//! kills it) and an HTTP server and a TLS server that accept and never answer (the
//! SSL_GET waits in its handshake), keepalived-lite, master
//! of a VRRPv3 instance advertising every 0.2 s, keeps advertising on time. Were a probe
//! run on the poll loop, the adverts would stop for the probe's 4 s timeout.

use std::time::{Duration, Instant};

use ipvs_lab::{lab_test, TcpServer};

use super::harness::Rig;

fn adverts_sent(state: &str) -> Option<u64> {
    let i = state.find("\"adverts_sent\": ")? + "\"adverts_sent\": ".len();
    state[i..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

lab_test! {
    fn lvs_probes_never_delay_an_advertisement() {
        let mut rig = Rig::new(2);
        rig.ours_only = true;
        // rs0 accepts and never answers; the MISC_CHECK sleeps past its timeout.
        let addr = "198.51.100.10:80".parse().expect("addr");
        let _silent = TcpServer::start(&rig.rs[0].ns, addr, |_s| {
            std::thread::sleep(Duration::from_secs(10))
        });
        let addr = "198.51.100.10:443".parse().expect("addr");
        let _silent_tls = TcpServer::start(&rig.rs[0].ns, addr, |_s| {
            std::thread::sleep(Duration::from_secs(10))
        });
        let hang = rig.path("hang.sh");
        std::fs::write(&hang, "#!/bin/sh\nsleep 30\n").expect("write");
        ipvs_lab::must(&format!("chmod 755 {hang}"));
        rig.write_conf(&format!(
            r#"vrrp_instance VI_1 {{
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 200
    version 3
    advert_int 0.2
    virtual_ipaddress {{
        192.0.2.100
    }}
}}
virtual_server 192.0.2.100 80 {{
    delay_loop 1
    warmup 0
    lvs_sched rr
    lvs_method NAT
    protocol TCP
    real_server 198.51.100.10 80 {{
        HTTP_GET {{
            url {{
                path /
            }}
            connect_timeout 4
            retry 0
        }}
    }}
    real_server 198.51.100.10 443 {{
        SSL_GET {{
            url {{
                path /
            }}
            connect_timeout 4
            retry 0
        }}
    }}
    real_server 198.51.100.11 80 {{
        MISC_CHECK {{
            misc_path {hang}
            misc_timeout 4
        }}
    }}
}}
"#
        ));
        rig.start();
        // Master after its start-up, probes started at 1 s and hanging until 5 s.
        std::thread::sleep(Duration::from_millis(1500));
        let mut last = adverts_sent(&rig.our_state());
        assert!(last.is_some(), "no state:\n{}\n{}", rig.our_state(), rig.ours.log());
        let t0 = Instant::now();
        let mut windows = Vec::new();
        while t0.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(500));
            let now = adverts_sent(&rig.our_state());
            windows.push(now.unwrap_or(0).saturating_sub(last.unwrap_or(0)));
            last = now;
        }
        // 0.5 s windows at one advert per 0.2 s: 2-3 each; a stalled loop gives 0.
        assert!(windows.iter().all(|n| *n >= 1), "adverts per 0.5 s: {windows:?}\n{}", rig.ours.log());
        assert!(windows.iter().sum::<u64>() >= 12, "adverts per 0.5 s: {windows:?}");
        // The probes were indeed hanging then: both servers go down only at 5 s.
        let t = rig.ours.table();
        assert!(t.iter().any(|l| l.contains("198.51.100.10:80 ")), "{t:?}");
        assert!(t.iter().any(|l| l.contains("198.51.100.10:443 ")), "{t:?}");
        std::thread::sleep(Duration::from_secs(3));
        let t = rig.ours.table();
        assert!(!t.iter().any(|l| l.starts_with("-a")), "timed out probes count as failures: {t:?}\n{}", rig.ours.log());
    }
}
