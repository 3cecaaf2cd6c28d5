//! The continuous verification's ledger: every key range it compares, its last
//! verdict, and where in the source's binlog both sides were compared — in
//! memory while the job runs, and in the meta schema (`verified`,
//! `verification`) so a later run goes on from it.
//!
//! Guarantee: a range counts as verified only while the sync has not changed
//! it since it was found equal. The stored `equal` verdicts hold at the
//! position `verification.as_of`; a run that resumes from another position
//! (a crash between two saves) cannot know what changed in between, and takes
//! them as changed — compared again, never claimed.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use super::cut::{TableName, Touches};
use crate::checkpoint::{decode_bound, encode_bound, Meta};
use crate::events::ChunkMismatch;
use crate::position::Position;

/// A range's last verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Not compared yet (or since a repair).
    Unchecked,
    /// Equal at the cut `seq` (see `cut::Touches`).
    Equal {
        seq: u64,
    },
    /// Equal once, then changed by the sync before a run that could not tell
    /// (see the module comment).
    Stale,
    Differs(ChunkMismatch),
}

/// One key range `(lower, upper]` of a table.
#[derive(Debug, Clone)]
pub struct Range {
    pub lower: Option<Vec<Value>>,
    pub upper: Option<Vec<Value>>,
    pub verdict: Verdict,
    /// Where both sides were last compared.
    pub position: String,
    /// The source's rows in the range at that comparison.
    pub rows: u64,
    /// When it was last compared (for the order of the next comparisons).
    pub checked: Option<std::time::Instant>,
    /// Its row in the meta schema is behind.
    pub unsaved: bool,
}

impl Range {
    pub fn new(lower: Option<Vec<Value>>, upper: Option<Vec<Value>>) -> Range {
        Range {
            lower,
            upper,
            verdict: Verdict::Unchecked,
            position: String::new(),
            rows: 0,
            checked: None,
            unsaved: true,
        }
    }
}

/// One table compared continuously.
pub struct TableLedger {
    pub name: TableName,
    pub target: TableName,
    /// Compared columns (generated ones left out) and the row key.
    pub columns: Vec<String>,
    pub key: Vec<String>,
    pub ranges: Vec<Range>,
}

impl TableLedger {
    /// Whether range `i` is verified now: equal, and unchanged by the sync since.
    pub fn verified(&self, i: usize, touches: &Touches) -> bool {
        match self.ranges.get(i).map(|r| &r.verdict) {
            Some(Verdict::Equal { seq }) => !touches.changed_since(&self.name, i, *seq),
            _ => false,
        }
    }
}

/// What the meta schema holds of a job's ledger.
#[derive(Default)]
pub struct Stored {
    pub as_of: Option<Position>,
    pub compared: u64,
    pub requeued: u64,
    /// By table, its ranges in order.
    pub tables: std::collections::HashMap<TableName, Vec<Range>>,
}

type StoredRow = (
    String,
    String,
    u32,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
    u64,
);

/// Reads the job's ledger. `resume`: the position this run starts from; an
/// `equal` verdict stored as of another position is taken as [`Verdict::Stale`].
pub async fn load(meta: &Meta, conn: &mut Conn, resume: &Position) -> Result<Stored, String> {
    let head: Option<(Option<String>, u64, u64)> = conn
        .exec_first(
            format!(
                "SELECT as_of, compared, requeued FROM {} WHERE job = ?",
                meta.table("verification")
            ),
            (meta.job(),),
        )
        .await
        .map_err(|e| e.to_string())?;
    let Some((as_of, compared, requeued)) = head else {
        return Ok(Stored::default());
    };
    let as_of: Option<Position> = as_of.and_then(|j| serde_json::from_str(&j).ok());
    let current = as_of.as_ref() == Some(resume);
    let rows: Vec<StoredRow> = conn
        .exec(
            format!(
                "SELECT src_schema, src_table, chunk, lower_bound, upper_bound, verdict, mismatch, position, source_rows \
                 FROM {} WHERE job = ? ORDER BY src_schema, src_table, chunk",
                meta.table("verified")
            ),
            (meta.job(),),
        )
        .await
        .map_err(|e| e.to_string())?;
    let mut tables: std::collections::HashMap<TableName, Vec<Range>> = Default::default();
    for (schema, table, _, lower, upper, verdict, mismatch, position, rows) in rows {
        let verdict = match verdict.as_str() {
            // Seq 0: before any batch of this run.
            "equal" if current => Verdict::Equal { seq: 0 },
            "equal" | "stale" => Verdict::Stale,
            "differs" => mismatch
                .and_then(|m| serde_json::from_str(&m).ok())
                .map_or(Verdict::Unchecked, Verdict::Differs),
            _ => Verdict::Unchecked,
        };
        tables.entry((schema, table)).or_default().push(Range {
            lower: decode_bound(lower)?,
            upper: decode_bound(upper)?,
            verdict,
            position: position.unwrap_or_default(),
            rows,
            checked: None,
            unsaved: false,
        });
    }
    Ok(Stored {
        as_of,
        compared,
        requeued,
        tables,
    })
}

