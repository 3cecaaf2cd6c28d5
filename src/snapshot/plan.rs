//! Chunk planning: splits a table into key ranges `(lower, upper]` of about
//! `chunk_bytes` each. Boundaries are found by the source itself, walking the key
//! index inside the snapshot (`ORDER BY key LIMIT 1 OFFSET n`), so they follow the
//! key's collation exactly and every row falls in exactly one range.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};

use super::{source_err, SnapshotError};
use crate::catalog::Table;
use crate::checkpoint::{quote, ChunkRecord};

/// A WHERE fragment and its parameters selecting `(lower, upper]` on `key`.
/// Tuples compare lexicographically, written with ANDs and ORs (not row
/// constructors) so every flavor's range optimizer uses the index.
pub fn range_predicate(
    key: &[String],
    lower: Option<&[Value]>,
    upper: Option<&[Value]>,
) -> (String, Vec<Value>) {
    let mut parts = Vec::new();
    let mut params = Vec::new();
    let mut tuple = |vals: &[Value], strict_op: &str, inclusive: bool| {
        // (k0,k1,..) OP (v0,v1,..)  ==  k0 OP' v0 OR (k0 = v0 AND (k1 OP' v1 OR ...))
        let mut ors = Vec::new();
        for i in 0..key.len().min(vals.len()) {
            let mut ands = Vec::new();
            for j in 0..i {
                ands.push(format!("{} = ?", quote(&key[j])));
                params.push(vals[j].clone());
            }
            let last = i + 1 == key.len();
            let op = if last && inclusive {
                format!("{strict_op}=")
            } else {
                strict_op.to_string()
            };
            ands.push(format!("{} {op} ?", quote(&key[i])));
            params.push(vals[i].clone());
            ors.push(format!("({})", ands.join(" AND ")));
        }
        format!("({})", ors.join(" OR "))
    };
    if let Some(lo) = lower {
        parts.push(tuple(lo, ">", false));
    }
    if let Some(hi) = upper {
        parts.push(tuple(hi, "<", true));
    }
    if parts.is_empty() {
        ("1=1".to_string(), params)
    } else {
        (parts.join(" AND "), params)
    }
}

/// Rows per chunk for a table: its average row size from the statistics, at least
/// one row, and for tiny or unanalysed tables everything in one chunk.
pub fn rows_per_chunk(table: &Table, chunk_bytes: u64) -> u64 {
    let avg = table
        .data_bytes
        .checked_div(table.row_estimate)
        .map_or(100, |a| a.max(1));
    (chunk_bytes / avg).max(1)
}

/// The chunk size for servers `round_trip` away. Each chunk costs four round trips
/// beyond its data (read, load, checkpoint, commit), so at the default size chunks
/// grow with the distance to keep those a small share of a chunk's time: 2 MiB
/// per millisecond of round trip (a 20 ms WAN: 40 MiB), at most 64 MiB. Below
/// [`crate::endpoint::NEAR`] (loopback, a LAN), and at any distance for a size
/// the user set, `chunk_bytes` holds as set: a user may want small chunks to
/// resume sooner or keep a chunked copy's reads short, and a busy machine can
/// make a loopback server look far.
pub fn chunk_bytes_at(chunk_bytes: u64, round_trip: std::time::Duration) -> u64 {
    if round_trip < crate::endpoint::NEAR || chunk_bytes != crate::profile::DEFAULT_CHUNK_BYTES {
        return chunk_bytes;
    }
    let ms = round_trip.as_millis() as u64;
    chunk_bytes.max(ms.saturating_mul(2 << 20).min(64 << 20))
}

/// Tables up to this size may be copied whole: see [`whole_table_bytes`].
pub const WHOLE_TABLE_MAX: u64 = 256 << 20;

/// Up to how many bytes a table is copied as one chunk, in one transaction (0:
/// none). Into an empty table of MariaDB 10.6 or later, a transaction under the
/// copy's `unique_checks = 0` inserts in bulk: one undo record for the table
/// instead of one per row, which purge would also have to visit afterwards.
/// Only the first transaction into the empty table gets that, so a table the
/// size of its writer's share or less (and at most [`WHOLE_TABLE_MAX`]: a
/// stopped copy redoes it whole) is one chunk; on 8 × 1 M sysbench rows that
/// took a tenth off the copy. `bulk_into_empty` says the target and the run
/// allow it: not a chunked copy (it reads each chunk in a snapshot of its own,
/// which is what keeps its reads short), nor a job with several sources (the
/// bulk insert locks the table until it commits), nor a job that set its own
/// `chunk_bytes` (a chunk size the user asked for is kept).
pub fn whole_table_bytes(bulk_into_empty: bool, total_bytes: u64, writers: usize) -> u64 {
    if !bulk_into_empty {
        return 0;
    }
    (total_bytes / writers.max(1) as u64).min(WHOLE_TABLE_MAX)
}

