//! The job state machine: drives a job through its phases and emits events.
//!
//! Phases recorded in the meta schema: `copy` (plan stored, chunks being copied),
//! `copied` (all rows and objects on the target), `completed` (verified, for full
//! jobs). A run finding its job in `copy` resumes it: the stored plan and snapshot
//! position are kept and only unfinished chunks are copied. A run finding it
//! `completed` starts over (the target's tables then fall under `on_existing`).

mod back;
mod cutover;
mod group;
mod journal;
mod merge;
mod verifier;
mod watch;

pub use watch::{apply_late, watch, WATCH};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mysql_async::prelude::Queryable;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::checkpoint::{ChunkRecord, JobPhase, Meta, PlannedSize, PlannedSizes};
use crate::control::{Control, Request};
use crate::endpoint::Endpoint;
use crate::endpoint::Flavor;
use crate::endpoint::Side;
use crate::error::{Coded, Report};
use crate::events::{EventSink, JobEvent, LogLine, Phase, TableTotals};
use crate::inspect;
use crate::inspect::FerryError;
use crate::inspect::Opened;
use crate::position::Position;
use crate::profile::{Cutover, StartAt};
use crate::profile::{Mode, OnExisting, Profile};
use crate::queue::{Queue, Turn};
use crate::replicate::reader::TableMap;
use crate::replicate::sync::{Ends, Outcome, Preread, Streams, SyncSetup};
use crate::replicate::{self, ReplicateError};
use crate::rules::{SelectedTable, Selection};
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
    #[error(transparent)]
    Control(#[from] crate::control::ControlError),
    #[error("the job's rules select no table on the source")]
    NothingSelected,
    #[error("[options] start_at is not valid: {cause}")]
    Schedule { cause: String },
    #[error("the job was paused or aborted before its scheduled start")]
    Cancelled,
    #[error("the job is not completed (phase {}): there is no cutover to watch after", phase.as_deref().unwrap_or("never run"))]
    NotCompleted { phase: Option<String> },
    #[error("the precheck failed: {}", failed.join(", "))]
    PrecheckFailed {
        failed: Vec<String>,
        /// Every check, for the adapter to show.
        report: Box<crate::precheck::Report>,
    },
}

impl Coded for JobError {
    fn code(&self) -> &'static str {
        match self {
            JobError::Ferry(e) => e.code(),
            JobError::Snapshot(e) => e.code(),
            JobError::Verify(e) => e.code(),
            JobError::Replicate(e) => e.code(),
            JobError::Control(e) => e.code(),
            JobError::NothingSelected => "job.nothing_selected",
            JobError::Schedule { .. } => "job.bad_schedule",
            JobError::Cancelled => "job.cancelled",
            JobError::NotCompleted { .. } => "job.not_completed",
            JobError::PrecheckFailed { .. } => "precheck.failed",
        }
    }

    fn remedy(&self) -> String {
        match self {
            JobError::Ferry(e) => e.remedy(),
            JobError::Snapshot(e) => e.remedy(),
            JobError::Verify(e) => e.remedy(),
            JobError::Replicate(e) => e.remedy(),
            JobError::Control(e) => e.remedy(),
            JobError::NothingSelected => {
                "⟦cli:check [objects] include / exclude with `ferry objects JOB`|app:check the selection on the Objects page⟧".into()
            }
            JobError::Schedule { .. } => {
                "write start_at as a UTC time like 2026-11-23T02:00:00Z".into()
            }
            JobError::Cancelled => "run the job again when it should start".into(),
            JobError::NotCompleted { .. } => {
                "complete the job first; writes after a cutover are watched for once it has completed".into()
            }
            JobError::PrecheckFailed { .. } => {
                "fix what the precheck reports (each check names its fix), then start the job again"
                    .into()
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
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
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
    /// Where the incremental sync stopped (modes `all` / `incremental`); `None`
    /// when the run stopped before its sync.
    pub synced_to: Option<Position>,
    pub sync_end: Option<SyncEnd>,
    /// Writes to selected tables after the cutover's drain position that the
    /// operator accepted (see `cutover`).
    pub late_writes: Option<crate::events::LateWrites>,
}

/// A run starting or ending, as the job's log keeps it (the report's runs).
#[derive(Debug, Serialize)]
#[serde(tag = "run", rename_all = "snake_case")]
pub(crate) enum RunNote<'a> {
    /// `resumed`: the phase a resumed run picked up.
    Started {
        resumed: Option<&'a str>,
    },
    Ended {
        summary: &'a RunSummary,
    },
    /// The run failed with the error of that code.
    Stopped {
        code: String,
    },
    /// The previous run's process ended without a word; last heard of then.
    Lost {
        last_seen: f64,
    },
}

/// A run whose process ended without a word (killed, the machine lost) left its
/// last status behind: the log notes when it was last heard of, so the report
/// gives that run its time.
async fn lost_run(meta: &Meta, conn: &mut mysql_async::Conn) -> Option<LogLine> {
    let Ok(Some((json, age))) = meta.load_status(conn).await else {
        return None;
    };
    let lost = serde_json::from_str::<crate::events::SyncStatus>(&json)
        .is_ok_and(|s| s.health != crate::events::Health::Stopped);
    lost.then(|| {
        let last_seen = crate::events::unix_now() - age;
        LogLine::new(
            "warning",
            "run",
            "the previous run's process ended without stopping the job".into(),
        )
        .with(&RunNote::Lost { last_seen })
    })
}

/// How a run ended, in words.
fn ended(end: Option<SyncEnd>) -> &'static str {
    match end {
        None => "copied",
        Some(SyncEnd::Paused) => "paused",
        Some(SyncEnd::Completed) => "completed",
        Some(SyncEnd::Aborted) => "aborted",
        Some(SyncEnd::CompletedUnverified) => "caught up, but the verification found differences",
    }
}

/// How the sync of a run ended (see `SyncCtx::run`).
struct SyncRun {
    end: SyncEnd,
    applied: Position,
    verify: Option<VerifyReport>,
    late: Option<crate::events::LateWrites>,
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub verify: bool,
    /// Requests from this process to the running job (Ctrl-C, the app's buttons).
    pub control: Control,
    /// Scheduled jobs of this process copy one at a time (see [`Queue`]).
    pub queue: Option<Queue>,
    /// The job's shard merge, for a member of a job with several sources (set by
    /// `job::group`; a one-source job that merges tables sets its own).
    pub shard: Option<Arc<crate::shard::Member>>,
}

