//! Merged tables (shard merge): which target tables several shards — tables of
//! one source or of several — route to, and the DDL lock they share ([`lock`]).
//! Running a job with several sources is `job::group`'s.

pub mod lock;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

pub use lock::{Arrival, Conflict, DdlLocks, LockFailure, LockStatus, ShardId};

use crate::profile::Profile;
use crate::rules::Selection;

pub type Name = (String, String);

/// A member job's part in its job's shard merge.
pub struct Member {
    pub locks: Arc<DdlLocks>,
    /// This member's source label (`source` or a `[[shards]]` name).
    pub source: String,
    /// Part of a job with several sources, which prepared the merged tables and
    /// verifies them; a one-source job does both itself.
    pub group: bool,
    /// Where a source of a job with several waits, once its own tables are
    /// verified, for the merged tables' verdict before it completes.
    pub cutover: Option<Arc<CutoverGate>>,
    /// The merged tables' deferred indexes, built once every source's copy is in.
    pub indexes: Option<Arc<MergedIndexes>>,
}

/// The merged tables of a job with several sources are created without their
/// plain secondary indexes (as a one-source copy creates a big table), since
/// keeping them while both sources load costs every row an index update. The job
/// builds them once every source has copied (`copied`); until then a DDL on a
/// merged table waits (`built`), so the recorded index definitions never meet a
/// table changed under them. The definitions are recorded before the tables are
/// created (`snapshot::schema`), so a crash cannot lose them.
pub struct MergedIndexes {
    sources: usize,
    /// The sources whose copy is in.
    copied: tokio::sync::watch::Sender<std::collections::HashSet<String>>,
    built: tokio::sync::watch::Sender<bool>,
}

impl MergedIndexes {
    pub fn new(sources: usize) -> MergedIndexes {
        MergedIndexes {
            sources,
            copied: tokio::sync::watch::channel(Default::default()).0,
            built: tokio::sync::watch::channel(false).0,
        }
    }

    /// `source`'s copy is in (its copy phase ended now or in an earlier run).
    /// Repeating it is harmless.
    pub fn copied(&self, source: &str) {
        self.copied.send_modify(|c| {
            c.insert(source.to_string());
        });
    }

    /// Resolves once every source's copy is in.
    pub async fn all_copied(&self) {
        let mut rx = self.copied.subscribe();
        let _ = rx.wait_for(|c| c.len() >= self.sources).await;
    }

    /// The indexes are built (or their build ended: a failure stops the job).
    pub fn done(&self) {
        self.built.send_replace(true);
    }

    /// Resolves once [`done`](Self::done) was called.
    pub async fn built(&self) {
        let mut rx = self.built.subscribe();
        let _ = rx.wait_for(|b| *b).await;
    }
}

/// What the merged tables' verification decided for the sources at the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Equal: complete.
    Go,
    /// A merged table differs: keep the job syncing (as a one-source job does).
    Differs,
    /// The job was paused or aborted, or a source failed, before the verdict.
    Paused,
    Aborted,
}

/// The sources of a job complete together: each passes the gate after its own
/// tables are verified, and waits there until the job (`job::group`) has
/// verified the merged tables against the union of their shards — which needs
/// every source caught up — and decided. The first verdict is final.
pub struct CutoverGate {
    sources: usize,
    state: std::sync::Mutex<(usize, Option<Verdict>)>,
    changed: tokio::sync::watch::Sender<u64>,
}

impl CutoverGate {
    pub fn new(sources: usize) -> CutoverGate {
        CutoverGate {
            sources,
            state: std::sync::Mutex::new((0, None)),
            changed: tokio::sync::watch::channel(0).0,
        }
    }

    fn tick(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    fn verdict(&self) -> Option<Verdict> {
        self.state.lock().ok().and_then(|s| s.1)
    }

    /// A source arrives and waits for the verdict.
    pub async fn pass(&self) -> Verdict {
        let mut rx = self.changed.subscribe();
        if let Ok(mut s) = self.state.lock() {
            s.0 += 1;
        }
        self.tick();
        loop {
            if let Some(v) = self.verdict() {
                return v;
            }
            if rx.changed().await.is_err() {
                return Verdict::Paused;
            }
        }
    }

    /// Resolves once every source waits and nothing is decided yet.
    pub async fn all_arrived(&self) {
        let mut rx = self.changed.subscribe();
        loop {
            let ready = self
                .state
                .lock()
                .map(|s| s.0 >= self.sources && s.1.is_none())
                .unwrap_or(false);
            if ready {
                return;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    pub fn decide(&self, verdict: Verdict) {
        if let Ok(mut s) = self.state.lock() {
            s.1.get_or_insert(verdict);
        }
        self.tick();
    }

    pub fn decided(&self) -> bool {
        self.verdict().is_some()
    }
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("source", &self.source)
            .field("group", &self.group)
            .finish_non_exhaustive()
    }
}

/// The target tables several shards route to, each with its shards.
pub fn merged_targets(selections: &[(&str, &Selection)]) -> HashMap<Name, BTreeSet<ShardId>> {
    let mut all: HashMap<Name, BTreeSet<ShardId>> = HashMap::new();
    for (label, selection) in selections {
        for t in &selection.tables {
            all.entry((t.target_schema.clone(), t.target_name.clone()))
                .or_default()
                .insert(ShardId {
                    source: label.to_string(),
                    schema: t.schema.clone(),
                    table: t.name.clone(),
                });
        }
    }
    all.retain(|_, shards| shards.len() > 1);
    all
}

/// A one-source job's own lock when its routes merge tables.
pub fn local_member(profile: &Profile, selection: &Selection) -> Option<Arc<Member>> {
    let merged = merged_targets(&[(profile.source_label(), selection)]);
    if merged.is_empty() {
        return None;
    }
    Some(Arc::new(Member {
        locks: Arc::new(DdlLocks::new(
            profile.job_name(),
            &profile.options.meta_schema,
            merged,
            1,
        )),
        source: profile.source_label().to_string(),
        group: false,
        cutover: None,
        indexes: None,
    }))
}
