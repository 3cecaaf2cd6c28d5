//! Continuous verification: while the sync runs, a background task compares
//! the source and the target key range by range, each range at one point of
//! the source's binlog on both sides (see `cut`), so the cutover has only the
//! ranges changed since to compare again.
//!
//! Per round it takes the ranges that most need it — never compared, changed
//! by the sync since they were found equal, differing, then the longest ago —
//! checksums them in a consistent snapshot of the source (the per-row CRC32
//! the cutover's verification uses: no row leaves either server), asks the
//! sync for the matching cut, and checksums them in the target's snapshot
//! there. A cut the sync dirtied puts the ranges back. A differing range names
//! up to five keys, compared in the same two snapshots.
//!
//! It takes a share of the servers' time (`verify_share`, percent): after a
//! round that worked W seconds it waits W × (100 − share) / share; and it
//! waits while the sync lags more than [`LAG_LIMIT`]. A repair (asked through
//! the ledger, see `ledger::request_repair`) re-copies one range from a source
//! snapshot while the sync waits at the matching cut.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};
use tokio::sync::{mpsc, oneshot, watch};

use super::cut::{Cut, Hook, Reached, TableName};
use super::ledger::{self, Range, TableLedger, Verdict};
use super::{checksum_sql, differing_in, read_sums, session, show_bound, show_lower, Spec};
use crate::catalog::Table;
use crate::checkpoint::{quote, Meta};
use crate::endpoint::{Endpoint, Flavor};
use crate::events::{ChunkMismatch, RangeDifference};
use crate::position::{self, Position};
use crate::snapshot::plan::{plan_table, range_predicate};

/// Above this lag the verifier waits: the sync comes first.
pub const LAG_LIMIT: Duration = Duration::from_secs(2);
/// Ranges compared per round (one cut each round)...
const RANGES_PER_ROUND: usize = 16;
/// ...of which up to this many are the ones verified longest ago, so a change
/// made behind the sync's back is found even while the sync keeps others busy.
const OLDEST_PER_ROUND: usize = 4;
/// How long a round waits for the sync to reach its cut.
const CUT_WAIT: Duration = Duration::from_secs(30);
/// The least rest between rounds, and between rounds that only look again
/// at verified ranges.
const MIN_REST: Duration = Duration::from_millis(200);
const IDLE_REST: Duration = Duration::from_secs(2);
/// Differences listed in the status.
const LISTED: usize = 50;
/// Rows a repair writes per statement.
const REPAIR_ROWS: usize = 256;

/// A table the job follows, as the verifier sees it.
pub struct Candidate<'a> {
    pub name: TableName,
    pub target: TableName,
    pub table: &'a Table,
    /// Why it is compared at the cutover only, if it is.
    pub not_continuous: Option<String>,
    /// Selected tables whose rows a change of this one can change (children
    /// with ON DELETE / ON UPDATE actions).
    pub children: Vec<TableName>,
}

/// What the verifier needs, fixed for a run.
pub struct Settings {
    pub flavor: Flavor,
    pub chunk_bytes: u64,
    /// Percent of the servers' time it may take (1–100).
    pub share: u8,
    /// The sync's start: stored verdicts hold if they were saved as of it.
    pub resume: Position,
}

/// A running verifier: stop it to get its ledger back.
pub struct Running {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Vec<TableLedger>>,
}

impl Running {
    /// Stops the verifier after its current step (the ledger saved) and gives
    /// its tables back.
    pub async fn stop(self) -> Vec<TableLedger> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_default()
    }
}

