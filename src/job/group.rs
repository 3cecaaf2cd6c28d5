//! Jobs with several sources (DM's multi-source task and shard merge).
//!
//! A job with `[[shards]]` runs one member job per source (see
//! [`Profile::members`]): each has its own consistent snapshot, copy plan, binlog
//! reader and checkpoint in the meta schema, exactly as a one-source job, so a
//! crash or a pause of one resumes it where it stopped. What the sources share
//! is decided here, once:
//! - target tables that several shards route to (merged tables) are created
//!   before any source copies, from the first shard's definition, under the
//!   job's `on_existing`; the members leave them alone. Their plain secondary
//!   indexes are built once every source has copied (`shard::MergedIndexes`);
//! - DDL on a merged table goes through its lock (`shard::lock`);
//! - a request (pause, complete, abort) goes to every source, and a source that
//!   stops (paused, failed, aborted, completed by a request from another process)
//!   stops the others the same way;
//! - the members' events are merged into the job's one stream (`merge`);
//! - merged tables are verified against the union of their shards.
//!
//! A one-source job whose routes merge tables gets a lock of its own (one source),
//! which applies a DDL that reaches every shard and stops on one that cannot.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use super::merge;
use super::{target_error, JobError, RunOptions, RunSummary, SyncEnd};
use crate::checkpoint::{JobPhase, Meta};
use crate::control::{Control, Request};
use crate::error::Coded;
use crate::events::{EventSink, Phase};
use crate::inspect::{self, FerryError};
use crate::profile::{Mode, Profile};
use crate::queue::Turn;
use crate::rules::Selection;
use crate::shard::{
    merged_targets, CutoverGate, DdlLocks, Member, MergedIndexes, ShardId, Verdict,
};
use crate::snapshot::{schema, SnapshotError};
use crate::verify::{self, MergedShard, VerifyReport};

type Name = (String, String);

/// What the job learnt of one source before its members start.
struct Source {
    profile: Profile,
    selection: Selection,
    catalog: crate::catalog::Catalog,
}

/// Every source's selection and catalog, and the tables they merge into.
async fn discover(
    profile: &Profile,
) -> Result<(Vec<Source>, HashMap<Name, BTreeSet<ShardId>>), JobError> {
    let mut sources = Vec::new();
    for member in profile.members() {
        let (source, target, catalog, selection, _) = super::open_job(&member).await?;
        source.close().await;
        target.close().await;
        sources.push(Source {
            profile: member,
            selection,
            catalog,
        });
    }
    let merged = merged_targets(
        &sources
            .iter()
            .map(|s| (s.profile.source_label(), &s.selection))
            .collect::<Vec<_>>(),
    );
    Ok((sources, merged))
}

/// `ferry verify` of any job: each source's own tables against the source, each
/// merged table against the union of its shards.
pub async fn verify_job(profile: &Profile, sink: &EventSink) -> Result<VerifyReport, JobError> {
    let (sources, merged) = discover(profile).await?;
    let mut tables = Vec::new();
    for s in &sources {
        let own = s.selection.tables_where(|t| {
            !merged.contains_key(&(t.target_schema.clone(), t.target_name.clone()))
        });
        if own.tables.is_empty() {
            continue;
        }
        let source = inspect::open(
            &s.profile,
            crate::endpoint::Side::Source,
            s.profile.options.export_threads + 3,
        )
        .await?;
        let target = inspect::open(
            &s.profile,
            crate::endpoint::Side::Target,
            s.profile.options.export_threads + 3,
        )
        .await?;
        let flavor = source.facts().await.map_err(FerryError::from)?.flavor;
        let report = verify::verify(
            &source,
            &target,
            flavor,
            &s.catalog,
            &own,
            crate::snapshot::plan::chunk_bytes_at(
                s.profile.options.chunk_bytes,
                super::far(&source, &target),
            ),
            s.profile.options.export_threads,
            &verify::KnownTables::new(),
            sink,
        )
        .await;
        source.close().await;
        target.close().await;
        tables.extend(report?.tables);
    }
    if !merged.is_empty() {
        tables.extend(verify_union(profile, &sources, &merged, sink).await?.tables);
    }
    let equal = tables.iter().all(|t| t.equal);
    Ok(VerifyReport {
        tables,
        equal,
        ..VerifyReport::default()
    })
}

