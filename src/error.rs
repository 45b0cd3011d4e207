//! The error every layer below the CLI returns. Each variant maps to one HTTP
//! status in `daemon::error`, and its message is written for the user: what went
//! wrong, with which input, and what to do. Messages never carry secret values.

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The thing does not exist, or the caller may not know that it exists.
    #[error("{0}")]
    NotFound(String),
    /// The input is malformed or out of range.
    #[error("{0}")]
    Invalid(String),
    /// The input is well formed but clashes with what exists.
    #[error("{0}")]
    Conflict(String),
    /// The caller is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// No caller could be established.
    #[error("{0}")]
    Unauthorized(String),
    /// The org is suspended for want of funds (billing).
    #[error("{0}")]
    Suspended(String),
    /// Anything else: a bug or a broken environment.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    pub fn code(&self) -> &'static str {
        match self {
            Error::NotFound(_) => "not_found",
            Error::Invalid(_) => "invalid",
            Error::Conflict(_) => "conflict",
            Error::Forbidden(_) => "forbidden",
            Error::Unauthorized(_) => "unauthorized",
            Error::Suspended(_) => "suspended",
            Error::Internal(_) => "internal",
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(format!("I/O error: {e}"))
    }
}

/// Shorthand constructors keep call sites on one line.
pub fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}
pub fn not_found(msg: impl Into<String>) -> Error {
    Error::NotFound(msg.into())
}
pub fn conflict(msg: impl Into<String>) -> Error {
    Error::Conflict(msg.into())
}
pub fn forbidden(msg: impl Into<String>) -> Error {
    Error::Forbidden(msg.into())
}
