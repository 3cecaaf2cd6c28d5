//! Applies batches of source transactions to the target, each batch's checkpoint
//! committed with or after its rows (see the argument in `replicate/mod.rs`).
//!
//! Within a batch, changes to a keyed table are compacted to each row's final
//! state: keys whose last change deletes them are removed with one multi-row
//! `DELETE … WHERE key IN (…)`, the others are written with multi-row `REPLACE`
//! (into MariaDB, a bulk execute of each as a one-row statement; see `Ways`).
//! Deletes go first, then replaces. This reproduces the source's state at the
//! batch's end whatever the order inside each group: the final rows are a state
//! the source held, so no two of them collide on a unique key, and `REPLACE`
//! removes any stale row that still holds one of their unique values. Keyless
//! tables have no identity to compact by; their changes are applied one by one,
//! in order.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};

use super::reader::{value_bytes, Change, TableMap, Transaction};
use super::ReplicateError;
use crate::checkpoint::{quote, Meta};
use crate::endpoint::Endpoint;
use crate::position::Position;
use crate::target::Infiles;

/// Empty batches (changes to other tables only) move the checkpoint at most this
/// often, so a busy source with nothing selected does not cost a commit each.
const IDLE_CHECKPOINT: Duration = Duration::from_secs(1);

/// Rows per multi-row statement: powers of two up to this, so a table uses at most
/// a dozen prepared statement shapes. Large, because each statement costs a round
/// trip: a backlog at 20 ms from the target goes in a few statements per table, not
/// one per 256 rows (the byte and placeholder limits bound it first for wide rows).
const MAX_ROWS_PER_STATEMENT: usize = 4096;

/// A prepared statement takes at most this many placeholders.
const MAX_PLACEHOLDERS: usize = 65_535;

/// Bytes of values per multi-row statement, well under any `max_allowed_packet`.
const MAX_STATEMENT_BYTES: usize = 2 << 20;

/// Bytes of values per bulk execute at most (and half the target's
/// `max_allowed_packet`): one packet each, so each carries its parameters'
/// types (the driver sends them only in a request's first packet).
const MAX_BULK_BYTES: usize = 16 << 20;

pub struct Applier {
    /// Stores the checkpoint, with the keyless changes; with no workers it applies
    /// everything. `None` while it commits in the background.
    head: Option<Lane>,
    /// The lanes that apply keyed final states in parallel (none: the head does).
    workers: Vec<Lane>,
    /// The head committing in the background (see `apply`), with the batch's
    /// ticket: with no workers the last batch, while the caller gathers the
    /// next; with workers the last batch's checkpoint, while they write the
    /// next batch. At a distance a commit is round trips the next batch need
    /// not wait for; near, it is the target's work the next batch's building
    /// overlaps.
    pending: Option<(Background, u64)>,
    /// The ticket the next batch gets, and the last one known committed (see
    /// `Applied::ticket`).
    next_ticket: u64,
    committed: u64,
    meta: Meta,
    tables: Arc<HashMap<(String, String), TableMap>>,
    /// Whether a table's key compares under a collation (see `Weights`): read
    /// once per set of tables, not per batch.
    collated: bool,
    last_checkpoint: Instant,
    /// The target's max_allowed_packet: a row above it can never be written.
    max_packet: usize,
    /// How a batch's final rows are written (chosen once, from the target).
    ways: Ways,
}

/// How lanes write a table's final rows.
#[derive(Debug, Clone, Copy)]
struct Ways {
    /// From how many final rows of a plain table one LOAD DATA LOCAL writes them
    /// ([`LOAD_FROM_ROWS`]); `None` where the target refuses LOAD DATA LOCAL.
    load_from: Option<usize>,
    /// Into MariaDB (10.3+), a table's final rows and deleted keys go as bulk
    /// executes of one-row statements: one round trip and one statement for
    /// many rows, whatever the columns' types, the values sent binary (the
    /// copy's measure: less of the target's CPU than LOAD DATA, which parses
    /// text). The bytes one carries at most; `None` where the server offers no
    /// bulk executes (MySQL).
    bulk: Option<usize>,
}

/// The head's commit in the background: the lane comes back with its outcome.
type Background = tokio::task::JoinHandle<(Lane, Result<(), ReplicateError>)>;

/// A target connection that applies, with the rows its loads read (see `Finish`).
struct Lane {
    conn: Conn,
    files: Infiles,
    /// The session commits each statement (parallel workers, see
    /// `target::Session::Apply`): a worker's final rows need no transaction of
    /// their own (they are idempotent, and the checkpoint follows them), so a
    /// table's rows cost one round trip, not one more for a COMMIT. What must be
    /// atomic on such a lane opens a transaction first (see `Prepared::send`).
    autocommit: bool,
}

/// From this many final rows of one table in a batch (near the target; from one
/// at a distance), the applier loads them with one `LOAD DATA LOCAL … REPLACE` in
/// the batch's last packet (see `Finish`: one round trip, no statement to
/// prepare) instead of multi-row REPLACEs (one round trip each, and a prepare per
/// new statement shape). Near the target, a load's parsing costs more than a
/// small statement.
const LOAD_FROM_ROWS: usize = 128;

/// A table's final rows in a batch are split over workers only from this many
/// (see `partition`).
const SPLIT_FROM_ROWS: usize = 2048;

/// Apply workers chosen automatically at a distance: a batch's tables go to
/// different workers, so their round trips overlap, and the head's checkpoint
/// overlaps the next batch.
const FAR_WORKERS: usize = 8;
/// ...and near the target, where its CPU is the limit: two keep two of its
/// cores busy with a batch's tables. On 2 cores and a backlog of 20 000
/// sysbench transactions two caught up 8 % sooner than one (0.55 s against
/// 0.60 s, mean of 8 alternating pairs, 7 of them won) and four later than two;
/// at 100 000 one and two were level (1.96 s each).
const NEAR_WORKERS: usize = 2;

fn target_err(what: &str) -> impl FnOnce(mysql_async::Error) -> ReplicateError + '_ {
    move |e| ReplicateError::target(what, e)
}

/// The apply workers a job gets: its `apply_workers`, or for 0 (automatic)
/// [`NEAR_WORKERS`] near the target and [`FAR_WORKERS`] at a distance.
pub fn workers_for(configured: usize, round_trip: Duration) -> usize {
    match configured {
        0 if round_trip >= crate::endpoint::NEAR => FAR_WORKERS,
        0 => NEAR_WORKERS,
        n => n,
    }
}

/// The target connections an applier of `workers` holds: with more than one, one
/// more holds the keyless changes and the checkpoint (see `Applier::apply`).
pub fn connections_for(workers: usize) -> usize {
    if workers > 1 {
        workers + 1
    } else {
        1
    }
}

/// The head lane went with a background checkpoint that never came back (its
/// task failed): this applier can write nothing more; the sync opens another.
fn head_lost() -> ReplicateError {
    ReplicateError::Target {
        what: "applying".into(),
        cause: "the connection that stores the checkpoint was lost".into(),
        error: None,
    }
}

/// What a batch did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    /// Row changes read from the source.
    pub changes: u64,
    /// Rows written or deleted on the target after compaction.
    pub rows: u64,
    /// The batch is committed once [`Applier::committed`] reaches it.
    pub ticket: u64,
}

/// The target's collation weights of string key values, per table: `(column,
/// raw bytes) → weight`. Two values with one weight are the same key to the
/// target ('abc' and 'ABC' under a `_ci` collation), so they must compact
/// together and go to the same worker.
type Weights = HashMap<(usize, Vec<u8>), Vec<u8>>;

/// A byte encoding of key values, to compare keys without `Value: Hash`.
fn key_of(row: &[Value], key: &[usize]) -> Vec<u8> {
    key_of_weighted(row, key, None)
}

