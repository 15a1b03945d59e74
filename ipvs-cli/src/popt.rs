//! A command-line tokenizer that behaves like libpopt as ipvsadm 1.31 uses it.
//!
//! ipvsadm's messages and exit codes depend on popt's exact behaviour, which no
//! general-purpose parser reproduces: combined short flags (`-Ln`), a short
//! option's argument glued on (`-srr`, `-s=rr`), long options with `=`, an
//! *optional* argument (`-p [timeout]`) that is taken from the next word only
//! when that word does not start with `-`, required arguments that swallow the
//! next word whatever it is, non-option words collected as leftovers anywhere,
//! and `--` ending option processing. Errors name the whole word they occurred
//! in (`-Lnx: missing argument`), as `poptBadOption` does.

/// Whether an option takes an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A flag.
    None,
    /// Always takes an argument (the rest of the word, or the next word).
    Required,
    /// Takes the rest of the word, or the next word unless it starts with `-`.
    Optional,
}

/// One entry of an option table.
#[derive(Debug, Clone, Copy)]
pub struct OptSpec<T: 'static> {
    /// Long name without dashes.
    pub long: Option<&'static str>,
    /// Short letter.
    pub short: Option<char>,
    /// Argument kind.
    pub arg: ArgKind,
    /// What the caller gets back.
    pub tag: T,
}

/// A table entry popt can read: an [`OptSpec`], or a richer entry holding one
/// (ipvs-cli's option table also holds each option's documentation).
pub trait AsSpec<T> {
    /// How popt reads the option.
    fn spec(&self) -> &OptSpec<T>;
}

impl<T> AsSpec<T> for OptSpec<T> {
    fn spec(&self) -> &OptSpec<T> {
        self
    }
}

/// What went wrong while tokenizing, as popt's error codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoptError {
    /// `POPT_ERROR_BADOPT`: no such option.
    UnknownOption(String),
    /// `POPT_ERROR_NOARG`: an option's argument is missing.
    MissingArgument(String),
    /// `POPT_ERROR_UNWANTEDARG`: `--flag=value` for a flag.
    UnwantedArgument(String),
}

impl PoptError {
    /// The word the error occurred in (`poptBadOption`).
    pub fn bad_option(&self) -> &str {
        match self {
            PoptError::UnknownOption(s)
            | PoptError::MissingArgument(s)
            | PoptError::UnwantedArgument(s) => s,
        }
    }

    /// popt's description of the error (`poptStrerror`).
    pub fn description(&self) -> &'static str {
        match self {
            PoptError::UnknownOption(_) => "unknown option",
            PoptError::MissingArgument(_) => "missing argument",
            PoptError::UnwantedArgument(_) => "option does not take an argument",
        }
    }
}

/// One option occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence<T> {
    /// The option's tag.
    pub tag: T,
    /// Its argument, if it took one.
    pub arg: Option<String>,
    /// The last word consumed: the option's own, or its argument's when that
    /// was the next word (popt's `poptBadOption`, used in "invalid option").
    pub word: String,
}

/// A popt context over `args` (without the program name).
#[derive(Debug)]
pub struct Popt<'a, T: 'static, S: AsSpec<T> = OptSpec<T>> {
    table: &'a [S],
    tag: std::marker::PhantomData<T>,
    args: Vec<String>,
    next: usize,
    /// Remaining letters of a short-option cluster, and the word they came from.
    cluster: Option<(String, String)>,
    rest_leftover: bool,
    leftovers: Vec<String>,
}

