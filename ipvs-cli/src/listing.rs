//! `-L` and `-S`: read the table from the kernel and hand it to the
//! renderers service by service, so that at most one service's destinations
//! are held at a time (the service list itself is read whole: ipvsadm's sort
//! needs it).

use std::io::{self, Write};

use ipvs_core::netlink::DUMP_ATTEMPTS;
use ipvs_core::{
    Destination, Error, Handle, Info, Netmask, Scheduler, Service, ServiceFlags, ServiceKey, Stats,
};

use crate::args::{Format, ListWhat, Output};
use crate::render::{self, Names, NoNames, SystemNames};
use crate::strerror::ipvs_strerror;
use crate::{connections, json, lossless, sort, table};

/// Where ipvsadm reads connections for `-L -c` (IPVS has no netlink dump of
/// them); its messages name this path.
pub const CONN_PROC_FILE: &str = "/proc/net/ip_vs_conn";

/// One service with its destinations, both in listing order.
pub type ServiceEntry = (Service, Vec<Destination>);

/// Prints a kernel error as ipvsadm's listings do; exit code 1.
pub fn kernel_error(err: &mut dyn Write, e: &Error) -> io::Result<i32> {
    writeln!(err, "{}", ipvs_strerror(None, e))?;
    Ok(1)
}

fn names_for(format: &Format) -> &'static dyn Names {
    if format.numeric {
        &NoNames
    } else {
        &SystemNames
    }
}

/// Which of a service's counters a listing prints, and so holds while the
/// service list waits to be printed in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counters {
    /// None (`-L`, `-S`).
    None,
    /// The totals (`--stats`).
    Totals,
    /// The rates (`--rate`).
    Rates,
    /// All ten (`--json`, `--table`, `--stats --rate`).
    All,
}

impl Counters {
    /// What a listing of `output` in `format` prints.
    pub fn printed(output: Output, format: &Format) -> Counters {
        match (output, format.stats, format.rate) {
            (Output::Text, false, false) => Counters::None,
            (Output::Text, true, false) => Counters::Totals,
            (Output::Text, false, true) => Counters::Rates,
            _ => Counters::All,
        }
    }
}

/// A service between the service dump and its turn in the listing, without
/// its counters (held apart, and only those printed). ipvsadm holds its whole
/// service list for sorting, and so do we, but smaller: a [`Service`] is
/// 184 bytes, this is about 100, and five counters 40 more.
struct Held {
    key: ServiceKey,
    scheduler: Scheduler,
    flags: ServiceFlags,
    timeout: u32,
    netmask: Netmask,
    pe_name: Option<Box<str>>,
}

/// The counters kept beside the held services, by index.
enum HeldCounters {
    None,
    Totals(Vec<[u64; 5]>),
    Rates(Vec<[u64; 5]>),
    All(Vec<Stats>),
}

/// The service list of a listing, as small as the listing allows.
struct HeldServices {
    services: Vec<Held>,
    counters: HeldCounters,
}

