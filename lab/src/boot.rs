//! Booting the user-mode-linux kernel with a workload, and the lab-test runner.

use crate::{packages, Output, INSIDE_ENV};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The UML kernel binary of Debian's `user-mode-linux` package.
const UML_KERNEL: &str = "/usr/bin/linux.uml";
/// Where that package keeps the kernel's modules, one directory per kernel version.
const UML_MODULES: &str = "/usr/lib/uml/modules";

/// Modules loaded at every boot besides every IPVS module (all schedulers, the SIP
/// persistence engine, FTP helper): what topologies and tunnels need.
const EXTRA_MODULES: &[&str] = &[
    "ipv6",
    "nf_conntrack",
    "veth",
    "bridge",
    "dummy",
    "ipip",
    "ip6_tunnel",
    "ip_gre",
    "fou",
    "fou6",
    "sctp",
];

/// Where lab tests run, chosen by the `IPVS_LAB` environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `IPVS_LAB=uml` (the default): boot the user-mode-linux lab and run inside it.
    Uml,
    /// `IPVS_LAB=host`: run directly; the host kernel has IPVS (a user's real machine).
    /// Each test still runs in a network namespace of its own, so the host's own IPVS
    /// table is never touched.
    Host,
    /// `IPVS_LAB=skip`: do not run lab tests; each reports itself skipped by name.
    /// Refused under `CI`, where a kernel test must run or fail.
    Skip,
}

impl Mode {
    /// Reads `IPVS_LAB`; an unknown value is an error naming the allowed ones.
    pub fn from_env() -> Result<Mode, BootError> {
        match std::env::var("IPVS_LAB").as_deref() {
            Err(_) | Ok("") | Ok("uml") => Ok(Mode::Uml),
            Ok("host") => Ok(Mode::Host),
            Ok("skip") => Ok(Mode::Skip),
            Ok(other) => Err(BootError::BadMode(other.to_string())),
        }
    }
}

/// Why the lab could not run a workload. A workload that ran and failed is not an
/// error: its status is in the [`Output`].
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// `IPVS_LAB` holds something other than uml, host or skip.
    #[error("IPVS_LAB={0:?} is not one of uml, host, skip")]
    BadMode(String),
    /// The lab's packages are missing and could not be installed.
    #[error("the lab is unavailable: {0}")]
    Unavailable(#[from] packages::PackageError),
    /// Preparing or starting the kernel failed on the host.
    #[error("starting the lab kernel: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel did not finish within the time allowed; it was killed.
    #[error(
        "the lab did not finish within {timeout:?}; killed it. Kernel console (tail):\n{console}"
    )]
    Timeout {
        /// The time allowed.
        timeout: Duration,
        /// The boot's own directory (gone now); every process of that boot had it on
        /// its command line (`uml_dir=`), so it tells whether any is left.
        lab_dir: PathBuf,
        /// The end of the kernel's console log.
        console: String,
    },
    /// The kernel stopped without the workload reporting an exit status (a kernel
    /// panic, or the lab's own set-up failing).
    #[error("the lab kernel stopped before the workload finished: {reason}\nKernel console (tail):\n{console}")]
    NoStatus {
        /// What the lab's init reported, if anything.
        reason: String,
        /// The end of the kernel's console log.
        console: String,
    },
}

/// How to boot the lab.
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// Killed after this long (default 300 s, or `IPVS_LAB_TIMEOUT` seconds).
    pub timeout: Duration,
    /// Memory of the lab kernel in MiB (default 384).
    pub mem_mib: u32,
    /// Working directory of the workload (default: the current one).
    pub cwd: PathBuf,
    /// Environment of the workload: by default the caller's whole environment.
    pub env: Vec<(String, String)>,
    /// Attach the workload to this process's terminal (a shell for a person) instead of
    /// capturing its output.
    pub interactive: bool,
}

impl Default for BootOptions {
    fn default() -> Self {
        let timeout = std::env::var("IPVS_LAB_TIMEOUT")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(300);
        BootOptions {
            timeout: Duration::from_secs(timeout),
            mem_mib: 384,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            env: std::env::vars().collect(),
            interactive: false,
        }
    }
}