/// As [`key_of`], string values replaced by their weight where known.
fn key_of_weighted(row: &[Value], key: &[usize], weights: Option<&Weights>) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() * 9);
    for &i in key {
        match row.get(i).unwrap_or(&Value::NULL) {
            Value::NULL => out.push(0),
            Value::Bytes(b) => {
                let b = weights.and_then(|w| w.get(&(i, b.clone()))).unwrap_or(b);
                out.push(1);
                out.extend_from_slice(&(b.len() as u64).to_le_bytes());
                out.extend_from_slice(b);
            }
            Value::Int(n) => {
                out.push(2);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Value::UInt(n) => {
                // Equal numbers compare equal whether signed or not.
                if let Ok(n) = i64::try_from(*n) {
                    out.push(2);
                    out.extend_from_slice(&n.to_le_bytes());
                } else {
                    out.push(3);
                    out.extend_from_slice(&n.to_le_bytes());
                }
            }
            other => {
                out.push(4);
                out.extend_from_slice(format!("{other:?}").as_bytes());
            }
        }
    }
    out
}

/// A row's final state in a batch (`None`: deleted) and a row image holding its key.
type FinalState<'a> = (Option<&'a [Value]>, &'a [Value]);

/// The final state of each touched row of one keyed table, in first-touch order,
/// each with its key's hash (see `hash_of`), which spreads a table's rows over
/// workers.
#[derive(Default)]
struct Compacted<'a> {
    index: foldhash::HashMap<Vec<u8>, usize>,
    rows: Vec<(u64, FinalState<'a>)>,
}

impl<'a> Compacted<'a> {
    /// `row` is the row's new state (`None`: deleted); `key_row` holds its key.
    fn set(&mut self, key: Vec<u8>, row: Option<&'a [Value]>, key_row: &'a [Value]) {
        use std::collections::hash_map::Entry;
        match self.index.entry(key) {
            Entry::Occupied(e) => self.rows[*e.get()].1 = (row, key_row),
            Entry::Vacant(e) => {
                let h = hash_of(&[e.key()]);
                e.insert(self.rows.len());
                self.rows.push((h, (row, key_row)));
            }
        }
    }
}

