//! The blocking HTTP endpoint: `/metrics` streamed with chunked transfer encoding,
//! one scrape at a time (tiny_http, no async runtime).

use std::net::SocketAddr;
use std::sync::mpsc::sync_channel;

use tiny_http::{Header, Method, Request, Response, Server};

use crate::exposition::{write_registry, ChunkReceiver, ChunkSender, Format};
use crate::scrape::Scraper;

/// Chunks in flight between the encoder and the socket: with
/// [`crate::exposition::CHUNK_BYTES`] each, the most a scrape's text holds in memory.
const CHUNKS_IN_FLIGHT: usize = 4;

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {reason}")]
pub struct ListenError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// What the OS said.
    pub reason: String,
}

/// A health check for `/healthz`: `Ok` with a short status, or why the process is
/// unhealthy.
pub type HealthCheck = Box<dyn Fn() -> Result<String, String> + Send + Sync>;

/// The exporter's HTTP endpoint.
pub struct Endpoint {
    server: Server,
    scraper: Scraper,
    health: Option<HealthCheck>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("addr", &self.local_addr())
            .field("scraper", &self.scraper)
            .finish()
    }
}

impl Endpoint {
    /// Binds `addr`.
    pub fn bind(addr: SocketAddr, scraper: Scraper) -> Result<Self, ListenError> {
        let server = Server::http(addr).map_err(|e| ListenError {
            addr,
            reason: e.to_string(),
        })?;
        Ok(Endpoint {
            server,
            scraper,
            health: None,
        })
    }

    /// Answers `/healthz` with `check`: 200 and its status, or 503 and its reason
    /// (for a liveness or readiness probe). Without one, `/healthz` is not found.
    pub fn with_health(mut self, check: HealthCheck) -> Self {
        self.health = Some(check);
        self
    }

    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Serves requests until the process ends.
    pub fn serve(&self) {
        for request in self.server.incoming_requests() {
            if let Err(e) = self.answer(request) {
                eprintln!("ipvs-exporter: answering a request: {e}");
            }
        }
    }

    fn answer(&self, request: Request) -> std::io::Result<()> {
        let get = matches!(request.method(), Method::Get | Method::Head);
        match (get, request.url().split('?').next().unwrap_or("")) {
            (true, "/metrics") => self.metrics(request),
            (true, "/healthz") if self.health.is_some() => self.healthz(request),
            (true, "/") => request.respond(Response::from_string(
                "ipvs-exporter: IPVS metrics (node_exporter names) at /metrics\n",
            )),
            (false, _) => {
                request.respond(Response::from_string("method not allowed\n").with_status_code(405))
            }
            (true, _) => {
                request.respond(Response::from_string("not found\n").with_status_code(404))
            }
        }
    }

    fn healthz(&self, request: Request) -> std::io::Result<()> {
        let (code, text) = match self.health.as_ref().map(|check| check()) {
            Some(Ok(status)) => (200, status),
            Some(Err(reason)) => (503, reason),
            None => (404, "not found".to_string()),
        };
        request.respond(Response::from_string(text + "\n").with_status_code(code))
    }

    fn metrics(&self, request: Request) -> std::io::Result<()> {
        let accept = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Accept"))
            .map(|h| h.value.as_str().to_string());
        let format = Format::negotiate(accept.as_deref());
        let registry = self.scraper.registry();
        let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
        let encoder = std::thread::spawn(move || {
            let mut sink = ChunkSender::new(tx);
            // An error here means the client left; the response ends where it is.
            if write_registry(&registry, format, &mut sink).is_ok() {
                let _ = sink.finish();
            }
        });
        let response = Response::new(
            200.into(),
            Header::from_bytes(&b"Content-Type"[..], format.content_type().as_bytes())
                .into_iter()
                .collect(),
            ChunkReceiver::new(rx),
            None,
            None,
        );
        let result = request.respond(response);
        let _ = encoder.join();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").expect("request");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("response");
        out
    }

    #[test]
    fn healthz_answers_the_checks_verdict_and_is_absent_without_one() {
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let loopback: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let endpoint = Endpoint::bind(loopback, Scraper::default())
            .expect("bind")
            .with_health(Box::new(move || {
                if flag.load(Ordering::Relaxed) {
                    Ok("ok: fine".into())
                } else {
                    Err("unhealthy: stuck".into())
                }
            }));
        let addr = endpoint.local_addr().expect("addr");
        std::thread::spawn(move || endpoint.serve());
        let ok = get(addr, "/healthz");
        assert!(ok.starts_with("HTTP/1.0 200 OK\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nok: fine\n"), "{ok}");
        healthy.store(false, Ordering::Relaxed);
        let bad = get(addr, "/healthz");
        assert!(bad.starts_with("HTTP/1.0 503 "), "{bad}");
        assert!(bad.ends_with("\r\n\r\nunhealthy: stuck\n"), "{bad}");

        let plain = Endpoint::bind(loopback, Scraper::default()).expect("bind");
        let addr = plain.local_addr().expect("addr");
        std::thread::spawn(move || plain.serve());
        assert!(get(addr, "/healthz").starts_with("HTTP/1.0 404 "));
    }
}
