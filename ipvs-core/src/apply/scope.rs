//! Which services an apply may touch.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::ServiceKey;

/// The services an apply owns: all, or those whose address lies in given
/// CIDRs, or given firewall marks, or given keys (any of them matches).
/// Services outside the scope are never edited or deleted, so several
/// programs (kube-proxy, keepalived, an operator with ipvsadm) can share one
/// kernel table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Scope {
    /// Every service.
    pub all: bool,
    /// Address-keyed services whose virtual address lies in one of these.
    pub cidrs: Vec<(IpAddr, u8)>,
    /// Firewall-mark services with one of these marks (either family).
    pub fwmarks: BTreeSet<u32>,
    /// These services exactly.
    pub keys: BTreeSet<ServiceKey>,
}

/// A scope argument that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid scope {text:?}: {why} (expected CIDR such as 192.0.2.0/24 or fwmark:N)")]
pub struct ScopeParseError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub why: String,
}

impl Scope {
    /// A scope that owns nothing yet; add CIDRs, marks or keys.
    pub fn new() -> Self {
        Scope::default()
    }

    /// The whole table.
    pub fn all() -> Self {
        Scope {
            all: true,
            ..Scope::default()
        }
    }

    /// Also own address-keyed services inside `addr/prefix_len`.
    pub fn cidr(mut self, addr: IpAddr, prefix_len: u8) -> Self {
        self.cidrs.push((addr, prefix_len));
        self
    }

    /// Also own firewall-mark services with `mark`.
    pub fn fwmark(mut self, mark: u32) -> Self {
        self.fwmarks.insert(mark);
        self
    }

    /// Also own the service `key`.
    pub fn key(mut self, key: ServiceKey) -> Self {
        self.keys.insert(key);
        self
    }

    /// Whether an apply in this scope may touch the service `key`.
    pub fn contains(&self, key: &ServiceKey) -> bool {
        if self.all || self.keys.contains(key) {
            return true;
        }
        match key {
            ServiceKey::FwMark { mark, .. } => self.fwmarks.contains(mark),
            ServiceKey::Addr { addr, .. } => self
                .cidrs
                .iter()
                .any(|(net, len)| in_prefix(&addr.ip(), net, *len)),
        }
    }
}

fn in_prefix(addr: &IpAddr, net: &IpAddr, len: u8) -> bool {
    let (a, n, bits) = match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => (u32::from(*a) as u128, u32::from(*n) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(n)) => (u128::from(*a), u128::from(*n), 128),
        _ => return false,
    };
    let len = u32::from(len).min(bits);
    if len == 0 {
        return true;
    }
    let shift = bits - len;
    (a >> shift) == (n >> shift)
}

impl FromStr for Scope {
    type Err = ScopeParseError;

    /// One scope item: `all`, `fwmark:N`, or a CIDR (`192.0.2.0/24`,
    /// `2001:db8::/32`; a bare address is a host route).
    fn from_str(text: &str) -> Result<Scope, ScopeParseError> {
        let fail = |why: &str| ScopeParseError {
            text: text.to_string(),
            why: why.to_string(),
        };
        if text == "all" {
            return Ok(Scope::all());
        }
        if let Some(mark) = text.strip_prefix("fwmark:") {
            let mark: u32 = mark.parse().map_err(|_| fail("the mark is not a number"))?;
            if mark == 0 {
                return Err(fail("firewall mark 0 is not a mark"));
            }
            return Ok(Scope::new().fwmark(mark));
        }
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| fail("not an address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| fail(&format!("the prefix length must be 0..={max}")))?,
        };
        Ok(Scope::new().cidr(addr, len))
    }
}

impl Scope {
    /// The union of two scopes.
    pub fn union(mut self, other: Scope) -> Scope {
        self.all |= other.all;
        self.cidrs.extend(other.cidrs);
        self.fwmarks.extend(other.fwmarks);
        self.keys.extend(other.keys);
        self
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("all");
        }
        let mut parts: Vec<String> = self.cidrs.iter().map(|(a, l)| format!("{a}/{l}")).collect();
        parts.extend(self.fwmarks.iter().map(|m| format!("fwmark:{m}")));
        parts.extend(self.keys.iter().map(|k| k.to_string()));
        if parts.is_empty() {
            return f.write_str("nothing");
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AddressFamily;

    #[test]
    fn cidrs_marks_and_keys() {
        let scope: Scope = "192.0.2.0/25".parse().unwrap();
        let scope = scope
            .union("fwmark:7".parse().unwrap())
            .union("2001:db8::/32".parse().unwrap());
        let tcp = |s: &str| ServiceKey::tcp(s.parse().unwrap());
        assert!(scope.contains(&tcp("192.0.2.1:80")));
        assert!(scope.contains(&tcp("192.0.2.127:80")));
        assert!(!scope.contains(&tcp("192.0.2.128:80")));
        assert!(!scope.contains(&tcp("198.51.100.1:80")));
        assert!(scope.contains(&tcp("[2001:db8::5]:443")));
        assert!(!scope.contains(&tcp("[2001:db9::5]:443")));
        assert!(scope.contains(&ServiceKey::fwmark(7, AddressFamily::Inet6)));
        assert!(!scope.contains(&ServiceKey::fwmark(8, AddressFamily::Inet)));
        assert!(Scope::new()
            .key(tcp("198.51.100.1:80"))
            .contains(&tcp("198.51.100.1:80")));
        assert!(!Scope::new().contains(&tcp("192.0.2.1:80")));
        assert!(Scope::all().contains(&ServiceKey::fwmark(9, AddressFamily::Inet)));
        assert!("0.0.0.0/0"
            .parse::<Scope>()
            .unwrap()
            .contains(&tcp("203.0.113.9:1")));
        assert_eq!(scope.to_string(), "192.0.2.0/25,2001:db8::/32,fwmark:7");
    }

    #[test]
    fn bad_scopes_say_why() {
        for (text, why) in [
            ("192.0.2.0/33", "0..=32"),
            ("fwmark:x", "not a number"),
            ("fwmark:0", "mark 0"),
            ("example.org", "not an address"),
        ] {
            let e = text.parse::<Scope>().unwrap_err();
            assert!(e.to_string().contains(why), "{text}: {e}");
            assert!(e.to_string().contains(text), "{text}: {e}");
        }
    }
}