enum Plan<'a> {
    Keyed(Compacted<'a>),
    Keyless(Vec<&'a Change>),
}

impl Applier {
    pub async fn new(
        target: &Endpoint,
        meta: Meta,
        tables: Arc<HashMap<(String, String), TableMap>>,
        workers: usize,
        allow_load: bool,
    ) -> Result<Applier, ReplicateError> {
        let far = target.round_trip() >= crate::endpoint::NEAR;
        let workers = workers_for(workers, target.round_trip());
        // Opened side by side: each is round trips.
        let wanted = connections_for(workers);
        let mut lanes = futures_util::future::try_join_all((0..wanted).map(|_| async {
            let files = Infiles::default();
            let mut conn = target
                .writer_conn(256, files.handler())
                .await
                .map_err(|e| ReplicateError::connect("target", e))?;
            crate::target::prepare(
                &mut conn,
                crate::target::Session::Apply {
                    parallel: workers > 1,
                },
            )
            .await
            .map_err(target_err("setting up the apply session"))?;
            Ok::<_, ReplicateError>(Lane {
                conn,
                files,
                autocommit: workers > 1,
            })
        }))
        .await?;
        // As the endpoint read them when it opened: a query here would be one
        // more round trip before the first batch.
        let facts = target
            .facts()
            .await
            .map_err(|e| ReplicateError::connect("target", e))?;
        let max_packet = (facts.max_allowed_packet > 0).then_some(facts.max_allowed_packet);
        let load_data = allow_load && facts.local_infile;
        // At a distance every row goes by load: a load costs one round trip in
        // the batch's last packet, a statement one more and its first prepare
        // another.
        let from = if far { 1 } else { LOAD_FROM_ROWS };
        // FERRY_APPLY_LOAD_FROM: a test setting, so small batches take the path too
        // (and loads are used where bulk executes would be, as into MySQL).
        let load_from_env = std::env::var("FERRY_APPLY_LOAD_FROM")
            .ok()
            .and_then(|v| v.parse().ok());
        let load_from = load_data.then(|| load_from_env.unwrap_or(from));
        let max_packet = max_packet.map_or(usize::MAX, |n| n as usize);
        // FERRY_APPLY_BULK=0: a test setting, for the statements MySQL gets near
        // the target.
        let offered = facts.flavor == crate::endpoint::Flavor::MariaDB
            && lanes.iter().all(|l| crate::target::bulk_offered(&l.conn));
        let bulk = (offered
            && load_from_env.is_none()
            && std::env::var("FERRY_APPLY_BULK").as_deref() != Ok("0"))
        .then(|| (max_packet / 2).min(MAX_BULK_BYTES));
        tracing::debug!(?load_from, ?bulk, "apply ways");
        let head = (!lanes.is_empty()).then(|| lanes.remove(0));
        Ok(Applier {
            head,
            workers: lanes,
            pending: None,
            next_ticket: 1,
            committed: 0,
            meta,
            collated: collated(&tables),
            tables,
            last_checkpoint: Instant::now() - IDLE_CHECKPOINT,
            max_packet,
            ways: Ways { load_from, bulk },
        })
    }

    /// The tables the applier writes to; replaced when DDL changes one.
    pub fn set_tables(&mut self, tables: Arc<HashMap<(String, String), TableMap>>) {
        self.collated = collated(&tables);
        self.tables = tables;
    }

    /// Runs a DDL statement from the binlog (in `schema` when given). One that is
    /// already applied (a replay after a crash between it and its checkpoint) is
    /// accepted; one that collides with a table, column or key defined otherwise
    /// is refused with both definitions (see `already`). Whether it ran (false:
    /// the target had it already).
    pub async fn ddl(&mut self, sql: &str, schema: Option<&str>) -> Result<bool, ReplicateError> {
        self.flush().await?;
        let Some(Lane { conn, .. }) = self.head.as_mut() else {
            return Err(head_lost());
        };
        if let Some(schema) = schema {
            conn.query_drop(format!("USE {}", quote(schema)))
                .await
                .map_err(target_err("choosing the schema for DDL"))?;
        }
        // Row statements name their tables fully, so the default schema left
        // behind does not matter.
        let result = conn.query_drop(sql).await;
        let refused = |cause: String| ReplicateError::Ddl {
            position: String::new(),
            statement: sql.to_string(),
            cause,
        };
        match result {
            Ok(()) => Ok(true),
            Err(mysql_async::Error::Server(se)) if super::already::CHECKED.contains(&se.code) => {
                use super::already::Found;
                let found = super::already::check(
                    conn,
                    sql,
                    schema,
                    self.meta.schema(),
                    se.code,
                    &se.message,
                )
                .await
                .map_err(target_err("comparing the target's definition with the DDL"))?;
                match found {
                    Found::Same => {
                        tracing::warn!(%sql, error = %se.message, "DDL already applied: the target's definition is what it makes");
                        Ok(false)
                    }
                    Found::Differs {
                        object,
                        target,
                        statement,
                    } => Err(refused(format!(
                        "{}; the target already has {object}, defined otherwise — on the target: {target}; the statement makes: {statement}",
                        se.message
                    ))),
                    Found::Unknown(why) => Err(refused(format!(
                        "{}; Ferry cannot tell whether the target's object is what the statement makes ({why})",
                        se.message
                    ))),
                }
            }
            Err(mysql_async::Error::Server(se))
                if super::ddl::ALREADY_APPLIED.contains(&se.code) =>
            {
                tracing::warn!(%sql, error = %se.message, "DDL already applied (replay after a restart)");
                Ok(false)
            }
            Err(e) => Err(refused(e.to_string())),
        }
    }

    /// Stores `end` as the checkpoint in a transaction of its own.
    pub async fn checkpoint(&mut self, end: &Position) -> Result<(), ReplicateError> {
        self.flush().await?;
        let Some(lane) = self.head.as_mut() else {
            return Err(head_lost());
        };
        Prepared::checkpoint_only(&self.meta, end, lane.autocommit)
            .send(lane)
            .await?;
        self.last_checkpoint = Instant::now();
        Ok(())
    }

    /// Applies `txs` (in binlog order) and returns once every batch before them
    /// is committed; theirs may still be committing (see `flush`). With one
    /// worker: one target transaction ending with the checkpoint, sent in the
    /// background once built, so the caller gathers the next batch and the
    /// applier builds it while the target commits this one. With more, keyed
    /// final states are partitioned
    /// by key (a table with other unique indexes stays on one worker) and committed
    /// by the workers in parallel; then a connection of its own commits the keyless
    /// changes with the checkpoint. A crash in between replays from the previous
    /// checkpoint: keyed final states are idempotent, keyless changes were not
    /// committed.
    pub async fn apply(&mut self, txs: &[Transaction]) -> Result<Applied, ReplicateError> {
        let Some(last) = txs.last() else {
            self.flush().await?;
            return Ok(self.nothing());
        };
        // A row the target cannot take would fail (and the server drop the
        // connection, which looks transient) at every retry: say so instead.
        // (A transaction whose row images all fit has no row that does not.)
        let large = txs.iter().filter(|t| t.row_bytes + 1024 > self.max_packet);
        for tc in large.flat_map(|t| &t.changes) {
            let keyed = self
                .tables
                .get(&tc.table)
                .is_some_and(|m| !m.key.is_empty());
            let row = match &tc.change {
                Change::Insert { after } | Change::Update { after, .. } => after,
                // A keyed delete sends only the key.
                Change::Delete { .. } if keyed => continue,
                Change::Delete { before } => before,
            };
            let bytes: usize = row.iter().map(value_bytes).sum();
            if bytes + 1024 > self.max_packet {
                return Err(ReplicateError::RowTooLarge {
                    table: format!("{}.{}", tc.table.0, tc.table.1),
                    bytes,
                    limit: self.max_packet,
                });
            }
        }
        if let [tx] = txs {
            if tx.ordered() {
                return self.apply_ordered(tx).await;
            }
        }
        let changes: u64 = txs.iter().map(|t| t.changes.len() as u64).sum();
        if changes == 0 && self.last_checkpoint.elapsed() < IDLE_CHECKPOINT {
            self.flush().await?;
            return Ok(self.nothing());
        }
        let tables = self.tables.clone();
        // No workers: the head does everything. Workers: they apply the keyed
        // final states in parallel, each committing on its own; then the head
        // applies the keyless changes and the checkpoint in one transaction. The
        // head never holds row locks while it waits for the workers, so a worker
        // blocked on another's rows is freed by that worker's commit, never left
        // waiting for a transaction that waits for it.
        let ways = self.ways;
        let weights = if self.collated {
            // Asked on a lane: the head's batch in flight must be back first.
            self.flush().await?;
            match self.workers.first_mut().or(self.head.as_mut()) {
                Some(lane) => collation_weights(&mut lane.conn, txs, &tables).await?,
                None => return Err(head_lost()),
            }
        } else {
            HashMap::new()
        };
        let (keyed, keyless) = partition(txs, &tables, self.workers.len(), &weights);
        let rows: u64 = keyed.iter().flatten().chain(&keyless).map(Work::rows).sum();
        let mut serial = self.workers.is_empty();
        if !serial {
            // Every worker runs to its commit or its rollback, even when another
            // fails: a worker dropped mid-transaction would keep its row locks,
            // and the serial retry below would wait for them until the server's
            // lock wait timeout.
            let parallel = futures_util::future::join_all(
                self.workers
                    .iter_mut()
                    .zip(keyed.iter())
                    .filter(|(_, work)| !work.is_empty())
                    .map(|(lane, work)| {
                        Prepared::build(work.iter().collect(), ways, None).send(lane)
                    }),
            )
            .await
            .into_iter()
            .collect::<Result<Vec<()>, _>>();
            match parallel {
                Ok(_) => {}
                // Two workers deadlocked (InnoDB picked one) or one waited too
                // long: apply the whole batch on one connection instead. What the
                // others committed are final states, which applying again keeps.
                Err(ReplicateError::LockConflict { cause, .. }) => {
                    tracing::info!(%cause, "apply workers conflicted; applying this batch on one connection");
                    serial = true;
                }
                Err(e) => return Err(e),
            }
        }
        let mut work: Vec<&Work> = Vec::new();
        if serial {
            work.extend(keyed.iter().flatten());
        }
        work.extend(&keyless);
        let ticket = if work.is_empty() {
            // Every row of the batch is committed: only the mark is left, and
            // the next batch's rows need not wait for it (see `flush`).
            self.checkpoint_behind(&last.end).await?
        } else {
            // Built (rows encoded) while the batch before commits.
            let prepared = Prepared::build(work, ways, Some((&self.meta, &last.end)));
            if self.workers.is_empty() {
                // One connection: this batch commits in the background while
                // the caller gathers and builds the next one.
                self.send_behind(prepared).await?
            } else {
                // Workers write the next batch's rows at once: none of this
                // batch's may commit after them.
                self.flush().await?;
                let Some(head) = self.head.as_mut() else {
                    return Err(head_lost());
                };
                prepared.send(head).await?;
                self.committed = self.ticket();
                self.committed
            }
        };
        self.last_checkpoint = Instant::now();
        Ok(Applied {
            changes,
            rows,
            ticket,
        })
    }

    /// Waits for what the head commits in the background (if any: a batch, or a
    /// checkpoint whose rows the workers committed): the position the caller
    /// last applied is then the target's checkpoint, and the head is back. Its
    /// failure is returned here and loses nothing: a batch is one transaction
    /// with its checkpoint, rolled back whole, and a checkpoint's rows were
    /// committed before it was sent, so a retry from the last position the
    /// caller knows committed, or a restart from the target's checkpoint, both
    /// converge.
    pub async fn flush(&mut self) -> Result<(), ReplicateError> {
        if let Some((task, ticket)) = self.pending.take() {
            let (lane, committed) = task.await.map_err(|e| ReplicateError::Target {
                what: "committing a batch in the background".into(),
                cause: e.to_string(),
                error: None,
            })?;
            // Put back before its result is looked at: the lane is usable either way.
            self.head = Some(lane);
            committed?;
            self.committed = ticket;
        }
        Ok(())
    }

    /// Commits `end` as the checkpoint on the head in the background, once the
    /// one before it is committed: the caller's next batch goes to the workers
    /// meanwhile. Only for a position whose rows are all committed.
    async fn checkpoint_behind(&mut self, end: &Position) -> Result<u64, ReplicateError> {
        // (The head may be committing the one before: with workers, its lane
        // commits each statement.)
        let autocommit = !self.workers.is_empty();
        let prepared = Prepared::checkpoint_only(&self.meta, end, autocommit);
        self.send_behind(prepared).await
    }

    /// Sends `prepared` on the head in the background, once what it sent before
    /// is committed (see `flush`).
    async fn send_behind(&mut self, prepared: Prepared) -> Result<u64, ReplicateError> {
        self.flush().await?;
        let Some(mut lane) = self.head.take() else {
            return Err(head_lost());
        };
        let ticket = self.ticket();
        self.pending = Some((
            tokio::spawn(async move {
                let sent = prepared.send(&mut lane).await;
                (lane, sent)
            }),
            ticket,
        ));
        Ok(ticket)
    }

    /// What applying nothing did, once every batch before is committed.
    fn nothing(&self) -> Applied {
        Applied {
            ticket: self.committed,
            ..Applied::default()
        }
    }

    /// The next batch's ticket.
    fn ticket(&mut self) -> u64 {
        self.next_ticket += 1;
        self.next_ticket - 1
    }

    /// The last batch known committed (see `Applied::ticket`).
    pub fn committed(&self) -> u64 {
        self.committed
    }
}

impl Applier {
    /// Applies one transaction change by change, in source order, on the first
    /// worker, with its checkpoint. For a transaction that deletes or updates rows
    /// of a cascade parent (see `TableChange::cascade`): compacting it with others
    /// could hide a delete behind a later insert of the same key, and a `REPLACE`
    /// of a parent would delete its children. So the parent's delete runs as a
    /// DELETE and its update as an UPDATE, each with foreign_key_checks on for that
    /// statement: the target's engine then cascades exactly as the source's did
    /// (children's own changes in the binlog are written around it as usual). A
    /// replay after a crash is harmless: the delete finds nothing, an update that
    /// finds no row writes the new row.
    async fn apply_ordered(&mut self, tx: &Transaction) -> Result<Applied, ReplicateError> {
        let tables = self.tables.clone();
        self.flush().await?;
        let Some(lane) = self.head.as_mut() else {
            return Err(head_lost());
        };
        let conn = &mut lane.conn;
        // One transaction with its checkpoint, on any lane.
        if lane.autocommit {
            conn.query_drop("START TRANSACTION")
                .await
                .map_err(target_err("starting the transaction"))?;
        }
        let result = async {
            let mut rows = 0u64;
            for tc in &tx.changes {
                let Some(map) = tables.get(&tc.table) else {
                    continue;
                };
                rows += 1;
                if map.key.is_empty() {
                    run(conn, statements(&Work::Keyless(map, vec![&tc.change]))).await?;
                    continue;
                }
                match &tc.change {
                    Change::Insert { after } => {
                        run(conn, insert_rows(map, &[after], "REPLACE")).await?
                    }
                    Change::Delete { before } => {
                        if tc.cascade {
                            fk_checks(conn, true).await?;
                        }
                        let r = run(conn, delete_keys(map, &[before])).await;
                        if tc.cascade {
                            fk_checks(conn, false).await?;
                        }
                        r?
                    }
                    Change::Update { before, after } if tc.cascade => {
                        fk_checks(conn, true).await?;
                        let found = update_row(conn, map, before, after).await;
                        fk_checks(conn, false).await?;
                        if !found? {
                            run(conn, insert_rows(map, &[after], "REPLACE")).await?;
                        }
                    }
                    Change::Update { before, after } => {
                        if key_of(before, &map.key) != key_of(after, &map.key) {
                            run(conn, delete_keys(map, &[before])).await?;
                        }
                        run(conn, insert_rows(map, &[after], "REPLACE")).await?;
                    }
                }
            }
            Ok::<u64, ReplicateError>(rows)
        }
        .await;
        let rows = match result {
            Ok(rows) => rows,
            Err(e) => {
                rollback(conn).await;
                let _ = fk_checks(conn, false).await;
                return Err(e);
            }
        };
        let mut last = Finish::default();
        last.checkpoint(&self.meta, &tx.end);
        last.send(lane, false).await?;
        self.last_checkpoint = Instant::now();
        self.committed = self.ticket();
        Ok(Applied {
            changes: tx.changes.len() as u64,
            rows,
            ticket: self.committed,
        })
    }
}

/// Turns the session's foreign-key checks on or off.
async fn fk_checks(conn: &mut Conn, on: bool) -> Result<(), ReplicateError> {
    conn.query_drop(if on {
        "SET SESSION foreign_key_checks = 1"
    } else {
        "SET SESSION foreign_key_checks = 0"
    })
    .await
    .map_err(target_err("switching foreign-key checks"))
}

/// Whether any of `tables` has a key that compares under a collation.
fn collated(tables: &HashMap<(String, String), TableMap>) -> bool {
    tables
        .values()
        .any(|m| m.key_collations.iter().any(Option::is_some))
}

/// Values per weight query.
const WEIGHTS_PER_QUERY: usize = 256;

/// Asks the target for the collation weight of every string key value in `txs`
/// of tables whose key compares under a collation (see `Weights`). Trailing
/// spaces are stripped first for PAD SPACE collations, where they never count.
async fn collation_weights(
    conn: &mut Conn,
    txs: &[Transaction],
    tables: &HashMap<(String, String), TableMap>,
) -> Result<HashMap<(String, String), Weights>, ReplicateError> {
    type Wanted<'t> = HashMap<&'t (String, String), std::collections::BTreeSet<(usize, Vec<u8>)>>;
    let mut wanted: Wanted = HashMap::new();
    for tc in txs.iter().flat_map(|t| &t.changes) {
        let Some(map) = tables.get(&tc.table) else {
            continue;
        };
        if map.key_collations.iter().all(Option::is_none) {
            continue;
        }
        let rows: Vec<&Vec<Value>> = match &tc.change {
            Change::Insert { after } => vec![after],
            Change::Delete { before } => vec![before],
            Change::Update { before, after } => vec![before, after],
        };
        let set = wanted.entry(&tc.table).or_default();
        for row in rows {
            for (k, &i) in map.key.iter().enumerate() {
                if let (Some(Some(_)), Some(Value::Bytes(b))) =
                    (map.key_collations.get(k), row.get(i))
                {
                    set.insert((i, b.clone()));
                }
            }
        }
    }
    let mut out = HashMap::new();
    for (table, values) in wanted {
        let Some(map) = tables.get(table) else {
            continue;
        };
        let mut weights = Weights::new();
        let values: Vec<(usize, Vec<u8>)> = values.into_iter().collect();
        for chunk in values.chunks(WEIGHTS_PER_QUERY) {
            let mut exprs = Vec::with_capacity(chunk.len());
            let mut params = Vec::with_capacity(chunk.len());
            let mut asked = Vec::with_capacity(chunk.len());
            for (i, raw) in chunk {
                let k = map.key.iter().position(|c| c == i).unwrap_or(0);
                let Some(Some((cs, coll))) = map.key_collations.get(k) else {
                    continue;
                };
                // Names come from information_schema and are checked to be plain
                // identifiers (TableMap::new): they cannot be parameters.
                exprs.push(format!(
                    "WEIGHT_STRING(CONVERT(? USING {cs}) COLLATE {coll})"
                ));
                let mut v = raw.clone();
                if !coll.contains("nopad") {
                    while v.last() == Some(&b' ') {
                        v.pop();
                    }
                }
                params.push(Value::Bytes(v));
                asked.push((*i, raw.clone()));
            }
            if exprs.is_empty() {
                continue;
            }
            let row: Option<mysql_async::Row> = conn
                .exec_first(
                    format!("SELECT {}", exprs.join(", ")),
                    Params::Positional(params),
                )
                .await
                .map_err(target_err("reading collation weights of keys"))?;
            let Some(row) = row else { continue };
            for (n, v) in row.unwrap().into_iter().enumerate() {
                if let (Some(key), Value::Bytes(w)) = (asked.get(n), v) {
                    weights.insert(key.clone(), w);
                }
            }
        }
        out.insert(table.clone(), weights);
    }
    Ok(out)
}

/// Ends a failed transaction; the error that failed it is what the caller reports.
async fn rollback(conn: &mut Conn) {
    let _ = conn.query_drop("ROLLBACK").await;
}

/// One worker's statements for one table.
enum Work<'a> {
    Delete(&'a TableMap, Vec<&'a [Value]>),
    Replace(&'a TableMap, Vec<&'a [Value]>),
    Keyless(&'a TableMap, Vec<&'a Change>),
}

