//! `-S --lossless`: a save that also keeps what `ipvsadm -S` drops
//! (destination thresholds, connection timeouts, sync daemons), written as
//! ordinary ipvsadm command lines so that both `ipvsadm -R` and our `-R`
//! read it back.

use std::fmt::Write as _;

use ipvs_core::{DaemonState, Destination, SyncDaemon, Timeouts};

/// Add `-x`/`-y` to the `-a` lines of one service's rules (`text` is the
/// service line followed by one line per destination, in `dests` order).
pub fn annotate(text: &str, dests: &[Destination]) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(line);
        if i > 0 {
            if let Some(d) = dests.get(i - 1) {
                if d.upper_threshold != 0 {
                    let _ = write!(out, " -x {}", d.upper_threshold);
                }
                if d.lower_threshold != 0 {
                    let _ = write!(out, " -y {}", d.lower_threshold);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The `--set` line and one `--start-daemon` line per running daemon.
pub fn extra_lines(t: &Timeouts, daemons: &[SyncDaemon]) -> String {
    let mut out = format!("--set {} {} {}\n", t.tcp, t.tcp_fin, t.udp);
    let mut list: Vec<&SyncDaemon> = daemons.iter().collect();
    list.sort_by_key(|d| d.state.to_raw());
    for d in list {
        let state = if d.state == DaemonState::Master {
            "master"
        } else {
            "backup"
        };
        let _ = write!(
            out,
            "--start-daemon {state} --mcast-interface {} --syncid {}",
            d.mcast_ifn, d.syncid
        );
        if let Some(v) = d.sync_maxlen {
            let _ = write!(out, " --sync-maxlen {v}");
        }
        if let Some(v) = d.mcast_group {
            let _ = write!(out, " --mcast-group {v}");
        }
        if let Some(v) = d.mcast_port {
            let _ = write!(out, " --mcast-port {v}");
        }
        if let Some(v) = d.mcast_ttl {
            let _ = write!(out, " --mcast-ttl {v}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipvs_core::ForwardMethod;

    #[test]
    fn thresholds_and_extras_are_ipvsadm_lines() {
        let mut d = Destination::new(
            "192.0.2.10:8080".parse().unwrap(),
            ForwardMethod::Masquerade,
        );
        d.upper_threshold = 100;
        d.lower_threshold = 50;
        let text = "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.10:8080 -m -w 1\n";
        assert_eq!(
            annotate(text, &[d]),
            "-A -t 192.0.2.1:80 -s rr\n-a -t 192.0.2.1:80 -r 192.0.2.10:8080 -m -w 1 -x 100 -y 50\n"
        );
        let mut daemon = SyncDaemon::new(DaemonState::Backup, "eth1", 7);
        daemon.mcast_port = Some(9000);
        let extra = extra_lines(&Timeouts::new(900, 120, 300), &[daemon]);
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
