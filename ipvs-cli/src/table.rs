//! `--table`: the listings as tables for people (comfy-table). The default
//! output stays ipvsadm's text; this is opt-in.

use std::io::{self, Write};

use comfy_table::{presets::UTF8_FULL, ContentArrangement, Table};

use ipvs_core::{Connection, Destination, Info, Service, SyncDaemon, Timeouts};

use crate::args::Format;
use crate::connections;
use crate::render::{self, Names};

fn new_table(header: Vec<&str>) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    t
}

fn finish<W: Write + ?Sized>(out: &mut W, t: Table) -> io::Result<()> {
    writeln!(out, "{t}")
}

/// Services and destinations, one row each; counters with `--stats`/`--rate`.
pub fn services<W: Write + ?Sized>(
    out: &mut W,
    names: &dyn Names,
    snapshot: &[(Service, Vec<Destination>)],
    format: &Format,
) -> io::Result<()> {
    let counters = format.stats || format.rate;
    let mut header = vec![
        "Service",
        "Scheduler / Forward",
        "Flags / Tunnel",
        "Weight",
        "Active",
        "Inactive",
    ];
    if counters {
        header = vec!["Service", "Destination"];
        if format.stats {
            header.extend(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]);
        } else {
            header.extend(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]);
        }
    }
    let mut t = new_table(header);
    let plain = Format {
        numeric: format.numeric,
        ..Default::default()
    };
    for (s, dests) in snapshot {
        let svc_name = render::service_name(names, &s.key, &plain);
        let proto = render::service_protocol(&s.key);
        let pick = |st: &ipvs_core::Stats| {
            if format.stats {
                [st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes]
            } else {
                [st.cps, st.inpps, st.outpps, st.inbps, st.outbps]
            }
        };
        if counters {
            let mut row = vec![svc_name.clone(), String::new()];
            row.extend(pick(&s.stats).iter().map(|v| v.to_string()));
            t.add_row(row);
            for d in dests {
                let mut row = vec![
                    String::new(),
                    render::addrport(names, d.addr, d.port, proto, format.numeric),
                ];
                row.extend(pick(&d.stats).iter().map(|v| v.to_string()));
                t.add_row(row);
            }
            continue;
        }
        let mut flags = Vec::new();
        if let Some(f) = render::sched_flags_text(s.flags, &s.scheduler) {
            flags.push(f);
        }
        if s.flags.contains(ipvs_core::ServiceFlags::PERSISTENT) {
            flags.push(format!("persistent {}", s.timeout));
        }
        if s.flags.contains(ipvs_core::ServiceFlags::ONEPACKET) {
            flags.push("ops".into());
        }
        if let Some(pe) = &s.pe_name {
            flags.push(format!("pe {pe}"));
        }
        t.add_row(vec![
            svc_name,
            s.scheduler.to_string(),
            flags.join(" "),
            String::new(),
            String::new(),
            String::new(),
        ]);
        for d in dests {
            t.add_row(vec![
                format!(
                    "  -> {}",
                    render::addrport(names, d.addr, d.port, proto, format.numeric)
                ),
                render::fwd_name(d.forward).to_string(),
                render::tunnel_info(d),
                d.weight.to_string(),
                d.active_conns.to_string(),
                d.inactive_conns.to_string(),
            ]);
        }
    }
    finish(out, t)
}

/// Connections.
pub fn connections<W: Write + ?Sized>(
    out: &mut W,
    names: &dyn Names,
    conns: &[Connection],
    format: &Format,
) -> io::Result<()> {
    let mut t = new_table(vec![
        "Proto",
        "Expires",
        "State",
        "Source",
        "Virtual",
        "Destination",
    ]);
    for c in conns {
        let proto = connections::protocol(c);
        let n = |a: std::net::SocketAddr| {
            render::addrport(names, a.ip(), a.port(), proto, format.numeric)
        };
        t.add_row(vec![
            c.protocol.clone(),
            format!("{:02}:{:02}", c.expires / 60, c.expires % 60),
            c.state.clone(),
            n(c.client),
            n(c.virtual_addr),
            n(c.destination),
        ]);
    }
    finish(out, t)
}

/// Timeouts.
pub fn timeouts<W: Write + ?Sized>(out: &mut W, t: &Timeouts) -> io::Result<()> {
    let mut table = new_table(vec!["TCP", "TCP FIN", "UDP"]);
    table.add_row(vec![
        t.tcp.to_string(),
        t.tcp_fin.to_string(),
        t.udp.to_string(),
    ]);
    finish(out, table)
}

/// Sync daemons.
pub fn daemons<W: Write + ?Sized>(out: &mut W, daemons: &[SyncDaemon]) -> io::Result<()> {
    let mut t = new_table(vec![
        "State",
        "Interface",
        "SyncID",
        "MaxLen",
        "Group",
        "Port",
        "TTL",
    ]);
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    for d in daemons {
        t.add_row(vec![
            format!("{:?}", d.state).to_lowercase(),
            d.mcast_ifn.clone(),
            d.syncid.to_string(),
            opt(d.sync_maxlen.map(|v| v.to_string())),
            opt(d.mcast_group.map(|v| v.to_string())),
            opt(d.mcast_port.map(|v| v.to_string())),
            opt(d.mcast_ttl.map(|v| v.to_string())),
        ]);
    }
    finish(out, t)
}

/// Version and table size.
pub fn info<W: Write + ?Sized>(out: &mut W, i: &Info) -> io::Result<()> {
    let mut t = new_table(vec!["IPVS version", "Connection table size"]);
    t.add_row(vec![i.version_string(), i.conn_table_size.to_string()]);
    finish(out, t)
}
