//! Talking to a job from outside the process that runs it: requests (pause,
//! complete, abort) and status go through the job's rows in the target's meta
//! schema, so any `ferry` (or the app) that reaches the target can use them.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::checkpoint::Meta;
use crate::endpoint::Endpoint;
use crate::endpoint::Side;
use crate::events::SyncStatus;
use crate::inspect;
use crate::inspect::FerryError;
use crate::job::JobError;
use crate::position::Position;
use crate::profile::Profile;
use crate::replicate::ReplicateError;

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
}

async fn open(profile: &Profile) -> Result<(Endpoint, Meta, mysql_async::Conn), JobError> {
    let target = inspect::open(profile, Side::Target, 2).await?;
    let meta = Meta::new(&profile.options.meta_schema, &profile.name);
    let mut conn = target.conn().await.map_err(FerryError::from)?;
    meta.ensure(&mut conn)
        .await
        .map_err(|e| ReplicateError::target("creating the meta schema", e))?;
    Ok((target, meta, conn))
}

pub async fn status(profile: &Profile) -> Result<JobStatus, JobError> {
    let (target, meta, mut conn) = open(profile).await?;
    let err = |what: &'static str| move |e| ReplicateError::target(what, e);
    let job = meta
        .load_job(&mut conn)
        .await
        .map_err(err("reading the job"))?;
    let running = meta
        .is_running(&mut conn)
        .await
        .map_err(err("reading the job lock"))?;
    let live = meta
        .load_status(&mut conn)
        .await
        .map_err(err("reading the job status"))?;
    drop(conn);
    target.close().await;
    let (live, live_age_secs) = match live {
        Some((json, age)) => (serde_json::from_str(&json).ok(), Some(age)),
        None => (None, None),
    };
    Ok(JobStatus {
        job: profile.name.clone(),
        mode: job.as_ref().map(|j| j.mode.as_str().to_string()),
        phase: job.as_ref().map(|j| j.phase.as_str().to_string()),
        running,
        snapshot: job.as_ref().map(|j| j.snapshot.clone()),
        applied: job.and_then(|j| j.sync),
        live,
        live_age_secs,
    })
}

/// Leaves `request` for the job's running process. Returns false (and leaves
/// nothing) when no process runs the job.
pub async fn request(
    profile: &Profile,
    request: &str,
    arg: Option<&str>,
) -> Result<bool, JobError> {
    let (target, meta, mut conn) = open(profile).await?;
    let running = meta
        .is_running(&mut conn)
        .await
        .map_err(|e| ReplicateError::target("reading the job lock", e))?;
    if running {
        meta.request(&mut conn, request, arg)
            .await
            .map_err(|e| ReplicateError::target("leaving the request", e))?;
    }
    drop(conn);
    target.close().await;
    Ok(running)
}

/// Waits until no process runs the job (or `timeout` passes); returns its phase.
pub async fn wait_stopped(
    profile: &Profile,
    timeout: Duration,
) -> Result<Option<String>, JobError> {
    let deadline = Instant::now() + timeout;
    loop {
        let s = status(profile).await?;
        if !s.running || Instant::now() > deadline {
            return Ok(s.phase);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Marks a job that no process runs as aborted.
pub async fn abort_stopped(profile: &Profile) -> Result<Option<String>, JobError> {
    let (target, meta, mut conn) = open(profile).await?;
    let err = |what: &'static str| move |e| ReplicateError::target(what, e);
    let phase = meta
        .load_job(&mut conn)
        .await
        .map_err(err("reading the job"))?
        .map(|j| j.phase.as_str().to_string());
    if phase.is_some()
        && meta
            .try_lock(&mut conn)
            .await
            .map_err(err("taking the job lock"))?
    {
        meta.set_phase(&mut conn, crate::checkpoint::JobPhase::Aborted)
            .await
            .map_err(err("recording the job phase"))?;
    }
    drop(conn);
    target.close().await;
    Ok(phase)
}

/// Decides what happens to the DDL the target refused (the job stopped on it):
/// `skip`, or `replace` with `replacement`. Returns (position, statement, error)
/// of the statement decided, or `None` when none waits.
pub async fn decide_ddl(
    profile: &Profile,
    action: &str,
    replacement: Option<&str>,
) -> Result<Option<(String, String, String)>, JobError> {
    let (target, meta, mut conn) = open(profile).await?;
    let decided = meta
        .decide_ddl(&mut conn, action, replacement)
        .await
        .map_err(|e| ReplicateError::target("recording the DDL decision", e))?;
    drop(conn);
    target.close().await;
    Ok(decided)
}
