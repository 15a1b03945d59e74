//! Number, address and name parsing with the C library semantics ipvsadm relies on
//! (`strtol`, `strtoul`, `inet_aton`, `gethostbyname`, `getservbyname`), and the
//! reverse look-ups its listings use (`gethostbyaddr`, `getservbyport`).

use std::ffi::{CStr, CString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipvs_core::Protocol;

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// What C's `strtol`/`strtoul` in base 10 read when the whole string must be
/// consumed: leading blanks, an optional sign, at least one digit. Returns the sign and
/// the magnitude, saturated just past `u64::MAX` so overflow stays detectable.
fn c_decimal(s: &str) -> Option<(bool, u128)> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    let mut negative = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        negative = b[i] == b'-';
        i += 1;
    }
    let digits_start = i;
    let mut value: u128 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        value = (value * 10 + u128::from(b[i] - b'0')).min(u128::from(u64::MAX) + 1);
        i += 1;
    }
    (i != digits_start && i == b.len()).then_some((negative, value))
}

/// `strtol(s, &end, 10)` accepted only if the whole string is consumed, no
/// overflow occurred and the value lies in `min..=max` (ipvsadm's
/// `string_to_number`). Leading blanks and a sign are allowed, as in C.
pub fn string_to_number(s: &str, min: i64, max: i64) -> Option<i64> {
    let (negative, magnitude) = c_decimal(s)?;
    let value = if negative {
        -(magnitude as i128)
    } else {
        magnitude as i128
    };
    // strtol saturates at LONG_MIN/LONG_MAX with ERANGE.
    let value = i64::try_from(value).ok()?;
    (min <= value && value <= max).then_some(value)
}

/// ipvsadm's `parse_fwmark`: `strtoul` in base 10 over the whole string, 1..=u32::MAX.
pub fn parse_fwmark(s: &str) -> Option<u32> {
    let (negative, magnitude) = c_decimal(s)?;
    let value = u64::try_from(magnitude).ok()?;
    // strtoul negates in unsigned arithmetic: "-1" is ULONG_MAX.
    let value = if negative {
        value.wrapping_neg()
    } else {
        value
    };
    if value == 0 || value > u64::from(u32::MAX) {
        return None;
    }
    Some(value as u32)
}

/// `strtoul(s, &end, 0)` on a prefix: returns the value and the bytes consumed.
fn strtoul_base0_prefix(b: &[u8]) -> Option<(u64, usize)> {
    let (radix, mut i) =
        if b.len() > 2 && b[0] == b'0' && (b[1] | 0x20) == b'x' && b[2].is_ascii_hexdigit() {
            (16, 2)
        } else if !b.is_empty() && b[0] == b'0' {
            (8, 0)
        } else {
            (10, 0)
        };
    let start = i;
    let mut value: u64 = 0;
    while i < b.len() {
        let Some(d) = (b[i] as char).to_digit(radix) else {
            break;
        };
        value = value
            .checked_mul(u64::from(radix))?
            .checked_add(u64::from(d))?;
        i += 1;
    }
    if i == start {
        return None;
    }
    Some((value, i))
}

/// glibc's `inet_aton`: one to four parts in C notation (`0x` hex, leading `0`
/// octal), the last part filling the remaining bytes; trailing blanks end the
/// address.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    let mut parts: Vec<u64> = Vec::new();
    let mut i = 0;
    let last;
    loop {
        if i >= b.len() || !b[i].is_ascii_digit() {
            return None;
        }
        let (val, used) = strtoul_base0_prefix(&b[i..])?;
        if val > 0xffff_ffff {
            return None;
        }
        i += used;
        if i < b.len() && b[i] == b'.' {
            if parts.len() > 2 || val > 0xff {
                return None;
            }
            parts.push(val);
            i += 1;
        } else {
            last = val;
            break;
        }
    }
    if i < b.len() && !(b[i].is_ascii() && is_c_space(b[i])) {
        return None;
    }
    let value = match parts.len() {
        0 => last,
        1 if last <= 0xff_ffff => (parts[0] << 24) | last,
        2 if last <= 0xffff => (parts[0] << 24) | (parts[1] << 16) | last,
        3 if last <= 0xff => (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | last,
        _ => return None,
    };
    Some(Ipv4Addr::from(value as u32))
}

