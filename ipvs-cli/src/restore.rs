//! `-R`: read ipvsadm command lines from stdin.
//!
//! Unlike ipvsadm, which applies lines as it reads them and stops at the first
//! bad one (leaving the table half restored), we check the whole input first.
//! If any line is bad, every bad line is reported with its number and nothing
//! is sent to the kernel. Otherwise the changes are sent through an ipvs-core
//! transaction (consecutive changes in one `sendmsg`), listings run in order,
//! and if the kernel refuses a line, nothing more is sent, what was already
//! applied is undone, and the refused line is named (ipvsadm carries on past
//! it and exits 0).
//!
//! Memory stays bounded whatever the input: lines are read one at a time and
//! a line longer than [`MAX_LINE_BYTES`] is rejected (a comment is skipped,
//! whatever its length) without being held; comments are never stored; bad
//! lines are reported as they are found; and the checked lines are kept as
//! their words in text blocks (about the size of the input without its
//! comments, where parsed requests would take several times more), parsed
//! again when they are applied, a batch at a time.

use std::io::{self, BufRead, Write};

use ipvs_core::apply::{ApplyMode, Touches};
use ipvs_core::{Handle, Request};

use crate::args::{self, Action, Failure, Op};
use crate::exec;
use crate::strerror::ipvs_strerror;

/// The longest restore line accepted, in bytes (a `-S` line is under 300).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// How many consecutive changes are parsed and sent as one batch.
const BATCH_LINES: usize = 1024;

/// The words of a restore line as ipvsadm's `config_stream` splits them:
/// blanks separate, no quoting; a leading `ipvsadm` (or program name) word is
/// dropped. `None` for lines without a command (empty, or a `#` comment, which
/// we skip while ipvsadm 1.31 aborts on them).
pub fn words(program: &str, line: &str) -> Option<Vec<String>> {
    let mut words: Vec<String> = line
        .split([' ', '\t', '\r', '\n'])
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect();
    if words.first().is_some_and(|w| w.starts_with('#')) {
        return None;
    }
    if words
        .first()
        .is_some_and(|w| w == "ipvsadm" || w == program)
    {
        words.remove(0);
    }
    (!words.is_empty()).then_some(words)
}

/// Input that passed the check: each good line as its number and its words,
/// `17 -A -t 192.0.2.1:80 -s rr`, one per text line, in blocks of about
/// `BLOCK_BYTES` (blocks are never grown, so no reallocation doubles them).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Checked {
    blocks: Vec<String>,
    count: usize,
}

/// The size of one block of [`Checked`].
const BLOCK_BYTES: usize = 1 << 20;

impl Checked {
    fn push(&mut self, number: usize, words: &[String]) {
        let line = format!("{number} {}\n", words.join(" "));
        match self.blocks.last_mut() {
            Some(b) if b.capacity() - b.len() >= line.len() => b.push_str(&line),
            _ => {
                let mut block = String::with_capacity(BLOCK_BYTES.max(line.len()));
                block.push_str(&line);
                self.blocks.push(block);
            }
        }
        self.count += 1;
    }

    /// The good lines in order: number and words.
    pub fn lines(&self) -> impl Iterator<Item = (usize, Vec<String>)> + '_ {
        self.blocks.iter().flat_map(|b| b.lines()).map(|line| {
            let mut words = line.split(' ');
            // Written by `push`: a number, then the words.
            let number = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            (number, words.map(String::from).collect())
        })
    }

    /// How many good lines there are.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// One line as [`LineReader`] read it.
enum ReadLine {
    /// Its text is in the reader's buffer.
    Text,
    /// Longer than [`MAX_LINE_BYTES`]; only whether it is a comment is known.
    TooLong { comment: bool },
}

/// Reads lines holding at most [`MAX_LINE_BYTES`] of one line.
struct LineReader<'a> {
    input: &'a mut dyn BufRead,
    buf: Vec<u8>,
    number: usize,
}

