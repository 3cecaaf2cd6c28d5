//! Opening N reader connections on one consistent snapshot and recording its
//! binlog position (see the module argument in `snapshot/mod.rs`).

use std::time::Instant;

use futures_util::future::try_join_all;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::{source_conn, source_err, SnapshotError};
use crate::checkpoint::quote;
use crate::endpoint::{Endpoint, Flavor};
use crate::position::{self, Position};
use crate::profile::Consistency;

/// Reader connections sharing one snapshot, and where in the binlog it stands.
pub struct Snapshot {
    pub readers: Vec<Conn>,
    pub position: Position,
    pub method: Consistency,
    pub lock_ms: u64,
    /// `lock` mode keeps this connection (holding LOCK TABLES) until the copy ends.
    pub lock_holder: Option<Conn>,
}

const ER_SPECIFIC_ACCESS_DENIED: u16 = 1227;
const ER_DBACCESS_DENIED: u16 = 1044;
const ER_ACCESS_DENIED: u16 = 1045;

/// Session settings of every reader: exact bytes, UTC timestamps. One packet.
async fn prepare_reader(conn: &mut Conn) -> Result<(), mysql_async::Error> {
    // `binary` results: strings arrive as stored, whatever their charset, and are
    // written back as such; TIMESTAMPs in UTC so no session zone can shift them.
    // A DDL on the source that waits for this snapshot's metadata locks makes every
    // later read of that table queue behind it: neither could ever finish. Give up
    // after a while (lock_wait_timeout) with a clear error instead of hanging.
    conn.query_drop(
        "SET NAMES binary, SESSION time_zone = '+00:00', SESSION lock_wait_timeout = 60; \
         SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    )
    .await
}

/// Opens the readers side by side: each costs round trips, not work.
async fn open_readers(source: &Endpoint, n: usize) -> Result<Vec<Conn>, SnapshotError> {
    try_join_all((0..n).map(|_| async {
        let mut c = source_conn(source, "opening a reader connection").await?;
        prepare_reader(&mut c)
            .await
            .map_err(source_err("setting up a reader session"))?;
        Ok::<_, SnapshotError>(c)
    }))
    .await
}

async fn start_all(readers: &mut [Conn]) -> Result<(), SnapshotError> {
    try_join_all(
        readers
            .iter_mut()
            .map(|c| c.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")),
    )
    .await
    .map_err(source_err("START TRANSACTION WITH CONSISTENT SNAPSHOT"))?;
    Ok(())
}

fn is_denied(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s)
        if matches!(s.code, ER_SPECIFIC_ACCESS_DENIED | ER_DBACCESS_DENIED | ER_ACCESS_DENIED))
}

/// Opens `threads` readers on one snapshot with the requested method. `tables` are
/// the selected source tables (for `lock`); `transactional`: all of them are
/// InnoDB, so `lock` releases its lock once the readers' snapshot is open
/// (otherwise it holds it for the copy: MyISAM has no snapshot); `sync_follows`: a
/// sync replays the binlog from the snapshot's position (`chunked` needs one).
/// Returns the method actually used.
pub async fn open(
    source: &Endpoint,
    flavor: Flavor,
    method: Consistency,
    threads: usize,
    tables: &[(String, String)],
    transactional: bool,
    sync_follows: bool,
) -> Result<Snapshot, SnapshotError> {
    match method {
        Consistency::Auto => match open_flush(source, flavor, threads).await {
            Err(SnapshotError::LockDenied { .. }) if sync_follows => {
                open_chunked(source, flavor, threads).await
            }
            Err(SnapshotError::LockDenied { .. }) => open_single(source, flavor).await,
            other => other,
        },
        Consistency::Chunked if sync_follows => open_chunked(source, flavor, threads).await,
        // A copy alone has no sync to make chunks read at different moments agree.
        Consistency::Chunked => open_single(source, flavor).await,
        Consistency::Flush => open_flush(source, flavor, threads).await,
        Consistency::Snapshot => open_single(source, flavor).await,
        Consistency::Lock => open_lock(source, flavor, threads, tables, !transactional).await,
        Consistency::None => {
            let mut readers = open_readers(source, threads).await?;
            let mut c = source_conn(source, "reading the binlog position").await?;
            let position = position::current(&mut c, flavor)
                .await
                .map_err(source_err("reading the binlog position"))?;
            start_all(&mut readers).await?;
            Ok(Snapshot {
                readers,
                position,
                method,
                lock_ms: 0,
                lock_holder: None,
            })
        }
    }
}