/// Boots the lab kernel, runs `argv` inside it and returns what it printed and its exit
/// status.
///
/// Inside, the host's root filesystem is visible and writable (hostfs), with fresh
/// tmpfs mounts over `/run` and `/dev/shm` so that nothing the kernel tools write there
/// (network namespaces, pid files) reaches the host. /proc and /sys are mounted, every
/// IPVS module and the modules of `EXTRA_MODULES` are loaded, the kernel loads others
/// on demand, loopback is up and `IPVS_LAB_INSIDE=1` is set.
///
/// The kernel and everything it started are killed when the workload ends, when the
/// timeout passes, and when the calling thread unwinds.
pub fn boot(argv: &[String], opts: &BootOptions) -> Result<Output, BootError> {
    packages::ensure_packages(packages::REQUIRED_PACKAGES)?;
    let dir = tempfile::Builder::new().prefix("ipvs-lab.").tempdir()?;
    let init = dir.path().join("init");
    std::fs::write(&init, init_script(dir.path(), argv, opts)?)?;
    std::fs::set_permissions(&init, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let console_path = dir.path().join("console.log");
    let console = std::fs::File::create(&console_path)?;

    // The kernel runs as PID 1 of a PID namespace of its own: when it ends, the host
    // kernel kills and reaps every helper process it forked, so no zombie is left
    // waiting for a parent that does not reap (as container init processes often do).
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--kill-child", UML_KERNEL])
        .arg(format!("mem={}M", opts.mem_mib))
        .arg("rootfstype=hostfs")
        .arg("rootflags=/")
        .arg("rw")
        .arg(format!("init={}", init.display()))
        .arg(format!("uml_dir={}", dir.path().display()))
        .arg("umid=lab")
        .arg("con=null")
        .env("TMPDIR", dir.path());
    if opts.interactive {
        cmd.arg("con0=fd:0,fd:1").arg("quiet");
    } else {
        // The console goes to a file: CI has no terminal and no standard input.
        cmd.arg("con0=null,fd:1")
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(Stdio::null());
    }
    // Own process group, so that one kill reaches the kernel and every helper process
    // it forked; and killed with us if we die.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = KernelGuard {
        child: cmd.spawn()?,
        reaped: false,
    };
    let finished = child.wait_until(Instant::now() + opts.timeout)?;
    drop(child); // kills the group: nothing of the lab outlives the workload
    if !finished {
        return Err(BootError::Timeout {
            timeout: opts.timeout,
            lab_dir: dir.path().to_path_buf(),
            console: tail(&console_path),
        });
    }

    let status = std::fs::read_to_string(dir.path().join("status")).ok();
    let Some(status) = status.and_then(|s| s.trim().parse::<i32>().ok()) else {
        let reason = std::fs::read_to_string(dir.path().join("init-error"))
            .unwrap_or_else(|_| "no exit status was written".into());
        return Err(BootError::NoStatus {
            reason,
            console: tail(&console_path),
        });
    };
    let read = |name: &str| {
        String::from_utf8_lossy(&std::fs::read(dir.path().join(name)).unwrap_or_default())
            .into_owned()
    };
    Ok(Output {
        status,
        stdout: read("stdout"),
        stderr: read("stderr"),
    })
}

/// The running kernel (under `unshare`); dropping it kills its whole process group and
/// reaps it, unless it already ended by itself.
struct KernelGuard {
    child: Child,
    reaped: bool,
}

impl KernelGuard {
    /// Waits for the kernel to exit; false when the deadline passed first.
    fn wait_until(&mut self, deadline: Instant) -> std::io::Result<bool> {
        let pid = self.pid();
        loop {
            let mut status = 0;
            // SAFETY: waitpid on our own child with a valid pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                // Its namespace died with it: nothing of the group is left.
                self.reaped = true;
                return Ok(true);
            }
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap_or(i32::MAX)
    }
}