/// How a run ended: the incremental phase's end, or a pause or abort during the
/// copy (then `RunSummary::synced_to` is `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum SyncEnd {
    Paused,
    Completed,
    Aborted,
    /// Caught up, but the final verification found differences.
    CompletedUnverified,
}

pub(crate) fn target_error(what: &str) -> impl FnOnce(mysql_async::Error) -> SnapshotError + '_ {
    move |e| SnapshotError::Target {
        what: what.to_string(),
        cause: e.to_string(),
    }
}

/// The longer of the two sides' round trips: what sizes the copy's and the
/// verification's chunks.
pub(crate) fn far(source: &Endpoint, target: &Endpoint) -> std::time::Duration {
    source.round_trip().max(target.round_trip())
}

/// Opens both sides and works out what the job selects.
pub(crate) async fn open_job(
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
    // Side by side: at a distance each step is round trips, not work.
    let (source, target) = tokio::try_join!(
        inspect::open(
            profile,
            Side::Source,
            inspect::run_connections(profile, Side::Source)
        ),
        inspect::open(
            profile,
            Side::Target,
            inspect::run_connections(profile, Side::Target)
        ),
    )?;
    let (matcher, catalog, selection) = inspect::read_selection(&source, profile).await?;
    if nothing_to_do(profile, &selection) {
        return Err(JobError::NothingSelected);
    }
    Ok((source, target, catalog, selection, matcher))
}

/// A job that selects no table has nothing to do, unless it syncs: then the
/// tables its rules match may still be created on the source (DM's tasks are
/// made before their tables exist), and the sync creates them on the target.
fn nothing_to_do(profile: &Profile, selection: &Selection) -> bool {
    selection.tables.is_empty() && profile.mode == crate::profile::Mode::Full
}

/// Starts a job the one way every adapter does (the CLI, the app, a future HTTP
/// server): the precheck first — a failed check the job does not list in
/// `ignore_checks` refuses the start, with every check in the error — then [`run`].
pub async fn start(
    profile: &Profile,
    opts: RunOptions,
    sink: EventSink,
) -> Result<RunSummary, JobError> {
    // A job cut over with a reverse sync resumes it: the precheck is for a
    // migration, which this job has done.
    if let Some(state) = back::pending(profile).await? {
        return back::follow(profile, state, opts, sink).await;
    }
    let (report, opened) = crate::precheck::run_keeping(profile).await;
    let failed = report.blocking(&profile.ignore_checks);
    if !failed.is_empty() {
        if let Some(opened) = opened {
            opened.close().await;
        }
        return Err(JobError::PrecheckFailed {
            failed,
            report: Box::new(report),
        });
    }
    run_opened(profile, opts, sink, opened).await
}

/// Runs a job (full copy for now) to its end, emitting events on `sink`.
pub async fn run(
    profile: &Profile,
    opts: RunOptions,
    sink: EventSink,
) -> Result<RunSummary, JobError> {
    run_opened(profile, opts, sink, None).await
}

/// As [`run`], with the servers and selection its precheck just read, if any.
async fn run_opened(
    profile: &Profile,
    opts: RunOptions,
    sink: EventSink,
    mut opened: Option<Opened>,
) -> Result<RunSummary, JobError> {
    // Held until this job's copy ends: the next scheduled job starts then.
    let mut turn = None;
    if let Some(at) = &profile.options.start_at {
        // What the precheck read is old by the time the job starts.
        if let Some(o) = opened.take() {
            o.close().await;
        }
        wait_for_start(at, &sink, &opts.control).await?;
        if let Some(queue) = &opts.queue {
            turn = Some(wait_turn(queue, &profile.name, &sink, &opts.control).await?);
        }
    }
    if !profile.shards.is_empty() {
        if let Some(o) = opened.take() {
            o.close().await;
        }
        return group::run(profile, opts, sink, turn).await;
    }
    // A job cut over with a reverse sync goes on with it, never starts over.
    if let Some(state) = back::pending(profile).await? {
        if let Some(o) = opened.take() {
            o.close().await;
        }
        return back::follow(profile, state, opts, sink).await;
    }
    let again = RunOptions {
        queue: None,
        shard: None,
        ..opts.clone()
    };
    let summary = run_member(profile, opts, sink.clone(), turn, opened).await?;
    if summary.sync_end == Some(SyncEnd::Completed) {
        if let Some(state) = back::pending(profile).await? {
            return back::follow(profile, state, again, sink).await;
        }
    }
    Ok(summary)
}

pub use back::set_state as set_reverse_state;

