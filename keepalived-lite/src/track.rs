//! Tracking: `vrrp_script` fall/rise bookkeeping, script security checks, and the
//! effective priority of an instance from its tracked scripts and interfaces.
//! Pure logic; the daemon runs the processes.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Health of a tracked script as keepalived counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptHealth {
    fall: u32,
    rise: u32,
    /// Consecutive results against the current verdict.
    streak: u32,
    good: bool,
}

impl ScriptHealth {
    /// A script that is considered good until `fall` consecutive failures
    /// (keepalived's default without `init_fail`).
    pub fn new(fall: u32, rise: u32) -> Self {
        ScriptHealth {
            fall: fall.max(1),
            rise: rise.max(1),
            streak: 0,
            good: true,
        }
    }

    /// Current verdict.
    pub fn is_good(&self) -> bool {
        self.good
    }

    /// Records one run's result (a timeout counts as a failure); returns whether the
    /// verdict changed.
    pub fn record(&mut self, success: bool) -> bool {
        if success == self.good {
            self.streak = 0;
            return false;
        }
        self.streak += 1;
        let needed = if self.good { self.fall } else { self.rise };
        if self.streak >= needed {
            self.good = success;
            self.streak = 0;
            return true;
        }
        false
    }
}

/// What tracking says about an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// Effective priority (1-254 unless the owner's 255).
    pub priority: u8,
    /// A weight-0 tracked object failed.
    pub fault: bool,
}

/// Combines tracked objects: each is `(weight, good)`. keepalived's rule: a positive
/// weight is added while good, a negative weight while bad, weight 0 failing means FAULT.
pub fn effective(base: u8, tracked: &[(i32, bool)]) -> Tracked {
    let mut fault = false;
    let mut p = i32::from(base);
    for &(w, good) in tracked {
        match (w, good) {
            (0, false) => fault = true,
            (w, true) if w > 0 => p += w,
            (w, false) if w < 0 => p += w,
            _ => {}
        }
    }
    let priority = if base == 255 {
        255
    } else {
        p.clamp(1, 254) as u8
    };
    Tracked { priority, fault }
}

/// Refuses a script that a non-root user could modify (the file or any directory
/// above it), as keepalived's `enable_script_security` does.
pub fn check_script_security(path: &Path) -> Result<(), String> {
    if !path.is_absolute() {
        return Err(format!(
            "{}: script path must be absolute with enable_script_security",
            path.display()
        ));
    }
    let mut cur = Some(path);
    while let Some(p) = cur {
        let md = std::fs::metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let mode = md.mode();
        let what = if p == path { "script" } else { "directory" };
        // A sticky root-owned directory (/tmp) lets nobody replace another's files.
        let sticky_root_dir = p != path && mode & 0o1000 != 0 && md.uid() == 0;
        if sticky_root_dir {
            cur = p.parent();
            continue;
        }
        if mode & 0o002 != 0 {
            return Err(format!("{what} {} is writable by everyone", p.display()));
        }
        if mode & 0o020 != 0 && md.gid() != 0 {
            return Err(format!(
                "{what} {} is writable by non-root group {}",
                p.display(),
                md.gid()
            ));
        }
        if mode & 0o200 != 0 && md.uid() != 0 {
            return Err(format!(
                "{what} {} is writable by non-root user {}",
                p.display(),
                md.uid()
            ));
        }
        cur = p.parent();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fall_and_rise_count_consecutive_results() {
        let mut h = ScriptHealth::new(2, 3);
        assert!(h.is_good());
        assert!(!h.record(false));
        assert!(!h.record(true), "a success resets the fall count");
        assert!(!h.record(false));
        assert!(h.record(false), "second consecutive failure");
        assert!(!h.is_good());
        assert!(!h.record(true));
        assert!(!h.record(true));
        assert!(!h.record(false));
        assert!(!h.record(true));
        assert!(!h.record(true));
        assert!(h.record(true), "third consecutive success");
        assert!(h.is_good());
    }

    #[test]
    fn weights_and_fault() {
        assert_eq!(
            effective(100, &[(-5, true)]),
            Tracked {
                priority: 100,
                fault: false
            }
        );
        assert_eq!(
            effective(100, &[(-5, false)]),
            Tracked {
                priority: 95,
                fault: false
            }
        );
        assert_eq!(
            effective(100, &[(20, true), (-5, false)]),
            Tracked {
                priority: 115,
                fault: false
            }
        );
        assert_eq!(
            effective(100, &[(20, false)]),
            Tracked {
                priority: 100,
                fault: false
            }
        );
        assert_eq!(
            effective(100, &[(0, false)]),
            Tracked {
                priority: 100,
                fault: true
            }
        );
        assert_eq!(
            effective(250, &[(50, true)]),
            Tracked {
                priority: 254,
                fault: false
            }
        );
        assert_eq!(
            effective(3, &[(-50, false)]),
            Tracked {
                priority: 1,
                fault: false
            }
        );
        assert_eq!(
            effective(255, &[(-50, false)]),
            Tracked {
                priority: 255,
                fault: false
            }
        );
    }

    #[test]
    fn script_security() {
        let dir = std::env::temp_dir().join(format!("kl-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let f = dir.join("check.sh");
        std::fs::write(&f, "#!/bin/sh\nexit 0\n").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o757)).expect("chmod");
        let e = check_script_security(&f).expect_err("world writable");
        assert!(e.contains("writable by everyone"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_eq!(
            check_script_security(&f),
            Ok(()),
            "root-owned 0755 script in a 0755 dir"
        );
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let e = check_script_security(&f).expect_err("world-writable directory");
        assert!(e.contains("directory"), "{e}");
        assert!(check_script_security(Path::new("relative.sh")).is_err());
        assert!(
            check_script_security(Path::new("/bin/true")).is_ok()
                || !Path::new("/bin/true").exists()
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
