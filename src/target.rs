//! Sessions that write to the target: the copy's writers, the sync's appliers and
//! the DDL executor all start here, so they write under the same rules.
//!
//! Guarantee: a value read from the source (its rows, or its binlog row images) is
//! stored on the target as it is, never re-validated. The source already accepted
//! it — possibly under a permissive session `sql_mode` (`ALLOW_INVALID_DATES`, an
//! empty mode that allows zero dates and ENUM's error value `''`,
//! `NO_AUTO_VALUE_ON_ZERO` for an id of 0) — and a replica, mysqldump and myloader
//! all write stored values as they are. So the session:
//! - sends and receives raw bytes (`SET NAMES binary`): no charset conversion;
//! - uses UTC, so TIMESTAMP values are not shifted;
//! - runs under [`WRITE_SQL_MODE`]: not strict, invalid and zero dates allowed, a
//!   0 in an AUTO_INCREMENT column stays 0. Nothing is lost by leaving strict mode:
//!   the target tables have the source's definitions, so every value fits;
//! - skips foreign-key checks, which the source already made (a parent's delete
//!   or key update that cascades on the source is run with the checks on, so the
//!   target cascades too: see `replicate::apply`).
//!
//! Exactly once, for both writers: rows are committed in the same target
//! transaction as the mark that says they are there — the copy's chunk mark
//! (`snapshot::copy`), the sync's binlog checkpoint (`replicate::apply`). A crash
//! before the commit loses both, so the work is done again; after it, both are
//! there and the work is skipped. The sync's statements are idempotent (final row
//! states by key), so its replay from the last checkpoint converges; keyless
//! changes, which are not, always commit with the checkpoint itself.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

/// The `sql_mode` of every session that writes rows or DDL to the target.
pub const WRITE_SQL_MODE: &str = "NO_AUTO_VALUE_ON_ZERO,ALLOW_INVALID_DATES,NO_ENGINE_SUBSTITUTION";

/// What a session is for: the settings that differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Session {
    /// The full copy's writers: unique checks are off (the rows come from tables
    /// whose keys already hold), and READ COMMITTED so writers of neighbouring key
    /// ranges take no gap locks on each other.
    Copy,
    /// The sync's appliers: unique checks stay on (`REPLACE` relies on them).
    /// `parallel` asks for READ COMMITTED (workers touch disjoint keys) and
    /// autocommit.
    Apply { parallel: bool },
    /// Schema copy and DDL from the binlog.
    Ddl,
}

/// Sets `conn` up for `session` (see the module's guarantee).
pub async fn prepare(conn: &mut Conn, session: Session) -> Result<(), mysql_async::Error> {
    let unique_checks = if session == Session::Copy { 0 } else { 1 };
    // One packet: a session costs one round trip to set up, however far the target.
    // (WRITE_SQL_MODE is this module's constant, not data.)
    let mut sql = format!(
        "SET NAMES binary, SESSION foreign_key_checks = 0, SESSION unique_checks = {unique_checks}, \
         SESSION time_zone = '+00:00', SESSION sql_mode = '{WRITE_SQL_MODE}'"
    );
    match session {
        Session::Copy => {
            // Every warning of a chunk is looked at (see the copy's LOAD DATA). Each
            // chunk is one transaction that its first statement opens and its
            // checkpoint's COMMIT ends: no START TRANSACTION round trip per chunk.
            sql.push_str(
                ", SESSION max_error_count = 65535, SESSION autocommit = 0; \
                 SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
            );
        }
        Session::Apply { parallel } => {
            // One applier: a batch is a transaction its first statement opens
            // and the COMMIT at the end of its last packet ends, no START
            // TRANSACTION round trip. Parallel workers commit each statement
            // (their final rows are idempotent and the checkpoint follows them,
            // so a COMMIT would be a round trip for nothing); what must be
            // atomic there opens a transaction (see `replicate::apply`).
            if !parallel {
                sql.push_str(", SESSION autocommit = 0");
                return conn.query_drop(sql).await;
            }
            sql.push_str(", SESSION autocommit = 1");
            // In the same packet. Refused where the target's binlog is
            // statement-based: then the settings go alone and gap locks stay,
            // which is slower but still correct.
            let both = format!("{sql}; SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED");
            if conn.query_drop(both).await.is_err() {
                conn.query_drop(sql).await?;
            }
            return Ok(());
        }
        _ => {}
    }
    conn.query_drop(sql).await
}

/// Whether `conn`'s handshake came from a server that bulk-executes
/// (`COM_STMT_BULK_EXECUTE`, MariaDB 10.3+; callers check the flavor too). The
/// driver uses bulk executes only where the handshake offered them; elsewhere
/// (a proxy that reports its own version) `exec_batch` runs the statement once
/// per row, a round trip each.
pub fn bulk_offered(conn: &Conn) -> bool {
    conn.server_version() >= (10, 3, 0)
}

