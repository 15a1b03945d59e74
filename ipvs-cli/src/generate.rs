//! Shell completions and the man page, generated with clap_complete and
//! clap_mangen from a clap definition of our option table.
//!
//! The clap `Command` built here describes the options; it does not parse
//! them (see docs/cli.md: ipvsadm's popt rules and messages need our own
//! tokenizer in [`crate::popt`]). It is built from the option table
//! ([`crate::options`]), so every option we accept is completed and
//! documented, with the words of ipvsadm's usage text.

use std::io::{self, Write};

use clap::{Arg, ArgAction, Command};

use crate::options::long_options;

/// The clap description of ipvsadm-rs's options.
pub fn command() -> Command {
    let mut cmd = Command::new("ipvsadm-rs")
        .about("Linux Virtual Server administration, a drop-in ipvsadm 1.31 with JSON output")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .disable_version_flag(true);
    for def in long_options() {
        let Some(long) = def.spec.long else {
            continue;
        };
        let mut arg = Arg::new(long).long(long).help(def.help());
        if let Some(s) = def.spec.short {
            arg = arg.short(s);
        }
        arg = match def.value {
            Some(value) => arg.action(ArgAction::Set).value_name(value),
            None => arg.action(ArgAction::SetTrue),
        };
        if long == "persistent" {
            arg = arg.num_args(0..=1);
        }
        if long == "start-daemon" || long == "stop-daemon" {
            arg = arg.value_parser(["master", "backup"]);
        }
        if long == "tun-type" {
            arg = arg.value_parser(["ipip", "gue", "gre"]);
        }
        if long == "completions" {
            arg = arg.value_parser(["bash", "zsh", "fish", "elvish", "powershell"]);
        }
        cmd = cmd.arg(arg);
    }
    cmd
}

/// `--completions SHELL`; `Ok` holds the exit code (2 for an unknown shell).
pub fn completions(shell: &str, out: &mut dyn Write, err: &mut dyn Write) -> io::Result<i32> {
    use clap_complete::Shell;
    let sh = match shell {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "elvish" => Shell::Elvish,
        "powershell" => Shell::PowerShell,
        other => {
            writeln!(
                err,
                "unknown shell `{other}' (bash, zsh, fish, elvish, powershell)"
            )?;
            return Ok(2);
        }
    };
    // clap_complete cannot report a write error: generate into memory first.
    let mut buf = Vec::new();
    clap_complete::generate(sh, &mut command(), "ipvsadm-rs", &mut buf);
    out.write_all(&buf)?;
    Ok(0)
}

/// `--man`: the man page in roff.
pub fn man_page(out: &mut dyn Write) -> io::Result<()> {
    clap_mangen::Man::new(command()).render(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_option_is_described() {
        for def in long_options() {
            assert!(
                !def.help().is_empty(),
                "{:?} has no help text",
                def.spec.long
            );
        }
        command().debug_assert();
    }

    struct Printed {
        code: i32,
        stdout: String,
    }

    fn completions_for(shell: &str) -> Printed {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = completions(shell, &mut out, &mut err).unwrap();
        Printed {
            code,
            stdout: String::from_utf8(out).unwrap(),
        }
    }

    #[test]
    fn completions_and_man_mention_options() {
        let bash = completions_for("bash");
        assert_eq!(bash.code, 0);
        assert!(bash.stdout.contains("--tun-remcsum"));
        let man = crate::render::to_string(|o| man_page(o));
        assert!(man.contains("sched\\-flags"));
        assert_eq!(completions_for("tcsh").code, 2);
    }
}
