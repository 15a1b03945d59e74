//! The runbook's steps: each runs a line where it belongs and checks its effect
//! (see [`Step`] for what each one expects).

use std::collections::BTreeMap;
use std::time::Duration;

use ipvs_lab::{run, Output};

use super::{eventually, Node, Rig, CLIENT, GUIDE, REAL_SERVERS, SERVICE, VIP};
use crate::ops_runbook::{Line, Step};

/// `name{labels} value` lines of the text format: (name, labels, value).
fn series(text: &str) -> Result<Vec<(String, String, f64)>, String> {
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (s, v) = l.rsplit_once(' ').ok_or(format!("not a sample: {l}"))?;
            let v: f64 = v.parse().map_err(|_| format!("not a value: {l}"))?;
            let (name, labels) = s.split_once('{').unwrap_or((s, ""));
            Ok((
                name.to_string(),
                labels.trim_end_matches('}').to_string(),
                v,
            ))
        })
        .collect()
}

fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("{key}=\"");
    let i = labels.find(&pat)? + pat.len();
    labels[i..].split('"').next()
}

/// ipvsadm's real-server lines of a listing: address -> columns after it.
fn destinations(listing: &str) -> BTreeMap<String, Vec<String>> {
    listing
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("-> "))
        .map(|l| {
            let mut cols = l.split_whitespace().map(str::to_string);
            let addr = cols.next().unwrap_or_default();
            (addr, cols.collect())
        })
        .filter(|(a, _)| a != "RemoteAddress:Port")
        .collect()
}

