//! A real-kernel IPVS lab.
//!
//! The kernels of development machines and CI have no IPVS, and a test that talks to a
//! fake kernel proves nothing. This crate boots Debian's user-mode-linux kernel (a real
//! Linux 6.1 that runs as an ordinary process, with IPVS built as modules) with the
//! host's root filesystem visible through hostfs, runs a workload inside it and hands
//! back the workload's exit status, stdout and stderr.
//!
//! On top of that it offers what IPVS tests need inside the kernel: named network
//! namespaces ([`Netns`]), veth pairs, bridges, addresses, routes and sysctls, and
//! ready-made client / director / real-server shapes ([`Topology`]).
//!
//! # Running a test in the lab
//!
//! ```no_run
//! use ipvs_lab::{lab_test, run};
//!
//! lab_test! {
//!     /// The kernel answers an empty table.
//!     fn empty_table() {
//!         let out = run(&["ipvsadm", "-Ln"]);
//!         assert_eq!(out.status, 0, "{out}");
//!     }
//! }
//! ```
//!
//! Where the test runs is chosen by the `IPVS_LAB` variable (see [`Mode`]): by default
//! on a host without IPVS each lab test boots the lab and re-runs itself inside it; with
//! `IPVS_LAB=host` it runs directly on a host whose kernel has IPVS. Inside, every test
//! body runs on its own thread in a fresh network namespace, so tests never see each
//! other's IPVS tables and never touch the host's.

#![warn(missing_docs)]

mod boot;
mod net;
mod packages;
mod traffic;

pub use boot::{boot, under_ci, BootError, BootOptions, Mode};
pub use net::{veth, Netns, Server, TcpServer, Topology, TopologyKind};
pub use packages::{ensure_packages, PackageError, REQUIRED_PACKAGES};
pub use traffic::{connect_stream, HeldConnection, Stream, UdpServer};

use std::fmt;
use std::path::PathBuf;
use std::process::Command;

/// The environment variable set inside the lab kernel (and by `IPVS_LAB=host` runs) so
/// that a test knows it runs where IPVS is.
pub const INSIDE_ENV: &str = "IPVS_LAB_INSIDE";

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Exit status; a process killed by a signal reports 128 + the signal number, as a
    /// shell does.
    pub status: i32,
    /// Standard output, decoded lossily as UTF-8.
    pub stdout: String,
    /// Standard error, decoded lossily as UTF-8.
    pub stderr: String,
}

impl Output {
    /// True when the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// Panics with the whole output when the command failed; returns self otherwise.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "command failed:\n{self}");
        self
    }

    fn from_std(out: std::process::Output) -> Self {
        use std::os::unix::process::ExitStatusExt;
        let status = out
            .status
            .code()
            .or_else(|| out.status.signal().map(|s| 128 + s))
            .unwrap_or(-1);
        Output {
            status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "exit status: {}", self.status)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        write!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// Runs a command in the calling thread's network namespace and waits for it.
///
/// A command that cannot be started at all (not installed) is reported as status 127
/// with the reason on stderr, as a shell would.
pub fn run(argv: &[&str]) -> Output {
    let Some((prog, args)) = argv.split_first() else {
        return Output {
            status: 127,
            stdout: String::new(),
            stderr: "empty command".into(),
        };
    };
    match Command::new(prog)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
    {
        Ok(out) => Output::from_std(out),
        Err(e) => Output {
            status: 127,
            stdout: String::new(),
            stderr: format!("{prog}: {e}"),
        },
    }
}

/// Runs a shell command line (`/bin/sh -c`) in the calling thread's network namespace.
pub fn sh(script: &str) -> Output {
    run(&["/bin/sh", "-c", script])
}

/// Runs a shell command line and panics with its output when it fails.
#[track_caller]
pub fn must(script: &str) -> Output {
    let out = sh(script);
    assert!(out.success(), "`{script}` failed:\n{out}");
    out
}

/// True when this process runs where IPVS is: inside the lab kernel, or on a host
/// chosen with `IPVS_LAB=host`.
pub fn in_lab() -> bool {
    std::env::var_os(INSIDE_ENV).is_some()
}

/// The path of a binary built from this workspace (for example `ipvsadm-rs`), found in
/// the target directory beside the running test binary.
///
/// # Panics
/// When it has not been built: `cargo build --workspace --bins` (which `cargo xtask
/// test` runs) builds it.
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the running test binary has a path");
    // target/<profile>/deps/<test-binary> -> target/<profile>/<name>
    let mut dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "workspace binary {} not built; run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// Runs many cases inside one lab test (one boot), each on its own thread in its own
/// fresh network namespace, so each starts with an empty IPVS table. Every case runs
/// even when an earlier one failed; then, if any failed, panics naming each failed case
/// with its message.
///
/// ```no_run
/// ipvs_lab::lab_test! {
///     fn schedulers() {
///         let cases: Vec<(String, Box<dyn FnOnce() + Send>)> = ["rr", "wrr", "sh"]
///             .iter()
///             .map(|s| {
///                 let s = s.to_string();
///                 let f: Box<dyn FnOnce() + Send> = Box::new(move || {
///                     ipvs_lab::must(&format!("ipvsadm -A -t 192.0.2.1:80 -s {s}"));
///                 });
///                 (s.clone(), f)
///             })
///             .collect();
///         ipvs_lab::run_cases(cases);
///     }
/// }
/// ```
pub fn run_cases<N, F>(cases: impl IntoIterator<Item = (N, F)>)
where
    N: Into<String>,
    F: FnOnce() + Send + 'static,
{
    let mut failed = Vec::new();
    let mut count = 0;
    for (name, case) in cases {
        let name = name.into();
        count += 1;
        let result = std::thread::spawn(move || {
            boot::enter_fresh_netns();
            case();
        })
        .join();
        if let Err(panic) = result {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("case {name}: {msg}"));
        }
    }
    assert!(count > 0, "run_cases: no cases");
    assert!(
        failed.is_empty(),
        "{} of {count} cases failed:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}

#[doc(hidden)]
pub mod __private {
    pub use crate::boot::run_lab_test;
}

/// Declares tests that run against a real kernel with IPVS.
///
/// Each function becomes a `#[test]`. On a host without IPVS the test boots the lab and
/// re-runs itself inside it (`IPVS_LAB=uml`, the default); with `IPVS_LAB=host` it runs
/// directly; with `IPVS_LAB=skip` (refused under `CI`) it reports itself skipped by name.
/// Inside, the body runs on a fresh thread in a fresh network namespace.
#[macro_export]
macro_rules! lab_test {
    ($( $(#[$meta:meta])* fn $name:ident() $body:block )*) => {
        $(
            $(#[$meta])*
            #[test]
            fn $name() {
                $crate::__private::run_lab_test(
                    module_path!(),
                    stringify!($name),
                    || $body,
                );
            }
        )*
    };
}
