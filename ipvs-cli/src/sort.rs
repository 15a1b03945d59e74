//! The order of ipvsadm's listings.
//!
//! ipvsadm sorts with `qsort` and comparators that subtract 32-bit unsigned
//! values into an `int`, so the order is not plain numeric: 1.2.0.3 sorts after
//! 192.0.2.12 (the difference wraps to a positive number). To print the same
//! order we use the same comparators and the same algorithm as glibc's `qsort`
//! (a top-down merge sort, `msort_with_tmp`), which matters because a
//! non-transitive comparator makes the result depend on the algorithm.

use std::net::IpAddr;

use ipvs_core::{Destination, Service, ServiceKey};

/// glibc's merge sort: split in halves (`n1 = n / 2`), sort each, merge taking
/// from the left while `cmp(left, right) <= 0`.
pub fn glibc_msort<T: Clone>(items: &mut [T], cmp: &dyn Fn(&T, &T) -> i32) {
    let n = items.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    glibc_msort(&mut items[..n1], cmp);
    glibc_msort(&mut items[n1..], cmp);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&items[i], &items[j]) <= 0 {
            merged.push(items[i].clone());
            i += 1;
        } else {
            merged.push(items[j].clone());
            j += 1;
        }
    }
    merged.extend_from_slice(&items[i..n1]);
    merged.extend_from_slice(&items[j..n]);
    items.clone_from_slice(&merged);
}

fn sub32(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

fn addr_words(addr: &IpAddr) -> Vec<u32> {
    match addr {
        IpAddr::V4(a) => vec![u32::from(*a)],
        IpAddr::V6(a) => a
            .octets()
            .chunks(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    }
}

fn cmp_addrs(a: &IpAddr, b: &IpAddr) -> i32 {
    let (wa, wb) = (addr_words(a), addr_words(b));
    let mut r = 0;
    for (x, y) in wa.iter().zip(wb.iter()) {
        r = sub32(*x, *y);
        if r != 0 {
            break;
        }
    }
    r
}

fn af(addr: &IpAddr) -> i32 {
    if addr.is_ipv6() {
        10
    } else {
        2
    }
}

/// The kernel-facing fields ipvsadm compares for a service.
struct SvcSortKey {
    fwmark: u32,
    af: i32,
    protocol: i32,
    addr: Option<IpAddr>,
    port: u16,
}

fn svc_sort_key(key: &ServiceKey) -> SvcSortKey {
    match key {
        ServiceKey::Addr { protocol, addr } => SvcSortKey {
            fwmark: 0,
            af: af(&addr.ip()),
            protocol: i32::from(protocol.to_raw()),
            addr: Some(addr.ip()),
            port: addr.port(),
        },
        ServiceKey::FwMark { mark, family } => SvcSortKey {
            fwmark: *mark,
            af: i32::from(family.to_raw()),
            protocol: 0,
            addr: None,
            port: 0,
        },
    }
}

/// ipvsadm's `ipvs_cmp_services`.
pub fn cmp_services(a: &ServiceKey, b: &ServiceKey) -> i32 {
    let (x, y) = (svc_sort_key(a), svc_sort_key(b));
    let r = sub32(x.fwmark, y.fwmark);
    if r != 0 {
        return r;
    }
    let r = x.af - y.af;
    if r != 0 {
        return r;
    }
    let r = x.protocol - y.protocol;
    if r != 0 {
        return r;
    }
    let r = match (&x.addr, &y.addr) {
        (Some(p), Some(q)) => cmp_addrs(p, q),
        _ => 0,
    };
    if r != 0 {
        return r;
    }
    i32::from(x.port) - i32::from(y.port)
}

/// ipvsadm's `ipvs_cmp_dests`.
pub fn cmp_dests(a: &Destination, b: &Destination) -> i32 {
    let r = af(&a.addr) - af(&b.addr);
    if r != 0 {
        return r;
    }
    let r = cmp_addrs(&a.addr, &b.addr);
    if r != 0 {
        return r;
    }
    i32::from(a.port) - i32::from(b.port)
}

/// Sort services as `ipvsadm -L` does.
pub fn sort_services<T: Clone>(items: &mut [T], key: impl Fn(&T) -> &Service) {
    glibc_msort(items, &|a, b| cmp_services(&key(a).key, &key(b).key));
}

/// Sort destinations as `ipvsadm -L` does.
pub fn sort_dests(items: &mut [Destination]) {
    glibc_msort(items, &|a, b| cmp_dests(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_order_as_ipvsadm() {
        // Observed with ipvsadm 1.31: 127.0.0.1, 192.0.2.1, 192.0.2.12, 1.2.0.3.
        let keys: Vec<ServiceKey> = [
            "1.2.0.3:82",
            "192.0.2.12:80",
            "127.0.0.1:81",
            "192.0.2.1:80",
        ]
        .iter()
        .map(|a| ServiceKey::tcp(a.parse().unwrap()))
        .collect();
        let mut sorted = keys.clone();
        glibc_msort(&mut sorted, &|a, b| cmp_services(a, b));
        let shown: Vec<String> = sorted
            .iter()
            .map(|k| match k {
                ServiceKey::Addr { addr, .. } => addr.to_string(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            shown,
            [
                "127.0.0.1:81",
                "192.0.2.1:80",
                "192.0.2.12:80",
                "1.2.0.3:82"
            ]
        );
    }

    #[test]
    fn fwmark_after_addresses_and_family_order() {
        use ipvs_core::AddressFamily;
        let mut keys = vec![
            ServiceKey::fwmark(8, AddressFamily::Inet),
            ServiceKey::udp("192.0.2.2:53".parse().unwrap()),
            ServiceKey::tcp("[2001:db8::1]:443".parse().unwrap()),
            ServiceKey::fwmark(7, AddressFamily::Inet6),
            ServiceKey::tcp("192.0.2.4:22".parse().unwrap()),
        ];
        glibc_msort(&mut keys, &|a, b| cmp_services(a, b));
        assert_eq!(keys[0], ServiceKey::tcp("192.0.2.4:22".parse().unwrap()));
        assert_eq!(keys[1], ServiceKey::udp("192.0.2.2:53".parse().unwrap()));
        assert_eq!(
            keys[2],
            ServiceKey::tcp("[2001:db8::1]:443".parse().unwrap())
        );
        assert_eq!(keys[3], ServiceKey::fwmark(7, AddressFamily::Inet6));
    }
}
