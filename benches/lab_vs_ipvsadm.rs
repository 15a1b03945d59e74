//! Lab benchmark: ipvsadm-rs and the real ipvsadm 1.31 timed side by side, in one
//! run, on the same kernel (the lab's), with ratios, peak memory, system calls per
//! listed service and growth from the smaller table to the larger. Machines here
//! are noisy: medians of several runs, and ratios, are what to quote. A ratio is
//! ipvsadm-rs over ipvsadm: below 1 means ipvsadm-rs is faster (or smaller).
//!
//! `cargo bench --bench lab_vs_ipvsadm` (builds and uses the release `ipvsadm-rs`:
//! run `cargo build --release -p ipvs-cli` first). Environment:
//! - `LAB_BENCH_SERVICES`: table sizes (default "1000,10000");
//! - `LAB_BENCH_DESTS`: destinations per service (default 10);
//! - `LAB_BENCH_RUNS`: runs per measurement (default 3);
//! - `LAB_BENCH_OPS`: which groups to run (default "restore,list,apply").
//!
//! Every timed restore runs in a fresh network namespace: after a flush the kernel
//! keeps deleted destinations in a trash list it searches on every add, so a
//! restore after another restore's flush would pay for it.

use std::collections::BTreeMap;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipvs_core::apply::{ApplyOptions, Scope, TableSpec};
use ipvs_core::{Handle, Netns};
use ipvs_lab::{boot, ensure_packages, in_lab, must, BootOptions};

