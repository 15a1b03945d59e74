//! The extension commands (`--apply FILE`, `--sysctl`, `--check`): each takes only
//! its own options, each once (`--scope` excepted), and nothing after them.

use super::{Action, ApplyCommand, Failure};
use crate::options::{OptionDef, Tag};
use crate::popt::Popt;

/// `--apply FILE` and the options that go with it; nothing else may follow.
pub(super) fn apply_command(
    file: String,
    popt: &mut Popt<'_, Tag, OptionDef>,
) -> Result<Action, Failure> {
    let mut cmd = ApplyCommand {
        file,
        dry_run: false,
        scopes: Vec::new(),
        drain_timeout: std::time::Duration::from_secs(60),
        best_effort: false,
        json: false,
    };
    extension_options(popt, "--apply", |tag, arg| {
        match tag {
            Tag::DryRun => cmd.dry_run = true,
            Tag::BestEffort => cmd.best_effort = true,
            Tag::Json => cmd.json = true,
            Tag::Scope => cmd.scopes.push(
                arg.parse()
                    .map_err(|e: ipvs_core::apply::ScopeParseError| Failure::fail(e.to_string()))?,
            ),
            Tag::DrainTimeout => {
                let secs: u64 = arg.parse().map_err(|_| {
                    Failure::fail(format!("invalid drain timeout `{arg}' specified"))
                })?;
                cmd.drain_timeout = std::time::Duration::from_secs(secs);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if cmd.file.is_empty() {
        return Err(Failure::fail("--apply needs a file (- for standard input)"));
    }
    Ok(Action::ApplyFile(cmd))
}

/// `--sysctl` and the one option that goes with it, `--json`.
pub(super) fn sysctl_command(popt: &mut Popt<'_, Tag, OptionDef>) -> Result<Action, Failure> {
    let json = json_only(popt, "--sysctl")?;
    Ok(Action::Sysctl { json })
}

/// `--check` and the one option that goes with it, `--json`.
pub(super) fn check_command(popt: &mut Popt<'_, Tag, OptionDef>) -> Result<Action, Failure> {
    let json = json_only(popt, "--check")?;
    Ok(Action::Check { json })
}

/// The options of a command whose only option is `--json`: whether it was given.
fn json_only(popt: &mut Popt<'_, Tag, OptionDef>, command: &str) -> Result<bool, Failure> {
    let mut json = false;
    extension_options(popt, command, |tag, _| {
        json |= tag == Tag::Json;
        Ok(tag == Tag::Json)
    })?;
    Ok(json)
}

/// The options after an extension command (`--apply`, `--sysctl`, `--check`): each given
/// to `take` (with its argument), which says whether it goes with `command`;
/// each at most once (`--scope` excepted); no word left over.
fn extension_options(
    popt: &mut Popt<'_, Tag, OptionDef>,
    command: &str,
    mut take: impl FnMut(Tag, String) -> Result<bool, Failure>,
) -> Result<(), Failure> {
    let mut seen: Vec<Tag> = Vec::new();
    loop {
        let o = match popt.next_opt() {
            Ok(Some(o)) => o,
            Ok(None) => break,
            Err(err) => {
                return Err(Failure {
                    code: 255,
                    message: format!("{}: {}\n", err.bad_option(), err.description()),
                })
            }
        };
        if o.tag != Tag::Scope && seen.contains(&o.tag) {
            return Err(Failure::fail(format!(
                "multiple '{}' options specified",
                o.word
            )));
        }
        seen.push(o.tag);
        if !take(o.tag, o.arg.unwrap_or_default())? {
            return Err(Failure::fail(format!(
                "option `{}' does not go with {command}",
                o.word
            )));
        }
    }
    if let Some(extra) = popt.get_arg() {
        return Err(Failure::fail(format!("unexpected argument {extra}")));
    }
    Ok(())
}
