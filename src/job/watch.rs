//! After the cutover: the watch window, and applying what it found.
//!
//! A completed job's target has every change up to the position the cutover
//! confirmed (see `crate::cutover`); whatever the source's binlog holds for the
//! selected tables after it was written after the cutover — by an application
//! that was not switched, a cron job, a forgotten writer. [`watch`] reads the
//! binlog from that position for a while (the app: while its Done page is open,
//! ten minutes by default; the CLI: `ferry watch`) and reports every row change
//! to a selected table there, per table, with where it starts. Nothing is
//! written: the target now belongs to the application.
//!
//! [`apply_late`] is the operator's explicit choice to bring those writes over
//! anyway: the job goes back to its sync at the completed position (the
//! triggers created at the cutover are dropped first, so replayed rows do not
//! fire them on the target), and completes again, accepting what it finds (the
//! report lists it), verifying, and creating the triggers again. Rows the
//! application has written on the target meanwhile with the same keys are
//! overwritten by the source's: the operator is told so before.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{open_job, target_error, JobError, RunOptions, RunSummary};
use crate::checkpoint::{JobPhase, Meta};
use crate::control::Request;
use crate::error::Coded;
use crate::events::{AfterCutover, EventSink, JobEvent, LateWrites, SyncStatus};
use crate::inspect::FerryError;
use crate::profile::Profile;
use crate::replicate::reader::{Reader, TableMap, Transaction};
use crate::replicate::ReplicateError;
use crate::snapshot::schema;

/// How long the app watches by default after a cutover.
pub const WATCH: Duration = Duration::from_secs(600);

/// Reads the source's binlog after a completed job's cutover for `window` (or
/// until a pause or abort request): the writes to selected tables found there,
/// also stored with the job's status (so `ferry status` shows them) and sent as
/// `AfterCutover` events about once a second.
pub async fn watch(
    profile: &Profile,
    window: Duration,
    opts: RunOptions,
    sink: EventSink,
) -> Result<LateWrites, JobError> {
    let (source, target, catalog, selection, _) = open_job(profile).await?;
    let meta = Meta::new(&profile.options.meta_schema, &profile.name);
    let mut conn = target.conn().await.map_err(FerryError::from)?;
    let job = meta
        .load_job(&mut conn)
        .await
        .map_err(target_error("reading the job state"))?;
    let from = match job {
        Some(j) if j.phase == JobPhase::Completed => j.sync,
        other => {
            return Err(JobError::NotCompleted {
                phase: other.map(|j| j.phase.as_str().to_string()),
            })
        }
    };
    // A full copy has no binlog position to watch from.
    let Some(from) = from else {
        return Ok(LateWrites::default());
    };
    let flavor = source.facts().await.map_err(FerryError::from)?.flavor;
    let maps: HashMap<(String, String), TableMap> = selection
        .tables
        .iter()
        .filter_map(|t| {
            let table = catalog.table(&t.schema, &t.name)?;
            let map = TableMap::new(table, &t.target_schema, &t.target_name);
            Some(((t.schema.clone(), t.name.clone()), map))
        })
        .collect();
    let maps = Arc::new(maps);
    let mut found = AfterCutover {
        late: LateWrites {
            since: from.clone(),
            ..LateWrites::default()
        },
        watching_until: Some(crate::events::unix_now() + window.as_secs_f64()),
        read_to: Some(from.clone()),
    };
    let deadline = Instant::now() + window;
    let mut requests = opts.control.receiver();
    let server_id = profile.incremental.server_id_for(&profile.name);
    let mut reader: Option<Reader> = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let result = loop {
        if reader.is_none() {
            let at = found.read_to.clone().unwrap_or_else(|| from.clone());
            match Reader::open(&source, flavor, &at, server_id, maps.clone()).await {
                Ok(r) => reader = Some(r),
                Err(e) if e.is_transient() => {
                    tracing::warn!(cause = %e, "watching after the cutover: reconnecting");
                }
                Err(e) => break Err(JobError::from(e)),
            }
        }
        let step = tokio::select! {
            next = read(reader.as_mut()) => Step::Read(next),
            r = requests.recv() => match r {
                Request::Pause | Request::Abort => Step::Stop,
                Request::Complete { .. } => Step::Tick,
            },
            _ = tick.tick() => Step::Tick,
        };
        match step {
            Step::Read(Ok(Some(t))) => {
                for c in &t.changes {
                    found.late.add(&c.table.0, &c.table.1, 1, &t.end);
                }
                found.read_to = Some(t.end);
            }
            // The stream ended or broke: read again from where it was.
            Step::Read(Ok(None)) => {
                if let Some(r) = reader.take() {
                    r.close().await;
                }
            }
            Step::Read(Err(e)) if e.is_transient() => {
                if let Some(r) = reader.take() {
                    r.close().await;
                }
            }
            Step::Read(Err(e)) => break Err(JobError::from(e)),
            Step::Stop => break Ok(()),
            Step::Tick => {
                if Instant::now() >= deadline {
                    break Ok(());
                }
                report(&meta, &mut conn, &sink, &found).await;
            }
        }
    };
    if let Some(r) = reader.take() {
        r.close().await;
    }
    found.watching_until = None;
    report(&meta, &mut conn, &sink, &found).await;
    drop(conn);
    source.close().await;
    target.close().await;
    result.map(|()| found.late)
}

