//! SSL_GET probes against a TLS server in this process (rustls, certificates made by
//! rcgen at test time): status, digest, no certificate verification, SNI only with
//! `enable_sni`, the `SSL { }` client certificate, timeouts, and a plain HTTP server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use md5::Digest;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use super::checker::{Outcome, ProbeRequest};
use super::probe::run;
use super::tls::client_config;
use crate::config::lvs::{CheckKind, HttpCheck, SslContext, UrlCheck};
use crate::config::Location;

/// What the server saw of one connection.
#[derive(Debug, Default)]
struct Seen {
    sni: Option<String>,
    request: String,
    client_certificate: bool,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for a name that is none of the test's addresses: the
/// probe must not care.
fn server_identity() -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ck = rcgen::generate_simple_self_signed(vec!["rs.example".into()]).expect("cert");
    let key = PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    (vec![ck.cert.der().clone()], key.into())
}

fn server_config(client_ca: Option<CertificateDer<'static>>) -> Arc<ServerConfig> {
    let (chain, key) = server_identity();
    let b = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let b = match client_ca {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            roots.add(ca).expect("root");
            let v = WebPkiClientVerifier::builder_with_provider(roots.into(), provider())
                .build()
                .expect("client verifier");
            b.with_client_cert_verifier(v)
        }
        None => b.with_no_client_auth(),
    };
    Arc::new(b.with_single_cert(chain, key).expect("server cert"))
}

/// Serves one connection over TLS: reads the request, answers `reply`, then ends with
/// close_notify (or just closes, with `notify` false).
fn serve_tls(
    config: Arc<ServerConfig>,
    reply: &'static [u8],
    notify: bool,
) -> (SocketAddr, JoinHandle<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    let t = std::thread::spawn(move || {
        let (mut tcp, _) = l.accept().expect("accept");
        tcp.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut conn = ServerConnection::new(config).expect("server");
        let mut seen = Seen::default();
        while conn.is_handshaking() {
            if conn.complete_io(&mut tcp).is_err() {
                return seen; // the client gave up (e.g. no client certificate)
            }
        }
        seen.sni = conn.server_name().map(str::to_string);
        seen.client_certificate = conn.peer_certificates().is_some_and(|c| !c.is_empty());
        let mut s = rustls::Stream::new(&mut conn, &mut tcp);
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => req.extend_from_slice(&buf[..n]),
            }
        }
        seen.request = String::from_utf8_lossy(&req).into_owned();
        let _ = s.write_all(reply);
        if notify {
            conn.send_close_notify();
        }
        // Flush and close (reading on would wait for the client).
        while conn.wants_write() && conn.write_tls(&mut tcp).is_ok() {}
        seen
    });
    (a, t)
}

fn ssl_get(enable_sni: bool, vhost: Option<&str>, digest: Option<[u8; 16]>) -> CheckKind {
    CheckKind::Http(HttpCheck {
        tls: true,
        virtualhost: vhost.map(str::to_string),
        enable_sni,
        urls: vec![UrlCheck {
            path: "/health".into(),
            status_codes: vec![],
            digest,
            virtualhost: None,
        }],
    })
}

fn req(kind: CheckKind, target: SocketAddr) -> ProbeRequest {
    ProbeRequest {
        id: 1,
        kind,
        target,
        bind: None,
        timeout: Duration::from_secs(3),
        virtualhost: None,
        vs_virtualhost: None,
    }
}

fn probe(r: &ProbeRequest) -> Outcome {
    run(r, None, &client_config(None).expect("default context"))
}

