//! Reads the source binlog as a replica would and turns it into committed
//! transactions of typed row changes on the selected tables.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use mysql_async::binlog::events::{EventData, RowsEventData};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStream, BinlogStreamRequest, Value};

use super::ReplicateError;
use crate::catalog::Table;
use crate::endpoint::Endpoint;
use crate::position::Position;

/// How one source table is decoded and where its changes go.
#[derive(Debug, Clone)]
pub struct TableMap {
    pub target_schema: String,
    pub target_name: String,
    /// Columns in table order: name, integer width when unsigned, generated.
    pub columns: Vec<(String, Option<u32>, bool)>,
    /// Positions (in `columns`) of the row key; empty for keyless tables.
    pub key: Vec<usize>,
}

impl TableMap {
    pub fn new(table: &Table, target_schema: &str, target_name: &str) -> TableMap {
        let width = |t: &str| match t.to_ascii_lowercase().as_str() {
            "tinyint" => Some(8),
            "smallint" => Some(16),
            "mediumint" => Some(24),
            "int" | "integer" => Some(32),
            "bigint" => Some(64),
            _ => None,
        };
        let columns: Vec<(String, Option<u32>, bool)> = table
            .columns
            .iter()
            .map(|c| {
                (
                    c.name.clone(),
                    if c.unsigned {
                        width(&c.data_type)
                    } else {
                        None
                    },
                    c.generated.is_some(),
                )
            })
            .collect();
        let key = table
            .row_key()
            .map(|k| {
                k.columns
                    .iter()
                    .filter_map(|kc| columns.iter().position(|(n, _, _)| n == kc))
                    .collect()
            })
            .unwrap_or_default();
        TableMap {
            target_schema: target_schema.to_string(),
            target_name: target_name.to_string(),
            columns,
            key,
        }
    }
}

/// One row change; rows hold every column of the table in table order.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Insert {
        after: Vec<Value>,
    },
    Update {
        before: Vec<Value>,
        after: Vec<Value>,
    },
    Delete {
        before: Vec<Value>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableChange {
    pub table: (String, String),
    pub change: Change,
}

/// A committed source transaction: its changes to selected tables (possibly none)
/// and the position right after its commit.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    pub changes: Vec<TableChange>,
    pub end: Position,
    /// Source commit time (Unix seconds), for lag.
    pub timestamp: u32,
}

pub struct Reader {
    stream: BinlogStream,
    file: String,
    tables: Arc<HashMap<(String, String), TableMap>>,
    pending: Vec<TableChange>,
}

/// Unsigned integers arrive as signed when the binlog carries no signedness.
fn fix_unsigned(v: Value, width: Option<u32>) -> Value {
    match (v, width) {
        (Value::Int(n), Some(w)) if n < 0 => {
            let n = n as i128 + (1i128 << w);
            Value::UInt(n as u64)
        }
        (Value::Int(n), Some(_)) => Value::UInt(n as u64),
        (v, _) => v,
    }
}

impl Reader {
    /// Registers as a replica with `server_id` and starts streaming at `start`.
    pub async fn open(
        source: &Endpoint,
        start: &Position,
        server_id: u32,
        tables: Arc<HashMap<(String, String), TableMap>>,
    ) -> Result<Reader, ReplicateError> {
        let (Some(file), Some(pos)) = (start.file.clone(), start.pos) else {
            return Err(ReplicateError::NoPosition);
        };
        let mut conn = source
            .standalone_conn()
            .await
            .map_err(|e| ReplicateError::Source {
                cause: e.to_string(),
            })?;
        // The file must still exist: a purged position is a definite error.
        let logs: Vec<mysql_async::Row> =
            conn.query("SHOW BINARY LOGS")
                .await
                .map_err(|e| ReplicateError::Source {
                    cause: e.to_string(),
                })?;
        let present = logs
            .into_iter()
            .any(|mut r| r.take::<String, _>(0).as_deref() == Some(file.as_str()));
        if !present {
            return Err(ReplicateError::Purged {
                position: format!("{file}:{pos}"),
                cause: "the file is not in SHOW BINARY LOGS".into(),
            });
        }
        let request = BinlogStreamRequest::new(server_id)
            .with_filename(file.as_bytes())
            .with_pos(pos);
        let stream = conn
            .get_binlog_stream(request)
            .await
            .map_err(|e| ReplicateError::Source {
                cause: e.to_string(),
            })?;
        Ok(Reader {
            stream,
            file,
            tables,
            pending: Vec::new(),
        })
    }

