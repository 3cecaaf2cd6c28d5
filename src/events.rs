//! Progress and status events. The engine publishes them on a channel; the CLI draws
//! progress bars from them and the desktop app forwards each one to its window.
//!
//! Guarantees: events of one job arrive in the order they were emitted; a slow or
//! absent consumer never slows the engine down (the channel is unbounded and events
//! are small, a few per second per table); dropping the receiver is allowed.

use serde::Serialize;
use tokio::sync::mpsc;

use crate::error::Report;
use crate::position::Position;

/// Job phases, in the order a job goes through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Phase {
    Precheck,
    Snapshot,
    Schema,
    Copy,
    Objects,
    Verify,
    Sync,
    Completing,
    Completed,
    Paused,
    Failed,
    Aborted,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TableTotals {
    pub schema: String,
    pub table: String,
    pub target: String,
    pub rows_estimate: u64,
    pub bytes_estimate: u64,
    pub chunks: u64,
    /// Chunks already copied by an earlier run of this job, and their rows.
    pub chunks_done: u64,
    pub rows_done: u64,
}

/// A count for one source table: rows read by the copy, or row changes applied by
/// the sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TableCount {
    pub schema: String,
    pub table: String,
    pub count: u64,
}

// A few events a second: the size of the sync status does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum JobEvent {
    Phase {
        phase: Phase,
    },
    /// The consistent snapshot is open; `lock_ms` is how long writes were blocked.
    Snapshot {
        position: Position,
        method: String,
        lock_ms: u64,
    },
    /// The copy plan: every table with its estimates and chunk counts.
    Plan {
        tables: Vec<TableTotals>,
    },
    /// One chunk committed on the target (with its checkpoint).
    Chunk {
        schema: String,
        table: String,
        rows: u64,
        bytes: u64,
        chunks_done: u64,
        chunks: u64,
    },
    /// Overall copy throughput, emitted about once a second.
    Throughput {
        rows_done: u64,
        bytes_done: u64,
        rows_total: u64,
        bytes_total: u64,
        rows_per_sec: f64,
        bytes_per_sec: f64,
        eta_secs: Option<u64>,
        /// Rows read so far per table, chunks in flight included, so a table
        /// copied as one chunk (a keyless one) shows progress before it commits;
        /// tables with nothing read yet are left out.
        tables: Vec<TableCount>,
    },
    /// A schema object created on the target.
    Created {
        kind: String,
        name: String,
    },
    Warning {
        report: Report,
    },
    Error {
        report: Report,
    },
    /// Per-table verification outcome.
    Verified {
        schema: String,
        table: String,
        equal: bool,
        source_rows: u64,
        target_rows: u64,
        chunks: u64,
        mismatched_chunks: u64,
    },
    /// Incremental sync progress, about once a second.
    Sync(SyncStatus),
    /// The job waits for its scheduled start (`[options] start_at`).
    Scheduled {
        start_at: String,
        in_secs: u64,
    },
    /// A scheduled job waits for another scheduled job's copy to end.
    Queued {
        behind: String,
    },
    /// A DDL statement from the source binlog and what became of it (`outcome`:
    /// `applied`, `already on the target`, `skipped by decision`, `replaced by
    /// decision: SQL`, `left out by a filter`, `refused: why`), once it is
    /// checkpointed — or, refused, once the sync stops at it.
    Ddl {
        statement: String,
        outcome: String,
        position: String,
    },
    /// A connection failed with an error that may heal; the job tries again.
    Retrying {
        attempt: u32,
        cause: String,
        in_secs: f64,
    },
    /// The watch after a cutover: what it found so far (about once a second).
    AfterCutover(AfterCutover),
    /// The job's reverse sync after its cutover (see `reverse`): as it starts,
    /// and as it ends (rolled back or released).
    Reverse(ReverseState),
    /// Final copy summary.
    CopyDone {
        rows: u64,
        bytes: u64,
        seconds: f64,
    },
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ChunkMismatch {
    pub chunk: u32,
    /// The key range, as the source prints the bounds.
    pub range: String,
    pub source_rows: u64,
    pub target_rows: u64,
    /// A few keys of the range whose rows differ (see `verify::SAMPLE_KEYS`); empty
    /// when the range was too large to compare row by row.
    #[serde(default)]
    pub samples: Vec<KeySample>,
}

/// A key whose row differs between the sides.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct KeySample {
    /// The key's values, as the source prints them, comma-separated.
    pub key: String,
    /// `missing on the target`, `only on the target`, `differs`.
    pub difference: String,
}

