//! The DDL lock of merged tables, as DM's pessimistic shard mode has it.
//!
//! A target table fed by several shards (source tables, of one source or many)
//! has one definition, so a DDL on it must not run when the first shard changes:
//! the rows other shards still send have the old shape. Each shard's sync stops at
//! its DDL and *arrives* at the table's lock; the lock holds while shards are
//! missing, and when the last one arrives with the same statement (compared after
//! routing, so `ALTER TABLE t1 …` and `ALTER TABLE t2 …` both read `ALTER TABLE
//! db.t …`) that shard runs it once and every waiting shard goes on without
//! running it. A shard arriving with another statement, shards that change their
//! tables in different orders (every source waits on a different lock), or two
//! shards of one source (its reader cannot pass the first to reach the second)
//! stop the job with the lock described.
//!
//! Crash safety: before the DDL runs, the resolved lock is written to the meta
//! schema (`shard_ddl`) with every shard still to pass it; each shard removes
//! itself once its checkpoint is past the statement. A shard that restarts before
//! the statement and finds itself listed goes on at once, running the statement
//! again where that is harmless (a statement already applied is accepted, see
//! `ddl::ALREADY_APPLIED`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::checkpoint::quote;
use crate::endpoint::Endpoint;

pub type Name = (String, String);

/// One shard of a merged table: a table of one of the job's sources.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ShardId {
    /// `source` or a `[[shards]]` name.
    pub source: String,
    pub schema: String,
    pub table: String,
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}.{}", self.source, self.schema, self.table)
    }
}

/// A lock that holds a merged table's DDL, as shown live.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LockStatus {
    /// The merged target table, `schema.table`.
    pub target: String,
    /// The statement as it runs on the target.
    pub statement: String,
    pub arrived: Vec<String>,
    pub waiting_for: Vec<String>,
}

/// Why a lock cannot resolve: the job stops with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    pub target: String,
    pub cause: String,
    /// Each shard that arrived, with its statement.
    pub shards: Vec<(String, String)>,
}

enum Decided {
    Conflict(Conflict),
    Poisoned,
    Last,
    Wait,
}

/// What a shard arriving at a DDL does next.
pub enum Arrival {
    /// Not a merged table: the statement runs as in any job.
    Unmerged,
    /// The last shard: run the statement, then [`DdlLocks::passed`].
    Apply,
    /// The lock was resolved before a restart: run the statement again where
    /// harmless, then [`DdlLocks::passed`].
    Rerun,
    /// Wait with [`DdlLocks::wait`].
    Wait(watch::Receiver<u64>),
}

#[derive(Default)]
struct Lock {
    /// The statement compared (see `normalize`) and as the first shard sent it.
    statement: String,
    shown: String,
    arrived: BTreeMap<ShardId, String>,
}

#[derive(Default)]
struct State {
    locks: HashMap<Name, Lock>,
    /// Source labels waiting, with the lock they wait on.
    waiting: HashMap<String, Name>,
    /// Set when a lock cannot resolve; every waiter stops with it.
    conflict: Option<Conflict>,
}

/// The locks of one job's merged tables, shared by its sources' syncs.
pub struct DdlLocks {
    job: String,
    meta_schema: String,
    /// Each merged target table and its shards.
    groups: Mutex<HashMap<Name, BTreeSet<ShardId>>>,
    sources: usize,
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

impl DdlLocks {
    pub fn new(
        job: &str,
        meta_schema: &str,
        groups: HashMap<Name, BTreeSet<ShardId>>,
        sources: usize,
    ) -> DdlLocks {
        DdlLocks {
            job: job.to_string(),
            meta_schema: meta_schema.to_string(),
            groups: Mutex::new(groups),
            sources: sources.max(1),
            state: Mutex::new(State::default()),
            changed: watch::channel(0).0,
        }
    }

    /// Whether `target` is fed by several shards.
    pub fn is_merged(&self, target: &Name) -> bool {
        self.groups
            .lock()
            .map(|g| g.contains_key(target))
            .unwrap_or(false)
    }

