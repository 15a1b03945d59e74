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

/// The exporter's HTTP endpoint.
pub struct Endpoint {
    server: Server,
    scraper: Scraper,
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
        Ok(Endpoint { server, scraper })
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
