//! Project automation (`cargo xtask <command>`).
//!
//! - `demo`: inside the lab, program a virtual service with `ipvsadm-rs`, send real
//!   traffic from a client namespace to three real servers, print the table with
//!   per-destination stats and its JSON.
//! - `test`: the whole suite: `cargo fmt --check`, clippy and rustdoc (warnings are errors),
//!   unit tests, lab tests, interop tests, then a minute of
//!   fuzzing of ipvs-core's decoder (`FUZZ_SECONDS` changes the minute). Arguments
//!   after `test` go to `cargo test` and skip the fuzzing (for running a part).
//! - `shell`: an interactive shell inside the lab.
//! - `lab -- CMD...`: run one command inside the lab and exit with its status.

use ipvs_lab::{boot, ensure_packages, BootOptions, TcpServer, Topology, REQUIRED_PACKAGES};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

const USAGE: &str = "usage: cargo xtask <demo | test | shell | lab -- CMD...>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("demo") => demo(),
        Some("demo-inside") => demo_inside(),
        Some("test") => test(&args[1..]),
        Some("shell") => shell(),
        Some("lab") => lab(&args[1..]),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("xtask: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn cargo(args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("+ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

fn code(status: i32) -> ExitCode {
    ExitCode::from(u8::try_from(status).unwrap_or(1))
}

fn test(extra: &[String]) -> Result<ExitCode, String> {
    ensure_packages(REQUIRED_PACKAGES).map_err(|e| e.to_string())?;
    if extra.is_empty() {
        // Style and lints first: they fail in seconds, the suite takes minutes.
        cargo(&["fmt", "--all", "--check"])?;
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ])?;
        // Broken intra-doc links are errors too: rustdoc is the library's manual.
        cargo(&[
            "doc",
            "--workspace",
            "--no-deps",
            "--config",
            "build.rustdocflags=[\"-D\", \"warnings\"]",
        ])?;
    }
    // Lab and interop tests run the workspace's binaries; build them first.
    cargo(&["build", "--workspace", "--bins", "--exclude", "xtask"])?;
    let mut args = vec!["test", "--workspace"];
    args.extend(extra.iter().map(String::as_str));
    let (passed, failed) = cargo_test(&args)?;
    if extra.is_empty() {
        fuzz_smoke()?;
    }
    // One closing line for the whole run (the fuzzer's output comes last otherwise).
    println!("xtask test: {passed} passed, {failed} failed");
    Ok(ExitCode::SUCCESS)
}

/// Runs `cargo test ...`, passing its output through, and adds up the `test result:`
/// lines of every test binary.
fn cargo_test(args: &[&str]) -> Result<(u64, u64), String> {
    use std::io::BufRead;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("+ cargo {}", args.join(" "));
    let mut child = Command::new(&cargo)
        .args(args)
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("running cargo: {e}"))?;
    let (mut passed, mut failed) = (0, 0);
    if let Some(out) = child.stdout.take() {
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                let count = |word: &str| {
                    rest.split(';')
                        .find_map(|part| {
                            part.trim()
                                .trim_start_matches("ok. ")
                                .trim_start_matches("FAILED. ")
                                .strip_suffix(word)
                        })
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .unwrap_or(0)
                };
                passed += count(" passed");
                failed += count(" failed");
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok((passed, failed))
    } else {
        println!("xtask test: {passed} passed, {failed} failed");
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}