/// Starts the verifier beside the sync.
pub fn start(
    source: &Endpoint,
    target: &Endpoint,
    meta: &Meta,
    candidates: Vec<Candidate<'_>>,
    settings: Settings,
    hook: Arc<Hook>,
    cuts: mpsc::Sender<Cut>,
) -> Running {
    let (stop, stopped) = watch::channel(false);
    let mut not_continuous = Vec::new();
    let mut planned = Vec::new();
    for c in candidates {
        match &c.not_continuous {
            Some(why) => not_continuous.push(format!("{}.{}: {why}", c.name.0, c.name.1)),
            None => planned.push(Plan {
                spec: spec_of(&c),
                table: c.table.clone(),
                name: c.name,
                target: c.target,
                children: c.children,
            }),
        }
    }
    let verifier = Verifier {
        source: source.clone(),
        target: target.clone(),
        meta: meta.clone(),
        settings,
        hook,
        cuts,
        stopped,
        tables: Vec::new(),
        not_continuous,
        compared: 0,
        requeued: 0,
        detail: None,
        asked: HashSet::new(),
    };
    let task = tokio::spawn(verifier.run(planned));
    Running { stop, task }
}

fn spec_of(c: &Candidate<'_>) -> Spec {
    Spec {
        columns: super::data_columns(c.table),
        key: c
            .table
            .row_key()
            .map(|k| k.columns.clone())
            .unwrap_or_default(),
        src_fqn: format!("{}.{}", quote(&c.name.0), quote(&c.name.1)),
        dst_fqn: format!("{}.{}", quote(&c.target.0), quote(&c.target.1)),
    }
}

/// A table before its ranges are known.
struct Plan {
    name: TableName,
    target: TableName,
    table: Table,
    spec: Spec,
    children: Vec<TableName>,
}

struct Verifier {
    source: Endpoint,
    target: Endpoint,
    meta: Meta,
    settings: Settings,
    hook: Arc<Hook>,
    cuts: mpsc::Sender<Cut>,
    stopped: watch::Receiver<bool>,
    tables: Vec<(TableLedger, Spec)>,
    not_continuous: Vec<String>,
    compared: u64,
    requeued: u64,
    /// Why the last step could not be done, shown until one is.
    detail: Option<String>,
    /// Ranges a repair was asked for, as last read.
    asked: HashSet<(TableName, u32)>,
}

/// The verifier's connections; each is opened again after a failure.
#[derive(Default)]
struct Conns {
    source: Option<Conn>,
    target: Option<Conn>,
    meta: Option<Conn>,
}

/// Why a step did not compare anything.
enum Missed {
    /// The sync dirtied the cut, or did not reach it in time: later.
    Again,
    /// A query failed.
    Failed(String),
}

impl Verifier {
    async fn run(mut self, planned: Vec<Plan>) -> Vec<TableLedger> {
        self.show("starting", None);
        let mut conns = Conns::default();
        while !self.is_stopped() && self.tables.is_empty() && !planned.is_empty() {
            match self.plan(&mut conns, &planned).await {
                Ok(()) => break,
                Err(e) => {
                    self.show("waiting", Some(e));
                    self.pause(Duration::from_secs(5)).await;
                }
            }
        }
        while !self.is_stopped() {
            if !self.hook.shared.is_ready() {
                self.show("waiting", Some("for the sync to be consistent".into()));
                self.pause(Duration::from_secs(1)).await;
                continue;
            }
            let lag_ms = self.hook.shared.lag_ms();
            if lag_ms == super::cut::LAG_UNKNOWN {
                self.show("waiting", Some("for the sync to measure its lag".into()));
                self.pause(Duration::from_secs(1)).await;
                continue;
            }
            let lag = Duration::from_millis(lag_ms);
            if lag > LAG_LIMIT {
                self.show(
                    "waiting",
                    Some(format!(
                        "the sync lags {:.1} s; verification resumes below {} s",
                        lag.as_secs_f64(),
                        LAG_LIMIT.as_secs()
                    )),
                );
                self.pause(Duration::from_secs(1)).await;
                continue;
            }
            let began = Instant::now();
            let needed = self.needs_comparing();
            let step = self.step(&mut conns).await;
            let worked = began.elapsed();
            match step {
                Ok(()) => self.detail = None,
                Err(Missed::Again) => {}
                Err(Missed::Failed(why)) => {
                    tracing::warn!(%why, "continuous verification step failed");
                    self.detail = Some(why);
                    conns = Conns::default();
                }
            }
            self.save(&mut conns).await;
            self.refresh();
            let share = u32::from(self.settings.share.clamp(1, 100));
            let rest = worked * (100 - share) / share;
            // Everything verified: the next rounds only look again, slowly.
            let least = if needed { MIN_REST } else { IDLE_REST };
            self.pause(rest.max(least)).await;
        }
        self.save(&mut conns).await;
        let tables = std::mem::take(&mut self.tables);
        self.show("stopped", None);
        tables.into_iter().map(|(t, _)| t).collect()
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    /// Sleeps `d`, or less when asked to stop.
    async fn pause(&mut self, d: Duration) {
        let mut stopped = self.stopped.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stopped.changed() => {}
        }
    }

