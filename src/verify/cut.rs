//! Where the continuous verification meets the sync.
//!
//! A *cut* is a point in the source's binlog at which both sides are compared.
//! The verifier opens a consistent snapshot on the source and notes where in
//! the binlog it lies: between `from` and `to` (MariaDB names the snapshot's own
//! position, so `from == to`; elsewhere they are the positions read just before
//! and after it). It hands the sync a [`Cut`]; the sync ends its batch at the
//! first transaction that reaches `to`, and — once every row up to there is
//! committed and nothing after it is — opens a consistent snapshot on the
//! verifier's target connection (or, for a repair, waits while the verifier
//! writes). Both snapshots then hold the same source state of the cut's
//! tables, unless a transaction after `from` touched one of them before the
//! cut: the cut is then *dirty*, and its ranges are compared again later.
//!
//! [`Touches`] records which ranges the sync changes, batch by batch, so a range
//! found equal stays *verified* only until the sync changes it again.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mysql_async::{Conn, Value};
use tokio::sync::{mpsc, oneshot};

use crate::events::VerificationStatus;
use crate::position::Position;

/// A source table, `(schema, name)`.
pub type TableName = (String, String);

/// A verifier's request to the sync (see the module comment).
pub struct Cut {
    /// The source tables compared at this cut.
    pub tables: HashSet<TableName>,
    pub from: Position,
    pub to: Position,
    /// The verifier's target connection: the sync opens the matching snapshot
    /// on it (or gives it back at once, for a repair).
    pub conn: Conn,
    /// A repair: the sync waits at the cut until the verifier lets it go.
    pub hold: bool,
    pub reply: oneshot::Sender<Reached>,
}

/// The sync at a cut.
pub struct Reached {
    pub conn: Conn,
    /// A transaction after `from` changed one of the cut's tables before the
    /// cut: the sides cannot be compared there.
    pub dirty: bool,
    /// The batch sequence number the cut follows (see [`Touches`]).
    pub seq: u64,
    /// For a held cut: the sync goes on when this is dropped.
    pub release: Option<oneshot::Sender<()>>,
}

/// What the verifier and the sync share for one job.
pub struct Hook {
    /// Cuts the verifier asks for; the sync takes them between batches.
    pub cuts: tokio::sync::Mutex<mpsc::Receiver<Cut>>,
    pub touches: Arc<Touches>,
    pub shared: Arc<Shared>,
}

/// What the sync tells the verifier, and what the verifier shows.
pub struct Shared {
    /// The sync's lag at its last tick, in milliseconds; [`LAG_UNKNOWN`] until
    /// the sync has measured it (a catch-up has the servers to itself).
    pub lag_ms: AtomicU64,
    /// The sync streams, and the target is consistent (a chunked copy's
    /// catch-up is over): cuts can be reached.
    pub ready: AtomicBool,
    pub status: Mutex<VerificationStatus>,
}

/// The sync has not measured its lag yet.
pub const LAG_UNKNOWN: u64 = u64::MAX;

impl Default for Shared {
    fn default() -> Self {
        Shared {
            lag_ms: AtomicU64::new(LAG_UNKNOWN),
            ready: AtomicBool::default(),
            status: Mutex::default(),
        }
    }
}

impl Shared {
    pub fn status(&self) -> VerificationStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn lag_ms(&self) -> u64 {
        self.lag_ms.load(Ordering::Relaxed)
    }

    pub fn set_lag(&self, secs: Option<f64>) {
        let ms = secs.map_or(LAG_UNKNOWN, |s| (s * 1000.0) as u64);
        self.lag_ms.store(ms, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Relaxed);
    }
}

/// A new hook and the sender the verifier asks for cuts with.
pub fn hook() -> (Arc<Hook>, mpsc::Sender<Cut>) {
    let (tx, rx) = mpsc::channel(4);
    let hook = Hook {
        cuts: tokio::sync::Mutex::new(rx),
        touches: Arc::new(Touches::default()),
        shared: Arc::new(Shared::default()),
    };
    (Arc::new(hook), tx)
}

/// The ranges of one tracked table, and the batch that last changed each.
struct Tracked {
    /// Each range's upper key, as integers (`None`: the last, open range);
    /// `None` when the key is not all integers: a change marks the whole table.
    uppers: Option<Vec<Option<Vec<i128>>>>,
    /// Per range, the last batch that changed it.
    last: Vec<u64>,
    /// The last batch that changed the table as a whole (unknown range, DDL).
    whole: u64,
    /// Tables whose rows a change to this one can change without a binlog
    /// event of their own (children with ON DELETE/UPDATE actions).
    children: Vec<TableName>,
    /// The last batch that changed any of its rows (its children are marked
    /// once per batch, when it is done).
    touched: u64,
}

/// Which ranges the sync changed, by batch sequence number.
#[derive(Default)]
pub struct Touches {
    state: Mutex<TouchState>,
}

#[derive(Default)]
struct TouchState {
    seq: u64,
    /// The sync's position after batch `seq`.
    at: Position,
    tables: foldhash::HashMap<TableName, Tracked>,
}

/// One batch's marks, under the lock (see [`Touches::batch`]).
pub struct Batch<'a> {
    state: std::sync::MutexGuard<'a, TouchState>,
    seq: u64,
    /// A key's integers, reused from row to row.
    key: Vec<i128>,
}