fn main() {
    if !in_lab() {
        if let Err(e) = ensure_packages(&[("/usr/bin/strace", "strace"), ("/usr/bin/time", "time")])
        {
            eprintln!("lab_vs_ipvsadm: {e}");
            std::process::exit(1);
        }
        let exe = std::env::current_exe().expect("bench binary");
        let mut argv = vec![exe.display().to_string()];
        argv.extend(std::env::args().skip(1));
        let opts = BootOptions {
            mem_mib: 1536,
            timeout: Duration::from_secs(5400),
            ..BootOptions::default()
        };
        match boot(&argv, &opts) {
            Ok(out) => {
                print!("{}", out.stdout);
                eprint!("{}", out.stderr);
                std::process::exit(out.status);
            }
            Err(e) => {
                eprintln!("lab_vs_ipvsadm: {e}");
                std::process::exit(1);
            }
        }
    }
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let sizes: Vec<usize> = env("LAB_BENCH_SERVICES", "1000,10000")
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let dests: usize = env("LAB_BENCH_DESTS", "10").parse().unwrap_or(10);
    let runs: usize = env("LAB_BENCH_RUNS", "3").parse().unwrap_or(3).max(1);
    let ops = env("LAB_BENCH_OPS", "restore,list,apply");
    let wanted = |group: &str| ops.split(',').any(|o| o.trim() == group);
    let ours = ours();
    println!("kernel: {}", must("uname -sr").stdout.trim());
    println!("ipvsadm: {}", must("ipvsadm --version").stdout.trim());
    println!("ipvsadm-rs: {}", ours.display());
    println!(
        "runs per measurement: {runs}; times are medians; memory is peak RSS (max over runs)\n"
    );
    println!(
        "{:<44} {:>11} {:>11} {:>6} {:>9} {:>9} {:>6}",
        "operation", "ipvsadm", "ipvsadm-rs", "ratio", "RSS ipvsadm", "RSS rs", "ratio"
    );
    let mut growth: BTreeMap<String, Vec<(usize, f64, f64)>> = BTreeMap::new();
    let mut syscalls = Vec::new();
    for &n in &sizes {
        let rules = restore_input(n, dests);
        let file = std::env::temp_dir().join(format!("lab-bench-{}-{n}.rules", std::process::id()));
        std::fs::write(&file, &rules).expect("write rules");
        let lines = rules.lines().count();
        let mut record = |op: &str, r: &Row| {
            growth.entry(op.to_string()).or_default().push((
                n,
                r.theirs.0.as_secs_f64(),
                r.ours.0.as_secs_f64(),
            ));
        };
        // Restore, each run in a fresh namespace for each tool.
        if wanted("restore") {
            let row = compare(runs, |bin| {
                let ns = Ns::new();
                let m = ns.run(bin, &["-R"], Some(&file));
                assert_eq!(ns.count(), n, "{bin} -R did not load {n} services");
                m
            });
            row.print(&format!("restore {n} svc x {dests} ({lines} lines)"));
            record("restore", &row);
        }
        // Listings, on one namespace holding the table.
        let table_ns = Ns::new();
        table_ns.run(&ours.display().to_string(), &["-R"], Some(&file));
        if wanted("list") {
            for (op, args) in [
                ("list -Ln", &["-Ln"][..]),
                ("save -Sn", &["-Sn"][..]),
                (
                    "stats -Ln --stats --exact",
                    &["-Ln", "--stats", "--exact"][..],
                ),
            ] {
                let theirs_out = table_ns.output("ipvsadm", args);
                let ours_out = table_ns.output(&ours.display().to_string(), args);
                assert!(theirs_out == ours_out, "{op}: outputs differ");
                let row = compare(runs, |bin| table_ns.run(bin, args, None));
                row.print(&format!("{op} {n} svc (byte-identical)"));
                record(op, &row);
            }
            // JSON: only ours has it; set beside ipvsadm's -Ln.
            let row = compare(runs, |bin| {
                if bin == "ipvsadm" {
                    table_ns.run(bin, &["-Ln"], None)
                } else {
                    table_ns.run(bin, &["-Ln", "--json"], None)
                }
            });
            row.print(&format!("-Ln (ipvsadm) vs -Ln --json (rs) {n} svc"));
            for bin in ["ipvsadm", &ours.display().to_string()] {
                syscalls.push((n, bin.to_string(), table_ns.syscalls(bin, &["-Ln"])));
            }
        }
        // Apply of a 1% change through ipvs-core, against a full restore by ipvsadm-rs.
        if wanted("apply") {
            let (full, delta, sent) = apply_one_percent(&table_ns, dests);
            let restore_ms = row_restore_ms(&growth, n);
            for (label, took) in [("apply", full), ("apply_delta", delta)] {
                println!(
                    "{:<44} {:>10.1}ms  {sent} changes sent; / full restore by ipvsadm-rs ({restore_ms:.1}ms) = {:.3}",
                    format!("{label} 1% change {n} svc (ipvs-core)"),
                    took.as_secs_f64() * 1e3,
                    took.as_secs_f64() * 1e3 / restore_ms,
                );
            }
        }
        let _ = std::fs::remove_file(&file);
    }
    println!("\nsystem calls of one -Ln (netlink sends; receives: recvmsg, recvfrom or recvmmsg; counted by strace -f -c):");
    for (n, bin, (sends, recvs)) in &syscalls {
        println!(
            "  {n:>6} svc {bin:<40} send {sends:>7} recv {recvs:>7}  per service {:.2} send, {:.2} recv",
            *sends as f64 / *n as f64,
            *recvs as f64 / *n as f64
        );
    }
    if sizes.len() >= 2 {
        println!(
            "\ngrowth from the smallest to the largest table (time ratio; linear = size ratio):"
        );
        for (op, points) in &growth {
            let (first, last) = (points[0], points[points.len() - 1]);
            println!(
                "  {op:<28} size x{:<5} ipvsadm x{:<7.2} ipvsadm-rs x{:.2}",
                last.0 / first.0.max(1),
                last.1 / first.1,
                last.2 / first.2
            );
        }
    }
}

fn row_restore_ms(growth: &BTreeMap<String, Vec<(usize, f64, f64)>>, n: usize) -> f64 {
    growth
        .get("restore")
        .and_then(|p| p.iter().find(|(size, ..)| *size == n))
        .map(|(_, _, ours)| ours * 1e3)
        .unwrap_or(f64::NAN)
}

