//! Applies source transactions to the target, each in one target transaction with
//! its checkpoint (see the argument in `replicate/mod.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};

use super::reader::{Change, TableMap, Transaction};
use super::ReplicateError;
use crate::checkpoint::{quote, Meta};
use crate::endpoint::Endpoint;

/// Empty transactions (changes to other tables) move the checkpoint at most this
/// often, so a busy source with nothing selected does not cost a commit each.
const IDLE_CHECKPOINT: Duration = Duration::from_secs(1);

pub struct Applier {
    conn: Conn,
    meta: Meta,
    tables: Arc<HashMap<(String, String), TableMap>>,
    last_checkpoint: Instant,
}

fn target_err(what: &str) -> impl FnOnce(mysql_async::Error) -> ReplicateError + '_ {
    move |e| ReplicateError::Target {
        what: what.to_string(),
        cause: e.to_string(),
    }
}

impl Applier {
    pub async fn new(
        target: &Endpoint,
        meta: Meta,
        tables: Arc<HashMap<(String, String), TableMap>>,
        sql_mode: &str,
    ) -> Result<Applier, ReplicateError> {
        let mut conn = target.conn().await.map_err(|e| ReplicateError::Target {
            what: "connecting".into(),
            cause: e.to_string(),
        })?;
        conn.query_drop(
            "SET NAMES binary, SESSION foreign_key_checks = 0, SESSION time_zone = '+00:00'",
        )
        .await
        .map_err(target_err("setting up the apply session"))?;
        conn.exec_drop("SET SESSION sql_mode = ?", (sql_mode,))
            .await
            .map_err(target_err("setting sql_mode"))?;
        Ok(Applier {
            conn,
            meta,
            tables,
            last_checkpoint: Instant::now() - IDLE_CHECKPOINT,
        })
    }

    /// Applies one transaction; returns the number of row changes applied.
    pub async fn apply(&mut self, tx: &Transaction) -> Result<u64, ReplicateError> {
        if tx.changes.is_empty() && self.last_checkpoint.elapsed() < IDLE_CHECKPOINT {
            return Ok(0);
        }
        self.conn
            .query_drop("START TRANSACTION")
            .await
            .map_err(target_err("starting a transaction"))?;
        let result = self.apply_in_tx(tx).await;
        match result {
            Ok(n) => {
                self.conn
                    .query_drop("COMMIT")
                    .await
                    .map_err(target_err("committing"))?;
                self.last_checkpoint = Instant::now();
                Ok(n)
            }
            Err(e) => {
                let _ = self.conn.query_drop("ROLLBACK").await;
                Err(e)
            }
        }
    }

    async fn apply_in_tx(&mut self, tx: &Transaction) -> Result<u64, ReplicateError> {
        let mut n = 0;
        let tables = self.tables.clone();
        for tc in &tx.changes {
            let Some(map) = tables.get(&tc.table) else {
                continue;
            };
            match &tc.change {
                Change::Insert { after } => self.upsert(map, after).await?,
                Change::Delete { before } => self.delete(map, before).await?,
                Change::Update { before, after } => {
                    let moved = map.key.is_empty()
                        || map.key.iter().any(|&i| before.get(i) != after.get(i));
                    if moved {
                        self.delete(map, before).await?;
                    }
                    self.upsert(map, after).await?;
                }
            }
            n += 1;
        }
        self.meta
            .save_sync_position(&mut self.conn, &tx.end)
            .await
            .map_err(target_err("recording the sync checkpoint"))?;
        Ok(n)
    }

    /// `REPLACE` the row: idempotent whether or not the row is already there.
    async fn upsert(&mut self, map: &TableMap, row: &[Value]) -> Result<(), ReplicateError> {
        let (cols, vals): (Vec<String>, Vec<Value>) = map
            .columns
            .iter()
            .zip(row)
            .filter(|((_, _, generated), _)| !generated)
            .map(|((name, _, _), v)| (quote(name), v.clone()))
            .unzip();
        let verb = if map.key.is_empty() {
            "INSERT"
        } else {
            "REPLACE"
        };
        let sql = format!(
            "{verb} INTO {}.{} ({}) VALUES ({})",
            quote(&map.target_schema),
            quote(&map.target_name),
            cols.join(", "),
            vec!["?"; cols.len()].join(", ")
        );
        self.conn
            .exec_drop(sql, Params::Positional(vals))
            .await
            .map_err(target_err("writing a row"))
    }

    /// Deletes by key, or for keyless tables one row equal in every column.
    async fn delete(&mut self, map: &TableMap, row: &[Value]) -> Result<(), ReplicateError> {
        let (preds, vals): (Vec<String>, Vec<Value>) = if map.key.is_empty() {
            map.columns
                .iter()
                .zip(row)
                .filter(|((_, _, generated), _)| !generated)
                .map(|((name, _, _), v)| (format!("{} <=> ?", quote(name)), v.clone()))
                .unzip()
        } else {
            map.key
                .iter()
                .map(|&i| {
                    (
                        format!("{} = ?", quote(&map.columns[i].0)),
                        row.get(i).cloned().unwrap_or(Value::NULL),
                    )
                })
                .unzip()
        };
        let limit = if map.key.is_empty() { " LIMIT 1" } else { "" };
        let sql = format!(
            "DELETE FROM {}.{} WHERE {}{limit}",
            quote(&map.target_schema),
            quote(&map.target_name),
            preds.join(" AND ")
        );
        self.conn
            .exec_drop(sql, Params::Positional(vals))
            .await
            .map_err(target_err("deleting a row"))
    }
}
