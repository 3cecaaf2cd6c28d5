//! The parallel chunk copy.
//!
//! Each reader connection (inside the shared snapshot) takes the next chunk from a
//! queue, borrows an idle writer connection on the target, and streams the chunk's
//! rows to it through a bounded channel while the writer inserts them in one
//! transaction that ends by marking the chunk done (see `checkpoint.rs`). Reading and
//! writing overlap; chunks of different tables and of one table run in parallel.
//!
//! Memory bound: a pipeline holds at most `CHANNEL_BATCHES` queued batches, one
//! being filled and one being written, each at most `batch_bytes` (≤ 4 MiB and ≤ half
//! the target's `max_allowed_packet`). With P pipelines that is ≤ 4 × P × batch_bytes
//! of row data (64 MiB for 4 pipelines), whatever the table sizes.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};
use tokio::sync::{mpsc, Mutex};

use super::plan::range_predicate;
use super::{source_err, target_conn, target_err, SnapshotError};
use crate::checkpoint::{quote, ChunkRecord, Meta};
use crate::endpoint::Endpoint;
use crate::events::{EventSink, JobEvent};

const CHANNEL_BATCHES: usize = 2;
/// The protocol's limit on placeholders in one prepared statement.
const MAX_PLACEHOLDERS: usize = 65_535;

/// What the copy needs to know about one table.
#[derive(Debug, Clone)]
pub struct CopyTable {
    pub schema: String,
    pub name: String,
    pub target_schema: String,
    pub target_name: String,
    /// Columns written (generated columns are left to the target to compute).
    pub columns: Vec<String>,
    /// Row key columns for range predicates; empty for keyless tables.
    pub key: Vec<String>,
    pub chunks: u64,
    pub chunks_done: AtomicU64Shared,
}

pub type AtomicU64Shared = Arc<AtomicU64>;

/// Running totals shared by all pipelines.
#[derive(Debug, Default)]
pub struct Progress {
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
}

pub struct CopySettings {
    pub batch_bytes: usize,
    pub sql_mode: String,
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Bytes(b) => b.len() + 2,
        _ => 8,
    }
}

async fn prepare_writer(conn: &mut Conn, sql_mode: &str) -> Result<(), mysql_async::Error> {
    // Checks the source already enforced are skipped; bytes go in exactly as read.
    conn.query_drop(
        "SET NAMES binary, SESSION foreign_key_checks = 0, SESSION unique_checks = 0, \
         SESSION time_zone = '+00:00'",
    )
    .await?;
    conn.exec_drop("SET SESSION sql_mode = ?", (sql_mode,))
        .await
}

