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
    }))
}
