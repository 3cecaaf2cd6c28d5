//! The full copy: a consistent snapshot of the source, the schema on the target,
//! and a parallel, chunked, exactly-once copy of the rows.
//!
//! Where FLUSH TABLES WITH READ LOCK is denied (managed MySQL) and a sync follows,
//! the copy is `chunked` instead: no lock, no long transaction, and the sync's
//! replay makes it consistent — its own argument is in `catchup`.
//!
//! Consistency argument (flush): every reader connection opens `START TRANSACTION WITH
//! CONSISTENT SNAPSHOT` while one extra connection holds `FLUSH TABLES WITH READ
//! LOCK`; no transaction can commit while the lock is held, so all readers see the
//! same committed state, and the binlog position read under the same lock is exactly
//! the point that state corresponds to. The lock is released as soon as the readers
//! have their snapshots (milliseconds). Chunk boundaries are computed by the source
//! inside a reader's snapshot, under the key's own collation, and are stored as the
//! server's own values, so a boundary never depends on how Rust compares strings.

pub mod catchup;
pub mod consistency;
pub mod copy;
pub mod plan;
pub mod schema;

use crate::error::Coded;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{what} failed on the source: {cause}")]
    Source { what: String, cause: String },
    #[error("{what} failed on the target: {cause}")]
    Target { what: String, cause: String },
    #[error("FLUSH TABLES WITH READ LOCK is not allowed for this account: {cause}")]
    LockDenied { cause: String },
    #[error("target tables already hold rows: {tables}")]
    TargetNotEmpty { tables: String },
    #[error("another run of job '{job}' is active on this target")]
    AlreadyRunning { job: String },
    #[error("the saved copy plan cannot be read: {cause}")]
    BadPlan { cause: String },
    #[error("{what} failed on the target and was rolled back: {cause}")]
    Retryable { what: String, cause: String },
    #[error("{what} waited too long for a lock on the source ({cause}); a DDL statement there is probably waiting for this copy's snapshot, and each blocks the other")]
    SourceLocked { what: String, cause: String },
    #[error("chunk {chunk} of {table} was already committed by another run")]
    ChunkRace { table: String, chunk: u32 },
    #[error("{table} changed on the source since its copy began: its columns are now {source_columns}, the target's copy has {target_columns}")]
    TableChanged {
        table: String,
        source_columns: String,
        target_columns: String,
    },
}

impl Coded for SnapshotError {
    fn code(&self) -> &'static str {
        match self {
            SnapshotError::Source { .. } => "snapshot.source_failed",
            SnapshotError::Target { .. } => "snapshot.target_failed",
            SnapshotError::LockDenied { .. } => "snapshot.lock_denied",
            SnapshotError::TargetNotEmpty { .. } => "snapshot.target_not_empty",
            SnapshotError::AlreadyRunning { .. } => "snapshot.already_running",
            SnapshotError::BadPlan { .. } => "snapshot.bad_plan",
            SnapshotError::Retryable { .. } => "snapshot.target_deadlock",
            SnapshotError::SourceLocked { .. } => "snapshot.source_locked",
            SnapshotError::ChunkRace { .. } => "snapshot.chunk_race",
            SnapshotError::TableChanged { .. } => "snapshot.table_changed",
        }
    }

    fn remedy(&self) -> String {
        match self {
            SnapshotError::Source { .. } => "check the source account's privileges (SELECT, RELOAD, LOCK TABLES, REPLICATION CLIENT) and the server's error log".into(),
            SnapshotError::Target { .. } => "check the target account's privileges (CREATE, ALTER, INSERT, …), free space, and the server's error log".into(),
            SnapshotError::LockDenied { .. } => "grant RELOAD to the source account, or ⟦cli:set [options] consistency = \"snapshot\" (MariaDB) or \"lock\"|app:choose Consistency snapshot (MariaDB) or lock on the Options page⟧".into(),
            SnapshotError::TargetNotEmpty { .. } => "empty or drop those tables, or ⟦cli:set [options] on_existing = \"truncate\" or \"append\"|app:choose truncate or append for “Target tables that already hold rows” on the Options page⟧".into(),
            SnapshotError::AlreadyRunning { .. } => "wait for the other run to finish, or stop it first".into(),
            SnapshotError::BadPlan { .. } => "drop the job's rows from the meta schema (DELETE FROM ferry_meta.chunks WHERE job = …) and run again".into(),
            SnapshotError::Retryable { .. } => "run the job again; if it keeps happening, lower import_threads".into(),
            SnapshotError::SourceLocked { .. } => "find the waiting statement (SHOW PROCESSLIST: 'Waiting for table metadata lock'); let it finish or cancel it, then run the job again (it resumes); schedule DDL before the copy or after it".into(),
            SnapshotError::TableChanged { .. } => "⟦cli:abort the job (`ferry abort JOB`) and run it again|app:Abort the job and run it again⟧: the copy starts over from the table's new definition. Run schema changes before a migration or once it syncs, not while it copies".into(),
            SnapshotError::ChunkRace { .. } => "make sure only one run of this job is active (here or in another `ferry` or app), then run it again".into(),
        }
    }
}

pub(crate) fn source_err(
    what: impl Into<String>,
) -> impl FnOnce(mysql_async::Error) -> SnapshotError {
    let what = what.into();
    move |e| match &e {
        mysql_async::Error::Server(se) if se.code == 1205 => SnapshotError::SourceLocked {
            what,
            cause: e.to_string(),
        },
        _ => SnapshotError::Source {
            what,
            cause: e.to_string(),
        },
    }
}

pub(crate) fn target_err(
    what: impl Into<String>,
) -> impl FnOnce(mysql_async::Error) -> SnapshotError {
    let what = what.into();
    move |e| match crate::mysql::class(&e) {
        // Deadlock victim or lock wait timeout: the target rolled the chunk's
        // transaction back, and copying the chunk again succeeds.
        crate::mysql::Class::LockConflict => SnapshotError::Retryable {
            what,
            cause: e.to_string(),
        },
        _ => SnapshotError::Target {
            what,
            cause: e.to_string(),
        },
    }
}

/// A source connection, failures said as "`what` failed on the source".
pub(crate) async fn source_conn(
    source: &crate::endpoint::Endpoint,
    what: &str,
) -> Result<mysql_async::Conn, SnapshotError> {
    source.conn().await.map_err(|e| SnapshotError::Source {
        what: what.to_string(),
        cause: e.to_string(),
    })
}

/// A target connection, failures said as "`what` failed on the target".
pub(crate) async fn target_conn(
    target: &crate::endpoint::Endpoint,
    what: &str,
) -> Result<mysql_async::Conn, SnapshotError> {
    target.conn().await.map_err(|e| SnapshotError::Target {
        what: what.to_string(),
        cause: e.to_string(),
    })
}
