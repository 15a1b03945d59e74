//! SSL_GET's TLS client (rustls with the ring provider), as keepalived 2.2.7's:
//!
//! - the server's certificate is **not verified** (keepalived never turns on OpenSSL's
//!   verification, not even with `SSL { ca }`): any certificate, self-signed or expired,
//!   for any name, passes. The handshake's signatures are still checked, so the server
//!   does hold the key of the certificate it shows;
//! - the server name (SNI) is sent only with `enable_sni`: the url's `virtualhost`,
//!   else the checker's, else the virtual server's (keepalived skips the real
//!   server's);
//! - `SSL { certificate; key }` is the client certificate offered when a server asks;
//!   `ca` must load but changes nothing; `password` is refused by the parser;
//! - TLS 1.2 and 1.3 (keepalived takes whatever its OpenSSL allows; Debian's allows
//!   1.2 and 1.3 by default).

use std::net::{IpAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

use super::http::left;
use crate::config::lvs::{CheckKind, SslContext};
use crate::config::model::ConfigError;
use crate::config::{Config, Location};

/// A TLS session over a TCP connection.
pub type TlsStream = rustls::StreamOwned<ClientConnection, TcpStream>;

/// Accepts any server certificate (keepalived's default) but checks the handshake's
/// signatures with the provider's algorithms.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn load_error(loc: &Location, what: &str, path: &Path, why: impl std::fmt::Display) -> ConfigError {
    ConfigError {
        file: loc.file.clone(),
        line: loc.line,
        message: format!("SSL {what} {}: {why}", path.display()),
    }
}

fn certificates(
    (path, loc): &(std::path::PathBuf, Location),
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| load_error(loc, what, path, e))?;
    if certs.is_empty() {
        return Err(load_error(loc, what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// The TLS client configuration of `SSL { }` (keepalived's defaults without one). Reads
/// the files; an unreadable or wrong file, or a key that does not fit the certificate,
/// is an error naming the keyword's line.
pub fn client_config(ssl: Option<&SslContext>) -> Result<Arc<ClientConfig>, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError {
            file: Default::default(),
            line: 0,
            message: format!("TLS: {e}"),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)));
    let Some(ssl) = ssl else {
        return Ok(Arc::new(builder.with_no_client_auth()));
    };
    if let Some(ca) = &ssl.ca {
        certificates(ca, "ca")?;
    }
    let config = match (&ssl.certificate, &ssl.key) {
        (Some(cert), Some((key_path, key_loc))) => {
            let chain = certificates(cert, "certificate")?;
            let key = PrivateKeyDer::from_pem_file(key_path)
                .map_err(|e| load_error(key_loc, "key", key_path, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| load_error(key_loc, "key", key_path, e))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Refuses an SSL_GET whose server name (with `enable_sni`) could not be sent: SNI
/// carries a DNS name only (an IP address sends none, in OpenSSL too; a name with a
/// port, as a `Host` value may have, is no name).
pub fn check_server_names(cfg: &Config) -> Result<(), ConfigError> {
    for vs in &cfg.virtual_servers {
        for rs in &vs.real_servers {
            for c in &rs.checkers {
                let CheckKind::Http(h) = &c.kind else {
                    continue;
                };
                if !(h.tls && h.enable_sni) {
                    continue;
                }
                for url in &h.urls {
                    let name = url
                        .virtualhost
                        .as_ref()
                        .or(h.virtualhost.as_ref())
                        .or(vs.virtualhost.as_ref());
                    if let Some(n) = name {
                        if n.parse::<IpAddr>().is_err() && ServerName::try_from(n.as_str()).is_err()
                        {
                            return Err(ConfigError {
                                file: rs.location.file.clone(),
                                line: rs.location.line,
                                message: format!(
                                    "SSL_GET enable_sni: virtualhost {} is no DNS name to \
                                     send as the TLS server name",
                                    crate::config::model::shown(n)
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// A TLS session on `tcp`, the handshake done by `deadline` (`arm` sets the socket's
/// timeouts to the time left before each step). `sni`: the server name to send;
/// without it (or for an IP address) none is sent.
pub fn connect(
    config: &Arc<ClientConfig>,
    mut tcp: TcpStream,
    sni: Option<&str>,
    arm: &dyn Fn(Duration) -> std::io::Result<()>,
    deadline: Instant,
) -> Result<TlsStream, String> {
    let name = match sni {
        Some(n) => {
            ServerName::try_from(n.to_string()).map_err(|_| format!("'{n}' is no server name"))?
        }
        // An address as the name: rustls sends no SNI for it.
        None => ServerName::IpAddress(
            tcp.peer_addr()
                .map_err(|e| format!("peer address: {e}"))?
                .ip()
                .into(),
        ),
    };
    let mut conn = ClientConnection::new(config.clone(), name).map_err(|e| format!("TLS: {e}"))?;
    while conn.is_handshaking() {
        let wait = left(deadline).map_err(|_| "TLS handshake: timeout".to_string())?;
        arm(wait).map_err(|e| e.to_string())?;
        conn.complete_io(&mut tcp).map_err(|e| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                "TLS handshake: timeout".to_string()
            }
            _ => format!("TLS handshake: {e}"),
        })?;
    }
    Ok(rustls::StreamOwned::new(conn, tcp))
}