/// A table as one chunk, read in one pass.
pub fn whole(table: &Table) -> Vec<ChunkRecord> {
    ranges(table, Vec::new())
}

/// Plans the chunks of one table on a reader connection inside the snapshot.
pub async fn plan_table(
    conn: &mut Conn,
    table: &Table,
    chunk_bytes: u64,
) -> Result<Vec<ChunkRecord>, SnapshotError> {
    let Some(key) = table.row_key() else {
        // No usable key: one chunk.
        return Ok(whole(table));
    };
    let step = rows_per_chunk(table, chunk_bytes);
    let fqn = format!("{}.{}", quote(&table.schema), quote(&table.name));
    let uppers = match integer_uppers(conn, table, &key.columns, step, &fqn).await? {
        Some(uppers) => uppers,
        None => walked_uppers(conn, &key.columns, step, &fqn).await?,
    };
    Ok(ranges(table, uppers))
}

/// Chunks `(previous upper, upper]` for each upper bound, then the open range above
/// the last one: nothing escapes the plan, whatever the bounds were.
fn ranges(table: &Table, uppers: Vec<Vec<Value>>) -> Vec<ChunkRecord> {
    let chunk = |n: usize, lower: Option<Vec<Value>>, upper: Option<Vec<Value>>| ChunkRecord {
        schema: table.schema.clone(),
        table: table.name.clone(),
        chunk: n as u32,
        lower,
        upper,
        done: false,
        rows: 0,
        bytes: 0,
    };
    let mut chunks = Vec::with_capacity(uppers.len() + 1);
    let mut lower = None;
    for (n, upper) in uppers.into_iter().enumerate() {
        chunks.push(chunk(n, lower.take(), Some(upper.clone())));
        lower = Some(upper);
    }
    chunks.push(chunk(chunks.len(), lower, None));
    chunks
}

/// Upper bounds found by the source itself, walking the key index
/// (`ORDER BY key LIMIT 1 OFFSET step-1` after the previous bound).
async fn walked_uppers(
    conn: &mut Conn,
    key: &[String],
    step: u64,
    fqn: &str,
) -> Result<Vec<Vec<Value>>, SnapshotError> {
    let cols = key.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let mut uppers: Vec<Vec<Value>> = Vec::new();
    loop {
        let (pred, mut params) = range_predicate(key, uppers.last().map(Vec::as_slice), None);
        let sql = format!("SELECT {cols} FROM {fqn} WHERE {pred} ORDER BY {cols} LIMIT 1 OFFSET ?");
        params.push(Value::UInt(step.saturating_sub(1)));
        let boundary: Option<Row> = conn
            .exec_first(sql, Params::Positional(params))
            .await
            .map_err(source_err(format!("planning chunks of {fqn}")))?;
        match boundary {
            Some(row) => uppers.push(row.unwrap()),
            None => return Ok(uppers),
        }
    }
}

/// A single integer key that is dense enough (at most 4 key values per row) is cut
/// by arithmetic between its MIN and MAX — two index dives instead of a walk over
/// the whole key, as mydumper does. Sparser keys, or tables whose statistics are
/// missing, return `None` and are walked.
async fn integer_uppers(
    conn: &mut Conn,
    table: &Table,
    key: &[String],
    step: u64,
    fqn: &str,
) -> Result<Option<Vec<Vec<Value>>>, SnapshotError> {
    let [column] = key else { return Ok(None) };
    let is_integer = table.columns.iter().any(|c| {
        c.name == *column
            && matches!(
                c.data_type.to_ascii_lowercase().as_str(),
                "tinyint" | "smallint" | "mediumint" | "int" | "bigint"
            )
    });
    if !is_integer || table.row_estimate == 0 {
        return Ok(None);
    }
    let k = quote(column);
    let bounds: Option<(Option<i128>, Option<i128>)> = conn
        .query_first(format!("SELECT MIN({k}), MAX({k}) FROM {fqn}"))
        .await
        .map_err(source_err(format!("planning chunks of {fqn}")))?;
    let (Some(min), Some(max)) = bounds.unwrap_or((None, None)) else {
        return Ok(None);
    };
    Ok(integer_ranges(min, max, table.row_estimate, step)
        .map(|uppers| uppers.into_iter().map(|u| vec![int_value(u)]).collect()))
}