impl HeldServices {
    /// Dump the services, decoding as they arrive; an interrupted dump is
    /// read again (as [`Handle::services`] does).
    fn read(h: &mut Handle, kind: Counters) -> Result<HeldServices, Error> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut held = HeldServices::new(kind);
            match h.services_iter()?.try_for_each(|s| s.map(|s| held.push(s))) {
                Ok(()) => return Ok(held),
                Err(Error::DumpInterrupted { .. }) if attempts < DUMP_ATTEMPTS => continue,
                Err(Error::DumpInterrupted { .. }) => {
                    return Err(Error::DumpInterrupted { attempts })
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn new(kind: Counters) -> HeldServices {
        HeldServices {
            services: Vec::new(),
            counters: match kind {
                Counters::None => HeldCounters::None,
                Counters::Totals => HeldCounters::Totals(Vec::new()),
                Counters::Rates => HeldCounters::Rates(Vec::new()),
                Counters::All => HeldCounters::All(Vec::new()),
            },
        }
    }

    fn push(&mut self, s: Service) {
        let st = s.stats;
        match &mut self.counters {
            HeldCounters::None => {}
            HeldCounters::Totals(v) => {
                v.push([st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes])
            }
            HeldCounters::Rates(v) => v.push([st.cps, st.inpps, st.outpps, st.inbps, st.outbps]),
            HeldCounters::All(v) => v.push(st),
        }
        self.services.push(Held {
            key: s.key,
            scheduler: s.scheduler,
            flags: s.flags,
            timeout: s.timeout,
            netmask: s.netmask,
            pe_name: s.pe_name.map(String::into_boxed_str),
        });
    }

    /// Service `i` as it was read, with the counters the listing prints.
    fn service(&self, i: usize) -> Service {
        let held = &self.services[i];
        let mut s = Service::new(held.key, held.scheduler.clone());
        s.flags = held.flags;
        s.timeout = held.timeout;
        s.netmask = held.netmask;
        s.pe_name = held.pe_name.as_deref().map(str::to_owned);
        let st = &mut s.stats;
        match &self.counters {
            HeldCounters::None => {}
            HeldCounters::Totals(v) => {
                [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes] = v[i]
            }
            HeldCounters::Rates(v) => [st.cps, st.inpps, st.outpps, st.inbps, st.outbps] = v[i],
            HeldCounters::All(v) => *st = v[i],
        }
        s
    }
}

/// Every service in ipvsadm's order, each with its destinations (sorted
/// unless `nosort`), dumped from the kernel when the iterator reaches it.
/// (Unlike `Handle::table`, which holds every destination of the table at
/// once, this holds one service's.) Services carry only the `counters` asked
/// for; the others are zero.
pub fn services_in_order(
    h: &mut Handle,
    nosort: bool,
    counters: Counters,
) -> Result<impl Iterator<Item = Result<ServiceEntry, Error>> + '_, Error> {
    let held = HeldServices::read(h, counters)?;
    let order = if nosort {
        (0..held.services.len() as u32).collect()
    } else {
        sort::service_order(&held.services, |s| &s.key)
    };
    Ok(order.into_iter().map(move |i| {
        let s = held.service(i as usize);
        // Deleted by another program since the service dump: listed
        // without destinations, as ipvsadm lists it.
        let mut dests = h.destinations_or_empty(&s.key)?;
        if !nosort {
            sort::sort_dests(&mut dests);
        }
        Ok((s, dests))
    }))
}

/// One listing (`-L` in any mode); `Ok` holds the exit code.
pub fn list(
    h: &mut Handle,
    what: &ListWhat,
    format: &Format,
    output: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    match what {
        ListWhat::All => list_all(h, format, output, out, err),
        ListWhat::Service(key) => {
            let entry = h.service(key).and_then(|svc| {
                let mut dests = h.destinations(key)?;
                if !format.nosort {
                    sort::sort_dests(&mut dests);
                }
                Ok((svc, dests))
            });
            match entry {
                Ok(entry) => list_entries(h, format, output, std::iter::once(Ok(entry)), out, err),
                Err(e) => kernel_error(err, &e),
            }
        }
        ListWhat::Connections => connections(format, output, out, err),
        ListWhat::Timeout => match h.timeouts() {
            Ok(t) => match output {
                Output::Text => render::timeouts(out, &t).map(|()| 0),
                Output::Json => json::write_document(out, &json::timeout_document(&t)).map(|()| 0),
                Output::Table => table::timeouts(out, &t).map(|()| 0),
            },
            Err(e) => kernel_error(err, &e),
        },
        ListWhat::Daemon => match h.daemons() {
            Ok(d) => match output {
                Output::Text => render::daemons(out, &d).map(|()| 0),
                Output::Json => json::write_document(out, &json::daemon_document(&d)).map(|()| 0),
                Output::Table => table::daemons(out, &d).map(|()| 0),
            },
            Err(e) => kernel_error(err, &e),
        },
        ListWhat::Info => match h.info() {
            Ok(i) => match output {
                Output::Text => render::version_header(out, &i).map(|()| 0),
                Output::Json => json::write_document(out, &json::info_document(&i)).map(|()| 0),
                Output::Table => table::info(out, &i).map(|()| 0),
            },
            Err(e) => kernel_error(err, &e),
        },
    }
}

fn list_all(
    h: &mut Handle,
    format: &Format,
    output: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let info = match h.info() {
        Ok(i) => i,
        Err(e) => return kernel_error(err, &e),
    };
    if output == Output::Text {
        render::version_header(out, &info)?;
    }
    let entries = match services_in_order(h, format.nosort, Counters::printed(output, format)) {
        Ok(s) => s,
        Err(e) => return kernel_error(err, &e),
    };
    list_stream(as_rendered(output, &info), format, entries, out, err)
}

fn list_entries(
    h: &mut Handle,
    format: &Format,
    output: Output,
    entries: impl Iterator<Item = Result<ServiceEntry, Error>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    // The one-service listing's JSON carries the version, as `-L --json` does.
    let info = match output {
        Output::Json => match h.info() {
            Ok(i) => i,
            Err(e) => return kernel_error(err, &e),
        },
        // Only the JSON document shows it.
        _ => Info::new(0, 0),
    };
    list_stream(as_rendered(output, &info), format, entries, out, err)
}

/// How a services listing is rendered, with what the JSON document needs.
enum Rendered<'a> {
    Text,
    Json(&'a Info),
    Table,
}

fn as_rendered(output: Output, info: &Info) -> Rendered<'_> {
    match output {
        Output::Text => Rendered::Text,
        Output::Json => Rendered::Json(info),
        Output::Table => Rendered::Table,
    }
}

