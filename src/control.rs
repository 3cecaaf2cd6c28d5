//! Requests to a running job — pause, complete, abort — and its status. A
//! [`Request`] reaches the job in one of two ways, and the job treats both alike:
//! from its own process through a [`Control`] (Ctrl-C, the app's buttons), or from
//! any other `ferry` (or app) that reaches the target through the job's row in the
//! target's meta schema ([`request`]), which the running job reads once per tick.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

pub use crate::checkpoint::{DdlDecision, Request};

use crate::checkpoint::Meta;
use crate::endpoint::Endpoint;
use crate::endpoint::Side;
use crate::error::Coded;
use crate::events::SyncStatus;
use crate::inspect;
use crate::inspect::FerryError;
use crate::position::Position;
use crate::profile::Profile;

/// Sends requests to a job that runs in this process; clones share it. The job
/// takes the receiving side ([`Control::receiver`]) for as long as it listens.
#[derive(Debug, Clone)]
pub struct Control {
    tx: mpsc::UnboundedSender<Request>,
    rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<Request>>>>,
}

impl Default for Control {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Control {
            tx,
            rx: Arc::new(Mutex::new(Some(rx))),
        }
    }
}

impl Control {
    /// Whether `other` is a clone of this control.
    pub fn same(&self, other: &Control) -> bool {
        Arc::ptr_eq(&self.rx, &other.rx)
    }

    pub fn send(&self, request: Request) {
        let _ = self.tx.send(request);
    }

    pub fn pause(&self) {
        self.send(Request::Pause);
    }

    pub fn complete(&self, freeze_source: bool, accept_late: bool) {
        self.send(Request::Complete {
            freeze_source,
            accept_late,
        });
    }

    pub fn abort(&self) {
        self.send(Request::Abort);
    }

    /// The requests sent from now on, for the job to listen to.
    pub(crate) fn receiver(&self) -> Requests {
        let rx = self.rx.lock().ok().and_then(|mut r| r.take());
        Requests { rx, held: None }
    }

    /// Hands the receiving side back, for a later phase of the same run.
    pub(crate) fn give_back(&self, requests: Requests) {
        if let (Some(rx), Ok(mut slot)) = (requests.rx, self.rx.lock()) {
            *slot = Some(rx);
        }
    }
}

/// The receiving side of a [`Control`].
pub struct Requests {
    /// `None`: an earlier phase of the run took the receiver and kept it.
    rx: Option<mpsc::UnboundedReceiver<Request>>,
    /// A request taken when it could not be acted on, answered first.
    held: Option<Request>,
}

impl Requests {
    /// Keeps `request` for the next [`recv`](Self::recv): for a request that
    /// arrives while the job cannot act on it (a cutover while the source is
    /// unreachable).
    pub(crate) fn hold(&mut self, request: Request) {
        self.held = Some(request);
    }

    /// The next request; waits forever once no request can come.
    pub(crate) async fn recv(&mut self) -> Request {
        if let Some(r) = self.held.take() {
            return r;
        }
        if let Some(rx) = &mut self.rx {
            if let Some(r) = rx.recv().await {
                return r;
            }
        }
        std::future::pending().await
    }

    /// The next request from this process or, read every second, from the job's
    /// control row (another process). A failed read is retried at the next
    /// second: the work the job is doing meanwhile does not depend on it.
    ///
    /// Cancel-safe, so it can race the work it watches: each read takes a pooled
    /// connection of `target`, which the pool discards when the read is dropped
    /// half-way (a connection of the caller's own would be left mid-answer, and
    /// its next query would read the rest of this one).
    pub(crate) async fn recv_or_row(&mut self, meta: &Meta, target: &Endpoint) -> Request {
        loop {
            tokio::select! {
                r = self.recv() => return r,
                _ = tokio::time::sleep(ROW_POLL) => {
                    let taken = match target.conn().await {
                        Ok(mut conn) => meta.take_request(&mut conn).await.map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match taken {
                        Ok(Some(r)) => return r,
                        Ok(None) => {}
                        Err(cause) => tracing::warn!(%cause, "reading the job's requests failed"),
                    }
                }
            }
        }
    }
}

/// How often a job that is not following the binlog reads its control row.
const ROW_POLL: Duration = Duration::from_secs(1);

/// Reaching the job's rows on the target failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Ferry(#[from] FerryError),
    #[error("{what} in the target's meta schema failed: {cause}")]
    Target { what: &'static str, cause: String },
}

impl Coded for ControlError {
    fn code(&self) -> &'static str {
        match self {
            ControlError::Ferry(e) => e.code(),
            ControlError::Target { .. } => "control.target_failed",
        }
    }

