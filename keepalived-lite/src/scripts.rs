//! `vrrp_script` and notify programs: finding the program, `enable_script_security`,
//! the user a script runs as, and a script's run-time record.

use std::path::{Path, PathBuf};

use crate::config::{self, Config, VrrpScript};
use crate::error::DaemonError;
use crate::log::Logger;
use crate::track::{self, ScriptHealth};
use crate::users::{lookup_user, resolve_script_user};

/// A `vrrp_script` as the daemon runs it.
#[derive(Debug)]
pub struct ScriptRt {
    /// Its configuration.
    pub cfg: VrrpScript,
    /// Its fall/rise verdict.
    pub health: ScriptHealth,
    /// The pid of the run in progress.
    pub running: Option<u32>,
    /// The user it runs as (`None`: the daemon's).
    pub uid_gid: Option<(u32, u32)>,
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The script's program as found (absolute, or on PATH), or `None` when keepalived
/// would disable the script ("not found/accessible").
pub fn find_program(prog: &str) -> Option<PathBuf> {
    if prog.contains('/') {
        return is_executable(Path::new(prog)).then(|| PathBuf::from(prog));
    }
    std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(prog))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
        .into_iter()
        .find(|p| is_executable(p))
}

/// Prepares a `vrrp_script`; `Ok(None)` when its program does not exist (keepalived
/// then disables the script: it neither fails nor lowers the priority).
pub fn script_rt(
    cfg: &VrrpScript,
    global: &config::GlobalDefs,
    log: &Logger,
) -> Result<Option<ScriptRt>, DaemonError> {
    let Some(program) = find_program(&cfg.command[0]) else {
        log.log(&format!(
            "Disabling track script {} since not found/accessible",
            cfg.name
        ));
        return Ok(None);
    };
    if global.enable_script_security {
        track::check_script_security(&program).map_err(|message| DaemonError::ScriptSecurity {
            script: format!("vrrp_script {}", cfg.name),
            message,
        })?;
    }
    let uid_gid = match &cfg.user {
        Some(u) => Some(lookup_user(
            u,
            &format!("vrrp_script {} user", cfg.name),
            cfg.user_location.as_ref(),
        )?),
        None => resolve_script_user(global)?,
    };
    Ok(Some(ScriptRt {
        cfg: cfg.clone(),
        health: ScriptHealth::new(cfg.fall, cfg.rise),
        running: None,
        uid_gid,
    }))
}

/// With `enable_script_security`, notify programs must be safe too (keepalived checks
/// every script it runs).
pub fn check_notify_security(config: &Config) -> Result<(), DaemonError> {
    if !config.global.enable_script_security {
        return Ok(());
    }
    for i in &config.instances {
        let notifies = [
            &i.notify_master,
            &i.notify_backup,
            &i.notify_fault,
            &i.notify_stop,
            &i.notify,
        ];
        for argv in notifies.into_iter().flatten() {
            if let Some(program) = find_program(&argv[0]) {
                track::check_script_security(&program).map_err(|message| {
                    DaemonError::ScriptSecurity {
                        script: format!("vrrp_instance {} notify", i.name),
                        message,
                    }
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::parse_for_test as parse;

    #[test]
    fn a_script_user_override_is_checked_too() {
        let c = parse("vrrp_script chk {\n    script \"/bin/true\"\n    user no-such-user-kl\n}\n");
        let log = Logger::new(true);
        let e = script_rt(&c.scripts[0], &c.global, &log).expect_err("unknown user");
        assert_eq!(
            e.to_string(),
            "/etc/keepalived/keepalived.conf:3: vrrp_script chk user: unknown user or group 'no-such-user-kl'"
        );
    }
}