    /// The ranges of every table: from the ledger where it has them, planned
    /// on the source otherwise.
    async fn plan(&mut self, conns: &mut Conns, planned: &[Plan]) -> Result<(), String> {
        let meta = conn(&mut conns.meta, &self.target, false).await?;
        let mut stored = ledger::load(&self.meta, meta, &self.settings.resume).await?;
        self.compared = stored.compared;
        self.requeued = stored.requeued;
        let source = conn(&mut conns.source, &self.source, true).await?;
        let mut tables = Vec::new();
        for p in planned {
            let ranges = match stored.tables.remove(&p.name) {
                Some(ranges) if !ranges.is_empty() => ranges,
                _ => plan_table(source, &p.table, self.settings.chunk_bytes)
                    .await
                    .map_err(|e| format!("planning {}: {e}", p.spec.src_fqn))?
                    .into_iter()
                    .map(|c| Range::new(c.lower, c.upper))
                    .collect(),
            };
            let uppers: Vec<_> = ranges.iter().map(|r| r.upper.clone()).collect();
            self.hook
                .touches
                .track(p.name.clone(), &uppers, p.children.clone());
            tables.push((
                TableLedger {
                    name: p.name.clone(),
                    target: p.target.clone(),
                    columns: p.spec.columns.clone(),
                    key: p.spec.key.clone(),
                    ranges,
                },
                p.spec.clone(),
            ));
        }
        self.tables = tables;
        self.refresh();
        Ok(())
    }

    /// One step: a repair if one was asked, else a round of comparisons.
    async fn step(&mut self, conns: &mut Conns) -> Result<(), Missed> {
        let meta = conn(&mut conns.meta, &self.target, false)
            .await
            .map_err(Missed::Failed)?;
        let asked = ledger::repairs(&self.meta, meta)
            .await
            .map_err(|e| Missed::Failed(format!("reading repair requests: {e}")))?;
        self.asked = asked.iter().cloned().collect();
        if let Some((table, chunk)) = asked.into_iter().next() {
            return self.repair(conns, &table, chunk as usize).await;
        }
        let picks = self.pick();
        if picks.is_empty() {
            return Ok(());
        }
        self.compare(conns, &picks).await
    }

    /// Some range is not verified now (or a repair may be waiting).
    fn needs_comparing(&self) -> bool {
        let touches = &self.hook.touches;
        self.tables
            .iter()
            .any(|(t, _)| (0..t.ranges.len()).any(|i| !t.verified(i, touches)))
    }

