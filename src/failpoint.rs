//! Named crash points for the crash-window tests (cargo feature `failpoints`, off
//! by default). With `FERRY_FAILPOINT=<name>` in its environment, a process built
//! with the feature exits at once (code 99) when it reaches that point, as a crash
//! would at that instant: its connections drop and the servers roll back whatever
//! it had not committed. Without the feature `hit` does nothing.
//!
//! The windows (each has a test in `tests/failpoints.rs`):
//! - `copy.rows_written`: a chunk's rows are written, its mark is not committed.
//! - `apply.rows_before_checkpoint`: a batch's rows are applied (with parallel
//!   workers: committed by them), its checkpoint is not committed.
//! - `ddl.applied`: a DDL from the binlog ran on the target, its checkpoint is not
//!   stored (also: a merged table's DDL ran once for all its shards, none of them
//!   has passed it).
//! - `cutover.verified`: the cutover verified and created the triggers, the job is
//!   not yet marked completed.
//!
//! One switch, not a crash: `copy.multi_row_inserts` makes the copy write a MariaDB
//! target as it writes MySQL (multi-row INSERTs instead of bulk executes), so the
//! tests, which have only MariaDB, exercise that path too.

/// Exits the process here when `FERRY_FAILPOINT` names this point (see the module).
pub fn hit(name: &str) {
    #[cfg(feature = "failpoints")]
    if std::env::var("FERRY_FAILPOINT").is_ok_and(|v| v == name) {
        eprintln!("failpoint {name}: exiting as a crash would");
        std::process::exit(99);
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}

/// Whether `FERRY_FAILPOINT` names this switch (see the module); always false
/// without the feature.
pub fn switched(name: &str) -> bool {
    #[cfg(feature = "failpoints")]
    return std::env::var("FERRY_FAILPOINT").is_ok_and(|v| v == name);
    #[cfg(not(feature = "failpoints"))]
    {
        let _ = name;
        false
    }
}