impl Drop for KernelGuard {
    fn drop(&mut self) {
        if self.reaped {
            return; // its process group id may belong to someone else by now
        }
        let pid = self.pid();
        // Kill the kernel (PID 1 of its namespace) first, so that `unshare` reaps it and
        // the host kernel tears down and reaps the rest of the namespace; then sweep the
        // process group. Errors (ESRCH: already gone) are fine.
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        // SAFETY: plain syscalls on process ids we own.
        unsafe {
            for child in children
                .split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok())
            {
                libc::kill(child, libc::SIGKILL);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut status = 0;
            while libc::waitpid(pid, &mut status, libc::WNOHANG) == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            libc::kill(-pid, libc::SIGKILL);
            libc::waitpid(pid, &mut status, 0);
        }
    }
}

/// Quotes a word for /bin/sh.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn init_script(dir: &Path, argv: &[String], opts: &BootOptions) -> Result<String, BootError> {
    let d = quote(&dir.display().to_string());
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"#!/bin/sh
# Generated by ipvs-lab: PID 1 of the lab kernel.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
D={d}
fail() {{ echo "$*" > "$D/init-error"; echo o > /proc/sysrq-trigger; sleep 60; }}
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
grep -q ' /dev devtmpfs ' /proc/mounts || mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
# Keep what tools write under /run (netns mounts, pid files) and /dev/shm off the host.
mount -t tmpfs -o mode=755 tmpfs /run || fail "mount /run"
mkdir -p /dev/shm /dev/pts /run/netns /run/lab/modules/lib/modules
mount -t tmpfs tmpfs /dev/shm || fail "mount /dev/shm"
mount -t devpts devpts /dev/pts 2>/dev/null
ln -s {modules}/$(uname -r) /run/lab/modules/lib/modules/$(uname -r)
# Let the kernel load modules on demand from the package's module tree.
printf '#!/bin/sh\nexec /sbin/modprobe -d /run/lab/modules "$@"\n' > /run/lab/modprobe
chmod +x /run/lab/modprobe
echo /run/lab/modprobe > /proc/sys/kernel/modprobe
for m in $(cd {modules}/$(uname -r)/kernel/net/netfilter/ipvs && ls | sed 's/\.ko$//') {extra}; do
    /run/lab/modprobe "$m" || fail "modprobe $m"
done
ip link set lo up || fail "loopback"
export {inside}=1"#,
        modules = UML_MODULES,
        extra = EXTRA_MODULES.join(" "),
        inside = INSIDE_ENV,
    );
    for (k, v) in &opts.env {
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid && k != "PATH" && k != INSIDE_ENV {
            let _ = writeln!(s, "export {k}={}", quote(v));
        }
    }
    if let Some((_, path)) = opts.env.iter().find(|(k, _)| k == "PATH") {
        let _ = writeln!(s, "export PATH=\"$PATH\":{}", quote(path));
    }
    let _ = writeln!(
        s,
        "cd {} || fail \"cd\"",
        quote(&opts.cwd.display().to_string())
    );
    let cmd: Vec<String> = argv.iter().map(|a| quote(a)).collect();
    if opts.interactive {
        // A session of its own with the console as controlling terminal: job control.
        let _ = writeln!(s, "setsid -c -w {}\necho $? > \"$D/status\"", cmd.join(" "));
    } else {
        let _ = writeln!(
            s,
            "{} < /dev/null > \"$D/stdout\" 2> \"$D/stderr\"\necho $? > \"$D/status\"",
            cmd.join(" ")
        );
    }
    s.push_str("echo o > /proc/sysrq-trigger\nsleep 60\n");
    Ok(s)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Writes straight to the process's stderr, past the test harness's output capture, so