#[test]
fn ssl_get_checks_status_and_digest_without_verifying_the_certificate() {
    let ok_md5: [u8; 16] = md5::Md5::digest(b"ok\n").into();
    let reply_ok = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n";
    // A self-signed certificate for another name: accepted, as keepalived does.
    let (a, t) = serve_tls(server_config(None), reply_ok, true);
    assert_eq!(
        probe(&req(ssl_get(false, None, Some(ok_md5)), a)),
        Outcome::Up
    );
    let seen = t.join().expect("server");
    assert!(
        seen.request.starts_with("GET /health HTTP/1.0\r\n"),
        "{seen:?}"
    );
    assert!(seen.request.contains(&format!("Host: {a}\r\n")), "{seen:?}");
    assert_eq!(seen.sni, None, "no SNI without enable_sni");

    let (a, _t) = serve_tls(server_config(None), b"HTTP/1.1 500 Oops\r\n\r\nok\n", true);
    assert_eq!(
        probe(&req(ssl_get(false, None, None), a)),
        Outcome::Down("HTTP status 500".into())
    );
    let (a, _t) = serve_tls(
        server_config(None),
        b"HTTP/1.0 200 OK\r\n\r\nchanged\n",
        true,
    );
    let o = probe(&req(ssl_get(false, None, Some(ok_md5)), a));
    assert!(
        matches!(&o, Outcome::Down(w) if w.contains("MD5 digest")),
        "{o:?}"
    );
    // A server that closes without close_notify still ends the reply (keepalived 2.2.7).
    let (a, _t) = serve_tls(server_config(None), reply_ok, false);
    assert_eq!(
        probe(&req(ssl_get(false, None, Some(ok_md5)), a)),
        Outcome::Up
    );
}

#[test]
fn ssl_get_sends_the_server_name_only_with_enable_sni() {
    let reply = b"HTTP/1.0 200 OK\r\n\r\nok\n";
    let sni_of = |kind: CheckKind, rs_vhost: Option<&str>, vs_vhost: Option<&str>| {
        let (a, t) = serve_tls(server_config(None), reply, true);
        let mut r = req(kind, a);
        r.virtualhost = rs_vhost.or(vs_vhost).map(str::to_string);
        r.vs_virtualhost = vs_vhost.map(str::to_string);
        assert_eq!(probe(&r), Outcome::Up);
        let seen = t.join().expect("server");
        (seen.sni, seen.request)
    };
    let (sni, request) = sni_of(ssl_get(true, Some("www.example.test"), None), None, None);
    assert_eq!(sni.as_deref(), Some("www.example.test"));
    assert!(request.contains("Host: www.example.test\r\n"), "{request}");
    let (sni, _) = sni_of(ssl_get(false, Some("www.example.test"), None), None, None);
    assert_eq!(sni, None);
    // The url's name first.
    let mut kind = ssl_get(true, Some("checker.example.test"), None);
    if let CheckKind::Http(h) = &mut kind {
        h.urls[0].virtualhost = Some("url.example.test".into());
    }
    let (sni, request) = sni_of(kind, None, None);
    assert_eq!(sni.as_deref(), Some("url.example.test"));
    assert!(request.contains("Host: url.example.test\r\n"), "{request}");
    // The real server's virtualhost is the Host header but not the SNI: keepalived
    // falls back from the checker's straight to the virtual server's.
    let (sni, request) = sni_of(
        ssl_get(true, None, None),
        Some("rs.example.test"),
        Some("vs.example.test"),
    );
    assert_eq!(sni.as_deref(), Some("vs.example.test"));
    assert!(request.contains("Host: rs.example.test\r\n"), "{request}");
    let (sni, _) = sni_of(ssl_get(true, None, None), None, None);
    assert_eq!(sni, None, "no name, no SNI");
}

#[test]
fn ssl_get_fails_on_a_plain_http_server_and_times_out_on_a_silent_one() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().expect("accept");
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\nok\n");
    });
    let o = probe(&req(ssl_get(false, None, None), a));
    assert!(
        matches!(&o, Outcome::Down(w) if w.starts_with("TLS handshake")),
        "{o:?}"
    );
    t.join().expect("server");

    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let a = l.local_addr().expect("addr");
    let mut r = req(ssl_get(false, None, None), a);
    r.timeout = Duration::from_millis(300);
    let t0 = Instant::now();
    let o = probe(&r);
    assert_eq!(o, Outcome::Down("TLS handshake: timeout".into()));
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    drop(l);
}