/// The rows a connection's `LOAD DATA LOCAL` statements read, by file name. A
/// writer puts each load's rows here before sending the statements that name them,
/// so several loads travel in one multi-statement packet: the server asks for each
/// file in turn, one round trip each, and nothing waits for a statement's answer
/// before the next is sent. The server can read only names put here, each once.
#[derive(Clone, Default)]
pub struct Infiles(Arc<Mutex<HashMap<Vec<u8>, Vec<Bytes>>>>);

impl Infiles {
    /// Serves `blocks` once under `name`.
    pub fn put(&self, name: &str, blocks: Vec<Bytes>) {
        self.files().insert(name.as_bytes().to_vec(), blocks);
    }

    /// Drops what was not read (a packet that failed before its loads).
    pub fn clear(&self) {
        self.files().clear();
    }

    fn files(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Vec<Bytes>>> {
        // A panic while holding the lock leaves a map that is still whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The handler to give the connection's options.
    pub fn handler(&self) -> impl mysql_async::prelude::GlobalHandler {
        let files = self.clone();
        move |name: &[u8]| {
            let blocks = files.files().remove(name);
            let name = String::from_utf8_lossy(name).into_owned();
            let data: mysql_async::InfileData = match blocks {
                Some(blocks) => futures_util::stream::iter(blocks.into_iter().map(Ok)).boxed(),
                // The statement fails, having read nothing (the driver then drops
                // the connection: the sync reconnects, as after any transient
                // failure).
                None => futures_util::stream::once(async move {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("no rows were put under {name:?}"),
                    ))
                })
                .boxed(),
            };
            futures_util::future::ready(Ok(data)).boxed()
        }
    }
}

/// The multi-row statement every writer uses: `verb INTO table (cols) VALUES
/// (?, …), …` for `rows` rows of `width` values. `table` and `cols` are already
/// quoted; values always travel as parameters.
pub fn insert_sql(verb: &str, table: &str, cols: &str, width: usize, rows: usize) -> String {
    let tuple = format!("({})", vec!["?"; width].join(", "));
    format!(
        "{verb} INTO {table} ({cols}) VALUES {}",
        vec![tuple.as_str(); rows].join(", ")
    )
}

/// `LOAD DATA LOCAL` of a stream [`encode_field`] writes (`table` and `cols`
/// already quoted), `REPLACE` or not (a copy into an empty range; the sync's
/// final rows). `label` names the stream in the server's logs; the driver's
/// handler supplies the data.
pub fn load_data_sql(label: &str, replace: bool, table: &str, cols: &str) -> String {
    let replace = if replace { "REPLACE " } else { "" };
    format!(
        "LOAD DATA LOCAL INFILE '{label}' {replace}INTO TABLE {table} CHARACTER SET binary \
         FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({cols})"
    )
}

/// Appends `v` to a LOAD DATA stream (`FIELDS TERMINATED BY '\t' ESCAPED BY '\\'`,
/// `CHARACTER SET binary`): bytes exactly as read with escapes, numbers in forms
/// that parse back to the same value, temporal values in MySQL's literal syntax.
pub fn encode_field(out: &mut Vec<u8>, v: &mysql_async::Value) {
    use mysql_async::Value;
    use std::io::Write;
    match v {
        Value::NULL => out.extend_from_slice(b"\\N"),
        Value::Bytes(bytes) => {
            for &b in bytes {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    0 => out.extend_from_slice(b"\\0"),
                    b => out.push(b),
                }
            }
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        // The f32 is widened exactly; `{:e}` prints the shortest text that parses
        // back to that f64, so FLOAT and DOUBLE values arrive bit for bit.
        Value::Float(f) => {
            let _ = write!(out, "{:e}", f64::from(*f));
        }
        Value::Double(d) => {
            let _ = write!(out, "{d:e}");
        }
        Value::Date(y, m, d, 0, 0, 0, 0) => {
            let _ = write!(out, "{y:04}-{m:02}-{d:02}");
        }
        Value::Date(y, m, d, h, mi, s, us) => {
            let _ = write!(out, "{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}");
        }
        Value::Time(neg, days, h, m, s, us) => {
            let hours = u64::from(*days) * 24 + u64::from(*h);
            let sign = if *neg { "-" } else { "" };
            let _ = write!(out, "{sign}{hours:02}:{m:02}:{s:02}.{us:06}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_data_statements_read_back_what_encode_field_writes() {
        assert_eq!(
            load_data_sql("ferry-chunk", false, "`s`.`t`", "`a`, `b`"),
            "LOAD DATA LOCAL INFILE 'ferry-chunk' INTO TABLE `s`.`t` CHARACTER SET binary \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`a`, `b`)"
        );
        assert_eq!(
            load_data_sql("ferry-apply", true, "`s`.`t`", "`a`"),
            "LOAD DATA LOCAL INFILE 'ferry-apply' REPLACE INTO TABLE `s`.`t` CHARACTER SET binary \
             FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`a`)"
        );
        let mut out = Vec::new();
        encode_field(&mut out, &mysql_async::Value::Bytes(b"a\tb\\\n\0".to_vec()));
        assert_eq!(out, b"a\\tb\\\\\\n\\0");
    }
}