/// Stores the ranges not saved yet, and the counts, as of `as_of` (the
/// sync's position after batch `seq`), in one transaction. A range found equal
/// at a later cut than `seq` is stored as changed: its state at `as_of` is
/// not known.
pub async fn save<'a>(
    meta: &Meta,
    conn: &mut Conn,
    tables: impl Iterator<Item = &'a mut TableLedger>,
    touches: &Touches,
    (seq, as_of): (u64, &Position),
    counts: (u64, u64),
) -> Result<(), mysql_async::Error> {
    let mut rows: Vec<Vec<Value>> = Vec::new();
    for t in tables {
        for i in 0..t.ranges.len() {
            let verified = t.verified(i, touches)
                && matches!(t.ranges[i].verdict, Verdict::Equal { seq: at } if at <= seq);
            let r = &mut t.ranges[i];
            let stale = matches!(r.verdict, Verdict::Equal { .. }) && !verified;
            if !r.unsaved && !stale {
                continue;
            }
            let (verdict, mismatch) = match &r.verdict {
                Verdict::Unchecked => ("unchecked", None),
                Verdict::Equal { .. } if verified => ("equal", None),
                Verdict::Equal { .. } | Verdict::Stale => ("stale", None),
                Verdict::Differs(m) => ("differs", serde_json::to_string(m).ok()),
            };
            rows.push(vec![
                meta.job().into(),
                t.name.0.clone().into(),
                t.name.1.clone().into(),
                (i as u32).into(),
                encode_bound(&r.lower).into(),
                encode_bound(&r.upper).into(),
                verdict.into(),
                mismatch.into(),
                r.position.clone().into(),
                r.rows.into(),
            ]);
            r.unsaved = false;
        }
    }
    let mut tx = conn.start_transaction(Default::default()).await?;
    if !rows.is_empty() {
        tx.exec_batch(
            format!(
                "INSERT INTO {} (job, src_schema, src_table, chunk, lower_bound, upper_bound, verdict, mismatch, position, source_rows) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE lower_bound = VALUES(lower_bound), \
                 upper_bound = VALUES(upper_bound), verdict = VALUES(verdict), mismatch = VALUES(mismatch), \
                 position = VALUES(position), source_rows = VALUES(source_rows)",
                meta.table("verified")
            ),
            rows,
        )
        .await?;
    }
    tx.exec_drop(
        format!(
            "INSERT INTO {} (job, as_of, compared, requeued) VALUES (?, ?, ?, ?) \
             ON DUPLICATE KEY UPDATE as_of = VALUES(as_of), compared = VALUES(compared), requeued = VALUES(requeued)",
            meta.table("verification")
        ),
        (
            meta.job(),
            serde_json::to_string(as_of).unwrap_or_default(),
            counts.0,
            counts.1,
        ),
    )
    .await?;
    tx.commit().await
}

/// Asks the running job to re-copy the differing ranges of `table` (every
/// table's when `None`; `chunk`: only that one). How many ranges were marked.
pub async fn request_repair(
    meta: &Meta,
    conn: &mut Conn,
    table: Option<&TableName>,
    chunk: Option<u32>,
) -> Result<u64, mysql_async::Error> {
    let mut sql = format!(
        "UPDATE {} SET repair = 1 WHERE job = ? AND verdict = 'differs'",
        meta.table("verified"),
    );
    let mut params: Vec<Value> = vec![meta.job().into()];
    if let Some(t) = table {
        sql.push_str(" AND src_schema = ? AND src_table = ?");
        params.extend([t.0.clone().into(), t.1.clone().into()]);
        if let Some(c) = chunk {
            sql.push_str(" AND chunk = ?");
            params.push(c.into());
        }
    }
    conn.exec_drop(sql, params).await?;
    Ok(conn.affected_rows())
}

/// The ranges a repair was asked for.
pub async fn repairs(
    meta: &Meta,
    conn: &mut Conn,
) -> Result<Vec<(TableName, u32)>, mysql_async::Error> {
    let rows: Vec<(String, String, u32)> = conn
        .exec(
            format!(
                "SELECT src_schema, src_table, chunk FROM {} WHERE job = ? AND repair = 1",
                meta.table("verified")
            ),
            (meta.job(),),
        )
        .await?;
    Ok(rows.into_iter().map(|(s, t, c)| ((s, t), c)).collect())
}

/// A range's repair is done (or cannot be done): no longer asked for.
pub async fn repaired(
    meta: &Meta,
    conn: &mut Conn,
    table: &TableName,
    chunk: u32,
) -> Result<(), mysql_async::Error> {
    conn.exec_drop(
        format!(
            "UPDATE {} SET repair = 0 WHERE job = ? AND src_schema = ? AND src_table = ? AND chunk = ?",
            meta.table("verified")
        ),
        (meta.job(), &table.0, &table.1, chunk),
    )
    .await
}
