//! Incremental sync: follows the source's binlog from a known position and applies
//! every committed transaction on the selected tables to the target.
//!
//! Correctness argument: changes are applied in batches of whole source
//! transactions, in binlog order. A batch's checkpoint — the binlog position just
//! after its last transaction's commit event — is committed only once its rows
//! are: in the same target transaction with one applier, after the workers' own
//! commits with parallel ones (`apply`). After a crash the stream restarts at the
//! stored position. Keyed changes are written as final row states (`REPLACE`,
//! `DELETE` by key), which converge when written again; keyless changes, which
//! would not, always commit in the checkpoint's transaction, so exactly once. The
//! same idempotence makes the replay of changes that happened while the snapshot
//! was copied converge: a row copied in its newer state and then "inserted" again
//! ends in the same state.
//!
//! Rows are decoded through the catalog (`binlog_row_metadata = NO_LOG` sends no
//! names or signedness): values are matched to columns by position, unsigned
//! integers are restored from their two's complement, generated columns are
//! skipped. DDL from the binlog is applied under the routes (`ddl`), after which
//! the maps are rebuilt; a row event whose column count still differs from the
//! map means the table changed outside the binlog, which stops the sync.
//!
//! A transaction is everything between its start (GTID, BEGIN, XA START) and its
//! end (XID, COMMIT, XA PREPARE): SAVEPOINT and ROLLBACK TO move inside it, so a
//! checkpoint never lands inside one (`reader`).

pub mod already;
pub mod apply;
pub mod compressed;
pub mod ddl;
pub mod filter;
pub mod poll;
pub mod reader;
pub mod sync;

use crate::error::Coded;
use crate::mysql::Class;

impl ReplicateError {
    /// A failed request to the source, classified once (`mysql::class`), the
    /// server's error kept as the typed source.
    pub fn source(e: mysql_async::Error) -> ReplicateError {
        let cause = e.to_string();
        match crate::mysql::class(&e) {
            Class::Transient | Class::LockConflict => ReplicateError::Source {
                cause,
                error: Some(Box::new(e)),
            },
            Class::Definite => ReplicateError::Rejected {
                side: "source",
                what: "a request".into(),
                cause,
                error: Some(Box::new(e)),
            },
        }
    }

    /// A failed statement on the target (see [`ReplicateError::source`]).
    pub fn target(what: &str, e: mysql_async::Error) -> ReplicateError {
        let (what, cause) = (what.to_string(), e.to_string());
        match crate::mysql::class(&e) {
            Class::LockConflict => ReplicateError::LockConflict {
                what,
                cause,
                error: Some(Box::new(e)),
            },
            Class::Transient => ReplicateError::Target {
                what,
                cause,
                error: Some(Box::new(e)),
            },
            Class::Definite => ReplicateError::Rejected {
                side: "target",
                what,
                cause,
                error: Some(Box::new(e)),
            },
        }
    }