    /// The ranges to compare next: never compared, changed since found equal,
    /// differing, then the longest ago.
    fn pick(&self) -> Vec<(usize, usize)> {
        let touches = &self.hook.touches;
        let mut all: Vec<(u8, Option<Instant>, usize, usize)> = Vec::new();
        for (ti, (t, _)) in self.tables.iter().enumerate() {
            for (ri, r) in t.ranges.iter().enumerate() {
                let class = match &r.verdict {
                    Verdict::Unchecked => 0,
                    Verdict::Stale => 1,
                    Verdict::Equal { .. } if !t.verified(ri, touches) => 1,
                    Verdict::Differs(_) => 2,
                    Verdict::Equal { .. } => 3,
                };
                all.push((class, r.checked, ti, ri));
            }
        }
        all.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        let (fresh, needed): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| c.0 == 3);
        let oldest = fresh
            .len()
            .min(OLDEST_PER_ROUND.max(RANGES_PER_ROUND.saturating_sub(needed.len())));
        let mut picks: Vec<_> = fresh.into_iter().take(oldest).collect();
        picks.extend(needed.into_iter().take(RANGES_PER_ROUND - picks.len()));
        picks.into_iter().map(|(_, _, t, r)| (t, r)).collect()
    }

    /// Opens a consistent snapshot on the verifier's source connection: where
    /// in the binlog it lies (see [`snapshot_at`]).
    async fn source_snapshot(&self, conns: &mut Conns) -> Result<(Position, Position), Missed> {
        let source = conn(&mut conns.source, &self.source, true)
            .await
            .map_err(Missed::Failed)?;
        snapshot_at(source, self.settings.flavor)
            .await
            .map_err(|e| Missed::Failed(format!("opening a source snapshot: {e}")))
    }

    /// Compares `picks` at one cut.
    async fn compare(&mut self, conns: &mut Conns, picks: &[(usize, usize)]) -> Result<(), Missed> {
        let (from, to) = self.source_snapshot(conns).await?;
        // The cut is asked for at once: the sync must not pass `from` before
        // it has it. The source's ranges are summed while it gets there.
        let tables: HashSet<TableName> = picks
            .iter()
            .map(|&(t, _)| self.tables[t].0.name.clone())
            .collect();
        let answer = self.ask(conns, tables, &from, &to, false).await?;
        let Some(source) = conns.source.as_mut() else {
            return Err(Missed::Failed("the source connection was lost".into()));
        };
        let mut mine = Vec::new();
        for &(t, r) in picks {
            let sums = sums(source, &self.tables[t].1, &self.tables[t].0.ranges[r], true).await;
            match sums {
                Ok(s) => mine.push(s),
                Err(e) => {
                    let _ = source.query_drop("COMMIT").await;
                    return Err(Missed::Failed(format!(
                        "checksumming {} on the source: {e}",
                        self.tables[t].1.src_fqn
                    )));
                }
            }
        }
        let reached = self.answer(answer).await;
        let source = conns.source.as_mut();
        let Some(Reached {
            conn: mut tgt,
            dirty,
            seq,
            ..
        }) = reached
        else {
            if let Some(s) = source {
                let _ = s.query_drop("COMMIT").await;
            }
            self.requeued += picks.len() as u64;
            return Err(Missed::Again);
        };
        let Some(source) = source else {
            return Err(Missed::Failed("the source connection was lost".into()));
        };
        if dirty {
            let _ = tokio::join!(source.query_drop("COMMIT"), tgt.query_drop("COMMIT"));
            conns.target = Some(tgt);
            self.requeued += picks.len() as u64;
            return Err(Missed::Again);
        }
        let at = to.to_string();
        let mut outcome = Ok(());
        for (&(t, r), mine) in picks.iter().zip(mine) {
            let (ledger, spec) = &self.tables[t];
            let range = &ledger.ranges[r];
            let theirs = match sums(&mut tgt, spec, range, false).await {
                Ok(s) => s,
                Err(e) => {
                    outcome = Err(Missed::Failed(format!(
                        "checksumming {} on the target: {e}",
                        spec.dst_fqn
                    )));
                    break;
                }
            };
            let verdict = if mine == theirs {
                Verdict::Equal { seq }
            } else {
                let samples = if mine.0.max(theirs.0) <= super::SAMPLE_MAX_ROWS {
                    differing_in(source, &mut tgt, spec, &range.lower, &range.upper)
                        .await
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
                Verdict::Differs(ChunkMismatch {
                    chunk: r as u32,
                    range: format!(
                        "({} .. {}]",
                        show_lower(&range.lower),
                        show_bound(&range.upper)
                    ),
                    source_rows: mine.0,
                    target_rows: theirs.0,
                    samples,
                })
            };
            let range = &mut self.tables[t].0.ranges[r];
            range.verdict = verdict;
            range.position = at.clone();
            range.rows = mine.0;
            range.checked = Some(Instant::now());
            range.unsaved = true;
            self.compared += 1;
        }
        let _ = tokio::join!(source.query_drop("COMMIT"), tgt.query_drop("COMMIT"));
        conns.target = Some(tgt);
        outcome
    }

    /// Asks the sync for a cut between `from` and `to`, and waits for it:
    /// `None` when it was not reached in time (or the sync stopped).
    async fn cut(
        &mut self,
        conns: &mut Conns,
        tables: HashSet<TableName>,
        from: &Position,
        to: &Position,
        hold: bool,
    ) -> Result<Option<Reached>, Missed> {
        let answer = self.ask(conns, tables, from, to, hold).await?;
        Ok(self.answer(answer).await)
    }

    /// The sync at the cut asked for (see [`Verifier::ask`]), or `None` when
    /// it was not reached in time, or the sync stopped or refused it.
    async fn answer(&self, answer: Option<oneshot::Receiver<Reached>>) -> Option<Reached> {
        let answer = answer?;
        let mut stopped = self.stopped.clone();
        tokio::select! {
            r = tokio::time::timeout(CUT_WAIT, answer) => r.ok().and_then(Result::ok),
            _ = stopped.changed() => None,
        }
    }

    /// Hands the sync a cut between `from` and `to` (with the verifier's target
    /// connection); the receiver of its answer, `None` when no sync takes cuts.
    async fn ask(
        &mut self,
        conns: &mut Conns,
        tables: HashSet<TableName>,
        from: &Position,
        to: &Position,
        hold: bool,
    ) -> Result<Option<oneshot::Receiver<Reached>>, Missed> {
        conn(&mut conns.target, &self.target, true)
            .await
            .map_err(Missed::Failed)?;
        let Some(tgt) = conns.target.take() else {
            return Err(Missed::Failed("no target connection".into()));
        };
        let (reply, answer) = oneshot::channel();
        let cut = Cut {
            tables,
            from: from.clone(),
            to: to.clone(),
            conn: tgt,
            hold,
            reply,
        };
        if self.cuts.send(cut).await.is_err() {
            return Ok(None);
        }
        Ok(Some(answer))
    }

    /// Re-copies range `chunk` of `table` from a source snapshot, while the
    /// sync waits at the matching cut; the range is then compared again.
    async fn repair(
        &mut self,
        conns: &mut Conns,
        table: &TableName,
        chunk: usize,
    ) -> Result<(), Missed> {
        let Some(t) = self.tables.iter().position(|(l, _)| &l.name == table) else {
            return self.repair_done(conns, table, chunk).await;
        };
        if chunk >= self.tables[t].0.ranges.len() {
            return self.repair_done(conns, table, chunk).await;
        }
        let (from, to) = self.source_snapshot(conns).await?;
        let Some(source) = conns.source.as_mut() else {
            return Err(Missed::Failed("the source connection was lost".into()));
        };
        let (ledger, spec) = &self.tables[t];
        let range = &ledger.ranges[chunk];
        let (pred, params) = predicate(spec, range);
        let rows: Result<Vec<Row>, _> = source
            .exec(
                format!(
                    "SELECT {} FROM {} WHERE {pred}",
                    spec.columns
                        .iter()
                        .map(|c| quote(c))
                        .collect::<Vec<_>>()
                        .join(", "),
                    spec.src_fqn
                ),
                Params::Positional(params.clone()),
            )
            .await;
        let _ = source.query_drop("COMMIT").await;
        let rows = rows
            .map_err(|e| Missed::Failed(format!("reading {} to repair it: {e}", spec.src_fqn)))?;
        let reached = self
            .cut(
                conns,
                [table.clone()].into_iter().collect(),
                &from,
                &to,
                true,
            )
            .await?;
        let Some(Reached {
            conn: mut tgt,
            dirty,
            release,
            ..
        }) = reached
        else {
            return Err(Missed::Again);
        };
        if dirty {
            drop(release);
            conns.target = Some(tgt);
            return Err(Missed::Again);
        }
        let (_, spec) = &self.tables[t];
        let written = rewrite(&mut tgt, spec, &pred, params, rows).await;
        // The sync goes on.
        drop(release);
        conns.target = Some(tgt);
        let rows =
            written.map_err(|e| Missed::Failed(format!("repairing {}: {e}", spec.dst_fqn)))?;
        tracing::info!(table = %spec.dst_fqn, chunk, rows, "range repaired from the source");
        let range = &mut self.tables[t].0.ranges[chunk];
        range.verdict = Verdict::Unchecked;
        range.checked = None;
        range.unsaved = true;
        self.asked.remove(&(table.clone(), chunk as u32));
        self.repair_done(conns, table, chunk).await
    }

    async fn repair_done(
        &mut self,
        conns: &mut Conns,
        table: &TableName,
        chunk: usize,
    ) -> Result<(), Missed> {
        let meta = conn(&mut conns.meta, &self.target, false)
            .await
            .map_err(Missed::Failed)?;
        ledger::repaired(&self.meta, meta, table, chunk as u32)
            .await
            .map_err(|e| Missed::Failed(format!("recording a repair: {e}")))
    }

    /// Stores what changed in the ledger (failures are retried at the next save).
    async fn save(&mut self, conns: &mut Conns) {
        let Ok(meta) = conn(&mut conns.meta, &self.target, false).await else {
            return;
        };
        let (seq, as_of) = self.hook.touches.at();
        let saved = ledger::save(
            &self.meta,
            meta,
            self.tables.iter_mut().map(|(t, _)| t),
            &self.hook.touches,
            (seq, &as_of),
            (self.compared, self.requeued),
        )
        .await;
        if let Err(e) = saved {
            tracing::warn!(error = %e, "saving the verification ledger failed");
            conns.meta = None;
        }
    }

    /// Publishes the status from the ledger.
    fn refresh(&self) {
        let touches = &self.hook.touches;
        let mut chunks = 0u64;
        let mut verified = 0u64;
        let mut differences = Vec::new();
        for (t, _) in &self.tables {
            for (i, r) in t.ranges.iter().enumerate() {
                chunks += 1;
                if t.verified(i, touches) {
                    verified += 1;
                }
                if let Verdict::Differs(m) = &r.verdict {
                    if differences.len() < LISTED {
                        differences.push(RangeDifference {
                            schema: t.name.0.clone(),
                            table: t.name.1.clone(),
                            target_schema: t.target.0.clone(),
                            target_table: t.target.1.clone(),
                            mismatch: m.clone(),
                            position: r.position.clone(),
                            repair_pending: self.asked.contains(&(t.name.clone(), i as u32)),
                        });
                    }
                }
            }
        }
        let state = if chunks > 0 && verified == chunks {
            "verified"
        } else {
            "verifying"
        };
        if let Ok(mut s) = self.hook.shared.status.lock() {
            s.state = state.into();
            s.detail = self.detail.clone();
            s.chunks = chunks;
            s.verified = verified;
            s.differences = differences;
            s.not_continuous = self.not_continuous.clone();
            s.compared = self.compared;
            s.requeued = self.requeued;
        }
    }

    fn show(&self, state: &str, detail: Option<String>) {
        if let Ok(mut s) = self.hook.shared.status.lock() {
            s.state = state.into();
            s.detail = detail.or_else(|| self.detail.clone());
            s.not_continuous = self.not_continuous.clone();
        }
    }
}