/// Where a job's reverse sync stands.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ReverseState {
    /// `syncing` (the target's changes go back to the source), `released`
    /// (ended; the source is no longer kept current), `rolled_back` (the
    /// source has every change and the application may go back to it).
    pub state: String,
    /// The target's binlog position the reverse sync starts from.
    pub start: Position,
    /// When the reverse sync ends by itself (Unix seconds); `None`: when released.
    pub until: Option<f64>,
    /// The tables it syncs back: target `schema.table` → source `schema.table`.
    pub tables: Vec<(String, String)>,
    /// When it was rolled back or released (Unix seconds).
    #[serde(default)]
    pub ended_at: Option<f64>,
}

/// The state of an incremental sync, as shown live and by `ferry status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncStatus {
    /// `syncing`, `retrying`, `completing`, `paused`, `completed`, `aborted`,
    /// `failed`.
    pub state: String,
    /// Source transactions read since this run started.
    pub transactions: u64,
    /// Row changes of selected tables read since this run started.
    pub changes: u64,
    /// Row changes applied over the whole job, across its runs.
    pub job_changes: u64,
    /// DDL statements followed over the whole job, across its runs.
    pub job_ddl: u64,
    /// Bytes of binlog events read from the source over the whole job, across
    /// its runs (DM's `io_total_bytes`).
    pub job_read_bytes: u64,
    pub transactions_per_sec: f64,
    pub changes_per_sec: f64,
    /// Whether the sync is in contact with the source, since when (Unix seconds),
    /// and why not (`retry`). Lag, what is behind and the rates are known only
    /// while it streams.
    pub health: Health,
    pub health_since: Option<f64>,
    /// How long the oldest change not yet applied has waited, in seconds (0 when
    /// nothing is waiting; an idle source before a burst does not count); `None`
    /// when unknown: the sync is not in contact with the source.
    pub lag_secs: Option<f64>,
    /// Bytes of binlog between the applied position and the source's current one,
    /// when both are in the same file.
    pub behind_bytes: Option<u64>,
    /// Seconds until `behind_bytes` reaches 0 at the rate it shrank over the last
    /// tick; `None` while it does not shrink.
    pub catch_up_secs: Option<f64>,
    /// Last position applied and checkpointed on the target.
    pub applied: Position,
    /// The source's current position (read about once a second).
    pub source: Option<Position>,
    /// Applied everything the source had when last asked.
    pub synced: bool,
    /// The cause of the current retry, if any.
    pub retry: Option<String>,
    /// Row changes applied per source table over the whole job, sorted by name;
    /// tables without changes are left out.
    pub tables: Vec<TableCount>,
    /// DDL of merged tables waiting for the other shards (state `waiting`).
    pub shard_locks: Vec<crate::shard::LockStatus>,
    /// A job with several sources: each one's sync (empty for one source).
    pub sources: Vec<SourceSync>,
    /// The cutover under way, or the last one refused (see `cutover`).
    pub cutover: Option<CutoverStatus>,
    /// After the cutover: writes to selected tables the watch found on the source
    /// (see `job::watch`).
    pub after_cutover: Option<AfterCutover>,
    /// The last DDL statement the sync met per source table, and what became of
    /// it, sorted by table (the verification names it for a table that differs).
    pub last_ddl: Vec<TableDdl>,
    /// The continuous verification (see `verify::continuous`); `None` when the
    /// job does not run it.
    pub verification: Option<VerificationStatus>,
}

/// What the continuous verification has found so far (see `verify::continuous`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct VerificationStatus {
    /// `starting`, `verifying`, `waiting` (for the lag to fall, or for the
    /// sync to be consistent), `verified` (every range equal and unchanged
    /// since), `stopped`.
    pub state: String,
    /// Why it waits or stopped, when it does.
    pub detail: Option<String>,
    /// Key ranges compared continuously, over every table that can be.
    pub chunks: u64,
    /// Ranges found equal and not changed by the sync since.
    pub verified: u64,
    /// Ranges that differ at their last comparison.
    pub differences: Vec<RangeDifference>,
    /// Tables compared at the cutover only, with why (`schema.table: reason`).
    pub not_continuous: Vec<String>,
    /// Comparisons so far (over the whole job, across its runs).
    pub compared: u64,
    /// Ranges compared again because the sync changed them while they were
    /// compared.
    pub requeued: u64,
}

/// A key range whose rows differ between the source and the target, at one
/// binlog position on both.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RangeDifference {
    pub schema: String,
    pub table: String,
    pub target_schema: String,
    pub target_table: String,
    pub mismatch: ChunkMismatch,
    /// Where in the source's binlog both sides were compared.
    pub position: String,
    /// A repair of this range was asked and has not run yet.
    pub repair_pending: bool,
}

/// A DDL statement the sync met for a table, and what became of it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TableDdl {
    pub schema: String,
    pub table: String,
    pub statement: String,
    /// `applied`, `already on the target`, `skipped by decision`, `replaced by
    /// decision: SQL`, `left out by a filter`.
    pub outcome: String,
    pub position: String,
}

