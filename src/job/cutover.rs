//! Steps 6 and 7 of the cutover — verify, then complete — once the sync has
//! drained (steps 1–5 and the argument for the whole sequence: `crate::cutover`).
//!
//! Guarantees: the job is recorded `completing` only after the verification said
//! equal (and, for a job with several sources, every source did); from then on the
//! target has every change, so a run that finds that phase finishes without
//! following the binlog again. The triggers are created after that record (they
//! would fire on replayed rows), each dropped and created again, so finishing is
//! safe to repeat. A difference found by the verification leaves the job syncing.

use std::sync::Arc;
use std::time::Instant;

use super::{end_stopped, target_error, JobError, RunSummary, SyncCtx, SyncEnd};
use crate::catalog::Catalog;
use crate::checkpoint::JobPhase;
use crate::events::{LateWrites, Phase};
use crate::inspect::FerryError;
use crate::profile::Mode;
use crate::rules::Selection;
use crate::shard::Verdict;
use crate::snapshot::schema;
use crate::verify::cut::Hook;
use crate::verify::ledger::TableLedger;
use crate::verify::{self, VerifyReport};

impl SyncCtx<'_> {
    /// Steps 6–7 after the sync caught up (`late`: writes after the drain position
    /// the operator accepted, reported as warnings): how the run ends, and the
    /// verification's report.
    pub(super) async fn cut_over(
        &self,
        meta_conn: &mut mysql_async::Conn,
        late: &LateWrites,
        verified: Option<(Vec<TableLedger>, Arc<Hook>)>,
    ) -> Result<(SyncEnd, Option<VerifyReport>), JobError> {
        self.sink.phase(Phase::Completing);
        if !late.is_empty() {
            self.sink.warn(crate::error::Report {
                code: "cutover.late_writes_accepted".into(),
                message: format!(
                    "completed with writes after the cutover was asked, as accepted: {}; they are on the target",
                    late.describe()
                ),
                remedy: "make sure the application writes to the target from now on".into(),
            });
        }
        // The tables as they are now: ones created or renamed during the sync are
        // verified (and get their triggers) like the ones copied at the start.
        let catalog = Catalog::load(self.source, |s| self.matcher.touches_schema(s))
            .await
            .map_err(FerryError::from)?;
        let selection = self.matcher.select(&catalog);
        let report = if self.opts.verify {
            self.sink.phase(Phase::Verify);
            // The ranges the continuous verification verified and the sync has
            // not changed since are not compared again.
            let known = verified
                .map(|(ledger, hook)| verify::known_tables(&ledger, &hook.touches, &catalog))
                .unwrap_or_default();
            let began = Instant::now();
            let mut report = self.verify(&catalog, &selection, &known).await?;
            if report.ranges_known > 0 {
                tracing::info!(
                    known = report.ranges_known,
                    compared = report.ranges_compared,
                    seconds = began.elapsed().as_secs_f64(),
                    "cutover verification: ranges verified during the sync not compared again"
                );
            }
            self.name_last_ddl(meta_conn, &mut report).await;
            Some(report)
        } else {
            None
        };
        match self.verdict(report.as_ref().is_none_or(|r| r.equal)).await {
            Verdict::Go => {}
            // Still syncing as far as the job state goes: complete again once the
            // source is quiet.
            Verdict::Differs => return Ok((SyncEnd::CompletedUnverified, report)),
            v => {
                let aborted = v == Verdict::Aborted;
                let end = end_stopped(self.meta, meta_conn, self.sink, aborted).await?;
                return Ok((end, report));
            }
        }
        // From here on the target has every change: a run that finds this phase
        // finishes the cutover without following the binlog again (which, with the
        // triggers in place, would fire them on replayed rows).
        self.meta
            .set_phase(meta_conn, JobPhase::Completing)
            .await
            .map_err(target_error("recording the job phase"))?;
        self.finish_cutover(meta_conn, &catalog, &selection).await?;
        Ok((SyncEnd::Completed, report))
    }

    /// For each table whose definition differs, the last DDL the sync met for it
    /// and what became of it: where the difference most likely comes from.
    async fn name_last_ddl(&self, meta_conn: &mut mysql_async::Conn, report: &mut VerifyReport) {
        let stored = self.meta.load_status(meta_conn).await.ok().flatten();
        let Some(status) = stored
            .and_then(|(json, _)| serde_json::from_str::<crate::events::SyncStatus>(&json).ok())
        else {
            return;
        };
        for t in report
            .tables
            .iter_mut()
            .filter(|t| !t.definition.is_empty())
        {
            t.last_ddl = status
                .last_ddl
                .iter()
                .find(|d| d.schema == t.schema && d.table == t.table)
                .map(|d| format!("{} ({} at {})", d.statement, d.outcome, d.position));
        }
    }

    /// Whether this source may complete: its own verification, and for a source
    /// of a job with several, the others' and the merged tables' (see
    /// `shard::CutoverGate`).
    pub(super) async fn verdict(&self, own_equal: bool) -> Verdict {
        match self.opts.shard.as_ref().and_then(|m| m.cutover.clone()) {
            Some(gate) => {
                if !own_equal {
                    gate.decide(Verdict::Differs);
                }
                gate.pass().await
            }
            None if own_equal => Verdict::Go,
            None => Verdict::Differs,
        }
    }

    /// The last steps of a cutover, safe to repeat: the triggers (mode `all`: the
    /// sync is over, so they may fire on the target from now on), then the phase.
    pub(super) async fn finish_cutover(
        &self,
        meta_conn: &mut mysql_async::Conn,
        catalog: &Catalog,
        selection: &Selection,
    ) -> Result<(), JobError> {
        // A rolled back reverse sync (see `reverse`) gives the source its
        // triggers back, as a forward cutover gives the target them.
        if self.profile.mode == Mode::All || self.profile.reverse_of.is_some() {
            self.sink.phase(Phase::Objects);
            let ddl = schema::SchemaCopy {
                source: self.source,
                target: self.target,
                catalog,
                selection,
                sink: self.sink,
            };
            // Each trigger is dropped if present and created again.
            ddl.create_objects(
                self.matcher,
                self.profile.options.definer,
                schema::Objects::Triggers,
            )
            .await?;
        }
        crate::failpoint::hit("cutover.verified");
        // Where a reverse sync starts, now that every forward write and trigger
        // is on the target.
        if self.profile.incremental.reverse_for() != crate::profile::ReverseFor::Off
            && self.profile.reverse_of.is_none()
        {
            let flavor = self.target.facts().await.map_err(FerryError::from)?.flavor;
            crate::reverse::record_start(self.profile, flavor, selection, self.meta, meta_conn)
                .await
                .map_err(target_error("recording where the reverse sync starts"))?;
        }
        self.meta
            .set_phase(meta_conn, JobPhase::Completed)
            .await
            .map_err(target_error("recording the job phase"))?;
        self.sink.phase(Phase::Completed);
        Ok(())
    }
}

/// Phase `completing`: a cutover that stopped after its verification; finishes it
/// without following the binlog again.
pub(super) async fn finish_interrupted_cutover(
    ctx: &SyncCtx<'_>,
    meta_conn: &mut mysql_async::Conn,
    job: &crate::checkpoint::JobRecord,
    started: Instant,
) -> Result<RunSummary, JobError> {
    let catalog = Catalog::load(ctx.source, |s| ctx.matcher.touches_schema(s))
        .await
        .map_err(FerryError::from)?;
    let now = ctx.matcher.select(&catalog);
    ctx.copied();
    ctx.sink.phase(Phase::Completing);
    ctx.finish_cutover(meta_conn, &catalog, &now).await?;
    let at = job.sync_from();
    Ok(RunSummary {
        tables: now.tables.len(),
        rows: 0,
        bytes: 0,
        seconds: started.elapsed().as_secs_f64(),
        resumed: true,
        position: at.clone(),
        lock_ms: 0,
        verify: None,
        synced_to: Some(at),
        sync_end: Some(SyncEnd::Completed),
        late_writes: None,
    })
}
