//! Small MySQL helpers every module may use: identifier quoting, a tokenizer of
//! SQL text, and the one place that decides whether a server or connection error
//! may heal by itself.

/// Sizes the driver's buffer pool, which it reads from the environment once (see
/// [`crate::process::prepare`], first thing in `main`, before any thread
/// starts). mysql_async keeps up to 128 buffers of up to 4 MiB for all
/// connections together: a copy's 512 KiB bulk packets parked up to 64 MiB
/// there (a third of the peak memory of an 8 M-row copy). A run holds about a
/// dozen connections; 16 buffers serve them, and a miss costs one allocation. A value set by the user wins.
pub fn size_driver_buffers() {
    const POOL: &str = "MYSQL_ASYNC_BUFFER_POOL_CAP";
    if std::env::var_os(POOL).is_none() {
        std::env::set_var(POOL, "16");
    }
}

/// A UTC date and time from seconds since the epoch: (year, month, day, hour,
/// minute, second), the way TIMESTAMP values and log times are shown.
pub fn utc_from_epoch(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month as u32,
        day as u32,
        (rest / 3600) as u32,
        (rest % 3600 / 60) as u32,
        (rest % 60) as u32,
    )
}

/// `2026-12-03 16:27:38` (UTC) for seconds since the epoch: how the CLI and the
/// job's report show times.
pub fn utc_time(at: f64) -> String {
    let (y, m, d, h, min, s) = utc_from_epoch(at.max(0.0) as i64);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{min:02}:{s:02}")
}

/// Quotes an identifier with backticks, doubling any backtick inside.
pub fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

/// A token of SQL text, with its byte span.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    /// Identifier value (unquoted), or the word as written.
    pub text: String,
    /// Upper-cased for keywords; empty for quoted identifiers and strings.
    pub word: String,
    pub start: usize,
    pub end: usize,
    pub kind: TokenKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum TokenKind {
    Word,
    Quoted,
    Str,
    Punct,
}

/// What the tokenizer does with comments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comments {
    /// Leaves them out (`/*! … */` version comments included): a statement's
    /// table names never hide there.
    Skip,
    /// Reads through them like code: their delimiters come out as punctuation.
    Scan,
}

/// Splits SQL into words, backquoted identifiers, strings (quotes and escapes as
/// MySQL reads them) and punctuation.
pub(crate) fn tokens(sql: &str, comments: Comments) -> Vec<Token> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if comments == Comments::Skip
            && (c == b'#' || (c == b'-' && b.get(i + 1) == Some(&b'-')))
        {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if comments == Comments::Skip && c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else if c == b'`' || c == b'"' || c == b'\'' {
            let q = c;
            let start = i;
            i += 1;
            let mut val = Vec::new();
            while i < b.len() {
                if b[i] == b'\\' && q != b'`' && i + 1 < b.len() {
                    val.push(b[i + 1]);
                    i += 2;
                } else if b[i] == q {
                    if b.get(i + 1) == Some(&q) {
                        val.push(q);
                        i += 2;
                    } else {
                        i += 1;
                        break;
                    }
                } else {
                    val.push(b[i]);
                    i += 1;
                }
            }
            out.push(Token {
                text: String::from_utf8_lossy(&val).into_owned(),
                word: String::new(),
                start,
                end: i,
                // Double quotes are strings unless ANSI_QUOTES; names in DDL are
                // backquoted or bare in practice.
                kind: if q == b'`' {
                    TokenKind::Quoted
                } else {
                    TokenKind::Str
                },
            });
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
            let start = i;
            while i < b.len()
                && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80)
            {
                i += 1;
            }
            let text = sql.get(start..i).unwrap_or_default().to_string();
            out.push(Token {
                word: text.to_ascii_uppercase(),
                text,
                start,
                end: i,
                kind: TokenKind::Word,
            });
        } else {
            out.push(Token {
                text: (c as char).to_string(),
                word: (c as char).to_string(),
                start: i,
                end: i + 1,
                kind: TokenKind::Punct,
            });
            i += 1;
        }
    }
    out
}

/// What a MySQL error means for the work that met it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The link broke or the server is busy or failing over: reconnect and go on
    /// from the last checkpoint.
    Transient,
    /// The server rolled the transaction back to break a lock conflict (deadlock
    /// victim, lock wait timeout): running it again succeeds.
    LockConflict,
    /// A refusal that no retry changes (privileges, a bad statement, data the
    /// server rejects, a packet over the protocol's limit): stop and say why.
    Definite,
}

/// Server codes that heal by themselves: too many connections (1040), shutdown
/// in progress (1053), query or connection killed (1317, 1927), read-only during a
/// failover (1290), connection lost (2006, 2013), the server going away (4031).
const TRANSIENT_CODES: &[u16] = &[1040, 1053, 1290, 1317, 1927, 2006, 2013, 4031];

/// Deadlock victim (1213) and lock wait timeout (1205).
const LOCK_CONFLICT_CODES: &[u16] = &[1205, 1213];

/// Classifies `e`. Every retry loop of the engine asks this, nothing else.
pub fn class(e: &mysql_async::Error) -> Class {
    use mysql_async::{DriverError, Error};
    match e {
        // A packet over the client's limit is read again the same way each time.
        Error::Io(io) if io.to_string().contains("larger than max_allowed_packet") => {
            Class::Definite
        }
        Error::Io(_) => Class::Transient,
        Error::Driver(DriverError::ConnectionClosed | DriverError::PoolDisconnected) => {
            Class::Transient
        }
        Error::Server(se) if LOCK_CONFLICT_CODES.contains(&se.code) => Class::LockConflict,
        Error::Server(se) if TRANSIENT_CODES.contains(&se.code) => Class::Transient,
        _ => Class::Definite,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_times_read_as_calendar_dates() {
        assert_eq!(utc_time(0.0), "1970-01-01 00:00:00");
        assert_eq!(utc_time(951_782_400.0), "2000-02-29 00:00:00");
        assert_eq!(utc_time(1_796_314_986.4), "2026-12-03 16:23:06");
    }

    fn server(code: u16) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: "m".into(),
            state: "HY000".into(),
        })
    }

    #[test]
    fn errors_are_classified_once() {
        assert_eq!(class(&server(2013)), Class::Transient);
        assert_eq!(class(&server(1213)), Class::LockConflict);
        assert_eq!(class(&server(1205)), Class::LockConflict);
        assert_eq!(class(&server(1045)), Class::Definite);
        assert_eq!(class(&server(1062)), Class::Definite);
        assert_eq!(quote("a`b"), "`a``b`");
    }
}
