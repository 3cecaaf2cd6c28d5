//! The events of a job's sources merged into the job's one stream, so adapters
//! show a job with several sources like any other: one plan listing every
//! source's tables (their schema labelled `schema@source`), one throughput, one
//! sync status with each source's part in `sources`. Phases go forward as the
//! slowest source does; the job's end is announced by the job, not by a source.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::events::{EventSink, JobEvent, Phase, SourceSync, SyncStatus, TableCount};

#[derive(Default)]
struct Throughput {
    rows_done: u64,
    bytes_done: u64,
    rows_total: u64,
    bytes_total: u64,
    rows_per_sec: f64,
    bytes_per_sec: f64,
    eta_secs: Option<u64>,
    tables: Vec<TableCount>,
}

struct State {
    phases: Vec<Option<Phase>>,
    shown: Option<Phase>,
    plans: Vec<Option<Vec<crate::events::TableTotals>>>,
    throughput: Vec<Option<Throughput>>,
    sync: Vec<Option<(String, SyncStatus)>>,
}

#[derive(Clone)]
pub struct Merger {
    out: EventSink,
    state: Arc<Mutex<State>>,
}

fn rank(p: Phase) -> Option<u8> {
    Some(match p {
        Phase::Precheck => 0,
        Phase::Snapshot => 1,
        Phase::Schema => 2,
        Phase::Copy => 3,
        Phase::Objects => 4,
        Phase::Verify => 5,
        Phase::Sync => 6,
        Phase::Completing => 7,
        // The job announces how it ended.
        Phase::Completed | Phase::Paused | Phase::Failed | Phase::Aborted => return None,
    })
}

fn label(schema: &str, source: &str) -> String {
    format!("{schema}@{source}")
}

impl Merger {
    pub fn new(out: EventSink, sources: usize) -> Merger {
        Merger {
            out,
            state: Arc::new(Mutex::new(State {
                phases: vec![None; sources],
                shown: None,
                plans: vec![None; sources],
                throughput: (0..sources).map(|_| None).collect(),
                sync: vec![None; sources],
            })),
        }
    }

    /// Forwards source `i`'s events until its run drops its sink.
    pub async fn forward(
        self,
        i: usize,
        source: String,
        mut rx: mpsc::UnboundedReceiver<JobEvent>,
    ) {
        while let Some(event) = rx.recv().await {
            self.on(i, &source, event);
        }
    }

    fn on(&self, i: usize, source: &str, mut event: JobEvent) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        // Events about one table, and reports, say which source they are from.
        match &mut event {
            JobEvent::Chunk { schema, .. } | JobEvent::Verified { schema, .. } => {
                *schema = label(schema, source)
            }
            JobEvent::Warning { report } | JobEvent::Error { report } => {
                report.message = format!("source {source}: {}", report.message)
            }
            _ => {}
        }
        match event {
            JobEvent::Phase { phase } => {
                st.phases[i] = Some(phase);
                // The slowest source's phase; sources that ended count as done.
                let slowest = st
                    .phases
                    .iter()
                    .map(|p| p.map_or(Some(0), rank))
                    .min_by_key(|r| r.unwrap_or(u8::MAX))
                    .flatten();
                let shown = st.shown.and_then(rank);
                if let Some(r) = slowest {
                    if shown.is_none_or(|s| r > s) {
                        let phase = st
                            .phases
                            .iter()
                            .flatten()
                            .copied()
                            .find(|p| rank(*p) == Some(r))
                            .unwrap_or(phase);
                        st.shown = Some(phase);
                        self.out.phase(phase);
                    }
                }
            }
            JobEvent::Plan { mut tables } => {
                for t in &mut tables {
                    t.schema = label(&t.schema, source);
                }
                st.plans[i] = Some(tables);
                let all: Vec<_> = st.plans.iter().flatten().flatten().cloned().collect();
                self.out.emit(JobEvent::Plan { tables: all });
            }
            JobEvent::Throughput {
                rows_done,
                bytes_done,
                rows_total,
                bytes_total,
                rows_per_sec,
                bytes_per_sec,
                eta_secs,
                mut tables,
            } => {
                for t in &mut tables {
                    t.schema = label(&t.schema, source);
                }
                st.throughput[i] = Some(Throughput {
                    rows_done,
                    bytes_done,
                    rows_total,
                    bytes_total,
                    rows_per_sec,
                    bytes_per_sec,
                    eta_secs,
                    tables,
                });
                let all = st.throughput.iter().flatten();
                let sum = all.fold(Throughput::default(), |mut a, t| {
                    a.rows_done += t.rows_done;
                    a.bytes_done += t.bytes_done;
                    a.rows_total += t.rows_total;
                    a.bytes_total += t.bytes_total;
                    a.rows_per_sec += t.rows_per_sec;
                    a.bytes_per_sec += t.bytes_per_sec;
                    a.eta_secs = a.eta_secs.max(t.eta_secs);
                    a.tables.extend(t.tables.iter().cloned());
                    a
                });
                self.out.emit(JobEvent::Throughput {
                    rows_done: sum.rows_done,
                    bytes_done: sum.bytes_done,
                    rows_total: sum.rows_total,
                    bytes_total: sum.bytes_total,
                    rows_per_sec: sum.rows_per_sec,
                    bytes_per_sec: sum.bytes_per_sec,
                    eta_secs: sum.eta_secs,
                    tables: sum.tables,
                });
            }
            JobEvent::Sync(status) => {
                st.sync[i] = Some((source.to_string(), status));
                self.out.emit(JobEvent::Sync(combined(&st.sync)));
            }
            // Chunks, verified tables and reports (labelled above); retries,
            // snapshots, created objects, DDL as they are.
            other => self.out.emit(other),
        }
    }
}