async fn open_flush(
    source: &Endpoint,
    flavor: Flavor,
    threads: usize,
) -> Result<Snapshot, SnapshotError> {
    let mut readers = open_readers(source, threads).await?;
    let mut lock = source_conn(source, "opening the lock connection").await?;
    // Do not queue behind a long query for ever: the lock waits at most 10 s.
    lock.query_drop("SET SESSION lock_wait_timeout = 10")
        .await
        .map_err(source_err("setting lock_wait_timeout"))?;
    let started = Instant::now();
    if let Err(e) = lock.query_drop("FLUSH TABLES WITH READ LOCK").await {
        return Err(if is_denied(&e) {
            SnapshotError::LockDenied {
                cause: e.to_string(),
            }
        } else {
            SnapshotError::Source {
                what: "FLUSH TABLES WITH READ LOCK".into(),
                cause: e.to_string(),
            }
        });
    }
    let result = async {
        start_all(&mut readers).await?;
        position::current(&mut lock, flavor)
            .await
            .map_err(source_err("reading the binlog position"))
    }
    .await;
    // Unlock whatever happened above; a failed unlock ends with the connection.
    let _ = lock.query_drop("UNLOCK TABLES").await;
    let lock_ms = started.elapsed().as_millis() as u64;
    let position = result?;
    tracing::info!(lock_ms, %position, "snapshot opened under FLUSH TABLES WITH READ LOCK");
    Ok(Snapshot {
        readers,
        position,
        method: Consistency::Flush,
        lock_ms,
        lock_holder: None,
    })
}

/// Readers without a transaction: each chunk's SELECT reads in a snapshot of its
/// own (seconds), so nothing holds back the source's purge. The position is read
/// before any chunk: the sync replays from it (see `snapshot::catchup`).
async fn open_chunked(
    source: &Endpoint,
    flavor: Flavor,
    threads: usize,
) -> Result<Snapshot, SnapshotError> {
    let readers = open_readers(source, threads).await?;
    let mut c = source_conn(source, "reading the binlog position").await?;
    let position = position::current(&mut c, flavor)
        .await
        .map_err(source_err("reading the binlog position"))?;
    tracing::info!(%position, "chunked snapshot: no lock, each chunk read on its own");
    Ok(Snapshot {
        readers,
        position,
        method: Consistency::Chunked,
        lock_ms: 0,
        lock_holder: None,
    })
}

/// One reader, no lock. MariaDB reports the snapshot's binlog position itself; other
/// flavors give no position (the incremental phase then cannot start from it).
async fn open_single(source: &Endpoint, flavor: Flavor) -> Result<Snapshot, SnapshotError> {
    let mut readers = open_readers(source, 1).await?;
    start_all(&mut readers).await?;
    let position = match (flavor, readers.first_mut()) {
        (Flavor::MariaDB, Some(c)) => position::mariadb_snapshot_position(c)
            .await
            .map_err(source_err("reading binlog_snapshot_file/position"))?,
        _ => Position::default(),
    };
    Ok(Snapshot {
        readers,
        position,
        method: Consistency::Snapshot,
        lock_ms: 0,
        lock_holder: None,
    })
}

async fn open_lock(
    source: &Endpoint,
    flavor: Flavor,
    threads: usize,
    tables: &[(String, String)],
    hold: bool,
) -> Result<Snapshot, SnapshotError> {
    let mut readers = open_readers(source, threads).await?;
    let mut lock = source_conn(source, "opening the lock connection").await?;
    let started = Instant::now();
    if !tables.is_empty() {
        let list = tables
            .iter()
            .map(|(s, t)| format!("{}.{} READ", quote(s), quote(t)))
            .collect::<Vec<_>>()
            .join(", ");
        lock.query_drop(format!("LOCK TABLES {list}"))
            .await
            .map_err(source_err("LOCK TABLES … READ"))?;
    }
    start_all(&mut readers).await?;
    let position = position::current(&mut lock, flavor)
        .await
        .map_err(source_err("reading the binlog position"))?;
    // InnoDB tables are in the readers' snapshot now: writes may go on.
    if !hold {
        lock.query_drop("UNLOCK TABLES")
            .await
            .map_err(source_err("UNLOCK TABLES"))?;
    }
    Ok(Snapshot {
        readers,
        position,
        method: Consistency::Lock,
        lock_ms: started.elapsed().as_millis() as u64,
        lock_holder: hold.then_some(lock),
    })
}

impl Snapshot {
    /// Ends the snapshot transactions and releases a held table lock.
    pub async fn close(self) {
        for mut r in self.readers {
            let _ = r.query_drop("COMMIT").await;
        }
        if let Some(mut l) = self.lock_holder {
            let _ = l.query_drop("UNLOCK TABLES").await;
        }
    }
}
