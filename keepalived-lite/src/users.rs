//! `script_user` / `user`: names resolved to uid and gid, at start, on reload and by `-t`.

use crate::config::{self, Config};
use crate::error::DaemonError;

/// Resolves `USER [GROUP]` to uid and gid; `what` and `location` name the keyword in
/// the error.
pub(crate) fn lookup_user(
    user: &(String, Option<String>),
    what: &str,
    location: Option<&config::Location>,
) -> Result<(u32, u32), DaemonError> {
    let unknown = |name: &str| DaemonError::User {
        name: name.to_string(),
        what: what.to_string(),
        location: location.cloned(),
    };
    let u = nix::unistd::User::from_name(&user.0)
        .ok()
        .flatten()
        .ok_or_else(|| unknown(&user.0))?;
    let gid = match &user.1 {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| unknown(g))?
                .gid
        }
        None => u.gid,
    };
    Ok((u.uid.as_raw(), gid.as_raw()))
}

/// The uid/gid notify scripts (and scripts without their own `user`) run as: `None`
/// means the daemon's own user (no `script_user`). An unknown user is an error, never
/// a silent fall-back to root.
pub(crate) fn resolve_script_user(
    global: &config::GlobalDefs,
) -> Result<Option<(u32, u32)>, DaemonError> {
    global
        .script_user
        .as_ref()
        .map(|u| {
            lookup_user(
                u,
                "global_defs script_user",
                global.script_user_location.as_ref(),
            )
        })
        .transpose()
}

/// Checks that `script_user` and every `vrrp_script`'s `user` exist (what `-t` checks
/// beyond parsing, as `keepalived -t` does).
pub fn check_users(config: &Config) -> Result<(), DaemonError> {
    resolve_script_user(&config.global)?;
    for s in &config.scripts {
        if let Some(u) = &s.user {
            lookup_user(
                u,
                &format!("vrrp_script {} user", s.name),
                s.user_location.as_ref(),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::*;

    use crate::config::parse_for_test as parse;

    #[test]
    fn unknown_script_user_is_an_error_naming_user_and_line() {
        let c = parse("global_defs {\n    router_id x\n    script_user no-such-user-kl\n}\n");
        let e = resolve_script_user(&c.global).expect_err("unknown user must not fall back");
        assert_eq!(
            e.to_string(),
            "/etc/keepalived/keepalived.conf:3: global_defs script_user: unknown user or group 'no-such-user-kl'"
        );
        let c = parse("global_defs {\n    script_user root no-such-group-kl\n}\n");
        let e = resolve_script_user(&c.global).expect_err("unknown group");
        assert!(
            e.to_string()
                .ends_with("unknown user or group 'no-such-group-kl'"),
            "{e}"
        );
    }

    #[test]
    fn script_user_resolves_and_defaults_to_the_daemon_user() {
        let c = parse("global_defs {\n    script_user root\n}\n");
        assert_eq!(
            resolve_script_user(&c.global).expect("root exists"),
            Some((0, 0))
        );
        let c = parse("global_defs {\n    router_id x\n}\n");
        assert_eq!(resolve_script_user(&c.global).expect("no user"), None);
    }

    #[test]
    fn check_users_covers_global_and_script_users() {
        let ok = "global_defs {\n    script_user root\n}\nvrrp_script chk {\n    script \"/bin/true\"\n    user nobody\n}\n";
        check_users(&parse(ok)).expect("known users");
        let e = check_users(&parse(&ok.replace("user nobody", "user no-such-user-kl")))
            .expect_err("unknown script user");
        assert!(
            e.to_string().contains(":6: vrrp_script chk user: unknown"),
            "{e}"
        );
        let e = check_users(&parse(&ok.replace("user root", "user no-such-user-kl")))
            .expect_err("unknown script_user");
        assert!(
            e.to_string()
                .contains(":2: global_defs script_user: unknown"),
            "{e}"
        );
    }
}
