//! Reading configuration files without ever blocking or growing without bound: regular
//! files only (a FIFO or a device is refused before it is read), a size limit per file
//! and for the whole configuration, a limit on the number of files, and `include`
//! patterns expanded by a matcher without exponential backtracking.
//!
//! The daemon parses its configuration inside its poll loop (start and `SIGHUP`), so
//! these bounds are what keeps adverts and signal handling going during a reload.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::config::model::{err_at, ConfigError};

/// Largest configuration file read (keepalived.conf files are a few kilobytes).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Largest configuration read in total, over every included file.
pub const MAX_TOTAL_BYTES: u64 = 4 << 20;
/// Most files one configuration may read (the main file and every include).
pub const MAX_FILES: usize = 256;
/// Deepest `include` nesting.
pub const MAX_INCLUDE_DEPTH: usize = 8;

/// What one configuration read has used of the limits.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    files: usize,
    bytes: u64,
}

/// Why a file was not read. Never contains the file's contents.
fn describe_type(ft: &std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// Reads `path` as configuration text: refuses anything but a regular file (checked
/// before opening, and again on the opened file, which is opened non-blocking so that a
/// FIFO swapped in between cannot block), anything above the size limits, and text that
/// is not UTF-8. The error says why in a few words, never what the file holds.
pub(crate) fn read_config_file(path: &Path, budget: &mut Budget) -> Result<String, String> {
    if budget.files >= MAX_FILES {
        return Err(format!(
            "more than {MAX_FILES} configuration files (include loop?)"
        ));
    }
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "{}, not a regular file",
            describe_type(&meta.file_type())
        ));
    }
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let meta = file.metadata().map_err(|e| e.to_string())?;
    if !meta.file_type().is_file() {
        return Err(format!(
            "{}, not a regular file",
            describe_type(&meta.file_type())
        ));
    }
    let left = MAX_TOTAL_BYTES.saturating_sub(budget.bytes);
    let limit = MAX_FILE_BYTES.min(left);
    if meta.len() > limit {
        return Err(too_big(limit, left));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow after the check: never read more than the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(too_big(limit, left));
    }
    budget.files += 1;
    budget.bytes += bytes.len() as u64;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn too_big(limit: u64, left: u64) -> String {
    if limit < MAX_FILE_BYTES && limit == left {
        format!("the configuration is larger than {MAX_TOTAL_BYTES} bytes in total")
    } else {
        format!("larger than {MAX_FILE_BYTES} bytes")
    }
}

/// Whether `name` matches the shell-style `pattern` (`*` any run, `?` one character).
///
/// Greedy with one backtrack point (the last `*`): a mismatch resumes after the last
/// star, one character further on. At most `pattern.len() × name.len()` steps, never the
/// exponential blow-up of naive recursion (`*a*a*a*a*a*b` against a long name).
pub(crate) fn glob_match(pattern: &[char], name: &[char]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(c) if *c == '?' || *c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

/// The files an `include PATTERN` at `from:line` names, sorted: a relative pattern is
/// relative to the including file; `*` and `?` are expanded in the last component only.
pub(crate) fn expand_include(
    from: &Path,
    line: usize,
    pattern: &str,
) -> Result<Vec<PathBuf>, ConfigError> {
    let p = Path::new(pattern);
    let p = if p.is_relative() {
        from.parent().unwrap_or(Path::new(".")).join(p)
    } else {
        p.to_path_buf()
    };
    let name = p
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    if !name.contains(['*', '?']) {
        if !p.exists() {
            return Err(err_at(
                from,
                line,
                format!("include: {} does not exist", p.display()),
            ));
        }
        return Ok(vec![p]);
    }
    let dir = p.parent().unwrap_or(Path::new("."));
    let pat: Vec<char> = name.chars().collect();
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| {
        err_at(
            from,
            line,
            format!("include: cannot read {}: {e}", dir.display()),
        )
    })?;
    for e in entries.filter_map(|e| e.ok()) {
        let n: Vec<char> = e.file_name().to_string_lossy().chars().collect();
        if glob_match(&pat, &n) {
            found.push(e.path());
            if found.len() > MAX_FILES {
                return Err(err_at(
                    from,
                    line,
                    format!("include: {pattern} matches more than {MAX_FILES} files"),
                ));
            }
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        glob_match(
            &p.chars().collect::<Vec<_>>(),
            &n.chars().collect::<Vec<_>>(),
        )
    }

    #[test]
    fn glob_matches_like_the_shell() {
        assert!(m("*.conf", "a.conf"));
        assert!(m("*.conf", ".conf"));
        assert!(!m("*.conf", "a.conf.bak"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*", ""));
        assert!(m("**a*", "xxa"));
        assert!(m("*a*b", "aaab"));
        assert!(!m("*a*b", "aaa"));
        assert!(m("x*y*z", "xaaybbz"));
        assert!(!m("x*y*z", "xaaybb"));
        assert!(!m("abc", "abcd"));
        assert!(!m("", "a"));
    }

    /// Regression: the recursive matcher took minutes here (exponential backtracking).
    #[test]
    fn glob_with_many_stars_against_a_long_name_is_instant() {
        let name = "a".repeat(200);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let r = m("*a*a*a*a*a*b", &name) || m("*a*a*a*a*a*a*a*a*a*a*a*a*b", &name);
            let _ = tx.send(r);
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("glob match did not finish within 5 s");
        assert!(!r);
    }

    #[test]
    fn only_regular_files_within_the_limits_are_read() {
        let dir = tempfile_dir("src");
        let mut b = Budget::default();
        // A FIFO: refused without blocking (the old reader blocked here forever).
        let fifo = dir.join("fifo.conf");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let (tx, rx) = std::sync::mpsc::channel();
        let f2 = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(read_config_file(&f2, &mut Budget::default()));
        });
        let r = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading a FIFO blocked");
        assert_eq!(r, Err("a FIFO, not a regular file".into()));
        let e = read_config_file(Path::new("/dev/zero"), &mut b).expect_err("device");
        assert_eq!(e, "a character device, not a regular file");
        // A huge (sparse) regular file is refused by its size, not read.
        let big = dir.join("big.conf");
        let f = File::create(&big).expect("create");
        f.set_len(MAX_FILE_BYTES + 1).expect("truncate");
        let e = read_config_file(&big, &mut b).expect_err("too big");
        assert_eq!(e, format!("larger than {MAX_FILE_BYTES} bytes"));
        let ok = dir.join("ok.conf");
        std::fs::write(&ok, "global_defs {\n}\n").expect("write");
        assert_eq!(
            read_config_file(&ok, &mut b).as_deref(),
            Ok("global_defs {\n}\n")
        );
        // The total over every file is bounded too.
        let mut b = Budget {
            files: 1,
            bytes: MAX_TOTAL_BYTES - 4,
        };
        let e = read_config_file(&ok, &mut b).expect_err("over the total");
        assert!(e.contains("in total"), "{e}");
        let mut b = Budget {
            files: MAX_FILES,
            bytes: 0,
        };
        assert!(read_config_file(&ok, &mut b).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kl-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }
}
