//! One ipvsadm-rs run: parse the command line, then hand it to the part that
//! carries it out (completions and the man page, `-R`, or one action), and
//! report a failure to write standard output.
//!
//! Layers, each using only those after it: `run` → `restore` → `exec` →
//! `listing` → renderers (`render`, `json`, `table`, `lossless`, `sort`);
//! parsing (`args`, `popt`, `options`, `addr`) and `generate` are used from
//! the top.

use std::io::{self, BufRead, BufWriter, Write};

use crate::args::{self, Action, Failure, Format, ListWhat, Output};
use crate::strerror::strerror;
use crate::{apply_file, check, exec, generate, restore, sysctl};

/// Exit status when standard output cannot be written (ipvsadm ignores such
/// errors and exits 0; a script then trusts an empty or cut-off file).
pub const WRITE_ERROR_EXIT: i32 = 1;

/// Run one command line (`args` without the program name) with `stdin` for
/// `-R`, writing to `out` and `err`; returns the exit status.
///
/// `out` is buffered here. A closed pipe on `out` is not an error (the exit
/// status stays the command's, as with ipvsadm); any other failure to write
/// `out` prints `cannot write to stdout: <reason>` on `err` and returns
/// [`WRITE_ERROR_EXIT`]. Failures to write `err` are ignored.
pub fn run(
    program: &str,
    args: &[String],
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut err = IgnoreErrors(err);
    let mut out = BufWriter::with_capacity(64 * 1024, BrokenPipeIsSilent(out));
    let result = run_command(program, args, stdin, &mut out, &mut err).and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            let reason = e.raw_os_error().map_or_else(|| e.to_string(), strerror);
            let _ = writeln!(err, "cannot write to stdout: {reason}");
            WRITE_ERROR_EXIT
        }
    }
}

fn run_command(
    program: &str,
    args: &[String],
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let action = if args.is_empty() {
        Ok(Action::List {
            what: ListWhat::All,
            format: Format::default(),
            output: Output::Text,
        })
    } else {
        args::parse(program, args, false)
    };
    let action = match action {
        Ok(a) => a,
        Err(f) => return failed(err, &f),
    };
    match &action {
        Action::Completions(shell) => return generate::completions(shell, out, err),
        Action::Man => return generate::man_page(out).map(|()| 0),
        // Files under /proc/sys, not netlink: no IPVS handle needed.
        Action::Sysctl { json } => return sysctl::list(*json, out, err),
        Action::Check { json } => return check::run(*json, out),
        _ => {}
    }
    let mut handle = match exec::connect() {
        Ok(h) => h,
        Err(f) => return failed(err, &f),
    };
    if action == Action::Restore {
        return restore::restore(program, stdin, &mut handle, out, err);
    }
    if let Action::ApplyFile(cmd) = &action {
        return apply_file::apply(program, cmd, stdin, &mut handle, out, err);
    }
    exec::execute(program, &action, &mut handle, out, err)
}

fn failed(err: &mut dyn Write, f: &Failure) -> io::Result<i32> {
    err.write_all(f.message.as_bytes())?;
    Ok(f.code)
}

/// Drops what is written once the reader has gone (`EPIPE`), as ipvsadm
/// would be stopped by `SIGPIPE` without an error of its own.
struct BrokenPipeIsSilent<W>(W);

impl<W: Write> Write for BrokenPipeIsSilent<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.write(buf) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(buf.len()),
            other => other,
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.0.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

/// stderr: nothing can be reported about failing to report.
struct IgnoreErrors<W>(W);

impl<W: Write> Write for IgnoreErrors<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self.0.write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        let _ = self.0.flush();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails as /dev/full does.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A writer whose reader has gone.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::EPIPE))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn a_full_stdout_is_reported_and_a_closed_pipe_is_not() {
        let mut err = Vec::new();
        let code = run(
            "ipvsadm",
            &args("--man"),
            &mut io::empty(),
            &mut Full,
            &mut err,
        );
        assert_eq!(code, WRITE_ERROR_EXIT);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "cannot write to stdout: No space left on device\n"
        );
        let mut err = Vec::new();
        let code = run(
            "ipvsadm",
            &args("--completions bash"),
            &mut io::empty(),
            &mut Closed,
            &mut err,
        );
        assert_eq!((code, err.len()), (0, 0));
    }
}
