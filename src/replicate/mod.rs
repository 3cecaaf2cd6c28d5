//! Incremental sync: follows the source's binlog from a known position and applies
//! every committed transaction on the selected tables to the target.
//!
//! Correctness argument: changes are applied one source transaction at a time, in
//! binlog order, each in one target transaction that also stores the binlog
//! position just after the source transaction's commit event. After a crash the
//! stream restarts at the stored position, so every transaction is applied once.
//! Statements are idempotent (`REPLACE`, `DELETE` by key), which also makes the
//! replay of changes that happened while the snapshot was copied converge: a row
//! copied in its newer state and then "inserted" again ends in the same state.
//!
//! Rows are decoded through the catalog (`binlog_row_metadata = NO_LOG` sends no
//! names or signedness): values are matched to columns by position, unsigned
//! integers are restored from their two's complement, generated columns are
//! skipped. A row event whose column count differs from the catalog means the
//! table changed under us (DDL), which stops the sync with a clear error (DDL
//! handling is not implemented yet).

pub mod apply;
pub mod ddl;
pub mod filter;
pub mod reader;
pub mod sync;

use crate::error::Coded;

/// Server error codes that heal by themselves: too many connections, shutdown in
/// progress, lock wait timeout, deadlock, query/connection killed, read-only
/// (a failover in progress).
const TRANSIENT_CODES: &[u16] = &[1040, 1053, 1205, 1213, 1317, 1290, 1927, 2006, 2013, 4031];

/// Whether a MySQL error may heal by itself (connection trouble, not a refusal).
pub fn is_transient(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Io(_) => true,
        mysql_async::Error::Driver(d) => matches!(
            d,
            mysql_async::DriverError::ConnectionClosed | mysql_async::DriverError::PoolDisconnected
        ),
        mysql_async::Error::Server(se) => TRANSIENT_CODES.contains(&se.code),
        _ => false,
    }
}

impl ReplicateError {
    pub fn source(e: mysql_async::Error) -> ReplicateError {
        if is_transient(&e) {
            ReplicateError::Source {
                cause: e.to_string(),
            }
        } else {
            ReplicateError::Rejected {
                side: "source",
                what: "a request".into(),
                cause: e.to_string(),
            }
        }
    }

    pub fn target(what: &str, e: mysql_async::Error) -> ReplicateError {
        if is_transient(&e) {
            ReplicateError::Target {
                what: what.to_string(),
                cause: e.to_string(),
            }
        } else {
            ReplicateError::Rejected {
                side: "target",
                what: what.to_string(),
                cause: e.to_string(),
            }
        }
    }

    /// From a failed connection attempt: transient unless it can never work
    /// (wrong password, unknown host).
    pub fn connect(side: &'static str, e: crate::endpoint::EndpointError) -> ReplicateError {
        let cause = e.to_string();
        match (e.is_transient(), side) {
            (true, "source") => ReplicateError::Source { cause },
            (true, _) => ReplicateError::Target {
                what: "connecting".into(),
                cause,
            },
            (false, _) => ReplicateError::Rejected {
                side,
                what: "the connection".into(),
                cause,
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    #[error("reading the source binlog failed: {cause}")]
    Source { cause: String },
    #[error("applying changes on the target failed: {what}: {cause}")]
    Target { what: String, cause: String },
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
    #[error("could not make the source read-only: {cause}")]
    Freeze { cause: String },
    #[error("the {side} refused {what}: {cause}")]
    Rejected {
        side: &'static str,
        what: String,
        cause: String,
    },
    #[error("target tables are missing for an incremental job: {tables}")]
    MissingTables { tables: String },
}

impl Coded for ReplicateError {
    fn code(&self) -> &'static str {
        match self {
            ReplicateError::Source { .. } => "replicate.source_failed",
            ReplicateError::Target { .. } => "replicate.target_failed",
            ReplicateError::Purged { .. } => "replicate.position_purged",
            ReplicateError::SchemaChanged { .. } => "replicate.schema_changed",
            ReplicateError::NoPosition => "replicate.no_position",
            ReplicateError::BadPosition { .. } => "replicate.bad_position",
            ReplicateError::Decode { .. } => "replicate.decode_failed",
            ReplicateError::Ddl { .. } => "replicate.ddl_failed",
            ReplicateError::Freeze { .. } => "replicate.freeze_failed",
            ReplicateError::MissingTables { .. } => "replicate.missing_tables",
            ReplicateError::Rejected { .. } => "replicate.rejected",
        }
    }

    fn remedy(&self) -> String {
        match self {
            ReplicateError::Source { .. } => "check the source is reachable and the account has REPLICATION SLAVE; run again to resume from the last checkpoint".into(),
            ReplicateError::Target { .. } => "check the target's error log and the account's privileges; run again to resume from the last checkpoint".into(),
            ReplicateError::Purged { .. } => "the source purged the binlogs the job needs: raise binlog retention and start the job over (mode = \"all\")".into(),
            ReplicateError::SchemaChanged { .. } => "apply the same DDL to the target table, then run again (DDL replication is not implemented yet)".into(),
            ReplicateError::NoPosition => "run the job with mode = \"all\" so the snapshot records a position, or set [incremental] start".into(),
            ReplicateError::BadPosition { .. } => "write the start as now, binlog:<file>:<offset> or gtid:<set> (MariaDB 0-1-42, MySQL uuid:1-42)".into(),
            ReplicateError::Decode { .. } => "report this with the table's definition".into(),
            ReplicateError::Ddl { .. } => "skip it with `ferry ddl skip JOB`, or have an edited statement run instead with `ferry ddl replace JOB \"SQL\"` (or fix the target); then `ferry run JOB` resumes".into(),
            ReplicateError::Freeze { .. } => "grant SUPER (MySQL: SYSTEM_VARIABLES_ADMIN; MariaDB: READ_ONLY ADMIN) to the source account, or stop the application's writes yourself and complete without --freeze-source".into(),
            ReplicateError::Rejected { side, .. } => format!("fix the cause on the {side} (privileges, schema, settings), then run the job again: it resumes from the last checkpoint"),
            ReplicateError::MissingTables { .. } => "create these tables on the target (an incremental-only job copies no schema), or use mode = \"all\"".into(),
        }
    }

    fn is_transient(&self) -> bool {
        matches!(
            self,
            ReplicateError::Source { .. } | ReplicateError::Target { .. }
        )
    }
}