/// Runs a job of one source: a whole job, or one source's member of a job with
/// several (see `shard`).
pub(crate) async fn run_member(
    profile: &Profile,
    mut opts: RunOptions,
    sink: EventSink,
    turn: Option<Turn>,
    opened: Option<Opened>,
) -> Result<RunSummary, JobError> {
    let started = Instant::now();
    let o = &profile.options;
    let (source, target, catalog, selection, matcher) = match opened {
        Some(o) if nothing_to_do(profile, &o.selection) => {
            o.close().await;
            return Err(JobError::NothingSelected);
        }
        Some(o) => (o.source, o.target, o.catalog, o.selection, o.matcher),
        None => open_job(profile).await?,
    };
    if opts.shard.is_none() {
        opts.shard = crate::shard::local_member(profile, &selection);
    }
    let source_facts = source.facts().await.map_err(FerryError::from)?;
    let target_facts = target.facts().await.map_err(FerryError::from)?;
    // The meta connection holds the job lock for the whole run.
    let meta = Meta::new(&o.meta_schema, &profile.name);
    let mut meta_conn = target.conn().await.map_err(FerryError::from)?;
    // Side by side (the lock is no table): at a distance each is round trips.
    let ensured = async {
        let mut conn = target.conn().await.map_err(FerryError::from)?;
        meta.ensure(&mut conn)
            .await
            .map_err(target_error("creating the meta schema"))?;
        Ok::<_, JobError>(())
    };
    let (ensured, locked) = tokio::join!(ensured, meta.try_lock(&mut meta_conn));
    ensured?;
    if !locked.map_err(target_error("taking the job lock"))? {
        return Err(SnapshotError::AlreadyRunning {
            job: profile.name.clone(),
        }
        .into());
    }
    // An incremental job's sync starts beside its state's read (see `Early`).
    let early = async {
        match profile.mode {
            Mode::Incremental => {
                let ends = ends_of(profile, &source, &target, source_facts.flavor, &meta);
                let streams = async {
                    match known_start(profile, None) {
                        Some(from) => Some(Streams::open(&ends, &from, &Arc::default()).await),
                        None => None,
                    }
                };
                let (catalog, streams, preread, plan) = tokio::join!(
                    target_catalog_of(&target, &selection),
                    streams,
                    Preread::read(&ends),
                    earlier_plan(&target, &meta)
                );
                Early {
                    catalog: Some(catalog),
                    streams,
                    preread: Some(preread),
                    plan: Some(plan),
                }
            }
            _ => Early::default(),
        }
    };
    // Driven beside the state's read, and on beside the sync's own first steps
    // (see `sync_phase`) when it takes longer.
    let mut early = Box::pin(futures_util::future::maybe_done(early));
    let existing = {
        let load = meta.load_job(&mut meta_conn);
        tokio::pin!(load);
        let mut early_done = false;
        loop {
            tokio::select! {
                r = &mut load => break r,
                () = &mut early, if !early_done => early_done = true,
            }
        }
    };
    let existing = existing.map_err(target_error("reading the job state"))?;
    let mut first = Vec::new();
    if existing.is_some() {
        first.extend(lost_run(&meta, &mut meta_conn).await);
    }
    let (how, resumed) = match &existing {
        Some(j) => (
            format!("run resumed (phase {})", j.phase.as_str()),
            Some(j.phase.as_str()),
        ),
        None => ("run started".to_string(), None),
    };
    first.push(LogLine::new("info", "run", how).with(&RunNote::Started { resumed }));
    let (sink, journal) = journal::keep(sink, &target, &meta, first);
    let sync_ctx = SyncCtx {
        profile,
        source: &source,
        target: &target,
        flavor: source_facts.flavor,
        catalog: &catalog,
        selection: &selection,
        matcher: &matcher,
        lower_case_table_names: source_facts.lower_case_table_names,
        meta: &meta,
        sink: &sink,
        opts: &opts,
    };
    // One function per phase, chosen by the phase the meta schema records.
    let result = match existing.as_ref() {
        Some(job) if job.phase == JobPhase::Completing => {
            // Not used here: waited for and let go, since paused it would hold
            // its pool connections for this phase's whole run.
            drop(take_early(early.as_mut()).await);
            cutover::finish_interrupted_cutover(&sync_ctx, &mut meta_conn, job, started).await
        }
        Some(job) if job.phase == JobPhase::Sync => {
            let resume = Some(job);
            sync_phase(
                &sync_ctx,
                &mut meta_conn,
                resume,
                turn,
                started,
                early.as_mut(),
            )
            .await
        }
        _ if profile.mode == Mode::Incremental => {
            sync_phase(
                &sync_ctx,
                &mut meta_conn,
                None,
                turn,
                started,
                early.as_mut(),
            )
            .await
        }
        _ => {
            // Not used here: waited for and let go, since paused it would hold
            // its pool connections for this phase's whole run.
            drop(take_early(early.as_mut()).await);
            copy_phase(
                &sync_ctx,
                &mut meta_conn,
                existing.as_ref(),
                turn,
                started,
                &target_facts,
            )
            .await
        }
    };
    // The log has every event of the run, then how it ended.
    drop(sink);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), journal).await;
    let line = match &result {
        Ok(s) => LogLine::new("info", "run", format!("run ended: {}", ended(s.sync_end)))
            .with(&RunNote::Ended { summary: s }),
        Err(e) => LogLine::new(
            "error",
            "run",
            format!("run stopped: {}: {e} Fix: {}", e.code(), e.remedy()),
        )
        .with(&RunNote::Stopped {
            code: e.code().to_string(),
        }),
    };
    journal::note(&target, &meta, &line).await;
    // The job lock lives on this connection; the pool only closes once it is back.
    drop(meta_conn);
    drop(early);
    source.close().await;
    target.close().await;
    result
}

/// Phase `sync`: follows the binlog, from where a previous run stopped (`resume`)
/// or, for an incremental-only job, from its start position.
async fn sync_phase(
    ctx: &SyncCtx<'_>,
    meta_conn: &mut mysql_async::Conn,
    resume_sync: Option<&crate::checkpoint::JobRecord>,
    turn: Option<Turn>,
    started: Instant,
    early_read: std::pin::Pin<
        &mut futures_util::future::MaybeDone<impl std::future::Future<Output = Early>>,
    >,
) -> Result<RunSummary, JobError> {
    // What was read early, once it is in: the job's own steps go on beside it.
    // The earlier plan is read here when it was not.
    let early_read = async {
        let mut early = take_early(early_read).await;
        if early.plan.is_none() {
            early.plan = Some(earlier_plan(ctx.target, ctx.meta).await);
        }
        early
    };
    let (
        prepared,
        Early {
            catalog: target_catalog,
            streams: early_streams,
            preread: early_preread,
            plan,
        },
    ) = tokio::join!(sync_start(ctx, meta_conn, resume_sync), early_read);
    // The target's tables are read beside the job's own steps (see `SyncCtx::run`),
    // unless read already, and the sync's connections opened when it is known
    // where it starts (the ones opened early if they start there).
    let early = known_start(ctx.profile, resume_sync);
    let ends = ctx.ends();
    let early_streams =
        early_streams.filter(|o| o.as_ref().is_ok_and(|s| early.as_ref() == Some(s.from())));
    let streams = async {
        let opened = async {
            match (early_streams, &early) {
                (Some(opened), _) => Some(opened),
                (None, Some(from)) => Some(Streams::open(&ends, from, &Arc::default()).await),
                (None, None) => None,
            }
        };
        let preread = async {
            match early_preread {
                Some(read) => read,
                None => Preread::read(&ends).await,
            }
        };
        tokio::join!(opened, preread)
    };
    let target_catalog = async {
        match target_catalog {
            Some(read) => read,
            None => ctx.target_catalog().await,
        }
    };
    let (target_catalog, (opened, preread)) = tokio::join!(target_catalog, streams);
    let (start, resumed) = prepared?;
    let (plan, sizes) = plan.unwrap_or_default();
    drop(turn);
    ctx.sink.emit(JobEvent::Plan {
        tables: ctx
            .selection
            .tables
            .iter()
            .map(|t| table_totals(t, &plan, &sizes))
            .collect(),
    });
    let SyncRun {
        end,
        applied: synced_to,
        verify,
        late,
    } = ctx
        .run_on(
            meta_conn,
            start.clone(),
            target_catalog?,
            opened,
            Some(preread),
        )
        .await?;
    Ok(RunSummary {
        late_writes: late,
        tables: ctx.selection.tables.len(),
        rows: 0,
        bytes: 0,
        seconds: started.elapsed().as_secs_f64(),
        resumed,
        position: start,
        lock_ms: 0,
        verify,
        synced_to: Some(synced_to),
        sync_end: Some(end),
    })
}