impl Rig {
    pub(super) fn step(&mut self, line: &Line) -> Result<(), String> {
        let cmd = line.text.as_str();
        let holder = self.holder();
        let on_holder = |rig: &Rig| -> Result<Output, String> {
            let h = holder.ok_or("no node holds the VIP")?;
            Ok(rig.nodes[h].sh(&rig.bin, cmd))
        };
        match line.step {
            Step::Kubectl => Ok(()),
            Step::Check => {
                for (i, out) in self.on_each(cmd, |_| true) {
                    let off: Vec<&str> = GUIDE
                        .iter()
                        .filter(|(name, want)| self.sysctl(i, name) != Some(*want))
                        .map(|(name, _)| *name)
                        .collect();
                    // Exit 3 while a setting is off, naming each; 0 once all hold.
                    match (off.is_empty(), out.status) {
                        (true, 0) => {}
                        (false, 3) if off.iter().all(|p| out.stdout.contains(p)) => {}
                        _ => {
                            return Err(format!(
                                "{}: parameters off: {off:?}; --check said:\n{out}",
                                self.nodes[i].name
                            ))
                        }
                    }
                }
                Ok(())
            }
            Step::SysctlWrite => {
                let pairs: Vec<(&str, u64)> = cmd
                    .split_whitespace()
                    .filter_map(|w| w.split_once('='))
                    .map(|(k, v)| Ok((k, v.parse().map_err(|_| format!("value of {k}"))?)))
                    .collect::<Result<_, String>>()?;
                if pairs
                    .iter()
                    .any(|(k, _)| *k == "net.netfilter.nf_conntrack_max")
                {
                    // One value for the kernel, writable only from the initial network
                    // namespace: a node's own. In the lab that is PID 1's.
                    let out = run(&["nsenter", "--net=/proc/1/ns/net", "sh", "-c", cmd]);
                    out.success()
                        .then_some(())
                        .ok_or(format!("in the initial namespace: {out}"))?;
                } else {
                    for (i, out) in self.on_each(cmd, |_| true) {
                        out.success()
                            .then_some(())
                            .ok_or(format!("{}: {out}", self.nodes[i].name))?;
                    }
                }
                for i in 0..self.nodes.len() {
                    for (k, v) in &pairs {
                        let got = self.sysctl(i, k);
                        (got == Some(*v))
                            .then_some(())
                            .ok_or(format!("{}: {k} reads {got:?}", self.nodes[i].name))?;
                    }
                }
                Ok(())
            }
            Step::Modprobe => {
                let module = cmd
                    .strip_prefix("modprobe ")
                    .filter(|m| !m.contains(' '))
                    .ok_or(format!("one module: {cmd}"))?;
                // The lab's modprobe reads the lab kernel's own module tree.
                let out = run(&["/run/lab/modprobe", module]);
                let loaded = std::path::Path::new("/sys/module").join(module).exists();
                (out.success() && loaded)
                    .then_some(())
                    .ok_or(format!("{module} not loaded: {out}"))
            }
            Step::SysctlList => {
                let norm = |s: &str| -> Vec<String> {
                    s.lines()
                        .map(|l| l.split('=').map(str::trim).collect::<Vec<_>>().join(" = "))
                        .collect()
                };
                for (i, out) in self.on_each(cmd, |_| true) {
                    let theirs = self.nodes[i].sh(&self.bin, "sysctl net.ipv4.vs");
                    if !out.success() || norm(&out.stdout) != norm(&theirs.stdout) {
                        return Err(format!(
                            "{}: ours {out}\nsysctl's {theirs}",
                            self.nodes[i].name
                        ));
                    }
                    for p in [
                        "conntrack",
                        "expire_nodest_conn",
                        "expire_quiescent_template",
                    ] {
                        let want = format!("net.ipv4.vs.{p} = 1\n");
                        out.stdout
                            .contains(&want)
                            .then_some(())
                            .ok_or(format!("no {want:?} in {out}"))?;
                    }
                }
                Ok(())
            }
            Step::ConfigTest => {
                let judge = cmd.replacen("keepalived-lite", "keepalived", 1);
                for (i, out) in self.on_each(cmd, |_| true) {
                    let theirs = self.nodes[i].sh(&self.bin, &judge);
                    if !out.success() || !theirs.success() {
                        return Err(format!(
                            "{}: ours {out}\nkeepalived's {theirs}",
                            self.nodes[i].name
                        ));
                    }
                }
                Ok(())
            }
            Step::StartDaemon | Step::StartExporter => {
                let (port, what) = if line.step == Step::StartDaemon {
                    (9650, "daemon")
                } else {
                    (9888, "exporter")
                };
                let mut started = 0;
                for i in 0..self.nodes.len() {
                    let node = &mut self.nodes[i];
                    let slot = if what == "daemon" {
                        &mut node.daemon
                    } else {
                        &mut node.exporter
                    };
                    if Node::running(slot) {
                        continue;
                    }
                    let child = node.spawn(&self.bin, cmd, what);
                    let node = &mut self.nodes[i];
                    let slot = if what == "daemon" {
                        &mut node.daemon
                    } else {
                        &mut node.exporter
                    };
                    *slot = Some(child);
                    started += 1;
                    let node = &self.nodes[i];
                    eventually(Duration::from_secs(15), || {
                        let out = node.sh(
                            &self.bin,
                            &format!("curl -sf -o /dev/null http://{}:{port}/metrics", node.addr),
                        );
                        out.success().then_some(()).ok_or(format!(
                            "{} {what} does not answer on {}:{port}: {out}",
                            node.name, node.addr
                        ))
                    })?;
                }
                (started > 0)
                    .then_some(())
                    .ok_or(format!("every node already runs its {what}"))
            }
            Step::VipHolder => {
                let want = holder.ok_or("no daemon runs: nobody should hold the VIP")?;
                eventually(Duration::from_secs(20), || {
                    let got = self.on_each(cmd, |_| true);
                    let ok = got.iter().all(|(i, out)| {
                        let has = out.success() && out.stdout.contains(&format!("{VIP}/24"));
                        has == (*i == want) && (*i == want || out.status == 1)
                    });
                    ok.then_some(()).ok_or(format!(
                        "expected only {} to hold {VIP}: {got:?}",
                        self.nodes[want].name
                    ))
                })
            }
            Step::DaemonMetrics => {
                let h = holder.ok_or("no daemon runs")?;
                for i in self.running_daemons() {
                    let node = &self.nodes[i];
                    eventually(Duration::from_secs(10), || {
                        let out = node.sh(&self.bin, cmd);
                        let all = series(&out.stdout)?;
                        if !out.success() || all.is_empty() {
                            return Err(format!("{}: {out}", node.name));
                        }
                        for (name, labels, v) in &all {
                            let ok = match name.as_str() {
                                "keepalived_vrrp_state" => {
                                    *v == if i == h { 2.0 } else { 1.0 }
                                        && label(labels, "ip_address") == Some(VIP)
                                }
                                "keepalived_become_master_total" => i != h || *v >= 1.0,
                                "keepalived_effective_priority" => *v == f64::from(node.priority),
                                "keepalived_advertisements_received_total" => i == h || *v > 0.0,
                                "keepalived_lvs_rs_up" => {
                                    *v == 1.0
                                        && label(labels, "remote_address")
                                            .is_some_and(|a| REAL_SERVERS.contains(&a))
                                }
                                other => {
                                    return Err(format!(
                                        "the runner has no check for {other}: add one"
                                    ))
                                }
                            };
                            ok.then_some(())
                                .ok_or(format!("{}: {name}{{{labels}}} {v}", node.name))?;
                        }
                        if cmd.contains("keepalived_lvs_rs_up") && all.len() != REAL_SERVERS.len() {
                            return Err(format!("{}: real servers up: {all:?}", node.name));
                        }
                        Ok(())
                    })?;
                }
                Ok(())
            }
            Step::ExporterMetrics => {
                let running: Vec<usize> = (0..self.nodes.len())
                    .filter(|&i| Node::running(&mut self.nodes[i].exporter))
                    .collect();
                (!running.is_empty())
                    .then_some(())
                    .ok_or("no exporter runs")?;
                for i in running {
                    let node = &self.nodes[i];
                    eventually(Duration::from_secs(10), || self.exporter_series(node, cmd))?;
                }
                Ok(())
            }
            Step::ClientHealthz => eventually(Duration::from_secs(15), || {
                let out = self.client.sh(cmd);
                (out.success() && out.stdout.trim() == "ok")
                    .then_some(())
                    .ok_or(format!("client: {out}"))
            }),
            Step::ClientLoop => {
                let n = cmd
                    .split("; do")
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .count()
                    .saturating_sub(3);
                let out = self.client.sh(cmd);
                let oks = out.stdout.lines().filter(|l| *l == "ok").count();
                (out.success() && n >= 2 && oks == n)
                    .then_some(())
                    .ok_or(format!("{n} requests, {oks} ok: {out}"))
            }
            Step::List => {
                let judge = cmd.replacen("ipvsadm-rs", "ipvsadm", 1);
                let h = holder.ok_or("no node holds the VIP")?;
                eventually(Duration::from_secs(5), || {
                    let (ours, theirs) = (
                        self.nodes[h].sh(&self.bin, cmd),
                        self.nodes[h].sh(&self.bin, &judge),
                    );
                    let dests = destinations(&ours.stdout);
                    let both = REAL_SERVERS.iter().all(|rs| {
                        dests.get(&format!("{rs}:6443")).is_some_and(|c| {
                            c.first().map(String::as_str) == Some("Route")
                                && c.get(1).map(String::as_str) == Some("1")
                        })
                    });
                    (ours.success()
                        && both
                        && ours.stdout == theirs.stdout
                        && ours.stdout.contains(SERVICE))
                    .then_some(())
                    .ok_or(format!("ours {ours}\nipvsadm's {theirs}"))
                })
            }
            // The kernel folds its per-CPU counters every 2 s: polled.
            Step::Stats => eventually(Duration::from_secs(6), || {
                let out = on_holder(self)?;
                let dests = destinations(&out.stdout);
                let conns: Vec<u64> = REAL_SERVERS
                    .iter()
                    .map(|rs| {
                        dests
                            .get(&format!("{rs}:6443"))
                            .and_then(|c| c.first()?.parse().ok())
                            .unwrap_or(0)
                    })
                    .collect();
                // Six requests, round robin, after one: each real server took three or more.
                (out.success() && conns.iter().all(|c| *c >= 3))
                    .then_some(())
                    .ok_or(format!("Conns {conns:?}: {out}"))
            }),
            Step::Rate => {
                let out = on_holder(self)?;
                let dests = destinations(&out.stdout);
                let ok = out.success()
                    && out.stdout.contains("CPS")
                    && out.stdout.contains(&format!("TCP  {SERVICE}"))
                    && REAL_SERVERS.iter().all(|rs| {
                        dests
                            .get(&format!("{rs}:6443"))
                            .is_some_and(|c| c.len() == 5)
                    });
                ok.then_some(()).ok_or(format!("{out}"))
            }
            Step::Connections => {
                let out = on_holder(self)?;
                let ok = out.success()
                    && REAL_SERVERS.iter().all(|rs| {
                        out.stdout.lines().any(|l| {
                            l.contains(&format!("{CLIENT}:"))
                                && l.contains(SERVICE)
                                && l.contains(&format!("{rs}:6443"))
                        })
                    });
                ok.then_some(()).ok_or(format!("{out}"))
            }
            Step::Json => eventually(Duration::from_secs(6), || {
                let out = on_holder(self)?;
                let doc: serde_json::Value =
                    serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
                let svc = &doc["services"][0];
                let dests: Vec<(String, String, u64, u64)> = svc["destinations"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|d| {
                                (
                                    d["address"].as_str().unwrap_or("").to_string(),
                                    d["forward"].as_str().unwrap_or("").to_string(),
                                    d["weight"].as_u64().unwrap_or(0),
                                    d["stats"]["conns"].as_u64().unwrap_or(0),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let ok = svc["address"] == VIP
                    && svc["port"] == 6443
                    && svc["scheduler"] == "rr"
                    && dests.len() == 2
                    && dests.iter().all(|(a, f, w, c)| {
                        REAL_SERVERS.contains(&a.as_str()) && f == "route" && *w == 1 && *c >= 3
                    });
                ok.then_some(()).ok_or(format!("{dests:?}: {out}"))
            }),
            Step::StopMaster => {
                let h = holder.ok_or("no node holds the VIP")?;
                let out = self.nodes[h].sh(&self.bin, cmd);
                out.success().then_some(()).ok_or(format!("{out}"))?;
                let node = &mut self.nodes[h];
                eventually(Duration::from_secs(15), || {
                    (!Node::running(&mut node.daemon))
                        .then_some(())
                        .ok_or(format!("{}'s daemon still runs", node.name))
                })?;
                // The daemon removed the VIP and its virtual service on the way out.
                let addrs = node.sh(&self.bin, "ip -br addr show dev eth0");
                let table = node.sh(&self.bin, "ipvsadm -Ln");
                (!addrs.stdout.contains(VIP) && !table.stdout.contains(SERVICE))
                    .then_some(())
                    .ok_or(format!("after the stop: {addrs}\n{table}"))
            }
            Step::StateFile => {
                let h = holder.ok_or("no daemon runs")?;
                for i in self.running_daemons() {
                    let node = &self.nodes[i];
                    eventually(Duration::from_secs(10), || {
                        let out = node.sh(&self.bin, cmd);
                        let doc: serde_json::Value =
                            serde_json::from_str(&out.stdout).map_err(|e| format!("{e}: {out}"))?;
                        let inst = &doc["instances"][0];
                        let ok = inst["name"] == "VI_API"
                            && inst["state"] == if i == h { "MASTER" } else { "BACKUP" }
                            && inst["priority"] == node.priority
                            && inst["master"] == self.nodes[h].addr;
                        ok.then_some(()).ok_or(format!("{}: {inst}", node.name))
                    })?;
                }
                Ok(())
            }
            Step::Tcpdump => {
                let h = holder.ok_or("no node holds the VIP")?;
                let from = format!(
                    "{} > 224.0.0.18: VRRPv2, Advertisement, vrid 51, prio {}",
                    self.nodes[h].addr, self.nodes[h].priority
                );
                for (i, out) in self.on_each(cmd, |_| true) {
                    let adverts = out.stdout.lines().filter(|l| l.contains(&from)).count();
                    (out.success() && adverts == 3)
                        .then_some(())
                        .ok_or(format!(
                            "{}: {adverts} adverts `{from}`: {out}",
                            self.nodes[i].name
                        ))?;
                }
                Ok(())
            }
            Step::NetAdminOnly => {
                let out = on_holder(self)?;
                let dests = destinations(&out.stdout);
                (out.success()
                    && REAL_SERVERS
                        .iter()
                        .all(|rs| dests.contains_key(&format!("{rs}:6443"))))
                .then_some(())
                .ok_or(format!("{out}"))
            }
            Step::NoCapabilities => {
                let ours = on_holder(self)?;
                let theirs = self.nodes[holder.unwrap_or(0)]
                    .sh(&self.bin, &cmd.replacen("ipvsadm-rs", "ipvsadm", 1));
                (!ours.success()
                    && ours.status == theirs.status
                    && ours.stderr == theirs.stderr
                    && !ours.stderr.is_empty())
                .then_some(())
                .ok_or(format!("ours {ours}\nipvsadm's {theirs}"))
            }
        }
    }

    /// A kernel parameter as node `i` reads it.
    /// The nodes whose keepalived-lite still runs.
    fn running_daemons(&mut self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| Node::running(&mut self.nodes[i].daemon))
            .collect()
    }

    fn sysctl(&self, i: usize, name: &str) -> Option<u64> {
        self.nodes[i]
            .sh(&self.bin, &format!("sysctl -n {name}"))
            .stdout
            .trim()
            .parse()
            .ok()
    }

    /// The exporter's series `cmd` selects on `node`, each checked against the table
    /// (the real ipvsadm) and the parameters.
    fn exporter_series(&self, node: &Node, cmd: &str) -> Result<(), String> {
        let out = node.sh(&self.bin, cmd);
        let all = series(&out.stdout)?;
        if !out.success() || all.is_empty() {
            return Err(format!("{}: {out}", node.name));
        }
        let stats = node.sh(&self.bin, "ipvsadm -Ln --stats --exact").stdout;
        let column = |c: usize| -> f64 {
            stats
                .lines()
                .filter(|l| l.starts_with("TCP ") || l.starts_with("UDP "))
                .filter_map(|l| l.split_whitespace().nth(2 + c)?.parse::<f64>().ok())
                .sum()
        };
        let mut backends = BTreeMap::<&str, Vec<&str>>::new();
        for (name, labels, v) in &all {
            let ok = match name.as_str() {
                "node_ipvs_connections_total" => *v == column(0),
                "node_ipvs_incoming_bytes_total" => *v == column(3),
                "node_ipvs_outgoing_bytes_total" => *v == column(4),
                "node_ipvs_backend_weight"
                | "node_ipvs_backend_connections_active"
                | "node_ipvs_backend_connections_inactive" => {
                    let rs = label(labels, "remote_address").unwrap_or("");
                    backends.entry(name).or_default().push(rs);
                    REAL_SERVERS.contains(&rs)
                        && label(labels, "local_address") == Some(VIP)
                        && (name != "node_ipvs_backend_weight" || *v == 1.0)
                }
                "ipvs_node_sysctl" => {
                    match GUIDE.iter().find(|(p, _)| label(labels, "name") == Some(p)) {
                        Some((_, want)) => *v == *want as f64,
                        None => true,
                    }
                }
                other => return Err(format!("the runner has no check for {other}: add one")),
            };
            ok.then_some(())
                .ok_or(format!("{}: {name}{{{labels}}} {v}\n{stats}", node.name))?;
        }
        for (family, rs) in backends {
            (rs.len() == REAL_SERVERS.len())
                .then_some(())
                .ok_or(format!("{}: {family} for {rs:?}", node.name))?;
        }
        if cmd.contains("ipvs_node_sysctl") {
            for (p, _) in GUIDE {
                all.iter()
                    .any(|(_, l, _)| label(l, "name") == Some(p))
                    .then_some(())
                    .ok_or(format!("{}: no {p}", node.name))?;
            }
        }
        Ok(())
    }
}
