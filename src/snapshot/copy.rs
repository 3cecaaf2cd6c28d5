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
//! of row data (64 MiB for 4 pipelines), whatever the table sizes. (INSERTs queue
//! twice as many statements of an eighth of that, which keeps a near writer busy
//! in a quarter of the memory; a row larger than a statement's share goes alone.)

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
use crate::events::{EventSink, JobEvent, TableCount};

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
    /// Per written column: is it a YEAR (its 0 must be written `0000`, as `0`
    /// would load as 2000).
    pub year: Vec<bool>,
    /// ENUM and SET columns: their error value `''` (stored by a permissive source
    /// session) loads with a "Data truncated" warning, but as itself.
    pub enums: Vec<String>,
    pub chunks: u64,
    pub chunks_done: AtomicU64Shared,
    /// Rows read from this table, for per-table progress (like `Progress::rows`,
    /// a chunk copied again after a rollback counts twice).
    pub rows_read: AtomicU64Shared,
}

pub type AtomicU64Shared = Arc<AtomicU64>;

/// Running totals shared by all pipelines.
#[derive(Debug, Default)]
pub struct Progress {
    /// Rows and bytes read so far, for throughput; a chunk copied again after a
    /// rollback counts twice here.
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
    /// Rows and bytes of committed chunks: what the summary reports.
    pub committed_rows: AtomicU64,
    pub committed_bytes: AtomicU64,
}

pub struct CopySettings {
    pub batch_bytes: usize,
    /// Stream rows with `LOAD DATA LOCAL INFILE` (the target allows `local_infile`)
    /// instead of multi-row INSERTs.
    pub load_data: bool,
    /// Write batches with MariaDB's `COM_STMT_BULK_EXECUTE` (else multi-row
    /// INSERTs): the server runs one statement for the batch and sets four
    /// parameters per row instead of one per value, which took a tenth of the
    /// target's CPU off a 2 M-row copy.
    pub bulk: bool,
    /// A chunked copy: each keyless table is read in a snapshot of its own, opened
    /// under a brief lock of that table (see `catchup`).
    pub keyless_lock: Option<KeylessLock>,
}

/// Where a chunked copy locks a keyless table, and how it reads the position.
pub struct KeylessLock {
    pub source: Endpoint,
    pub flavor: crate::endpoint::Flavor,
}

/// Opens `reader`'s snapshot of keyless `src` under `LOCK TABLES src READ` on a
/// connection of its own, and reads the position under the same lock: the rows
/// the reader then sees are the table's at that position. The lock is held for
/// milliseconds; the snapshot until the chunk is read.
async fn keyless_snapshot(
    reader: &mut Conn,
    lock: &KeylessLock,
    src: &str,
) -> Result<crate::position::Position, SnapshotError> {
    let mut l = super::source_conn(&lock.source, "locking a keyless table").await?;
    l.query_drop("SET SESSION lock_wait_timeout = 10")
        .await
        .map_err(source_err("setting lock_wait_timeout"))?;
    l.query_drop(format!("LOCK TABLES {src} READ"))
        .await
        .map_err(source_err(format!("LOCK TABLES {src} READ")))?;
    let at = async {
        reader
            .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .map_err(source_err("START TRANSACTION WITH CONSISTENT SNAPSHOT"))?;
        crate::position::current(&mut l, lock.flavor)
            .await
            .map_err(source_err("reading the binlog position"))
    }
    .await;
    let _ = l.query_drop("UNLOCK TABLES").await;
    at
}

/// Rows per INSERT batch: a fixed size, so only a handful of prepared statement
/// shapes exist per table (a tail, or rows that reach the batch's bytes, are sent
/// in power-of-two pieces).
const INSERT_ROWS: usize = 512;
/// Rows per bulk INSERT at most (its bytes end it sooner for all but tiny rows).
const BULK_ROWS: usize = 8192;

/// Whether the copy writes with `LOAD DATA LOCAL` (else prepared multi-row INSERTs).
///
/// Near the target (under [`crate::endpoint::NEAR`]) `auto` inserts: the rows go in
/// the binary protocol, which the server stores without parsing text, and on a
/// loopback pair that took a quarter less of the target's CPU than LOAD DATA's
/// field-by-field parse (2 M sysbench rows: 4.7 s against 6.3 s). Farther away each
/// INSERT's answer costs a round trip, while LOAD DATA streams a whole chunk on
/// one: `auto` loads wherever the target allows `local_infile`.
pub fn loads_data(
    method: crate::profile::WriteMethod,
    local_infile: bool,
    round_trip: Duration,
) -> bool {
    use crate::profile::WriteMethod;
    match method {
        WriteMethod::LoadData => true,
        WriteMethod::Insert => false,
        WriteMethod::Auto => local_infile && round_trip >= crate::endpoint::NEAR,
    }
}