/// Writes `pem` to `name` in `dir`; the (path, location) pair of an `SSL` keyword.
fn file(dir: &std::path::Path, name: &str, pem: &str) -> (std::path::PathBuf, Location) {
    let p = dir.join(name);
    std::fs::write(&p, pem).expect("write");
    let loc = Location {
        file: "keepalived.conf".into(),
        line: 3,
    };
    (p, loc)
}

#[test]
fn the_ssl_block_gives_the_client_certificate_a_server_asks_for() {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let client_key = KeyPair::generate().expect("key");
    let client = CertificateParams::new(vec!["director.example".into()])
        .expect("params")
        .signed_by(&client_key, &ca)
        .expect("client cert");
    let dir = tempfile::tempdir().expect("dir");
    let ssl = SslContext {
        certificate: Some(file(dir.path(), "client.pem", &client.pem())),
        key: Some(file(dir.path(), "client.key", &client_key.serialize_pem())),
        ca: Some(file(dir.path(), "ca.pem", &ca.pem())),
        location: None,
    };
    let reply = b"HTTP/1.0 200 OK\r\n\r\nok\n";
    let server = server_config(Some(ca.der().clone()));

    // Without the block: no certificate to give, the server refuses.
    let (a, t) = serve_tls(server.clone(), reply, true);
    let o = probe(&req(ssl_get(false, None, None), a));
    assert!(matches!(&o, Outcome::Down(_)), "{o:?}");
    assert!(!t.join().expect("server").client_certificate);

    let tls = client_config(Some(&ssl)).expect("SSL block loads");
    let (a, t) = serve_tls(server, reply, true);
    assert_eq!(
        run(&req(ssl_get(false, None, None), a), None, &tls),
        Outcome::Up
    );
    assert!(t.join().expect("server").client_certificate);

    // Files that do not load are errors naming the keyword's line and the file.
    let mut broken = ssl.clone();
    broken.ca = Some(file(dir.path(), "empty.pem", ""));
    let e = client_config(Some(&broken)).expect_err("empty ca");
    assert!(
        e.to_string().starts_with("keepalived.conf:3: SSL ca "),
        "{e}"
    );
    assert!(e.to_string().contains("no PEM certificate"), "{e}");
    let mut broken = ssl.clone();
    broken.key = Some(file(
        dir.path(),
        "other.key",
        &KeyPair::generate().expect("key").serialize_pem(),
    ));
    let e = client_config(Some(&broken)).expect_err("key of another certificate");
    assert!(e.to_string().contains("SSL key "), "{e}");
    let mut broken = ssl;
    broken.certificate = Some((
        dir.path().join("missing.pem"),
        Location {
            file: "keepalived.conf".into(),
            line: 4,
        },
    ));
    let e = client_config(Some(&broken)).expect_err("missing file");
    assert!(
        e.to_string()
            .starts_with("keepalived.conf:4: SSL certificate "),
        "{e}"
    );
}

#[test]
fn a_server_name_that_cannot_be_sent_is_refused_at_load() {
    let conf = |vhost: &str, sni: &str| {
        format!(
            "virtual_server 192.0.2.1 443 {{\n lvs_sched rr\n lvs_method NAT\n protocol TCP\n\
             virtualhost {vhost}\n real_server 198.51.100.1 443 {{\n SSL_GET {{\n{sni}\n\
             url {{\n path /\n }}\n }}\n }}\n}}\n"
        )
    };
    let check = |text: &str| {
        let cfg = crate::config::parse_str(std::path::Path::new("k.conf"), text).expect("parses");
        super::check(&cfg).map_err(|e| e.to_string())
    };
    let e = check(&conf("www.example.test:8443", " enable_sni")).expect_err("a port");
    assert!(
        e.starts_with(
            "k.conf:6: SSL_GET enable_sni: virtualhost 'www.example.test:8443' is no DNS name"
        ),
        "{e}"
    );
    check(&conf("www.example.test:8443", "")).expect("no SNI, no name sent");
    check(&conf("www.example.test", " enable_sni")).expect("a name");
    check(&conf("192.0.2.1", " enable_sni")).expect("an address: no SNI, as OpenSSL");
}