/// Where a sync phase starts (the stored checkpoint, or the job's start position
/// for a new incremental job, which is recorded), whether it resumes, and the
/// chunks an earlier copy of the job planned (for the live view's table list).
async fn sync_start(
    ctx: &SyncCtx<'_>,
    meta_conn: &mut mysql_async::Conn,
    resume_sync: Option<&crate::checkpoint::JobRecord>,
) -> Result<(Position, bool), JobError> {
    match resume_sync {
        // Continue following the binlog where it stopped.
        Some(job) => Ok((job.sync_from(), true)),
        None => {
            // The start found and recorded and the target's tables listed side
            // by side: at a distance each is round trips.
            let record = async {
                let start = incremental_start(ctx.profile, ctx.source, ctx.flavor).await?;
                ctx.meta
                    .start_sync_job(meta_conn, Mode::Incremental, &start)
                    .await
                    .map_err(target_error("recording the job"))?;
                Ok::<_, JobError>(start)
            };
            let (start, missing) =
                tokio::join!(record, missing_target_tables(ctx.target, ctx.selection));
            let start = start?;
            // As DM does, the job starts: a CREATE TABLE in the binlog may make
            // them, and a change to one before that stops the sync by name.
            let missing = missing?;
            if !missing.is_empty() {
                ctx.sink
                    .warn(Report::from_error(&ReplicateError::MissingTables {
                        tables: missing.join(", "),
                    }));
            }
            Ok((start, false))
        }
    }
}

/// Where a sync phase starts, when that needs no query: a resumed sync's
/// checkpoint, or an incremental job's explicit position (`now` is read from the
/// source by `sync_start`).
fn known_start(
    profile: &Profile,
    resume_sync: Option<&crate::checkpoint::JobRecord>,
) -> Option<Position> {
    match resume_sync {
        Some(job) => Some(job.sync_from()),
        None => explicit_position(profile.incremental.start_at().ok()?),
    }
}

/// The position a start names itself (a GTID set, a binlog file and offset);
/// `None` for `snapshot` and `now`, which are found, not given.
fn explicit_position(start: StartAt) -> Option<Position> {
    match start {
        StartAt::Gtid(set) => Some(Position {
            file: None,
            pos: None,
            gtid: Some(set),
        }),
        StartAt::Binlog { file, pos } => Some(Position {
            file: Some(file),
            pos: Some(pos),
            gtid: None,
        }),
        StartAt::Snapshot | StartAt::Now => None,
    }
}

/// What an earlier copy of the job planned: its chunks and the tables' sizes then.
type EarlierPlan = (Vec<ChunkRecord>, PlannedSizes);

/// The tables of a run that copies nothing, so its live view lists them too
/// (with what an earlier run of the job copied, and the sizes it planned).
async fn earlier_plan(target: &Endpoint, meta: &Meta) -> EarlierPlan {
    // Side by side: at a distance each read is two round trips.
    let chunks = async {
        let mut conn = target.conn().await.ok()?;
        meta.load_plan(&mut conn).await.ok()
    };
    let sizes = async {
        let mut conn = target.conn().await.ok()?;
        meta.load_sizes(&mut conn).await.ok()
    };
    let (chunks, sizes) = tokio::join!(chunks, sizes);
    (chunks.unwrap_or_default(), sizes.unwrap_or_default())
}

/// A table's line in the live view's plan: the size the Objects page showed when
/// its copy was planned (data and indexes), on every run of the job, and the
/// chunks of `plan` that are its own and already copied.
fn table_totals(t: &SelectedTable, plan: &[ChunkRecord], sizes: &PlannedSizes) -> TableTotals {
    let mine: Vec<&ChunkRecord> = plan
        .iter()
        .filter(|c| c.schema == t.schema && c.table == t.name)
        .collect();
    let size = planned_size(sizes, t);
    TableTotals {
        schema: t.schema.clone(),
        table: t.name.clone(),
        target: format!("{}.{}", t.target_schema, t.target_name),
        rows_estimate: size.rows,
        bytes_estimate: size.bytes,
        chunks: mine.len() as u64,
        chunks_done: mine.iter().filter(|c| c.done).count() as u64,
        rows_done: mine.iter().filter(|c| c.done).map(|c| c.rows).sum(),
    }
}

/// A table's size as planned by the job's copy, or as the source says now (a job
/// that copied nothing, or planned before sizes were kept).
fn planned_size(sizes: &PlannedSizes, t: &SelectedTable) -> PlannedSize {
    sizes
        .get(&(t.schema.clone(), t.name.clone()))
        .copied()
        .unwrap_or_else(|| size_now(t))
}

/// A table's size as the source's statistics say now (data and indexes).
fn size_now(t: &SelectedTable) -> PlannedSize {
    PlannedSize {
        rows: t.row_estimate,
        bytes: t.bytes,
    }
}