/// Runs a job with `[[shards]]`: every source's member at once (see the module).
pub async fn run(
    profile: &Profile,
    opts: RunOptions,
    sink: EventSink,
    turn: Option<Turn>,
) -> Result<RunSummary, JobError> {
    let started = Instant::now();
    let (sources, merged) = discover(profile).await?;
    prepare(profile, &sources, &merged, &sink).await?;
    let locks = Arc::new(DdlLocks::new(
        &profile.name,
        &profile.options.meta_schema,
        merged.clone(),
        sources.len(),
    ));
    // The sources complete together once the merged tables have their indexes and
    // are verified.
    let gate = (!merged.is_empty()).then(|| Arc::new(CutoverGate::new(sources.len())));
    let indexes = Arc::new(MergedIndexes::new(sources.len()));
    let mut build = Some(tokio::spawn(build_merged_indexes(
        profile.clone(),
        indexes.clone(),
        sink.clone(),
    )));
    let mut union_report: Option<VerifyReport> = None;
    let merger = merge::Merger::new(sink.clone(), sources.len());
    let mut running = tokio::task::JoinSet::new();
    let mut controls = Vec::new();
    let mut forwarders = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let control = Control::default();
        controls.push(control.clone());
        let label = s.profile.source_label().to_string();
        let (member_sink, rx) = EventSink::channel();
        forwarders.push(tokio::spawn(merger.clone().forward(i, label.clone(), rx)));
        let member_opts = RunOptions {
            verify: opts.verify,
            control,
            queue: None,
            shard: Some(Arc::new(Member {
                locks: locks.clone(),
                source: label,
                group: true,
                cutover: gate.clone(),
                indexes: Some(indexes.clone()),
            })),
        };
        let mut member = s.profile.clone();
        member.options.start_at = None;
        running.spawn(async move {
            let result = super::run_member(&member, member_opts, member_sink, None, None).await;
            (i, result)
        });
    }
    drop(turn);
    let mut requests = opts.control.receiver();
    let mut results: Vec<Option<Result<RunSummary, JobError>>> =
        (0..sources.len()).map(|_| None).collect();
    let mut failure: Option<JobError> = None;
    let forward = |r: &Request, skip: Option<usize>| {
        for (i, c) in controls.iter().enumerate() {
            if Some(i) != skip {
                c.send(*r);
            }
        }
    };
    // Every source stops at its checkpoint and none completes.
    let pause_all = || {
        forward(&Request::Pause, None);
        if let Some(g) = &gate {
            g.decide(Verdict::Paused);
        }
    };
    let waiting = async |gate: &Option<Arc<CutoverGate>>| match gate {
        Some(g) => g.all_arrived().await,
        None => std::future::pending().await,
    };
    loop {
        tokio::select! {
            ended = running.join_next() => {
                let Some(ended) = ended else { break };
                let (i, result) = match ended {
                    Ok(r) => r,
                    Err(e) => {
                        // A member that panicked: the others pause with their checkpoints.
                        pause_all();
                        tracing::error!(cause = %e, "a source's run ended abnormally");
                        continue;
                    }
                };
                // A source that ends before the verdict ends the others' wait.
                if let Some(g) = &gate {
                    let verdict = match &result {
                        Ok(s) if s.sync_end == Some(SyncEnd::Aborted) => Verdict::Aborted,
                        _ => Verdict::Paused,
                    };
                    if !g.decided() {
                        g.decide(verdict);
                    }
                }
                // One source stopping stops the others the same way.
                let next = match &result {
                    Ok(s) => match s.sync_end {
                        Some(SyncEnd::Paused) => Some(Request::Pause),
                        Some(SyncEnd::Aborted) => Some(Request::Abort),
                        Some(SyncEnd::Completed | SyncEnd::CompletedUnverified)
                            if profile.mode != Mode::Full =>
                        {
                            Some(Request::complete())
                        }
                        _ => None,
                    },
                    Err(_) => Some(Request::Pause),
                };
                if let Some(r) = next {
                    forward(&r, Some(i));
                }
                results[i] = Some(result);
            }
            r = requests.recv() => {
                forward(&r, None);
                if let Some(g) = &gate {
                    match r {
                        Request::Pause => g.decide(Verdict::Paused),
                        Request::Abort => g.decide(Verdict::Aborted),
                        Request::Complete { .. } => {}
                    }
                }
            }
            // The merged tables' indexes failed to build: the sources pause (the
            // build is recorded, the next run does it again).
            built = finished(&mut build) => {
                if let Err(e) = built {
                    pause_all();
                    failure = Some(e);
                }
            }
            // Every source is caught up and its own tables verified: the merged
            // tables now, then the verdict for all.
            _ = waiting(&gate) => {
                if let Some(b) = build.take() {
                    if let Err(e) = flatten(b.await) {
                        pause_all();
                        failure = Some(e);
                        continue;
                    }
                }
                if !opts.verify {
                    if let Some(g) = &gate {
                        g.decide(Verdict::Go);
                    }
                    continue;
                }
                sink.phase(Phase::Verify);
                let verdict = match verify_union(profile, &sources, &merged, &sink).await {
                    Ok(report) => {
                        let v = if report.equal { Verdict::Go } else { Verdict::Differs };
                        union_report = Some(report);
                        v
                    }
                    Err(e) => {
                        sink.warn(crate::error::Report {
                            code: e.code().into(),
                            message: format!("verifying the merged tables failed: {e}"),
                            remedy: e.remedy(),
                        });
                        Verdict::Differs
                    }
                };
                if let Some(g) = &gate {
                    g.decide(verdict);
                }
            }
        }
    }
    opts.control.give_back(requests);
    // A build still waiting for copies that will not come this run: the next run
    // builds what is recorded.
    if let Some(b) = build.take() {
        b.abort();
    }
    drop(merger);
    for f in forwarders {
        let _ = f.await;
    }
    let mut summaries = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match r {
            Some(Ok(s)) => summaries.push(s),
            Some(Err(e)) => {
                let label = sources[i].profile.source_label();
                tracing::warn!(source = label, code = e.code(), "a source stopped");
                return Err(e);
            }
            None => {
                return Err(SnapshotError::Source {
                    what: format!("the run of source {}", sources[i].profile.source_label()),
                    cause: "it ended abnormally (see the log)".into(),
                }
                .into())
            }
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    let mut summary = combine(summaries, started);
    if let Some(report) = union_report {
        let equal = report.equal && summary.verify.as_ref().is_none_or(|v| v.equal);
        let mut all = summary.verify.take().map_or_else(Vec::new, |v| v.tables);
        all.extend(report.tables);
        summary.verify = Some(VerifyReport {
            tables: all,
            equal,
            ..VerifyReport::default()
        });
        if !equal && summary.sync_end == Some(SyncEnd::Completed) {
            summary.sync_end = Some(SyncEnd::CompletedUnverified);
        }
    }
    sink.phase(match summary.sync_end {
        Some(SyncEnd::Paused) => Phase::Paused,
        Some(SyncEnd::Aborted) => Phase::Aborted,
        Some(SyncEnd::CompletedUnverified) => Phase::Sync,
        _ => Phase::Completed,
    });
    Ok(summary)
}