/// `gethostbyname`: the first IPv4 address of a host name.
pub fn host_to_addr(name: &str) -> Option<Ipv4Addr> {
    let c_name = CString::new(name).ok()?;
    // SAFETY: hints is zeroed then filled; getaddrinfo writes `res` only on
    // success, and we free it with freeaddrinfo exactly once.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = libc::AF_INET;
        hints.ai_socktype = libc::SOCK_STREAM;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(c_name.as_ptr(), std::ptr::null(), &hints, &mut res) != 0
            || res.is_null()
        {
            return None;
        }
        let mut found = None;
        let ai = &*res;
        if ai.ai_family == libc::AF_INET && !ai.ai_addr.is_null() {
            let sin = &*(ai.ai_addr as *const libc::sockaddr_in);
            found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
        }
        libc::freeaddrinfo(res);
        found
    }
}

fn proto_name(protocol: Option<Protocol>) -> Option<&'static CStr> {
    match protocol? {
        Protocol::Tcp => Some(c"tcp"),
        Protocol::Udp => Some(c"udp"),
        Protocol::Sctp => Some(c"sctp"),
        _ => None,
    }
}

/// `getservbyname(name, proto)`: a service name's port for the protocol.
pub fn service_to_port(name: &str, protocol: Option<Protocol>) -> Option<u16> {
    let proto = proto_name(protocol)?;
    let c_name = CString::new(name).ok()?;
    // SAFETY: getservbyname returns NULL or a pointer to static storage that we
    // read before any other netdb call on this (single) thread.
    unsafe {
        let ent = libc::getservbyname(c_name.as_ptr(), proto.as_ptr());
        if ent.is_null() {
            None
        } else {
            Some(u16::from_be((*ent).s_port as u16))
        }
    }
}

/// `getservbyport(port, proto)`: the service name of a port.
pub fn port_to_service(port: u16, protocol: Option<Protocol>) -> Option<String> {
    let proto = proto_name(protocol)?;
    // SAFETY: as for getservbyname; the name is copied out immediately.
    unsafe {
        let ent = libc::getservbyport(i32::from(port.to_be()), proto.as_ptr());
        if ent.is_null() || (*ent).s_name.is_null() {
            None
        } else {
            Some(CStr::from_ptr((*ent).s_name).to_string_lossy().into_owned())
        }
    }
}