/// Phase `copy`: the consistent snapshot, schema, chunked copy, objects and (mode
/// `full`) verification, resuming an interrupted copy from its stored plan; mode
/// `all` goes on into the sync.
async fn copy_phase(
    ctx: &SyncCtx<'_>,
    meta_conn: &mut mysql_async::Conn,
    existing: Option<&crate::checkpoint::JobRecord>,
    mut turn: Option<Turn>,
    started: Instant,
    target_facts: &crate::endpoint::ServerFacts,
) -> Result<RunSummary, JobError> {
    let SyncCtx {
        profile,
        source,
        target,
        flavor,
        catalog,
        selection,
        matcher,
        meta,
        sink,
        opts,
        ..
    } = *ctx;
    let o = &profile.options;
    let resuming = existing.is_some_and(|j| j.phase == JobPhase::Copy);
    let (stored_plan, stored_sizes) = if resuming {
        let chunks = meta
            .load_plan(meta_conn)
            .await
            .map_err(|cause| SnapshotError::BadPlan { cause })?;
        let sizes = meta
            .load_sizes(meta_conn)
            .await
            .map_err(target_error("reading the copy plan"))?;
        (chunks, sizes)
    } else {
        if existing.is_some() {
            meta.reset(meta_conn)
                .await
                .map_err(target_error("resetting the job state"))?;
        }
        Default::default()
    };
    let planned: HashSet<(String, String)> = stored_plan
        .iter()
        .map(|c| (c.schema.clone(), c.table.clone()))
        .collect();

    // The snapshot first: how it is made decides which keys the tables start with.
    sink.phase(Phase::Snapshot);
    let lock_list: Vec<(String, String)> = selection
        .tables
        .iter()
        .map(|t| (t.schema.clone(), t.name.clone()))
        .collect();
    let mut snap = consistency::open(
        source,
        flavor,
        o.consistency,
        o.export_threads,
        &lock_list,
        selection.tables.iter().all(|t| {
            t.engine
                .as_deref()
                .is_none_or(|e| e.eq_ignore_ascii_case("InnoDB"))
        }),
        profile.mode == Mode::All,
    )
    .await?;
    let chunked = snap.method == crate::profile::Consistency::Chunked;
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
            remedy: if o.consistency == crate::profile::Consistency::Chunked {
                "a chunked copy needs a sync to make it consistent (mode \"all\"); a copy alone reads with one lock-free reader".into()
            } else {
                "grant RELOAD for parallel consistent reads".into()
            },
        });
    }

    sink.phase(Phase::Schema);
    let ddl = schema::SchemaCopy {
        source,
        target,
        catalog,
        selection,
        sink,
    };
    let merged_elsewhere = opts
        .shard
        .as_ref()
        .filter(|m| m.group)
        .map(|m| m.locks.merged().into_iter().collect())
        .unwrap_or_default();
    let created = ddl
        .create_tables(o.on_existing, &planned, meta, &merged_elsewhere, chunked)
        .await;
    if let Err(e) = created {
        snap.close().await;
        return Err(e.into());
    }

    if resuming {
        if let Err(e) = unchanged_since_planned(target, catalog, selection, &stored_plan).await {
            snap.close().await;
            return Err(e);
        }
    }
    // What the copy moves is the rows: their data, not the indexes built after.
    let bytes_total: u64 = selection
        .tables
        .iter()
        .filter_map(|t| catalog.table(&t.schema, &t.name))
        .map(|t| t.data_bytes)
        .sum();
    let (chunks, position, sizes) = if resuming {
        let position = existing.map(|j| j.snapshot.clone()).unwrap_or_default();
        sink.warn(Report {
            code: "snapshot.resumed".into(),
            message: format!(
                "resuming an interrupted copy: {} of {} chunks are already on the target",
                stored_plan.iter().filter(|c| c.done).count(),
                stored_plan.len()
            ),
            remedy: "nothing to do; if the source was written to meanwhile, only an incremental phase from the original position makes the copy exact".into(),
        });
        (stored_plan, position, stored_sizes)
    } else {
        let mut chunks: Vec<ChunkRecord> = Vec::new();
        let chunk_bytes = plan::chunk_bytes_at(o.chunk_bytes, far(ctx.source, ctx.target));
        let whole_up_to = plan::whole_table_bytes(
            // Not in a job with several sources: the first to write into a
            // merged table would hold it (the bulk insert's table lock) until its
            // whole share is in, and the others would wait.
            !chunked
                && opts.shard.is_none()
                && bulk_into_empty(target_facts, o.on_existing)
                && o.chunk_bytes == crate::profile::DEFAULT_CHUNK_BYTES,
            bytes_total,
            o.import_threads,
        );
        let Some(planner) = snap.readers.first_mut() else {
            return Err(SnapshotError::Source {
                what: "planning".into(),
                cause: "no reader connection".into(),
            }
            .into());
        };
        for t in &selection.tables {
            if let Some(table) = catalog.table(&t.schema, &t.name) {
                if whole_up_to > 0 && table.data_bytes <= whole_up_to {
                    chunks.extend(plan::whole(table));
                } else {
                    chunks.extend(plan::plan_table(planner, table, chunk_bytes).await?);
                }
            }
        }
        let sizes: PlannedSizes = selection
            .tables
            .iter()
            .map(|t| ((t.schema.clone(), t.name.clone()), size_now(t)))
            .collect();
        meta.store_plan(meta_conn, profile.mode, &snap.position, &chunks, &sizes)
            .await
            .map_err(target_error("storing the copy plan"))?;
        (chunks, snap.position.clone(), sizes)
    };

    // Tables, totals and the work queue.
    let mut tables: HashMap<(String, String), CopyTable> = HashMap::new();
    let mut totals = Vec::new();
    for t in &selection.tables {
        let Some(table) = catalog.table(&t.schema, &t.name) else {
            continue;
        };
        let line = table_totals(t, &chunks, &sizes);
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
                enums: table
                    .columns
                    .iter()
                    .filter(|c| {
                        c.generated.is_none()
                            && (c.data_type.eq_ignore_ascii_case("enum")
                                || c.data_type.eq_ignore_ascii_case("set"))
                    })
                    .map(|c| c.name.clone())
                    .collect(),
                key: table
                    .row_key()
                    .map(|k| k.columns.clone())
                    .unwrap_or_default(),
                chunks: line.chunks,
                chunks_done: Arc::new(AtomicU64::new(line.chunks_done)),
                rows_read: Arc::new(AtomicU64::new(line.rows_done)),
            },
        );
        totals.push(line);
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
    progress.committed_rows.store(done_rows, Ordering::Relaxed);
    progress
        .committed_bytes
        .store(done_bytes, Ordering::Relaxed);
    let rows_total: u64 = totals
        .iter()
        .map(|t| t.rows_estimate)
        .sum::<u64>()
        .max(done_rows);
    sink.phase(Phase::Copy);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
    let tables = Arc::new(tables);
    let reporter = tokio::spawn(report_throughput(
        progress.clone(),
        tables.clone(),
        rows_total,
        bytes_total,
        sink.clone(),
        stop_rx,
    ));
    let batch_bytes = (target_facts.max_allowed_packet / 2).clamp(64 << 10, 4 << 20) as usize;
    let load_data = crate::snapshot::copy::loads_data(
        o.write_method,
        target_facts.local_infile,
        target.round_trip(),
    );
    let readers = std::mem::take(&mut snap.readers);
    let stop = Arc::new(AtomicBool::new(false));
    let copy = copy_chunks(
        readers,
        target,
        o.import_threads,
        todo,
        tables,
        meta.clone(),
        CopySettings {
            load_data,
            // (`copy_chunks` also asks the writers' handshakes: `target::bulk_offered`.)
            bulk: target_facts.flavor == crate::endpoint::Flavor::MariaDB
                && !crate::failpoint::switched("copy.multi_row_inserts"),
            batch_bytes,
            keyless_lock: chunked.then(|| crate::snapshot::copy::KeylessLock {
                source: source.clone(),
                flavor,
            }),
        },
        progress.clone(),
        sink.clone(),
        stop.clone(),
    );
    // Pause and abort take effect during the copy (after the chunks in flight); a
    // cutover request waits for the sync.
    let mut requests = opts.control.receiver();
    let mut stopped = None;
    let mut cutover = None;
    tokio::pin!(copy);
    let copied = loop {
        tokio::select! {
            copied = &mut copy => break copied,
            r = requests.recv_or_row(meta, target), if stopped.is_none() => match r {
                Request::Complete { .. } => cutover = Some(r),
                Request::Pause | Request::Abort => {
                    stopped = Some(r);
                    stop.store(true, Ordering::Relaxed);
                }
            },
        }
    };
    opts.control.give_back(requests);
    if let Some(r) = cutover {
        opts.control.send(r);
    }
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
    let rows = progress.committed_rows.load(Ordering::Relaxed);
    let bytes = progress.committed_bytes.load(Ordering::Relaxed);
    let summary = |position: Position, verify, synced_to, sync_end, late_writes| RunSummary {
        late_writes,
        tables: selection.tables.len(),
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
        resumed: resuming,
        position,
        lock_ms,
        verify,
        synced_to,
        sync_end,
    };
    if let Some(r) = stopped {
        let end = end_stopped(meta, meta_conn, sink, r == Request::Abort).await?;
        return Ok(summary(position, None, None, Some(end), None));
    }
    sink.emit(JobEvent::CopyDone {
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    });
    // A copy that began chunked (its unique keys are held) stays so when a later
    // run resumed it with another method.
    let held = meta
        .kept_ddl(meta_conn, crate::checkpoint::Later::Held)
        .await
        .map_err(target_error("reading the held keys"))?;
    if chunked || !held.is_empty() {
        record_catchup(source, flavor, meta, meta_conn).await?;
    }

    sink.phase(Phase::Objects);
    schema::build_kept(
        target,
        meta,
        crate::checkpoint::Later::Deferred,
        o.import_threads,
        sink,
    )
    .await?;
    let which = if profile.mode == Mode::Full {
        schema::Objects::All
    } else {
        schema::Objects::AllButTriggers
    };
    ddl.create_objects(matcher, o.definer, which).await?;
    meta.set_phase(meta_conn, JobPhase::Copied)
        .await
        .map_err(target_error("recording the job phase"))?;

    // With a live source, comparing right after the copy shows every write made since
    // the snapshot; `all` jobs are verified at cutover instead.
    let verify_report = if opts.verify && profile.mode == Mode::Full {
        sink.phase(Phase::Verify);
        Some(
            ctx.verify(catalog, selection, &verify::KnownTables::new())
                .await?,
        )
    } else {
        None
    };
    drop(turn.take());
    if profile.mode == Mode::All {
        meta.set_phase(meta_conn, JobPhase::Sync)
            .await
            .map_err(target_error("recording the job phase"))?;
        let run = ctx.run(meta_conn, position.clone()).await?;
        return Ok(summary(
            position,
            run.verify,
            Some(run.applied),
            Some(run.end),
            run.late,
        ));
    }
    // A source of a job with several completes once the merged tables are
    // verified too.
    let equal = verify_report.as_ref().is_none_or(|r| r.equal);
    ctx.copied();
    if ctx.verdict(equal).await == crate::shard::Verdict::Go {
        meta.set_phase(meta_conn, JobPhase::Completed)
            .await
            .map_err(target_error("recording the job phase"))?;
        sink.phase(Phase::Completed);
    }
    Ok(summary(position, verify_report, None, None, None))
}

