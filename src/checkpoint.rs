//! Job state kept in the target's meta schema (default `ferry_meta`).
//!
//! Correctness argument for exactly-once copy: the chunk plan (key ranges) is stored
//! once, in one transaction, before any data is copied. A chunk's rows and the
//! update that marks the chunk done are committed in the SAME target transaction
//! ([`mark_chunk_done`] runs on the writer's connection inside its transaction).
//! After a crash at any instant, a chunk is either committed with its mark (skipped
//! on resume) or rolled back without it (copied again from scratch); no row can be
//! present without its mark, so nothing is lost or duplicated. The mark is
//! conditional (`done = 0`) and must change exactly one row, so two runs of one
//! job can never both commit a chunk; a named lock keeps them apart anyway.
//!
//! What the meta schema holds: `jobs` (one row per job: mode, phase, snapshot
//! position), `chunks` (one row per planned key range with its progress) and
//! `deferred` (secondary indexes still to build after the data). It is
//! safe to drop once a job is completed or abandoned: `DROP DATABASE ferry_meta`.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::position::Position;
use crate::profile::Mode;

pub use crate::mysql::quote;

/// A key value stored as JSON in the plan; mirrors `mysql_async::Value` exactly so a
/// bound read back is byte-for-byte the value the server gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum StoredValue {
    Null,
    Bytes(String),
    Int(i64),
    UInt(u64),
    Float(f32),
    Double(f64),
    Date(u16, u8, u8, u8, u8, u8, u32),
    Time(bool, u32, u8, u8, u8, u32),
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

impl From<&Value> for StoredValue {
    fn from(v: &Value) -> Self {
        match v {
            Value::NULL => StoredValue::Null,
            Value::Bytes(b) => StoredValue::Bytes(to_hex(b)),
            Value::Int(i) => StoredValue::Int(*i),
            Value::UInt(u) => StoredValue::UInt(*u),
            Value::Float(f) => StoredValue::Float(*f),
            Value::Double(d) => StoredValue::Double(*d),
            Value::Date(y, m, d, h, mi, s, us) => StoredValue::Date(*y, *m, *d, *h, *mi, *s, *us),
            Value::Time(neg, d, h, m, s, us) => StoredValue::Time(*neg, *d, *h, *m, *s, *us),
        }
    }
}

impl StoredValue {
    fn to_value(&self) -> Option<Value> {
        Some(match self {
            StoredValue::Null => Value::NULL,
            StoredValue::Bytes(h) => Value::Bytes(from_hex(h)?),
            StoredValue::Int(i) => Value::Int(*i),
            StoredValue::UInt(u) => Value::UInt(*u),
            StoredValue::Float(f) => Value::Float(*f),
            StoredValue::Double(d) => Value::Double(*d),
            StoredValue::Date(y, m, d, h, mi, s, us) => Value::Date(*y, *m, *d, *h, *mi, *s, *us),
            StoredValue::Time(neg, d, h, m, s, us) => Value::Time(*neg, *d, *h, *m, *s, *us),
        })
    }
}

pub fn encode_bound(bound: &Option<Vec<Value>>) -> Option<String> {
    bound.as_ref().map(|vals| {
        let stored: Vec<StoredValue> = vals.iter().map(StoredValue::from).collect();
        serde_json::to_string(&stored).unwrap_or_default()
    })
}

pub fn decode_bound(text: Option<String>) -> Result<Option<Vec<Value>>, String> {
    match text {
        None => Ok(None),
        Some(t) => {
            let stored: Vec<StoredValue> =
                serde_json::from_str(&t).map_err(|e| format!("bad chunk bound {t}: {e}"))?;
            stored
                .iter()
                .map(|s| s.to_value().ok_or_else(|| format!("bad chunk bound {t}")))
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        }
    }
}

/// One planned key range `(lower, upper]` of a table; `None` bounds are open ends.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkRecord {
    pub schema: String,
    pub table: String,
    pub chunk: u32,
    pub lower: Option<Vec<Value>>,
    pub upper: Option<Vec<Value>>,
    pub done: bool,
    pub rows: u64,
    pub bytes: u64,
}

/// A table's size when its copy was planned (`sizes` in the meta schema): the
/// live view shows it on every run of the job, while the source's statistics
/// move with the writes the sync follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedSize {
    pub rows: u64,
    pub bytes: u64,
}

/// Planned sizes by source `(schema, table)`.
pub type PlannedSizes = HashMap<(String, String), PlannedSize>;

/// A job's phase as the meta schema stores it (`jobs.phase`): the engine compares
/// these, and `as_str` is their one string form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPhase {
    /// Copying the snapshot (resumable chunk by chunk).
    Copy,
    /// The copy and its objects are done; the sync or the verification follows.
    Copied,
    /// Following the binlog.
    Sync,
    /// Verified at the cutover; triggers and the final mark are left to do.
    Completing,
    Completed,
    Aborted,
}