    /// The merged target tables.
    pub fn merged(&self) -> Vec<Name> {
        self.groups
            .lock()
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The shards of a merged table.
    pub fn shards_of(&self, target: &Name) -> Vec<ShardId> {
        self.groups
            .lock()
            .ok()
            .and_then(|g| g.get(target).map(|s| s.iter().cloned().collect()))
            .unwrap_or_default()
    }

    /// A shard dropped on its source: later locks of its table no longer wait for it.
    pub fn forget(&self, shard: &ShardId) {
        if let Ok(mut g) = self.groups.lock() {
            for shards in g.values_mut() {
                shards.remove(shard);
            }
        }
    }

    fn tick(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// `shard` reached `statement` (routed) on `target`.
    pub async fn arrive(
        &self,
        target_ep: &Endpoint,
        shard: &ShardId,
        target: &Name,
        statement: &str,
        position: &str,
    ) -> Result<Arrival, LockFailure> {
        let Some(expected) = self.groups.lock().ok().and_then(|g| g.get(target).cloned()) else {
            return Ok(Arrival::Unmerged);
        };
        let original = statement.split_whitespace().collect::<Vec<_>>().join(" ");
        let statement = normalize(statement);
        if let Some((stored, pending)) = self.stored(target_ep, target).await? {
            if pending.contains(shard) && stored == statement {
                return Ok(Arrival::Rerun);
            }
        }
        let decided = self.decide(shard, target, (&statement, &original), position, &expected);
        match decided {
            Decided::Conflict(c) => {
                self.tick();
                Err(LockFailure::Conflict(c))
            }
            Decided::Poisoned => Err(LockFailure::poisoned()),
            Decided::Last => {
                // Written before the statement runs: a crash between the two leaves
                // every shard to go on (see the module's guarantee).
                self.store(target_ep, target, &statement, &expected).await?;
                Ok(Arrival::Apply)
            }
            Decided::Wait => {
                let rx = self.changed.subscribe();
                self.tick();
                Ok(Arrival::Wait(rx))
            }
        }
    }

    /// The in-memory part of [`arrive`](Self::arrive), under the state's lock.
    fn decide(
        &self,
        shard: &ShardId,
        target: &Name,
        (statement, original): (&str, &str),
        position: &str,
        expected: &BTreeSet<ShardId>,
    ) -> Decided {
        let fqn = format!("{}.{}", target.0, target.1);
        let Ok(mut st) = self.state.lock() else {
            return Decided::Poisoned;
        };
        if let Some(c) = &st.conflict {
            return Decided::Conflict(c.clone());
        }
        let lock = st.locks.entry(target.clone()).or_default();
        if lock.arrived.is_empty() {
            lock.statement = statement.to_string();
            lock.shown = original.to_string();
        }
        if lock.statement != statement {
            let mut shards: Vec<(String, String)> = lock
                .arrived
                .keys()
                .map(|s| (s.to_string(), lock.shown.clone()))
                .collect();
            shards.push((shard.to_string(), original.to_string()));
            let c = Conflict {
                target: fqn,
                cause: "the shards' statements differ".into(),
                shards,
            };
            st.conflict = Some(c.clone());
            return Decided::Conflict(c);
        }
        lock.arrived.insert(shard.clone(), position.to_string());
        let missing: Vec<&ShardId> = expected
            .iter()
            .filter(|s| !lock.arrived.contains_key(*s))
            .collect();
        if missing.is_empty() {
            st.locks.remove(target);
            return Decided::Last;
        }
        let same_source: Vec<String> = missing
            .iter()
            .filter(|s| s.source == shard.source)
            .map(|s| s.to_string())
            .collect();
        if !same_source.is_empty() {
            let c = Conflict {
                target: fqn,
                cause: format!(
                    "{} and {} are shards of one source: its binlog reader cannot wait at the first one's DDL and reach the other's",
                    shard,
                    same_source.join(", ")
                ),
                shards: lock
                    .arrived
                    .keys()
                    .map(|s| (s.to_string(), lock.shown.clone()))
                    .collect(),
            };
            st.conflict = Some(c.clone());
            return Decided::Conflict(c);
        }
        st.waiting.insert(shard.source.clone(), target.clone());
        if st.waiting.len() >= self.sources {
            // Every source waits, each on a lock another source has not reached:
            // the shards changed their tables in different orders.
            let c = Conflict {
                target: fqn,
                cause: "every source waits at a DDL of another merged table: the shards ran their DDL in different orders".into(),
                shards: st
                    .locks
                    .iter()
                    .flat_map(|((s, t), l)| {
                        l.arrived
                            .keys()
                            .map(move |a| (a.to_string(), format!("{s}.{t}: {}", l.shown)))
                    })
                    .collect(),
            };
            st.conflict = Some(c.clone());
            return Decided::Conflict(c);
        }
        Decided::Wait
    }

    /// Waits until the lock `shard` waits on is resolved (`Ok`: go on without running
    /// the statement) or cannot be (`Err`). Cancel-safe: dropping it leaves the wait.
    pub async fn wait(
        &self,
        rx: &mut watch::Receiver<u64>,
        shard: &ShardId,
        target: &Name,
    ) -> Result<(), LockFailure> {
        loop {
            {
                let st = self.state.lock().map_err(|_| LockFailure::poisoned())?;
                if let Some(c) = &st.conflict {
                    return Err(LockFailure::Conflict(c.clone()));
                }
                // `resolved` takes the shard off the waiting list.
                if st.waiting.get(&shard.source) != Some(target) {
                    return Ok(());
                }
            }
            if rx.changed().await.is_err() {
                return Err(LockFailure::poisoned());
            }
        }
    }

    /// Leaves a wait without its lock resolving (the job pauses): the shard
    /// arrives again when it resumes.
    pub fn leave(&self, shard: &ShardId, target: &Name) {
        if let Ok(mut st) = self.state.lock() {
            st.waiting.remove(&shard.source);
            if let Some(l) = st.locks.get_mut(target) {
                l.arrived.remove(shard);
                if l.arrived.is_empty() {
                    st.locks.remove(target);
                }
            }
        }
        self.tick();
    }

    /// The statement ran (the last shard): wakes the shards that wait on it.
    pub fn resolved(&self, target: &Name) {
        if let Ok(mut st) = self.state.lock() {
            st.waiting.retain(|_, t| t != target);
        }
        self.tick();
    }

    /// `shard`'s checkpoint is past the lock's statement.
    pub async fn passed(
        &self,
        target_ep: &Endpoint,
        shard: &ShardId,
        target: &Name,
    ) -> Result<(), LockFailure> {
        // Shards pass at the same time: read and write under the row's lock.
        let mut conn = target_ep.conn().await.map_err(LockFailure::target)?;
        self.ensure(&mut conn).await?;
        let table = self.table();
        let mut tx = conn
            .start_transaction(mysql_async::TxOpts::default())
            .await
            .map_err(LockFailure::target)?;
        let row: Option<String> = tx
            .exec_first(
                format!("SELECT pending FROM {table} WHERE job = ? AND target = ? FOR UPDATE"),
                (&self.job, key(target)),
            )
            .await
            .map_err(LockFailure::target)?;
        let Some(pending) = row else {
            return Ok(());
        };
        let mut pending: BTreeSet<ShardId> = serde_json::from_str(&pending).unwrap_or_default();
        pending.remove(shard);
        if pending.is_empty() {
            tx.exec_drop(
                format!("DELETE FROM {table} WHERE job = ? AND target = ?"),
                (&self.job, key(target)),
            )
            .await
            .map_err(LockFailure::target)?;
        } else {
            let json = serde_json::to_string(&pending).unwrap_or_default();
            tx.exec_drop(
                format!("UPDATE {table} SET pending = ? WHERE job = ? AND target = ?"),
                (json, &self.job, key(target)),
            )
            .await
            .map_err(LockFailure::target)?;
        }
        tx.commit().await.map_err(LockFailure::target)
    }

    /// What waits now, for the live view: the locks with shards missing.
    pub fn status(&self) -> Vec<LockStatus> {
        let groups = self.groups.lock().map(|g| g.clone()).unwrap_or_default();
        let Ok(st) = self.state.lock() else {
            return Vec::new();
        };
        let mut out: Vec<LockStatus> = st
            .locks
            .iter()
            .filter(|(_, l)| !l.arrived.is_empty())
            .map(|(t, l)| LockStatus {
                target: format!("{}.{}", t.0, t.1),
                statement: l.shown.clone(),
                arrived: l.arrived.keys().map(|s| s.to_string()).collect(),
                waiting_for: groups
                    .get(t)
                    .map(|g| {
                        g.iter()
                            .filter(|s| !l.arrived.contains_key(*s))
                            .map(|s| s.to_string())
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        out.sort_by(|a, b| a.target.cmp(&b.target));
        out
    }

    fn table(&self) -> String {
        format!("{}.{}", quote(&self.meta_schema), quote("shard_ddl"))
    }

    async fn ensure(&self, conn: &mut mysql_async::Conn) -> Result<(), LockFailure> {
        conn.query_drop(format!(
            "CREATE TABLE IF NOT EXISTS {} (
               job VARCHAR(64) NOT NULL,
               target VARCHAR(200) NOT NULL,
               statement LONGTEXT NOT NULL,
               pending LONGTEXT NOT NULL,
               PRIMARY KEY (job, target)
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
            self.table()
        ))
        .await
        .map_err(LockFailure::target)
    }

    async fn stored(
        &self,
        target_ep: &Endpoint,
        target: &Name,
    ) -> Result<Option<(String, BTreeSet<ShardId>)>, LockFailure> {
        let mut conn = target_ep.conn().await.map_err(LockFailure::target)?;
        self.ensure(&mut conn).await?;
        let row: Option<(String, String)> = conn
            .exec_first(
                format!(
                    "SELECT statement, pending FROM {} WHERE job = ? AND target = ?",
                    self.table()
                ),
                (&self.job, key(target)),
            )
            .await
            .map_err(LockFailure::target)?;
        Ok(row.map(|(s, p)| (s, serde_json::from_str(&p).unwrap_or_default())))
    }

    async fn store(
        &self,
        target_ep: &Endpoint,
        target: &Name,
        statement: &str,
        pending: &BTreeSet<ShardId>,
    ) -> Result<(), LockFailure> {
        let mut conn = target_ep.conn().await.map_err(LockFailure::target)?;
        self.ensure(&mut conn).await?;
        let json = serde_json::to_string(pending).unwrap_or_default();
        conn.exec_drop(
            format!(
                "REPLACE INTO {} (job, target, statement, pending) VALUES (?, ?, ?, ?)",
                self.table()
            ),
            (&self.job, key(target), statement, json),
        )
        .await
        .map_err(LockFailure::target)
    }
}

fn key(target: &Name) -> String {
    format!("{}.{}", target.0, target.1)
}

/// Statements compared as the target would read them: runs of whitespace are
/// one, backquotes and letter case do not count (a replacement statement typed
/// by hand matches the routed one).
fn normalize(sql: &str) -> String {
    sql.replace('`', "")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A lock that cannot resolve, or the meta schema that could not be reached.
#[derive(Debug)]
pub enum LockFailure {
    Conflict(Conflict),
    Target(String),
}

impl LockFailure {
    fn target(e: impl std::fmt::Display) -> LockFailure {
        LockFailure::Target(e.to_string())
    }

    fn poisoned() -> LockFailure {
        LockFailure::Target("the shard lock state is unusable after a panic".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_compare_without_layout() {
        assert_eq!(
            normalize("ALTER TABLE `db`.`t`\n  ADD COLUMN c INT"),
            normalize("alter table db.t add column c int")
        );
        assert_ne!(
            normalize("ALTER TABLE `db`.`t` ADD COLUMN c INT"),
            normalize("ALTER TABLE `db`.`t` ADD COLUMN c BIGINT")
        );
    }
}