/// A resumed copy goes on with the tables as its first run created them on the
/// target: a table still being copied whose columns changed on the source since
/// (a DDL between the runs) stops the run, naming it, instead of failing on the
/// first chunk or copying rows of another shape.
async fn unchanged_since_planned(
    target: &Endpoint,
    catalog: &Catalog,
    selection: &Selection,
    plan: &[ChunkRecord],
) -> Result<(), JobError> {
    let pending: HashSet<(&str, &str)> = plan
        .iter()
        .filter(|c| !c.done)
        .map(|c| (c.schema.as_str(), c.table.as_str()))
        .collect();
    let tables: Vec<_> = selection
        .tables
        .iter()
        .filter(|t| pending.contains(&(t.schema.as_str(), t.name.as_str())))
        .collect();
    if tables.is_empty() {
        return Ok(());
    }
    let schemas: HashSet<&str> = tables.iter().map(|t| t.target_schema.as_str()).collect();
    let on_target = Catalog::load(target, |s| schemas.contains(s))
        .await
        .map_err(FerryError::from)?;
    for t in tables {
        let (Some(src), Some(tgt)) = (
            catalog.table(&t.schema, &t.name),
            on_target.table(&t.target_schema, &t.target_name),
        ) else {
            continue;
        };
        let (a, b) = (data_columns(src), data_columns(tgt));
        if a != b {
            return Err(SnapshotError::TableChanged {
                table: format!("{}.{}", t.schema, t.name),
                source_columns: a.join(", "),
                target_columns: b.join(", "),
            }
            .into());
        }
    }
    Ok(())
}

/// A chunked copy is consistent once the sync has replayed the binlog past the
/// source's position now, after every chunk was read (see `snapshot::catchup`).
async fn record_catchup(
    source: &Endpoint,
    flavor: Flavor,
    meta: &Meta,
    meta_conn: &mut mysql_async::Conn,
) -> Result<(), JobError> {
    let mut conn = source.conn().await.map_err(FerryError::from)?;
    let until = crate::position::current(&mut conn, flavor)
        .await
        .map_err(crate::snapshot::source_err("reading the binlog position"))?;
    meta.set_catchup(meta_conn, &until)
        .await
        .map_err(target_error("recording the catch-up position"))?;
    Ok(())
}

/// Whether an empty target table takes a whole table's rows in bulk (MariaDB
/// 10.6+, see `plan::whole_table_bytes`): the copy writes into tables it has
/// just created or emptied, not into ones that keep their rows.
fn bulk_into_empty(target: &crate::endpoint::ServerFacts, on_existing: OnExisting) -> bool {
    target.flavor == Flavor::MariaDB
        && target.version_number >= (10, 6, 0)
        && on_existing != OnExisting::Append
}

/// Ends a run that a pause or abort request stopped (in its copy or its sync): an
/// abort is recorded as the job's phase, so no later run resumes it.
async fn end_stopped(
    meta: &Meta,
    meta_conn: &mut mysql_async::Conn,
    sink: &EventSink,
    aborted: bool,
) -> Result<SyncEnd, JobError> {
    if !aborted {
        sink.phase(Phase::Paused);
        return Ok(SyncEnd::Paused);
    }
    meta.set_phase(meta_conn, JobPhase::Aborted)
        .await
        .map_err(target_error("recording the job phase"))?;
    sink.phase(Phase::Aborted);
    Ok(SyncEnd::Aborted)
}