    /// From a failed connection attempt: transient unless it can never work
    /// (wrong password, unknown host).
    pub fn connect(side: &'static str, e: crate::endpoint::EndpointError) -> ReplicateError {
        let cause = e.to_string();
        match (e.is_transient(), side) {
            (true, "source") => ReplicateError::Source { cause, error: None },
            (true, _) => ReplicateError::Target {
                what: "connecting".into(),
                cause,
                error: None,
            },
            (false, _) => ReplicateError::Rejected {
                side,
                what: "the connection".into(),
                cause,
                error: None,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    #[error("reading the source binlog failed: {cause}")]
    Source {
        cause: String,
        #[source]
        error: Option<Box<mysql_async::Error>>,
    },
    #[error("applying changes on the target failed: {what}: {cause}")]
    Target {
        what: String,
        cause: String,
        #[source]
        error: Option<Box<mysql_async::Error>>,
    },
    /// A lock wait timeout or deadlock on the target: transient.
    #[error("applying changes on the target failed: {what}: {cause}")]
    LockConflict {
        what: String,
        cause: String,
        #[source]
        error: Option<Box<mysql_async::Error>>,
    },
    #[error("the binlog position {position} is no longer on the source ({cause})")]
    Purged { position: String, cause: String },
    #[error(
        "table {table} changed on the source (its rows have {got} columns, {expected} expected)"
    )]
    SchemaChanged {
        table: String,
        got: usize,
        expected: usize,
    },
    #[error("no binlog position to start from")]
    NoPosition,
    #[error("the start position \"{position}\" is not valid: {cause}")]
    BadPosition { position: String, cause: String },
    #[error("a row of {table} cannot be decoded: {cause}")]
    Decode { table: String, cause: String },
    #[error(
        "the target refused the statement at {position} of the source binlog: {statement}: {cause}"
    )]
    Ddl {
        position: String,
        statement: String,
        cause: String,
    },
    #[error("{tables} changed while the chunked copy read it (at {position} of the source binlog: {statement}): rows read before and after the change may not agree")]
    DdlDuringCopy {
        position: String,
        statement: String,
        tables: String,
    },
    #[error("could not make the source read-only: {cause}")]
    Freeze { cause: String },
    #[error("the {side} refused {what}: {cause}")]
    Rejected {
        side: &'static str,
        what: String,
        cause: String,
        #[source]
        error: Option<Box<mysql_async::Error>>,
    },
    #[error("target tables are missing for an incremental job: {tables}")]
    MissingTables { tables: String },
    #[error("a change to {table} arrived at {position} of the source binlog, but the target has no table {target}")]
    NoTargetTable {
        table: String,
        target: String,
        position: String,
    },
    #[error("the source wrote a compressed binlog event (log_bin_compress = ON) at {position} that Ferry cannot read: {cause}")]
    Compressed { position: String, cause: String },
    #[error("rows of {table} at {position} of the source binlog carry only some columns (a session with binlog_row_image = MINIMAL or NOBLOB)")]
    PartialImage { table: String, position: String },
    #[error("rows of {table} were written as a statement at {position} of the source binlog (a session with binlog_format = STATEMENT or MIXED): {statement}")]
    StatementLogged {
        table: String,
        position: String,
        statement: String,
    },
    #[error("an update of {table} was logged as a JSON diff (binlog_row_value_options = PARTIAL_JSON), not as the new row")]
    PartialJson { table: String },
    #[error("the XA transaction {xid} was rolled back at {position} after its PREPARE, which came before this run started: its rows are on the target")]
    XaRolledBack { xid: String, position: String },
    #[error("the source cannot send a binlog event of {position}: it is larger than its max_allowed_packet ({cause})")]
    PacketTooLarge { position: String, cause: String },
    #[error("the source refused to stream its binlog ({position}): {cause}")]
    StreamRefused { position: String, cause: String },
    #[error("the DDL of merged table {target} at {position} of the source binlog cannot be applied once for all its shards: {cause} ({shards})")]
    ShardDdl {
        position: String,
        statement: String,
        target: String,
        cause: String,
        /// Each shard that reached the lock, with its statement.
        shards: String,
    },
    #[error("a row of {table} is {bytes} bytes, more than the target's max_allowed_packet ({limit} bytes)")]
    RowTooLarge {
        table: String,
        bytes: usize,
        limit: usize,
    },
}

