//! The crate's error type. Input errors carry the file and line they come from so that the
//! command line can print one clear message and exit with code 2.

use std::fmt;

/// Where in an input a problem was found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// File name as given by the user (or `<builtin NAME>` / `<inline>`).
    pub file: String,
    /// 1-based line number, when the problem belongs to a line.
    pub line: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{}:{}", self.file, l),
            None => write!(f, "{}", self.file),
        }
    }
}

/// Errors of the reference crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Malformed or invalid user input (a game file, a factorization file, a weight file).
    #[error("{location}: {message}")]
    Input {
        /// Where.
        location: Location,
        /// What is wrong, in words.
        message: String,
    },
    /// An I/O failure reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Arguments that do not fit together (shapes, agent counts, …).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl Error {
    /// An input error at `file`, optional `line`.
    pub fn input(file: impl Into<String>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Input {
            location: Location {
                file: file.into(),
                line,
            },
            message: message.into(),
        }
    }

    /// True when the error is the user's input (exit code 2 on the command line).
    pub fn is_input(&self) -> bool {
        matches!(
            self,
            Error::Input { .. } | Error::Io { .. } | Error::Invalid(_)
        )
    }
}

/// Result alias of the crate.
pub type Result<T> = std::result::Result<T, Error>;