/// A connection in `slot`, opened (with the comparison session: binary
/// strings, UTC, repeatable read) when missing.
async fn conn<'a>(
    slot: &'a mut Option<Conn>,
    ep: &Endpoint,
    compare: bool,
) -> Result<&'a mut Conn, String> {
    if slot.is_none() {
        let mut c = ep.conn().await.map_err(|e| e.to_string())?;
        if compare {
            session(&mut c).await.map_err(|e| e.to_string())?;
            c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                .await
                .map_err(|e| e.to_string())?;
        }
        *slot = Some(c);
    }
    slot.as_mut().ok_or_else(|| "no connection".to_string())
}

/// Opens a consistent snapshot on the source: where in the binlog it lies,
/// `(from, to)` (one position on MariaDB, which names it).
async fn snapshot_at(
    conn: &mut Conn,
    flavor: Flavor,
) -> Result<(Position, Position), mysql_async::Error> {
    if flavor == Flavor::MariaDB {
        conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            .await?;
        let at = position::mariadb_snapshot_position(conn).await?;
        return Ok((at.clone(), at));
    }
    let from = position::current(conn, flavor).await?;
    conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        .await?;
    // Read on another statement of the same session: the snapshot is open.
    let to = position::current(conn, flavor).await?;
    Ok((from, to))
}

