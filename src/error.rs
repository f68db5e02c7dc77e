//! Error types. Library code returns [`Error`]; the CLI prints it as one line and maps it to an
//! exit code with [`Error::exit_code`] (2 for bad input or usage, which includes every I/O error
//! on a path the user gave; 3 for a bug in mig-replay or in a plugin; 1 for anything else).

use std::path::{Path, PathBuf};

/// Everything that can go wrong in mig-replay.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A problem with an input file: names the file and, where it applies, the column and row.
    #[error("{}", format_input(file, column.as_deref(), *row, message))]
    Input {
        file: PathBuf,
        column: Option<String>,
        /// 0-based data row, as pandas, polars and pyarrow number them.
        row: Option<usize>,
        message: String,
    },
    /// A bad command-line value or a combination of options that cannot work.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a file failed: the message names the path, what was found and what
    /// was expected ([`format_io`]), then the system's own words.
    #[error("{}", format_io(path, source))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Something internal failed (for example a Parquet write).
    #[error("{0}")]
    Other(String),
    /// A bug in mig-replay or in a plugin, never a consequence of the input: a violated
    /// simulator invariant, or a policy that broke its contract with the engine (a query sent
    /// to an instance that does not exist, a repartitioner's illegal server, ...). Exit code 3,
    /// so that a test or a fuzz run tells it from a refusal of bad input.
    #[error("internal error (a bug in mig-replay or in a plugin): {0}")]
    Internal(String),
}

fn format_input(file: &Path, column: Option<&str>, row: Option<usize>, message: &str) -> String {
    let mut s = file.display().to_string();
    if let Some(c) = column {
        s.push_str(&format!(": column '{c}'"));
    }
    if let Some(r) = row {
        s.push_str(&format!(", row {r}"));
    }
    s.push_str(": ");
    s.push_str(message);
    s
}

/// One line for an I/O error on `path`: what the path is and what was expected there (a file,
/// a folder, UTF-8 text, a link that resolves), then the system's message.
fn format_io(path: &Path, e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let is_file = || std::fs::metadata(path).is_ok_and(|m| m.is_file());
    let what = match e.kind() {
        _ if e.raw_os_error() == Some(libc::ELOOP) => {
            "a symbolic link loop; expected a file or a folder (or a link to one)"
        }
        K::NotFound => "not found",
        K::InvalidData => "not UTF-8 text; expected a UTF-8 text file",
        K::IsADirectory => "is a folder; expected a file",
        K::NotADirectory | K::AlreadyExists if is_file() => "is a file; expected a folder",
        K::NotADirectory => "a part of the path is a file; expected folders down to the last name",
        K::AlreadyExists => "already exists and is not a folder; expected a folder",
        K::PermissionDenied => "permission denied; expected a path this user may read or write",
        K::ReadOnlyFilesystem => "on a read-only file system; expected a writable place",
        K::StorageFull => "no space left on its device",
        K::InvalidFilename => "not a valid file name",
        _ => "cannot be read or written",
    };
    format!("{}: {what} ({e})", path.display())
}

impl Error {
    /// Exit code for the CLI: 2 for bad input or usage (every I/O error included: a path
    /// that is missing, a folder, a file, unreadable, not UTF-8, a link loop), 3 for a bug
    /// ([`Error::Internal`]), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Usage(_) | Error::Io { .. } => 2,
            Error::Internal(_) => 3,
            _ => 1,
        }
    }

    /// An input error about a whole file.
    pub fn file(file: impl AsRef<Path>, message: impl Into<String>) -> Self {
        Error::Input {
            file: file.as_ref().to_path_buf(),
            column: None,
            row: None,
            message: message.into(),
        }
    }

    /// An input error about a column.
    pub fn column(file: impl AsRef<Path>, column: &str, message: impl Into<String>) -> Self {
        Error::Input {
            file: file.as_ref().to_path_buf(),
            column: Some(column.to_string()),
            row: None,
            message: message.into(),
        }
    }

    /// An input error about one cell.
    pub fn cell(
        file: impl AsRef<Path>,
        column: &str,
        row: usize,
        message: impl Into<String>,
    ) -> Self {
        Error::Input {
            file: file.as_ref().to_path_buf(),
            column: Some(column.to_string()),
            row: Some(row),
            message: message.into(),
        }
    }

    /// An I/O error on a path.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A number for a message: as written (`0.5`, `120`) unless very large or very small, then in
/// scientific notation (`1e308`, `5e-324`) rather than hundreds of digits; both round-trip.
pub fn num(x: f64) -> String {
    if x.is_finite() && x != 0.0 && !(1e-4..1e15).contains(&x.abs()) {
        format!("{x:e}")
    } else {
        format!("{x}")
    }
}
