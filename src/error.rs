//! Error types. Library code returns [`Error`]; the CLI prints it as one line and maps it to an
//! exit code with [`Error::exit_code`] (2 for bad input or usage, 3 for a bug in mig-replay or
//! in a plugin, 1 for anything else).

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
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
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

impl Error {
    /// Exit code for the CLI: 2 for bad input or usage, 3 for a bug ([`Error::Internal`]),
    /// 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::Usage(_) => 2,
            Error::Internal(_) => 3,
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => 2,
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
