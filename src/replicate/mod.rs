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
pub mod reader;

use crate::error::Coded;

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
    #[error("a row of {table} cannot be decoded: {cause}")]
    Decode { table: String, cause: String },
}

impl Coded for ReplicateError {
    fn code(&self) -> &'static str {
        match self {
            ReplicateError::Source { .. } => "replicate.source_failed",
            ReplicateError::Target { .. } => "replicate.target_failed",
            ReplicateError::Purged { .. } => "replicate.position_purged",
            ReplicateError::SchemaChanged { .. } => "replicate.schema_changed",
            ReplicateError::NoPosition => "replicate.no_position",
            ReplicateError::Decode { .. } => "replicate.decode_failed",
        }
    }

    fn remedy(&self) -> String {
        match self {
            ReplicateError::Source { .. } => "check the source is reachable and the account has REPLICATION SLAVE; run again to resume from the last checkpoint".into(),
            ReplicateError::Target { .. } => "check the target's error log and the account's privileges; run again to resume from the last checkpoint".into(),
            ReplicateError::Purged { .. } => "the source purged the binlogs the job needs: raise binlog retention and start the job over (mode = \"all\")".into(),
            ReplicateError::SchemaChanged { .. } => "apply the same DDL to the target table, then run again (DDL replication is not implemented yet)".into(),
            ReplicateError::NoPosition => "run the job with mode = \"all\" so the snapshot records a position".into(),
            ReplicateError::Decode { .. } => "report this with the table's definition".into(),
        }
    }

    fn is_transient(&self) -> bool {
        matches!(
            self,
            ReplicateError::Source { .. } | ReplicateError::Target { .. }
        )
    }
}