/// Edits 1% of the services of the table in `ns` (per hundred services: a
/// scheduler, a weight, one service removed) through ipvs-core: `apply`
/// (which reads the whole table first) and `apply_delta` (which reads only the
/// changed services); the times and the number of changes sent.
fn apply_one_percent(ns: &Ns, dests: usize) -> (Duration, Duration, usize) {
    let mut h = Handle::in_netns(&Netns::named(&ns.name)).expect("handle in the table's namespace");
    let mut desired: TableSpec = h.table().expect("table").spec();
    let original = desired.clone();
    let step = 100;
    let mut i = 0;
    while i + 3 < desired.entries.len() {
        desired.entries[i].service.scheduler = ipvs_core::Scheduler::Wlc;
        if dests > 1 {
            desired.entries[i + 1].destinations[0].weight += 7;
        }
        i += step;
    }
    let removed: Vec<_> = desired
        .entries
        .iter()
        .skip(2)
        .step_by(step)
        .map(|e| e.service.key)
        .collect();
    desired
        .entries
        .retain(|e| !removed.contains(&e.service.key));
    let options = ApplyOptions::new(Scope::all());
    let start = Instant::now();
    let report = h.apply(&desired, &options).expect("apply");
    let full = start.elapsed();
    assert!(report.is_ok(), "apply failed");
    assert!(h.apply(&desired, &options).expect("again").plan.is_empty());
    // Back, then the same change again through apply_delta.
    assert!(h.apply(&original, &options).expect("back").is_ok());
    let start = Instant::now();
    let delta = h
        .apply_delta(&original, &desired, &options)
        .expect("apply_delta");
    let took = start.elapsed();
    assert!(delta.is_ok(), "apply_delta failed");
    // The same changes (a re-added service lists its destinations in
    // another order, so compare what each change is about).
    let about = |p: &ipvs_core::apply::Plan| {
        let mut v: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(about(&delta.plan), about(&report.plan));
    assert!(h.apply(&desired, &options).expect("again").plan.is_empty());
    (full, took, report.plan.changes.len())
}

/// A fresh network namespace inside the lab, deleted on drop.
struct Ns {
    name: String,
    file: std::fs::File,
}

static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Ns {
    fn new() -> Ns {
        let name = format!(
            "bench{}",
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        // Masquerading destinations must be routable unicast addresses.
        must(&format!(
            "ip netns add {name} && ip -n {name} link set lo up \
             && ip -n {name} link add d0 type dummy && ip -n {name} link set d0 up \
             && ip -n {name} route add default dev d0"
        ));
        let file = std::fs::File::open(format!("/run/netns/{name}")).expect("netns file");
        Ns { name, file }
    }

    fn command(&self, bin: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin);
        cmd.args(args);
        let fd = self.file.as_raw_fd();
        // SAFETY: setns is async-signal-safe; it only moves the child, before exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs `bin args` in the namespace (stdin from `input`, stdout discarded):
    /// how long it took and its peak RSS in KiB. The peak comes from GNU time
    /// (`%M`), which forks the tool from its own small image: a child's
    /// `ru_maxrss` counts the image it was forked from, so a tool spawned
    /// straight from this (large) benchmark would report the benchmark's size.
    fn run(&self, bin: &str, args: &[&str], input: Option<&PathBuf>) -> (Duration, u64) {
        let stdin = match input {
            Some(path) => Stdio::from(std::fs::File::open(path).expect("input")),
            None => Stdio::null(),
        };
        let peak = tempfile_path("peak");
        let mut full = vec![
            "-f",
            "%M",
            "-o",
            peak.to_str().expect("utf-8 temp path"),
            bin,
        ];
        full.extend_from_slice(args);
        let start = Instant::now();
        let status = self
            .command("/usr/bin/time", &full)
            .stdin(stdin)
            .stdout(Stdio::null())
            .status()
            .expect("/usr/bin/time");
        let took = start.elapsed();
        assert!(status.success(), "{bin} {args:?} failed: {status}");
        let text = std::fs::read_to_string(&peak).expect("GNU time's output");
        let _ = std::fs::remove_file(&peak);
        let kib = text
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("GNU time printed {text:?}"));
        (took, kib)
    }

    fn output(&self, bin: &str, args: &[&str]) -> Vec<u8> {
        let out = self.command(bin, args).output().expect(bin);
        assert!(
            out.status.success(),
            "{bin} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    fn count(&self) -> usize {
        Handle::in_netns(&Netns::named(&self.name))
            .and_then(|mut h| h.services())
            .expect("services")
            .len()
    }

    /// Netlink sends and receives of `bin args`, by `strace -f -c`.
    fn syscalls(&self, bin: &str, args: &[&str]) -> (u64, u64) {
        let mut full = vec![
            "-f",
            "-c",
            "-e",
            "trace=sendmsg,sendto,recvmsg,recvfrom,recvmmsg",
            bin,
        ];
        full.extend_from_slice(args);
        let out = self.command("strace", &full).output().expect("strace");
        let text = String::from_utf8_lossy(&out.stderr);
        let calls = |names: &[&str]| -> u64 {
            text.lines()
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let name = *f.last()?;
                    if !names.contains(&name) {
                        return None;
                    }
                    // % time, seconds, usecs/call, calls, [errors,] syscall
                    f.get(3)?.parse::<u64>().ok()
                })
                .sum()
        };
        (
            calls(&["sendmsg", "sendto"]),
            calls(&["recvmsg", "recvfrom", "recvmmsg"]),
        )
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A fresh path in the temporary directory (hostfs is shared with the host,
/// so the name carries the process id).
fn tempfile_path(what: &str) -> PathBuf {
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("lab-bench-{}-{what}-{n}", std::process::id()))
}

fn ours() -> PathBuf {
    let exe = std::env::current_exe().expect("bench binary");
    // target/<profile>/deps/<bench> -> target/<profile>/ipvsadm-rs, preferring release.
    let target = exe
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .unwrap_or_default();
    ["release", "debug"]
        .iter()
        .map(|p| target.join(p).join("ipvsadm-rs"))
        .find(|p| p.exists())
        .expect("ipvsadm-rs not built: cargo build --release -p ipvs-cli")
}

/// `n` TCP services on 198.51.100.0/24 and 203.0.113.0/24 ports, each with
/// `dests` masquerading destinations.
fn restore_input(n: usize, dests: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let net = if i % 2 == 0 {
            "198.51.100"
        } else {
            "203.0.113"
        };
        let vip = format!("{net}.{}:{}", 1 + (i / 2) % 250, 1000 + i / 500);
        s.push_str(&format!("-A -t {vip} -s wrr\n"));
        for d in 0..dests {
            s.push_str(&format!(
                "-a -t {vip} -r 192.0.2.{}:{} -m -w {}\n",
                10 + d % 200,
                80 + d / 200,
                d % 5 + 1
            ));
        }
    }
    s
}

/// Medians and peak memory of both tools, run alternately.
struct Row {
    theirs: (Duration, u64),
    ours: (Duration, u64),
}

impl Row {
    fn print(&self, label: &str) {
        println!(
            "{label:<44} {:>9.1}ms {:>9.1}ms {:>6.2} {:>7.1}MB {:>7.1}MB {:>6.2}",
            self.theirs.0.as_secs_f64() * 1e3,
            self.ours.0.as_secs_f64() * 1e3,
            self.ours.0.as_secs_f64() / self.theirs.0.as_secs_f64(),
            self.theirs.1 as f64 / 1024.0,
            self.ours.1 as f64 / 1024.0,
            self.ours.1 as f64 / self.theirs.1.max(1) as f64,
        );
    }
}

fn compare(runs: usize, mut f: impl FnMut(&str) -> (Duration, u64)) -> Row {
    let ours = ours().display().to_string();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // Interleaved, so drift in the machine's load hits both alike.
    for _ in 0..runs {
        a.push(f("ipvsadm"));
        b.push(f(&ours));
    }
    let median = |v: &mut Vec<(Duration, u64)>| {
        let rss = v.iter().map(|x| x.1).max().unwrap_or(0);
        v.sort();
        (v[v.len() / 2].0, rss)
    };
    Row {
        theirs: median(&mut a),
        ours: median(&mut b),
    }
}