/// Adds the members' summaries up: the job ended as its sources did.
fn combine(summaries: Vec<RunSummary>, started: Instant) -> RunSummary {
    let end = |want: SyncEnd| summaries.iter().any(|s| s.sync_end == Some(want));
    let sync_end = if summaries.iter().all(|s| s.sync_end.is_none()) {
        None
    } else if end(SyncEnd::Aborted) {
        Some(SyncEnd::Aborted)
    } else if end(SyncEnd::Paused) || summaries.iter().any(|s| s.sync_end.is_none()) {
        Some(SyncEnd::Paused)
    } else if end(SyncEnd::CompletedUnverified) {
        Some(SyncEnd::CompletedUnverified)
    } else {
        Some(SyncEnd::Completed)
    };
    let verify =
        summaries
            .iter()
            .filter_map(|s| s.verify.as_ref())
            .fold(None::<VerifyReport>, |acc, v| {
                let mut acc = acc.unwrap_or(VerifyReport {
                    equal: true,
                    ..VerifyReport::default()
                });
                acc.tables.extend(v.tables.iter().cloned());
                acc.equal &= v.equal;
                acc.ranges_known += v.ranges_known;
                acc.ranges_compared += v.ranges_compared;
                Some(acc)
            });
    let first = summaries.first().cloned();
    RunSummary {
        tables: summaries.iter().map(|s| s.tables).sum(),
        rows: summaries.iter().map(|s| s.rows).sum(),
        bytes: summaries.iter().map(|s| s.bytes).sum(),
        seconds: started.elapsed().as_secs_f64(),
        resumed: summaries.iter().any(|s| s.resumed),
        position: first
            .as_ref()
            .map(|s| s.position.clone())
            .unwrap_or_default(),
        lock_ms: summaries.iter().map(|s| s.lock_ms).max().unwrap_or(0),
        verify,
        late_writes: summaries.iter().find_map(|s| s.late_writes.clone()),
        synced_to: first.and_then(|s| s.synced_to),
        sync_end,
    }
}