impl LineReader<'_> {
    fn next_line(&mut self) -> io::Result<Option<ReadLine>> {
        self.buf.clear();
        let mut any = false;
        let mut too_long: Option<bool> = None;
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                break;
            }
            any = true;
            let newline = chunk.iter().position(|&b| b == b'\n');
            let part = &chunk[..newline.unwrap_or(chunk.len())];
            if too_long.is_none() {
                if self.buf.len() + part.len() > MAX_LINE_BYTES {
                    let first = self.buf.iter().chain(part).find(|b| !b" \t\r".contains(b));
                    too_long = Some(first == Some(&b'#'));
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(part);
                }
            }
            let used = newline.map_or(chunk.len(), |i| i + 1);
            self.input.consume(used);
            if newline.is_some() {
                break;
            }
        }
        if !any {
            return Ok(None);
        }
        self.number += 1;
        Ok(Some(match too_long {
            Some(comment) => ReadLine::TooLong { comment },
            None => ReadLine::Text,
        }))
    }
}

/// Check the whole input. Bad lines are written to `err` as they are found
/// (`line N: <ipvsadm's message>`); then `Ok(Err(code))` carries the first bad
/// line's exit code. `Err` is a failure to write.
pub fn check(
    program: &str,
    input: &mut dyn BufRead,
    err: &mut dyn Write,
) -> io::Result<Result<Checked, i32>> {
    let mut reader = LineReader {
        input,
        buf: Vec::new(),
        number: 0,
    };
    let mut checked = Checked::default();
    let mut first_bad: Option<i32> = None;
    loop {
        let read = match reader.next_line() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                writeln!(err, "cannot read stdin: {e}")?;
                return Ok(Err(2));
            }
        };
        let number = reader.number;
        let failure = match read {
            ReadLine::TooLong { comment: true } => continue,
            ReadLine::TooLong { comment: false } => {
                Failure::fail(format!("line too long (more than {MAX_LINE_BYTES} bytes)"))
            }
            ReadLine::Text => match std::str::from_utf8(&reader.buf) {
                Err(_) => Failure::fail("not UTF-8 text"),
                // Comments are the bulk of some inputs: skip them before splitting.
                Ok(line) if line.trim_start_matches([' ', '\t', '\r']).starts_with('#') => continue,
                Ok(line) => {
                    let Some(words) = words(program, line) else {
                        continue;
                    };
                    match args::parse(program, &words, true) {
                        Ok(Action::Restore) => Failure::try_help(program),
                        Ok(_) => {
                            // Once a line is bad nothing is applied: stop keeping lines.
                            if first_bad.is_none() {
                                checked.push(number, &words);
                            }
                            continue;
                        }
                        Err(f) => f,
                    }
                }
            },
        };
        write!(err, "line {number}: {}", failure.message)?;
        first_bad.get_or_insert(failure.code);
        checked = Checked::default();
    }
    Ok(match first_bad {
        Some(code) => Err(code),
        None => Ok(checked),
    })
}

