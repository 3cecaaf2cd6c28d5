//! Error codes shared by the engine.
//!
//! Every module has its own `thiserror` enum; each implements [`Coded`] so that
//! whatever reaches a user (CLI line, UI toast, JSON body) carries a stable code, a
//! message saying what failed and why, and a remedy saying what to do. Codes are
//! dotted and never reused: scripts and the UI match on them.
//!
//! This module depends on no other engine module: every module depends on it.

use serde::Serialize;

/// An error a user can act on.
pub trait Coded: std::error::Error {
    /// Stable identifier, e.g. `endpoint.auth_failed`.
    fn code(&self) -> &'static str;
    /// What to do about it, in one sentence.
    fn remedy(&self) -> String;
    /// Errors that cannot heal by retrying (bad password, purged binlog) are definite;
    /// lost connections and timeouts are transient.
    fn is_transient(&self) -> bool {
        false
    }
}

/// The serialisable form of any [`Coded`] error: what the CLI prints and the UI shows.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Report {
    pub code: String,
    pub message: String,
    pub remedy: String,
}

impl Report {
    pub fn from_error<E: Coded + ?Sized>(err: &E) -> Self {
        Report {
            code: err.code().to_string(),
            message: err.to_string(),
            remedy: err.remedy(),
        }
    }

    /// One line: code, what and why, then what to do.
    pub fn one_line(&self) -> String {
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let message = flat(&self.message);
        format!(
            "error {}: {}. Fix: {}",
            self.code,
            message.trim_end_matches('.'),
            flat(&self.remedy)
        )
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.one_line())
    }
}