impl Work<'_> {
    fn rows(&self) -> u64 {
        (match self {
            Work::Delete(_, r) | Work::Replace(_, r) => r.len(),
            Work::Keyless(_, c) => c.len(),
        }) as u64
    }
}

fn hash_of(bytes: &[&[u8]]) -> u64 {
    // FNV-1a: cheap and stable.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes.iter().flat_map(|b| b.iter()) {
        h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Compacts `txs` to final row states and splits the keyed ones over `workers`;
/// keyless changes (not idempotent: they go with the checkpoint) come apart.
fn partition<'a>(
    txs: &'a [Transaction],
    tables: &'a HashMap<(String, String), TableMap>,
    workers: usize,
    weights: &HashMap<(String, String), Weights>,
) -> (Vec<Vec<Work<'a>>>, Vec<Work<'a>>) {
    let workers = workers.max(1);
    // Plans per table, in the order tables first appear. A batch's changes come
    // in runs of one table: the run's table is looked up once.
    let mut plans: Vec<(&TableMap, Option<&Weights>, Plan)> = Vec::new();
    let mut planned: foldhash::HashMap<&(String, String), Option<usize>> = Default::default();
    let mut current: Option<(&(String, String), Option<usize>)> = None;
    for tc in txs.iter().flat_map(|t| &t.changes) {
        let at = match current {
            Some((table, at)) if *table == tc.table => at,
            _ => {
                let at = *planned.entry(&tc.table).or_insert_with(|| {
                    let map = tables.get(&tc.table)?;
                    let plan = if map.key.is_empty() {
                        Plan::Keyless(Vec::new())
                    } else {
                        Plan::Keyed(Compacted::default())
                    };
                    plans.push((map, weights.get(&tc.table), plan));
                    Some(plans.len() - 1)
                });
                current = Some((&tc.table, at));
                at
            }
        };
        let Some((map, w, plan)) = at.and_then(|i| plans.get_mut(i)) else {
            continue;
        };
        let (map, w) = (*map, *w);
        let key = |row: &[Value]| key_of_weighted(row, &map.key, w);
        match plan {
            Plan::Keyless(list) => list.push(&tc.change),
            Plan::Keyed(c) => match &tc.change {
                Change::Insert { after } => c.set(key(after), Some(after), after),
                Change::Delete { before } => c.set(key(before), None, before),
                Change::Update { before, after } => {
                    let (kb, ka) = (key(before), key(after));
                    if kb != ka {
                        c.set(kb, None, before);
                    }
                    c.set(ka, Some(after), after);
                }
            },
        }
    }
    let mut parts: Vec<Vec<Work>> = (0..workers).map(|_| Vec::new()).collect();
    let mut keyless = Vec::new();
    let mut keyed: Vec<(&TableMap, Compacted)> = Vec::new();
    for (map, _, plan) in plans {
        match plan {
            Plan::Keyless(list) => keyless.push(Work::Keyless(map, list)),
            Plan::Keyed(c) => keyed.push((map, c)),
        }
    }
    // A table goes whole to the least loaded worker, largest first: each table a
    // worker writes costs it a statement or a load, a round trip each at a
    // distance, so a worker given pieces of two tables waits for two in a row.
    // Workers left over once each table has one take pieces of the largest
    // tables, split by key — as many as a table's rows ask for (one per
    // worker's share of the batch), and only from SPLIT_FROM_ROWS (a few rows
    // are split for nothing). So no worker holds two pieces while another is
    // idle, and tables of about equal size each go whole.
    let total: usize = keyed.iter().map(|(_, c)| c.rows.len()).sum();
    let share = total.div_ceil(workers).max(1);
    let mut spare = workers.saturating_sub(keyed.len());
    keyed.sort_by_key(|(_, c)| std::cmp::Reverse(c.rows.len()));
    let mut load = vec![0usize; workers];
    for (map, c) in keyed {
        let table_hash = hash_of(&[
            map.target_schema.as_bytes(),
            b".",
            map.target_name.as_bytes(),
        ]);
        // Rows that may collide on another unique index stay together.
        let splits = !map.serial && c.rows.len() >= SPLIT_FROM_ROWS;
        let extra = if splits {
            (c.rows.len().div_ceil(share) - 1).min(spare)
        } else {
            0
        };
        spare -= extra;
        // The least loaded workers, one per piece.
        let mut by_load: Vec<usize> = (0..workers).collect();
        by_load.sort_by_key(|&w| load[w]);
        let on = &by_load[..1 + extra];
        let mut deletes: Vec<Vec<&[Value]>> = vec![Vec::new(); workers];
        let mut upserts: Vec<Vec<&[Value]>> = vec![Vec::new(); workers];
        for (key_hash, state) in c.rows {
            let piece =
                (table_hash ^ key_hash).wrapping_mul(0x9e37_79b9_7f4a_7c15) % on.len() as u64;
            let w = on[piece as usize];
            load[w] += 1;
            match state {
                (Some(row), _) => upserts[w].push(row),
                (None, key_row) => deletes[w].push(key_row),
            }
        }
        for (w, (d, u)) in deletes.into_iter().zip(upserts).enumerate() {
            if !d.is_empty() {
                parts[w].push(Work::Delete(map, d));
            }
            if !u.is_empty() {
                parts[w].push(Work::Replace(map, u));
            }
        }
    }
    (parts, keyless)
}