/// Run restore input against the kernel; `Ok` holds the exit code.
///
/// All or nothing, also for the kernel's refusals: what the input will
/// touch is read first; the changes go in batches; once the kernel refuses
/// one, nothing more is sent and everything already done is undone (ipvs-core's
/// transaction), so the table is as before. The refused line is named.
/// Listings inside the input run in order against the table as it is then.
pub fn restore(
    program: &str,
    input: &mut dyn BufRead,
    h: &mut Handle,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> io::Result<i32> {
    let checked = match check(program, input, err)? {
        Ok(c) => c,
        Err(code) => return Ok(code),
    };
    let mut touches = Touches::new();
    for (_, words) in checked.lines() {
        if let Ok(Action::Apply { request, .. }) = args::parse(program, &words, true) {
            touches.add(&request);
        }
    }
    let mut tx = match h.begin(&touches, ApplyMode::AllOrNothing) {
        Ok(tx) => tx,
        Err(e) => {
            writeln!(err, "{}", ipvs_strerror(None, &e))?;
            return Ok(255);
        }
    };
    // The line and op of every request sent, by its index in the transaction.
    let mut sent: Vec<(usize, Op)> = Vec::new();
    let mut batch: Vec<Request> = Vec::new();
    let mut code = 0;
    for (number, words) in checked.lines() {
        // The line parsed when checked; only a host or service name that
        // resolves differently now can make it fail.
        match args::parse(program, &words, true) {
            Ok(Action::Apply { request, op }) => {
                batch.push(request);
                sent.push((number, op));
                if batch.len() == BATCH_LINES {
                    tx.send(std::mem::take(&mut batch));
                }
            }
            Ok(action) => {
                tx.send(std::mem::take(&mut batch));
                if tx.is_ok() {
                    code = exec::execute(program, &action, tx.handle(), out, err)?;
                }
            }
            Err(f) => {
                write!(err, "line {number}: {}", f.message)?;
                code = f.code;
                break;
            }
        }
        if !tx.is_ok() {
            break;
        }
    }
    if !batch.is_empty() && tx.is_ok() {
        tx.send(batch);
    }
    let outcome = match tx.finish() {
        Ok(o) => o,
        Err(e) => {
            writeln!(err, "{}", ipvs_strerror(None, &e))?;
            return Ok(255);
        }
    };
    for f in &outcome.failures {
        let (number, op) = sent.get(f.index).copied().unwrap_or((0, Op::Flush));
        writeln!(err, "line {number}: {}", ipvs_strerror(Some(op), &f.error))?;
        code = 255;
    }
    if let Some(e) = &outcome.aborted {
        writeln!(err, "{}", ipvs_strerror(None, e))?;
        code = 255;
    }
    if outcome.rolled_back {
        if outcome.rollback_failures.is_empty() {
            writeln!(
                err,
                "nothing restored: the lines already applied were undone"
            )?;
        } else {
            writeln!(err, "the table could not be put back entirely:")?;
            for f in &outcome.rollback_failures {
                writeln!(err, "  undo {:?}: {}", f.request, f.error)?;
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check's result and what it wrote to stderr.
    fn parse_all(program: &str, text: &str) -> (Result<Checked, i32>, String) {
        let mut err = Vec::new();
        let result = check(program, &mut text.as_bytes(), &mut err).unwrap();
        (result, String::from_utf8(err).unwrap())
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = "-A -t 192.0.2.1:80 -s rr\n\n-A -t bad\n# comment\n-a -t 192.0.2.1:80 -r 192.0.2.2 -w x\nipvsadm -A -t 192.0.2.3:80\n-R\n";
        let (result, stderr) = parse_all("ipvsadm", text);
        assert_eq!(
            stderr,
            "line 3: illegal virtual server address[:port] specified\n\
             line 5: illegal weight specified\n\
             line 7: Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"
        );
        assert_eq!(result, Err(2));
    }

    #[test]
    fn good_input_parses_in_order() {
        let (result, _) = parse_all(
            "ipvsadm-rs",
            "  -A   -t 192.0.2.1:80\t-s rr  \nipvsadm-rs -a -t 192.0.2.1:80 -r 192.0.2.2 -m\n",
        );
        let lines: Vec<_> = result.unwrap().lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].0, 2);
        assert_eq!(lines[0].1, ["-A", "-t", "192.0.2.1:80", "-s", "rr"]);
    }

    #[test]
    fn an_over_long_line_is_named_and_a_long_comment_skipped() {
        let long_comment = format!("# {}\n", "x".repeat(MAX_LINE_BYTES * 3));
        let long_line = format!("-A -t 192.0.2.1:80{}\n", " -s rr".repeat(MAX_LINE_BYTES));
        let text = format!("{long_comment}-C\n{long_line}-A -t bad\n");
        let (result, stderr) = parse_all("ipvsadm", &text);
        assert_eq!(
            stderr,
            "line 3: line too long (more than 65536 bytes)\n\
             line 4: illegal virtual server address[:port] specified\n"
        );
        assert_eq!(result, Err(2));
        let (result, stderr) = parse_all("ipvsadm", &format!("{long_comment}-C"));
        assert_eq!((result.unwrap().len(), stderr.as_str()), (1, ""));
    }
}
