//! `-S --lossless`: a save that also keeps what `ipvsadm -S` drops
//! (destination thresholds, connection timeouts, sync daemons), written as
//! ordinary ipvsadm command lines so that both `ipvsadm -R` and our `-R`
//! read it back.

use std::io::{self, Write};

use ipvs_core::{DaemonState, Destination, SyncDaemon, Timeouts};

/// Adds `-x`/`-y` to a destination's `-a` line: the [`crate::render::RuleSuffix`]
/// of a lossless save.
pub fn thresholds(out: &mut dyn Write, d: &Destination) -> io::Result<()> {
    if d.upper_threshold != 0 {
        write!(out, " -x {}", d.upper_threshold)?;
    }
    if d.lower_threshold != 0 {
        write!(out, " -y {}", d.lower_threshold)?;
    }
    Ok(())
}

/// The `--set` line and one `--start-daemon` line per running daemon.
pub fn extra_lines<W: Write + ?Sized>(
    out: &mut W,
    t: &Timeouts,
    daemons: &[SyncDaemon],
) -> io::Result<()> {
    writeln!(out, "--set {} {} {}", t.tcp, t.tcp_fin, t.udp)?;
    let mut list: Vec<&SyncDaemon> = daemons.iter().collect();
    list.sort_by_key(|d| d.state.to_raw());
    for d in list {
        let state = if d.state == DaemonState::Master {
            "master"
        } else {
            "backup"
        };
        write!(
            out,
            "--start-daemon {state} --mcast-interface {} --syncid {}",
            d.mcast_ifn, d.syncid
        )?;
        if let Some(v) = d.sync_maxlen {
            write!(out, " --sync-maxlen {v}")?;
        }
        if let Some(v) = d.mcast_group {
            write!(out, " --mcast-group {v}")?;
        }
        if let Some(v) = d.mcast_port {
            write!(out, " --mcast-port {v}")?;
        }
        if let Some(v) = d.mcast_ttl {
            write!(out, " --mcast-ttl {v}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Format;
    use crate::render::{service_entry_with, to_string, NoNames};
    use ipvs_core::{ForwardMethod, Scheduler, Service, ServiceKey};

    #[test]
    fn thresholds_and_extras_are_ipvsadm_lines() {
        let mut d = Destination::new(
            "192.0.2.10:8080".parse().unwrap(),
            ForwardMethod::Masquerade,
        );
        d.upper_threshold = 100;
        d.lower_threshold = 50;
        let svc = Service::new(
            ServiceKey::tcp("192.0.2.1:80".parse().unwrap()),
            Scheduler::Rr,
        );
        let rules = Format {
            numeric: true,
            rule: true,
            ..Default::default()
        };
        assert_eq!(
            to_string(|o| service_entry_with(o, &NoNames, &svc, &[d], &rules, &thresholds)),
            "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.10:8080 -m -w 1 -x 100 -y 50\n"
        );
        let mut daemon = SyncDaemon::new(DaemonState::Backup, "eth1", 7);
        daemon.mcast_port = Some(9000);
        let timeouts = Timeouts::new(900, 120, 300);
        let extra = to_string(|o| extra_lines(o, &timeouts, &[daemon]));
        assert_eq!(extra, "--set 900 120 300\n--start-daemon backup --mcast-interface eth1 --syncid 7 --mcast-port 9000\n");
        // Every line parses as an ipvsadm command line.
        for line in extra.lines() {
            let words: Vec<String> = line.split_whitespace().map(String::from).collect();
            assert!(
                crate::args::parse("ipvsadm", &words, true).is_ok(),
                "{line}"
            );
        }
    }
}