/// `gethostbyaddr`: the host name of an address, if it has one.
pub fn addr_to_host(addr: IpAddr) -> Option<String> {
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: the sockaddr is fully initialised for its family and passed with
    // its exact size; getnameinfo writes at most host.len() bytes, NUL-terminated.
    let rc = unsafe {
        match addr {
            IpAddr::V4(a) => {
                let mut sin: libc::sockaddr_in = std::mem::zeroed();
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_addr.s_addr = u32::from(a).to_be();
                libc::getnameinfo(
                    &sin as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
            IpAddr::V6(a) => {
                let mut sin6: libc::sockaddr_in6 = std::mem::zeroed();
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_addr.s6_addr = a.octets();
                libc::getnameinfo(
                    &sin6 as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    host.as_mut_ptr(),
                    host.len() as libc::socklen_t,
                    std::ptr::null_mut(),
                    0,
                    libc::NI_NAMEREQD,
                )
            }
        }
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// What `parse_service` found: an address, and a port if one was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedAddr {
    /// The address.
    pub addr: IpAddr,
    /// The port, when the text had one.
    pub port: Option<u16>,
}

/// ipvsadm's `parse_service`: `host[:port]`, `[v6addr]:port` or a bare IPv6
/// address; host names and service names are resolved (the latter for
/// `protocol`). `None` when ipvsadm would say "illegal ... address\[:port\]".
pub fn parse_service(text: &str, protocol: Option<Protocol>) -> Option<ParsedAddr> {
    if text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut buf = text;
    let mut port_text: Option<&str> = None;
    if let Some(inner) = text.strip_prefix('[') {
        let close = inner.find(']')?;
        let after = &inner[close + 1..];
        if !after.starts_with(':') {
            return None;
        }
        buf = &inner[..close];
        port_text = Some(&after[1..]);
    }
    let addr = if let Ok(v6) = buf.parse::<Ipv6Addr>() {
        IpAddr::V6(v6)
    } else {
        // ipvsadm looks for the port again inside the brackets' content.
        port_text = None;
        if let Some(colon) = buf.rfind(':') {
            port_text = Some(&buf[colon + 1..]);
            buf = &buf[..colon];
        }
        IpAddr::V4(inet_aton(buf).or_else(|| host_to_addr(buf))?)
    };
    let port = match port_text {
        None => None,
        Some(p) => Some(match string_to_number(p, 0, 65535) {
            Some(n) => n as u16,
            None => service_to_port(p, protocol)?,
        }),
    };
    Some(ParsedAddr { addr, port })
}

/// ipvsadm's `parse_netmask` for IPv4 services (dotted mask or a name).
pub fn parse_netmask(text: &str) -> Option<Ipv4Addr> {
    inet_aton(text).or_else(|| host_to_addr(text))
}

/// C `atoi`: leading blanks, sign, digits; garbage stops the number.
pub fn atoi(s: &str) -> i64 {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && is_c_space(b[i]) {
        i += 1;
    }
    let mut neg = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        neg = b[i] == b'-';
        i += 1;
    }
    let mut v: i64 = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        v = v.saturating_mul(10).saturating_add(i64::from(b[i] - b'0'));
        i += 1;
    }
    // atoi's result is an int; out-of-range values are undefined in C, and
    // glibc truncates through long -> int.
    let v = if neg { -v } else { v };
    i64::from(v as i32)
}

/// Turns addresses and ports into text, numerically or by name.
pub trait Names {
    /// A host name for `addr`, if it has one.
    fn host(&self, addr: IpAddr) -> Option<String>;
    /// A service name for `port` on `protocol`, if it has one.
    fn service(&self, port: u16, protocol: Option<Protocol>) -> Option<String>;
}

/// Names from the system resolver (`/etc/hosts`, DNS, `/etc/services`), as ipvsadm.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemNames;

impl Names for SystemNames {
    fn host(&self, addr: IpAddr) -> Option<String> {
        addr_to_host(addr)
    }
    fn service(&self, port: u16, protocol: Option<Protocol>) -> Option<String> {
        port_to_service(port, protocol)
    }
}

/// No names at all: every address and port stays numeric.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNames;

impl Names for NoNames {
    fn host(&self, _: IpAddr) -> Option<String> {
        None
    }
    fn service(&self, _: u16, _: Option<Protocol>) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtol_semantics() {
        assert_eq!(string_to_number("80", 0, 65535), Some(80));
        assert_eq!(string_to_number("+80", 0, 65535), Some(80));
        assert_eq!(string_to_number(" 80", 0, 65535), Some(80));
        assert_eq!(string_to_number("80 ", 0, 65535), None);
        assert_eq!(string_to_number("", 0, 65535), None);
        assert_eq!(string_to_number("-1", 0, 65535), None);
        assert_eq!(string_to_number("65536", 0, 65535), None);
        assert_eq!(string_to_number("0x50", 0, 65535), None);
        assert_eq!(string_to_number("99999999999999999999", 0, i64::MAX), None);
    }

    #[test]
    fn fwmark_semantics() {
        assert_eq!(parse_fwmark("1"), Some(1));
        assert_eq!(parse_fwmark("4294967295"), Some(u32::MAX));
        for bad in ["0", "-1", "-0", "abc", "1x", "4294967296", ""] {
            assert_eq!(parse_fwmark(bad), None, "{bad}");
        }
    }

    #[test]
    fn inet_aton_forms() {
        let a = |s: &str| inet_aton(s).map(|a| a.to_string());
        assert_eq!(a("192.0.2.1").as_deref(), Some("192.0.2.1"));
        assert_eq!(a("0x7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(a("1.2.3").as_deref(), Some("1.2.0.3"));
        assert_eq!(a("010.0.0.1").as_deref(), Some("8.0.0.1"));
        assert_eq!(a("48").as_deref(), Some("0.0.0.48"));
        assert_eq!(a("1.2.3.4 junk").as_deref(), Some("1.2.3.4"));
        for bad in [
            "",
            " 1.2.3.4",
            "1.2.3.256",
            "1.2.3.4.5",
            "08",
            "a.b.c.d",
            "1..2",
        ] {
            assert_eq!(a(bad), None, "{bad}");
        }
    }

    #[test]
    fn parse_service_forms() {
        let p =
            |s: &str| parse_service(s, Some(Protocol::Tcp)).map(|p| (p.addr.to_string(), p.port));
        assert_eq!(p("192.0.2.1:80"), Some(("192.0.2.1".into(), Some(80))));
        assert_eq!(p("192.0.2.1"), Some(("192.0.2.1".into(), None)));
        assert_eq!(
            p("[2001:db8::1]:443"),
            Some(("2001:db8::1".into(), Some(443)))
        );
        assert_eq!(p("2001:db8::1:80"), Some(("2001:db8::1:80".into(), None)));
        // Brackets around an IPv4 address lose the port, as in ipvsadm.
        assert_eq!(p("[192.0.2.1]:80"), Some(("192.0.2.1".into(), None)));
        for bad in [
            "[2001:db8::1]",
            "[2001:db8::1",
            "12345",
            "",
            "192.0.2.1:99999",
            "192.0.2.1:",
            ":80",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn atoi_semantics() {
        assert_eq!(atoi("64"), 64);
        assert_eq!(atoi("64abc"), 64);
        assert_eq!(atoi("abc"), 0);
        assert_eq!(atoi(" -3"), -3);
    }
}
