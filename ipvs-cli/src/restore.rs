//! `-R`: read ipvsadm command lines from stdin.
//!
//! Unlike ipvsadm, which applies lines as it reads them and stops at the first
//! bad one (leaving the table half restored), we parse the whole input first.
//! If any line is bad, every bad line is reported with its number and nothing
//! is sent to the kernel. Otherwise the changes are sent through ipvs-core's
//! batches (consecutive changes in one `sendmsg`), listings run in order, and
//! kernel errors are reported per line as ipvsadm reports them, the exit code
//! being that of the last line, as in ipvsadm.

use ipvs_core::Handle;

use crate::args::{self, Action, Failure, Op};
use crate::exec::{self, Outcome};

/// One line of restore input, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// What it asks for.
    pub action: Action,
}

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

/// Parse the whole input: every line's action, or every bad line's failure.
pub fn parse_all(program: &str, text: &str) -> Result<Vec<Line>, Vec<(usize, Failure)>> {
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let Some(words) = words(program, raw) else {
            continue;
        };
        match args::parse(program, &words, true) {
            Ok(Action::Restore) => bad.push((number, Failure::try_help(program))),
            Ok(action) => lines.push(Line { number, action }),
            Err(f) => bad.push((number, f)),
        }
    }
    if bad.is_empty() {
        Ok(lines)
    } else {
        Err(bad)
    }
}

/// How the bad lines are reported: `line N: <ipvsadm's message>` each.
pub fn report(bad: &[(usize, Failure)]) -> Outcome {
    let mut out = Outcome::default();
    for (n, f) in bad {
        out.stderr.push_str(&format!("line {n}: {}", f.message));
    }
    out.code = bad.first().map_or(2, |(_, f)| f.code);
    out
}

/// Run restore input against the kernel.
pub fn restore(program: &str, text: &str, h: &mut Handle) -> Outcome {
    let lines = match parse_all(program, text) {
        Ok(l) => l,
        Err(bad) => return report(&bad),
    };
    let mut out = Outcome::default();
    let mut i = 0;
    while i < lines.len() {
        if let Action::Apply { .. } = lines[i].action {
            let start = i;
            while i < lines.len() && matches!(lines[i].action, Action::Apply { .. }) {
                i += 1;
            }
            apply_batch(h, &lines[start..i], &mut out);
        } else {
            let o = exec::execute(program, &lines[i].action, h);
            exec::merge_into(&mut out, o);
            i += 1;
        }
    }
    out
}

fn apply_batch(h: &mut Handle, lines: &[Line], out: &mut Outcome) {
    let mut ops: Vec<Op> = Vec::new();
    let mut batch = h.batch();
    for line in lines {
        if let Action::Apply { request, op } = &line.action {
            batch.push(request.clone());
            ops.push(*op);
        }
    }
    let report = batch.execute();
    for (item, op) in report.items.iter().zip(ops) {
        match &item.result {
            Ok(()) => out.code = 0,
            // Said once below, with the error that stopped the batch.
            Err(ipvs_core::Error::NotSent | ipvs_core::Error::Unacknowledged) => {}
            Err(e) => {
                out.stderr
                    .push_str(&format!("{}\n", exec::ipvs_strerror(Some(op), e)));
                out.code = 255;
            }
        }
    }
    if let Some(e) = &report.aborted {
        out.stderr
            .push_str(&format!("{}\n", exec::ipvs_strerror(None, e)));
        out.code = 255;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let text = "-A -t 192.0.2.1:80 -s rr\n\n-A -t bad\n# comment\n-a -t 192.0.2.1:80 -r 192.0.2.2 -w x\nipvsadm -A -t 192.0.2.3:80\n-R\n";
        let bad = parse_all("ipvsadm", text).unwrap_err();
        let numbers: Vec<usize> = bad.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [3, 5, 7]);
        let r = report(&bad);
        assert_eq!(
            r.stderr,
            "line 3: illegal virtual server address[:port] specified\n\
             line 5: illegal weight specified\n\
             line 7: Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"
        );
        assert_eq!(r.code, 2);
    }

    #[test]
    fn good_input_parses_in_order() {
        let lines = parse_all(
            "ipvsadm-rs",
            "  -A   -t 192.0.2.1:80\t-s rr  \nipvsadm-rs -a -t 192.0.2.1:80 -r 192.0.2.2 -m\n",
        )
        .unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].number, 2);
    }
}
