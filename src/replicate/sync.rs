//! The incremental phase as a loop: a reader task streams committed transactions
//! into a bounded queue, the applier takes them in batches, and between batches
//! the loop reports progress, answers requests (pause / complete / abort) and
//! recovers from connection failures by reopening both ends at the last
//! checkpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use tokio::sync::mpsc;

use super::apply::Applier;
use super::poll::{source_position, Poll};
use super::reader::{Reader, TableMap, Transaction};
use super::ReplicateError;
use crate::checkpoint::Meta;
use crate::control::{DdlDecision, Request, Requests};
use crate::cutover::{reached, Drain, Next};
use crate::endpoint::{Endpoint, Flavor};
use crate::error::Coded;
use crate::events::{EventSink, JobEvent, SyncStatus};
use crate::position::Position;
use crate::snapshot::catchup::Catchup;
use crate::verify::cut::{Cut, Hook, Reached};

/// Transactions queued between the reader and the applier, at most...
const QUEUE: usize = 65_536;
/// ...and at most this many bytes of row images (one transaction larger than this
/// takes it all): the reader waits while the applier is this far behind, so the
/// memory the queue holds stays bounded whatever the rows' size.
const QUEUE_BYTES: usize = 32 << 20;

/// What a transaction takes of [`QUEUE_BYTES`].
fn queued_bytes(t: &Transaction) -> u32 {
    t.row_bytes.min(QUEUE_BYTES) as u32
}
/// A batch ends after this many row changes (or when the queue is empty, or at
/// [`BATCH_BYTES`]) near the target...
const BATCH_CHANGES: usize = 20_000;
/// ...and at a distance (round trip from `endpoint::NEAR`), where every batch
/// costs round trips that a larger backlog shares.
const FAR_BATCH_CHANGES: usize = 100_000;
/// Bytes of row images a batch holds at most.
const BATCH_BYTES: usize = 32 << 20;
/// While the source is more than [`BEHIND_BYTES`] ahead, a batch whose queue ran
/// dry waits up to this long for more: the reader is slower than the applier
/// only at the start of a catch-up (or over a slow link), and many small batches
/// then cost the target a statement per table each, where one would do.
const LINGER: Duration = Duration::from_millis(5);
/// Binlog bytes between a batch and the source that make it a catch-up (see
/// [`LINGER`]); less is following, where a batch goes at once.
const BEHIND_BYTES: u64 = 1 << 20;
/// How often progress is reported and requests are looked for.
const TICK: Duration = Duration::from_secs(1);
/// Backoff between reconnection attempts: doubles from 1 s up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why the sync loop returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Stopped on request (Ctrl-C, `ferry pause`); a later run resumes.
    Paused,
    /// Caught up with the source (see `cutover::Drain`): at `source`, with the
    /// late writes the operator accepted.
    Caught {
        source: Position,
        late: Box<crate::events::LateWrites>,
    },
    /// Stopped by `ferry abort`.
    Aborted,
}

/// Everything the loop needs that stays fixed for a run.
pub struct SyncSetup<'a> {
    /// The servers and what the sync's connections need (see [`Streams`]).
    pub ends: Ends<'a>,
    pub tables: Arc<HashMap<(String, String), TableMap>>,
    pub sink: &'a EventSink,
    /// A standby (`cutover = "never"`) ignores `complete`.
    pub standby: bool,
    /// Decides whether tables created during the sync join it, and their names.
    pub matcher: &'a crate::rules::Matcher,
    /// Events the job leaves out.
    pub filters: &'a super::filter::Filters,
    /// Set when the job merges tables: DDL on them waits at their lock.
    pub shard: Option<&'a crate::shard::Member>,
    /// Set when a continuous verification runs beside the sync: the sync
    /// reaches its cuts and records what it changes (see `verify::cut`).
    pub verify: Option<Arc<Hook>>,
}

/// What a statement from the binlog led to.
enum Stmt {
    /// The table maps after it.
    Maps(Arc<HashMap<(String, String), TableMap>>),
    /// A request ended the sync while the statement waited at a shard lock.
    Stopped(Outcome),
}

/// Seconds the oldest change not yet applied has waited: 0 when synced. Its
/// commit is later than the last applied one (`last_commit`) and later than the
/// last moment the job had everything (`synced_at`), so the lag is at most the
/// smaller of the two ages — an idle stretch before a burst does not count.
/// Unknown (`None`) while the job is behind and has applied nothing yet: a
/// backlog's age shows with its first batch.
fn lag(now: f64, synced: bool, last_commit: Option<u32>, synced_at: Option<f64>) -> Option<f64> {
    if synced {
        return Some(0.0);
    }
    let ages = [last_commit.map(f64::from), synced_at].map(|t| t.map(|t| (now - t).max(0.0)));
    ages.into_iter().flatten().reduce(f64::min)
}

