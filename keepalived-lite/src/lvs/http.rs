//! The HTTP half of HTTP_GET and SSL_GET, over any byte stream (a TCP connection or a
//! TLS session on one): keepalived's request, reading the reply to its end within the
//! deadline, and judging it (status in the expected set, MD5 of the body).

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use crate::config::lvs::UrlCheck;

/// Most of a reply read for a check (keepalived digests the whole body; bodies of
/// health URLs are small).
const MAX_REPLY: usize = 4 << 20;

/// Time left before `deadline`; an error once it has passed.
pub(super) fn left(deadline: Instant) -> Result<Duration, String> {
    let d = deadline.saturating_duration_since(Instant::now());
    if d.is_zero() {
        return Err("timeout".into());
    }
    Ok(d)
}

/// keepalived's request: HTTP/1.0 GET of `path`, `Host:` the virtual host, else the
/// address and port (an IPv6 address in brackets).
pub(super) fn request(path: &str, vhost: Option<&str>, target: SocketAddr) -> String {
    let host = match vhost {
        Some(h) => h.to_string(),
        None => target.to_string(),
    };
    format!("GET {path} HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\nHost: {host}\r\n\r\n")
}

/// Sends `request` on `stream` and reads the reply until the server closes. `arm` sets
/// the socket's read and write timeouts to the time left before each step, so the
/// whole exchange ends by `deadline`. A TLS session the server ends without
/// close_notify still ends the reply, as keepalived 2.2.7 takes it.
pub(super) fn exchange<S: Read + Write>(
    stream: &mut S,
    arm: &dyn Fn(Duration) -> std::io::Result<()>,
    request: &str,
    deadline: Instant,
) -> Result<Vec<u8>, String> {
    arm(left(deadline)?).map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| format!("send: {e}"))?;
    let mut reply = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        arm(left(deadline)?).map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(reply),
            Ok(n) => {
                reply.extend_from_slice(&buf[..n]);
                if reply.len() > MAX_REPLY {
                    return Err("reply too long".into());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(reply),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err("timeout".into())
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

/// Whether `reply` passes `url`: a status in its set and, with a `digest`, the body's
/// MD5 equal to it (what keepalived's `genhash` prints).
pub(super) fn judge(url: &UrlCheck, reply: &[u8]) -> Result<(), String> {
    let (code, body) = parse_reply(reply).ok_or("not an HTTP reply")?;
    if !url.status_ok(code) {
        return Err(format!("HTTP status {code}"));
    }
    if let Some(want) = url.digest {
        let got: [u8; 16] = Md5::digest(body).into();
        if got != want {
            let hex: String = got.iter().map(|x| format!("{x:02x}")).collect();
            return Err(format!("MD5 digest {hex} differs"));
        }
    }
    Ok(())
}

/// The status code and body of an HTTP reply.
pub fn parse_reply(reply: &[u8]) -> Option<(u16, &[u8])> {
    let head_end = reply.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&reply[..head_end]).ok()?;
    let status = head.lines().next()?;
    let mut parts = status.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?.parse().ok()?;
    Some((code, &reply[head_end + 4..]))
}