/// One lane's transaction, built before it is sent: the statements that need
/// parameters (a round trip each), then one packet with the loads, the sync
/// checkpoint when given and the COMMIT (see [`Finish`]). Built, it owns its
/// rows (encoded, or as parameters): it can be sent while the next batch is
/// built.
#[derive(Default)]
struct Prepared {
    statements: Vec<Exec>,
    /// The checkpoint as a statement of its own (alone, on a lane that commits
    /// each statement: one round trip).
    mark: Option<Exec>,
    last: Finish,
    checkpoint: bool,
}

/// A statement with its parameters, and what it does (for its error).
struct Exec {
    sql: String,
    args: Args,
    what: &'static str,
}

/// A statement's parameters: one execution, or a bulk execute of many rows.
enum Args {
    One(Vec<Value>),
    Bulk(Vec<Vec<Value>>),
}

impl Prepared {
    fn build(work: Vec<&Work<'_>>, ways: Ways, checkpoint: Option<(&Meta, &Position)>) -> Prepared {
        let mut out = Prepared::default();
        for w in work {
            match (w, ways.bulk) {
                (Work::Replace(map, rows), Some(most)) => out
                    .statements
                    .extend(bulk_insert(map, rows, "REPLACE", most)),
                (Work::Delete(map, rows), Some(most)) => {
                    out.statements.extend(bulk_delete(map, rows, most))
                }
                (Work::Replace(map, rows), None)
                    if map.plain && ways.load_from.is_some_and(|n| rows.len() >= n) =>
                {
                    out.last.load(map, rows)
                }
                (other, _) => out.statements.extend(statements(other)),
            }
        }
        if let Some((meta, end)) = checkpoint {
            out.last.checkpoint(meta, end);
            out.checkpoint = true;
        }
        out
    }

    /// Only the checkpoint `end`: on a lane that commits each statement, one
    /// prepared UPDATE; otherwise the loaded row and COMMIT of [`Finish`].
    fn checkpoint_only(meta: &Meta, end: &Position, autocommit: bool) -> Prepared {
        let mut out = Prepared {
            checkpoint: true,
            ..Prepared::default()
        };
        if autocommit {
            let (sql, params) = meta.sync_position_update(end);
            out.mark = Some(Exec {
                sql,
                args: Args::One(params),
                what: "storing the sync position",
            });
        } else {
            out.last.checkpoint(meta, end);
        }
        out
    }

    /// Sends it on `lane` and commits; rolls back on error. On a lane that
    /// commits each statement, what holds the checkpoint and more than one
    /// statement opens a transaction first: keyless changes (not idempotent)
    /// and the serial retry's rows commit with their checkpoint or not at all.
    /// A worker's final rows (no checkpoint) commit statement by statement.
    async fn send(self, lane: &mut Lane) -> Result<(), ReplicateError> {
        let parts = self.statements.len() + usize::from(self.mark.is_some());
        let begin = lane.autocommit && self.checkpoint && parts + self.last.statements.len() > 1;
        if begin && parts > 0 {
            lane.conn
                .query_drop("START TRANSACTION")
                .await
                .map_err(target_err("starting the batch's transaction"))?;
        }
        run_or_roll_back(&mut lane.conn, self.statements).await?;
        if self.checkpoint {
            crate::failpoint::hit("apply.rows_before_checkpoint");
        }
        run_or_roll_back(&mut lane.conn, self.mark.into_iter().collect()).await?;
        self.last.send(lane, begin && parts == 0).await
    }
}