fn predicate(spec: &Spec, range: &Range) -> (String, Vec<Value>) {
    if spec.key.is_empty() {
        ("1=1".into(), Vec::new())
    } else {
        range_predicate(&spec.key, range.lower.as_deref(), range.upper.as_deref())
    }
}

/// A range's rows and checksums on one side.
async fn sums(
    conn: &mut Conn,
    spec: &Spec,
    range: &Range,
    source: bool,
) -> Result<(u64, Value, Value), mysql_async::Error> {
    let (pred, params) = predicate(spec, range);
    let fqn = if source { &spec.src_fqn } else { &spec.dst_fqn };
    let row: Option<Row> = conn
        .exec_first(
            checksum_sql(&spec.columns, fqn, &pred),
            Params::Positional(params),
        )
        .await?;
    Ok(read_sums(row))
}

/// Replaces a range's rows on the target with `rows`, in one transaction
/// (foreign-key checks off: the rows are the source's, and a cascade would
/// reach rows outside the range). How many rows were written.
async fn rewrite(
    tgt: &mut Conn,
    spec: &Spec,
    pred: &str,
    params: Vec<Value>,
    rows: Vec<Row>,
) -> Result<usize, mysql_async::Error> {
    tgt.query_drop("SET SESSION foreign_key_checks = 0").await?;
    let result = async {
        let mut tx = tgt.start_transaction(Default::default()).await?;
        tx.exec_drop(
            format!("DELETE FROM {} WHERE {pred}", spec.dst_fqn),
            Params::Positional(params),
        )
        .await?;
        let cols = spec
            .columns
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let width = spec.columns.len().max(1);
        let values: Vec<Vec<Value>> = rows.into_iter().map(Row::unwrap).collect();
        let written = values.len();
        for part in values.chunks(REPAIR_ROWS) {
            let one = format!("({})", vec!["?"; width].join(", "));
            let sql = format!(
                "INSERT INTO {} ({cols}) VALUES {}",
                spec.dst_fqn,
                vec![one; part.len()].join(", ")
            );
            let flat: Vec<Value> = part.iter().flatten().cloned().collect();
            tx.exec_drop(sql, Params::Positional(flat)).await?;
        }
        tx.commit().await?;
        Ok(written)
    }
    .await;
    let _ = tgt.query_drop("SET SESSION foreign_key_checks = 1").await;
    result
}
