//! The catch-up of a chunked copy (`consistency = "chunked"`, what `auto` chooses
//! where FLUSH TABLES WITH READ LOCK is denied — managed MySQL): how chunks read
//! at different moments, without a lock and without a long transaction, end as
//! one consistent target.
//!
//! Argument. P0 is the source's position read before the first chunk; P1 the one
//! read after the last chunk's read ended (a resumed copy reads it again after its
//! own chunks, so P1 is after every chunk of every run). A chunk's rows are its key
//! range as the source had it at one moment between P0 and P1 (one statement's read
//! view). The sync replays the binlog from P0 with final row images by key
//! (`REPLACE`, `DELETE` by key: `replicate::apply`), in order. Take a key and a
//! position P ≥ P1 the replay has reached: if the key changed after P0, the target
//! holds the image of its last change before P, which is the source's row at P; if
//! it did not, the target holds what was copied, which is its row at every moment
//! since P0. So from P1 on, the target equals the source at the replay's position.
//! Before P1 the target mixes moments: a unique key other than the row key may see
//! one value on two rows (it moved between their reads), so such keys are held
//! back (`Later::Held`) and created when the replay reaches P1 — until then a
//! `REPLACE` only ever meets its own row key.
//!
//! Keyless tables have no key to replay by: each is read in one transaction whose
//! snapshot opens under a brief `LOCK TABLES … READ` of that table alone, with the
//! position read under the same lock (Debezium's approach on RDS); the sync skips
//! that table's changes up to that position, which the copy already has.
//!
//! Exactly once stays the sync's (`target.rs`): a replay from the checkpoint
//! converges by key, keyless changes commit with the checkpoint; the held keys are
//! created once (a key that exists counts as created) and the catch-up is marked
//! done after them, so a crash in between creates the rest on the next run.

use std::collections::HashMap;

use super::{target_conn, target_err, SnapshotError};
use crate::checkpoint::{Later, Meta};
use crate::endpoint::Endpoint;
use crate::events::EventSink;
use crate::position::{file_pos_cmp, Position};

/// What the sync must know of a chunked copy.
#[derive(Debug, Clone, Default)]
pub struct Catchup {
    /// Where the target becomes consistent (P1); `None` once the replay passed it,
    /// or when the copy was not chunked.
    pub until: Option<Position>,
    /// Each keyless table's copy position (source names).
    keyless: HashMap<(String, String), Position>,
}

impl Catchup {
    /// Reads the catch-up and the keyless tables' positions, side by side on two
    /// connections (at a distance each read is round trips).
    pub async fn load(
        meta: &Meta,
        conn: &mut mysql_async::Conn,
        other: &mut mysql_async::Conn,
    ) -> Result<Catchup, SnapshotError> {
        let (until, keyless) = tokio::join!(meta.catchup(conn), meta.keyless(other));
        let until = until.map_err(target_err("reading the catch-up position"))?;
        let keyless = keyless
            .map_err(target_err("reading the keyless tables' positions"))?
            .into_iter()
            .map(|(s, t, p)| ((s, t), p))
            .collect();
        Ok(Catchup { until, keyless })
    }

    /// Whether a change to `table` in the transaction ending at `end` is in the
    /// copy already (a keyless table read after it).
    pub fn copied(&self, table: &(String, String), end: &Position) -> bool {
        self.keyless.get(table).is_some_and(|at| {
            matches!(
                file_pos_cmp(end, at),
                Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
            )
        })
    }

    pub fn has_keyless(&self) -> bool {
        !self.keyless.is_empty()
    }

    /// Whether the replay, at `applied`, has made the target consistent and the
    /// held keys can be created.
    pub fn reached(&self, applied: &Position) -> bool {
        self.until.as_ref().is_some_and(|until| {
            matches!(
                file_pos_cmp(applied, until),
                Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
            )
        })
    }

    /// Creates the held keys (the target is consistent now), then records the
    /// catch-up as done.
    pub async fn finish(
        &mut self,
        target: &Endpoint,
        meta: &Meta,
        sink: &EventSink,
    ) -> Result<(), SnapshotError> {
        super::schema::build_kept(target, meta, Later::Held, 2, sink).await?;
        let mut conn = target_conn(target, "recording the catch-up").await?;
        meta.catchup_done(&mut conn)
            .await
            .map_err(target_err("recording the catch-up"))?;
        if let Some(until) = self.until.take() {
            tracing::info!(%until, "catch-up done: the target is consistent");
        }
        Ok(())
    }
}

/// Splits `UNIQUE KEY` definitions other than the row key (`keep`, the key the
/// table's rows are identified by, when it is a unique key) out of a `SHOW CREATE
/// TABLE` statement: the statement without them, and them, for `ALTER TABLE … ADD`.
pub fn split_unique_keys(sql: &str, keep: Option<&str>) -> (String, Vec<String>) {
    let kept_key = keep.map(|k| format!("UNIQUE KEY {} ", crate::mysql::quote(k)));
    super::schema::split_keys(sql, |def| {
        (def.starts_with("UNIQUE KEY ") || def.starts_with("UNIQUE INDEX "))
            && kept_key
                .as_ref()
                .is_none_or(|k| !def.starts_with(k.as_str()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `email` varchar(50) DEFAULT NULL,\n  `code` int(11) NOT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `email` (`email`),\n  UNIQUE KEY `code` (`code`),\n  KEY `k` (`code`)\n) ENGINE=InnoDB";

    #[test]
    fn unique_keys_are_held_but_the_row_key() {
        let (sql, held) = split_unique_keys(CREATE, None);
        assert_eq!(
            held,
            vec!["UNIQUE KEY `email` (`email`)", "UNIQUE KEY `code` (`code`)"]
        );
        assert!(
            sql.contains("PRIMARY KEY (`id`),\n  KEY `k` (`code`)\n) ENGINE=InnoDB"),
            "{sql}"
        );
        // A table identified by a unique key keeps that one.
        let (sql, held) = split_unique_keys(CREATE, Some("code"));
        assert_eq!(held, vec!["UNIQUE KEY `email` (`email`)"]);
        assert!(sql.contains("UNIQUE KEY `code` (`code`)"), "{sql}");
    }

    #[test]
    fn keyless_changes_up_to_the_copy_are_in_it() {
        let at = |file: &str, pos| Position {
            file: Some(file.into()),
            pos: Some(pos),
            gtid: None,
        };
        let mut c = Catchup::default();
        c.keyless
            .insert(("s".into(), "log".into()), at("binlog.000002", 500));
        let log = ("s".to_string(), "log".to_string());
        assert!(c.copied(&log, &at("binlog.000001", 9000)));
        assert!(c.copied(&log, &at("binlog.000002", 500)));
        assert!(!c.copied(&log, &at("binlog.000002", 501)));
        assert!(!c.copied(&("s".into(), "t".into()), &at("binlog.000001", 4)));
        c.until = Some(at("binlog.000003", 10));
        assert!(!c.reached(&at("binlog.000002", 99999)));
        assert!(c.reached(&at("binlog.000003", 10)));
    }
}