impl Coded for ReplicateError {
    fn code(&self) -> &'static str {
        match self {
            ReplicateError::Source { .. } => "replicate.source_failed",
            ReplicateError::Target { .. } | ReplicateError::LockConflict { .. } => {
                "replicate.target_failed"
            }
            ReplicateError::Purged { .. } => "replicate.position_purged",
            ReplicateError::SchemaChanged { .. } => "replicate.schema_changed",
            ReplicateError::NoPosition => "replicate.no_position",
            ReplicateError::BadPosition { .. } => "replicate.bad_position",
            ReplicateError::Decode { .. } => "replicate.decode_failed",
            ReplicateError::Ddl { .. } => "replicate.ddl_failed",
            ReplicateError::Freeze { .. } => "replicate.freeze_failed",
            ReplicateError::DdlDuringCopy { .. } => "replicate.ddl_during_copy",
            ReplicateError::MissingTables { .. } => "replicate.missing_tables",
            ReplicateError::NoTargetTable { .. } => "replicate.no_target_table",
            ReplicateError::Rejected { .. } => "replicate.rejected",
            ReplicateError::Compressed { .. } => "replicate.compressed_events",
            ReplicateError::PartialImage { .. } => "replicate.partial_row_image",
            ReplicateError::StatementLogged { .. } => "replicate.statement_logged",
            ReplicateError::XaRolledBack { .. } => "replicate.xa_rolled_back",
            ReplicateError::PartialJson { .. } => "replicate.partial_json",
            ReplicateError::PacketTooLarge { .. } => "replicate.event_too_large",
            ReplicateError::StreamRefused { .. } => "replicate.stream_refused",
            ReplicateError::RowTooLarge { .. } => "replicate.row_too_large",
            ReplicateError::ShardDdl { .. } => "replicate.shard_ddl_conflict",
        }
    }

    fn remedy(&self) -> String {
        match self {
            ReplicateError::Source { .. } => "check the source is reachable and the account has REPLICATION SLAVE; run again to resume from the last checkpoint".into(),
            ReplicateError::Target { .. } | ReplicateError::LockConflict { .. } => "check the target's error log and the account's privileges; run again to resume from the last checkpoint".into(),
            ReplicateError::Purged { .. } => "the source purged the binlogs the job needs: raise binlog retention and start the job over (⟦cli:mode = \"all\"|app:the mode “Full copy + incremental sync”⟧)".into(),
            ReplicateError::SchemaChanged { .. } => "the table's definition on the target no longer matches the source's rows (a change made outside the binlog, or a DDL that was skipped): make the target table match the source, then run again".into(),
            ReplicateError::NoPosition => "⟦cli:run the job with mode = \"all\" so the snapshot records a position, or set [incremental] start|app:choose the mode “full copy + incremental” so the snapshot records a position, or give a start position on the Mode page⟧".into(),
            ReplicateError::BadPosition { .. } => "write the start as now, binlog:<file>:<offset> or gtid:<set> (MariaDB 0-1-42, MySQL uuid:1-42)".into(),
            ReplicateError::Decode { .. } => "report this with the table's definition".into(),
            ReplicateError::Ddl { .. } => "decide what happens to the statement — skip it, or run an edited statement instead — or change the target so that it succeeds; then resume the job⟦cli: (`ferry ddl skip JOB` skips it, `ferry ddl replace JOB \"SQL\"` runs SQL instead; then `ferry run JOB` resumes)|app: (Skip, Replace with… or Retry on the Run page)⟧".into(),
            ReplicateError::DdlDuringCopy { .. } => "⟦cli:abort the job (`ferry abort JOB`) and run it again|app:Abort the job and run it again⟧: the copy starts over from the table's new definition. Schema changes are followed during the sync, not while a chunked copy reads the table: run them before the migration starts or once the Run page shows the sync".into(),
            ReplicateError::Freeze { .. } => "grant SUPER (MySQL: SYSTEM_VARIABLES_ADMIN; MariaDB: READ_ONLY ADMIN) to the source account, or stop the application's writes yourself and complete without --freeze-source".into(),
            ReplicateError::Rejected { side, .. } => format!("fix the cause on the {side} (privileges, schema, settings), then run the job again: it resumes from the last checkpoint"),
            ReplicateError::NoTargetTable { target, table, .. } => format!("create {target} on the target as {table} is on the source (its SHOW CREATE TABLE), then resume the job: its rows arrive from this change on"),
            ReplicateError::MissingTables { .. } => "create these tables on the target (an incremental-only job copies no schema), or use ⟦cli:mode = \"all\"|app:the mode “Full copy + incremental sync”⟧".into(),
            ReplicateError::Compressed { .. } => "turn compression off on the source (SET GLOBAL log_bin_compress = OFF, and in its configuration), then run the job again from a new snapshot: the changes in this event cannot be read".into(),
            ReplicateError::PartialImage { .. } => "set binlog_row_image = FULL on the source (globally, and make sure no application session changes it), then run the job again from a new snapshot (or copy this table again): the missing columns cannot be recovered from the binlog".into(),
            ReplicateError::StatementLogged { .. } => "set binlog_format = ROW on the source (globally, and make sure no session changes it: that needs SUPER or BINLOG ADMIN), then run the job again from a new snapshot (or copy this table again)".into(),
            ReplicateError::PartialJson { .. } => "SET GLOBAL binlog_row_value_options = '' on the source (and in its configuration), then run the job again from a new snapshot (or copy this table again): the diff cannot be applied without the document it changes".into(),
            ReplicateError::XaRolledBack { .. } => "verify the job's tables and copy the ones that differ again (or start the job over); to avoid it, end prepared XA transactions (XA RECOVER on the source) before pausing the job".into(),
            ReplicateError::PacketTooLarge { .. } => "raise max_allowed_packet on the source (SET GLOBAL max_allowed_packet = 1073741824, and in its configuration) above the largest row, then run the job again: it resumes from the last checkpoint".into(),
            ReplicateError::StreamRefused { .. } => "fix the cause the source names (see its error log), then run the job again: it resumes from the last checkpoint".into(),
            ReplicateError::ShardDdl { .. } => "make the shards' DDL agree, then resume the job: run the same statement on every shard of the table on its source, in the same order; or decide for this shard's statement — skip it, or run an edited statement on the merged table instead⟦cli: (`ferry ddl skip JOB` / `ferry ddl replace JOB \"SQL\"`; a shard's own decision with --shard NAME)|app: (Skip or Replace with… on the Run page)⟧; the other shards wait at the lock again".into(),
            ReplicateError::RowTooLarge { .. } => "raise max_allowed_packet on the target (SET GLOBAL max_allowed_packet = 1073741824, and in its configuration), then run the job again: it resumes from the last checkpoint".into(),
        }
    }

    fn is_transient(&self) -> bool {
        matches!(
            self,
            ReplicateError::Source { .. }
                | ReplicateError::Target { .. }
                | ReplicateError::LockConflict { .. }
        )
    }
}