/// What woke the watch.
enum Step {
    Read(Result<Option<Transaction>, ReplicateError>),
    Stop,
    Tick,
}

/// The next transaction, or `None` after a pause when there is no reader (it is
/// opened again).
async fn read(reader: Option<&mut Reader>) -> Result<Option<Transaction>, ReplicateError> {
    match reader {
        Some(r) => r.next().await,
        None => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            Ok(None)
        }
    }
}

/// Sends what the watch found and stores it with the job's last sync status.
async fn report(meta: &Meta, conn: &mut mysql_async::Conn, sink: &EventSink, found: &AfterCutover) {
    sink.emit(JobEvent::AfterCutover(found.clone()));
    let stored = meta.load_status(conn).await.ok().flatten();
    let mut status = stored
        .and_then(|(json, _)| serde_json::from_str::<SyncStatus>(&json).ok())
        .unwrap_or_default();
    status.after_cutover = Some(found.clone());
    if let Ok(json) = serde_json::to_string(&status) {
        if let Err(e) = meta.save_status(conn, &json).await {
            tracing::warn!(cause = %e, "storing what the watch found failed");
        }
    }
}

/// Brings the writes made on the source after a completed job's cutover to the
/// target (see the module's documentation): back to the sync at the completed
/// position with the cutover's triggers dropped, then a cutover that accepts
/// late writes. Refused while a process runs the job or when it is not completed.
pub async fn apply_late(
    profile: &Profile,
    opts: RunOptions,
    sink: EventSink,
) -> Result<RunSummary, JobError> {
    reopen(profile, &sink).await?;
    opts.control.send(Request::Complete {
        freeze_source: false,
        accept_late: true,
    });
    super::run(profile, opts, sink).await
}

/// Puts a completed job back in its sync at its completed position, without the
/// triggers the cutover created.
async fn reopen(profile: &Profile, sink: &EventSink) -> Result<(), JobError> {
    let (source, target, catalog, selection, _) = open_job(profile).await?;
    let meta = Meta::new(&profile.options.meta_schema, &profile.name);
    let mut conn = target.conn().await.map_err(FerryError::from)?;
    if !meta
        .try_lock(&mut conn)
        .await
        .map_err(target_error("taking the job lock"))?
    {
        return Err(crate::snapshot::SnapshotError::AlreadyRunning {
            job: profile.name.clone(),
        }
        .into());
    }
    let job = meta
        .load_job(&mut conn)
        .await
        .map_err(target_error("reading the job state"))?;
    match job {
        Some(j) if j.phase == JobPhase::Completed && j.sync.is_some() => {}
        other => {
            return Err(JobError::NotCompleted {
                phase: other.map(|j| j.phase.as_str().to_string()),
            })
        }
    }
    let ddl = schema::SchemaCopy {
        source: &source,
        target: &target,
        catalog: &catalog,
        selection: &selection,
        sink,
    };
    ddl.drop_triggers().await?;
    meta.set_phase(&mut conn, JobPhase::Sync)
        .await
        .map_err(target_error("recording the job phase"))?;
    drop(conn);
    source.close().await;
    target.close().await;
    Ok(())
}
