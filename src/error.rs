//! Error codes shared by the engine.
//!
//! Every module has its own `thiserror` enum; each implements [`Coded`] so that
//! whatever reaches a user (CLI line, UI toast, JSON body) carries a stable code, a
//! message saying what failed and why, and a remedy saying what to do. Codes are
//! dotted and never reused: scripts and the UI match on them.

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

/// Which side of a migration an endpoint is; used in every message about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }

    /// The environment variable the CLI reads this side's password from.
    pub fn password_env(self) -> &'static str {
        match self {
            Side::Source => "FERRY_SOURCE_PASSWORD",
            Side::Target => "FERRY_TARGET_PASSWORD",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Any engine error, for API entry points that cross module boundaries. The code,
/// message and remedy are those of the module error inside.
#[derive(Debug, thiserror::Error)]
pub enum FerryError {
    #[error(transparent)]
    Endpoint(#[from] crate::endpoint::EndpointError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Rules(#[from] crate::rules::RulesError),
}

impl FerryError {
    fn inner(&self) -> &dyn Coded {
        match self {
            FerryError::Endpoint(e) => e,
            FerryError::Secret(e) => e,
            FerryError::Profile(e) => e,
            FerryError::Catalog(e) => e,
            FerryError::Rules(e) => e,
        }
    }

    pub fn report(&self) -> Report {
        Report::from_error(self)
    }
}

impl Coded for FerryError {
    fn code(&self) -> &'static str {
        self.inner().code()
    }

    fn remedy(&self) -> String {
        self.inner().remedy()
    }

    fn is_transient(&self) -> bool {
        self.inner().is_transient()
    }
}
