//! A job's reverse sync after its cutover (see `reverse`): run as a job of its
//! own, from the target back to the source, until it is rolled back (its
//! cutover), released (aborted) or its hours are up.

use super::{run, JobError, RunOptions, RunSummary, SyncEnd};
use crate::checkpoint::Meta;
use crate::endpoint::Side;
use crate::events::EventSink;
use crate::inspect::{self, FerryError};
use crate::profile::{Profile, ReverseFor};
use crate::reverse::{self, ReverseState};

/// The job's reverse sync, when it has one that still syncs.
pub(super) async fn pending(profile: &Profile) -> Result<Option<ReverseState>, JobError> {
    if profile.reverse_of.is_some() || profile.incremental.reverse_for() == ReverseFor::Off {
        return Ok(None);
    }
    let target = inspect::open(profile, Side::Target, 1).await?;
    let meta = Meta::new(&profile.options.meta_schema, &profile.name);
    let state = async {
        let mut conn = target
            .conn()
            .await
            .map_err(|e| JobError::from(FerryError::from(e)))?;
        let state = reverse::load(&meta, &mut conn)
            .await
            .map_err(super::target_error("reading the reverse sync"))?;
        Ok::<_, JobError>(state)
    }
    .await;
    target.close().await;
    Ok(state?.filter(|s| s.state == reverse::SYNCING))
}

/// Runs the reverse sync of `profile` (in `state`) until it ends; records how.
pub(super) async fn follow(
    profile: &Profile,
    state: ReverseState,
    opts: RunOptions,
    sink: EventSink,
) -> Result<RunSummary, JobError> {
    let back = reverse::profile(profile, &state);
    drop_triggers(profile, &state, &sink).await?;
    sink.emit(crate::events::JobEvent::Reverse(state.clone()));
    let announce = sink.clone();
    sink.warn(crate::error::Report {
        code: "reverse.syncing".into(),
        message: format!(
            "reverse sync: the target's changes go back to the source from {} ({} tables){}",
            state.start,
            state.tables.len(),
            state.until.map_or(String::new(), |u| format!(
                ", for {:.1} more hours",
                ((u - crate::events::unix_now()) / 3600.0).max(0.0)
            ))
        ),
        remedy: "⟦cli:`ferry rollback` returns the application to the source with every change; `ferry release` ends the reverse sync|app:Roll back returns the application to the source with every change; Release ends the reverse sync⟧".into(),
    });
    // Its hours up, the reverse sync ends as a release does.
    let control = opts.control.clone();
    let timer = state.until.map(|until| {
        let control = control.clone();
        tokio::spawn(async move {
            let left = (until - crate::events::unix_now()).max(0.0);
            tokio::time::sleep(std::time::Duration::from_secs_f64(left)).await;
            control.abort();
        })
    });
    let result = Box::pin(run(
        &back,
        RunOptions {
            queue: None,
            shard: None,
            ..opts
        },
        sink,
    ))
    .await;
    if let Some(t) = timer {
        t.abort();
    }
    let summary = result?;
    let ended = match summary.sync_end {
        Some(SyncEnd::Completed) => Some(reverse::ROLLED_BACK),
        Some(SyncEnd::Aborted) => Some(reverse::RELEASED),
        _ => None,
    };
    if let Some(ended) = ended {
        let saved = set_state(profile, ended).await?;
        announce.emit(crate::events::JobEvent::Reverse(saved.unwrap_or(
            ReverseState {
                state: ended.into(),
                ended_at: Some(crate::events::unix_now()),
                ..state
            },
        )));
    }
    Ok(summary)
}

/// Records the reverse sync's state on the target (with when it ended, for a
/// state that ends it); returns it as saved, `None` when the job has none.
pub async fn set_state(profile: &Profile, to: &str) -> Result<Option<ReverseState>, JobError> {
    let target = inspect::open(profile, Side::Target, 1).await?;
    let meta = Meta::new(&profile.options.meta_schema, &profile.name);
    let saved = async {
        let mut conn = target
            .conn()
            .await
            .map_err(|e| JobError::from(FerryError::from(e)))?;
        let Some(mut state) = reverse::load(&meta, &mut conn)
            .await
            .map_err(super::target_error("reading the reverse sync"))?
        else {
            return Ok::<_, JobError>(None);
        };
        state.state = to.into();
        state.ended_at = (to != reverse::SYNCING).then(crate::events::unix_now);
        reverse::save(&meta, &mut conn, &state)
            .await
            .map_err(super::target_error("recording the reverse sync"))?;
        Ok(Some(state))
    }
    .await;
    target.close().await;
    saved
}

/// The source's triggers on the synced-back tables go while the reverse sync
/// runs (see `reverse`).
async fn drop_triggers(
    profile: &Profile,
    state: &ReverseState,
    sink: &EventSink,
) -> Result<(), JobError> {
    let source = inspect::open(profile, Side::Source, 1).await?;
    let dropped = async {
        let mut conn = source
            .conn()
            .await
            .map_err(|e| JobError::from(FerryError::from(e)))?;
        let dropped = reverse::drop_source_triggers(&mut conn, state)
            .await
            .map_err(crate::snapshot::source_err(
                "dropping the source's triggers for the reverse sync",
            ))?;
        Ok::<_, JobError>(dropped)
    }
    .await;
    source.close().await;
    let dropped = dropped?;
    if !dropped.is_empty() {
        sink.warn(crate::error::Report {
            code: "reverse.triggers_dropped".into(),
            message: format!(
                "the source's triggers {} were dropped for the reverse sync (they would fire again on the rows it replays); a roll back creates them again",
                dropped.join(", ")
            ),
            remedy: "nothing to do".into(),
        });
    }
    Ok(())
}