    fn remedy(&self) -> String {
        match self {
            ControlError::Ferry(e) => e.remedy(),
            ControlError::Target { .. } => "the job's requests and status live in the target's meta schema: check that the target is up and that the target account may create and write it".into(),
        }
    }

    fn is_transient(&self) -> bool {
        matches!(self, ControlError::Ferry(e) if e.is_transient())
    }
}

pub(crate) fn target(what: &'static str) -> impl FnOnce(mysql_async::Error) -> ControlError {
    move |e| ControlError::Target {
        what,
        cause: e.to_string(),
    }
}

/// What `ferry status` shows.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct JobStatus {
    pub job: String,
    /// `None` when the job never ran against this target.
    pub mode: Option<String>,
    pub phase: Option<String>,
    /// A `ferry run` (or the app) is working on the job right now.
    pub running: bool,
    pub snapshot: Option<Position>,
    pub applied: Option<Position>,
    /// The last progress the running job stored, and how old it is.
    pub live: Option<SyncStatus>,
    pub live_age_secs: Option<f64>,
    /// The DDL the target refused, which the sync stopped on and which waits for
    /// a decision ([`decide_ddl`]).
    pub pending_ddl: Option<PendingDdl>,
    /// Rows and bytes the copy put on the target, over all runs of the job.
    pub copied_rows: u64,
    pub copied_bytes: u64,
    /// When the job was first started against this target, in seconds since
    /// the epoch.
    pub started_at: Option<u64>,
    /// A job in its sync that no process runs: the source's position now (read
    /// for this status; `None` when the source cannot be reached), and how many
    /// bytes of binlog wait when both are in the same file — the backlog a
    /// resume must apply.
    pub source_now: Option<Position>,
    pub behind_bytes: Option<u64>,
    /// The process running the job's sync ended without stopping it (killed,
    /// crashed, the machine went down): its last status is from then.
    pub interrupted: bool,
}

/// A DDL statement the target refused, as the sync met it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PendingDdl {
    /// Where in the source's binlog the statement is.
    pub position: String,
    pub statement: String,
    /// What the target answered.
    pub error: String,
}

async fn open(profile: &Profile) -> Result<(Endpoint, Meta, mysql_async::Conn), ControlError> {
    let target_side = inspect::open(profile, Side::Target, 2).await?;
    let meta = Meta::new(&profile.options.meta_schema, &profile.name);
    let mut conn = target_side.conn().await.map_err(FerryError::from)?;
    meta.ensure(&mut conn)
        .await
        .map_err(target("creating the job's tables"))?;
    Ok((target_side, meta, conn))
}