/// As [`run`]; on an error, rolls back what the transaction holds.
async fn run_or_roll_back(conn: &mut Conn, statements: Vec<Exec>) -> Result<(), ReplicateError> {
    let ran = run(conn, statements).await;
    if ran.is_err() {
        rollback(conn).await;
    }
    ran
}

/// Runs `statements` in order on `conn`.
async fn run(conn: &mut Conn, statements: Vec<Exec>) -> Result<(), ReplicateError> {
    for Exec { sql, args, what } in statements {
        match args {
            Args::One(params) => conn.exec_drop(sql, Params::Positional(params)).await,
            Args::Bulk(rows) => {
                conn.exec_batch(sql, rows.into_iter().map(Params::Positional))
                    .await
            }
        }
        .map_err(target_err(what))?;
    }
    Ok(())
}

/// The statements of one worker's work on one table.
fn statements(work: &Work<'_>) -> Vec<Exec> {
    match work {
        Work::Delete(map, rows) => delete_keys(map, rows),
        Work::Replace(map, rows) => insert_rows(map, rows, "REPLACE"),
        Work::Keyless(map, changes) => {
            let mut out = Vec::new();
            for change in changes {
                match change {
                    Change::Insert { after } => out.extend(insert_rows(map, &[after], "INSERT")),
                    Change::Delete { before } => out.push(delete_one(map, before)),
                    Change::Update { before, after } => {
                        out.push(delete_one(map, before));
                        out.extend(insert_rows(map, &[after], "INSERT"));
                    }
                }
            }
            out
        }
    }
}

/// The packet that ends a lane's transaction: `LOAD DATA LOCAL … REPLACE` of
/// final rows of plain tables (see `TableMap::plain`; the same rows a REPLACE of
/// them leaves), the sync checkpoint when the lane holds it, then COMMIT — one
/// multi-statement query. The server asks for each load's rows in turn (the
/// lane's `Infiles` serve them), so a batch costs a round trip per load plus
/// one, not two per load and one each for the checkpoint and the commit. An
/// error stops the server at that statement: nothing after it runs, and the
/// transaction is rolled back.
#[derive(Default)]
struct Finish {
    statements: Vec<String>,
    files: Vec<(String, Vec<bytes::Bytes>)>,
}

impl Finish {
    fn load(&mut self, map: &TableMap, rows: &[&[Value]]) {
        let written = map.written();
        let cols: Vec<String> = written.iter().map(|&i| quote(&map.columns[i].0)).collect();
        let table = format!("{}.{}", quote(&map.target_schema), quote(&map.target_name));
        let name = format!("ferry-apply-{}", self.files.len());
        self.statements.push(crate::target::load_data_sql(
            &name,
            true,
            &table,
            &cols.join(", "),
        ));
        self.files.push((name, encode_rows(rows, &written)));
    }

    fn checkpoint(&mut self, meta: &Meta, end: &Position) {
        let p = meta.sync_position_load(end);
        let name = "ferry-position".to_string();
        self.statements.push(format!(
            "{} {}",
            crate::target::load_data_sql(&name, true, &p.table, p.columns),
            p.set
        ));
        self.statements.push(p.update);
        self.files.push((name, encode_rows(&[&p.row[..]], &[0, 1])));
    }

    /// Sends the packet, opening the transaction in it when `begin`. On a lane
    /// that commits each statement, nothing left to send is nothing to commit.
    async fn send(self, lane: &mut Lane, begin: bool) -> Result<(), ReplicateError> {
        if lane.autocommit && self.statements.is_empty() {
            return Ok(());
        }
        for (name, blocks) in self.files {
            lane.files.put(&name, blocks);
        }
        let mut sql = Vec::with_capacity(self.statements.len() + 2);
        if begin {
            sql.push("START TRANSACTION".to_string());
        }
        sql.extend(self.statements);
        sql.push("COMMIT".into());
        let sent = lane.conn.query_drop(sql.join(";\n")).await;
        lane.files.clear();
        if sent.is_err() {
            rollback(&mut lane.conn).await;
        }
        sent.map_err(target_err(
            "writing the batch's rows, checkpoint and commit",
        ))
    }
}

/// `rows` (their `written` columns) as a LOAD DATA stream (`target::encode_field`,
/// `CHARACTER SET binary`), in blocks of about 1 MiB.
fn encode_rows(rows: &[&[Value]], written: &[usize]) -> Vec<bytes::Bytes> {
    let mut blocks = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for r in rows {
        for (n, &i) in written.iter().enumerate() {
            if n > 0 {
                buf.push(b'\t');
            }
            crate::target::encode_field(&mut buf, r.get(i).unwrap_or(&Value::NULL));
        }
        buf.push(b'\n');
        if buf.len() >= 1 << 20 {
            blocks.push(bytes::Bytes::from(std::mem::take(&mut buf)));
        }
    }
    if !buf.is_empty() {
        blocks.push(bytes::Bytes::from(buf));
    }
    blocks
}

/// Multi-row `verb INTO` of `rows`, in power-of-two sized statements.
fn insert_rows(map: &TableMap, rows: &[&[Value]], verb: &str) -> Vec<Exec> {
    let written = map.written();
    let cols: Vec<String> = written.iter().map(|&i| quote(&map.columns[i].0)).collect();
    let cols = cols.join(", ");
    let table = format!("{}.{}", quote(&map.target_schema), quote(&map.target_name));
    let mut out = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let n = statement_rows(rest, written.len(), |r| {
            written
                .iter()
                .map(|&i| r.get(i).map_or(1, value_bytes))
                .sum()
        });
        let (now, later) = rest.split_at(n);
        out.push(Exec {
            sql: crate::target::insert_sql(verb, &table, &cols, written.len(), n),
            args: Args::One(
                now.iter()
                    .flat_map(|r| {
                        written
                            .iter()
                            .map(|&i| r.get(i).cloned().unwrap_or(Value::NULL))
                    })
                    .collect(),
            ),
            what: "writing rows",
        });
        rest = later;
    }
    out
}

/// Multi-row delete by key: `key IN (…)` or `(a, b) IN ((…), …)`.
fn delete_keys(map: &TableMap, rows: &[&[Value]]) -> Vec<Exec> {
    let cols: Vec<String> = map.key.iter().map(|&i| quote(&map.columns[i].0)).collect();
    let (lhs, tuple) = if cols.len() == 1 {
        (cols[0].clone(), "?".to_string())
    } else {
        (
            format!("({})", cols.join(", ")),
            format!("({})", vec!["?"; cols.len()].join(", ")),
        )
    };
    let mut out = Vec::new();
    let mut rest = rows;
    while !rest.is_empty() {
        let n = statement_rows(rest, map.key.len(), |r| {
            map.key
                .iter()
                .map(|&i| r.get(i).map_or(1, value_bytes))
                .sum()
        });
        let (now, later) = rest.split_at(n);
        let sql = format!(
            "DELETE FROM {}.{} WHERE {lhs} IN ({})",
            quote(&map.target_schema),
            quote(&map.target_name),
            vec![tuple.as_str(); n].join(", ")
        );
        let params: Vec<Value> = now
            .iter()
            .flat_map(|r| {
                map.key
                    .iter()
                    .map(|&i| r.get(i).cloned().unwrap_or(Value::NULL))
            })
            .collect();
        out.push(Exec {
            sql,
            args: Args::One(params),
            what: "deleting rows",
        });
        rest = later;
    }
    out
}

/// A one-row `verb INTO`, bulk-executed over `rows` (see [`bulk`]).
fn bulk_insert(map: &TableMap, rows: &[&[Value]], verb: &str, most: usize) -> Vec<Exec> {
    let written = map.written();
    let cols: Vec<String> = written.iter().map(|&i| quote(&map.columns[i].0)).collect();
    let table = format!("{}.{}", quote(&map.target_schema), quote(&map.target_name));
    let sql = crate::target::insert_sql(verb, &table, &cols.join(", "), written.len(), 1);
    bulk(sql, rows, &written, most, "writing rows")
}