/// Creates the merged tables once, before any source copies (a fresh job only:
/// one resuming finds them as its sources left them).
async fn prepare(
    profile: &Profile,
    sources: &[Source],
    merged: &HashMap<Name, BTreeSet<ShardId>>,
    sink: &EventSink,
) -> Result<(), JobError> {
    if merged.is_empty() || profile.mode == Mode::Incremental {
        return Ok(());
    }
    let target = inspect::open(profile, crate::endpoint::Side::Target, 2).await?;
    let mut conn = target.conn().await.map_err(FerryError::from)?;
    let mut fresh = true;
    for s in sources {
        let meta = Meta::new(&profile.options.meta_schema, &s.profile.name);
        meta.ensure(&mut conn)
            .await
            .map_err(target_error("creating the meta schema"))?;
        let job = meta
            .load_job(&mut conn)
            .await
            .map_err(target_error("reading the job state"))?;
        if job.is_some_and(|j| {
            matches!(
                j.phase,
                JobPhase::Copy | JobPhase::Copied | JobPhase::Sync | JobPhase::Completing
            )
        }) {
            fresh = false;
        }
    }
    if !fresh {
        // (The pool closes only once every connection is back.)
        drop(conn);
        target.close().await;
        return Ok(());
    }
    // A fresh job: nothing an earlier run of it recorded still holds.
    let merged_meta = merged_meta(profile);
    merged_meta.reset(&mut conn).await.map_err(target_error(
        "forgetting the merged tables' earlier indexes",
    ))?;
    drop(conn);
    // Each merged table from its first shard's definition.
    for s in sources {
        let label = s.profile.source_label();
        let firsts: HashSet<Name> = merged
            .values()
            .filter_map(|shards| shards.iter().next())
            .filter(|f| f.source == label)
            .map(|f| (f.schema.clone(), f.table.clone()))
            .collect();
        if firsts.is_empty() {
            continue;
        }
        let selection = s
            .selection
            .tables_where(|t| firsts.contains(&(t.schema.clone(), t.name.clone())));
        let source = inspect::open(&s.profile, crate::endpoint::Side::Source, 2).await?;
        let created = schema::SchemaCopy {
            source: &source,
            target: &target,
            catalog: &s.catalog,
            selection: &selection,
            sink,
        }
        .create_tables(
            profile.options.on_existing,
            &HashSet::new(),
            &merged_meta,
            &HashSet::new(),
            false,
        )
        .await;
        source.close().await;
        created?;
    }
    target.close().await;
    Ok(())
}

/// Where the merged tables' deferred indexes are recorded: a key of the job's
/// own beside its members' (`job` is the first source's, `job.shard` the
/// others'; a shard name is never empty, so `job.` is no member's).
fn merged_meta(profile: &Profile) -> Meta {
    Meta::new(&profile.options.meta_schema, &format!("{}.", profile.name))
}

/// Builds the merged tables' deferred indexes once every source's copy is in;
/// DDL on a merged table waits for it (see `shard::MergedIndexes`).
async fn build_merged_indexes(
    profile: Profile,
    indexes: Arc<MergedIndexes>,
    sink: EventSink,
) -> Result<(), JobError> {
    indexes.all_copied().await;
    let built = async {
        let target = inspect::open(&profile, crate::endpoint::Side::Target, 2).await?;
        let meta = merged_meta(&profile);
        let built = schema::build_kept(
            &target,
            &meta,
            crate::checkpoint::Later::Deferred,
            profile.options.import_threads,
            &sink,
        )
        .await;
        target.close().await;
        built.map_err(JobError::from)
    }
    .await;
    indexes.done();
    built
}

