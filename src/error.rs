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

/// Who reads a remedy. A remedy names what to do; where to do it differs: the
/// command line has commands, job-file keys and environment variables, the app
/// has pages, fields and buttons. A remedy may hold a part phrased for each,
/// `⟦cli:…|app:…⟧` (either may be empty), and each adapter keeps its own with
/// [`phrase`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Cli,
    App,
}

/// `text` with every `⟦cli:…|app:…⟧` part replaced by the one for `audience`.
pub fn phrase(text: &str, audience: Audience) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('⟦') {
        out.push_str(&rest[..start]);
        let after = &rest[start + '⟦'.len_utf8()..];
        let Some(end) = after.find('⟧') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = &after[..end];
        let (cli, app) = inner.split_once("|app:").unwrap_or((inner, ""));
        let cli = cli.strip_prefix("cli:").unwrap_or(cli);
        out.push_str(match audience {
            Audience::Cli => cli,
            Audience::App => app,
        });
        rest = &after[end + '⟧'.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The serialisable form of any [`Coded`] error: what the CLI prints and the UI shows.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
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

    /// The remedy phrased for `audience` (see [`phrase`]).
    pub fn for_audience(mut self, audience: Audience) -> Report {
        self.remedy = phrase(&self.remedy, audience);
        self
    }

    /// One line for the command line: code, what and why, then what to do.
    pub fn one_line(&self) -> String {
        let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let message = flat(&self.message);
        format!(
            "error {}: {}. Fix: {}",
            self.code,
            message.trim_end_matches('.'),
            flat(&phrase(&self.remedy, Audience::Cli))
        )
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.one_line())
    }
}

#[cfg(test)]
mod tests {
    use super::{phrase, Audience};

    #[test]
    fn each_reader_gets_its_own_phrasing() {
        let r = "check the password⟦cli: (`ferry profile save` stores it)|app: on the Connect page⟧; then retry";
        assert_eq!(
            phrase(r, Audience::Cli),
            "check the password (`ferry profile save` stores it); then retry"
        );
        assert_eq!(
            phrase(r, Audience::App),
            "check the password on the Connect page; then retry"
        );
        assert_eq!(phrase("⟦cli:a|app:⟧b⟦cli:|app:c⟧", Audience::Cli), "ab");
        assert_eq!(phrase("⟦cli:a|app:⟧b⟦cli:|app:c⟧", Audience::App), "bc");
        // Text without parts, or with an unclosed one, stays as it is.
        assert_eq!(phrase("plain", Audience::App), "plain");
        assert_eq!(phrase("x ⟦cli:y", Audience::App), "x ⟦cli:y");
    }
}