/// A one-key `DELETE … WHERE <key> = …`, bulk-executed over the keys of `rows`.
fn bulk_delete(map: &TableMap, rows: &[&[Value]], most: usize) -> Vec<Exec> {
    let preds: Vec<String> = map
        .key
        .iter()
        .map(|&i| format!("{} = ?", quote(&map.columns[i].0)))
        .collect();
    let sql = format!(
        "DELETE FROM {}.{} WHERE {}",
        quote(&map.target_schema),
        quote(&map.target_name),
        preds.join(" AND ")
    );
    bulk(sql, rows, &map.key, most, "deleting rows")
}

/// `sql` bulk-executed over the `columns` of `rows`, one execute per group (see
/// [`bulk_groups`]).
fn bulk(
    sql: String,
    rows: &[&[Value]],
    columns: &[usize],
    most: usize,
    what: &'static str,
) -> Vec<Exec> {
    let values = rows.iter().map(|r| {
        columns
            .iter()
            .map(|&i| r.get(i).cloned().unwrap_or(Value::NULL))
            .collect()
    });
    bulk_groups(values, most)
        .into_iter()
        .map(|rows| Exec {
            sql: sql.clone(),
            args: Args::Bulk(rows),
            what,
        })
        .collect()
}

/// Rows of parameters in groups of one bulk execute each: at most `most` bytes
/// (one packet), and each parameter of one kind in all of a group's rows, NULL
/// aside. A bulk execute declares one type per parameter for all its rows, so a
/// value of another kind (an unsigned number after signed ones, bytes after a
/// number) would be read as that type: it starts the next group instead. A
/// table's final rows are distinct keys, so their order does not matter.
fn bulk_groups(rows: impl Iterator<Item = Vec<Value>>, most: usize) -> Vec<Vec<Vec<Value>>> {
    fn kind(v: &Value) -> Option<u8> {
        match v {
            Value::NULL => None,
            Value::Bytes(_) => Some(0),
            Value::Int(_) => Some(1),
            Value::UInt(_) => Some(2),
            Value::Float(_) => Some(3),
            Value::Double(_) => Some(4),
            Value::Date(..) => Some(5),
            Value::Time(..) => Some(6),
        }
    }
    let mut groups = Vec::new();
    let mut group: Vec<Vec<Value>> = Vec::new();
    let mut kinds: Vec<Option<u8>> = Vec::new();
    let mut bytes = 0;
    for row in rows {
        // A value's binary form: at most its bytes, a length and a NULL flag.
        let size: usize = row.iter().map(|v| value_bytes(v) + 4).sum();
        let alike = row
            .iter()
            .zip(&kinds)
            .all(|(v, k)| k.is_none() || kind(v).is_none() || kind(v) == *k);
        if !group.is_empty() && (bytes + size > most || !alike) {
            groups.push(std::mem::take(&mut group));
            kinds.clear();
            bytes = 0;
        }
        if kinds.is_empty() {
            kinds = vec![None; row.len()];
        }
        for (k, v) in kinds.iter_mut().zip(&row) {
            if k.is_none() {
                *k = kind(v);
            }
        }
        bytes += size;
        group.push(row);
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// `UPDATE … SET <every written column> WHERE <key> = <before's key>`; whether it
/// changed a row.
async fn update_row(
    conn: &mut Conn,
    map: &TableMap,
    before: &[Value],
    after: &[Value],
) -> Result<bool, ReplicateError> {
    let (sets, mut vals): (Vec<String>, Vec<Value>) = map
        .columns
        .iter()
        .zip(after)
        .filter(|((_, _, generated), _)| !generated)
        .map(|((name, _, _), v)| (format!("{} = ?", quote(name)), v.clone()))
        .unzip();
    let preds: Vec<String> = map
        .key
        .iter()
        .map(|&i| format!("{} = ?", quote(&map.columns[i].0)))
        .collect();
    vals.extend(
        map.key
            .iter()
            .map(|&i| before.get(i).cloned().unwrap_or(Value::NULL)),
    );
    let sql = format!(
        "UPDATE {}.{} SET {} WHERE {}",
        quote(&map.target_schema),
        quote(&map.target_name),
        sets.join(", "),
        preds.join(" AND ")
    );
    conn.exec_drop(sql, Params::Positional(vals))
        .await
        .map_err(target_err("updating a row"))?;
    // Changed rows (CLIENT_FOUND_ROWS is off): 0 for a missing row, and for one
    // already in this state (a replay), where the REPLACE that follows is harmless:
    // checks are off again by then, so nothing cascades.
    Ok(conn.affected_rows() > 0)
}

/// Deletes one row equal in every written column (keyless tables).
fn delete_one(map: &TableMap, row: &[Value]) -> Exec {
    let (preds, params): (Vec<String>, Vec<Value>) = map
        .columns
        .iter()
        .zip(row)
        .filter(|((_, _, generated), _)| !generated)
        .map(|((name, _, _), v)| (format!("{} <=> ?", quote(name)), v.clone()))
        .unzip();
    Exec {
        sql: format!(
            "DELETE FROM {}.{} WHERE {} LIMIT 1",
            quote(&map.target_schema),
            quote(&map.target_name),
            preds.join(" AND ")
        ),
        args: Args::One(params),
        what: "deleting a row",
    }
}

/// How many of `rows` the next statement takes: the largest power of two that
/// fits the row, byte and placeholder limits (`width` values a row; at least one
/// row).
fn statement_rows(rows: &[&[Value]], width: usize, size: impl Fn(&[Value]) -> usize) -> usize {
    let most = MAX_ROWS_PER_STATEMENT.min(MAX_PLACEHOLDERS / width.max(1));
    let mut n: usize = 0;
    let mut bytes = 0;
    for r in rows.iter().take(most) {
        bytes += size(r);
        if n > 0 && bytes > MAX_STATEMENT_BYTES {
            break;
        }
        n += 1;
    }
    // Round down to a power of two.
    1 << (usize::BITS - 1 - n.max(1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_take_powers_of_two() {
        let row = vec![Value::Int(1)];
        let rows: Vec<&[Value]> = (0..5000).map(|_| row.as_slice()).collect();
        assert_eq!(statement_rows(&rows, 1, |_| 9), 4096);
        assert_eq!(statement_rows(&rows[..300], 1, |_| 9), 256);
        assert_eq!(statement_rows(&rows[..100], 1, |_| 9), 64);
        assert_eq!(statement_rows(&rows[..1], 1, |_| 9), 1);
        // One huge row still goes alone.
        assert_eq!(
            statement_rows(&rows[..3], 1, |_| MAX_STATEMENT_BYTES + 1),
            1
        );
        // Bytes bound it: 2 MiB of 1 KiB rows is 2 048 rows.
        assert_eq!(statement_rows(&rows, 1, |_| 1024), 2048);
        // So do placeholders: 100 values a row, at most 655 rows, so 512.
        assert_eq!(statement_rows(&rows, 100, |_| 9), 512);
    }

    fn map(name: &str, key: Vec<usize>, serial: bool) -> TableMap {
        TableMap {
            target_schema: "s".into(),
            target_name: name.into(),
            columns: vec![
                ("id".into(), super::super::reader::Fix::None, false),
                ("v".into(), super::super::reader::Fix::None, false),
            ],
            key,
            skip: Default::default(),
            serial,
            transactional: true,
            cascade_parent: false,
            absent: false,
            key_collations: Vec::new(),
            plain: true,
        }
    }

    #[test]
    fn batches_compact_and_split_by_key() {
        use super::super::reader::TableChange;
        let mut tables = HashMap::new();
        tables.insert(
            ("s".to_string(), "pk".to_string()),
            map("pk", vec![0], false),
        );
        tables.insert(
            ("s".to_string(), "uk".to_string()),
            map("uk", vec![0], true),
        );
        tables.insert(
            ("s".to_string(), "nokey".to_string()),
            map("nokey", vec![], false),
        );
        let row = |id: i64, v: i64| vec![Value::Int(id), Value::Int(v)];
        let change = |t: &str, c: Change| TableChange {
            table: ("s".to_string(), t.to_string()),
            change: c,
            cascade: false,
        };
        tables.insert(
            ("s".to_string(), "small".to_string()),
            map("small", vec![0], false),
        );
        let mut changes = Vec::new();
        for id in 0..4000 {
            changes.push(change("pk", Change::Insert { after: row(id, 0) }));
        }
        for id in 0..1000 {
            changes.push(change("uk", Change::Insert { after: row(id, 0) }));
        }
        for id in 0..50 {
            changes.push(change("small", Change::Insert { after: row(id, 0) }));
        }
        // Row 5 is updated twice and row 6 deleted: one final state each.
        changes.push(change(
            "pk",
            Change::Update {
                before: row(5, 0),
                after: row(5, 1),
            },
        ));
        changes.push(change(
            "pk",
            Change::Update {
                before: row(5, 1),
                after: row(5, 2),
            },
        ));
        changes.push(change("pk", Change::Delete { before: row(6, 0) }));
        changes.push(change("nokey", Change::Insert { after: row(1, 1) }));
        let txs = vec![Transaction {
            changes,
            statement: None,
            end: Position::default(),
            timestamp: 0,
            between: false,
            read_bytes: 0,
            row_bytes: 0,
        }];
        let (parts, keyless) = partition(&txs, &tables, 4, &HashMap::new());
        let count = |t: &str, pred: &dyn Fn(&Work) -> bool| -> Vec<u64> {
            parts
                .iter()
                .map(|p| {
                    p.iter()
                        .filter(|w| pred(w))
                        .filter(|w| match w {
                            Work::Delete(m, _) | Work::Replace(m, _) | Work::Keyless(m, _) => {
                                m.target_name == t
                            }
                        })
                        .map(Work::rows)
                        .sum()
                })
                .collect()
        };
        let any = |_: &Work| true;
        // 4000 rows of pk, compacted (3999 upserts + 1 delete): more than twice
        // a worker's share of the batch, so split by key over several workers.
        let pk = count("pk", &any);
        assert_eq!(pk.iter().sum::<u64>(), 4000);
        assert!(pk.iter().filter(|n| **n > 0).count() > 1, "{pk:?}");
        // uk has another unique index: all on one worker.
        let uk = count("uk", &any);
        assert_eq!(uk.iter().filter(|n| **n > 0).count(), 1, "{uk:?}");
        // A small table goes whole (a statement or load on one worker, not on
        // each), to a worker other than uk's, the least loaded then.
        let small = count("small", &any);
        assert_eq!(small.iter().filter(|n| **n > 0).count(), 1, "{small:?}");
        let on = |v: &[u64]| v.iter().position(|n| *n > 0);
        assert_ne!(on(&small), on(&uk), "{small:?} {uk:?}");
        // Keyless rows apart: they go with the checkpoint.
        assert_eq!(count("nokey", &any), vec![0, 0, 0, 0]);
        assert_eq!(keyless.iter().map(Work::rows).sum::<u64>(), 1);
        let deletes = count("pk", &|w| matches!(w, Work::Delete(..)));
        assert_eq!(deletes.iter().sum::<u64>(), 1);
    }

    /// The works per worker of a batch inserting `rows` rows into each table.
    fn works_per_worker(rows: &[(&str, i64)], workers: usize) -> Vec<usize> {
        use super::super::reader::TableChange;
        let tables: HashMap<_, _> = rows
            .iter()
            .map(|(t, _)| (("s".to_string(), t.to_string()), map(t, vec![0], false)))
            .collect();
        let changes = rows
            .iter()
            .flat_map(|&(t, n)| (0..n).map(move |id| (t, id)))
            .map(|(t, id)| TableChange {
                table: ("s".to_string(), t.to_string()),
                change: Change::Insert {
                    after: vec![Value::Int(id), Value::Int(0)],
                },
                cascade: false,
            })
            .collect();
        let txs = vec![Transaction {
            changes,
            statement: None,
            end: Position::default(),
            timestamp: 0,
            between: false,
            read_bytes: 0,
            row_bytes: 0,
        }];
        let (parts, _) = partition(&txs, &tables, workers, &HashMap::new());
        parts.iter().map(Vec::len).collect()
    }

    #[test]
    fn no_worker_takes_two_pieces_while_another_is_idle() {
        // 400 rows of a and 10 of b: a is over a worker's share, but under
        // SPLIT_FROM_ROWS, so one worker writes it in one statement.
        let works = works_per_worker(&[("a", 400), ("b", 10)], 8);
        assert_eq!(works.iter().sum::<usize>(), 2, "{works:?}");
        assert!(works.iter().all(|n| *n <= 1), "{works:?}");
        // Four large tables and a small one on eight workers: the three spare
        // workers take second pieces of the largest; none holds two.
        let big = [
            ("a", 3100),
            ("b", 3100),
            ("c", 3100),
            ("d", 3100),
            ("e", 10),
        ];
        let works = works_per_worker(&big, 8);
        assert_eq!(works.iter().sum::<usize>(), 8, "{works:?}");
        assert!(works.iter().all(|n| *n == 1), "{works:?}");
        // More tables than workers: each goes whole.
        let works = works_per_worker(&big, 2);
        assert_eq!(works.iter().sum::<usize>(), 5, "{works:?}");
    }

    #[test]
    fn automatic_workers_follow_the_distance() {
        use std::time::Duration;
        assert_eq!(workers_for(0, Duration::from_micros(200)), NEAR_WORKERS);
        assert_eq!(workers_for(0, Duration::from_millis(20)), FAR_WORKERS);
        assert_eq!(workers_for(3, Duration::from_millis(20)), 3);
        assert_eq!(connections_for(1), 1);
        assert_eq!(connections_for(FAR_WORKERS), FAR_WORKERS + 1);
    }

    #[test]
    fn bulk_groups_keep_one_kind_per_parameter_and_their_bytes() {
        let row = |a: Value, b: Value| vec![a, b];
        let text = |s: &str| Value::Bytes(s.as_bytes().to_vec());
        // NULLs fit any kind; an unsigned value after signed ones, or a number
        // where bytes were, starts a group.
        let rows = vec![
            row(Value::NULL, text("a")),
            row(Value::Int(1), Value::NULL),
            row(Value::Int(-2), text("b")),
            row(Value::UInt(u64::MAX), text("c")),
            row(Value::UInt(3), Value::Int(4)),
        ];
        let groups = bulk_groups(rows.into_iter(), 1 << 20);
        let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![3, 1, 1]);
        assert_eq!(groups[1][0][0], Value::UInt(u64::MAX));
        // Bytes: a group ends before the row that would pass the bound; a row
        // larger than it goes alone.
        let big = |n: usize| vec![Value::Bytes(vec![b'x'; n])];
        let rows = vec![big(40), big(40), big(40), big(500), big(10)];
        let sizes: Vec<usize> = bulk_groups(rows.into_iter(), 110)
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, vec![2, 1, 1, 1]);
    }

    #[test]
    fn keys_compare_signed_and_unsigned_alike() {
        let a = vec![Value::Int(7), Value::Bytes(b"x".to_vec())];
        let b = vec![Value::UInt(7), Value::Bytes(b"x".to_vec())];
        assert_eq!(key_of(&a, &[0, 1]), key_of(&b, &[0, 1]));
        let c = vec![Value::UInt(u64::MAX)];
        let d = vec![Value::Int(-1)];
        assert_ne!(key_of(&c, &[0]), key_of(&d, &[0]));
    }
}
