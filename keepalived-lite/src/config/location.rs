//! Where something is in the configuration (its own module so that every block's model
//! can name it without depending on the others).

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

/// A file and line, for messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    /// File.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}