/// The build's outcome once it ends; pending for ever once taken.
async fn finished(
    build: &mut Option<tokio::task::JoinHandle<Result<(), JobError>>>,
) -> Result<(), JobError> {
    match build.as_mut() {
        Some(b) => {
            let r = b.await;
            *build = None;
            flatten(r)
        }
        None => std::future::pending().await,
    }
}

/// The build task's outcome, a task that did not finish counting as a failure.
fn flatten(r: Result<Result<(), JobError>, tokio::task::JoinError>) -> Result<(), JobError> {
    r.unwrap_or_else(|e| {
        Err(SnapshotError::Target {
            what: "building the merged tables' indexes".into(),
            cause: e.to_string(),
        }
        .into())
    })
}

/// Verifies every merged table against the union of its shards.
async fn verify_union(
    profile: &Profile,
    sources: &[Source],
    merged: &HashMap<Name, BTreeSet<ShardId>>,
    sink: &EventSink,
) -> Result<VerifyReport, JobError> {
    let target = inspect::open(profile, crate::endpoint::Side::Target, 2).await?;
    let mut endpoints = HashMap::new();
    for s in sources {
        let ep = inspect::open(&s.profile, crate::endpoint::Side::Source, 2).await?;
        endpoints.insert(s.profile.source_label().to_string(), ep);
    }
    let mut tables: Vec<(Name, Vec<ShardId>)> = merged
        .iter()
        .map(|(t, shards)| (t.clone(), shards.iter().cloned().collect()))
        .collect();
    tables.sort();
    let catalog_of = |label: &str| {
        sources
            .iter()
            .find(|s| s.profile.source_label() == label)
            .map(|s| &s.catalog)
    };
    let reports = verify_merged_tables(
        &target,
        tables,
        |label| endpoints.get(label),
        catalog_of,
        sink,
    )
    .await;
    for (_, ep) in endpoints {
        ep.close().await;
    }
    target.close().await;
    let tables = reports?;
    let equal = tables.iter().all(|t| t.equal);
    Ok(VerifyReport {
        tables,
        equal,
        ..VerifyReport::default()
    })
}

/// Verifies a one-source job's merged tables (see `shard::local_member`).
pub async fn verify_local(
    source: &crate::endpoint::Endpoint,
    target: &crate::endpoint::Endpoint,
    member: &Member,
    catalog: &crate::catalog::Catalog,
    sink: &EventSink,
) -> Result<Vec<verify::TableReport>, JobError> {
    let mut tables: Vec<(Name, Vec<ShardId>)> = member
        .locks
        .merged()
        .into_iter()
        .map(|t| {
            let shards = member.locks.shards_of(&t);
            (t, shards)
        })
        .collect();
    tables.sort();
    verify_merged_tables(target, tables, |_| Some(source), |_| Some(catalog), sink).await
}

/// Each merged table against the union of its shards (`source_of` and
/// `catalog_of` give a shard's source by its label); the columns compared are
/// the first shard's.
async fn verify_merged_tables<'a>(
    target: &crate::endpoint::Endpoint,
    tables: Vec<(Name, Vec<ShardId>)>,
    source_of: impl Fn(&str) -> Option<&'a crate::endpoint::Endpoint>,
    catalog_of: impl Fn(&str) -> Option<&'a crate::catalog::Catalog>,
    sink: &EventSink,
) -> Result<Vec<verify::TableReport>, JobError> {
    let mut out = Vec::new();
    for (t, shards) in tables {
        let Some(first) = shards.first() else {
            continue;
        };
        let columns = catalog_of(&first.source)
            .and_then(|c| c.table(&first.schema, &first.table))
            .map(verify::data_columns)
            .unwrap_or_default();
        let list: Vec<MergedShard> = shards
            .iter()
            .filter_map(|s| {
                source_of(&s.source).map(|ep| MergedShard {
                    source: ep,
                    label: s.source.clone(),
                    schema: s.schema.clone(),
                    table: s.table.clone(),
                })
            })
            .collect();
        out.push(verify::verify_merged(&list, target, &t, &columns, sink).await?);
    }
    Ok(out)
}
