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

/// Plans the chunks of one table on a reader connection inside the snapshot.
pub async fn plan_table(
    conn: &mut Conn,
    table: &Table,
    chunk_bytes: u64,
) -> Result<Vec<ChunkRecord>, SnapshotError> {
    let whole = |chunk| ChunkRecord {
        schema: table.schema.clone(),
        table: table.name.clone(),
        chunk,
        lower: None,
        upper: None,
        done: false,
        rows: 0,
        bytes: 0,
    };
    let Some(key) = table.row_key() else {
        // No usable key: one chunk, read in one pass.
        return Ok(vec![whole(0)]);
    };
    let step = rows_per_chunk(table, chunk_bytes);
    let fqn = format!("{}.{}", quote(&table.schema), quote(&table.name));
    let cols = key
        .columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut chunks = Vec::new();
    let mut lower: Option<Vec<Value>> = None;
    loop {
        let (pred, mut params) = range_predicate(&key.columns, lower.as_deref(), None);
        let sql = format!("SELECT {cols} FROM {fqn} WHERE {pred} ORDER BY {cols} LIMIT 1 OFFSET ?");
        params.push(Value::UInt(step.saturating_sub(1)));
        let boundary: Option<Row> = conn
            .exec_first(sql, Params::Positional(params))
            .await
            .map_err(source_err(format!("planning chunks of {fqn}")))?;
        let n = chunks.len() as u32;
        match boundary {
            Some(row) => {
                let upper = row.unwrap();
                chunks.push(ChunkRecord {
                    lower: lower.take(),
                    upper: Some(upper.clone()),
                    ..whole(n)
                });
                lower = Some(upper);
            }
            None => {
                chunks.push(ChunkRecord {
                    lower: lower.take(),
                    upper: None,
                    ..whole(n)
                });
                break;
            }
        }
    }
    Ok(chunks)
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
    fn composite_ranges_expand_lexicographically() {
        let key = vec!["a".to_string(), "b".to_string()];
        let (sql, params) = range_predicate(&key, Some(&[Value::Int(1), Value::Int(2)]), None);
        assert_eq!(sql, "((`a` > ?) OR (`a` = ? AND `b` > ?))");
        assert_eq!(params, vec![Value::Int(1), Value::Int(1), Value::Int(2)]);
        let (sql, _) = range_predicate(&key, None, Some(&[Value::Int(1), Value::Int(2)]));
        assert_eq!(sql, "((`a` < ?) OR (`a` = ? AND `b` <= ?))");
    }
}