impl Touches {
    /// Tracks `table`'s ranges from now on, given their upper keys.
    pub fn track(&self, table: TableName, uppers: &[Option<Vec<Value>>], children: Vec<TableName>) {
        let ints: Option<Vec<Option<Vec<i128>>>> = uppers
            .iter()
            .map(|u| match u {
                None => Some(None),
                Some(vals) => vals
                    .iter()
                    .map(integer)
                    .collect::<Option<Vec<_>>>()
                    .map(Some),
            })
            .collect();
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        let seq = state.seq;
        state.tables.insert(
            table,
            Tracked {
                uppers: ints,
                last: vec![seq; uppers.len().max(1)],
                whole: seq,
                children,
                touched: seq,
            },
        );
    }

    /// The current batch sequence number.
    pub fn seq(&self) -> u64 {
        self.state.lock().map(|s| s.seq).unwrap_or(0)
    }

    /// The last batch's sequence number and the sync's position after it.
    pub fn at(&self) -> (u64, Position) {
        self.state
            .lock()
            .map(|s| (s.seq, s.at.clone()))
            .unwrap_or_default()
    }

    /// The sync's position before its first batch.
    pub fn start_at(&self, at: &Position) {
        if let Ok(mut s) = self.state.lock() {
            s.at = at.clone();
        }
    }

    /// Starts recording one batch (the next sequence number).
    pub fn batch(&self) -> Option<Batch<'_>> {
        let mut state = self.state.lock().ok()?;
        state.seq += 1;
        let seq = state.seq;
        Some(Batch {
            state,
            seq,
            key: Vec::new(),
        })
    }

    /// Whether range `chunk` of `table` changed after batch `since`.
    pub fn changed_since(&self, table: &TableName, chunk: usize, since: u64) -> bool {
        let Ok(state) = self.state.lock() else {
            return true;
        };
        match state.tables.get(table) {
            Some(t) => t.whole > since || t.last.get(chunk).is_none_or(|&s| s > since),
            None => true,
        }
    }
}

impl Batch<'_> {
    /// `table`'s row with key `key` changed (`None`: some row, unknown which).
    pub fn touch(&mut self, table: &TableName, key: Option<&[&Value]>) {
        let Batch { state, seq, key: k } = self;
        let Some(t) = state.tables.get_mut(table) else {
            return;
        };
        t.touched = *seq;
        let range = match (key, &t.uppers) {
            (Some(key), Some(uppers)) => {
                k.clear();
                let all = key.iter().all(|v| integer(v).map(|n| k.push(n)).is_some());
                all.then(|| {
                    uppers.partition_point(|u| {
                        u.as_ref().is_some_and(|u| u.as_slice() < k.as_slice())
                    })
                })
            }
            _ => None,
        };
        match range.and_then(|i| t.last.get_mut(i)) {
            Some(slot) => *slot = *seq,
            None => t.whole = *seq,
        }
    }

    /// Every table changed (a DDL statement).
    pub fn touch_all(&mut self) {
        let seq = self.seq;
        for t in self.state.tables.values_mut() {
            t.whole = seq;
        }
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The batch is applied: the sync stands at `at`.
    pub fn done(mut self, at: &Position) {
        self.state.at = at.clone();
    }
}

impl Drop for Batch<'_> {
    /// The children of the tables the batch changed count as changed whole.
    fn drop(&mut self) {
        let seq = self.seq;
        let children: Vec<TableName> = self
            .state
            .tables
            .values()
            .filter(|t| t.touched == seq)
            .flat_map(|t| t.children.iter().cloned())
            .collect();
        for c in children {
            if let Some(child) = self.state.tables.get_mut(&c) {
                child.whole = seq;
            }
        }
    }
}

/// An integer key value as the binlog or the server gives it.
fn integer(v: &Value) -> Option<i128> {
    match v {
        Value::Int(i) => Some(i128::from(*i)),
        Value::UInt(u) => Some(i128::from(*u)),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(t: &str) -> TableName {
        ("s".into(), t.into())
    }

    #[test]
    fn a_change_marks_the_range_its_key_falls_in() {
        let touches = Touches::default();
        let uppers = vec![
            Some(vec![Value::Int(100)]),
            Some(vec![Value::Bytes(b"200".to_vec())]),
            None,
        ];
        touches.track(name("t"), &uppers, vec![name("child")]);
        touches.track(name("child"), &[None], Vec::new());
        let seen = touches.seq();
        {
            let mut b = touches.batch().unwrap();
            b.touch(&name("t"), Some(&[&Value::Int(150)]));
        }
        assert!(!touches.changed_since(&name("t"), 0, seen));
        assert!(touches.changed_since(&name("t"), 1, seen));
        assert!(!touches.changed_since(&name("t"), 2, seen));
        // The child may have changed by a cascade.
        assert!(touches.changed_since(&name("child"), 0, seen));
        let seen = touches.seq();
        {
            let mut b = touches.batch().unwrap();
            // On a bound: the range it closes.
            b.touch(&name("t"), Some(&[&Value::UInt(100)]));
            b.touch(&name("t"), Some(&[&Value::Int(1_000_000)]));
        }
        assert!(touches.changed_since(&name("t"), 0, seen));
        assert!(!touches.changed_since(&name("t"), 1, seen));
        assert!(touches.changed_since(&name("t"), 2, seen));
    }

    #[test]
    fn a_key_that_is_not_an_integer_marks_the_whole_table() {
        let touches = Touches::default();
        touches.track(
            name("t"),
            &[Some(vec![Value::Bytes(b"m".to_vec())]), None],
            Vec::new(),
        );
        let seen = touches.seq();
        touches
            .batch()
            .unwrap()
            .touch(&name("t"), Some(&[&Value::Bytes(b"a".to_vec())]));
        assert!(touches.changed_since(&name("t"), 0, seen));
        assert!(touches.changed_since(&name("t"), 1, seen));
    }
}
