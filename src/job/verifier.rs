//! The continuous verification beside a job's sync (see `verify::continuous`):
//! which tables it compares, and with what share of the servers' time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{far, SyncCtx};
use crate::catalog::{Catalog, Table};
use crate::position::Position;
use crate::replicate::reader::TableMap;
use crate::snapshot::plan;
use crate::verify::continuous::{self, Candidate, Running, Settings};
use crate::verify::cut::{self, Hook, TableName};

/// ON DELETE / ON UPDATE rules that change a child's rows without an event of
/// the child's own in the binlog.
const ACTIONS: [&str; 3] = ["CASCADE", "SET NULL", "SET DEFAULT"];

impl SyncCtx<'_> {
    /// Starts the verifier for the sync's `tables` (off when the job's
    /// `verify_share` is 0).
    pub(super) fn start_verifier(
        &self,
        tables: &HashMap<TableName, TableMap>,
        target_catalog: &Catalog,
        start: &Position,
    ) -> Option<(Running, Arc<Hook>)> {
        let share = self.profile.incremental.verify_share;
        if share == 0 {
            return None;
        }
        let merged: HashSet<TableName> = self
            .opts
            .shard
            .as_ref()
            .map(|m| m.locks.merged().into_iter().collect())
            .unwrap_or_default();
        let mut candidates = Vec::new();
        for t in &self.selection.tables {
            let name = (t.schema.clone(), t.name.clone());
            let target = (t.target_schema.clone(), t.target_name.clone());
            let Some(table) = self.catalog.table(&t.schema, &t.name) else {
                continue;
            };
            let map = tables.get(&name);
            let not_continuous = if merged.contains(&target) {
                Some("merged from several sources; compared at the cutover".to_string())
            } else if map.is_none_or(|m| m.absent) {
                Some("not on the target yet; compared at the cutover".into())
            } else if map.is_some_and(|m| m.skip.insert || m.skip.update || m.skip.delete) {
                Some("the job's filters leave out some of its changes".into())
            } else if table.system_versioned {
                Some("system-versioned; compared at the cutover".into())
            } else {
                target_catalog
                    .table(&t.target_schema, &t.target_name)
                    .and_then(|on_target| key_collation_differs(table, on_target))
            };
            let children = self
                .selection
                .tables
                .iter()
                .filter(|c| {
                    self.catalog.table(&c.schema, &c.name).is_some_and(|ct| {
                        ct.foreign_keys.iter().any(|fk| {
                            fk.ref_schema == t.schema
                                && fk.ref_table == t.name
                                && (ACTIONS.contains(&fk.on_delete.as_str())
                                    || ACTIONS.contains(&fk.on_update.as_str()))
                        })
                    })
                })
                .map(|c| (c.schema.clone(), c.name.clone()))
                .collect();
            candidates.push(Candidate {
                name,
                target,
                table,
                not_continuous,
                children,
            });
        }
        let (hook, cuts) = cut::hook();
        let settings = Settings {
            flavor: self.flavor,
            chunk_bytes: plan::chunk_bytes_at(
                self.profile.options.chunk_bytes,
                far(self.source, self.target),
            ),
            share,
            resume: start.clone(),
        };
        let running = continuous::start(
            self.source,
            self.target,
            self.meta,
            candidates,
            settings,
            hook.clone(),
            cuts,
        );
        Some((running, hook))
    }
}

/// A key column that compares under another collation on the target: the
/// same key range can hold other rows there, so ranges cannot be compared.
fn key_collation_differs(source: &Table, target: &Table) -> Option<String> {
    let key = source.row_key()?;
    key.columns.iter().find_map(|name| {
        let of = |t: &Table| {
            t.columns
                .iter()
                .find(|c| &c.name == name)
                .and_then(|c| c.collation.clone())
        };
        let (s, t) = (of(source), of(target));
        (s != t).then(|| {
            format!(
                "key column {name} compares under {} on the source and {} on the target; compared at the cutover",
                s.as_deref().unwrap_or("no collation"),
                t.as_deref().unwrap_or("no collation")
            )
        })
    })
}