/// Copies `chunks` (those not yet done) using the snapshot's `readers` and up to
/// `writers` target connections. Returns the readers for reuse.
#[allow(clippy::too_many_arguments)]
pub async fn copy_chunks(
    readers: Vec<Conn>,
    target: &Endpoint,
    writers: usize,
    chunks: Vec<ChunkRecord>,
    tables: Arc<HashMap<(String, String), CopyTable>>,
    meta: Meta,
    settings: CopySettings,
    progress: Arc<Progress>,
    sink: EventSink,
) -> Result<Vec<Conn>, SnapshotError> {
    let mut pool = Vec::new();
    for _ in 0..writers.max(1) {
        let mut c = target_conn(target, "opening a writer connection").await?;
        prepare_writer(&mut c, &settings.sql_mode)
            .await
            .map_err(target_err("setting up a writer session"))?;
        pool.push(c);
    }
    let writer_pool = Arc::new(Mutex::new(pool));
    let permits = Arc::new(tokio::sync::Semaphore::new(writers.max(1)));
    let queue = Arc::new(Mutex::new(VecDeque::from(chunks)));
    let settings = Arc::new(settings);

    let mut handles = Vec::new();
    for reader in readers {
        let ctx = PipelineCtx {
            writer_pool: writer_pool.clone(),
            permits: permits.clone(),
            queue: queue.clone(),
            tables: tables.clone(),
            meta: meta.clone(),
            settings: settings.clone(),
            progress: progress.clone(),
            sink: sink.clone(),
        };
        handles.push(tokio::spawn(pipeline(reader, ctx)));
    }
    let mut readers = Vec::new();
    let mut first_err = None;
    for h in handles {
        match h.await {
            Ok(Ok(conn)) => readers.push(conn),
            Ok(Err(e)) => {
                // Stop the other pipelines from taking new chunks.
                queue.lock().await.clear();
                first_err.get_or_insert(e);
            }
            Err(join) => {
                queue.lock().await.clear();
                first_err.get_or_insert(SnapshotError::Target {
                    what: "a copy task".into(),
                    cause: join.to_string(),
                });
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(readers),
    }
}

struct PipelineCtx {
    writer_pool: Arc<Mutex<Vec<Conn>>>,
    permits: Arc<tokio::sync::Semaphore>,
    queue: Arc<Mutex<VecDeque<ChunkRecord>>>,
    tables: Arc<HashMap<(String, String), CopyTable>>,
    meta: Meta,
    settings: Arc<CopySettings>,
    progress: Arc<Progress>,
    sink: EventSink,
}

async fn pipeline(mut reader: Conn, ctx: PipelineCtx) -> Result<Conn, SnapshotError> {
    loop {
        let Some(chunk) = ctx.queue.lock().await.pop_front() else {
            return Ok(reader);
        };
        let Some(table) = ctx.tables.get(&(chunk.schema.clone(), chunk.table.clone())) else {
            continue;
        };
        let _permit = ctx
            .permits
            .acquire()
            .await
            .map_err(|e| SnapshotError::Target {
                what: "waiting for a writer".into(),
                cause: e.to_string(),
            })?;
        let Some(mut writer) = ctx.writer_pool.lock().await.pop() else {
            return Err(SnapshotError::Target {
                what: "taking a writer connection".into(),
                cause: "the writer pool is empty".into(),
            });
        };
        let result = copy_one(&mut reader, &mut writer, table, &chunk, &ctx).await;
        match result {
            Ok((rows, bytes)) => {
                ctx.writer_pool.lock().await.push(writer);
                let done = table.chunks_done.fetch_add(1, Ordering::Relaxed) + 1;
                ctx.sink.emit(JobEvent::Chunk {
                    schema: table.schema.clone(),
                    table: table.name.clone(),
                    rows,
                    bytes,
                    chunks_done: done,
                    chunks: table.chunks,
                });
            }
            Err(e) => {
                let _ = writer.query_drop("ROLLBACK").await;
                return Err(e);
            }
        }
    }
}

/// Copies one chunk; returns (rows, bytes) once committed with its checkpoint.
async fn copy_one(
    reader: &mut Conn,
    writer: &mut Conn,
    table: &CopyTable,
    chunk: &ChunkRecord,
    ctx: &PipelineCtx,
) -> Result<(u64, u64), SnapshotError> {
    let src = format!("{}.{}", quote(&table.schema), quote(&table.name));
    let dst = format!(
        "{}.{}",
        quote(&table.target_schema),
        quote(&table.target_name)
    );
    let cols = table
        .columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let (pred, params) = if table.key.is_empty() {
        ("1=1".to_string(), Vec::new())
    } else {
        range_predicate(&table.key, chunk.lower.as_deref(), chunk.upper.as_deref())
    };
    let select = format!("SELECT {cols} FROM {src} WHERE {pred}");
    let ncols = table.columns.len().max(1);
    let max_rows = (MAX_PLACEHOLDERS / ncols).max(1);
    let batch_bytes = ctx.settings.batch_bytes;
    let row_sql = format!("({})", vec!["?"; ncols].join(", "));
    let insert_sql = |n: usize| {
        format!(
            "INSERT INTO {dst} ({cols}) VALUES {}",
            vec![row_sql.as_str(); n].join(", ")
        )
    };

    let (tx, mut rx) = mpsc::channel::<(usize, Vec<Value>, usize)>(CHANNEL_BATCHES);
    let read = async {
        let mut result = reader
            .exec_iter(select.as_str(), Params::Positional(params))
            .await
            .map_err(source_err(format!("reading {src}")))?;
        let stream = result
            .stream::<Row>()
            .await
            .map_err(source_err(format!("reading {src}")))?;
        if let Some(mut stream) = stream {
            let mut batch: Vec<Value> = Vec::new();
            let mut rows = 0usize;
            let mut bytes = 0usize;
            while let Some(row) = stream.next().await {
                let row = row.map_err(source_err(format!("reading {src}")))?;
                for v in row.unwrap() {
                    bytes += value_size(&v);
                    batch.push(v);
                }
                rows += 1;
                if rows >= max_rows || bytes >= batch_bytes {
                    let full = std::mem::take(&mut batch);
                    if tx.send((rows, full, bytes)).await.is_err() {
                        return Ok(()); // the writer failed; its error is reported
                    }
                    rows = 0;
                    bytes = 0;
                }
            }
            if rows > 0 {
                let _ = tx.send((rows, batch, bytes)).await;
            }
        }
        drop(tx);
        Ok::<_, SnapshotError>(())
    };
    let write = async {
        writer
            .query_drop("START TRANSACTION")
            .await
            .map_err(target_err(format!("writing {dst}")))?;
        let mut total_rows = 0u64;
        let mut total_bytes = 0u64;
        while let Some((rows, values, bytes)) = rx.recv().await {
            writer
                .exec_drop(insert_sql(rows), Params::Positional(values))
                .await
                .map_err(target_err(format!("writing {dst}")))?;
            total_rows += rows as u64;
            total_bytes += bytes as u64;
            ctx.progress.rows.fetch_add(rows as u64, Ordering::Relaxed);
            ctx.progress
                .bytes
                .fetch_add(bytes as u64, Ordering::Relaxed);
        }
        Ok::<_, SnapshotError>((total_rows, total_bytes))
    };
    let (read_result, write_result) = tokio::join!(read, write);
    // A write error explains a read that stopped early, so it wins.
    let (rows, bytes) = write_result?;
    read_result?;
    let marked = ctx
        .meta
        .mark_chunk_done(
            writer,
            &chunk.schema,
            &chunk.table,
            chunk.chunk,
            rows,
            bytes,
        )
        .await
        .map_err(target_err("recording the chunk checkpoint"))?;
    if !marked {
        return Err(SnapshotError::ChunkRace {
            table: format!("{}.{}", chunk.schema, chunk.table),
            chunk: chunk.chunk,
        });
    }
    writer
        .query_drop("COMMIT")
        .await
        .map_err(target_err(format!("committing a chunk of {dst}")))?;
    Ok((rows, bytes))
}

/// Emits throughput events about once a second until `stop` fires.
pub async fn report_throughput(
    progress: Arc<Progress>,
    rows_total: u64,
    bytes_total: u64,
    sink: EventSink,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let started = Instant::now();
    let (base_rows, base_bytes) = (
        progress.rows.load(Ordering::Relaxed),
        progress.bytes.load(Ordering::Relaxed),
    );
    let mut tick = tokio::time::interval(Duration::from_millis(1000));
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rows = progress.rows.load(Ordering::Relaxed);
        let bytes = progress.bytes.load(Ordering::Relaxed);
        let rps = (rows - base_rows) as f64 / secs;
        let bps = (bytes - base_bytes) as f64 / secs;
        let eta =
            (rps > 0.0 && rows_total > rows).then(|| ((rows_total - rows) as f64 / rps) as u64);
        sink.emit(JobEvent::Throughput {
            rows_done: rows,
            bytes_done: bytes,
            rows_total,
            bytes_total,
            rows_per_sec: rps,
            bytes_per_sec: bps,
            eta_secs: eta,
        });
    }
}