impl<'a, T: Copy + 'static, S: AsSpec<T>> Popt<'a, T, S> {
    /// Start tokenizing `args` (the program name excluded).
    pub fn new(table: &'a [S], args: Vec<String>) -> Self {
        Popt {
            table,
            tag: std::marker::PhantomData,
            args,
            next: 0,
            cluster: None,
            rest_leftover: false,
            leftovers: Vec::new(),
        }
    }

    /// The next option, `Ok(None)` at the end, or popt's error.
    pub fn next_opt(&mut self) -> Result<Option<Occurrence<T>>, PoptError> {
        loop {
            if let Some((rest, word)) = self.cluster.take() {
                let mut chars = rest.chars();
                let Some(letter) = chars.next() else {
                    continue;
                };
                let spec = self
                    .table
                    .iter()
                    .map(AsSpec::spec)
                    .find(|s| s.short == Some(letter))
                    .ok_or_else(|| PoptError::UnknownOption(word.clone()))?;
                let mut remaining: String = chars.collect();
                // popt skips one '=' between a short option and its glued argument.
                if spec.arg != ArgKind::None && remaining.starts_with('=') {
                    remaining.remove(0);
                }
                if spec.arg == ArgKind::None {
                    if !remaining.is_empty() {
                        self.cluster = Some((remaining, word.clone()));
                    }
                    return Ok(Some(Occurrence {
                        tag: spec.tag,
                        arg: None,
                        word,
                    }));
                }
                let (arg, word) = if !remaining.is_empty() {
                    (Some(remaining), word)
                } else {
                    self.take_next_word(spec.arg, word)?
                };
                return Ok(Some(Occurrence {
                    tag: spec.tag,
                    arg,
                    word,
                }));
            }

            let Some(word) = self.args.get(self.next).cloned() else {
                return Ok(None);
            };
            self.next += 1;

            if self.rest_leftover || !word.starts_with('-') || word == "-" {
                self.leftovers.push(word);
                continue;
            }
            if word == "--" {
                self.rest_leftover = true;
                continue;
            }
            if let Some(body) = word.strip_prefix("--") {
                let (name, value) = match body.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (body, None),
                };
                let spec = self
                    .table
                    .iter()
                    .map(AsSpec::spec)
                    .find(|s| s.long == Some(name))
                    .ok_or_else(|| PoptError::UnknownOption(word.clone()))?;
                let (arg, word) = match (spec.arg, value) {
                    (ArgKind::None, Some(_)) => return Err(PoptError::UnwantedArgument(word)),
                    (ArgKind::None, None) => (None, word),
                    (_, Some(v)) => (Some(v), word),
                    (kind, None) => self.take_next_word(kind, word)?,
                };
                return Ok(Some(Occurrence {
                    tag: spec.tag,
                    arg,
                    word,
                }));
            }
            // A single dash: popt would try a one-dash long option first, but
            // ipvsadm declares none, so this is always a short cluster.
            self.cluster = Some((word[1..].to_string(), word));
        }
    }

    /// Take an option's argument from the next word. Returns the argument and
    /// the last word consumed, which is what `poptBadOption` reports afterwards.
    fn take_next_word(
        &mut self,
        kind: ArgKind,
        word: String,
    ) -> Result<(Option<String>, String), PoptError> {
        match self.args.get(self.next) {
            None if kind == ArgKind::Optional => Ok((None, word)),
            None => Err(PoptError::MissingArgument(word)),
            Some(next) if kind == ArgKind::Optional && next.starts_with('-') => Ok((None, word)),
            Some(next) => {
                let next = next.clone();
                self.next += 1;
                Ok((Some(next.clone()), next))
            }
        }
    }

    /// Take the next leftover (non-option) word, in order (`poptGetArg`).
    pub fn get_arg(&mut self) -> Option<String> {
        if self.leftovers.is_empty() {
            None
        } else {
            Some(self.leftovers.remove(0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[OptSpec<char>] = &[
        OptSpec {
            long: Some("list"),
            short: Some('L'),
            arg: ArgKind::None,
            tag: 'L',
        },
        OptSpec {
            long: Some("numeric"),
            short: Some('n'),
            arg: ArgKind::None,
            tag: 'n',
        },
        OptSpec {
            long: Some("scheduler"),
            short: Some('s'),
            arg: ArgKind::Required,
            tag: 's',
        },
        OptSpec {
            long: Some("persistent"),
            short: Some('p'),
            arg: ArgKind::Optional,
            tag: 'p',
        },
    ];

    #[allow(clippy::type_complexity)]
    fn all(args: &[&str]) -> (Vec<(char, Option<String>)>, Option<PoptError>, Vec<String>) {
        let mut p = Popt::new(TABLE, args.iter().map(|s| s.to_string()).collect());
        let mut out = Vec::new();
        let err = loop {
            match p.next_opt() {
                Ok(Some(o)) => out.push((o.tag, o.arg)),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let mut left = Vec::new();
        while let Some(a) = p.get_arg() {
            left.push(a);
        }
        (out, err, left)
    }

    #[test]
    fn clusters_and_glued_arguments() {
        let (o, e, _) = all(&[
            "-Lns",
            "rr",
            "-srr",
            "-s=wrr",
            "--scheduler=lc",
            "--scheduler",
            "-x",
        ]);
        assert_eq!(e, None);
        let args: Vec<_> = o.iter().map(|(t, a)| (*t, a.as_deref())).collect();
        assert_eq!(
            args,
            [
                ('L', None),
                ('n', None),
                ('s', Some("rr")),
                ('s', Some("rr")),
                ('s', Some("wrr")),
                ('s', Some("lc")),
                ('s', Some("-x"))
            ]
        );
    }

    #[test]
    fn optional_argument_skips_dash_words() {
        let (o, e, _) = all(&["-p", "-n", "-p", "30", "-p"]);
        assert_eq!(e, None);
        assert_eq!(
            o,
            [
                ('p', None),
                ('n', None),
                ('p', Some("30".into())),
                ('p', None)
            ]
        );
    }

    #[test]
    fn errors_name_the_whole_word() {
        assert_eq!(
            all(&["-Lnk"]).1,
            Some(PoptError::UnknownOption("-Lnk".into()))
        );
        assert_eq!(
            all(&["-Lns"]).1,
            Some(PoptError::MissingArgument("-Lns".into()))
        );
        assert_eq!(
            all(&["--list=1"]).1,
            Some(PoptError::UnwantedArgument("--list=1".into()))
        );
        assert_eq!(
            all(&["--lis"]).1,
            Some(PoptError::UnknownOption("--lis".into()))
        );
    }

    #[test]
    fn leftovers_and_double_dash() {
        let (o, e, left) = all(&["a", "-L", "-", "--", "-n", "b"]);
        assert_eq!(e, None);
        assert_eq!(o, [('L', None)]);
        assert_eq!(left, ["a", "-", "-n", "b"]);
    }
}
