//! `-L` and `-S`: read the table from the kernel and hand it to the
//! renderers service by service, so that at most one service's destinations
//! are held at a time (the service list itself is read whole: ipvsadm's sort
//! needs it).

use std::io::{self, Write};

use ipvs_core::{Destination, Error, Handle, Info, Service};

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

/// Every service in ipvsadm's order, each with its destinations (sorted
/// unless `nosort`), dumped from the kernel when the iterator reaches it.
/// (Unlike `Handle::table`, which holds every destination of the table at
/// once, this holds one service's.)
pub fn services_in_order(
    h: &mut Handle,
    nosort: bool,
) -> Result<impl Iterator<Item = Result<ServiceEntry, Error>> + '_, Error> {
    let mut services = h.services()?;
    if !nosort {
        sort::sort_services(&mut services, |s| s);
    }
    Ok(services.into_iter().map(move |s| {
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
    let entries = match services_in_order(h, format.nosort) {
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
    let entries = match services_in_order(h, format.nosort) {
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