/// Follows the binlog from `start` until a request or `stop` ends it. `requests`
/// delivers requests from this process (Ctrl-C, the app); requests left in the meta
/// schema by other processes are read once per tick.
/// `opened`: the sync's connections, when the job opened them beside its own
/// start-up (see [`Streams::open`]); used only if they start at `start`.
/// `preread`: what the sync reads before its first event, when the job read it
/// beside its own start-up.
pub async fn run(
    setup: &SyncSetup<'_>,
    start: Position,
    mut requests: Requests,
    opened: Option<Result<Streams, ReplicateError>>,
    preread: Option<Preread>,
) -> Result<(Outcome, Position), ReplicateError> {
    let preread = async {
        match preread {
            Some(p) => p,
            None => Preread::read(&setup.ends).await,
        }
    };
    // The sync's own connections open beside these reads (each is round trips),
    // unless the job has them already.
    let opened = opened.filter(|o| o.as_ref().map_or(true, |s| s.from == start));
    let streams = async {
        match opened {
            Some(o) => o.map(|s| s.with_tables(&setup.tables)),
            None => Streams::open(&setup.ends, &start, &setup.tables).await,
        }
    };
    let (Preread { before, catchup }, streams) = tokio::join!(preread, streams);
    let mut catchup = catchup?;
    // The first attempt uses them (or their error); a retry opens its own.
    let mut streams = Some(streams);
    let mut status = SyncStatus {
        state: "syncing".into(),
        applied: start.clone(),
        job_changes: before.as_ref().map_or(0, |s| s.job_changes),
        job_ddl: before.as_ref().map_or(0, |s| s.job_ddl),
        job_read_bytes: before.as_ref().map_or(0, |s| s.job_read_bytes),
        last_ddl: before
            .as_ref()
            .map_or_else(Vec::new, |s| s.last_ddl.clone()),
        tables: before.as_ref().map_or_else(Vec::new, |s| s.tables.clone()),
        ..SyncStatus::default()
    };
    let mut applied = start;
    let mut attempt = 0u32;
    let mut drain = Drain::default();
    let mut tables = setup.tables.clone();
    loop {
        let result = async {
            let opened = match streams.take() {
                Some(opened) => opened?,
                None => Streams::open(&setup.ends, &applied, &tables).await?,
            };
            follow(
                opened,
                setup,
                &mut tables,
                &mut applied,
                &mut status,
                &mut drain,
                &mut requests,
                &mut catchup,
            )
            .await
        }
        .await;
        // The whole job's counts must survive the run: store them as it ends, and
        // show the final state (the last tick may be up to a second old).
        if !matches!(&result, Err(e) if e.is_transient()) {
            if result.is_err() {
                status.state = "failed".into();
            }
            status.lose_contact(crate::events::Health::Stopped, crate::events::unix_now());
            setup.sink.emit(JobEvent::Sync(status.clone()));
            save_status(setup, &status).await;
        }
        match result {
            Ok(outcome) => return Ok((outcome, applied)),
            Err(e) if e.is_transient() => {
                attempt += 1;
                let wait = Duration::from_secs(1 << attempt.min(5)).min(MAX_BACKOFF);
                let cause = e.to_string();
                tracing::warn!(attempt, %cause, "sync connection failed; retrying");
                status.state = "retrying".into();
                status.retry = Some(format!("retrying ({attempt}) — {cause}"));
                status.lose_contact(crate::events::Health::Retrying, crate::events::unix_now());
                status.source = None;
                setup.sink.emit(JobEvent::Retrying {
                    attempt,
                    cause: cause.clone(),
                    in_secs: wait.as_secs_f64(),
                });
                setup.sink.emit(JobEvent::Sync(status.clone()));
                save_status(setup, &status).await;
                // A request can still end the job while it waits.
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    r = requests.recv() => match r {
                        Request::Abort => return Ok((Outcome::Aborted, applied)),
                        Request::Pause => return Ok((Outcome::Paused, applied)),
                        // The cutover needs the source's position: it starts
                        // once the sync is back.
                        Request::Complete { .. } => requests.hold(r),
                    },
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// What the sync reads before its first event. Nothing the job does before the
/// sync changes it, so a job reads it beside its own start-up: at a distance
/// these are round trips.
pub struct Preread {
    /// The whole job's counts so far: they go on from where its last run left them.
    before: Option<SyncStatus>,
    catchup: Result<Catchup, ReplicateError>,
}

impl Preread {
    pub async fn read(ends: &Ends<'_>) -> Preread {
        let before = async {
            match ends.target.conn().await {
                Ok(mut c) => ends.meta.load_status(&mut c).await.ok().flatten(),
                Err(_) => None,
            }
            .and_then(|(json, _)| serde_json::from_str::<SyncStatus>(&json).ok())
        };
        let (before, catchup) = tokio::join!(before, load_catchup(ends));
        Preread { before, catchup }
    }
}

/// A chunked copy's catch-up (see `snapshot::catchup`), when one is pending.
async fn load_catchup(ends: &Ends<'_>) -> Result<Catchup, ReplicateError> {
    let conn = || async {
        ends.target
            .conn()
            .await
            .map_err(|e| ReplicateError::connect("target", e))
    };
    let (mut a, mut b) = tokio::try_join!(conn(), conn())?;
    Catchup::load(ends.meta, &mut a, &mut b)
        .await
        .map_err(|e| ReplicateError::Target {
            what: "reading the catch-up".into(),
            cause: e.to_string(),
            error: None,
        })
}

/// Leaves out the changes of keyless tables a chunked copy read after them.
fn without_copied(catchup: &Catchup, mut t: Transaction) -> Transaction {
    if catchup.has_keyless() {
        let end = t.end.clone();
        t.changes.retain(|c| !catchup.copied(&c.table, &end));
    }
    t
}

async fn save_status(setup: &SyncSetup<'_>, status: &SyncStatus) {
    if let Ok(mut conn) = setup.ends.target.conn().await {
        let json = serde_json::to_string(status).unwrap_or_default();
        let _ = setup.ends.meta.save_status(&mut conn, &json).await;
    }
}

/// What the sync's connections need, known before its tables are (see
/// [`Streams::open`]).
pub struct Ends<'a> {
    pub source: &'a Endpoint,
    pub target: &'a Endpoint,
    pub flavor: Flavor,
    pub meta: &'a Meta,
    pub server_id: u32,
    /// Target connections applying a batch in parallel (0: automatic).
    pub apply_workers: usize,
    /// The job allows LOAD DATA LOCAL (`write_method` is not `insert`): large
    /// batches of a plain table's rows may be loaded (see `apply`).
    pub load_data: bool,
}

/// The sync's connections: the applier's, the binlog stream from `from`, and one
/// for control requests.
pub struct Streams {
    applier: Applier,
    reader: Reader,
    control: mysql_async::Conn,
    from: Position,
}

impl Streams {
    /// Opens the three side by side: at a distance each is round trips. A job
    /// may open them beside its own start-up reads, before it has the tables
    /// (`tables` empty); [`run`] gives them the sync's before any event is read.
    pub async fn open(
        ends: &Ends<'_>,
        from: &Position,
        tables: &Arc<HashMap<(String, String), TableMap>>,
    ) -> Result<Streams, ReplicateError> {
        let (applier, reader, control) = tokio::try_join!(
            Applier::new(
                ends.target,
                ends.meta.clone(),
                tables.clone(),
                ends.apply_workers,
                ends.load_data,
            ),
            Reader::open(
                ends.source,
                ends.flavor,
                from,
                ends.server_id,
                tables.clone(),
            ),
            async {
                ends.target
                    .conn()
                    .await
                    .map_err(|e| ReplicateError::connect("target", e))
            }
        )?;
        Ok(Streams {
            applier,
            reader,
            control,
            from: from.clone(),
        })
    }

    /// Where the binlog stream starts.
    pub fn from(&self) -> &Position {
        &self.from
    }

    fn with_tables(mut self, tables: &Arc<HashMap<(String, String), TableMap>>) -> Streams {
        self.applier.set_tables(tables.clone());
        self.reader.set_tables(tables.clone());
        self
    }
}

/// One connected stretch of the sync: returns on an outcome or a failure, with
/// every row up to `applied` committed on the target, and `applied` stored as its
/// checkpoint unless that last store is the failure returned (see
/// `Applier::flush`).
#[allow(clippy::too_many_arguments)]
async fn follow(
    streams: Streams,
    setup: &SyncSetup<'_>,
    tables: &mut Arc<HashMap<(String, String), TableMap>>,
    applied: &mut Position,
    status: &mut SyncStatus,
    drain: &mut Drain,
    requests: &mut Requests,
    catchup: &mut Catchup,
) -> Result<Outcome, ReplicateError> {
    let poll = Poll::start(
        setup.ends.source,
        setup.ends.target,
        setup.ends.flavor,
        setup.ends.meta,
        TICK,
    );
    let Streams {
        mut applier,
        reader,
        control,
        ..
    } = streams;
    let mut in_flight = None;
    let result = follow_polled(
        &mut applier,
        reader,
        control,
        setup,
        tables,
        applied,
        status,
        drain,
        requests,
        catchup,
        &poll,
        &mut in_flight,
    )
    .await;
    // However it ended, what the applier commits in the background is committed
    // (or failed) before the run says where it stopped; a batch committed so is
    // applied: a retry must not apply it again.
    let flushed = applier.flush().await;
    if let Some(done) = in_flight.take() {
        if applier.committed() >= done.result.ticket {
            let touched = setup.verify.as_deref().map(|h| (h, &**tables));
            settle(done, false, applied, status, drain, touched);
        }
    }
    poll.close().await;
    let outcome = result?;
    flushed.map(|()| outcome)
}

#[allow(clippy::too_many_arguments)]
async fn follow_polled(
    applier: &mut Applier,
    reader: Reader,
    mut control: mysql_async::Conn,
    setup: &SyncSetup<'_>,
    tables: &mut Arc<HashMap<(String, String), TableMap>>,
    applied: &mut Position,
    status: &mut SyncStatus,
    drain: &mut Drain,
    requests: &mut Requests,
    catchup: &mut Catchup,
    poll: &Poll,
    in_flight: &mut Option<InFlight>,
) -> Result<Outcome, ReplicateError> {
    let (tx, mut rx) = mpsc::channel::<Result<Transaction, ReplicateError>>(QUEUE);
    let budget = Arc::new(tokio::sync::Semaphore::new(QUEUE_BYTES));
    let reader_budget = budget.clone();
    // Taken from the queue: its bytes are free for the reader again.
    let dequeued = |t: Transaction| {
        budget.add_permits(queued_bytes(&t) as usize);
        t
    };
    // After a statement (DDL) the reader waits for the maps as they are after it:
    // rows that follow must be decoded with the new columns.
    let (maps_tx, mut maps_rx) = mpsc::channel::<Arc<HashMap<(String, String), TableMap>>>(1);
    let reading = tokio::spawn(async move {
        let mut reader = reader;
        loop {
            match reader.next().await {
                Ok(Some(t)) => {
                    let statement = t.statement.is_some();
                    match reader_budget.acquire_many(queued_bytes(&t)).await {
                        Ok(permit) => permit.forget(),
                        Err(_) => break,
                    }
                    if tx.send(Ok(t)).await.is_err() {
                        break;
                    }
                    if statement {
                        match maps_rx.recv().await {
                            Some(maps) => reader.set_tables(maps),
                            None => break,
                        }
                    }
                }
                Ok(None) => {
                    let _ = tx
                        .send(Err(ReplicateError::Source {
                            cause: "the source ended the binlog stream".into(),
                            error: None,
                        }))
                        .await;
                    break;
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
        reader.close().await;
    });
    // Abort the reader however this function ends.
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _reading = AbortOnDrop(reading);

    // The verifier's cuts, taken between batches (none without a verifier).
    let mut cuts = match &setup.verify {
        Some(hook) => {
            hook.touches.start_at(applied);
            Some(hook.cuts.lock().await)
        }
        None => None,
    };
    let mut pending: Option<Pending> = None;
    let hook = setup.verify.clone();
    struct NotReady(Option<Arc<Hook>>);
    impl Drop for NotReady {
        fn drop(&mut self) {
            if let Some(h) = &self.0 {
                h.shared.set_ready(false);
            }
        }
    }
    let _not_ready = NotReady(hook.clone());

    let mut window = (Instant::now(), status.transactions, status.changes);
    let mut last_tick = Instant::now() - TICK;
    let mut last_commit_ts: Option<u32> = None;
    // Accounts the batch in flight (see `settle`): only once it is known
    // committed (`Applier::apply` returned for the next one, or a flush did).
    macro_rules! settle_in_flight {
        ($statement:expr) => {
            if let Some(done) = in_flight.take() {
                let touched = hook.as_deref().map(|h| (h, &**tables));
                last_commit_ts =
                    settle(done, $statement, applied, status, drain, touched).or(last_commit_ts);
            }
        };
    }
    // When the job last had everything the source had (see `lag`).
    let mut synced_at: Option<f64> = None;
    // Bytes behind at the last tick, for the catch-up estimate.
    let mut last_behind: Option<(u64, Instant)> = None;
    let mut batch: Vec<Transaction> = Vec::new();
    let most_changes = if setup.ends.target.round_trip() >= crate::endpoint::NEAR {
        FAR_BATCH_CHANGES
    } else {
        BATCH_CHANGES
    };
    // A transaction taken from the queue that starts the next batch.
    let mut held: Option<Transaction> = None;
    // The end of the last batch handed to the applier (`applied` is the end of
    // the last one committed).
    let mut submitted = applied.clone();
    status.state = if drain.active() {
        "completing"
    } else {
        "syncing"
    }
    .into();
    status.retry = None;
    status.health = crate::events::Health::Streaming;
    status.health_since = Some(crate::events::unix_now());
    loop {
        // A chunked copy is consistent from here: its held keys can be created.
        if catchup.reached(applied) {
            catchup
                .finish(setup.ends.target, setup.ends.meta, setup.sink)
                .await
                .map_err(|e| ReplicateError::Target {
                    what: "creating the keys held back by the chunked copy".into(),
                    cause: e.to_string(),
                    error: None,
                })?;
        }
        if let Some(h) = &hook {
            h.shared.set_ready(catchup.until.is_none());
        }
        // Nothing queued: the batch in flight is settled before the sync waits.
        if in_flight.is_some() && rx.is_empty() && held.is_none() {
            applier.flush().await?;
            settle_in_flight!(false);
        }
        // Wait for work, a request, a cut, or the next tick.
        let wait = TICK.saturating_sub(last_tick.elapsed());
        let first = if let Some(t) = held.take() {
            Some(Ok(t))
        } else {
            tokio::select! {
            r = rx.recv() => r.map(|r| r.map(dequeued)),
            r = requests.recv() => {
                if let Some(outcome) = on_request(setup, drain, status, r).await? {
                    return Ok(outcome);
                }
                None
            }
            c = next_cut(&mut cuts) => {
                // Taken against what the sync has handed over: the cut's `from`
                // must be ahead of every transaction it has not observed.
                pending = Pending::take(c, &submitted);
                if pending.as_ref().is_some_and(|p| reached(&submitted, &p.cut.to)) {
                    // At the cut: reached once all of it is committed.
                    applier.flush().await?;
                    settle_in_flight!(false);
                    reach(pending.take(), hook.as_deref()).await;
                }
                None
            }
            _ = tokio::time::sleep(wait) => None,
            }
        };
        if let Some(first) = first {
            let first = without_copied(catchup, first?);
            Pending::observe(&mut pending, &first);
            batch.push(first);
            let mut changes = batch[0].changes.len();
            let mut bytes = batch[0].row_bytes;
            // Take what is queued, up to a batch; a statement (DDL) ends it, and a
            // transaction that must be applied in order (a cascade) goes alone.
            // A verifier's cut ends it too.
            let behind = match poll.latest().and_then(|p| p.source) {
                Some(source) => far_behind(&source, &batch[0].end),
                // Before the first poll answers (a catch-up's first batches):
                // the source committed this seconds ago.
                None => {
                    batch[0].timestamp > 0
                        && crate::events::unix_now() >= f64::from(batch[0].timestamp) + 2.0
                }
            };
            let linger = behind.then(|| tokio::time::Instant::now() + LINGER);
            while changes < most_changes
                && bytes < BATCH_BYTES
                && batch
                    .last()
                    .is_some_and(|t| t.statement.is_none() && !t.ordered())
                && !Pending::ends(&pending, batch.last())
            {
                let next = match (rx.try_recv(), linger) {
                    (Ok(t), _) => Some(t),
                    (Err(mpsc::error::TryRecvError::Empty), Some(until)) => {
                        tokio::time::timeout_at(until, rx.recv())
                            .await
                            .ok()
                            .flatten()
                    }
                    (Err(_), _) => None,
                };
                match next.ok_or(()) {
                    Ok(t) => {
                        let t = without_copied(catchup, dequeued(t?));
                        if t.ordered() {
                            held = Some(t);
                            break;
                        }
                        changes += t.changes.len();
                        bytes += t.row_bytes;
                        Pending::observe(&mut pending, &t);
                        batch.push(t);
                    }
                    Err(_) => break,
                }
            }
            // A statement is applied on its own, after the rows before it; the
            // batch's checkpoint must not pass it before it has run.
            let statement = match batch.last() {
                Some(t) if t.statement.is_some() => batch.pop(),
                _ => None,
            };
            // The batch before this one is committed once this one is handed
            // over; this one may still be committing (see `Applier::apply`).
            let result = applier.apply(&batch).await?;
            settle_in_flight!(false);
            if let Some(last) = batch.last() {
                submitted = last.end.clone();
            }
            *in_flight = Some(InFlight {
                batch: std::mem::take(&mut batch),
                result,
            });
            // Settled now when what follows needs it committed: a statement, the
            // verifier's cut, or nothing queued (the sync would wait with it).
            let at_cut = pending
                .as_ref()
                .is_some_and(|p| reached(&submitted, &p.cut.to));
            if statement.is_some() || at_cut || (rx.is_empty() && held.is_none()) {
                applier.flush().await?;
                settle_in_flight!(statement.is_some());
            }
            let statement = statement.and_then(|mut t| {
                status.transactions += 1;
                status.job_read_bytes += t.read_bytes;
                last_commit_ts = Some(t.timestamp);
                t.statement.take().map(|s| (s, t.end))
            });
            if let Some((statement, end)) = statement {
                let maps = match apply_statement(
                    setup,
                    applier,
                    tables,
                    &statement,
                    &end,
                    requests,
                    status,
                    catchup.until.is_some(),
                )
                .await?
                {
                    Stmt::Maps(maps) => maps,
                    Stmt::Stopped(outcome) => return Ok(outcome),
                };
                status.job_ddl += 1;
                *tables = maps;
                applier.set_tables(tables.clone());
                *applied = end.clone();
                submitted = end;
                // The reader is waiting for these before it decodes further rows.
                let _ = maps_tx.send(tables.clone()).await;
            }
            if pending
                .as_ref()
                .is_some_and(|p| reached(applied, &p.cut.to))
            {
                reach(pending.take(), hook.as_deref()).await;
            }
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            let (request, mut source) = if drain.active() {
                // The cutover confirms against the source as it is now, not as
                // the last poll saw it. Both reads at once.
                tokio::join!(
                    setup.ends.meta.take_request(&mut control),
                    source_position(setup.ends.source, setup.ends.flavor)
                )
            } else {
                let polled = poll.latest().unwrap_or_default();
                let request = if polled.request {
                    setup.ends.meta.take_request(&mut control).await
                } else {
                    Ok(None)
                };
                (request, polled.source)
            };
            if let Some(request) =
                request.map_err(|e| ReplicateError::target("reading requests", e))?
            {
                if let Some(outcome) = on_request(setup, drain, status, request).await? {
                    return Ok(outcome);
                }
                // A request can freeze the source: its position counts from after.
                source = source_position(setup.ends.source, setup.ends.flavor).await;
            }
            let idle = rx.is_empty() && held.is_none();
            let synced = idle && source.as_ref().is_some_and(|s| reached(applied, s));
            let secs = window.0.elapsed().as_secs_f64().max(0.001);
            status.transactions_per_sec = (status.transactions - window.1) as f64 / secs;
            status.changes_per_sec = (status.changes - window.2) as f64 / secs;
            window = (Instant::now(), status.transactions, status.changes);
            let now = crate::events::unix_now();
            if synced {
                synced_at = Some(now);
            }
            status.lag_secs = lag(now, synced, last_commit_ts, synced_at);
            status.behind_bytes =
                source
                    .as_ref()
                    .and_then(|s| match (&s.file, s.pos, &applied.file, applied.pos) {
                        (Some(sf), Some(sp), Some(af), Some(ap)) if sf == af => {
                            Some(sp.saturating_sub(ap))
                        }
                        _ => None,
                    });
            status.catch_up_secs = match (status.behind_bytes, last_behind) {
                (Some(0), _) => Some(0.0),
                (Some(b), Some((before, at))) if b < before => {
                    let rate = (before - b) as f64 / at.elapsed().as_secs_f64().max(0.001);
                    Some(b as f64 / rate)
                }
                _ => None,
            };
            last_behind = status.behind_bytes.map(|b| (b, Instant::now()));
            status.source = source;
            status.synced = synced;
            status.shard_locks = setup.shard.map(|m| m.locks.status()).unwrap_or_default();
            status.applied = applied.clone();
            let next = drain.tick(applied, idle, status.source.as_ref());
            if let Next::Refused(late) = &next {
                status.state = "syncing".into();
                setup.sink.warn(crate::cutover::refusal(late));
            }
            status.cutover = drain.status();
            if let Some(h) = &hook {
                h.shared.set_lag(status.lag_secs);
                status.verification = Some(h.shared.status());
            }
            setup.sink.emit(JobEvent::Sync(status.clone()));
            poll.save(serde_json::to_string(&*status).unwrap_or_default());
            if let Next::Caught(late) = next {
                // Make sure the checkpoint on the target says so too.
                applier.checkpoint(applied).await?;
                return Ok(Outcome::Caught {
                    source: applied.clone(),
                    late: Box::new(late),
                });
            }
        }
    }
}

/// Whether the source (as last polled) is more than [`BEHIND_BYTES`] past `at`:
/// in the same file by offset, else in a later one (a poll older than `at` is in
/// an earlier one: not behind).
fn far_behind(source: &Position, at: &Position) -> bool {
    match (source.file == at.file, source.pos, at.pos) {
        (true, Some(sp), Some(ap)) => sp.saturating_sub(ap) > BEHIND_BYTES,
        _ => crate::position::file_pos_cmp(source, at) == Some(std::cmp::Ordering::Greater),
    }
}

/// The tables the sync follows, by source name.
type Maps = HashMap<(String, String), TableMap>;

/// A batch handed to the applier and not yet known committed, with what
/// applying it did.
struct InFlight {
    batch: Vec<Transaction>,
    result: crate::replicate::apply::Applied,
}

/// What the sync records once a batch is committed: the position, the counts,
/// what the cutover and the verifier follow (`touched`: the verifier and the
/// tables; `statement`: a statement follows the batch). Returns the source
/// commit time of its last transaction.
fn settle(
    done: InFlight,
    statement: bool,
    applied: &mut Position,
    status: &mut SyncStatus,
    drain: &mut Drain,
    touched: Option<(&Hook, &Maps)>,
) -> Option<u32> {
    let InFlight { batch, result } = done;
    // Counted per run of one table's changes: the counts are looked up by name.
    let mut run: Option<(&(String, String), u64)> = None;
    for tc in batch.iter().flat_map(|t| &t.changes) {
        match &mut run {
            Some((table, n)) if *table == &tc.table => *n += 1,
            _ => {
                if let Some((table, n)) = run.replace((&tc.table, 1)) {
                    status.count_changes(&table.0, &table.1, n);
                }
            }
        }
    }
    if let Some((table, n)) = run {
        status.count_changes(&table.0, &table.1, n);
    }
    if let Some(last) = batch.last() {
        *applied = last.end.clone();
    }
    status.transactions += batch.iter().filter(|t| !t.between).count() as u64;
    for t in &batch {
        let tables = t
            .changes
            .iter()
            .map(|c| (c.table.0.as_str(), c.table.1.as_str()));
        drain.applied(&t.end, tables);
    }
    status.changes += result.changes;
    status.job_changes += result.changes;
    status.job_read_bytes += batch.iter().map(|t| t.read_bytes).sum::<u64>();
    if let Some((hook, tables)) = touched {
        record_touches(hook, &batch, tables, applied, statement);
    }
    batch.iter().rev().find(|t| !t.between).map(|t| t.timestamp)
}

/// A verifier's cut the sync has taken and not reached yet.
struct Pending {
    cut: Cut,
    /// A transaction after `cut.from` changed one of its tables.
    dirty: bool,
}

impl Pending {
    /// A cut just received: kept unless the sync is already past its `from`
    /// (it could not tell what changed in between) or its verifier gave up.
    fn take(cut: Option<Cut>, applied: &Position) -> Option<Pending> {
        let cut = cut?;
        // `from` at or past what is applied (unknown order: past).
        let before_from = reached(&cut.from, applied);
        (before_from && !cut.reply.is_closed()).then_some(Pending { cut, dirty: false })
    }

    /// `t` goes into the batch: it dirties the cut if it is after `from` and
    /// changes one of its tables (or is a statement, which may).
    fn observe(pending: &mut Option<Pending>, t: &Transaction) {
        let Some(p) = pending.as_mut() else { return };
        // At or before `from`: in both snapshots.
        if p.dirty || reached(&p.cut.from, &t.end) {
            return;
        }
        p.dirty =
            t.statement.is_some() || t.changes.iter().any(|c| p.cut.tables.contains(&c.table));
    }

    /// The batch must end after `last`: it reaches the cut.
    fn ends(pending: &Option<Pending>, last: Option<&Transaction>) -> bool {
        match (pending, last) {
            (Some(p), Some(t)) => reached(&t.end, &p.cut.to),
            _ => false,
        }
    }
}

/// The next cut a verifier asks for (never, without one).
async fn next_cut(
    cuts: &mut Option<tokio::sync::MutexGuard<'_, mpsc::Receiver<Cut>>>,
) -> Option<Cut> {
    match cuts {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The sync is at the cut: every row up to it is committed and none after.
/// Opens the verifier's target snapshot there (or, for a repair, waits until
/// the verifier has written).
async fn reach(pending: Option<Pending>, hook: Option<&Hook>) {
    let Some(Pending { cut, dirty }) = pending else {
        return;
    };
    let Cut {
        mut conn,
        hold,
        reply,
        ..
    } = cut;
    if !hold
        && conn
            .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await
            .is_err()
    {
        return;
    }
    let seq = hook.map_or(0, |h| h.touches.seq());
    let (release, released) = tokio::sync::oneshot::channel();
    let sent = reply.send(Reached {
        conn,
        dirty,
        seq,
        release: hold.then_some(release),
    });
    if hold && sent.is_ok() {
        // The verifier rewrites the range on the target meanwhile.
        let _ = released.await;
    }
}

/// What the batch changed, for the verifier: each row's key range (see
/// `verify::cut::Touches`); a statement may have changed any table.
fn record_touches(
    hook: &Hook,
    batch: &[Transaction],
    tables: &HashMap<(String, String), TableMap>,
    applied: &Position,
    statement: bool,
) {
    let Some(mut marks) = hook.touches.batch() else {
        return;
    };
    // The table is looked up once per run of its rows; a row's key values
    // (none for a keyless table) go in one reused list.
    let mut current: Option<(&(String, String), Option<&TableMap>)> = None;
    let mut key: Vec<&mysql_async::Value> = Vec::new();
    for tc in batch.iter().flat_map(|t| &t.changes) {
        let map = match current {
            Some((table, map)) if *table == tc.table => map,
            _ => {
                let map = tables.get(&tc.table);
                current = Some((&tc.table, map));
                map
            }
        };
        let Some(map) = map else {
            continue;
        };
        let rows: [Option<&[mysql_async::Value]>; 2] = match &tc.change {
            super::reader::Change::Insert { after } => [Some(after), None],
            super::reader::Change::Delete { before } => [Some(before), None],
            super::reader::Change::Update { before, after } => [Some(before), Some(after)],
        };
        for row in rows.into_iter().flatten() {
            key.clear();
            let keyed = !map.key.is_empty()
                && map
                    .key
                    .iter()
                    .all(|&i| row.get(i).map(|v| key.push(v)).is_some());
            marks.touch(&tc.table, keyed.then_some(key.as_slice()));
        }
    }
    if statement {
        marks.touch_all();
    }
    marks.done(applied);
}

/// A table created during the sync may be the first of its schema (a job made
/// before its tables, as DM's tasks are): its target schema is created first,
/// with the source schema's character set and collation, which a CREATE TABLE
/// without its own inherits.
async fn ensure_target_schema(
    setup: &SyncSetup<'_>,
    source_schema: &str,
    target_schema: &str,
) -> Result<(), ReplicateError> {
    let mut target = setup
        .ends
        .target
        .conn()
        .await
        .map_err(|e| ReplicateError::connect("target", e))?;
    let exists = crate::catalog::schema_defaults(&mut target, target_schema)
        .await
        .map_err(|e| ReplicateError::target("looking for the target schema", e))?;
    if exists.is_some() {
        return Ok(());
    }
    let mut source = setup
        .ends
        .source
        .conn()
        .await
        .map_err(|e| ReplicateError::connect("source", e))?;
    let defaults = crate::catalog::schema_defaults(&mut source, source_schema)
        .await
        .map_err(ReplicateError::source)?;
    let mut sql = format!(
        "CREATE DATABASE IF NOT EXISTS {}",
        crate::mysql::quote(target_schema)
    );
    if let Some((charset, collation)) = defaults {
        // Names the server itself reported, checked to be plain words.
        let word = |w: &str| w.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if word(&charset) && word(&collation) {
            sql.push_str(&format!(" CHARACTER SET {charset} COLLATE {collation}"));
        }
    }
    tracing::info!(%sql, "creating the schema of a table created during the sync");
    target
        .query_drop(sql)
        .await
        .map_err(|e| ReplicateError::target("creating the target schema", e))
}

/// What a request does to a following sync, from this process or from the job's
/// control row alike: the outcome that ends it, or, for a cutover, the drain
/// that now runs (see `cutover`).
async fn on_request(
    setup: &SyncSetup<'_>,
    drain: &mut Drain,
    status: &mut SyncStatus,
    request: Request,
) -> Result<Option<Outcome>, ReplicateError> {
    match request {
        Request::Abort => return Ok(Some(Outcome::Aborted)),
        Request::Pause => return Ok(Some(Outcome::Paused)),
        Request::Complete { .. } if setup.standby => {
            tracing::warn!("complete asked of a standby (cutover = \"never\"); ignored");
        }
        Request::Complete {
            freeze_source,
            accept_late,
        } => {
            let mark = freeze_and_mark(setup, freeze_source).await?;
            drain.request(mark, freeze_source, accept_late);
            status.state = "completing".into();
            status.cutover = drain.status();
        }
    }
    Ok(None)
}

/// Cutover steps 2 and 3: freezes the source when asked, then returns the drain
/// position (the source's position after the freeze).
async fn freeze_and_mark(setup: &SyncSetup<'_>, freeze: bool) -> Result<Position, ReplicateError> {
    let mut conn = setup
        .ends
        .source
        .conn()
        .await
        .map_err(|e| ReplicateError::connect("source", e))?;
    if freeze {
        conn.query_drop("SET GLOBAL read_only = ON")
            .await
            .map_err(|e| ReplicateError::Freeze {
                cause: e.to_string(),
            })?;
    }
    crate::position::current(&mut conn, setup.ends.flavor)
        .await
        .map_err(ReplicateError::source)
}

/// Applies one statement from the binlog to the target (see `ddl`), checkpoints
/// after it and returns the table maps as they are after it.
/// `copying`: the statement falls inside a chunked copy's reads (before its
/// catch-up ends), where a change to a selected table cannot be followed.
#[allow(clippy::too_many_arguments)]
async fn apply_statement(
    setup: &SyncSetup<'_>,
    applier: &mut Applier,
    tables: &Arc<HashMap<(String, String), TableMap>>,
    statement: &super::reader::Statement,
    end: &Position,
    requests: &mut Requests,
    status: &mut SyncStatus,
    copying: bool,
) -> Result<Stmt, ReplicateError> {
    use super::ddl::{self, Plan};
    let position = end.to_string();
    let mut control = setup
        .ends
        .target
        .conn()
        .await
        .map_err(|e| ReplicateError::connect("target", e))?;
    let decision = setup
        .ends
        .meta
        .ddl_decision(&mut control, &position)
        .await
        .map_err(|e| ReplicateError::target("reading DDL decisions", e))?;
    // A refused statement stops the sync; the log and the report keep it.
    let refuse = |cause: String| {
        setup.sink.emit(JobEvent::Ddl {
            statement: statement.sql.clone(),
            outcome: format!("refused: {cause}"),
            position: position.clone(),
        });
        ReplicateError::Ddl {
            position: position.clone(),
            statement: statement.sql.clone(),
            cause,
        }
    };
    let mut plan = ddl::plan(statement, setup.matcher, tables);
    // The tables the statement is about: for the filters, and for the job's
    // record of each table's last DDL.
    let named: Vec<(String, String)> = match &plan {
        Plan::Apply {
            refresh,
            forget,
            renamed,
            ..
        } => refresh
            .iter()
            .chain(forget)
            .chain(renamed.iter().map(|(old, _)| old))
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    if copying && decision.is_none() && !named.is_empty() {
        return Err(ReplicateError::DdlDuringCopy {
            position,
            statement: statement.sql.clone(),
            tables: named
                .iter()
                .map(|(s, t)| format!("{s}.{t}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut outcome = match &decision {
        Some(DdlDecision::Skip) => "skipped by decision".to_string(),
        Some(DdlDecision::Replace(sql)) => format!("replaced by decision: {sql}"),
        _ => "applied".to_string(),
    };
    match &decision {
        Some(DdlDecision::Skip) => {
            tracing::warn!(%position, sql = %statement.sql, "skipping a DDL as decided");
            plan = Plan::Ignore;
        }
        Some(DdlDecision::Replace(sql)) => {
            tracing::warn!(%position, original = %statement.sql, replacement = %sql, "running the replacement DDL");
            // The replacement is written for the target: it runs in the target
            // schema of the table the original statement changes.
            let target_schema = |names: &[(String, String)]| {
                names
                    .first()
                    .map(|(s, t)| setup.matcher.route(s, t).0)
                    .or_else(|| Some(statement.schema.clone()).filter(|s| !s.is_empty()))
            };
            plan = match plan {
                Plan::Apply {
                    refresh,
                    forget,
                    renamed,
                    ..
                } => Plan::Apply {
                    sql: sql.clone(),
                    use_schema: target_schema(&refresh),
                    refresh,
                    forget,
                    renamed,
                },
                // Unparsed or ignored: run it for the tables it names.
                _ => Plan::Apply {
                    sql: sql.clone(),
                    use_schema: Some(statement.schema.clone()).filter(|s| !s.is_empty()),
                    refresh: tables.keys().cloned().collect(),
                    forget: Vec::new(),
                    renamed: Vec::new(),
                },
            };
        }
        _ => {}
    }
    // Without a decision the plan is the statement's own, so `named` is what it
    // touches.
    if decision.is_none()
        && matches!(plan, Plan::Apply { .. })
        && setup
            .filters
            .skips_ddl(ddl::kind(&statement.sql), &named, &statement.sql)
    {
        tracing::info!(%position, sql = %statement.sql, "DDL left out by a filter");
        plan = Plan::Ignore;
        outcome = "left out by a filter".into();
    }
    let mut passing = None;
    if let (Some(member), Plan::Apply { .. }) = (setup.shard, &plan) {
        match shard_gate(
            setup, member, &mut plan, tables, statement, &position, requests, status,
        )
        .await
        {
            Ok(Gate::Go(p)) => passing = p,
            Ok(Gate::Stopped(outcome)) => return Ok(Stmt::Stopped(outcome)),
            Err(e) => {
                if let ReplicateError::ShardDdl { cause, .. } = &e {
                    let _ = setup
                        .ends
                        .meta
                        .ddl_refused(&mut control, &position, &statement.sql, cause)
                        .await;
                }
                return Err(e);
            }
        }
    }
    let maps = match plan {
        Plan::Ignore => {
            applier.checkpoint(end).await?;
            tables.clone()
        }
        Plan::Unparsed {
            tables: names,
            cause,
        } => {
            let cause = format!(
                "it names {} but Ferry cannot parse it ({cause})",
                names.join(", ")
            );
            let _ = setup
                .ends
                .meta
                .ddl_refused(&mut control, &position, &statement.sql, &cause)
                .await;
            return Err(refuse(cause));
        }
        Plan::Apply {
            sql,
            use_schema,
            refresh,
            forget,
            renamed,
        } => {
            if !sql.is_empty() {
                if ddl::creates_table(&sql) {
                    for name in &refresh {
                        let (ts, _) = ddl::route_of(setup.matcher, tables, name);
                        ensure_target_schema(setup, &name.0, &ts).await?;
                    }
                }
                tracing::info!(%sql, "applying DDL from the binlog");
                let ran = match applier.ddl(&sql, use_schema.as_deref()).await {
                    Ok(ran) => ran,
                    Err(ReplicateError::Ddl { cause, .. }) => {
                        let _ = setup
                            .ends
                            .meta
                            .ddl_refused(&mut control, &position, &statement.sql, &cause)
                            .await;
                        return Err(refuse(cause));
                    }
                    Err(other) => return Err(other),
                };
                if !ran && decision.is_none() {
                    outcome = "already on the target".into();
                }
                if decision.is_none() && sql != statement.sql {
                    outcome = format!("{outcome} (ran: {sql})");
                }
                crate::failpoint::hit("ddl.applied");
            }
            let mut maps = ddl::without(tables, &forget, &renamed);
            // `refresh` holds every table the statement leaves synced, renamed
            // ones under their new names.
            for (schema, name) in refresh {
                let (ts, tn) =
                    ddl::route_of(setup.matcher, tables, &(schema.clone(), name.clone()));
                let catalog = crate::catalog::Catalog::load(setup.ends.target, |s| s == ts)
                    .await
                    .map_err(|e| ReplicateError::Target {
                        what: format!("reading {ts}.{tn} after DDL"),
                        cause: e.to_string(),
                        error: None,
                    })?;
                if let Some(t) = catalog.table(&ts, &tn) {
                    let parent = catalog
                        .cascade_parents()
                        .contains(&(ts.clone(), tn.clone()));
                    let map = TableMap::new(t, &ts, &tn)
                        .filtered(setup.filters, &schema, &name)
                        .cascading(parent);
                    maps.insert((schema, name), map);
                }
            }
            // A table created or altered with a foreign key makes its parent a
            // cascade parent (or no longer one): look again in the schemas touched.
            let schemas: std::collections::HashSet<String> =
                maps.values().map(|m| m.target_schema.clone()).collect();
            let catalog = crate::catalog::Catalog::load(setup.ends.target, |s| schemas.contains(s))
                .await
                .map_err(|e| ReplicateError::Target {
                    what: "reading foreign keys after DDL".into(),
                    cause: e.to_string(),
                    error: None,
                })?;
            let parents = catalog.cascade_parents();
            for m in maps.values_mut() {
                m.cascade_parent =
                    parents.contains(&(m.target_schema.clone(), m.target_name.clone()));
            }
            applier.checkpoint(end).await?;
            Arc::new(maps)
        }
    };
    if let (Some(member), Some((shard, target, applied))) = (setup.shard, passing) {
        if applied {
            member.locks.resolved(&target);
        }
        member
            .locks
            .passed(setup.ends.target, &shard, &target)
            .await
            .map_err(|e| lock_error(e, &position, &statement.sql))?;
    }
    let _ = setup.ends.meta.ddl_passed(&mut control, &position).await;
    if !named.is_empty() || decision.is_some() {
        setup.sink.emit(JobEvent::Ddl {
            statement: statement.sql.clone(),
            outcome: outcome.clone(),
            position: position.clone(),
        });
    }
    for (schema, table) in named {
        status.note_ddl(crate::events::TableDdl {
            schema,
            table,
            statement: statement.sql.clone(),
            outcome: outcome.clone(),
            position: position.clone(),
        });
    }
    Ok(Stmt::Maps(maps))
}

/// What the shard lock lets a statement do.
enum Gate {
    /// Go on (with the statement's SQL cleared when another shard ran it); the
    /// shard and table to mark passed after the checkpoint, and whether this shard
    /// ran the statement.
    Go(Option<(crate::shard::ShardId, (String, String), bool)>),
    Stopped(Outcome),
}

fn lock_error(e: crate::shard::LockFailure, position: &str, statement: &str) -> ReplicateError {
    match e {
        crate::shard::LockFailure::Conflict(c) => ReplicateError::ShardDdl {
            position: position.to_string(),
            statement: statement.to_string(),
            target: c.target,
            cause: c.cause,
            shards: c
                .shards
                .iter()
                .map(|(s, sql)| format!("{s}: {sql}"))
                .collect::<Vec<_>>()
                .join("; "),
        },
        crate::shard::LockFailure::Target(cause) => ReplicateError::Target {
            what: "recording the shard DDL lock".into(),
            cause,
            error: None,
        },
    }
}

/// A DDL of a merged table waits at its lock (see `shard::lock`); one that drops
/// or renames a shard is not run on the merged table.
#[allow(clippy::too_many_arguments)]
async fn shard_gate(
    setup: &SyncSetup<'_>,
    member: &crate::shard::Member,
    plan: &mut super::ddl::Plan,
    tables: &Arc<HashMap<(String, String), TableMap>>,
    statement: &super::reader::Statement,
    position: &str,
    requests: &mut Requests,
    status: &mut SyncStatus,
) -> Result<Gate, ReplicateError> {
    use super::ddl::{self, Plan};
    let Plan::Apply {
        sql,
        refresh,
        forget,
        renamed,
        ..
    } = plan
    else {
        return Ok(Gate::Go(None));
    };
    if sql.is_empty() {
        return Ok(Gate::Go(None));
    }
    let locks = &member.locks;
    let route = |n: &(String, String)| ddl::route_of(setup.matcher, tables, n);
    let shard_of = |n: &(String, String)| crate::shard::ShardId {
        source: member.source.clone(),
        schema: n.0.clone(),
        table: n.1.clone(),
    };
    let gone: Vec<&(String, String)> = forget
        .iter()
        .chain(renamed.iter().map(|(old, _)| old))
        .filter(|n| locks.is_merged(&route(n)))
        .collect();
    if !gone.is_empty() {
        // DM's pessimistic mode too leaves the merged table alone when one shard
        // goes away: the other shards' rows still live in it.
        for n in &gone {
            locks.forget(&shard_of(n));
        }
        setup.sink.warn(crate::error::Report {
            code: "replicate.shard_ddl_skipped".into(),
            message: format!(
                "{} drops or renames a shard of a merged table; the merged table is left as it is: {}",
                member.source, statement.sql
            ),
            remedy: "nothing to do if the shard was retired; drop or rename the merged table on the target yourself when every shard is gone".into(),
        });
        sql.clear();
        return Ok(Gate::Go(None));
    }
    let merged: Vec<&(String, String)> = refresh
        .iter()
        .filter(|n| locks.is_merged(&route(n)))
        .collect();
    let Some(first) = merged.first() else {
        return Ok(Gate::Go(None));
    };
    let (shard, target) = (shard_of(first), route(first));
    if let Some(indexes) = &member.indexes {
        if let Some(outcome) = indexes_built(indexes, requests, status, setup).await {
            return Ok(Gate::Stopped(outcome));
        }
    }
    let err = |e| lock_error(e, position, &statement.sql);
    let arrival = locks
        .arrive(setup.ends.target, &shard, &target, sql, position)
        .await
        .map_err(err)?;
    let mut rx = match arrival {
        crate::shard::Arrival::Unmerged => return Ok(Gate::Go(None)),
        crate::shard::Arrival::Apply => return Ok(Gate::Go(Some((shard, target, true)))),
        crate::shard::Arrival::Rerun => return Ok(Gate::Go(Some((shard, target, false)))),
        crate::shard::Arrival::Wait(rx) => rx,
    };
    tracing::info!(%shard, sql = %sql, "DDL of a merged table waits for the other shards");
    let mut control = setup
        .ends
        .target
        .conn()
        .await
        .map_err(|e| ReplicateError::connect("target", e))?;
    let mut later = None;
    let state = std::mem::replace(&mut status.state, "waiting".into());
    let result = loop {
        status.shard_locks = locks.status();
        setup.sink.emit(JobEvent::Sync(status.clone()));
        save_status(setup, status).await;
        let request = tokio::select! {
            r = locks.wait(&mut rx, &shard, &target) => break r.map(|()| None).map_err(err),
            r = requests.recv() => Some(r),
            _ = tokio::time::sleep(TICK) => setup
                .ends.meta
                .take_request(&mut control)
                .await
                .map_err(|e| ReplicateError::target("reading requests", e))?,
        };
        match request {
            Some(Request::Pause) => {
                locks.leave(&shard, &target);
                break Ok(Some(Outcome::Paused));
            }
            Some(Request::Abort) => {
                locks.leave(&shard, &target);
                break Ok(Some(Outcome::Aborted));
            }
            // A cutover waits for the lock: the shards' rows after it are not in yet.
            Some(r @ Request::Complete { .. }) => later = Some(r),
            None => {}
        }
    };
    status.state = state;
    status.shard_locks = locks.status();
    if let Some(r) = later {
        requests.hold(r);
    }
    match result? {
        Some(outcome) => Ok(Gate::Stopped(outcome)),
        None => {
            sql.clear();
            Ok(Gate::Go(Some((shard, target, false))))
        }
    }
}

/// Waits until the merged tables' deferred indexes are built (a DDL must not
/// change a table under their recorded definitions), or the sync is paused or
/// aborted meanwhile. A cutover asked meanwhile waits its turn.
async fn indexes_built(
    indexes: &crate::shard::MergedIndexes,
    requests: &mut Requests,
    status: &mut SyncStatus,
    setup: &SyncSetup<'_>,
) -> Option<Outcome> {
    let state = std::mem::replace(&mut status.state, "waiting".into());
    setup.sink.emit(JobEvent::Sync(status.clone()));
    let mut later = None;
    let outcome = loop {
        tokio::select! {
            _ = indexes.built() => break None,
            r = requests.recv() => match r {
                Request::Pause => break Some(Outcome::Paused),
                Request::Abort => break Some(Outcome::Aborted),
                r @ Request::Complete { .. } => later = Some(r),
            },
        }
    };
    status.state = state;
    if let Some(r) = later {
        requests.hold(r);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::{far_behind, lag, Position, BEHIND_BYTES};

    #[test]
    fn a_batch_waits_for_more_only_when_the_source_is_far_ahead() {
        let at = |file: &str, pos: u64| Position {
            file: Some(file.into()),
            pos: Some(pos),
            gtid: None,
        };
        let batch = at("binlog.000009", 1000);
        let gtid_only = Position {
            file: None,
            pos: None,
            gtid: Some("0-1-5".into()),
        };
        assert!(!far_behind(&gtid_only, &batch));
        assert!(!far_behind(
            &at("binlog.000009", 1000 + BEHIND_BYTES),
            &batch
        ));
        assert!(far_behind(
            &at("binlog.000009", 1001 + BEHIND_BYTES),
            &batch
        ));
        assert!(far_behind(&at("binlog.000010", 4), &batch));
        assert!(far_behind(
            &at("binlog.1000000", 4),
            &at("binlog.999999", 4)
        ));
        // A poll from before a rotation the reader has passed.
        assert!(!far_behind(&at("binlog.000008", 9 << 20), &batch));
    }

    #[test]
    fn an_idle_stretch_before_a_burst_is_not_lag() {
        // Synced at 1000 after a last commit at 940; a burst starts at 1000.
        assert_eq!(lag(1000.0, true, Some(940), Some(1000.0)), Some(0.0));
        assert_eq!(lag(1000.5, false, Some(940), Some(1000.0)), Some(0.5));
        // A long backlog: the last applied commit is the tighter bound.
        assert_eq!(lag(2000.0, false, Some(1990), Some(1000.0)), Some(10.0));
        // Behind with nothing applied yet: unknown, not "no lag".
        assert_eq!(lag(2000.0, false, None, None), None);
        assert_eq!(lag(2000.0, true, None, None), Some(0.0));
        assert_eq!(lag(2000.0, false, Some(1970), None), Some(30.0));
    }
}
