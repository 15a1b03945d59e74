//! Differential test of argument handling against the real ipvsadm 1.31.
//!
//! `fixtures/args_golden.json` holds, for every line of `fixtures/arg_cases.txt`,
//! what the real ipvsadm printed and returned (captured in a kernel with IPVS by
//! `fixtures/capture_args.py`; the lab test `cli_args::` re-runs the comparison
//! live). Here, on any host, every case that ipvsadm rejects must be rejected by
//! `ipvsadm-rs` with the same stdout, stderr and exit code, and every case it
//! accepts must parse.

#![allow(clippy::unwrap_used)]

use std::os::unix::process::CommandExt;
use std::process::Command;

use ipvs_cli::args::{self, Action};
use ipvs_core::Info;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Case {
    args: String,
    status: i32,
    stdout: String,
    stderr: String,
}

fn cases() -> Vec<Case> {
    let text = include_str!("fixtures/args_golden.json");
    serde_json::from_str(text).expect("fixture is valid JSON")
}

/// POSIX-sh word splitting for the fixture lines (single quotes only).
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' | '\t' if !quoted => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// Messages libipvs gives for kernel errors: cases that reached the kernel.
const KERNEL_MESSAGES: &[&str] = &[
    "Service already exists\n",
    "Scheduler or persistence engine not found\n",
    "No such service\n",
    "Service not defined\n",
    "Destination already exists\n",
    "No such destination\n",
    "No daemon is running\n",
    "No such device\n",
    "Invalid operation.  Possibly wrong module version, address not unicast, ...\n",
];

#[test]
fn every_rejected_command_line_fails_like_ipvsadm() {
    let info = Info::new(0x010201, 4096);
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for case in cases() {
        let argv = words(&case.args);
        match args::parse("ipvsadm", &argv, false) {
            Err(f) => {
                compared += 1;
                if (f.code, f.message.as_str(), "")
                    != (case.status, case.stderr.as_str(), case.stdout.as_str())
                {
                    mismatches.push(format!(
                        "{:?}\n  ipvsadm: {} {:?} {:?}\n  ours:    {} {:?}",
                        case.args, case.status, case.stdout, case.stderr, f.code, f.message
                    ));
                }
            }
            Ok(Action::Help) => {
                compared += 1;
                assert_eq!(
                    ipvs_cli::usage::usage("ipvsadm", &info),
                    case.stdout,
                    "{}",
                    case.args
                );
                assert_eq!(case.status, 0);
            }
            Ok(Action::Version) => {
                compared += 1;
                assert_eq!(
                    ipvs_cli::usage::version_line(&info),
                    case.stdout,
                    "{}",
                    case.args
                );
            }
            Ok(_) => {
                // ipvsadm accepted the arguments: what it printed came from the kernel.
                let kernel =
                    case.stderr.is_empty() || KERNEL_MESSAGES.contains(&case.stderr.as_str());
                if !kernel {
                    mismatches.push(format!(
                        "{:?}\n  ipvsadm rejected it: {} {:?}\n  ours accepted it",
                        case.args, case.status, case.stderr
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
    assert!(compared > 150, "only {compared} cases compared");
}

#[test]
fn the_binary_prints_and_exits_like_ipvsadm_on_bad_arguments() {
    let bin = env!("CARGO_BIN_EXE_ipvsadm-rs");
    let mut checked = 0;
    for case in cases() {
        let argv = words(&case.args);
        if args::parse("ipvsadm", &argv, false).is_ok() {
            continue; // needs a kernel: the lab's cli_args test covers it
        }
        let out = Command::new(bin)
            .arg0("ipvsadm")
            .args(&argv)
            .output()
            .expect("run ipvsadm-rs");
        assert_eq!(
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).as_ref(),
                String::from_utf8_lossy(&out.stderr).as_ref()
            ),
            (
                Some(case.status),
                case.stdout.as_str(),
                case.stderr.as_str()
            ),
            "{}",
            case.args
        );
        checked += 1;
    }
    assert!(checked > 140, "only {checked} cases run");
}

#[test]
fn extensions_are_refused_where_they_do_not_apply() {
    let p = |s: &str| args::parse("ipvsadm", &words(s), false);
    assert!(matches!(p("-L --json"), Ok(Action::List { .. })));
    assert!(matches!(
        p("-S --lossless"),
        Ok(Action::Save { lossless: true, .. })
    ));
    assert_eq!(
        p("-S --json").unwrap_err().message,
        "Illegal 'json' option with the 'save' command\n"
    );
    assert_eq!(
        p("-L --lossless").unwrap_err().message,
        "Illegal 'lossless' option with the 'list' command\n"
    );
    assert_eq!(
        p("-L --json --json").unwrap_err().message,
        "multiple 'json' options specified\n"
    );
    assert_eq!(
        p("-L -c --info").unwrap_err().message,
        "options conflicts in the list command\n"
    );
}
