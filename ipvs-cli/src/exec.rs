//! Carry out one resolved [`Action`] against the kernel through ipvs-core,
//! writing what ipvsadm would print as it goes, and return its exit code.
//!
//! Every function here writes to `out` (stdout) and `err` (stderr) and
//! returns `Err` only when writing fails; kernel errors become ipvsadm's
//! messages and exit codes.

use std::io::{self, Write};

use ipvs_core::{Error, Handle, Request};

use crate::args::{Action, Failure, Op};
use crate::listing;
use crate::strerror::ipvs_strerror;
use crate::usage::{usage, version_line};

/// Open the IPVS handle as ipvsadm's `main` does (libipvs's `ipvs_init` also
/// reads the IPVS info, so an unprivileged user fails here, as there): on
/// failure try loading the module once, then give up with its message and
/// exit code 2.
pub fn connect() -> Result<Handle, Failure> {
    fn open() -> Result<Handle, Error> {
        let mut h = Handle::new()?;
        h.info()?;
        Ok(h)
    }
    match open() {
        Ok(h) => Ok(h),
        Err(_) => {
            let _ = std::process::Command::new("/sbin/modprobe")
                .arg("--")
                .arg("ip_vs")
                .status();
            open().map_err(|e| Failure {
                code: 2,
                message: format!(
                    "Can't initialize ipvs: {}\nAre you sure that IP Virtual Server is built in the kernel or as module?\n",
                    ipvs_strerror(None, &e)
                ),
            })
        }
    }
}

/// Execute one resolved action; `Ok` holds the exit code.
pub fn execute(
    program: &str,
    action: &Action,
    h: &mut Handle,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    match action {
        Action::Help | Action::Version => match h.info() {
            Ok(info) => {
                let text = if *action == Action::Help {
                    usage(program, &info)
                } else {
                    version_line(&info)
                };
                out.write_all(text.as_bytes())?;
                Ok(0)
            }
            Err(e) => listing::kernel_error(err, &e),
        },
        Action::List {
            what,
            format,
            output,
        } => listing::list(h, what, format, *output, out, err),
        Action::Save { format, lossless } => listing::save(h, format, *lossless, out, err),
        Action::Apply { request, op } => apply(h, request, *op, err),
        Action::Restore
        | Action::Completions(_)
        | Action::Man
        | Action::ApplyFile(_)
        | Action::Sysctl { .. }
        | Action::Check { .. } => {
            err.write_all(Failure::try_help(program).message.as_bytes())?;
            Ok(Failure::try_help(program).code)
        }
    }
}

fn apply(h: &mut Handle, request: &Request, op: Op, err: &mut dyn Write) -> io::Result<i32> {
    match h.execute(request) {
        Ok(()) => Ok(0),
        Err(e) => {
            writeln!(err, "{}", ipvs_strerror(Some(op), &e))?;
            Ok(255)
        }
    }
}
