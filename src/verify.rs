//! Verification: row counts and chunked checksums of every selected table, source
//! vs target (under routing).
//!
//! The source is read inside one consistent snapshot; chunks are planned there like
//! the copy plans them, and each chunk's `COUNT(*)` and order-independent checksum
//! (BIT_XOR of the first 64 bits of MD5 over each row's columns, NULLs marked
//! separately so `NULL` and `''` differ) is computed by both servers over the same
//! key range. Sessions use `binary` strings and UTC, so both sides hash the same
//! bytes. Generated columns are excluded: they are recomputed, not copied.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};
use serde::Serialize;

use crate::catalog::{Catalog, Table};
use crate::checkpoint::quote;
use crate::endpoint::Endpoint;
use crate::error::Coded;
use crate::events::{EventSink, JobEvent};
use crate::rules::Selection;
use crate::snapshot::plan::{plan_table, range_predicate};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("verification failed on the {side}: {what}: {cause}")]
    Query {
        side: &'static str,
        what: String,
        cause: String,
    },
    #[error("table {table} is missing on the source catalog")]
    Missing { table: String },
}

impl Coded for VerifyError {
    fn code(&self) -> &'static str {
        match self {
            VerifyError::Query { .. } => "verify.query_failed",
            VerifyError::Missing { .. } => "verify.missing_table",
        }
    }

    fn remedy(&self) -> String {
        match self {
            VerifyError::Query { .. } => {
                "check that the table exists on both sides and the accounts may SELECT it".into()
            }
            VerifyError::Missing { .. } => "check the job's [objects] rules".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChunkMismatch {
    pub chunk: u32,
    /// The key range, as the source prints the bounds.
    pub range: String,
    pub source_rows: u64,
    pub target_rows: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableReport {
    pub schema: String,
    pub table: String,
    pub target_schema: String,
    pub target_table: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub chunks: u64,
    pub mismatches: Vec<ChunkMismatch>,
    pub equal: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VerifyReport {
    pub tables: Vec<TableReport>,
    pub equal: bool,
}

/// The columns compared: everything but generated columns.
pub fn data_columns(table: &Table) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.generated.is_none())
        .map(|c| c.name.clone())
        .collect()
}

fn checksum_sql(columns: &[String], fqn: &str, pred: &str) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let nulls: Vec<String> = cols.iter().map(|c| format!("ISNULL({c})")).collect();
    format!(
        "SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(MD5(CONCAT_WS('#', {}, CONCAT({}))), 1, 16), 16, 10) AS UNSIGNED)), 0) \
         FROM {fqn} WHERE {pred}",
        cols.join(", "),
        nulls.join(", ")
    )
}

async fn session(conn: &mut Conn) -> Result<(), mysql_async::Error> {
    conn.query_drop("SET NAMES binary, SESSION time_zone = '+00:00'")
        .await
}

fn show_bound(b: &Option<Vec<Value>>) -> String {
    match b {
        None => "∞".into(),
        Some(vals) => vals
            .iter()
            .map(|v| match v {
                Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                other => other.as_sql(true),
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Verifies every selected table. `chunk_bytes` sizes the compared ranges.
pub async fn verify(
    source: &Endpoint,
    target: &Endpoint,
    catalog: &Catalog,
    selection: &Selection,
    chunk_bytes: u64,
    sink: &EventSink,
) -> Result<VerifyReport, VerifyError> {
    let qerr = |side: &'static str, what: String| {
        move |e: mysql_async::Error| VerifyError::Query {
            side,
            what,
            cause: e.to_string(),
        }
    };
    let mut src = source.conn().await.map_err(|e| VerifyError::Query {
        side: "source",
        what: "connecting".into(),
        cause: e.to_string(),
    })?;
    let mut tgt = target.conn().await.map_err(|e| VerifyError::Query {
        side: "target",
        what: "connecting".into(),
        cause: e.to_string(),
    })?;
    session(&mut src)
        .await
        .map_err(qerr("source", "session setup".into()))?;
    session(&mut tgt)
        .await
        .map_err(qerr("target", "session setup".into()))?;
    src.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await
        .map_err(qerr("source", "opening a snapshot".into()))?;

    let mut tables = Vec::new();
    for sel in &selection.tables {
        let table = catalog
            .table(&sel.schema, &sel.name)
            .ok_or_else(|| VerifyError::Missing {
                table: format!("{}.{}", sel.schema, sel.name),
            })?;
        let columns = data_columns(table);
        let src_fqn = format!("{}.{}", quote(&sel.schema), quote(&sel.name));
        let dst_fqn = format!("{}.{}", quote(&sel.target_schema), quote(&sel.target_name));
        let chunks = plan_table(&mut src, table, chunk_bytes)
            .await
            .map_err(|e| VerifyError::Query {
                side: "source",
                what: format!("planning {src_fqn}"),
                cause: e.to_string(),
            })?;
        let key: Vec<String> = table
            .row_key()
            .map(|k| k.columns.clone())
            .unwrap_or_default();
        let mut report = TableReport {
            schema: sel.schema.clone(),
            table: sel.name.clone(),
            target_schema: sel.target_schema.clone(),
            target_table: sel.target_name.clone(),
            source_rows: 0,
            target_rows: 0,
            chunks: chunks.len() as u64,
            mismatches: Vec::new(),
            equal: true,
        };
        for c in &chunks {
            let (pred, params) = if key.is_empty() {
                ("1=1".to_string(), Vec::new())
            } else {
                range_predicate(&key, c.lower.as_deref(), c.upper.as_deref())
            };
            let s: Option<Row> = src
                .exec_first(
                    checksum_sql(&columns, &src_fqn, &pred),
                    Params::Positional(params.clone()),
                )
                .await
                .map_err(qerr("source", format!("checksumming {src_fqn}")))?;
            let t: Option<Row> = tgt
                .exec_first(
                    checksum_sql(&columns, &dst_fqn, &pred),
                    Params::Positional(params),
                )
                .await
                .map_err(qerr("target", format!("checksumming {dst_fqn}")))?;
            let read = |r: Option<Row>| -> (u64, u64) {
                r.and_then(|mut r| Some((r.take::<u64, _>(0)?, r.take::<u64, _>(1)?)))
                    .unwrap_or((0, 0))
            };
            let (sn, sc) = read(s);
            let (tn, tc) = read(t);
            report.source_rows += sn;
            report.target_rows += tn;
            if (sn, sc) != (tn, tc) {
                report.equal = false;
                report.mismatches.push(ChunkMismatch {
                    chunk: c.chunk,
                    range: format!("({} .. {}]", show_bound(&c.lower), show_bound(&c.upper)),
                    source_rows: sn,
                    target_rows: tn,
                });
            }
        }
        sink.emit(JobEvent::Verified {
            schema: report.schema.clone(),
            table: report.table.clone(),
            equal: report.equal,
            source_rows: report.source_rows,
            target_rows: report.target_rows,
            chunks: report.chunks,
            mismatched_chunks: report.mismatches.len() as u64,
        });
        tables.push(report);
    }
    let _ = src.query_drop("COMMIT").await;
    let equal = tables.iter().all(|t| t.equal);
    Ok(VerifyReport { tables, equal })
}
