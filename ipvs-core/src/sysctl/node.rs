//! Any kernel parameter of a network namespace by its dotted name, as procps's
//! `sysctl` spells it (`net.ipv4.ip_forward`, `net.bridge.bridge-nf-call-iptables`),
//! for the node settings around IPVS that are not under `net.ipv4.vs`: forwarding,
//! ARP, conntrack, bridge netfilter.
//!
//! A parameter whose file does not exist (its module is not loaded, or the kernel
//! lacks it) reads as `Ok(None)`, not as an error: for these settings absence is
//! information (`br_netfilter` not loaded), which callers judge.
//!
//! ```no_run
//! use ipvs_core::sysctl::node;
//!
//! match node::read("net.ipv4.ip_forward")? {
//!     Some(value) => println!("ip_forward = {value}"),
//!     None => println!("no such parameter"),
//! }
//! let ipvs_loaded = node::exists("net.ipv4.vs")?;
//! # Ok::<(), ipvs_core::sysctl::SysctlError>(())
//! ```

use std::io;
use std::path::{Path, PathBuf};

use super::{in_netns, io_error, SysctlError, Value, PROC_SYS};
use crate::netns::Netns;

/// The file (or directory) of a dotted name below `root`: `net.ipv4.ip_forward`
/// is `root/net/ipv4/ip_forward`. A name with an empty part (`net..x`, a leading
/// or trailing dot) or a `/` is refused, so no name reaches outside `root`.
pub fn path_at(root: &Path, name: &str) -> Result<PathBuf, SysctlError> {
    let parts: Vec<&str> = name.split('.').collect();
    if parts.iter().any(|p| p.is_empty() || p.contains('/')) {
        return Err(SysctlError::Io {
            path: root.join(name),
            source: io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a dotted kernel parameter name",
            ),
        });
    }
    Ok(parts
        .iter()
        .fold(root.to_path_buf(), |path, p| path.join(p)))
}

/// The value of the parameter `name` below `root` (`/proc/sys` in production);
/// `None` when its file does not exist.
pub fn read_at(root: &Path, name: &str) -> Result<Option<Value>, SysctlError> {
    let path = path_at(root, name)?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(Value::parse(&text))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// Whether `name` (a parameter or a directory such as `net.ipv4.vs`) exists below
/// `root`.
pub fn exists_at(root: &Path, name: &str) -> Result<bool, SysctlError> {
    let path = path_at(root, name)?;
    match std::fs::metadata(&path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// [`read_at`] in the caller's network namespace.
pub fn read(name: &str) -> Result<Option<Value>, SysctlError> {
    read_at(Path::new(PROC_SYS), name)
}

/// [`exists_at`] in the caller's network namespace.
pub fn exists(name: &str) -> Result<bool, SysctlError> {
    exists_at(Path::new(PROC_SYS), name)
}

/// [`read`] in another network namespace.
pub fn read_in(netns: &Netns, name: &str) -> Result<Option<Value>, SysctlError> {
    in_netns(netns, || read(name))
}

/// [`exists`] in another network namespace.
pub fn exists_in(netns: &Netns, name: &str) -> Result<bool, SysctlError> {
    in_netns(netns, || exists(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_root(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!(
            "ipvs-core-sysctl-node-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("net/ipv4/conf/all")).unwrap();
        std::fs::create_dir_all(root.join("net/ipv4/vs")).unwrap();
        std::fs::write(root.join("net/ipv4/ip_forward"), "1\n").unwrap();
        std::fs::write(root.join("net/ipv4/conf/all/arp_announce"), "2\n").unwrap();
        root
    }

    #[test]
    fn reads_dotted_names_and_absent_files_as_none() {
        let root = fake_root("read");
        assert_eq!(
            read_at(&root, "net.ipv4.ip_forward").unwrap(),
            Some(Value::Integer(1))
        );
        assert_eq!(
            read_at(&root, "net.ipv4.conf.all.arp_announce").unwrap(),
            Some(Value::Integer(2))
        );
        assert_eq!(
            read_at(&root, "net.bridge.bridge-nf-call-iptables").unwrap(),
            None
        );
        assert!(exists_at(&root, "net.ipv4.vs").unwrap());
        assert!(!exists_at(&root, "net.bridge").unwrap());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn an_unreadable_file_is_an_error_naming_it() {
        let root = fake_root("unreadable");
        // A directory where a value is expected: read(2) fails with EISDIR, even as root.
        let err = read_at(&root, "net.ipv4.vs").unwrap_err().to_string();
        assert!(err.contains("net/ipv4/vs"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn names_cannot_leave_the_root() {
        let root = Path::new("/nonexistent-root");
        for bad in ["net..ipv4", ".net", "net.", "", "net/../../etc.passwd"] {
            let err = read_at(root, bad).unwrap_err();
            assert!(
                err.to_string()
                    .contains("not a dotted kernel parameter name"),
                "{bad}: {err}"
            );
        }
        assert_eq!(
            path_at(root, "net.ipv4.ip_forward").unwrap(),
            Path::new("/nonexistent-root/net/ipv4/ip_forward")
        );
    }
}
