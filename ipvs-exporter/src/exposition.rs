//! Writing a scrape: OpenMetrics (prometheus-client's format) or the classic
//! Prometheus text format, streamed to the client in bounded chunks.
//!
//! prometheus-client writes OpenMetrics only, where a counter family is declared
//! without its `_total` suffix. Prometheus asks for OpenMetrics and gets it;
//! clients that do not ask (curl, `promtool check metrics`, older scrapers) get the
//! classic text format, which [`ClassicText`] derives line by line: the counter
//! declarations renamed to the sample names and the `# EOF` marker dropped.

use std::fmt::{self, Write};
use std::io;
use std::sync::mpsc::{Receiver, SyncSender};

use prometheus_client::registry::Registry;

/// Which exposition format a client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// Prometheus text format 0.0.4.
    Classic,
}

impl Format {
    /// The format a request's `Accept` header asks for.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Classic,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Classic => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// Encodes `registry` into `out` in `format`.
pub fn write_registry(registry: &Registry, format: Format, out: &mut impl Write) -> fmt::Result {
    match format {
        Format::OpenMetrics => prometheus_client::encoding::text::encode(out, registry),
        Format::Classic => {
            let mut classic = ClassicText::new(out);
            prometheus_client::encoding::text::encode(&mut classic, registry)?;
            classic.finish()
        }
    }
}

/// Turns OpenMetrics text into the classic text format as it streams through.
#[derive(Debug)]
pub struct ClassicText<'w, W: Write> {
    out: &'w mut W,
    /// The incomplete last line.
    line: String,
    /// A `# HELP` line waiting for its `# TYPE`.
    help: Option<String>,
}

impl<'w, W: Write> ClassicText<'w, W> {
    /// A converter writing to `out`.
    pub fn new(out: &'w mut W) -> Self {
        ClassicText {
            out,
            line: String::new(),
            help: None,
        }
    }

    /// Writes what is left (a last line without newline).
    pub fn finish(mut self) -> fmt::Result {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.line_out(&line)?;
        }
        Ok(())
    }

    fn line_out(&mut self, line: &str) -> fmt::Result {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            self.help = Some(rest.to_string());
            return Ok(());
        }
        if line == "# EOF" {
            return Ok(());
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let suffix = if kind == "counter" { "_total" } else { "" };
            if let Some(help) = self.help.take() {
                let text = help.split_once(' ').map(|(_, t)| t).unwrap_or("");
                writeln!(self.out, "# HELP {name}{suffix} {text}")?;
            }
            return writeln!(self.out, "# TYPE {name}{suffix} {kind}");
        }
        self.out.write_str(line)?;
        self.out.write_char('\n')
    }
}

impl<W: Write> Write for ClassicText<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(end) = rest.find('\n') {
            let (head, tail) = rest.split_at(end);
            if self.line.is_empty() {
                self.line_out(head)?;
            } else {
                let mut line = std::mem::take(&mut self.line);
                line.push_str(head);
                self.line_out(&line)?;
            }
            rest = &tail[1..];
        }
        self.line.push_str(rest);
        Ok(())
    }
}

/// Chunk size of a streamed response.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// A `fmt::Write` that hands the text on in chunks of [`CHUNK_BYTES`] through a
/// bounded channel: a scrape of any size holds at most the channel's chunks.
/// A closed channel (the client went away) is a write error, which stops encoding.
#[derive(Debug)]
pub struct ChunkSender {
    buf: Vec<u8>,
    tx: SyncSender<Vec<u8>>,
}

impl ChunkSender {
    /// A writer sending to `tx`.
    pub fn new(tx: SyncSender<Vec<u8>>) -> Self {
        ChunkSender {
            buf: Vec::with_capacity(CHUNK_BYTES),
            tx,
        }
    }

    /// Sends the last chunk.
    pub fn finish(mut self) -> fmt::Result {
        self.send()
    }

    fn send(&mut self) -> fmt::Result {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK_BYTES));
        self.tx.send(chunk).map_err(|_| fmt::Error)
    }
}

impl Write for ChunkSender {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.buf.extend_from_slice(s.as_bytes());
        if self.buf.len() >= CHUNK_BYTES {
            self.send()?;
        }
        Ok(())
    }
}

/// The reading end of a [`ChunkSender`], as the HTTP response body.
#[derive(Debug)]
pub struct ChunkReceiver {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ChunkReceiver {
    /// A reader of `rx`.
    pub fn new(rx: Receiver<Vec<u8>>) -> Self {
        ChunkReceiver {
            rx,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

impl io::Read for ChunkReceiver {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_text_renames_counters_and_drops_eof_across_chunk_boundaries() {
        let open = "# HELP a_b Help text.\n# TYPE a_b counter\na_b_total 5\n# HELP g Gauge.\n# TYPE g gauge\ng{x=\"1\"} 2.0\n# EOF\n";
        let mut out = String::new();
        let mut classic = ClassicText::new(&mut out);
        for piece in open.as_bytes().chunks(7) {
            classic
                .write_str(std::str::from_utf8(piece).unwrap())
                .unwrap();
        }
        classic.finish().unwrap();
        assert_eq!(
            out,
            "# HELP a_b_total Help text.\n# TYPE a_b_total counter\na_b_total 5\n# HELP g Gauge.\n# TYPE g gauge\ng{x=\"1\"} 2.0\n"
        );
    }

    #[test]
    fn chunks_arrive_whole_and_in_order_and_a_gone_reader_stops_the_writer() {
        let (tx, rx) = std::sync::mpsc::sync_channel(2);
        let writer = std::thread::spawn(move || {
            let mut w = ChunkSender::new(tx);
            for i in 0..20_000 {
                writeln!(w, "line {i}").unwrap();
            }
            w.finish()
        });
        let mut text = String::new();
        io::Read::read_to_string(&mut ChunkReceiver::new(rx), &mut text).unwrap();
        writer.join().unwrap().unwrap();
        assert_eq!(text.lines().count(), 20_000);
        assert_eq!(text.lines().last(), Some("line 19999"));

        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        drop(rx);
        let mut w = ChunkSender::new(tx);
        let big = "x".repeat(CHUNK_BYTES);
        assert!(w.write_str(&big).is_err());
    }

    #[test]
    fn negotiation_follows_the_accept_header() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Classic);
        assert_eq!(Format::negotiate(None), Format::Classic);
    }
}
