//! Lab benchmark: ipvsadm-rs and the real ipvsadm timed side by side, in one run, on
//! the same kernel (the lab's), with ratios. Machines here are noisy: medians of
//! several runs, and ratios, are what to quote. The ratio is ipvsadm-rs time over
//! ipvsadm time: below 1 means ipvsadm-rs is faster.
//!
//! `cargo bench --bench lab_vs_ipvsadm` (builds `ipvsadm-rs` first with
//! `cargo build --release -p ipvs-cli`). Set `LAB_BENCH_SERVICES` for table sizes
//! (default "100,1000") and `LAB_BENCH_RUNS` for runs per measurement (default 11).

use ipvs_lab::{boot, in_lab, must, BootOptions};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    if !in_lab() {
        let exe = std::env::current_exe().expect("bench binary");
        let mut argv = vec![exe.display().to_string()];
        argv.extend(std::env::args().skip(1));
        let opts = BootOptions {
            mem_mib: 768,
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
    let ours = ours();
    let sizes: Vec<usize> = std::env::var("LAB_BENCH_SERVICES")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("LAB_BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(11);
    println!(
        "ipvsadm-rs: {}\nruns per measurement: {runs}; times are medians\n",
        ours.display()
    );
    println!(
        "{:<34} {:>12} {:>12} {:>8}",
        "operation", "ipvsadm", "ipvsadm-rs", "rs/ipvsadm"
    );
    for &n in &sizes {
        let rules = restore_input(n);
        let file = std::env::temp_dir().join(format!("lab-bench-{}-{n}.rules", std::process::id()));
        std::fs::write(&file, &rules).expect("write rules");
        let file = file.display().to_string();
        let restore = |bin: &str| {
            must("ipvsadm -C");
            time(bin, &["-R"], Some(&file))
        };
        compare(&format!("restore {n} svc x 4 dest (-R)"), runs, |bin| {
            restore(bin)
        });
        must(&format!("ipvsadm -C && ipvsadm -R < {file}"));
        for (label, args) in [
            ("list (-Ln)", &["-Ln"][..]),
            ("list stats (-Ln --stats)", &["-Ln", "--stats"][..]),
            ("save (-Sn)", &["-Sn"][..]),
        ] {
            compare(&format!("{label} {n} svc"), runs, |bin| {
                time(bin, args, None)
            });
        }
        let _ = std::fs::remove_file(&file);
    }
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

/// `n` TCP services on 198.51.100.0/24 ports, each with four masquerading destinations.
fn restore_input(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        let vip = format!("198.51.100.{}:{}", 1 + i % 250, 1000 + i / 250);
        s.push_str(&format!("-A -t {vip} -s wrr\n"));
        for d in 0..4 {
            s.push_str(&format!(
                "-a -t {vip} -r 192.0.2.{}:80 -m -w {}\n",
                10 + d,
                d + 1
            ));
        }
    }
    s
}

/// Runs `bin args` (stdin from `input`, output discarded) and returns how long it took.
fn time(bin: &str, args: &[&str], input: Option<&str>) -> Duration {
    let stdin = match input {
        Some(path) => Stdio::from(std::fs::File::open(path).expect("input")),
        None => Stdio::null(),
    };
    let start = Instant::now();
    let status = Command::new(bin)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::null())
        .status()
        .expect(bin);
    let took = start.elapsed();
    assert!(status.success(), "{bin} {args:?} failed: {status}");
    took
}

fn compare(label: &str, runs: usize, mut f: impl FnMut(&str) -> Duration) {
    let ours = ours().display().to_string();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    // Interleaved, so drift in the machine's load hits both alike.
    for _ in 0..runs {
        a.push(f("ipvsadm"));
        b.push(f(&ours));
    }
    let (ma, mb) = (median(&mut a), median(&mut b));
    println!(
        "{label:<34} {:>10.2}ms {:>10.2}ms {:>7.2}x",
        ma.as_secs_f64() * 1e3,
        mb.as_secs_f64() * 1e3,
        mb.as_secs_f64() / ma.as_secs_f64()
    );
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}
