//! The order of ipvsadm's listings.
//!
//! ipvsadm sorts with `qsort` and comparators that subtract 32-bit unsigned
//! values into an `int`, so the order is not plain numeric: 1.2.0.3 sorts after
//! 192.0.2.12 (the difference wraps to a positive number). To print the same
//! order we use the same comparators and the same algorithm as glibc's `qsort`
//! (a top-down merge sort, `msort_with_tmp`), which matters because a
//! non-transitive comparator makes the result depend on the algorithm.

use std::net::IpAddr;

use ipvs_core::{Destination, ServiceKey};

/// glibc's merge sort: split in halves (`n1 = n / 2`), sort each, merge taking
/// from the left while `cmp(left, right) <= 0`. One scratch buffer serves the
/// whole sort, as in glibc's `msort_with_tmp`.
pub fn glibc_msort<T: Clone>(items: &mut [T], cmp: &dyn Fn(&T, &T) -> i32) {
    let mut scratch = Vec::with_capacity(items.len());
    msort_with_tmp(items, &mut scratch, cmp);
}

fn msort_with_tmp<T: Clone>(items: &mut [T], merged: &mut Vec<T>, cmp: &dyn Fn(&T, &T) -> i32) {
    let n = items.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    msort_with_tmp(&mut items[..n1], merged, cmp);
    msort_with_tmp(&mut items[n1..], merged, cmp);
    merged.clear();
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
    items.clone_from_slice(merged);
}

fn sub32(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// An address as ipvsadm compares it: 32-bit words in network order (one
/// for IPv4, four for IPv6).
fn addr_words(addr: &IpAddr) -> ([u32; 4], usize) {
    match addr {
        IpAddr::V4(a) => ([u32::from(*a), 0, 0, 0], 1),
        IpAddr::V6(a) => {
            let o = a.octets();
            let word = |k: usize| u32::from_be_bytes([o[k], o[k + 1], o[k + 2], o[k + 3]]);
            ([word(0), word(4), word(8), word(12)], 4)
        }
    }
}

fn cmp_addrs(a: &IpAddr, b: &IpAddr) -> i32 {
    let ((wa, na), (wb, nb)) = (addr_words(a), addr_words(b));
    let mut r = 0;
    for (x, y) in wa[..na].iter().zip(wb[..nb].iter()) {
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

/// The order in which `ipvsadm -L` lists `services` (whose keys `key_of`
/// gives): their indices, sorted.
/// Sorting indices rather than the services keeps the scratch space of the
/// sort at 4 bytes a service.
pub fn service_order<T>(services: &[T], key_of: impl Fn(&T) -> &ServiceKey) -> Vec<u32> {
    let mut order: Vec<u32> = (0..services.len() as u32).collect();
    let key = |i: &u32| key_of(&services[*i as usize]);
    glibc_msort(&mut order, &|a, b| cmp_services(key(a), key(b)));
    order
}

/// Sort destinations as `ipvsadm -L` does.
pub fn sort_dests(items: &mut [Destination]) {
    glibc_msort(items, &|a, b| cmp_dests(a, b));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys whose ipvsadm order is not numeric (the comparator wraps).
    fn wrapping_keys() -> Vec<ServiceKey> {
        [
            "1.2.0.3:82",
            "192.0.2.12:80",
            "127.0.0.1:81",
            "192.0.2.1:80",
        ]
        .iter()
        .map(|a| ServiceKey::tcp(a.parse().unwrap()))
        .collect()
    }

    #[test]
    fn wrapping_order_as_ipvsadm() {
        // Observed with ipvsadm 1.31: 127.0.0.1, 192.0.2.1, 192.0.2.12, 1.2.0.3.
        let keys = wrapping_keys();
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
    fn service_order_is_the_sorted_keys_by_index() {
        let keys = wrapping_keys();
        let order = service_order(&keys, |k| k);
        assert_eq!(order, [2, 3, 1, 0]);
        let mut sorted = keys.clone();
        glibc_msort(&mut sorted, &|a, b| cmp_services(a, b));
        let by_index: Vec<ServiceKey> = order.iter().map(|&i| keys[i as usize]).collect();
        assert_eq!(by_index, sorted);
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