/// What the incremental phase of a run needs.
struct SyncCtx<'a> {
    profile: &'a Profile,
    source: &'a Endpoint,
    target: &'a Endpoint,
    flavor: Flavor,
    catalog: &'a Catalog,
    selection: &'a Selection,
    matcher: &'a crate::rules::Matcher,
    lower_case_table_names: u8,
    meta: &'a Meta,
    sink: &'a EventSink,
    opts: &'a RunOptions,
}

impl SyncCtx<'_> {
    /// Verifies the job's tables: each one against its source table, a merged
    /// one against the union of its shards (a job with several sources verifies
    /// those once all have ended).
    async fn verify(
        &self,
        catalog: &Catalog,
        selection: &Selection,
        known: &verify::KnownTables,
    ) -> Result<VerifyReport, JobError> {
        let merged: HashSet<(String, String)> = self
            .opts
            .shard
            .as_ref()
            .map(|m| m.locks.merged().into_iter().collect())
            .unwrap_or_default();
        let own = selection
            .tables_where(|t| !merged.contains(&(t.target_schema.clone(), t.target_name.clone())));
        let mut report = verify::verify(
            self.source,
            self.target,
            self.flavor,
            catalog,
            &own,
            plan::chunk_bytes_at(
                self.profile.options.chunk_bytes,
                far(self.source, self.target),
            ),
            self.profile.options.export_threads,
            known,
            self.sink,
        )
        .await?;
        if let Some(member) = self.opts.shard.as_ref().filter(|m| !m.group) {
            let unions =
                group::verify_local(self.source, self.target, member, catalog, self.sink).await?;
            report.equal &= unions.iter().all(|t| t.equal);
            report.tables.extend(unions);
        }
        Ok(report)
    }

    /// This source's copy is in: for a job with several sources, one fewer to wait
    /// for before the merged tables get their indexes.
    fn copied(&self) {
        if let Some(ix) = self.opts.shard.as_ref().and_then(|m| m.indexes.as_ref()) {
            ix.copied(self.profile.source_label());
        }
    }

    /// Follows the binlog from `start` until paused, aborted or completed; on
    /// completion verifies (when asked) and marks the job completed.
    async fn run(
        &self,
        meta_conn: &mut mysql_async::Conn,
        start: Position,
    ) -> Result<SyncRun, JobError> {
        let target_catalog = self.target_catalog().await?;
        self.run_on(meta_conn, start, target_catalog, None, None)
            .await
    }

    /// The selected target schemas' tables. The sync decodes with the target's
    /// definitions: they are the tables as of the last applied position (DDL
    /// replayed up to there), where the source's may be ahead of it after a
    /// restart.
    async fn target_catalog(&self) -> Result<Catalog, JobError> {
        target_catalog_of(self.target, self.selection).await
    }

    /// What the sync's connections need (see `replicate::sync::Streams`).
    fn ends(&self) -> Ends<'_> {
        ends_of(
            self.profile,
            self.source,
            self.target,
            self.flavor,
            self.meta,
        )
    }

    /// As [`SyncCtx::run`], with the target's tables already read (and the sync's
    /// connections, when they could be opened beside that).
    async fn run_on(
        &self,
        meta_conn: &mut mysql_async::Conn,
        start: Position,
        target_catalog: Catalog,
        opened: Option<Result<Streams, ReplicateError>>,
        preread: Option<Preread>,
    ) -> Result<SyncRun, JobError> {
        self.copied();
        self.sink.phase(Phase::Sync);
        let filters = crate::replicate::filter::Filters::compile(
            &self.profile.incremental.filters,
            self.lower_case_table_names,
        )
        .map_err(|cause| ReplicateError::BadPosition {
            position: "[[incremental.filters]]".into(),
            cause,
        })?;
        let mut tables = HashMap::new();
        let target_parents = target_catalog.cascade_parents();
        let source_parents = self.catalog.cascade_parents();
        // Where names are case-sensitive on the target, a table not listed there
        // does not exist: its rows would stop the sync (see `TableMap::absent`).
        // Elsewhere the listing may differ in case from the names the job uses.
        let exact_names = self
            .target
            .facts()
            .await
            .is_ok_and(|f| f.lower_case_table_names == 0);
        for t in &self.selection.tables {
            let on_target = target_catalog.table(&t.target_schema, &t.target_name);
            let table = on_target.or_else(|| self.catalog.table(&t.schema, &t.name));
            let parent = target_parents.contains(&(t.target_schema.clone(), t.target_name.clone()))
                || source_parents.contains(&(t.schema.clone(), t.name.clone()));
            if let Some(table) = table {
                tables.insert(
                    (t.schema.clone(), t.name.clone()),
                    TableMap::new(table, &t.target_schema, &t.target_name)
                        .filtered(&filters, &t.schema, &t.name)
                        .cascading(parent)
                        .absent_on_target(exact_names && on_target.is_none()),
                );
            }
        }
        let verifier = self.start_verifier(&tables, &target_catalog, &start);
        let setup = SyncSetup {
            ends: self.ends(),
            tables: Arc::new(tables),
            sink: self.sink,
            standby: self.profile.incremental.cutover == Cutover::Never,
            matcher: self.matcher,
            filters: &filters,
            shard: self.opts.shard.as_deref(),
            verify: verifier.as_ref().map(|(_, hook)| hook.clone()),
        };
        let synced =
            replicate::sync::run(&setup, start, self.opts.control.receiver(), opened, preread)
                .await;
        // Stopped however the sync ended: its ledger is saved, and what it
        // verified spares the cutover's verification those ranges.
        let verified = match verifier {
            Some((running, hook)) => Some((running.stop().await, hook)),
            None => None,
        };
        let (outcome, applied) = synced?;
        let late = match outcome {
            Outcome::Paused | Outcome::Aborted => {
                let aborted = matches!(outcome, Outcome::Aborted);
                let end = end_stopped(self.meta, meta_conn, self.sink, aborted).await?;
                return Ok(SyncRun {
                    end,
                    applied,
                    verify: None,
                    late: None,
                });
            }
            Outcome::Caught { late, .. } => late,
        };
        let late = *late;
        let (end, verify) = self.cut_over(meta_conn, &late, verified).await?;
        Ok(SyncRun {
            end,
            applied,
            verify,
            late: Some(late).filter(|l| !l.is_empty()),
        })
    }
}

