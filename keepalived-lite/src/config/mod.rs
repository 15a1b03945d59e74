//! keepalived.conf parser for the subset keepalived-lite supports.
//!
//! Syntax as keepalived reads it: whitespace-separated words, `{`/`}` blocks, `#` and
//! `!` starting a comment at the start of a word, double-quoted strings, and
//! `include FILE` (a `*`/`?` pattern in the last path component is expanded; a relative
//! path is relative to the including file). Every keyword we do not support is an error
//! naming file, line and keyword; every bad value names the allowed range.

//!
//! Layers, each its own module: [`source`] reads files within bounds, `lexer` makes
//! tokens (following includes), `parser` builds the [`model`] types, [`validate`] checks
//! the whole. Reading never blocks and never grows without bound (see [`source`]), and
//! an error repeats at most the offending token of a file.

mod lexer;
mod location;
pub mod lvs;
mod lvs_check;
pub mod model;
mod parser;
pub mod source;
pub mod validate;

use std::path::Path;

pub use model::{
    Config, ConfigError, GlobalDefs, InitialState, Instance, Location, TrackRef, Vip, VrrpScript,
};

/// Parses the configuration file at `path` (following includes).
pub fn parse_file(path: &Path) -> Result<Config, ConfigError> {
    let mut toks = Vec::new();
    let mut budget = source::Budget::default();
    lexer::tokenize_file(path, None, 0, &mut budget, &mut toks)?;
    let (cfg, pending) = parser::parse_tokens(toks, path)?;
    let mut cfg = validate::finish(cfg, pending)?;
    lvs_check::check(&mut cfg)?;
    Ok(cfg)
}

/// Parses configuration text as if it were the file `path` (includes resolve from it).
pub fn parse_str(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let mut toks = Vec::new();
    let mut budget = source::Budget::default();
    lexer::tokenize_str(path, text, 0, &mut budget, &mut toks)?;
    let (cfg, pending) = parser::parse_tokens(toks, path)?;
    let mut cfg = validate::finish(cfg, pending)?;
    lvs_check::check(&mut cfg)?;
    Ok(cfg)
}

/// Parses `text` as `/etc/keepalived/keepalived.conf`: for the tests of other modules.
#[cfg(test)]
pub(crate) fn parse_for_test(text: &str) -> Config {
    parse_str(Path::new("/etc/keepalived/keepalived.conf"), text)
        .expect("test configuration parses")
}

#[cfg(test)]
mod lvs_tests;
#[cfg(test)]
mod tests;