impl SyncStatus {
    /// Records `ddl` as the last statement of its table.
    pub fn note_ddl(&mut self, ddl: TableDdl) {
        let key = (ddl.schema.as_str(), ddl.table.as_str());
        match self
            .last_ddl
            .binary_search_by(|t| (t.schema.as_str(), t.table.as_str()).cmp(&key))
        {
            Ok(i) => self.last_ddl[i] = ddl,
            Err(i) => self.last_ddl.insert(i, ddl),
        }
    }
}

/// What the watch after a cutover found: writes to selected tables on the source
/// after the completed position, which the target does not have.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AfterCutover {
    pub late: LateWrites,
    /// The watch is running, until this time (Unix seconds); `None` once it ended.
    pub watching_until: Option<f64>,
    /// How far the watch has read.
    pub read_to: Option<Position>,
}

/// Where a cutover stands (see `cutover::Drain`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum CutoverStep {
    /// Applying everything up to the drain position.
    #[default]
    Draining,
    /// At the drain position; applying up to the source's position of now, to see
    /// whether selected tables are still written.
    Confirming,
    /// Caught up: verifying and finishing.
    Caught,
    /// Selected tables were written after the drain position: the cutover was
    /// refused and the job went on syncing.
    Refused,
}

/// A cutover request as the sync carries it out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CutoverStatus {
    /// Counts the cutover requests this run took, so a caller can tell the
    /// answer to its own request from an earlier one.
    pub attempt: u32,
    pub step: CutoverStep,
    /// The drain position: the source's position when the cutover was asked
    /// (after the freeze, when asked).
    pub mark: Position,
    /// The source was made read-only first.
    pub frozen: bool,
    /// The operator accepted writes after the drain position.
    pub accept_late: bool,
    /// Writes to selected tables found after the drain position.
    pub late: LateWrites,
}

/// Row changes to selected tables found in the source's binlog after a point
/// where the application was said to have stopped writing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LateWrites {
    /// The point they came after.
    pub since: Position,
    /// The first and the last of them.
    pub first: Option<Position>,
    pub last: Option<Position>,
    pub rows: u64,
    /// Per source table, sorted by name.
    pub tables: Vec<TableCount>,
}

impl LateWrites {
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// "12 rows (shop.audit_log 10, shop.orders 2) since binlog.000003:935".
    pub fn describe(&self) -> String {
        let tables: Vec<String> = self
            .tables
            .iter()
            .map(|t| format!("{}.{} {}", t.schema, t.table, t.count))
            .collect();
        format!(
            "{} row change{} ({}) since {}",
            self.rows,
            if self.rows == 1 { "" } else { "s" },
            tables.join(", "),
            self.since
        )
    }

    /// Counts `n` row changes of `schema.table` at `at`.
    pub fn add(&mut self, schema: &str, table: &str, n: u64, at: &Position) {
        self.rows += n;
        if self.first.is_none() {
            self.first = Some(at.clone());
        }
        self.last = Some(at.clone());
        add_count(&mut self.tables, schema, table, n);
    }
}

/// Adds `n` to `schema.table`'s count in a list kept sorted by name.
fn add_count(counts: &mut Vec<TableCount>, schema: &str, table: &str, n: u64) {
    let key = (schema, table);
    match counts.binary_search_by(|t| (t.schema.as_str(), t.table.as_str()).cmp(&key)) {
        Ok(i) => counts[i].count += n,
        Err(i) => counts.insert(
            i,
            TableCount {
                schema: schema.to_string(),
                table: table.to_string(),
                count: n,
            },
        ),
    }
}

/// Whether the sync is in contact with the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Health {
    /// Reading the source's binlog and applying it.
    #[default]
    Streaming,
    /// A connection failed; the sync tries again (`SyncStatus::retry` says why).
    Retrying,
    /// Not following the binlog: paused, stopped by an error, aborted, or ended
    /// for the cutover.
    Stopped,
}

impl SyncStatus {
    /// Marks the sync out of contact (`health`, now): nothing it knew of the
    /// source's progress holds any more.
    pub fn lose_contact(&mut self, health: Health, now: f64) {
        if self.health != health {
            self.health_since = Some(now);
        }
        self.health = health;
        self.lag_secs = None;
        self.behind_bytes = None;
        self.catch_up_secs = None;
        self.synced = false;
        self.transactions_per_sec = 0.0;
        self.changes_per_sec = 0.0;
    }
}

/// One source's sync in a job with several.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SourceSync {
    /// `source` or a `[[shards]]` name.
    pub source: String,
    pub state: String,
    pub applied: Position,
    pub source_position: Option<Position>,
    pub synced: bool,
    pub health: Health,
    pub lag_secs: Option<f64>,
    pub changes_per_sec: f64,
}