/// Upper bounds (inclusive) of ranges over `[min, max]` holding about `step` of
/// `rows` rows each, the last one (above them, up to `max` and beyond) left open;
/// `None` when the key is too sparse for arithmetic.
fn integer_ranges(min: i128, max: i128, rows: u64, step: u64) -> Option<Vec<i128>> {
    let span = max - min + 1;
    let rows = rows.max(1) as i128;
    if span > rows.saturating_mul(4) {
        return None;
    }
    let width = (step.max(1) as i128 * span / rows).max(1);
    let mut uppers = Vec::new();
    let mut upper = min + width - 1;
    while upper < max {
        uppers.push(upper);
        upper += width;
    }
    Some(uppers)
}

fn int_value(v: i128) -> Value {
    match i64::try_from(v) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::UInt(u64::try_from(v).unwrap_or(u64::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_column_ranges() {
        let key = vec!["id".to_string()];
        let (sql, params) = range_predicate(&key, Some(&[Value::Int(10)]), Some(&[Value::Int(20)]));
        assert_eq!(sql, "((`id` > ?)) AND ((`id` <= ?))");
        assert_eq!(params, vec![Value::Int(10), Value::Int(20)]);
        let (sql, params) = range_predicate(&key, None, None);
        assert_eq!(sql, "1=1");
        assert!(params.is_empty());
    }

    #[test]
    fn dense_integer_keys_are_cut_by_arithmetic() {
        // 1..=100 000, 10 000 rows a chunk: 9 closed ranges and the open last one.
        let uppers = integer_ranges(1, 100_000, 100_000, 10_000).unwrap();
        assert_eq!(uppers.len(), 9);
        assert_eq!(uppers[0], 10_000);
        assert_eq!(uppers[8], 90_000);
        // Half the key values used: ranges twice as wide.
        assert_eq!(
            integer_ranges(1, 200_000, 100_000, 10_000).unwrap()[0],
            20_000
        );
        // Too sparse for arithmetic: walk the index instead.
        assert!(integer_ranges(1, 1_000_000, 100, 10).is_none());
        // Fewer rows than a chunk: one open range.
        assert!(integer_ranges(5, 9, 5, 100).unwrap().is_empty());
        // Unsigned BIGINT beyond i64.
        let top = u64::MAX as i128;
        assert_eq!(int_value(top), Value::UInt(u64::MAX));
        assert_eq!(integer_ranges(top - 9, top, 10, 5).unwrap(), vec![top - 5]);
    }

    #[test]
    fn composite_ranges_expand_lexicographically() {
        let key = vec!["a".to_string(), "b".to_string()];
        let (sql, params) = range_predicate(&key, Some(&[Value::Int(1), Value::Int(2)]), None);
        assert_eq!(sql, "((`a` > ?) OR (`a` = ? AND `b` > ?))");
        assert_eq!(params, vec![Value::Int(1), Value::Int(1), Value::Int(2)]);
        let (sql, _) = range_predicate(&key, None, Some(&[Value::Int(1), Value::Int(2)]));
        assert_eq!(sql, "((`a` < ?) OR (`a` = ? AND `b` <= ?))");
    }

    #[test]
    fn default_chunks_grow_with_the_distance_only() {
        use std::time::Duration;
        // Near the servers (loopback, a LAN) the setting holds, however small.
        assert_eq!(chunk_bytes_at(65536, Duration::from_micros(300)), 65536);
        assert_eq!(chunk_bytes_at(4 << 20, Duration::from_micros(900)), 4 << 20);
        // 20 ms away: 40 MiB; far away: capped.
        assert_eq!(chunk_bytes_at(4 << 20, Duration::from_millis(20)), 40 << 20);
        assert_eq!(
            chunk_bytes_at(4 << 20, Duration::from_millis(300)),
            64 << 20
        );
        // A size the user set holds at any distance.
        assert_eq!(chunk_bytes_at(65536, Duration::from_millis(20)), 65536);
        assert_eq!(chunk_bytes_at(8 << 20, Duration::from_millis(20)), 8 << 20);
    }

    #[test]
    fn whole_tables_up_to_a_writers_share_and_a_cap() {
        // 8 tables of 224 MB over 4 writers: each table whole.
        assert_eq!(whole_table_bytes(true, 8 * 224_000_000, 4), WHOLE_TABLE_MAX);
        // One big table among small ones: its share is a quarter, so it is chunked.
        assert_eq!(whole_table_bytes(true, 100 << 20, 4), 25 << 20);
        // Targets or runs that do not load empty tables in bulk: never.
        assert_eq!(whole_table_bytes(false, 8 << 30, 4), 0);
        assert_eq!(whole_table_bytes(true, 8 << 30, 0), WHOLE_TABLE_MAX);
    }
}
