//! Writing the pid and state files without following symbolic links and with explicit
//! modes: a temporary file created exclusively (`O_CREAT|O_EXCL`, which never follows a
//! link) in the target's directory, given its mode with `fchmod` (whatever the umask),
//! then renamed over the target (a rename replaces a link, never writes through it).

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

/// Mode of the pid and state files: readable by everyone, writable by the daemon.
pub const FILE_MODE: u32 = 0o644;

static TMP_SEQ: AtomicU32 = AtomicU32::new(0);

/// Replaces `path` with `data` atomically, mode `mode`, never following a symbolic link
/// (neither at `path` nor at the temporary name).
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
        .to_string_lossy()
        .into_owned();
    for _ in 0..100 {
        let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp = dir.join(format!(".{name}.{}.{seq}.{nanos:x}", std::process::id()));
        let mut f = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => f,
            // Someone else's file (or link) under that name: another name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let r = f
            .set_permissions(std::fs::Permissions::from_mode(mode))
            .and_then(|_| f.write_all(data))
            .and_then(|_| std::fs::rename(&tmp, path));
        if r.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        return r;
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "no free temporary file name",
    ))
}

/// An error when `path` is a symbolic link (a pid path is refused then, as a planted
/// link is an attack on a root daemon).
pub fn refuse_symlink(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_through_no_link_and_sets_the_mode_whatever_the_umask() {
        let dir = std::env::temp_dir().join(format!("kl-files-{}", std::process::id()));
        std::fs::remove_dir_all(&dir).ok();
        std::fs::create_dir_all(&dir).expect("mkdir");
        let victim = dir.join("victim");
        std::fs::write(&victim, "precious\n").expect("write");
        let target = dir.join("state.json");
        std::os::unix::fs::symlink(&victim, &target).expect("symlink");
        // SAFETY: umask only changes this process's file creation mask.
        let old = unsafe { libc::umask(0) };
        let r = write_atomic(&target, b"{}\n", FILE_MODE);
        // SAFETY: as above.
        unsafe { libc::umask(old) };
        r.expect("write");
        assert_eq!(
            std::fs::read_to_string(&victim).expect("read"),
            "precious\n"
        );
        let m = std::fs::symlink_metadata(&target).expect("stat");
        assert!(m.file_type().is_file(), "the link was replaced by a file");
        assert_eq!(m.permissions().mode() & 0o7777, 0o644);
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "{}\n");
        assert!(refuse_symlink(&target).is_ok());
        std::os::unix::fs::symlink(&victim, dir.join("pid")).expect("symlink");
        assert!(refuse_symlink(&dir.join("pid")).is_err());
        // No temporary file is left behind.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .expect("ls")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
