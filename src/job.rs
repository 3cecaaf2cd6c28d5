//! The job state machine: drives a job through its phases and emits events.
//!
//! Phases recorded in the meta schema: `copy` (plan stored, chunks being copied),
//! `copied` (all rows and objects on the target), `completed` (verified, for full
//! jobs). A run finding its job in `copy` resumes it: the stored plan and snapshot
//! position are kept and only unfinished chunks are copied. A run finding it
//! `completed` starts over (the target's tables then fall under `on_existing`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::checkpoint::{ChunkRecord, Meta};
use crate::endpoint::Endpoint;
use crate::error::{Coded, FerryError, Report, Side};
use crate::events::{EventSink, JobEvent, Phase, TableTotals};
use crate::inspect;
use crate::position::Position;
use crate::profile::{Mode, Profile};
use crate::replicate::apply::Applier;
use crate::replicate::reader::{Reader, TableMap};
use crate::replicate::ReplicateError;
use crate::rules::Selection;
use crate::snapshot::copy::{copy_chunks, report_throughput, CopySettings, CopyTable, Progress};
use crate::snapshot::{consistency, plan, schema, SnapshotError};
use crate::verify::{self, data_columns, VerifyError, VerifyReport};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Ferry(#[from] FerryError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Replicate(#[from] ReplicateError),
    #[error("mode \"{mode}\" is not implemented yet")]
    ModeNotImplemented { mode: &'static str },
    #[error("the job's rules select no table on the source")]
    NothingSelected,
}

impl Coded for JobError {
    fn code(&self) -> &'static str {
        match self {
            JobError::Ferry(e) => e.code(),
            JobError::Snapshot(e) => e.code(),
            JobError::Verify(e) => e.code(),
            JobError::Replicate(e) => e.code(),
            JobError::ModeNotImplemented { .. } => "job.mode_not_implemented",
            JobError::NothingSelected => "job.nothing_selected",
        }
    }

    fn remedy(&self) -> String {
        match self {
            JobError::Ferry(e) => e.remedy(),
            JobError::Snapshot(e) => e.remedy(),
            JobError::Verify(e) => e.remedy(),
            JobError::Replicate(e) => e.remedy(),
            JobError::ModeNotImplemented { .. } => {
                "use mode = \"full\" for now; incremental sync comes in a later release".into()
            }
            JobError::NothingSelected => {
                "check [objects] include / exclude with `ferry objects JOB`".into()
            }
        }
    }

    fn is_transient(&self) -> bool {
        match self {
            JobError::Ferry(e) => e.is_transient(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub tables: usize,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// This run continued an interrupted one.
    pub resumed: bool,
    pub position: Position,
    pub lock_ms: u64,
    pub verify: Option<VerifyReport>,
    /// Where the incremental sync stopped (modes `all` / `incremental`).
    pub synced_to: Option<Position>,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub verify: bool,
    /// Ends the incremental sync gracefully (Ctrl-C in the CLI, Pause in the app).
    pub stop: Stop,
}

/// A one-shot "please stop" for a running job; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<tokio::sync::Notify>);

impl Stop {
    pub fn stop(&self) {
        // notify_one stores a permit, so a stop sent before anyone waits is not lost.
        self.0.notify_one();
    }

    pub async fn stopped(&self) {
        self.0.notified().await;
    }
}

fn target_error(what: &str) -> impl FnOnce(mysql_async::Error) -> SnapshotError + '_ {
    move |e| SnapshotError::Target {
        what: what.to_string(),
        cause: e.to_string(),
    }
}

/// Opens both sides and works out what the job selects.
async fn open_job(
    profile: &Profile,
) -> Result<
    (
        Endpoint,
        Endpoint,
        Catalog,
        Selection,
        crate::rules::Matcher,
    ),
    JobError,
> {
    let o = &profile.options;
    let source = inspect::open(profile, Side::Source, o.export_threads + 3).await?;
    let target = inspect::open(profile, Side::Target, o.import_threads + 3).await?;
    let facts = source.facts().await.map_err(FerryError::from)?;
    let matcher = profile
        .objects
        .compile(facts.lower_case_table_names)
        .map_err(FerryError::from)?;
    let catalog = Catalog::load(&source, |s| matcher.touches_schema(s))
        .await
        .map_err(FerryError::from)?;
    let all_schemas = Catalog::load_schema_names(&source)
        .await
        .map_err(FerryError::from)?;
    matcher
        .check_against(
            catalog
                .tables
                .iter()
                .map(|t| (t.schema.as_str(), t.name.as_str())),
            &all_schemas,
        )
        .map_err(FerryError::from)?;
    let selection = matcher.select(&catalog);
    if selection.tables.is_empty() {
        return Err(JobError::NothingSelected);
    }
    Ok((source, target, catalog, selection, matcher))
}

/// Runs a job (full copy for now) to its end, emitting events on `sink`.
pub async fn run(
    profile: &Profile,
    opts: RunOptions,
    sink: EventSink,
) -> Result<RunSummary, JobError> {
    match profile.mode {
        Mode::Full => {}
        Mode::All => {}
        Mode::Incremental => {
            return Err(JobError::ModeNotImplemented {
                mode: "incremental",
            })
        }
    }
    let started = Instant::now();
    let o = &profile.options;
    let (source, target, catalog, selection, matcher) = open_job(profile).await?;
    let source_facts = source.facts().await.map_err(FerryError::from)?;
    let target_facts = target.facts().await.map_err(FerryError::from)?;
    let sql_mode: String = {
        let mut c = source.conn().await.map_err(FerryError::from)?;
        c.query_first("SELECT @@GLOBAL.sql_mode")
            .await
            .map_err(|e| SnapshotError::Source {
                what: "reading sql_mode".into(),
                cause: e.to_string(),
            })?
            .unwrap_or_default()
    };

    // The meta connection holds the job lock for the whole run.
    let meta = Meta::new(&o.meta_schema, &profile.name);
    let mut meta_conn = target.conn().await.map_err(FerryError::from)?;
    meta.ensure(&mut meta_conn)
        .await
        .map_err(target_error("creating the meta schema"))?;
    if !meta
        .try_lock(&mut meta_conn)
        .await
        .map_err(target_error("taking the job lock"))?
    {
        return Err(SnapshotError::AlreadyRunning {
            job: profile.name.clone(),
        }
        .into());
    }
    let existing = meta
        .load_job(&mut meta_conn)
        .await
        .map_err(target_error("reading the job state"))?;
    if let Some(job) = existing.as_ref().filter(|j| j.phase == "sync") {
        // The copy is done; continue following the binlog where it stopped.
        let start = job.sync.clone().unwrap_or_else(|| job.snapshot.clone());
        let synced_to = sync(
            &source, &target, &catalog, &selection, &meta, &start, &sql_mode, &sink, &opts.stop,
        )
        .await?;
        // The job lock lives on this connection; the pool only closes once it is back.
        drop(meta_conn);
        source.close().await;
        target.close().await;
        return Ok(RunSummary {
            tables: selection.tables.len(),
            rows: 0,
            bytes: 0,
            seconds: started.elapsed().as_secs_f64(),
            resumed: true,
            position: start,
            lock_ms: 0,
            verify: None,
            synced_to: Some(synced_to),
        });
    }
    let resuming = existing.as_ref().is_some_and(|j| j.phase == "copy");
    let stored_plan = if resuming {
        meta.load_plan(&mut meta_conn)
            .await
            .map_err(|cause| SnapshotError::BadPlan { cause })?
    } else {
        if existing.is_some() {
            meta.reset(&mut meta_conn)
                .await
                .map_err(target_error("resetting the job state"))?;
        }
        Vec::new()
    };
    let planned: HashSet<(String, String)> = stored_plan
        .iter()
        .map(|c| (c.schema.clone(), c.table.clone()))
        .collect();

    sink.phase(Phase::Schema);
    let ddl = schema::SchemaCopy {
        source: &source,
        target: &target,
        catalog: &catalog,
        selection: &selection,
        sql_mode: &sql_mode,
        sink: &sink,
    };
    ddl.create_tables(o.on_existing, &planned, &meta).await?;

    sink.phase(Phase::Snapshot);
    let lock_list: Vec<(String, String)> = selection
        .tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    let mut snap = consistency::open(
        &source,
        source_facts.flavor,
        o.consistency,
        o.export_threads,
        &lock_list,
    )
    .await?;
    let lock_ms = snap.lock_ms;
    sink.emit(JobEvent::Snapshot {
        position: snap.position.clone(),
        method: format!("{:?}", snap.method).to_lowercase(),
        lock_ms: snap.lock_ms,
    });
    if snap.method != o.consistency && o.consistency != crate::profile::Consistency::Auto {
        sink.warn(Report {
            code: "snapshot.method_changed".into(),
            message: format!(
                "consistency {:?} was used instead of {:?}",
                snap.method, o.consistency
            ),
            remedy: "grant RELOAD for parallel consistent reads".into(),
        });
    }

    let (chunks, position) = if resuming {
        let position = existing.map(|j| j.snapshot).unwrap_or_default();
        sink.warn(Report {
            code: "snapshot.resumed".into(),
            message: format!(
                "resuming an interrupted copy: {} of {} chunks are already on the target",
                stored_plan.iter().filter(|c| c.done).count(),
                stored_plan.len()
            ),
            remedy: "nothing to do; if the source was written to meanwhile, only an incremental phase from the original position makes the copy exact".into(),
        });
        (stored_plan, position)
    } else {
        let mut chunks: Vec<ChunkRecord> = Vec::new();
        let Some(planner) = snap.readers.first_mut() else {
            return Err(SnapshotError::Source {
                what: "planning".into(),
                cause: "no reader connection".into(),
            }
            .into());
        };
        for t in &selection.tables {
            if let Some(table) = catalog.table(&t.schema, &t.name) {
                chunks.extend(plan::plan_table(planner, table, o.chunk_bytes).await?);
            }
        }
        meta.store_plan(
            &mut meta_conn,
            profile.mode.as_str(),
            &snap.position,
            &chunks,
        )
        .await
        .map_err(target_error("storing the copy plan"))?;
        (chunks, snap.position.clone())
    };

    // Tables, totals and the work queue.
    let mut tables: HashMap<(String, String), CopyTable> = HashMap::new();
    let mut totals = Vec::new();
    for t in &selection.tables {
        let Some(table) = catalog.table(&t.schema, &t.name) else {
            continue;
        };
        let mine: Vec<&ChunkRecord> = chunks
            .iter()
            .filter(|c| c.schema == t.schema && c.table == t.name)
            .collect();
        let done = mine.iter().filter(|c| c.done).count() as u64;
        totals.push(TableTotals {
            schema: t.schema.clone(),
            table: t.name.clone(),
            target: format!("{}.{}", t.target_schema, t.target_name),
            rows_estimate: t.row_estimate,
            bytes_estimate: table.data_bytes,
            chunks: mine.len() as u64,
            chunks_done: done,
        });
        tables.insert(
            (t.schema.clone(), t.name.clone()),
            CopyTable {
                schema: t.schema.clone(),
                name: t.name.clone(),
                target_schema: t.target_schema.clone(),
                target_name: t.target_name.clone(),
                columns: data_columns(table),
                year: table
                    .columns
                    .iter()
                    .filter(|c| c.generated.is_none())
                    .map(|c| c.data_type.eq_ignore_ascii_case("year"))
                    .collect(),
                key: table
                    .row_key()
                    .map(|k| k.columns.clone())
                    .unwrap_or_default(),
                chunks: mine.len() as u64,
                chunks_done: Arc::new(AtomicU64::new(done)),
            },
        );
    }
    sink.emit(JobEvent::Plan {
        tables: totals.clone(),
    });
    let size_of = |c: &ChunkRecord| {
        catalog
            .table(&c.schema, &c.table)
            .map_or(0, |t| t.data_bytes)
    };
    let mut todo: Vec<ChunkRecord> = chunks.iter().filter(|c| !c.done).cloned().collect();
    // Round-robin over tables (chunk 0 of every table, then chunk 1, …), biggest
    // tables first within a round: concurrent writers then fill different tables,
    // which matters because bulk loads into one table serialise on its AUTO-INC lock.
    todo.sort_by(|a, b| {
        a.chunk
            .cmp(&b.chunk)
            .then_with(|| size_of(b).cmp(&size_of(a)))
            .then_with(|| (&a.schema, &a.table).cmp(&(&b.schema, &b.table)))
    });

    let progress = Arc::new(Progress::default());
    let (done_rows, done_bytes) = chunks
        .iter()
        .filter(|c| c.done)
        .fold((0, 0), |(r, b), c| (r + c.rows, b + c.bytes));
    progress.rows.store(done_rows, Ordering::Relaxed);
    progress.bytes.store(done_bytes, Ordering::Relaxed);
    let rows_total: u64 = totals
        .iter()
        .map(|t| t.rows_estimate)
        .sum::<u64>()
        .max(done_rows);
    let bytes_total: u64 = totals.iter().map(|t| t.bytes_estimate).sum();

    sink.phase(Phase::Copy);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let reporter = tokio::spawn(report_throughput(
        progress.clone(),
        rows_total,
        bytes_total,
        sink.clone(),
        stop_rx,
    ));
    let batch_bytes = (target_facts.max_allowed_packet / 2).clamp(64 << 10, 4 << 20) as usize;
    // LOAD DATA LOCAL is the fast path; servers that refuse it get INSERTs.
    let load_data = o.write_method == crate::profile::WriteMethod::LoadData
        || o.write_method == crate::profile::WriteMethod::Auto && {
            let mut c = target.conn().await.map_err(FerryError::from)?;
            let on: Option<Option<String>> = c
                .query_first("SELECT @@GLOBAL.local_infile")
                .await
                .unwrap_or(None);
            matches!(on.flatten().as_deref(), Some("1" | "ON"))
        };
    let readers = std::mem::take(&mut snap.readers);
    let copied = copy_chunks(
        readers,
        &target,
        o.import_threads,
        todo,
        Arc::new(tables),
        meta.clone(),
        CopySettings {
            load_data,
            batch_bytes,
            sql_mode: sql_mode.clone(),
        },
        progress.clone(),
        sink.clone(),
    )
    .await;
    let _ = stop_tx.send(());
    let _ = reporter.await;
    match copied {
        Ok(readers) => snap.readers = readers,
        Err(e) => {
            snap.close().await;
            return Err(e.into());
        }
    }
    snap.close().await;
    let rows = progress.rows.load(Ordering::Relaxed);
    let bytes = progress.bytes.load(Ordering::Relaxed);
    sink.emit(JobEvent::CopyDone {
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    });

    sink.phase(Phase::Objects);
    schema::build_deferred_indexes(&target, &meta, o.import_threads, &sink).await?;
    ddl.create_objects(&matcher, o.definer).await?;
    meta.set_phase(&mut meta_conn, "copied")
        .await
        .map_err(target_error("recording the job phase"))?;

    // With a live source, comparing right after the copy shows every write made since
    // the snapshot; `all` jobs are verified at cutover instead.
    let verify_report = if opts.verify && profile.mode == Mode::Full {
        sink.phase(Phase::Verify);
        let report = verify::verify(
            &source,
            &target,
            source_facts.flavor,
            &catalog,
            &selection,
            o.chunk_bytes,
            o.export_threads,
            &sink,
        )
        .await?;
        Some(report)
    } else {
        None
    };
    let mut synced_to = None;
    if profile.mode == Mode::All {
        meta.set_phase(&mut meta_conn, "sync")
            .await
            .map_err(target_error("recording the job phase"))?;
        synced_to = Some(
            sync(
                &source, &target, &catalog, &selection, &meta, &position, &sql_mode, &sink,
                &opts.stop,
            )
            .await?,
        );
    } else if verify_report.as_ref().is_none_or(|r| r.equal) {
        meta.set_phase(&mut meta_conn, "completed")
            .await
            .map_err(target_error("recording the job phase"))?;
        sink.phase(Phase::Completed);
    }
    drop(meta_conn);
    source.close().await;
    target.close().await;
    Ok(RunSummary {
        tables: selection.tables.len(),
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        resumed: resuming,
        position,
        lock_ms,
        verify: verify_report,
        synced_to,
    })
}

/// Follows the source binlog from `start`, applying the selected tables' changes
/// until `stop` fires. Returns the last applied position.
#[allow(clippy::too_many_arguments)]
async fn sync(
    source: &Endpoint,
    target: &Endpoint,
    catalog: &Catalog,
    selection: &Selection,
    meta: &Meta,
    start: &Position,
    sql_mode: &str,
    sink: &EventSink,
    stop: &Stop,
) -> Result<Position, JobError> {
    sink.phase(Phase::Sync);
    let mut tables = HashMap::new();
    for t in &selection.tables {
        if let Some(table) = catalog.table(&t.schema, &t.name) {
            tables.insert(
                (t.schema.clone(), t.name.clone()),
                TableMap::new(table, &t.target_schema, &t.target_name),
            );
        }
    }
    let tables = Arc::new(tables);
    let server_id = crate::precheck::FERRY_SERVER_ID as u32;
    let mut reader = Reader::open(source, start, server_id, tables.clone()).await?;
    let mut applier = Applier::new(target, meta.clone(), tables, sql_mode).await?;
    let mut applied = start.clone();
    let (mut transactions, mut rows) = (0u64, 0u64);
    let mut window = (Instant::now(), 0u64);
    let mut lag = 0u64;
    loop {
        let next = tokio::select! {
            _ = stop.stopped() => break,
            next = reader.next() => next?,
        };
        let Some(tx) = next else { break };
        rows += applier.apply(&tx).await?;
        transactions += 1;
        applied = tx.end.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        lag = now.saturating_sub(u64::from(tx.timestamp));
        if window.0.elapsed() >= std::time::Duration::from_secs(1) {
            let secs = window.0.elapsed().as_secs_f64();
            sink.emit(JobEvent::Sync {
                transactions,
                rows,
                rows_per_sec: (rows - window.1) as f64 / secs,
                lag_secs: lag,
                applied: applied.clone(),
            });
            window = (Instant::now(), rows);
        }
    }
    sink.emit(JobEvent::Sync {
        transactions,
        rows,
        rows_per_sec: 0.0,
        lag_secs: lag,
        applied: applied.clone(),
    });
    reader.close().await;
    sink.phase(Phase::Paused);
    Ok(applied)
}

/// Verifies a job's tables on its own (`ferry verify`).
pub async fn verify_job(profile: &Profile, sink: EventSink) -> Result<VerifyReport, JobError> {
    let (source, target, catalog, selection, _) = open_job(profile).await?;
    let flavor = source.facts().await.map_err(FerryError::from)?.flavor;
    let report = verify::verify(
        &source,
        &target,
        flavor,
        &catalog,
        &selection,
        profile.options.chunk_bytes,
        profile.options.export_threads,
        &sink,
    )
    .await?;
    source.close().await;
    target.close().await;
    Ok(report)
}