impl SyncStatus {
    /// Counts `n` more applied changes of `schema.table`.
    pub fn count_changes(&mut self, schema: &str, table: &str, n: u64) {
        add_count(&mut self.tables, schema, table, n);
    }
}

/// An entry of a job's log, kept in the meta schema across runs (see
/// `job::journal`).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LogEntry {
    /// Seconds since the epoch.
    pub at: f64,
    /// `info`, `warning` or `error`.
    pub severity: String,
    pub text: String,
}

/// What the job's log keeps of an event (see `job::journal`): a line for people
/// and, for the entries the job's report is built from, the event as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// `info`, `warning` or `error`.
    pub severity: &'static str,
    /// What the entry records, for the report: `phase`, `snapshot`, `warning`,
    /// `error`, `ddl`, `retry`, `differs`, `copy_done`, `run` (a run starting or
    /// ending), `verify` (a verification on its own).
    pub kind: &'static str,
    pub text: String,
    pub data: Option<String>,
}

impl LogLine {
    pub fn new(severity: &'static str, kind: &'static str, text: String) -> LogLine {
        LogLine {
            severity,
            kind,
            text,
            data: None,
        }
    }

    /// With `data` kept as JSON (an entry the report reads back).
    pub fn with<T: Serialize>(mut self, data: &T) -> LogLine {
        self.data = serde_json::to_string(data).ok();
        self
    }
}

impl JobEvent {
    /// The log line this event leaves, if it is one worth keeping: phases,
    /// warnings, errors, DDL, retries, a table that differs, what a watch found.
    pub fn log_line(&self) -> Option<LogLine> {
        Some(match self {
            JobEvent::Phase { phase } => {
                LogLine::new("info", "phase", format!("phase: {phase:?}").to_lowercase())
                    .with(self)
            }
            JobEvent::Snapshot {
                position,
                method,
                lock_ms,
            } => LogLine::new(
                "info",
                "snapshot",
                format!("snapshot at {position} ({method}; writes blocked {lock_ms} ms)"),
            ),
            JobEvent::Warning { report } => LogLine::new(
                "warning",
                "warning",
                format!("{}: {} Fix: {}", report.code, report.message, report.remedy),
            )
            .with(report),
            JobEvent::Error { report } => LogLine::new(
                "error",
                "error",
                format!("{}: {} Fix: {}", report.code, report.message, report.remedy),
            )
            .with(report),
            JobEvent::Ddl {
                statement,
                outcome,
                ..
            } => LogLine::new(
                if outcome.starts_with("refused") { "warning" } else { "info" },
                "ddl",
                format!("DDL {outcome}: {statement}"),
            )
            .with(self),
            JobEvent::Retrying { attempt, cause, .. } => LogLine::new(
                "warning",
                "retry",
                format!("retrying ({attempt}) — {cause}"),
            ),
            JobEvent::Verified {
                schema,
                table,
                equal: false,
                source_rows,
                target_rows,
                mismatched_chunks,
                ..
            } => LogLine::new(
                "warning",
                "differs",
                format!(
                    "{schema}.{table} differs: {source_rows} rows on the source, {target_rows} on the target, {mismatched_chunks} ranges differ"
                ),
            ),
            JobEvent::CopyDone {
                rows,
                bytes,
                seconds,
            } => LogLine::new(
                "info",
                "copy_done",
                format!("copy done: {rows} rows, {bytes} bytes in {seconds:.1} s"),
            ),
            _ => return None,
        })
    }
}

/// Seconds since the epoch, the unit of every time in the status and the log.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Where the engine sends events. Cheap to clone; sending never blocks or fails.
#[derive(Debug, Clone, Default)]
pub struct EventSink {
    tx: Option<mpsc::UnboundedSender<JobEvent>>,
}

impl EventSink {
    /// A sink and the receiver the adapter (CLI, app) reads from.
    pub fn channel() -> (EventSink, mpsc::UnboundedReceiver<JobEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (EventSink { tx: Some(tx) }, rx)
    }

    /// A sink that drops everything (library use without a consumer, tests).
    pub fn none() -> EventSink {
        EventSink { tx: None }
    }

    pub fn emit(&self, event: JobEvent) {
        if let Some(tx) = &self.tx {
            // A dropped receiver means nobody watches any more; the job goes on.
            let _ = tx.send(event);
        }
    }

    pub fn phase(&self, phase: Phase) {
        self.emit(JobEvent::Phase { phase });
    }

    pub fn warn(&self, report: Report) {
        tracing::warn!(code = %report.code, "{}", report.message);
        self.emit(JobEvent::Warning { report });
    }
}
