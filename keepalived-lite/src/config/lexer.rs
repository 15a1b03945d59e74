//! The tokenizer: words, `{`, `}` and line ends, with file and line, following
//! `include` lines as it goes (through [`crate::config::source`], which bounds them).

use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::config::model::{err_at, ConfigError};
use crate::config::source::{expand_include, read_config_file, Budget, MAX_INCLUDE_DEPTH};

/// One lexical element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A word or a quoted string.
    Word(String),
    /// `{`.
    Open,
    /// `}`.
    Close,
    /// End of a line.
    Eol,
}

/// A token with where it is.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) file: Rc<PathBuf>,
    pub(crate) line: usize,
}

/// Tokenizes the file at `path`; `from` is the `include` line that names it (`None` for
/// the main file). Errors name the file and why it was not read, never its contents.
pub(crate) fn tokenize_file(
    path: &Path,
    from: Option<(&Path, usize)>,
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Token>,
) -> Result<(), ConfigError> {
    if depth > MAX_INCLUDE_DEPTH {
        return Err(err_at(
            path,
            0,
            format!("include nested more than {MAX_INCLUDE_DEPTH} deep"),
        ));
    }
    let text = read_config_file(path, budget).map_err(|why| match from {
        None => err_at(path, 0, format!("cannot read: {why}")),
        Some((file, line)) => err_at(file, line, format!("include {}: {why}", path.display())),
    })?;
    tokenize_str(path, &text, depth, budget, out)
}

/// Tokenizes `text` as the contents of `path` (includes resolve from it).
pub(crate) fn tokenize_str(
    path: &Path,
    text: &str,
    depth: usize,
    budget: &mut Budget,
    out: &mut Vec<Token>,
) -> Result<(), ConfigError> {
    let file = Rc::new(path.to_path_buf());
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let mut words: Vec<Tok> = Vec::new();
        let mut chars = raw.chars().peekable();
        loop {
            while chars.peek().is_some_and(|c| c.is_whitespace()) {
                chars.next();
            }
            let Some(&c) = chars.peek() else { break };
            match c {
                '#' | '!' => break,
                '{' => {
                    chars.next();
                    words.push(Tok::Open);
                }
                '}' => {
                    chars.next();
                    words.push(Tok::Close);
                }
                '"' => {
                    chars.next();
                    let mut w = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '"' {
                            closed = true;
                            break;
                        }
                        w.push(c);
                    }
                    if !closed {
                        return Err(err_at(path, line, "unterminated quoted string"));
                    }
                    words.push(Tok::Word(w));
                }
                _ => {
                    let mut w = String::new();
                    while let Some(&c) = chars.peek() {
                        if c.is_whitespace() || c == '{' || c == '}' {
                            break;
                        }
                        w.push(c);
                        chars.next();
                    }
                    words.push(Tok::Word(w));
                }
            }
        }
        if let [Tok::Word(kw), rest @ ..] = words.as_slice() {
            if kw == "include" {
                let [Tok::Word(pattern)] = rest else {
                    return Err(err_at(path, line, "include takes exactly one file name"));
                };
                for inc in expand_include(path, line, pattern)? {
                    tokenize_file(&inc, Some((path, line)), depth + 1, budget, out)?;
                }
                continue;
            }
        }
        for tok in words {
            out.push(Token {
                tok,
                file: file.clone(),
                line,
            });
        }
        out.push(Token {
            tok: Tok::Eol,
            file: file.clone(),
            line,
        });
    }
    Ok(())
}