pub async fn status(profile: &Profile) -> Result<JobStatus, ControlError> {
    let (target_side, meta, mut conn) = open(profile).await?;
    let job = meta
        .load_job(&mut conn)
        .await
        .map_err(target("reading the job"))?;
    let running = meta
        .is_running(&mut conn)
        .await
        .map_err(target("reading the job lock"))?;
    let live = meta
        .load_status(&mut conn)
        .await
        .map_err(target("reading the job status"))?;
    let pending_ddl = meta
        .pending_ddl(&mut conn)
        .await
        .map_err(target("reading refused DDL"))?
        .map(|(position, statement, error)| PendingDdl {
            position,
            statement,
            error,
        });
    let (copied_rows, copied_bytes, started_at) = meta
        .job_totals(&mut conn)
        .await
        .map_err(target("reading the job's totals"))?;
    drop(conn);
    target_side.close().await;
    let (live, live_age_secs): (Option<SyncStatus>, _) = match live {
        Some((json, age)) => (serde_json::from_str(&json).ok(), Some(age)),
        None => (None, None),
    };
    let syncing = job.as_ref().is_some_and(|j| {
        matches!(
            j.phase,
            crate::checkpoint::JobPhase::Sync | crate::checkpoint::JobPhase::Completing
        )
    });
    let interrupted = syncing
        && !running
        && live
            .as_ref()
            .is_some_and(|l| l.health != crate::events::Health::Stopped);
    let applied = job.as_ref().and_then(|j| j.sync.clone());
    // Where a resumed sync starts: its checkpoint, or the snapshot before one.
    let resume_at = job.as_ref().map(|j| j.sync_from());
    let source_now = if syncing && !running {
        source_position(profile).await
    } else {
        None
    };
    let behind_bytes = match (&source_now, &resume_at) {
        (Some(s), Some(a)) if s.file.is_some() && s.file == a.file => {
            s.pos.zip(a.pos).map(|(s, a)| s.saturating_sub(a))
        }
        _ => None,
    };
    Ok(JobStatus {
        job: profile.name.clone(),
        mode: job.as_ref().map(|j| j.mode.as_str().to_string()),
        phase: job.as_ref().map(|j| j.phase.as_str().to_string()),
        running,
        snapshot: job.as_ref().map(|j| j.snapshot.clone()),
        applied,
        live,
        live_age_secs,
        pending_ddl,
        copied_rows,
        copied_bytes,
        started_at,
        source_now,
        behind_bytes,
        interrupted,
    })
}

/// The source's position now, or `None` when it cannot be read within a few
/// seconds (a status must not hang on an unreachable source).
async fn source_position(profile: &Profile) -> Option<Position> {
    let read = async {
        let source = inspect::open(profile, Side::Source, 1).await.ok()?;
        let flavor = source.facts().await.ok()?.flavor;
        let mut conn = source.conn().await.ok()?;
        let at = crate::position::current(&mut conn, flavor).await.ok();
        drop(conn);
        source.close().await;
        at
    };
    tokio::time::timeout(Duration::from_secs(3), read)
        .await
        .ok()
        .flatten()
}

/// The job's last `limit` log entries, oldest first, with every source's of a
/// job with several (labelled), in time order (see `job::journal`).
pub async fn log(
    profile: &Profile,
    limit: u32,
) -> Result<Vec<crate::events::LogEntry>, ControlError> {
    let mut all: Vec<_> = log_rows(profile, limit)
        .await?
        .into_iter()
        .map(|(_, r)| crate::events::LogEntry {
            at: r.at,
            severity: r.severity,
            text: r.text,
        })
        .collect();
    let skip = all.len().saturating_sub(limit as usize);
    Ok(all.split_off(skip))
}

/// The last `limit` entries of each source's log, with the source's index in
/// `profile.members()`, a job with several labelled in the text, in time order.
pub(crate) async fn log_rows(
    profile: &Profile,
    limit: u32,
) -> Result<Vec<(usize, crate::checkpoint::LogRow)>, ControlError> {
    let members = profile.members();
    let mut all = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let (target_side, meta, mut conn) = open(m).await?;
        let rows = meta
            .load_log(&mut conn, limit)
            .await
            .map_err(target("reading the job's log"))?;
        drop(conn);
        target_side.close().await;
        let label = (members.len() > 1).then(|| m.source_label().to_string());
        all.extend(rows.into_iter().map(|mut r| {
            if let Some(l) = &label {
                r.text = format!("[{l}] {}", r.text);
            }
            (i, r)
        }));
    }
    all.sort_by(|a, b| a.1.at.total_cmp(&b.1.at));
    Ok(all)
}

/// Leaves `request` for the job's running process, wherever it runs. Returns
/// false (and leaves nothing) when no process runs the job.
pub async fn request(profile: &Profile, request: Request) -> Result<bool, ControlError> {
    // A job with several sources: every source's run gets it.
    let mut running = false;
    for member in profile.members() {
        running |= request_one(&member, request).await?;
    }
    Ok(running)
}