impl JobPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::Copy => "copy",
            JobPhase::Copied => "copied",
            JobPhase::Sync => "sync",
            JobPhase::Completing => "completing",
            JobPhase::Completed => "completed",
            JobPhase::Aborted => "aborted",
        }
    }

    pub fn parse(s: &str) -> Option<JobPhase> {
        use JobPhase::*;
        [Copy, Copied, Sync, Completing, Completed, Aborted]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// What a running job is asked to do. The same value reaches it from its own
/// process (`control::Control`) or from any other through the job's row in
/// `control` (`request`, `request_arg`: `to_row` / `from_row` are its one string
/// form there); the job treats both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Stop with a checkpoint; a later run resumes.
    Pause,
    /// Cut over once caught up, optionally making the source read-only first
    /// (see `cutover`); `accept_late`: complete even though selected tables were
    /// written after the drain position (the operator confirmed it).
    Complete {
        freeze_source: bool,
        accept_late: bool,
    },
    Abort,
}

impl Request {
    /// A cutover request without either option.
    pub fn complete() -> Request {
        Request::Complete {
            freeze_source: false,
            accept_late: false,
        }
    }

    pub fn to_row(self) -> (&'static str, Option<&'static str>) {
        match self {
            Request::Pause => ("pause", None),
            Request::Complete {
                freeze_source,
                accept_late,
            } => (
                "complete",
                match (freeze_source, accept_late) {
                    (false, false) => None,
                    (true, false) => Some("freeze"),
                    (false, true) => Some("accept-late"),
                    (true, true) => Some("freeze accept-late"),
                },
            ),
            Request::Abort => ("abort", None),
        }
    }

    pub fn from_row(kind: &str, arg: Option<&str>) -> Option<Request> {
        let has = |flag: &str| arg.is_some_and(|a| a.split_whitespace().any(|w| w == flag));
        match kind {
            "pause" => Some(Request::Pause),
            "abort" => Some(Request::Abort),
            "complete" => Some(Request::Complete {
                freeze_source: has("freeze"),
                accept_late: has("accept-late"),
            }),
            _ => None,
        }
    }
}

/// What happens to a DDL statement the target refused (`ddl.action`,
/// `ddl.replacement`). In JSON: `"skip"` or `{"replace": "SQL"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum DdlDecision {
    /// Leave it out; the sync goes on after it.
    Skip,
    /// Run this statement on the target instead.
    Replace(String),
}

impl DdlDecision {
    fn to_row(&self) -> (&'static str, Option<&str>) {
        match self {
            DdlDecision::Skip => ("skip", None),
            DdlDecision::Replace(sql) => ("replace", Some(sql)),
        }
    }

    fn from_row(action: &str, replacement: Option<String>) -> Option<DdlDecision> {
        match (action, replacement) {
            ("skip", _) => Some(DdlDecision::Skip),
            ("replace", Some(sql)) => Some(DdlDecision::Replace(sql)),
            _ => None,
        }
    }
}

/// The job's row in `jobs`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub mode: Mode,
    pub phase: JobPhase,
    pub snapshot: Position,
    /// Where the incremental phase has applied up to.
    pub sync: Option<Position>,
}

impl JobRecord {
    /// Where following the binlog goes on from: the sync's checkpoint, or the
    /// snapshot's position before the sync has stored one.
    pub fn sync_from(&self) -> Position {
        self.sync.clone().unwrap_or_else(|| self.snapshot.clone())
    }
}

/// DDL the meta schema keeps for later, and when "later" is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Later {
    /// Plain secondary indexes of big tables: once the copy's data is in.
    Deferred,
    /// Unique keys of a chunked copy: once its catch-up made the target
    /// consistent (see `snapshot::catchup`).
    Held,
}

impl Later {
    fn table(self) -> &'static str {
        match self {
            Later::Deferred => "deferred",
            Later::Held => "held",
        }
    }

    /// What the DDL creates, for messages.
    pub fn what(self) -> &'static str {
        match self {
            Later::Deferred => "indexes",
            Later::Held => "unique keys",
        }
    }
}

/// An entry of the job's log as stored (see `events::LogLine`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    pub at: f64,
    pub severity: String,
    pub kind: String,
    pub text: String,
    pub data: Option<String>,
}

/// The meta schema and its statements, bound to one schema name.
#[derive(Debug, Clone)]
pub struct Meta {
    schema: String,
    job: String,
}

/// The meta table a batch loads its sync position into (see [`Meta::sync_position_load`]).
const POSITION_IN: &str = "position_in";

/// The sync position as one loaded row: `LOAD DATA LOCAL … REPLACE INTO table
/// … (columns) set` reading `row`, then `update`.
pub struct PositionLoad {
    pub table: String,
    pub columns: &'static str,
    pub set: &'static str,
    pub update: String,
    pub row: [Value; 2],
}