/// that a skipped test is seen by name even when the run passes.
fn announce(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// True under CI (`CI` set, non-empty, and neither `false` nor `0`): there a kernel test
/// must run or fail, never skip.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Runs one lab test: directly where IPVS is, else by re-running this test binary, with
/// only this test selected, inside the lab. Used by [`crate::lab_test!`].
pub fn run_lab_test<F: FnOnce() + Send + 'static>(module: &str, name: &str, body: F) {
    // libtest names a test by its path without the crate's name.
    let path = match module.split_once("::") {
        Some((_, rest)) => format!("{rest}::{name}"),
        None => name.to_string(),
    };
    if crate::in_lab() {
        return run_isolated(body);
    }
    let mode = match Mode::from_env() {
        Ok(mode) => mode,
        Err(e) => panic!("lab test {path}: {e}"),
    };
    match mode {
        Mode::Host => run_isolated(body),
        Mode::Skip if under_ci() => {
            panic!("lab test {path}: IPVS_LAB=skip is refused under CI: kernel tests must run")
        }
        Mode::Skip => announce(&format!("SKIPPED lab test {path} (IPVS_LAB=skip)")),
        Mode::Uml => run_in_uml(&path),
    }
}

fn run_in_uml(path: &str) {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("lab test {path}: cannot find the test binary: {e}"),
    };
    let argv = vec![
        exe.display().to_string(),
        path.to_string(),
        "--exact".into(),
        "--nocapture".into(),
        "--test-threads=1".into(),
    ];
    let mut result = boot(&argv, &BootOptions::default());
    if let Err(e @ BootError::NoStatus { .. }) = &result {
        // The kernel died before the test reported anything: a failure of the lab, not
        // of the test. Said out loud, and tried once more.
        announce(&format!(
            "lab test {path}: the lab failed, booting again: {e}"
        ));
        result = boot(&argv, &BootOptions::default());
    }
    match result {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            // The inner run must have run exactly this test: a filter that matched
            // nothing would otherwise pass silently.
            let ran = out.stdout.contains(&format!("test {path} ... ok"));
            assert!(
                out.success(),
                "lab test {path} failed inside the lab:\n{out}"
            );
            assert!(ran, "lab test {path} did not run inside the lab:\n{out}");
        }
        Err(BootError::Unavailable(e)) if !under_ci() => {
            announce(&format!(
                "SKIPPED lab test {path}: the lab is unavailable here: {e}"
            ));
        }
        Err(e) => panic!("lab test {path}: {e}"),
    }
}

/// Runs a test body on a new thread in a new network namespace with loopback up, and
/// re-raises its panic.
fn run_isolated<F: FnOnce() + Send + 'static>(body: F) {
    let handle = std::thread::spawn(move || {
        enter_fresh_netns();
        body();
    });
    if let Err(panic) = handle.join() {
        std::panic::resume_unwind(panic);
    }
}

/// Moves the calling thread into a new network namespace with loopback up.
///
/// A network namespace is per thread: this one, and every process it starts, gets a
/// private IPVS table.
pub(crate) fn enter_fresh_netns() {
    if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
        panic!("unshare(CLONE_NEWNET): {e} (lab tests need root)");
    }
    crate::must("ip link set lo up");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("a'b c"), r#"'a'\''b c'"#);
        let out = crate::run(&[
            "/bin/sh",
            "-c",
            &format!("printf %s {}", quote("it's $HOME")),
        ]);
        assert_eq!(out.stdout, "it's $HOME");
    }

    #[test]
    fn init_script_exports_environment_quoted_and_skips_bad_names() {
        let opts = BootOptions {
            env: vec![
                ("GOOD".into(), "x y'z".into()),
                ("BAD-NAME".into(), "1".into()),
                ("PATH".into(), "/opt/bin".into()),
            ],
            cwd: "/work dir".into(),
            ..BootOptions::default()
        };
        let script =
            init_script(Path::new("/tmp/d"), &["echo".into(), "hi".into()], &opts).expect("script");
        assert!(script.contains(r#"export GOOD='x y'\''z'"#), "{script}");
        assert!(!script.contains("BAD-NAME"), "{script}");
        assert!(
            script.contains(r#"export PATH="$PATH":'/opt/bin'"#),
            "{script}"
        );
        assert!(script.contains("cd '/work dir'"), "{script}");
        assert!(
            script.contains(r#"'echo' 'hi' < /dev/null > "$D/stdout""#),
            "{script}"
        );
    }
}