async fn request_one(profile: &Profile, request: Request) -> Result<bool, ControlError> {
    let (target_side, meta, mut conn) = open(profile).await?;
    let running = meta
        .is_running(&mut conn)
        .await
        .map_err(target("reading the job lock"))?;
    if running {
        meta.request(&mut conn, request)
            .await
            .map_err(target("leaving the request"))?;
    }
    drop(conn);
    target_side.close().await;
    Ok(running)
}

/// The job's reverse sync after its cutover (see `reverse`), if it has one,
/// with the job that runs it.
pub async fn reverse(
    profile: &Profile,
) -> Result<Option<(crate::reverse::ReverseState, Profile)>, ControlError> {
    if profile.reverse_of.is_some()
        || profile.incremental.reverse_for() == crate::profile::ReverseFor::Off
    {
        return Ok(None);
    }
    let (target_side, meta, mut conn) = open(profile).await?;
    let state = crate::reverse::load(&meta, &mut conn)
        .await
        .map_err(target("reading the reverse sync"));
    drop(conn);
    target_side.close().await;
    Ok(state?.map(|s| {
        let back = crate::reverse::profile(profile, &s);
        (s, back)
    }))
}

/// What `repair` asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RepairAsked {
    /// Differing ranges marked for repair.
    pub ranges: u64,
    /// A process runs the job (it repairs them now; otherwise its next run).
    pub running: bool,
}

/// Asks the job to re-copy the ranges its continuous verification found
/// different — of `table` only (source names), and of it only range `range`,
/// when given — from the source, then compare them again.
pub async fn repair(
    profile: &Profile,
    table: Option<&(String, String)>,
    range: Option<u32>,
) -> Result<RepairAsked, ControlError> {
    let mut asked = RepairAsked::default();
    for member in profile.members() {
        let (target_side, meta, mut conn) = open(&member).await?;
        asked.ranges += crate::verify::ledger::request_repair(&meta, &mut conn, table, range)
            .await
            .map_err(target("asking for the repair"))?;
        asked.running |= meta
            .is_running(&mut conn)
            .await
            .map_err(target("reading the job lock"))?;
        drop(conn);
        target_side.close().await;
    }
    Ok(asked)
}

/// Waits until no process runs the job or `timeout` passes; returns its status
/// then (`running` tells which).
pub async fn wait_stopped(profile: &Profile, timeout: Duration) -> Result<JobStatus, ControlError> {
    let deadline = Instant::now() + timeout;
    loop {
        let s = status(profile).await?;
        if !s.running || Instant::now() > deadline {
            return Ok(s);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Marks a job that no process runs as aborted.
pub async fn abort_stopped(profile: &Profile) -> Result<Option<String>, ControlError> {
    let (target_side, meta, mut conn) = open(profile).await?;
    let phase = meta
        .load_job(&mut conn)
        .await
        .map_err(target("reading the job"))?
        .map(|j| j.phase.as_str().to_string());
    if phase.is_some()
        && meta
            .try_lock(&mut conn)
            .await
            .map_err(target("taking the job lock"))?
    {
        meta.set_phase(&mut conn, crate::checkpoint::JobPhase::Aborted)
            .await
            .map_err(target("recording the job phase"))?;
    }
    drop(conn);
    target_side.close().await;
    Ok(phase)
}

/// Decides what happens to the DDL the target refused (the job stopped on it).
/// Returns (position, statement, error) of the statement decided, or `None` when
/// none waits.
pub async fn decide_ddl(
    profile: &Profile,
    decision: &DdlDecision,
) -> Result<Option<(String, String, String)>, ControlError> {
    let (target_side, meta, mut conn) = open(profile).await?;
    let decided = meta
        .decide_ddl(&mut conn, decision)
        .await
        .map_err(target("recording the DDL decision"))?;
    drop(conn);
    target_side.close().await;
    Ok(decided)
}