impl Meta {
    pub fn new(schema: &str, job: &str) -> Meta {
        Meta {
            schema: schema.to_string(),
            job: job.to_string(),
        }
    }

    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The job's name, as its rows in the meta tables carry it.
    pub fn job(&self) -> &str {
        &self.job
    }

    /// A meta table's quoted, schema-qualified name.
    pub fn table(&self, table: &str) -> String {
        self.t(table)
    }

    fn t(&self, table: &str) -> String {
        format!("{}.{}", quote(&self.schema), quote(table))
    }

    /// Creates the meta schema and tables when missing.
    pub async fn ensure(&self, conn: &mut Conn) -> Result<(), mysql_async::Error> {
        // Sent as one multi-statement packet: one round trip, however far the target.
        let mut ddl = Vec::new();
        ddl.push(format!(
            "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
            quote(&self.schema)
        ));
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL PRIMARY KEY,
               mode VARCHAR(16) NOT NULL,
               phase VARCHAR(32) NOT NULL,
               snapshot_position LONGTEXT NULL,
               sync_position LONGTEXT NULL,
               created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
               updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("jobs")
        ));
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL,
               src_schema VARCHAR(64) NOT NULL,
               src_table VARCHAR(64) NOT NULL,
               chunk INT UNSIGNED NOT NULL,
               lower_bound LONGTEXT NULL,
               upper_bound LONGTEXT NULL,
               done TINYINT NOT NULL DEFAULT 0,
               rows_copied BIGINT UNSIGNED NOT NULL DEFAULT 0,
               bytes_copied BIGINT UNSIGNED NOT NULL DEFAULT 0,
               finished_at TIMESTAMP(6) NULL,
               PRIMARY KEY (job, src_schema, src_table, chunk)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("chunks")
        ));
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL,
               src_schema VARCHAR(64) NOT NULL,
               src_table VARCHAR(64) NOT NULL,
               rows_estimate BIGINT UNSIGNED NOT NULL,
               bytes_estimate BIGINT UNSIGNED NOT NULL,
               PRIMARY KEY (job, src_schema, src_table)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("sizes")
        ));
        // DDL kept for later (see `Later`): deferred indexes, held unique keys.
        for later in [Later::Deferred, Later::Held] {
            ddl.push(format!(
                "CREATE TABLE IF NOT EXISTS {} (
                   job VARCHAR(64) NOT NULL,
                   target_schema VARCHAR(64) NOT NULL,
                   target_table VARCHAR(64) NOT NULL,
                   ddl LONGTEXT NOT NULL,
                   PRIMARY KEY (job, target_schema, target_table)
                 ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
                self.t(later.table())
            ));
        }
        // Requests to a running job (pause / complete / abort) and its last status,
        // so any process that reaches the target can control and watch it.
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL PRIMARY KEY,
               request VARCHAR(16) NULL,
               request_arg LONGTEXT NULL,
               requested_at TIMESTAMP(6) NULL,
               status LONGTEXT NULL,
               status_at TIMESTAMP(6) NULL
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("control")
        ));
        // The job's log: what happened, across its runs and processes.
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
               job VARCHAR(64) NOT NULL,
               at DOUBLE NOT NULL,
               severity VARCHAR(8) NOT NULL,
               kind VARCHAR(16) NOT NULL DEFAULT '',
               text LONGTEXT NOT NULL,
               data LONGTEXT NULL,
               KEY job_id (job, id)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("log")
        ));
        // A chunked copy (see `snapshot::catchup`): where the sync's replay makes
        // the target consistent, and each keyless table's own position.
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL PRIMARY KEY,
               until_position LONGTEXT NOT NULL
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("catchup")
        ));
        // The sync position a batch's last packet loads (see `sync_position_load`).
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL PRIMARY KEY,
               position LONGTEXT NOT NULL
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t(POSITION_IN)
        ));
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL,
               source_schema VARCHAR(64) NOT NULL,
               source_table VARCHAR(64) NOT NULL,
               position LONGTEXT NOT NULL,
               PRIMARY KEY (job, source_schema, source_table)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("keyless")
        ));
        // DDL the target refused, and what the user decided to do with it.
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL,
               position VARCHAR(255) NOT NULL,
               statement LONGTEXT NOT NULL,
               error LONGTEXT NOT NULL,
               action VARCHAR(16) NULL,
               replacement LONGTEXT NULL,
               PRIMARY KEY (job, position)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("ddl")
        ));
        // The continuous verification's ledger (see `verify::ledger`): each key
        // range, its last verdict and where both sides were compared...
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL,
               src_schema VARCHAR(64) NOT NULL,
               src_table VARCHAR(64) NOT NULL,
               chunk INT UNSIGNED NOT NULL,
               lower_bound LONGTEXT NULL,
               upper_bound LONGTEXT NULL,
               verdict VARCHAR(16) NOT NULL,
               mismatch LONGTEXT NULL,
               position LONGTEXT NULL,
               source_rows BIGINT UNSIGNED NOT NULL DEFAULT 0,
               repair TINYINT NOT NULL DEFAULT 0,
               PRIMARY KEY (job, src_schema, src_table, chunk)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("verified")
        ));
        // ...and the sync position its `equal` verdicts hold at.
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL PRIMARY KEY,
               as_of LONGTEXT NULL,
               compared BIGINT UNSIGNED NOT NULL DEFAULT 0,
               requeued BIGINT UNSIGNED NOT NULL DEFAULT 0
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("verification")
        ));
        // The job's reverse sync after its cutover (see `reverse`).
        ddl.push(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL PRIMARY KEY,
               state LONGTEXT NOT NULL
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.t("reverse")
        ));
        // A log from before the report (1.x) has neither `kind` nor `data`: the
        // packet's last answer says whether `kind` is there.
        ddl.push(format!("SHOW COLUMNS FROM {} LIKE 'kind'", self.t("log")));
        let mut results = conn.query_iter(ddl.join(";\n")).await?;
        let mut has_kind = false;
        while !results.is_empty() {
            has_kind = !results.collect::<mysql_async::Row>().await?.is_empty();
        }
        drop(results);
        if !has_kind {
            conn.query_drop(format!(
                "ALTER TABLE {} ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT '' AFTER severity, \
                 ADD COLUMN data LONGTEXT NULL AFTER text",
                self.t("log")
            ))
            .await?;
        }
        Ok(())
    }

    /// Records a DDL the target refused at `position`, awaiting a decision.
    pub async fn ddl_refused(
        &self,
        conn: &mut Conn,
        position: &str,
        statement: &str,
        error: &str,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "INSERT INTO {} (job, position, statement, error) VALUES (?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE statement = VALUES(statement), error = VALUES(error)",
                self.t("ddl")
            ),
            (&self.job, position, statement, error),
        )
        .await
    }

    /// The decision taken for the refused DDL at `position`, if any.
    pub async fn ddl_decision(
        &self,
        conn: &mut Conn,
        position: &str,
    ) -> Result<Option<DdlDecision>, mysql_async::Error> {
        let row: Option<(Option<String>, Option<String>)> = conn
            .exec_first(
                format!(
                    "SELECT action, replacement FROM {} WHERE job = ? AND position = ?",
                    self.t("ddl")
                ),
                (&self.job, position),
            )
            .await?;
        Ok(row.and_then(|(action, replacement)| {
            DdlDecision::from_row(action.as_deref()?, replacement)
        }))
    }

    /// The statement at `position` went through after all (the target was fixed,
    /// or its shards agreed at last): it no longer waits for a decision.
    pub async fn ddl_passed(
        &self,
        conn: &mut Conn,
        position: &str,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "DELETE FROM {} WHERE job = ? AND position = ? AND action IS NULL",
                self.t("ddl")
            ),
            (&self.job, position),
        )
        .await
    }

    /// The refused DDL that waits for a decision: (position, statement, error).
    pub async fn pending_ddl(
        &self,
        conn: &mut Conn,
    ) -> Result<Option<(String, String, String)>, mysql_async::Error> {
        conn.exec_first(
            format!(
                "SELECT position, statement, error FROM {} WHERE job = ? AND action IS NULL LIMIT 1",
                self.t("ddl")
            ),
            (&self.job,),
        )
        .await
    }

    /// Decides the newest undecided refused DDL; returns (position, statement, error).
    pub async fn decide_ddl(
        &self,
        conn: &mut Conn,
        decision: &DdlDecision,
    ) -> Result<Option<(String, String, String)>, mysql_async::Error> {
        let (action, replacement) = decision.to_row();
        let pending = self.pending_ddl(conn).await?;
        if let Some((position, _, _)) = &pending {
            conn.exec_drop(
                format!(
                    "UPDATE {} SET action = ?, replacement = ? WHERE job = ? AND position = ?",
                    self.t("ddl")
                ),
                (action, replacement, &self.job, position),
            )
            .await?;
        }
        Ok(pending)
    }

    /// Leaves a request for the running job.
    pub async fn request(
        &self,
        conn: &mut Conn,
        request: Request,
    ) -> Result<(), mysql_async::Error> {
        let (request, arg) = request.to_row();
        conn.exec_drop(
            format!(
                "INSERT INTO {} (job, request, request_arg, requested_at) VALUES (?, ?, ?, CURRENT_TIMESTAMP(6))
                 ON DUPLICATE KEY UPDATE request = VALUES(request), request_arg = VALUES(request_arg), requested_at = VALUES(requested_at)",
                self.t("control")
            ),
            (&self.job, request, arg),
        )
        .await
    }

    /// Takes (reads and clears) a pending request. One this version does not know
    /// (left by a newer `ferry`) is cleared and ignored.
    pub async fn take_request(
        &self,
        conn: &mut Conn,
    ) -> Result<Option<Request>, mysql_async::Error> {
        let row: Option<(Option<String>, Option<String>)> = conn
            .exec_first(
                format!(
                    "SELECT request, request_arg FROM {} WHERE job = ?",
                    self.t("control")
                ),
                (&self.job,),
            )
            .await?;
        let Some((Some(request), arg)) = row else {
            return Ok(None);
        };
        conn.exec_drop(
            format!(
                "UPDATE {} SET request = NULL, request_arg = NULL WHERE job = ? AND request = ?",
                self.t("control")
            ),
            (&self.job, &request),
        )
        .await?;
        Ok(Request::from_row(&request, arg.as_deref()))
    }

    /// Whether a request waits for the job, without taking it.
    pub async fn request_waits(&self, conn: &mut Conn) -> Result<bool, mysql_async::Error> {
        let row: Option<Option<String>> = conn
            .exec_first(
                format!("SELECT request FROM {} WHERE job = ?", self.t("control")),
                (&self.job,),
            )
            .await?;
        Ok(matches!(row, Some(Some(_))))
    }

    /// Stores the job's latest status (JSON) for `ferry status`.
    pub async fn save_status(
        &self,
        conn: &mut Conn,
        status: &str,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "INSERT INTO {} (job, status, status_at) VALUES (?, ?, CURRENT_TIMESTAMP(6))
                 ON DUPLICATE KEY UPDATE status = VALUES(status), status_at = VALUES(status_at)",
                self.t("control")
            ),
            (&self.job, status),
        )
        .await
    }

    /// Adds an entry to the job's log (`at`: seconds since the epoch).
    pub async fn append_log(
        &self,
        conn: &mut Conn,
        at: f64,
        line: &crate::events::LogLine,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "INSERT INTO {} (job, at, severity, kind, text, data) VALUES (?, ?, ?, ?, ?, ?)",
                self.t("log")
            ),
            (
                &self.job,
                at,
                line.severity,
                line.kind,
                &line.text,
                &line.data,
            ),
        )
        .await
    }

    /// The job's last `limit` log entries, oldest first.
    pub async fn load_log(
        &self,
        conn: &mut Conn,
        limit: u32,
    ) -> Result<Vec<LogRow>, mysql_async::Error> {
        let rows: Vec<(f64, String, String, String, Option<String>)> = conn
            .exec(
                format!(
                    "SELECT at, severity, kind, text, data FROM {} WHERE job = ? ORDER BY id DESC LIMIT ?",
                    self.t("log")
                ),
                (&self.job, limit),
            )
            .await?;
        Ok(rows
            .into_iter()
            .rev()
            .map(|(at, severity, kind, text, data)| LogRow {
                at,
                severity,
                kind,
                text,
                data,
            })
            .collect())
    }

    /// The job's latest status and its age in seconds.
    pub async fn load_status(
        &self,
        conn: &mut Conn,
    ) -> Result<Option<(String, f64)>, mysql_async::Error> {
        let row: Option<(Option<String>, Option<f64>)> = conn
            .exec_first(
                format!(
                    "SELECT status, TIMESTAMPDIFF(MICROSECOND, status_at, CURRENT_TIMESTAMP(6)) / 1e6 FROM {} WHERE job = ?",
                    self.t("control")
                ),
                (&self.job,),
            )
            .await?;
        Ok(row.and_then(|(s, age)| s.map(|s| (s, age.unwrap_or(0.0)))))
    }

    /// Rows and bytes the copy has on the target (its chunks marked done), and
    /// when the job was first recorded (seconds since the epoch).
    pub async fn job_totals(
        &self,
        conn: &mut Conn,
    ) -> Result<(u64, u64, Option<u64>), mysql_async::Error> {
        let copied: Option<(Option<u64>, Option<u64>)> = conn
            .exec_first(
                format!(
                    "SELECT CAST(SUM(rows_copied) AS UNSIGNED), CAST(SUM(bytes_copied) AS UNSIGNED) FROM {} WHERE job = ? AND done = 1",
                    self.t("chunks")
                ),
                (&self.job,),
            )
            .await?;
        let started: Option<Option<u64>> = conn
            .exec_first(
                format!(
                    "SELECT CAST(UNIX_TIMESTAMP(created_at) AS UNSIGNED) FROM {} WHERE job = ?",
                    self.t("jobs")
                ),
                (&self.job,),
            )
            .await?;
        let (rows, bytes) = copied.unwrap_or_default();
        Ok((rows.unwrap_or(0), bytes.unwrap_or(0), started.flatten()))
    }

    /// Whether some process holds the job's lock (a `ferry run` is working on it).
    pub async fn is_running(&self, conn: &mut Conn) -> Result<bool, mysql_async::Error> {
        let holder: Option<Option<u64>> = conn
            .exec_first("SELECT IS_USED_LOCK(?)", (format!("ferry:{}", self.job),))
            .await?;
        Ok(holder.flatten().is_some())
    }

    /// Keeps `ddl` for `table` until its moment (see [`Later`]).
    pub async fn keep_ddl(
        &self,
        conn: &mut Conn,
        later: Later,
        schema: &str,
        table: &str,
        ddl: &str,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "REPLACE INTO {} (job, target_schema, target_table, ddl) VALUES (?, ?, ?, ?)",
                self.t(later.table())
            ),
            (&self.job, schema, table, ddl),
        )
        .await
    }

    /// The kept DDL not run yet: `(schema, table, ddl)`.
    pub async fn kept_ddl(
        &self,
        conn: &mut Conn,
        later: Later,
    ) -> Result<Vec<(String, String, String)>, mysql_async::Error> {
        conn.exec(
            format!(
                "SELECT target_schema, target_table, ddl FROM {} WHERE job = ? ORDER BY target_schema, target_table",
                self.t(later.table())
            ),
            (&self.job,),
        )
        .await
    }

    /// Records the kept DDL of `table` as run.
    pub async fn kept_done(
        &self,
        conn: &mut Conn,
        later: Later,
        schema: &str,
        table: &str,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "DELETE FROM {} WHERE job = ? AND target_schema = ? AND target_table = ?",
                self.t(later.table())
            ),
            (&self.job, schema, table),
        )
        .await
    }

    /// Where the catch-up of a chunked copy ends: the source's position after its
    /// last chunk was read.
    pub async fn set_catchup(
        &self,
        conn: &mut Conn,
        until: &Position,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "REPLACE INTO {} (job, until_position) VALUES (?, ?)",
                self.t("catchup")
            ),
            (&self.job, serde_json::to_string(until).unwrap_or_default()),
        )
        .await
    }

    /// The catch-up's end, while it is pending.
    pub async fn catchup(&self, conn: &mut Conn) -> Result<Option<Position>, mysql_async::Error> {
        let json: Option<String> = conn
            .exec_first(
                format!(
                    "SELECT until_position FROM {} WHERE job = ?",
                    self.t("catchup")
                ),
                (&self.job,),
            )
            .await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    pub async fn catchup_done(&self, conn: &mut Conn) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!("DELETE FROM {} WHERE job = ?", self.t("catchup")),
            (&self.job,),
        )
        .await
    }

    /// Records the position a keyless table was copied at (in the transaction of
    /// its chunk): the sync applies its changes from there on only.
    pub async fn keyless_at(
        &self,
        conn: &mut Conn,
        schema: &str,
        table: &str,
        at: &Position,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "REPLACE INTO {} (job, source_schema, source_table, position) VALUES (?, ?, ?, ?)",
                self.t("keyless")
            ),
            (
                &self.job,
                schema,
                table,
                serde_json::to_string(at).unwrap_or_default(),
            ),
        )
        .await
    }

    /// Every keyless table's copy position: `(schema, table, position)`.
    pub async fn keyless(
        &self,
        conn: &mut Conn,
    ) -> Result<Vec<(String, String, Position)>, mysql_async::Error> {
        let rows: Vec<(String, String, String)> = conn
            .exec(
                format!(
                    "SELECT source_schema, source_table, position FROM {} WHERE job = ?",
                    self.t("keyless")
                ),
                (&self.job,),
            )
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(s, t, p)| Some((s, t, serde_json::from_str(&p).ok()?)))
            .collect())
    }

    /// Takes the job's named lock (held by this connection until it closes).
    /// Returns false when another run of the same job holds it.
    pub async fn try_lock(&self, conn: &mut Conn) -> Result<bool, mysql_async::Error> {
        let got: Option<Option<i64>> = conn
            .exec_first("SELECT GET_LOCK(?, 0)", (format!("ferry:{}", self.job),))
            .await?;
        Ok(got.flatten() == Some(1))
    }

    pub async fn load_job(&self, conn: &mut Conn) -> Result<Option<JobRecord>, mysql_async::Error> {
        let row: Option<(String, String, Option<String>, Option<String>)> = conn
            .exec_first(
                format!(
                    "SELECT mode, phase, snapshot_position, sync_position FROM {} WHERE job = ?",
                    self.t("jobs")
                ),
                (&self.job,),
            )
            .await?;
        let Some((mode, phase, pos, sync)) = row else {
            return Ok(None);
        };
        let (Some(mode), Some(phase)) = (Mode::parse(&mode), JobPhase::parse(&phase)) else {
            return Err(mysql_async::Error::Other(
                format!(
                    "the meta schema records mode {mode:?} and phase {phase:?} for job {}, which this version of Ferry does not know",
                    self.job
                )
                .into(),
            ));
        };
        Ok(Some(JobRecord {
            mode,
            phase,
            snapshot: pos
                .and_then(|p| serde_json::from_str(&p).ok())
                .unwrap_or_default(),
            sync: sync.and_then(|p| serde_json::from_str(&p).ok()),
        }))
    }

    pub async fn set_phase(
        &self,
        conn: &mut Conn,
        phase: JobPhase,
    ) -> Result<(), mysql_async::Error> {
        conn.exec_drop(
            format!(
                "UPDATE {} SET phase = ?, updated_at = CURRENT_TIMESTAMP(6) WHERE job = ?",
                self.t("jobs")
            ),
            (phase.as_str(), &self.job),
        )
        .await
    }

    /// Records a new incremental-only job, already in its sync phase at `start`.
    pub async fn start_sync_job(
        &self,
        conn: &mut Conn,
        mode: Mode,
        start: &Position,
    ) -> Result<(), mysql_async::Error> {
        let json = serde_json::to_string(start).unwrap_or_default();
        conn.exec_drop(
            format!(
                "REPLACE INTO {} (job, mode, phase, snapshot_position, sync_position) VALUES (?, ?, ?, ?, ?)",
                self.t("jobs")
            ),
            (&self.job, mode.as_str(), JobPhase::Sync.as_str(), &json, &json),
        )
        .await
    }

    /// Records the sync position and marks the job as syncing, inside the caller's
    /// open transaction (the one that applied the changes up to it), as part of the
    /// multi-statement packet that ends it (see `replicate::apply`): a `LOAD DATA
    /// LOCAL` of one row, which also leaves its values in session variables, then
    /// the job's update from them — no round trip of its own. The values travel as
    /// the load's data, never in the SQL.
    pub fn sync_position_load(&self, position: &Position) -> PositionLoad {
        PositionLoad {
            table: self.t(POSITION_IN),
            columns: "@ferry_job, @ferry_position",
            set: "SET job = @ferry_job, position = @ferry_position",
            update: format!(
                "UPDATE {} SET sync_position = CONVERT(@ferry_position USING utf8mb4), phase = '{}', \
                 updated_at = CURRENT_TIMESTAMP(6) WHERE job = CONVERT(@ferry_job USING utf8mb4)",
                self.t("jobs"),
                JobPhase::Sync.as_str()
            ),
            row: [
                Value::Bytes(self.job.clone().into_bytes()),
                Value::Bytes(serde_json::to_string(position).unwrap_or_default().into_bytes()),
            ],
        }
    }

    /// The sync position stored by one prepared statement, its values as
    /// parameters: alone on a session that commits each statement, a round
    /// trip (see `replicate::apply`).
    pub fn sync_position_update(&self, position: &Position) -> (String, Vec<Value>) {
        (
            format!(
                "UPDATE {} SET sync_position = CONVERT(? USING utf8mb4), phase = '{}', \
                 updated_at = CURRENT_TIMESTAMP(6) WHERE job = CONVERT(? USING utf8mb4)",
                self.t("jobs"),
                JobPhase::Sync.as_str()
            ),
            vec![
                Value::Bytes(
                    serde_json::to_string(position)
                        .unwrap_or_default()
                        .into_bytes(),
                ),
                Value::Bytes(self.job.clone().into_bytes()),
            ],
        )
    }

    /// Forgets the job's state (a completed job that is run again starts over).
    pub async fn reset(&self, conn: &mut Conn) -> Result<(), mysql_async::Error> {
        for table in [
            "chunks",
            "sizes",
            Later::Deferred.table(),
            "control",
            "ddl",
            "catchup",
            POSITION_IN,
            Later::Held.table(),
            "keyless",
            "verified",
            "verification",
            "reverse",
        ] {
            conn.exec_drop(
                format!("DELETE FROM {} WHERE job = ?", self.t(table)),
                (&self.job,),
            )
            .await?;
        }
        conn.exec_drop(
            format!("DELETE FROM {} WHERE job = ?", self.t("jobs")),
            (&self.job,),
        )
        .await
    }

    /// Stores the job row, its whole chunk plan and the tables' sizes in one
    /// transaction, retried when InnoDB picks it as a deadlock victim (two jobs
    /// planning at once).
    pub async fn store_plan(
        &self,
        conn: &mut Conn,
        mode: Mode,
        snapshot: &Position,
        chunks: &[ChunkRecord],
        sizes: &PlannedSizes,
    ) -> Result<(), mysql_async::Error> {
        let mut attempt = 0;
        loop {
            match self
                .store_plan_once(conn, mode, snapshot, chunks, sizes)
                .await
            {
                Err(e) if is_retryable(&e) && attempt < 5 => {
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn store_plan_once(
        &self,
        conn: &mut Conn,
        mode: Mode,
        snapshot: &Position,
        chunks: &[ChunkRecord],
        sizes: &PlannedSizes,
    ) -> Result<(), mysql_async::Error> {
        let mut tx = conn
            .start_transaction(mysql_async::TxOpts::default())
            .await?;
        for table in ["chunks", "sizes"] {
            tx.exec_drop(
                format!("DELETE FROM {} WHERE job = ?", self.t(table)),
                (&self.job,),
            )
            .await?;
        }
        tx.exec_batch(
            format!(
                "INSERT INTO {} (job, src_schema, src_table, rows_estimate, bytes_estimate) VALUES (?, ?, ?, ?, ?)",
                self.t("sizes")
            ),
            sizes
                .iter()
                .map(|((schema, table), size)| (&self.job, schema, table, size.rows, size.bytes)),
        )
        .await?;
        tx.exec_drop(
            format!(
                "REPLACE INTO {} (job, mode, phase, snapshot_position) VALUES (?, ?, ?, ?)",
                self.t("jobs")
            ),
            (
                &self.job,
                mode.as_str(),
                JobPhase::Copy.as_str(),
                serde_json::to_string(snapshot).unwrap_or_default(),
            ),
        )
        .await?;
        let stmt = format!(
            "INSERT INTO {} (job, src_schema, src_table, chunk, lower_bound, upper_bound) VALUES (?, ?, ?, ?, ?, ?)",
            self.t("chunks")
        );
        tx.exec_batch(
            stmt,
            chunks.iter().map(|c| {
                (
                    &self.job,
                    &c.schema,
                    &c.table,
                    c.chunk,
                    encode_bound(&c.lower),
                    encode_bound(&c.upper),
                )
            }),
        )
        .await?;
        tx.commit().await
    }

    /// The sizes stored with the plan (none for a job planned before they were).
    pub async fn load_sizes(&self, conn: &mut Conn) -> Result<PlannedSizes, mysql_async::Error> {
        let rows: Vec<(String, String, u64, u64)> = conn
            .exec(
                format!(
                    "SELECT src_schema, src_table, rows_estimate, bytes_estimate FROM {} WHERE job = ?",
                    self.t("sizes")
                ),
                (&self.job,),
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|(schema, table, rows, bytes)| ((schema, table), PlannedSize { rows, bytes }))
            .collect())
    }

    pub async fn load_plan(&self, conn: &mut Conn) -> Result<Vec<ChunkRecord>, String> {
        type Row = (
            String,
            String,
            u32,
            Option<String>,
            Option<String>,
            i64,
            u64,
            u64,
        );
        let rows: Vec<Row> = conn
            .exec(
                format!(
                    "SELECT src_schema, src_table, chunk, lower_bound, upper_bound, done, rows_copied, bytes_copied \
                     FROM {} WHERE job = ? ORDER BY src_schema, src_table, chunk",
                    self.t("chunks")
                ),
                (&self.job,),
            )
            .await
            .map_err(|e| e.to_string())?;
        rows.into_iter()
            .map(|(schema, table, chunk, lo, hi, done, rows, bytes)| {
                Ok(ChunkRecord {
                    schema,
                    table,
                    chunk,
                    lower: decode_bound(lo)?,
                    upper: decode_bound(hi)?,
                    done: done != 0,
                    rows,
                    bytes,
                })
            })
            .collect()
    }

    /// Marks a chunk done inside the caller's open transaction on `conn` — the one
    /// that wrote the chunk's rows. Errors unless exactly one undone chunk changed.
    pub async fn mark_chunk_done(
        &self,
        conn: &mut Conn,
        schema: &str,
        table: &str,
        chunk: u32,
        rows: u64,
        bytes: u64,
    ) -> Result<bool, mysql_async::Error> {
        conn.exec_drop(
            format!(
                "UPDATE {} SET done = 1, rows_copied = ?, bytes_copied = ?, finished_at = CURRENT_TIMESTAMP(6) \
                 WHERE job = ? AND src_schema = ? AND src_table = ? AND chunk = ? AND done = 0",
                self.t("chunks")
            ),
            (rows, bytes, &self.job, schema, table, chunk),
        )
        .await?;
        Ok(conn.affected_rows() == 1)
    }
}

/// Deadlock victim or lock wait timeout: the transaction was rolled back whole and
/// may simply run again.
pub fn is_retryable(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if s.code == 1213 || s.code == 1205)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote("a"), "`a`");
        assert_eq!(quote("we`ird"), "`we``ird`");
    }

    #[test]
    fn bounds_round_trip_exactly() {
        let b = Some(vec![
            Value::Bytes(vec![0, 255, b'a', b' ']),
            Value::Int(-5),
            Value::UInt(u64::MAX),
            Value::Double(0.1),
            Value::Float(1.5),
            Value::Date(0, 0, 0, 0, 0, 0, 0),
            Value::Time(true, 1, 2, 3, 4, 5),
            Value::NULL,
        ]);
        assert_eq!(decode_bound(encode_bound(&b)).unwrap(), b);
        assert_eq!(decode_bound(encode_bound(&None)).unwrap(), None);
    }
}