fn list_stream(
    rendered: Rendered<'_>,
    format: &Format,
    mut entries: impl Iterator<Item = Result<ServiceEntry, Error>>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let names = names_for(format);
    match rendered {
        Rendered::Text => {
            render::title(out, format)?;
            for entry in entries.by_ref() {
                match entry {
                    Ok((s, d)) => render::service_entry(out, names, &s, &d, format)?,
                    Err(e) => return kernel_error(err, &e),
                }
            }
            Ok(0)
        }
        Rendered::Json(info) => match json::write_services(out, info, entries) {
            Ok(()) => Ok(0),
            Err(json::StreamError::Source(e)) => kernel_error(err, &e),
            Err(json::StreamError::Io(e)) => Err(e),
        },
        // comfy-table lays columns out from every row: this one holds the table.
        Rendered::Table => match entries.collect::<Result<Vec<_>, _>>() {
            Ok(all) => table::services(out, names, &all, format).map(|()| 0),
            Err(e) => kernel_error(err, &e),
        },
    }
}

fn connections(
    format: &Format,
    output: Output,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let Ok(text) = std::fs::read_to_string(CONN_PROC_FILE) else {
        writeln!(err, "cannot open file {CONN_PROC_FILE}")?;
        return Ok(1);
    };
    if text.is_empty() {
        writeln!(err, "unexpected input from {CONN_PROC_FILE}")?;
        return Ok(1);
    }
    let conns = match ipvs_core::parse_connections(&text) {
        Ok(c) => c,
        // ipvs-core's message names the file and the line.
        Err(e) => {
            writeln!(err, "{e}")?;
            return Ok(1);
        }
    };
    let names = names_for(format);
    match output {
        Output::Text => {
            connections::title(out, format)?;
            for c in &conns {
                connections::entry(out, names, c, format)?;
            }
        }
        Output::Json => json::write_document(out, &json::connections_document(&conns))?,
        Output::Table => table::connections(out, names, &conns, format)?,
    }
    Ok(0)
}