/// About a minute of coverage-guided fuzzing of ipvs-core's decoder, seeded with the
/// kernel-captured fixtures. cargo-fuzz is installed when missing; `RUSTC_BOOTSTRAP=1`
/// lets the stable toolchain use the sanitizer flags it needs.
fn fuzz_smoke() -> Result<(), String> {
    // libfuzzer-sys builds libFuzzer's C++ sources.
    ensure_packages(&[("/usr/bin/g++", "g++")]).map_err(|e| e.to_string())?;
    let have_fuzz = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["fuzz", "--version"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have_fuzz {
        cargo(&["install", "cargo-fuzz", "--locked"])?;
    }
    let corpus = root().join("target/fuzz-corpus/decode");
    let corpus = corpus.display().to_string();
    cargo(&[
        "run",
        "--quiet",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--bin",
        "seed",
        "--",
        &corpus,
    ])?;
    let secs = std::env::var("FUZZ_SECONDS").unwrap_or_else(|_| "60".into());
    std::env::set_var("RUSTC_BOOTSTRAP", "1");
    cargo(&[
        "fuzz",
        "run",
        "decode",
        "--fuzz-dir",
        "fuzz",
        &corpus,
        "--",
        &format!("-max_total_time={secs}"),
    ])
}

fn shell() -> Result<ExitCode, String> {
    let opts = BootOptions {
        interactive: true,
        timeout: Duration::from_secs(24 * 3600),
        ..BootOptions::default()
    };
    let out = boot(&["/bin/bash".into(), "-i".into()], &opts).map_err(|e| e.to_string())?;
    Ok(code(out.status))
}

fn lab(args: &[String]) -> Result<ExitCode, String> {
    let argv: Vec<String> = args.iter().skip_while(|a| *a == "--").cloned().collect();
    if argv.is_empty() {
        return Err(USAGE.into());
    }
    let out = boot(&argv, &BootOptions::default()).map_err(|e| e.to_string())?;
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    Ok(code(out.status))
}

fn demo() -> Result<ExitCode, String> {
    ensure_packages(REQUIRED_PACKAGES).map_err(|e| e.to_string())?;
    cargo(&["build", "--workspace", "--bins", "--exclude", "xtask"])?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let ipvsadm = exe.with_file_name("ipvsadm-rs");
    let opts = BootOptions {
        env: std::env::vars()
            .chain([("DEMO_IPVSADM".to_string(), ipvsadm.display().to_string())])
            .collect(),
        ..BootOptions::default()
    };
    println!("Booting the lab (user-mode Linux with IPVS)...");
    let out = boot(&[exe.display().to_string(), "demo-inside".into()], &opts)
        .map_err(|e| e.to_string())?;
    print!("{}", out.stdout);
    eprint!("{}", out.stderr);
    Ok(code(out.status))
}

/// Runs one command of the demo, echoing it as an operator would type it.
fn step(ipvsadm: &str, args: &str) -> Result<String, String> {
    let name = Path::new(ipvsadm)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    println!("# {name} {args}");
    let out = Command::new(ipvsadm)
        .args(args.split_whitespace())
        .output()
        .map_err(|e| format!("running {ipvsadm}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("`{name} {args}` failed ({})", out.status))
    }
}

fn demo_inside() -> Result<ExitCode, String> {
    let ipvsadm = std::env::var("DEMO_IPVSADM").map_err(|_| "DEMO_IPVSADM not set".to_string())?;
    println!("Topology: client 203.0.113.2 -> director (VIP 203.0.113.10) -> real servers 198.51.100.10-12 (NAT)\n");
    let topo = Topology::nat(3);
    let _servers: Vec<TcpServer> = topo
        .servers
        .iter()
        .enumerate()
        .map(|(i, rs)| {
            let body = format!("hello from real server rs{i} ({})\n", rs.addr);
            let reply = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
                body.len()
            );
            TcpServer::reply(&rs.ns, SocketAddr::new(rs.addr, 8080), reply)
        })
        .collect();

    let vip = topo.vip;
    step(&ipvsadm, &format!("-A -t {vip}:80 -s wrr"))?;
    for (i, rs) in topo.servers.iter().enumerate() {
        step(
            &ipvsadm,
            &format!("-a -t {vip}:80 -r {}:8080 -m -w {}", rs.addr, i + 1),
        )?;
    }

    let requests = 60;
    println!("\nSending {requests} HTTP requests from the client namespace to {vip}:80 ...");
    let addr = SocketAddr::new(vip, 80);
    let replies = topo
        .client
        .spawn(move || -> Result<Vec<String>, String> {
            (0..requests)
                .map(|_| {
                    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                        .map_err(|e| format!("connect {addr}: {e}"))?;
                    std::io::Write::write_all(&mut s, b"GET / HTTP/1.0\r\n\r\n")
                        .map_err(|e| e.to_string())?;
                    let mut reply = String::new();
                    s.read_to_string(&mut reply).map_err(|e| e.to_string())?;
                    Ok(reply.lines().last().unwrap_or_default().to_string())
                })
                .collect()
        })
        .join()
        .map_err(|_| "client thread panicked".to_string())??;
    for (i, rs) in topo.servers.iter().enumerate() {
        let n = replies
            .iter()
            .filter(|r| r.contains(&format!("rs{i} ")))
            .count();
        println!(
            "  rs{i} ({}, weight {}) answered {n} requests",
            rs.addr,
            i + 1
        );
    }
    // The kernel folds its per-CPU counters into the reported stats every 2 s.
    std::thread::sleep(Duration::from_millis(2500));
    println!();
    step(&ipvsadm, "-Ln --stats")?;
    println!();
    step(&ipvsadm, "-Ln --stats --json")?;
    Ok(ExitCode::SUCCESS)
}
