//! Verification: row counts and chunked checksums of every selected table, source
//! vs target (under routing).
//!
//! The source is read inside one consistent snapshot (shared by parallel
//! connections); chunks are planned there like the copy plans them, and each chunk's
//! `COUNT(*)` and order-independent checksums (BIT_XOR and SUM of a CRC32 over each
//! row's columns, NULLs marked separately so `NULL` and `''` differ) are computed by
//! both servers at the same time over the same key range. Sessions use `binary` strings and UTC, so both sides hash the same
//! bytes. Generated columns are excluded: they are recomputed, not copied.

use std::collections::VecDeque;
use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::catalog::{Catalog, Table};
use crate::checkpoint::{quote, ChunkRecord};
use crate::endpoint::{Endpoint, Flavor};
use crate::error::Coded;
use crate::events::{EventSink, JobEvent};
use crate::profile::Consistency;
use crate::rules::Selection;
use crate::snapshot::consistency;
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ChunkMismatch {
    pub chunk: u32,
    /// The key range, as the source prints the bounds.
    pub range: String,
    pub source_rows: u64,
    pub target_rows: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
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
    // CRC32 per row; BIT_XOR and SUM over the range are order-independent, and the
    // SUM also catches what XOR cancels (a row present twice).
    format!(
        "SELECT COUNT(*), COALESCE(BIT_XOR(h), 0), COALESCE(SUM(h), 0) FROM \
         (SELECT CRC32(CONCAT_WS('#', {}, CONCAT({}))) AS h FROM {fqn} WHERE {pred}) AS rows_",
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

/// One range of one table to compare.
struct Job {
    table: usize,
    chunk: ChunkRecord,
}

/// What one range looked like on both sides.
struct Outcome {
    table: usize,
    chunk: ChunkRecord,
    source: (u64, Value, Value),
    target: (u64, Value, Value),
}

fn read_sums(row: Option<Row>) -> (u64, Value, Value) {
    match row {
        Some(mut r) => (
            r.take::<u64, _>(0).unwrap_or(0),
            r.take::<Value, _>(1).unwrap_or(Value::NULL),
            r.take::<Value, _>(2).unwrap_or(Value::NULL),
        ),
        None => (0, Value::NULL, Value::NULL),
    }
}

/// Verifies every selected table with up to `threads` connections per side; the
/// source connections share one consistent snapshot.
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    source: &Endpoint,
    target: &Endpoint,
    flavor: Flavor,
    catalog: &Catalog,
    selection: &Selection,
    chunk_bytes: u64,
    threads: usize,
    sink: &EventSink,
) -> Result<VerifyReport, VerifyError> {
    let snap = consistency::open(source, flavor, Consistency::Auto, threads.max(1), &[])
        .await
        .map_err(|e| VerifyError::Query {
            side: "source",
            what: "opening a consistent snapshot".into(),
            cause: e.to_string(),
        })?;
    let mut readers = snap.readers;
    let mut reports = Vec::new();
    let mut jobs = VecDeque::new();
    let Some(planner) = readers.first_mut() else {
        return Err(VerifyError::Query {
            side: "source",
            what: "opening a consistent snapshot".into(),
            cause: "no reader connection".into(),
        });
    };
    let mut specs = Vec::new();
    for sel in &selection.tables {
        let table = catalog
            .table(&sel.schema, &sel.name)
            .ok_or_else(|| VerifyError::Missing {
                table: format!("{}.{}", sel.schema, sel.name),
            })?;
        let src_fqn = format!("{}.{}", quote(&sel.schema), quote(&sel.name));
        let dst_fqn = format!("{}.{}", quote(&sel.target_schema), quote(&sel.target_name));
        let chunks =
            plan_table(planner, table, chunk_bytes)
                .await
                .map_err(|e| VerifyError::Query {
                    side: "source",
                    what: format!("planning {src_fqn}"),
                    cause: e.to_string(),
                })?;
        let index = reports.len();
        reports.push(TableReport {
            schema: sel.schema.clone(),
            table: sel.name.clone(),
            target_schema: sel.target_schema.clone(),
            target_table: sel.target_name.clone(),
            source_rows: 0,
            target_rows: 0,
            chunks: chunks.len() as u64,
            mismatches: Vec::new(),
            equal: true,
        });
        specs.push(Arc::new(Spec {
            columns: data_columns(table),
            key: table
                .row_key()
                .map(|k| k.columns.clone())
                .unwrap_or_default(),
            src_fqn,
            dst_fqn,
        }));
        jobs.extend(chunks.into_iter().map(|chunk| Job {
            table: index,
            chunk,
        }));
    }
    let jobs = Arc::new(Mutex::new(jobs));
    let specs = Arc::new(specs);
    let mut workers = Vec::new();
    for reader in readers {
        let mut tgt = target.conn().await.map_err(|e| VerifyError::Query {
            side: "target",
            what: "connecting".into(),
            cause: e.to_string(),
        })?;
        session(&mut tgt).await.map_err(|e| VerifyError::Query {
            side: "target",
            what: "session setup".into(),
            cause: e.to_string(),
        })?;
        workers.push(tokio::spawn(compare_ranges(
            reader,
            tgt,
            jobs.clone(),
            specs.clone(),
        )));
    }
    let mut outcomes = Vec::new();
    let mut first_err = None;
    for w in workers {
        match w.await {
            Ok(Ok(mut o)) => outcomes.append(&mut o),
            Ok(Err(e)) => {
                jobs.lock().await.clear();
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(VerifyError::Query {
                    side: "source",
                    what: "a verification task".into(),
                    cause: e.to_string(),
                });
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    outcomes.sort_by_key(|o| (o.table, o.chunk.chunk));
    for o in outcomes {
        let report = &mut reports[o.table];
        report.source_rows += o.source.0;
        report.target_rows += o.target.0;
        if o.source != o.target {
            report.equal = false;
            report.mismatches.push(ChunkMismatch {
                chunk: o.chunk.chunk,
                range: format!(
                    "({} .. {}]",
                    show_bound(&o.chunk.lower),
                    show_bound(&o.chunk.upper)
                ),
                source_rows: o.source.0,
                target_rows: o.target.0,
            });
        }
    }
    for report in &reports {
        sink.emit(JobEvent::Verified {
            schema: report.schema.clone(),
            table: report.table.clone(),
            equal: report.equal,
            source_rows: report.source_rows,
            target_rows: report.target_rows,
            chunks: report.chunks,
            mismatched_chunks: report.mismatches.len() as u64,
        });
    }
    let equal = reports.iter().all(|t| t.equal);
    Ok(VerifyReport {
        tables: reports,
        equal,
    })
}

/// The compared columns and names of one table.
struct Spec {
    columns: Vec<String>,
    key: Vec<String>,
    src_fqn: String,
    dst_fqn: String,
}

/// Takes ranges from the queue; both sides checksum each range at the same time.
async fn compare_ranges(
    mut src: Conn,
    mut tgt: Conn,
    jobs: Arc<Mutex<VecDeque<Job>>>,
    specs: Arc<Vec<Arc<Spec>>>,
) -> Result<Vec<Outcome>, VerifyError> {
    let mut out = Vec::new();
    loop {
        let Some(job) = jobs.lock().await.pop_front() else {
            break;
        };
        let spec = specs[job.table].clone();
        let (pred, params) = if spec.key.is_empty() {
            ("1=1".to_string(), Vec::new())
        } else {
            range_predicate(
                &spec.key,
                job.chunk.lower.as_deref(),
                job.chunk.upper.as_deref(),
            )
        };
        let (s, t) = tokio::join!(
            src.exec_first::<Row, _, _>(
                checksum_sql(&spec.columns, &spec.src_fqn, &pred),
                Params::Positional(params.clone())
            ),
            tgt.exec_first::<Row, _, _>(
                checksum_sql(&spec.columns, &spec.dst_fqn, &pred),
                Params::Positional(params)
            )
        );
        let s = s.map_err(|e| VerifyError::Query {
            side: "source",
            what: format!("checksumming {}", spec.src_fqn),
            cause: e.to_string(),
        })?;
        let t = t.map_err(|e| VerifyError::Query {
            side: "target",
            what: format!("checksumming {}", spec.dst_fqn),
            cause: e.to_string(),
        })?;
        out.push(Outcome {
            table: job.table,
            chunk: job.chunk,
            source: read_sums(s),
            target: read_sums(t),
        });
    }
    let _ = src.query_drop("COMMIT").await;
    Ok(out)
}