/// `-S` (and `-S --lossless`); `Ok` holds the exit code.
pub fn save(
    h: &mut Handle,
    format: &Format,
    lossless: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let names = names_for(format);
    let suffix: render::RuleSuffix<'_> = if lossless {
        &lossless::thresholds
    } else {
        &|_, _| Ok(())
    };
    let entries = match services_in_order(h, format.nosort, Counters::None) {
        Ok(s) => s,
        Err(e) => return kernel_error(err, &e),
    };
    for entry in entries {
        match entry {
            Ok((s, d)) => render::service_entry_with(out, names, &s, &d, format, suffix)?,
            Err(e) => return kernel_error(err, &e),
        }
    }
    if lossless {
        match (h.timeouts(), h.daemons()) {
            (Ok(t), Ok(daemons)) => lossless::extra_lines(out, &t, &daemons)?,
            (Err(e), _) | (_, Err(e)) => return kernel_error(err, &e),
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use ipvs_core::{parse_connections, ForwardMethod, Scheduler, ServiceKey};

    use super::*;

    /// A writer whose bytes the test can read while a listing is running.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Services 80, 81, 82, each with one destination; pulling service N
    /// checks that service N-1 was already written out.
    fn entries_checking(
        written: Shared,
        shown: &'static str,
    ) -> impl Iterator<Item = Result<ServiceEntry, Error>> {
        (80u16..83).map(move |port| {
            if port > 80 {
                let text = String::from_utf8_lossy(&written.0.borrow()).into_owned();
                let before = shown.replace("PORT", &(port - 1).to_string());
                assert!(
                    text.contains(&before),
                    "service {port} pulled before {before:?} was written:\n{text}"
                );
            }
            let key = ServiceKey::tcp(std::net::SocketAddr::from(([192, 0, 2, 1], port)));
            let dest = Destination::new(
                "198.51.100.10:80".parse().unwrap(),
                ForwardMethod::Masquerade,
            );
            Ok((Service::new(key, Scheduler::Rr), vec![dest]))
        })
    }

    #[test]
    fn listings_are_written_service_by_service() {
        let format = Format {
            numeric: true,
            ..Default::default()
        };
        let info = Info::new(0x010201, 4096);
        for (rendered, shown) in [
            (Rendered::Text, "TCP  192.0.2.1:PORT rr"),
            (Rendered::Json(&info), "\"port\": PORT,"),
        ] {
            let written = Shared::default();
            let entries = entries_checking(written.clone(), shown);
            let code = list_stream(
                rendered,
                &format,
                entries,
                &mut written.clone(),
                &mut io::sink(),
            );
            assert_eq!(code.unwrap(), 0);
            let text = String::from_utf8_lossy(&written.0.borrow()).into_owned();
            assert!(text.contains(&shown.replace("PORT", "82")), "{text}");
        }
    }

    /// A held service comes back as it was read, with the counters its
    /// listing prints and zeros for the others.
    #[test]
    fn held_services_keep_what_the_listing_prints() {
        let key = ServiceKey::udp("[2001:db8::1]:5060".parse().unwrap());
        let mut read = Service::new(key, Scheduler::Other("mh".into()))
            .persistent(300)
            .flags(ServiceFlags::HASHED);
        read.pe_name = Some("sip".into());
        read.netmask = Netmask::V6(64);
        let counters = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        let st = &mut read.stats;
        [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes] =
            counters[..5].try_into().unwrap();
        [st.cps, st.inpps, st.outpps, st.inbps, st.outbps] = counters[5..].try_into().unwrap();
        let totals_only = |s: &Stats| [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes];
        let rates_only = |s: &Stats| [s.cps, s.inpps, s.outpps, s.inbps, s.outbps];
        for kind in [
            Counters::None,
            Counters::Totals,
            Counters::Rates,
            Counters::All,
        ] {
            let mut held = HeldServices::new(kind);
            held.push(Service::new(
                ServiceKey::tcp("192.0.2.1:80".parse().unwrap()),
                Scheduler::Rr,
            ));
            held.push(read.clone());
            let back = held.service(1);
            let mut expected = read.clone();
            let zero = Stats::default();
            let (t, r) = match kind {
                Counters::None => (zero, zero),
                Counters::Totals => (read.stats, zero),
                Counters::Rates => (zero, read.stats),
                Counters::All => (read.stats, read.stats),
            };
            [
                expected.stats.conns,
                expected.stats.inpkts,
                expected.stats.outpkts,
                expected.stats.inbytes,
                expected.stats.outbytes,
            ] = totals_only(&t);
            [
                expected.stats.cps,
                expected.stats.inpps,
                expected.stats.outpps,
                expected.stats.inbps,
                expected.stats.outbps,
            ] = rates_only(&r);
            assert_eq!(back, expected, "{kind:?}");
            assert_eq!(
                held.service(0).key.to_string(),
                "TCP 192.0.2.1:80",
                "{kind:?}"
            );
        }
    }

    #[test]
    fn counters_follow_the_format() {
        let f = |stats, rate| Format {
            stats,
            rate,
            ..Default::default()
        };
        assert_eq!(
            Counters::printed(Output::Text, &f(false, false)),
            Counters::None
        );
        assert_eq!(
            Counters::printed(Output::Text, &f(true, false)),
            Counters::Totals
        );
        assert_eq!(
            Counters::printed(Output::Text, &f(false, true)),
            Counters::Rates
        );
        assert_eq!(
            Counters::printed(Output::Text, &f(true, true)),
            Counters::All
        );
        assert_eq!(
            Counters::printed(Output::Json, &f(false, false)),
            Counters::All
        );
        assert_eq!(
            Counters::printed(Output::Table, &f(false, false)),
            Counters::All
        );
    }

    /// What `-L -c` needs from ipvs-core's parser of the kernel's lines.
    #[test]
    fn kernel_lines() {
        // Format of net/netfilter/ipvs/ip_vs_conn.c ip_vs_conn_seq_show.
        let text = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
TCP C0000264 9C40 C0000201 0050 C6336402 0050 ESTABLISHED     899\n\
UDP 2001:0db8:0000:0000:0000:0000:0000:0064 9C41 2001:0db8:0000:0000:0000:0000:0000:0001 0035 2001:0db8:0000:0000:0000:0000:0000:0002 0035 UDP         299 sip abc\n";
        let c = parse_connections(text).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].client, "192.0.2.100:40000".parse().unwrap());
        assert_eq!(c[0].destination, "198.51.100.2:80".parse().unwrap());
        assert_eq!((c[0].state.as_str(), c[0].expires), ("ESTABLISHED", 899));
        assert_eq!(c[1].virtual_addr, "[2001:db8::1]:53".parse().unwrap());
        assert_eq!(c[1].pe_name.as_deref(), Some("sip"));
        assert!(parse_connections("h\nTCP x").is_err());
    }
}