use crate::target::encode_field;

fn value_size(v: &Value) -> usize {
    match v {
        Value::Bytes(b) => b.len() + 2,
        _ => 8,
    }
}

/// Chunk attempts when the target rolls a chunk back as a deadlock victim.
const CHUNK_ATTEMPTS: u32 = 5;

/// Copies `chunks` (those not yet done) using the snapshot's `readers` and up to
/// `writers` target connections. Returns the readers for reuse. Once `stop` is
/// set no chunk starts; the ones in flight finish with their marks, so the copy
/// resumes from there.
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
    stop: Arc<AtomicBool>,
) -> Result<Vec<Conn>, SnapshotError> {
    // Opened side by side: each costs round trips, not work.
    let pool = futures_util::future::try_join_all((0..writers.max(1)).map(|_| async {
        let mut c = target_conn(target, "opening a writer connection").await?;
        crate::target::prepare(&mut c, crate::target::Session::Copy)
            .await
            .map_err(target_err("setting up a writer session"))?;
        Ok::<_, SnapshotError>(c)
    }))
    .await?;
    let mut settings = settings;
    settings.bulk &= pool.iter().all(crate::target::bulk_offered);
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
            stop: stop.clone(),
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
    stop: Arc<AtomicBool>,
}

async fn pipeline(mut reader: Conn, ctx: PipelineCtx) -> Result<Conn, SnapshotError> {
    loop {
        if ctx.stop.load(Ordering::Relaxed) {
            return Ok(reader);
        }
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
        let mut attempt = 1;
        let result = loop {
            let result = copy_one(&mut reader, &mut writer, table, &chunk, &ctx).await;
            match result {
                Err(SnapshotError::Retryable { .. }) if attempt < CHUNK_ATTEMPTS => {
                    // The target rolled the whole chunk back: copy it again.
                    let _ = writer.query_drop("ROLLBACK").await;
                    tokio::time::sleep(Duration::from_millis(20 << attempt)).await;
                    attempt += 1;
                }
                other => break other,
            }
        };
        match result {
            Ok((rows, bytes)) => {
                ctx.writer_pool.lock().await.push(writer);
                ctx.progress
                    .committed_rows
                    .fetch_add(rows, Ordering::Relaxed);
                ctx.progress
                    .committed_bytes
                    .fetch_add(bytes, Ordering::Relaxed);
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
    let keyless_at = match &ctx.settings.keyless_lock {
        Some(lock) if table.key.is_empty() => Some(keyless_snapshot(reader, lock, &src).await?),
        _ => None,
    };
    let copied = copy_rows(reader, writer, params, &select, &dst, &cols, table, ctx).await;
    if keyless_at.is_some() {
        let _ = reader.query_drop("COMMIT").await;
    }
    let (rows, bytes) = copied?;
    crate::failpoint::hit("copy.rows_written");
    if let Some(at) = &keyless_at {
        ctx.meta
            .keyless_at(writer, &chunk.schema, &chunk.table, at)
            .await
            .map_err(target_err("recording a keyless table's position"))?;
    }
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

/// Reads the chunk and writes it, by LOAD DATA or INSERTs; uncommitted.
#[allow(clippy::too_many_arguments)]
async fn copy_rows(
    reader: &mut Conn,
    writer: &mut Conn,
    params: Vec<Value>,
    select: &str,
    dst: &str,
    cols: &str,
    table: &CopyTable,
    ctx: &PipelineCtx,
) -> Result<(u64, u64), SnapshotError> {
    let io = ChunkIo {
        select,
        dst,
        cols,
        table,
    };
    if ctx.settings.load_data {
        copy_load_data(reader, writer, params, &io, ctx).await
    } else {
        copy_insert(reader, writer, params, &io, ctx).await
    }
}

fn read_error(src: &str, e: mysql_async::Error) -> SnapshotError {
    SnapshotError::Source {
        what: format!("reading {src}"),
        cause: e.to_string(),
    }
}

/// The statements of one chunk: what to read, where to write, which columns.
struct ChunkIo<'a> {
    select: &'a str,
    dst: &'a str,
    cols: &'a str,
    table: &'a CopyTable,
}

/// Streams a chunk through `LOAD DATA LOCAL INFILE` fed from memory. The reader
/// encodes rows into ~1 MiB blocks; the driver sends them as the server asks.
/// LOCAL implies IGNORE (bad values become warnings), so any warning or a row count
/// that differs from what was read fails the chunk instead of altering data.
async fn copy_load_data(
    reader: &mut Conn,
    writer: &mut Conn,
    params: Vec<Value>,
    io: &ChunkIo<'_>,
    ctx: &PipelineCtx,
) -> Result<(u64, u64), SnapshotError> {
    let ChunkIo {
        select, dst, cols, ..
    } = *io;
    let year = &io.table.year;
    const BLOCK: usize = 1 << 20;
    let (tx, rx) = mpsc::channel::<bytes::Bytes>(CHANNEL_BATCHES);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    writer.set_infile_handler(async move { Ok(stream.boxed()) });
    let load = crate::target::load_data_sql("ferry-chunk", false, dst, cols);
    let progress = &ctx.progress;
    let read = async move {
        let mut result = reader
            .exec_iter(select, Params::Positional(params))
            .await
            .map_err(source_err(format!("reading {select}")))?;
        let mut rows = 0u64;
        let mut bytes = 0u64;
        if let Some(mut stream) = result
            .stream::<Row>()
            .await
            .map_err(source_err(format!("reading {select}")))?
        {
            let mut buf: Vec<u8> = Vec::with_capacity(BLOCK + 64 * 1024);
            let mut pending_rows = 0u64;
            while let Some(row) = stream.next().await {
                let row = match row {
                    Ok(r) => r,
                    Err(e) => return Err(read_error(select, e)),
                };
                let before = buf.len();
                for (i, v) in row.unwrap().iter().enumerate() {
                    if i > 0 {
                        buf.push(b'\t');
                    }
                    match v {
                        Value::Int(y) if year.get(i) == Some(&true) => {
                            buf.extend_from_slice(format!("{y:04}").as_bytes())
                        }
                        Value::UInt(y) if year.get(i) == Some(&true) => {
                            buf.extend_from_slice(format!("{y:04}").as_bytes())
                        }
                        v => encode_field(&mut buf, v),
                    }
                }
                buf.push(b'\n');
                rows += 1;
                pending_rows += 1;
                bytes += (buf.len() - before) as u64;
                if buf.len() >= BLOCK {
                    let block = bytes::Bytes::from(std::mem::replace(
                        &mut buf,
                        Vec::with_capacity(BLOCK + 64 * 1024),
                    ));
                    progress.rows.fetch_add(pending_rows, Ordering::Relaxed);
                    io.table
                        .rows_read
                        .fetch_add(pending_rows, Ordering::Relaxed);
                    progress
                        .bytes
                        .fetch_add(block.len() as u64, Ordering::Relaxed);
                    pending_rows = 0;
                    if tx.send(block).await.is_err() {
                        return Ok((rows, bytes)); // the writer failed; its error is reported
                    }
                }
            }
            if !buf.is_empty() {
                progress.rows.fetch_add(pending_rows, Ordering::Relaxed);
                io.table
                    .rows_read
                    .fetch_add(pending_rows, Ordering::Relaxed);
                progress
                    .bytes
                    .fetch_add(buf.len() as u64, Ordering::Relaxed);
                let _ = tx.send(bytes::Bytes::from(buf)).await;
            }
        }
        drop(tx);
        Ok::<_, SnapshotError>((rows, bytes))
    };
    let write = async {
        // The session runs without autocommit (target::Session::Copy): this
        // chunk's transaction opens with its first statement.
        writer
            .query_drop(load.as_str())
            .await
            .map_err(target_err(format!("loading {dst}")))?;
        Ok::<_, SnapshotError>((writer.affected_rows(), writer.get_warnings()))
    };
    let (read_result, write_result) = tokio::join!(read, write);
    let (loaded, warnings) = write_result?;
    let (rows, bytes) = read_result?;
    check_written(writer, io, rows, loaded, warnings).await?;
    Ok((rows, bytes))
}

/// Fails a write whose row count differs from the rows sent, or that raised a
/// warning (the session is not strict: a warning is a value the target altered),
/// naming the first warnings. The one exception is the ENUM/SET error value `''`,
/// which the source stored and the target stores as well.
async fn check_written(
    writer: &mut Conn,
    io: &ChunkIo<'_>,
    sent: u64,
    written: u64,
    warnings: u16,
) -> Result<(), SnapshotError> {
    if warnings == 0 && written == sent {
        return Ok(());
    }
    let all: Vec<(String, u32, String)> = writer.query("SHOW WARNINGS").await.unwrap_or_default();
    let enum_error_value = |(_, code, msg): &(String, u32, String)| {
        *code == 1265
            && io
                .table
                .enums
                .iter()
                .any(|c| msg.contains(&format!("column '{c}'")))
    };
    if written == sent && all.len() == warnings as usize && all.iter().all(enum_error_value) {
        return Ok(());
    }
    let detail = all
        .iter()
        .take(3)
        .map(|(level, code, msg)| format!("{level} {code}: {msg}"))
        .collect::<Vec<_>>()
        .join("; ");
    Err(SnapshotError::Target {
        what: format!("writing {}", io.dst),
        cause: format!("{sent} rows sent, {written} written, {warnings} warnings: {detail}"),
    })
}

/// One write's rows, each with its values, and their bytes.
struct InsertBatch {
    rows: Vec<Vec<Value>>,
    bytes: usize,
}

/// Copies a chunk with prepared INSERTs, each statement's warnings looked at as
/// LOAD DATA's are. Into MariaDB a batch is one `COM_STMT_BULK_EXECUTE` of a
/// one-row INSERT (its rows' values in one packet, run as one statement); into
/// MySQL, multi-row INSERTs of `INSERT_ROWS` rows. A batch ends at its bytes (a
/// 40 MB row goes alone).
async fn copy_insert(
    reader: &mut Conn,
    writer: &mut Conn,
    params: Vec<Value>,
    io: &ChunkIo<'_>,
    ctx: &PipelineCtx,
) -> Result<(u64, u64), SnapshotError> {
    let ChunkIo { select, dst, .. } = *io;
    let ncols = io.table.columns.len().max(1);
    let batch_rows = if ctx.settings.bulk {
        BULK_ROWS
    } else {
        INSERT_ROWS.min(MAX_PLACEHOLDERS / ncols).max(1)
    };
    // Twice the load's queue, of statements an eighth its size (see the
    // module's bound): the writer always has one to send.
    let batch_bytes = (ctx.settings.batch_bytes / 8).max(1);
    let (tx, mut rx) = mpsc::channel::<InsertBatch>(CHANNEL_BATCHES * 2);
    // Progress counts rows as read, as LOAD DATA's does: a chunk the target holds
    // up still shows its rows coming.
    let read_progress = |rows: usize, bytes: usize| {
        ctx.progress.rows.fetch_add(rows as u64, Ordering::Relaxed);
        io.table.rows_read.fetch_add(rows as u64, Ordering::Relaxed);
        ctx.progress
            .bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
    };
    let read = async move {
        let mut result = reader
            .exec_iter(select, Params::Positional(params))
            .await
            .map_err(source_err(format!("reading {select}")))?;
        let Some(mut stream) = result
            .stream::<Row>()
            .await
            .map_err(source_err(format!("reading {select}")))?
        else {
            return Ok(());
        };
        let mut batch = empty_batch(batch_rows);
        while let Some(row) = stream.next().await {
            let row = row.map_err(|e| read_error(select, e))?.unwrap();
            let size: usize = row.iter().map(value_size).sum();
            // A large row goes alone rather than swell the batch before it.
            if !batch.rows.is_empty()
                && batch.bytes + size > batch_bytes
                && !hand_over(&tx, &mut batch, batch_rows, read_progress).await
            {
                return Ok(());
            }
            batch.rows.push(row);
            batch.bytes += size;
            if (batch.rows.len() == batch_rows || batch.bytes >= batch_bytes)
                && !hand_over(&tx, &mut batch, batch_rows, read_progress).await
            {
                return Ok(());
            }
        }
        if !batch.rows.is_empty() {
            hand_over(&tx, &mut batch, batch_rows, read_progress).await;
        }
        Ok::<_, SnapshotError>(())
    };
    let write = async {
        // The session runs without autocommit (target::Session::Copy): this
        // chunk's transaction opens with its first statement.
        let mut statements = Statements::default();
        let mut total_rows = 0u64;
        let mut total_bytes = 0u64;
        while let Some(InsertBatch { rows, bytes }) = rx.recv().await {
            let sent = rows.len() as u64;
            let (written, warnings) = if ctx.settings.bulk {
                let one = statements.get(writer, io, 1).await?;
                writer
                    .exec_batch(&one, rows.into_iter().map(Params::Positional))
                    .await
                    .map_err(target_err(format!("writing {dst}")))?;
                (writer.affected_rows(), writer.get_warnings())
            } else {
                insert_rows(writer, &mut statements, io, rows).await?
            };
            check_written(writer, io, sent, written, warnings).await?;
            total_rows += sent;
            total_bytes += bytes as u64;
        }
        Ok::<_, SnapshotError>((total_rows, total_bytes))
    };
    let (read_result, write_result) = tokio::join!(read, write);
    // A write error explains a read that stopped early, so it wins.
    let totals = write_result?;
    read_result?;
    Ok(totals)
}

/// Sends `batch` to the writer, counts its rows as read and starts an empty one.
/// False once the writer has gone (its error is reported).
async fn hand_over(
    tx: &mpsc::Sender<InsertBatch>,
    batch: &mut InsertBatch,
    batch_rows: usize,
    read_progress: impl Fn(usize, usize),
) -> bool {
    let (rows, bytes) = (batch.rows.len(), batch.bytes);
    let full = std::mem::replace(batch, empty_batch(batch_rows));
    if tx.send(full).await.is_err() {
        return false;
    }
    read_progress(rows, bytes);
    true
}

fn empty_batch(batch_rows: usize) -> InsertBatch {
    InsertBatch {
        rows: Vec::with_capacity(batch_rows.min(1024)),
        bytes: 0,
    }
}

/// A chunk's prepared INSERTs by their number of rows: each prepared once per
/// chunk (the connection's cache keeps them across chunks), not looked up by
/// its text for every batch.
#[derive(Default)]
struct Statements(HashMap<usize, mysql_async::Statement>);

impl Statements {
    async fn get(
        &mut self,
        writer: &mut Conn,
        io: &ChunkIo<'_>,
        rows: usize,
    ) -> Result<mysql_async::Statement, SnapshotError> {
        if let Some(stmt) = self.0.get(&rows) {
            return Ok(stmt.clone());
        }
        let ncols = io.table.columns.len().max(1);
        let sql = crate::target::insert_sql("INSERT", io.dst, io.cols, ncols, rows);
        let stmt = writer
            .prep(sql)
            .await
            .map_err(target_err(format!("preparing the INSERT into {}", io.dst)))?;
        self.0.insert(rows, stmt.clone());
        Ok(stmt)
    }
}

/// Writes `rows` with multi-row INSERTs: one statement when they are a full
/// batch, else in power-of-two pieces, largest first (so a table needs at most a
/// dozen statement shapes). Returns the rows written and the warnings.
async fn insert_rows(
    writer: &mut Conn,
    statements: &mut Statements,
    io: &ChunkIo<'_>,
    rows: Vec<Vec<Value>>,
) -> Result<(u64, u16), SnapshotError> {
    let (mut written, mut warnings) = (0u64, 0u16);
    let mut left = rows.len();
    let mut rows = rows.into_iter();
    while left > 0 {
        let n = 1usize << (usize::BITS - 1 - left.leading_zeros());
        let values: Vec<Value> = rows.by_ref().take(n).flatten().collect();
        let stmt = statements.get(writer, io, n).await?;
        writer
            .exec_drop(&stmt, Params::Positional(values))
            .await
            .map_err(target_err(format!("writing {}", io.dst)))?;
        written += writer.affected_rows();
        warnings = warnings.saturating_add(writer.get_warnings());
        left -= n;
    }
    Ok((written, warnings))
}

/// Rows read per table, sorted by name, tables with none left out.
fn per_table(tables: &HashMap<(String, String), CopyTable>) -> Vec<TableCount> {
    let mut out: Vec<TableCount> = tables
        .values()
        .filter_map(|t| {
            let count = t.rows_read.load(Ordering::Relaxed);
            (count > 0).then(|| TableCount {
                schema: t.schema.clone(),
                table: t.name.clone(),
                count,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.schema, &a.table).cmp(&(&b.schema, &b.table)));
    out
}

/// Emits throughput events about once a second until `stop` fires.
pub async fn report_throughput(
    progress: Arc<Progress>,
    tables: Arc<HashMap<(String, String), CopyTable>>,
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
            tables: per_table(&tables),
        });
    }
}