/// What a sync reads before it starts, read beside the job's state when the job
/// is incremental: the target's tables and the sync's own state (after the job
/// lock: no other run changes them from here), and the sync's connections from the job's own start
/// position (used only if the job starts there, not resuming elsewhere). At a
/// distance each is round trips the sync would otherwise wait for in turn.
#[derive(Default)]
struct Early {
    catalog: Option<Result<Catalog, JobError>>,
    streams: Option<Result<Streams, ReplicateError>>,
    preread: Option<Preread>,
    /// What an earlier copy of the job planned, for the live view's table list.
    plan: Option<EarlierPlan>,
}

/// What was read early, once all of it is in (see [`Early`]).
async fn take_early(
    mut early: std::pin::Pin<
        &mut futures_util::future::MaybeDone<impl std::future::Future<Output = Early>>,
    >,
) -> Early {
    (&mut early).await;
    early.as_mut().take_output().unwrap_or_default()
}

/// What a job's sync connections need (see `replicate::sync::Streams`).
fn ends_of<'a>(
    profile: &Profile,
    source: &'a Endpoint,
    target: &'a Endpoint,
    flavor: Flavor,
    meta: &'a Meta,
) -> Ends<'a> {
    Ends {
        source,
        target,
        flavor,
        meta,
        server_id: profile.incremental.server_id_for(&profile.name),
        apply_workers: profile.incremental.apply_workers,
        load_data: profile.options.write_method != crate::profile::WriteMethod::Insert,
    }
}

/// The selection's target schemas' tables, as the target has them now.
async fn target_catalog_of(target: &Endpoint, selection: &Selection) -> Result<Catalog, JobError> {
    let target_schemas: HashSet<&str> = selection
        .tables
        .iter()
        .map(|t| t.target_schema.as_str())
        .collect();
    Ok(Catalog::load(target, |s| target_schemas.contains(s))
        .await
        .map_err(FerryError::from)?)
}

/// Sleeps until the scheduled start, reporting the wait; a pause or abort
/// request while waiting cancels the run before anything starts.
async fn wait_for_start(at: &str, sink: &EventSink, control: &Control) -> Result<(), JobError> {
    let when = crate::profile::parse_utc(at).map_err(|cause| JobError::Schedule { cause })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    if when <= now {
        return Ok(());
    }
    let secs = (when - now) as u64;
    sink.emit(JobEvent::Scheduled {
        start_at: at.to_string(),
        in_secs: secs,
    });
    unless_cancelled(
        tokio::time::sleep(std::time::Duration::from_secs(secs)),
        control,
    )
    .await
}

/// Takes the queue's slot, reporting which job is ahead while waiting; a pause or
/// abort request while queued cancels the run before anything starts.
async fn wait_turn(
    queue: &Queue,
    job: &str,
    sink: &EventSink,
    control: &Control,
) -> Result<Turn, JobError> {
    if let Some(turn) = queue.try_enter(job) {
        return Ok(turn);
    }
    sink.emit(JobEvent::Queued {
        behind: queue.holder().unwrap_or_default(),
    });
    unless_cancelled(queue.enter(job), control).await
}

/// Waits for `wait` before anything has started; a pause or abort request meanwhile
/// cancels the run. A cutover request is for later (nothing to cut over yet), and
/// the receiver goes back to the control for the sync phase.
async fn unless_cancelled<T>(
    wait: impl std::future::Future<Output = T>,
    control: &Control,
) -> Result<T, JobError> {
    let mut requests = control.receiver();
    tokio::pin!(wait);
    loop {
        tokio::select! {
            done = &mut wait => {
                control.give_back(requests);
                return Ok(done);
            }
            r = requests.recv() => match r {
                Request::Complete { .. } => continue,
                Request::Pause | Request::Abort => return Err(JobError::Cancelled),
            },
        }
    }
}

/// Resolves `[incremental] start` of an incremental-only job.
async fn incremental_start(
    profile: &Profile,
    source: &Endpoint,
    flavor: Flavor,
) -> Result<Position, JobError> {
    let start = profile
        .incremental
        .start_at()
        .map_err(|cause| ReplicateError::BadPosition {
            position: profile.incremental.start.clone(),
            cause,
        })?;
    Ok(match start {
        StartAt::Now => {
            let mut conn = source.conn().await.map_err(FerryError::from)?;
            crate::position::current(&mut conn, flavor)
                .await
                .map_err(ReplicateError::source)?
        }
        given => explicit_position(given).ok_or(ReplicateError::NoPosition)?,
    })
}

/// The selected tables an incremental-only job finds missing on the target.
async fn missing_target_tables(
    target: &Endpoint,
    selection: &Selection,
) -> Result<Vec<String>, JobError> {
    let mut conn = target.conn().await.map_err(FerryError::from)?;
    // One query lists the schemas' tables; a name not listed as such (the server
    // may fold case) is looked up on its own.
    let listed: std::collections::HashSet<(String, String)> =
        crate::catalog::list_tables(&mut conn, &selection.target_schemas())
            .await
            .map_err(|e| ReplicateError::target("looking for target tables", e))?
            .into_iter()
            .collect();
    let mut missing = Vec::new();
    for t in &selection.tables {
        if listed.contains(&(t.target_schema.clone(), t.target_name.clone())) {
            continue;
        }
        let found: Option<u8> = conn
            .exec_first(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&t.target_schema, &t.target_name),
            )
            .await
            .map_err(|e| ReplicateError::target("looking for target tables", e))?;
        if found.is_none() {
            missing.push(format!("{}.{}", t.target_schema, t.target_name));
        }
    }
    Ok(missing)
}

/// Verifies a job's tables on its own (`ferry verify`).
/// The result is kept in the job's log (the report's verification).
pub async fn verify_job(profile: &Profile, sink: EventSink) -> Result<VerifyReport, JobError> {
    let report = group::verify_job(profile, &sink).await?;
    let differ = report.tables.iter().filter(|t| !t.equal).count();
    let line = LogLine::new(
        if report.equal { "info" } else { "warning" },
        "verify",
        format!(
            "verified: {differ} of {} tables differ",
            report.tables.len()
        ),
    )
    .with(&report);
    // The log lives with the job's first source.
    if let Some(first) = profile.members().first() {
        if let Ok(target) = inspect::open(first, Side::Target, 1).await {
            let meta = Meta::new(&first.options.meta_schema, &first.name);
            if let Ok(mut conn) = target.conn().await {
                if meta.ensure(&mut conn).await.is_ok() {
                    let _ = meta
                        .append_log(&mut conn, crate::events::unix_now(), &line)
                        .await;
                }
            }
            target.close().await;
        }
    }
    Ok(report)
}
