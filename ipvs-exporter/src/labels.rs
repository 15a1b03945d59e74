//! Label values in node_exporter's IPVS collector format, so queries written for
//! node_exporter match this exporter's series unchanged.
//!
//! node_exporter reads `/proc/net/ip_vs` (through the `procfs` Go package) and labels
//! each backend with `local_address`, `local_port`, `remote_address`, `remote_port`,
//! `proto` and `local_mark`. Its formats, reproduced here from the netlink values:
//!
//! | service | `local_address` | `local_port` | `proto` | `local_mark` |
//! | --- | --- | --- | --- | --- |
//! | TCP/UDP/SCTP | the address as Go prints it | decimal | `TCP`, `UDP`, `SCTP` | empty |
//! | firewall mark | empty | `0` | `FWM` | the mark as the kernel prints it: `%08X` |
//!
//! Go prints IPv6 addresses compressed (RFC 5952) and IPv4-mapped IPv6 addresses as
//! dotted IPv4; Rust's `Ipv6Addr` prints the mapped form as `::ffff:a.b.c.d`, hence
//! [`go_ip`].

use std::fmt;
use std::net::IpAddr;

use ipvs_core::{Destination, Protocol, ServiceKey};

/// The label names of node_exporter's backend series, in its order.
pub const BACKEND_LABELS: [&str; 6] = [
    "local_address",
    "local_port",
    "remote_address",
    "remote_port",
    "proto",
    "local_mark",
];

/// An IP address printed as Go's `net.IP.String()` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoIp(pub IpAddr);

/// `addr` printed as Go prints it (IPv4-mapped IPv6 as dotted IPv4).
pub fn go_ip(addr: IpAddr) -> GoIp {
    GoIp(addr)
}

impl fmt::Display for GoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.fmt(f),
                None => v6.fmt(f),
            },
            IpAddr::V4(v4) => v4.fmt(f),
        }
    }
}

/// The service half of a backend's labels: `local_address`, `local_port`, `proto`,
/// `local_mark`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLabels {
    /// Virtual address, empty for a firewall-mark service.
    pub local_address: String,
    /// Virtual port in decimal, `0` for a firewall-mark service.
    pub local_port: String,
    /// `TCP`, `UDP`, `SCTP` or `FWM`.
    pub proto: &'static str,
    /// Firewall mark as `%08X`, empty for an address service.
    pub local_mark: String,
}

impl ServiceLabels {
    /// The labels of a service key.
    pub fn of(key: &ServiceKey) -> Self {
        match key {
            ServiceKey::Addr { protocol, addr } => ServiceLabels {
                local_address: go_ip(addr.ip()).to_string(),
                local_port: addr.port().to_string(),
                proto: proto_name(*protocol),
                local_mark: String::new(),
            },
            ServiceKey::FwMark { mark, .. } => ServiceLabels {
                local_address: String::new(),
                local_port: "0".to_string(),
                proto: "FWM",
                local_mark: format!("{mark:08X}"),
            },
        }
    }

    /// The service's four labels as (name, value) pairs.
    pub fn pairs(&self) -> [(&'static str, &str); 4] {
        [
            ("local_address", &self.local_address),
            ("local_port", &self.local_port),
            ("proto", self.proto),
            ("local_mark", &self.local_mark),
        ]
    }
}

/// A destination's `remote_address` and `remote_port` label values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendAddr {
    /// Real server address as Go prints it.
    pub remote_address: String,
    /// Real server port in decimal.
    pub remote_port: String,
}

impl BackendAddr {
    /// The labels of a destination.
    pub fn of(dest: &Destination) -> Self {
        BackendAddr {
            remote_address: go_ip(dest.addr).to_string(),
            remote_port: dest.port.to_string(),
        }
    }
}

/// The full node_exporter backend label set of a destination behind a service.
pub fn backend_pairs<'a>(
    service: &'a ServiceLabels,
    backend: &'a BackendAddr,
) -> [(&'static str, &'a str); 6] {
    [
        ("local_address", &service.local_address),
        ("local_port", &service.local_port),
        ("remote_address", &backend.remote_address),
        ("remote_port", &backend.remote_port),
        ("proto", service.proto),
        ("local_mark", &service.local_mark),
    ]
}

/// The `proto` label of an address service, as `/proc/net/ip_vs` names it.
pub fn proto_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        // A protocol added to ipvs-core later: its name, upper-case as the kernel prints.
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::{AddressFamily, ForwardMethod};

    #[test]
    fn address_service_labels_match_node_exporter() {
        let key = ServiceKey::tcp("192.0.2.1:6443".parse().unwrap());
        let s = ServiceLabels::of(&key);
        assert_eq!(
            s.pairs(),
            [
                ("local_address", "192.0.2.1"),
                ("local_port", "6443"),
                ("proto", "TCP"),
                ("local_mark", "")
            ]
        );
        let v6 = ServiceKey::Addr {
            protocol: Protocol::Udp,
            addr: "[2001:db8:0:0:0:0:0:10]:53".parse().unwrap(),
        };
        let s6 = ServiceLabels::of(&v6);
        assert_eq!(
            (s6.local_address.as_str(), s6.proto),
            ("2001:db8::10", "UDP")
        );
    }

    #[test]
    fn fwmark_service_labels_match_the_kernels_hex() {
        let key = ServiceKey::FwMark {
            mark: 0x1abc,
            family: AddressFamily::Inet6,
        };
        let s = ServiceLabels::of(&key);
        assert_eq!(
            s.pairs(),
            [
                ("local_address", ""),
                ("local_port", "0"),
                ("proto", "FWM"),
                ("local_mark", "00001ABC")
            ]
        );
    }

    #[test]
    fn backend_labels_in_node_exporter_order() {
        let key = ServiceKey::tcp("192.0.2.1:80".parse().unwrap());
        let dest = Destination::new(
            "198.51.100.2:8080".parse().unwrap(),
            ForwardMethod::Masquerade,
        );
        let s = ServiceLabels::of(&key);
        let b = BackendAddr::of(&dest);
        let pairs = backend_pairs(&s, &b);
        assert_eq!(pairs.map(|(k, _)| k), BACKEND_LABELS);
        assert_eq!(pairs[2], ("remote_address", "198.51.100.2"));
        assert_eq!(pairs[3], ("remote_port", "8080"));
    }

    #[test]
    fn ipv4_mapped_addresses_print_as_go_prints_them() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(go_ip(mapped).to_string(), "192.0.2.7");
        let plain: IpAddr = "2001:db8::1:0:0:1".parse().unwrap();
        assert_eq!(go_ip(plain).to_string(), "2001:db8::1:0:0:1");
    }
}
