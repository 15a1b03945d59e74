//! Installing the Debian packages the lab needs, so a fresh machine needs nothing done
//! by hand.

use std::path::Path;
use std::process::{Command, Stdio};

/// The lab's packages: a file each installs, and the Debian package name.
pub const REQUIRED_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/linux.uml", "user-mode-linux"),
    ("/usr/sbin/ipvsadm", "ipvsadm"),
    ("/usr/sbin/keepalived", "keepalived"),
    ("/usr/bin/ip", "iproute2"),
    ("/usr/bin/kmod", "kmod"),
    ("/usr/bin/pkill", "procps"),
    // Marks for fwmark services, set the way users set them. The lab kernel's
    // nf_tables carries only the bridge family, so iptables' legacy (x_tables) backend.
    ("/usr/sbin/iptables-legacy", "iptables"),
    // Peak memory of a command (GNU time's %M), for the memory tests and benchmarks:
    // a process's own ru_maxrss includes the image it was forked from.
    ("/usr/bin/time", "time"),
    // promtool and the Prometheus server, for the exporter's lab tests (tests/it/ops.rs).
    ("/usr/bin/promtool", "prometheus"),
    // The runbook's commands (tests/it/ops_runbook.rs): adverts on the wire, the
    // client's requests, the real servers' HTTPS.
    ("/usr/bin/tcpdump", "tcpdump"),
    ("/usr/bin/curl", "curl"),
    ("/usr/bin/openssl", "openssl"),
    // The firewall the VRRP docs ship (deploy/firewall/vrrp.nft), loaded in a test.
    ("/usr/sbin/nft", "nftables"),
    // Python 3 and pip: the deploy tests install kubernetes-validate, PyYAML,
    // jsonschema and kubectl from PyPI into the build directory (pip --target).
    (
        "/usr/lib/python3/dist-packages/pip/__init__.py",
        "python3-pip",
    ),
];

/// Why packages could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Installing needs root.
    #[error("packages {0} are missing and only root can install them (apt-get install {0})")]
    NotRoot(String),
    /// apt-get could not be run or failed.
    #[error("apt-get failed installing {packages}: {detail}")]
    Apt {
        /// The packages asked for.
        packages: String,
        /// What apt-get said.
        detail: String,
    },
}

/// Installs with apt-get whichever of `packages` (a file each installs, and the package
/// name) are missing. Safe to call from many tests at once: installs are serialised
/// by a lock file, and a package already present costs one `stat`.
pub fn ensure_packages(packages: &[(&str, &str)]) -> Result<(), PackageError> {
    let missing = || -> Vec<&str> {
        packages
            .iter()
            .filter(|(file, _)| !Path::new(file).exists())
            .map(|(_, p)| *p)
            .collect()
    };
    if missing().is_empty() {
        return Ok(());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(PackageError::NotRoot(missing().join(" ")));
    }
    let lock =
        std::fs::File::create("/tmp/ipvs-lab-apt.lock").map_err(|e| apt_err(&missing(), e))?;
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map(|_guard| {
            let still = missing();
            if still.is_empty() {
                return Ok(());
            }
            let apt = |args: &[&str]| -> Result<(), PackageError> {
                let out = Command::new("apt-get")
                    .args(args)
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .stdin(Stdio::null())
                    .output()
                    .map_err(|e| apt_err(&still, e))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(apt_err(&still, String::from_utf8_lossy(&out.stderr)))
                }
            };
            apt(&["update", "-qq"])?;
            let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
            args.extend(still.iter().copied());
            apt(&args)?;
            let after = missing();
            if after.is_empty() {
                Ok(())
            } else {
                Err(apt_err(
                    &after,
                    "installed, but their files are still missing",
                ))
            }
        })
        .map_err(|(_, e)| apt_err(&missing(), e))?
}

fn apt_err(packages: &[&str], detail: impl std::fmt::Display) -> PackageError {
    PackageError::Apt {
        packages: packages.join(" "),
        detail: detail.to_string(),
    }
}