    fn decode(
        &self,
        table: &(String, String),
        map: &TableMap,
        row: mysql_async::binlog::row::BinlogRow,
    ) -> Result<Vec<Value>, ReplicateError> {
        let values = row.unwrap();
        if values.len() != map.columns.len() {
            return Err(ReplicateError::SchemaChanged {
                table: format!("{}.{}", table.0, table.1),
                got: values.len(),
                expected: map.columns.len(),
            });
        }
        values
            .into_iter()
            .zip(&map.columns)
            .map(|(v, (_, width, _))| {
                let v = match v {
                    BinlogValue::Value(v) => v,
                    other => Value::try_from(other).map_err(|e| ReplicateError::Decode {
                        table: format!("{}.{}", table.0, table.1),
                        cause: e.to_string(),
                    })?,
                };
                Ok(fix_unsigned(v, *width))
            })
            .collect()
    }

    /// The next committed transaction; `None` when the source closes the stream.
    pub async fn next(&mut self) -> Result<Option<Transaction>, ReplicateError> {
        loop {
            let Some(event) = self.stream.next().await else {
                return Ok(None);
            };
            let event = event.map_err(|e| ReplicateError::Source {
                cause: e.to_string(),
            })?;
            let header = event.header();
            let log_pos = u64::from(header.log_pos());
            let timestamp = header.timestamp();
            let data = event.read_data().map_err(|e| ReplicateError::Source {
                cause: e.to_string(),
            })?;
            let commit = |pending: &mut Vec<TableChange>, file: &str| Transaction {
                changes: std::mem::take(pending),
                end: Position {
                    file: Some(file.to_string()),
                    pos: Some(log_pos),
                    gtid: None,
                },
                timestamp,
            };
            match data {
                Some(EventData::RotateEvent(r)) => {
                    // The fake ROTATE that opens a stream (log_pos 0) carries its 4
                    // checksum bytes after the name; real ones do not.
                    let raw = r.name_raw();
                    let raw = if log_pos == 0 && raw.len() > 4 {
                        &raw[..raw.len() - 4]
                    } else {
                        raw
                    };
                    self.file = String::from_utf8_lossy(raw).into_owned();
                }
                Some(EventData::XidEvent(_)) => {
                    return Ok(Some(commit(&mut self.pending, &self.file)))
                }
                Some(EventData::QueryEvent(q)) => {
                    let sql = q.query();
                    let head = sql.trim_start().to_ascii_uppercase();
                    if head.starts_with("BEGIN") || head.starts_with("# DUMMY") {
                        continue;
                    }
                    // COMMIT of a non-transactional engine, or a DDL statement: both
                    // end a transaction and move the position.
                    return Ok(Some(commit(&mut self.pending, &self.file)));
                }
                Some(EventData::RowsEvent(rows)) => {
                    let Some(tme) = self.stream.get_tme(rows.table_id()) else {
                        continue;
                    };
                    let key = (
                        tme.database_name().into_owned(),
                        tme.table_name().into_owned(),
                    );
                    let Some(map) = self.tables.get(&key) else {
                        continue;
                    };
                    for row in rows.rows(tme) {
                        let (before, after) = row.map_err(|e| ReplicateError::Source {
                            cause: e.to_string(),
                        })?;
                        let before = before.map(|r| self.decode(&key, map, r)).transpose()?;
                        let after = after.map(|r| self.decode(&key, map, r)).transpose()?;
                        let change = match (&rows, before, after) {
                            (
                                RowsEventData::WriteRowsEventV1(_)
                                | RowsEventData::WriteRowsEvent(_),
                                _,
                                Some(after),
                            ) => Change::Insert { after },
                            (
                                RowsEventData::DeleteRowsEventV1(_)
                                | RowsEventData::DeleteRowsEvent(_),
                                Some(before),
                                _,
                            ) => Change::Delete { before },
                            (_, Some(before), Some(after)) => Change::Update { before, after },
                            _ => continue,
                        };
                        self.pending.push(TableChange {
                            table: key.clone(),
                            change,
                        });
                    }
                }
                _ => {}
            }
        }
    }

    pub async fn close(self) {
        // A dump connection waits for new events and may never read our COM_QUIT:
        // give the polite close a moment, then drop the socket.
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), self.stream.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_values_are_restored() {
        assert_eq!(fix_unsigned(Value::Int(-1), Some(8)), Value::UInt(255));
        assert_eq!(
            fix_unsigned(Value::Int(-1), Some(64)),
            Value::UInt(u64::MAX)
        );
        assert_eq!(
            fix_unsigned(Value::Int(-8388608), Some(24)),
            Value::UInt(8388608)
        );
        assert_eq!(fix_unsigned(Value::Int(5), Some(32)), Value::UInt(5));
        assert_eq!(fix_unsigned(Value::Int(-5), None), Value::Int(-5));
    }
}