/// One sync status for the job: sums of counts and rates, the largest lag, synced
/// when every source is, each source's own part in `sources`.
fn combined(all: &[Option<(String, SyncStatus)>]) -> SyncStatus {
    let parts: Vec<&(String, SyncStatus)> = all.iter().flatten().collect();
    let mut out = parts.first().map(|(_, s)| s.clone()).unwrap_or_default();
    let states: Vec<&str> = parts.iter().map(|(_, s)| s.state.as_str()).collect();
    out.state = ["failed", "retrying", "waiting", "completing", "syncing"]
        .into_iter()
        .find(|w| states.contains(w))
        .or_else(|| states.first().copied())
        .unwrap_or("syncing")
        .to_string();
    out.transactions = parts.iter().map(|(_, s)| s.transactions).sum();
    out.changes = parts.iter().map(|(_, s)| s.changes).sum();
    out.job_changes = parts.iter().map(|(_, s)| s.job_changes).sum();
    out.job_ddl = parts.iter().map(|(_, s)| s.job_ddl).sum();
    out.transactions_per_sec = parts.iter().map(|(_, s)| s.transactions_per_sec).sum();
    out.changes_per_sec = parts.iter().map(|(_, s)| s.changes_per_sec).sum();
    // Unknown for the job when unknown for any source.
    out.lag_secs = parts
        .iter()
        .map(|(_, s)| s.lag_secs)
        .try_fold(0f64, |a, b| b.map(|b| a.max(b)));
    // The worst health of any source, since the latest change.
    use crate::events::Health;
    let worst = |h: Health| match h {
        Health::Streaming => 0,
        Health::Retrying => 1,
        Health::Stopped => 2,
    };
    if let Some((_, s)) = parts.iter().max_by_key(|(_, s)| worst(s.health)) {
        out.health = s.health;
        out.health_since = s.health_since;
    }
    out.behind_bytes = parts
        .iter()
        .map(|(_, s)| s.behind_bytes)
        .try_fold(0u64, |a, b| b.map(|b| a + b));
    out.catch_up_secs = parts
        .iter()
        .map(|(_, s)| s.catch_up_secs)
        .try_fold(0f64, |a, b| b.map(|b| a.max(b)));
    out.synced = all
        .iter()
        .all(|p| p.as_ref().is_some_and(|(_, s)| s.synced));
    out.retry = parts.iter().find_map(|(_, s)| s.retry.clone());
    out.tables = parts
        .iter()
        .flat_map(|(src, s)| {
            s.tables.iter().map(move |t| TableCount {
                schema: label(&t.schema, src),
                table: t.table.clone(),
                count: t.count,
            })
        })
        .collect();
    // Every source shares the lock state; the first one's view is the job's.
    out.shard_locks = parts
        .iter()
        .map(|(_, s)| &s.shard_locks)
        .find(|l| !l.is_empty())
        .cloned()
        .unwrap_or_default();
    out.sources = parts
        .iter()
        .map(|(src, s)| SourceSync {
            source: src.clone(),
            state: s.state.clone(),
            applied: s.applied.clone(),
            source_position: s.source.clone(),
            synced: s.synced,
            health: s.health,
            lag_secs: s.lag_secs,
            changes_per_sec: s.changes_per_sec,
        })
        .collect();
    out
}
