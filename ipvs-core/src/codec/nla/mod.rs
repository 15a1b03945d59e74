//! One enum per IPVS attribute set (`include/uapi/linux/ip_vs.h`), each with
//! an `Other(DefaultNla)` variant so attributes from newer kernels decode
//! instead of failing. Every parse error names the attribute.

use netlink_packet_core::{
    parse_string, parse_u16, parse_u16_be, parse_u32, parse_u64, parse_u8, DecodeError, DefaultNla,
    Emitable, ErrorContext, Nla, NlaBuffer, NlasIterator, Parseable,
};

/// Parse every attribute of `buf` with `parse`, naming the set on error.
pub(crate) fn parse_nlas<T>(
    buf: &[u8],
    set: &str,
    parse: impl Fn(&NlaBuffer<&[u8]>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla = nla.with_context(|| format!("malformed attribute in {set}"))?;
        out.push(parse(&nla)?);
    }
    Ok(out)
}

fn emit_nested<T: Nla>(nlas: &[T], buffer: &mut [u8]) {
    nlas.emit(buffer)
}

fn nested_len<T: Nla>(nlas: &[T]) -> usize {
    nlas.buffer_len()
}

fn string_len(s: &str) -> usize {
    s.len() + 1
}

fn emit_string(s: &str, buffer: &mut [u8]) {
    buffer[..s.len()].copy_from_slice(s.as_bytes());
    buffer[s.len()] = 0;
}

macro_rules! ctx {
    ($e:expr, $name:literal) => {
        $e.context(concat!("invalid ", $name))
    };
}

fn parse_flags(payload: &[u8]) -> Result<(u32, u32), DecodeError> {
    if payload.len() != 8 {
        return Err(DecodeError::invalid_number(8, payload.len()));
    }
    Ok((parse_u32(&payload[..4])?, parse_u32(&payload[4..])?))
}

fn parse_addr(payload: &[u8]) -> Result<Vec<u8>, DecodeError> {
    match payload.len() {
        4 | 16 => Ok(payload.to_vec()),
        n => Err(DecodeError::invalid_ip_address(n)),
    }
}

fn parse_raw4(payload: &[u8]) -> Result<[u8; 4], DecodeError> {
    payload
        .try_into()
        .map_err(|_| DecodeError::invalid_number(4, payload.len()))
}

mod cmd;
mod daemon;
mod dest;
mod info;
mod service;
mod stats;

pub use cmd::IpvsCmdAttr;
pub use daemon::DaemonAttr;
pub use dest::DestAttr;
pub use info::InfoAttr;
pub use service::ServiceAttr;
pub use stats::{Stats64Attr, StatsAttr};
