//! Verification: row counts and checksums of every selected table, source vs target
//! (under routing), and their definitions (`definition`).
//!
//! The source is read inside one consistent snapshot (shared by parallel
//! connections). Each table is compared whole first (`COUNT(*)` and `CHECKSUM
//! TABLE` on both sides at the same time); a table that differs is planned into key
//! ranges like the copy plans them, and each range's `COUNT(*)` and
//! order-independent checksums (BIT_XOR and SUM of a CRC32 over each row's columns,
//! NULLs marked separately so `NULL` and `''` differ) are compared, naming the ranges
//! that differ. Sessions use `binary` strings and UTC, so both sides hash the same
//! bytes. Generated columns are excluded from the range checksums: they are
//! recomputed, not copied.

pub mod continuous;
pub mod cut;
pub mod definition;
pub mod ledger;

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::future::try_join_all;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Row, Value};
use serde::Serialize;
use tokio::sync::Mutex;

use crate::catalog::{Catalog, Table};
use crate::checkpoint::{quote, ChunkRecord};
use crate::endpoint::{Endpoint, Flavor};
use crate::error::Coded;
use crate::events::{EventSink, JobEvent};
use crate::profile::Consistency;
use crate::rules::Selection;
use crate::snapshot::consistency;
use crate::snapshot::plan::{plan_table, range_predicate};

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("verification failed on the {side}: {what}: {cause}")]
    Query {
        side: &'static str,
        what: String,
        cause: String,
    },
    #[error("table {table} is missing on the source catalog")]
    Missing { table: String },
}

impl Coded for VerifyError {
    fn code(&self) -> &'static str {
        match self {
            VerifyError::Query { .. } => "verify.query_failed",
            VerifyError::Missing { .. } => "verify.missing_table",
        }
    }

    fn remedy(&self) -> String {
        match self {
            VerifyError::Query { .. } => {
                "check that the table exists on both sides and the accounts may SELECT it".into()
            }
            VerifyError::Missing { .. } => {
                "⟦cli:check the job's [objects] rules|app:check the selection on the Objects page⟧"
                    .into()
            }
        }
    }
}

pub use crate::events::{ChunkMismatch, KeySample};

/// Keys named per differing range, and ranges sampled per table.
pub const SAMPLE_KEYS: usize = 5;
const SAMPLED_RANGES: usize = 10;
/// A range with more rows than this on either side is not compared row by row
/// (its rows would travel to this machine).
const SAMPLE_MAX_ROWS: u64 = 200_000;

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct TableReport {
    pub schema: String,
    pub table: String,
    pub target_schema: String,
    pub target_table: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub chunks: u64,
    pub mismatches: Vec<ChunkMismatch>,
    /// How the target's definition differs from the source's (see `definition`),
    /// one line each; empty when it agrees.
    pub definition: Vec<String>,
    /// The last DDL the sync replayed on the table (filled in by the job, for a
    /// table that differs).
    pub last_ddl: Option<String>,
    pub equal: bool,
}

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct VerifyReport {
    pub tables: Vec<TableReport>,
    pub equal: bool,
    /// Key ranges the continuous verification had verified and the sync had
    /// not changed since: not compared again.
    #[serde(default)]
    pub ranges_known: u64,
    /// Key ranges compared by this verification (whole tables count as one).
    #[serde(default)]
    pub ranges_compared: u64,
}

/// What the continuous verification knows of a table (see `continuous`).
pub enum Known {
    /// Every range verified and unchanged since: only its definition is compared.
    Verified { rows: u64, ranges: u64 },
    /// Only these ranges need comparing; the others, holding `rows` rows, are
    /// verified and unchanged.
    Ranges {
        compare: Vec<ChunkRecord>,
        rows: u64,
        ranges: u64,
    },
}

/// By source `(schema, table)`.
pub type KnownTables = std::collections::HashMap<(String, String), Known>;

/// What a stopped verifier's ledger spares the cutover: tables whose key and
/// columns are still the ones it compared.
pub fn known_tables(
    ledger: &[ledger::TableLedger],
    touches: &cut::Touches,
    catalog: &Catalog,
) -> KnownTables {
    let mut known = KnownTables::new();
    for t in ledger {
        let Some(table) = catalog.table(&t.name.0, &t.name.1) else {
            continue;
        };
        let key = table
            .row_key()
            .map(|k| k.columns.clone())
            .unwrap_or_default();
        if key != t.key || data_columns(table) != t.columns || t.ranges.is_empty() {
            continue;
        }
        let mut compare = Vec::new();
        let mut rows = 0;
        for (i, r) in t.ranges.iter().enumerate() {
            if t.verified(i, touches) {
                rows += r.rows;
            } else {
                compare.push(ChunkRecord {
                    schema: t.name.0.clone(),
                    table: t.name.1.clone(),
                    chunk: i as u32,
                    lower: r.lower.clone(),
                    upper: r.upper.clone(),
                    done: false,
                    rows: 0,
                    bytes: 0,
                });
            }
        }
        let ranges = t.ranges.len() as u64;
        let entry = if compare.is_empty() {
            Known::Verified { rows, ranges }
        } else {
            Known::Ranges {
                compare,
                rows,
                ranges,
            }
        };
        known.insert(t.name.clone(), entry);
    }
    known
}

/// The columns compared: everything but generated columns.
pub fn data_columns(table: &Table) -> Vec<String> {
    table
        .columns
        .iter()
        .filter(|c| c.generated.is_none())
        .map(|c| c.name.clone())
        .collect()
}

/// One row's CRC32 over `columns`, NULLs told apart from empty values: the hash
/// both the range checksums and the key samples compare.
fn row_hash(columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    let nulls: Vec<String> = cols.iter().map(|c| format!("ISNULL({c})")).collect();
    format!(
        "CRC32(CONCAT_WS('#', {}, CONCAT({})))",
        cols.join(", "),
        nulls.join(", ")
    )
}

pub(super) fn checksum_sql(columns: &[String], fqn: &str, pred: &str) -> String {
    // CRC32 per row; BIT_XOR and SUM over the range are order-independent, and the
    // SUM also catches what XOR cancels (a row present twice).
    format!(
        "SELECT COUNT(*), COALESCE(BIT_XOR(h), 0), COALESCE(SUM(h), 0) FROM \
         (SELECT {} AS h FROM {fqn} WHERE {pred}) AS rows_",
        row_hash(columns)
    )
}

pub(super) async fn session(conn: &mut Conn) -> Result<(), mysql_async::Error> {
    conn.query_drop("SET NAMES binary, SESSION time_zone = '+00:00'")
        .await
}

pub(super) fn show_bound(b: &Option<Vec<Value>>) -> String {
    match b {
        None => "∞".into(),
        Some(vals) => vals
            .iter()
            .map(|v| match v {
                Value::Bytes(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                other => other.as_sql(true),
            })
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// A range's lower bound: `-∞` when open.
pub(super) fn show_lower(b: &Option<Vec<Value>>) -> String {
    match b {
        None => "-∞".into(),
        Some(_) => show_bound(b),
    }
}

/// One range of one table to compare (`None`: the whole table, by CHECKSUM TABLE).
struct Job {
    table: usize,
    chunk: Option<ChunkRecord>,
}

/// What one range looked like on both sides: rows and two checksums.
struct Outcome {
    table: usize,
    chunk: Option<ChunkRecord>,
    source: (u64, Value, Value),
    target: (u64, Value, Value),
}

pub(super) fn read_sums(row: Option<Row>) -> (u64, Value, Value) {
    match row {
        Some(mut r) => (
            r.take::<u64, _>(0).unwrap_or(0),
            r.take::<Value, _>(1).unwrap_or(Value::NULL),
            r.take::<Value, _>(2).unwrap_or(Value::NULL),
        ),
        None => (0, Value::NULL, Value::NULL),
    }
}

/// Verifies every selected table with up to `threads` connections per side; the
/// source connections share one consistent snapshot.
///
/// Each table is first compared whole with `CHECKSUM TABLE` and `COUNT(*)` on both
/// sides (the server checksums its rows without building strings: several times
/// cheaper than per-row SQL); only a table whose checksums differ — different data,
/// or a target table whose definition differs — is planned into key ranges and
/// compared range by range, which names the ranges that differ.
#[allow(clippy::too_many_arguments)]
pub async fn verify(
    source: &Endpoint,
    target: &Endpoint,
    flavor: Flavor,
    catalog: &Catalog,
    selection: &Selection,
    chunk_bytes: u64,
    threads: usize,
    known: &KnownTables,
    sink: &EventSink,
) -> Result<VerifyReport, VerifyError> {
    let snap = consistency::open(
        source,
        flavor,
        Consistency::Auto,
        threads.max(1),
        &[],
        true,
        false,
    )
    .await
    .map_err(|e| VerifyError::Query {
        side: "source",
        what: "opening a consistent snapshot".into(),
        cause: e.to_string(),
    })?;
    let mut reports = Vec::new();
    let mut specs = Vec::new();
    let mut tables = Vec::new();
    for sel in &selection.tables {
        let table = catalog
            .table(&sel.schema, &sel.name)
            .ok_or_else(|| VerifyError::Missing {
                table: format!("{}.{}", sel.schema, sel.name),
            })?;
        reports.push(TableReport {
            schema: sel.schema.clone(),
            table: sel.name.clone(),
            target_schema: sel.target_schema.clone(),
            target_table: sel.target_name.clone(),
            source_rows: 0,
            target_rows: 0,
            chunks: 1,
            mismatches: Vec::new(),
            definition: Vec::new(),
            last_ddl: None,
            equal: true,
        });
        specs.push(Arc::new(Spec {
            columns: data_columns(table),
            key: table
                .row_key()
                .map(|k| k.columns.clone())
                .unwrap_or_default(),
            src_fqn: format!("{}.{}", quote(&sel.schema), quote(&sel.name)),
            dst_fqn: format!("{}.{}", quote(&sel.target_schema), quote(&sel.target_name)),
        }));
        tables.push(table);
    }
    let specs = Arc::new(specs);
    // The target's side of each pair, opened side by side (round trips, not work).
    let targets = try_join_all(snap.readers.iter().map(|_| async {
        let mut tgt = target.conn().await.map_err(|e| VerifyError::Query {
            side: "target",
            what: "connecting".into(),
            cause: e.to_string(),
        })?;
        session(&mut tgt).await.map_err(|e| VerifyError::Query {
            side: "target",
            what: "session setup".into(),
            cause: e.to_string(),
        })?;
        Ok::<_, VerifyError>(tgt)
    }))
    .await?;
    let pairs: Vec<_> = snap.readers.into_iter().zip(targets).collect();

    // What the continuous verification knows is not compared again: its
    // verified ranges count as equal, its other ranges go straight to the
    // range by range comparison.
    let mut ranges_known = 0;
    let mut ranges = VecDeque::new();
    let mut differing = Vec::new();
    let mut unknown = Vec::new();
    for (index, report) in reports.iter_mut().enumerate() {
        match known.get(&(report.schema.clone(), report.table.clone())) {
            Some(Known::Verified { rows, ranges: n }) => {
                report.source_rows = *rows;
                report.target_rows = *rows;
                report.chunks = *n;
                ranges_known += n;
            }
            Some(Known::Ranges {
                compare,
                rows,
                ranges: n,
            }) => {
                report.chunks = *n;
                ranges_known += n - compare.len() as u64;
                ranges.extend(compare.iter().map(|c| Job {
                    table: index,
                    chunk: Some(c.clone()),
                }));
                differing.push(index);
                // Summed with the compared ranges' rows below.
                report.source_rows = *rows;
                report.target_rows = *rows;
            }
            None => unknown.push(index),
        }
    }
    let known_differing = differing.clone();
    // The others whole first.
    let whole = unknown
        .iter()
        .map(|&table| Job { table, chunk: None })
        .collect();
    let mut ranges_compared = unknown.len() as u64;
    let (mut pairs, outcomes) = run_jobs(pairs, whole, &specs).await?;
    for o in outcomes {
        let report = &mut reports[o.table];
        report.source_rows = o.source.0;
        report.target_rows = o.target.0;
        // NULL: the engine keeps no checksum it could compute (never equal).
        if o.source != o.target || o.source.1 == Value::NULL {
            differing.push(o.table);
        }
    }

    // Then the differing ones range by range, inside the same snapshot.
    if let Some((planner, _)) = pairs.first_mut() {
        for &index in differing.iter().filter(|i| !known_differing.contains(i)) {
            let chunks = plan_table(planner, tables[index], chunk_bytes)
                .await
                .map_err(|e| VerifyError::Query {
                    side: "source",
                    what: format!("planning {}", specs[index].src_fqn),
                    cause: e.to_string(),
                })?;
            let report = &mut reports[index];
            report.chunks = chunks.len() as u64;
            report.source_rows = 0;
            report.target_rows = 0;
            ranges.extend(chunks.into_iter().map(|chunk| Job {
                table: index,
                chunk: Some(chunk),
            }));
        }
    }
    ranges_compared += ranges.len() as u64;
    let (mut pairs, mut outcomes) = run_jobs(pairs, ranges, &specs).await?;
    outcomes.sort_by_key(|o| (o.table, o.chunk.as_ref().map_or(0, |c| c.chunk)));
    // Each differing range's bounds, to list its keys.
    let mut bounds: Vec<Vec<Bounds>> = vec![Vec::new(); reports.len()];
    for o in outcomes {
        let Some(chunk) = o.chunk else { continue };
        let report = &mut reports[o.table];
        report.source_rows += o.source.0;
        report.target_rows += o.target.0;
        if o.source != o.target {
            report.mismatches.push(ChunkMismatch {
                chunk: chunk.chunk,
                range: format!(
                    "({} .. {}]",
                    show_lower(&chunk.lower),
                    show_bound(&chunk.upper)
                ),
                source_rows: o.source.0,
                target_rows: o.target.0,
                samples: Vec::new(),
            });
            bounds[o.table].push((chunk.lower.clone(), chunk.upper.clone()));
        }
    }
    // Sample keys inside the same snapshot, before the readers let it go.
    if let Some((src, tgt)) = pairs.first_mut() {
        for &index in &differing {
            sample_table(src, tgt, &specs[index], &bounds[index], &mut reports[index]).await?;
        }
    }
    for (mut src, _) in pairs {
        let _ = src.query_drop("COMMIT").await;
    }
    for &index in &differing {
        let report = &mut reports[index];
        // Every range equal although the whole-table checksums differ: the tables
        // are stored differently (e.g. another column order), the rows are the same.
        report.equal = report.mismatches.is_empty() && report.source_rows == report.target_rows;
    }
    compare_definitions(source, target, &mut reports).await?;
    for report in &reports {
        sink.emit(JobEvent::Verified {
            schema: report.schema.clone(),
            table: report.table.clone(),
            equal: report.equal,
            source_rows: report.source_rows,
            target_rows: report.target_rows,
            chunks: report.chunks,
            mismatched_chunks: report.mismatches.len() as u64,
        });
    }
    let equal = reports.iter().all(|t| t.equal);
    Ok(VerifyReport {
        tables: reports,
        equal,
        ranges_known,
        ranges_compared,
    })
}

/// A range's lower (exclusive) and upper (inclusive) key.
type Bounds = (Option<Vec<Value>>, Option<Vec<Value>>);

/// Names up to [`SAMPLE_KEYS`] keys in each of the first differing ranges of a
/// table with a key: each side lists the range's keys with a CRC32 per row, and
/// the lists are compared here.
async fn sample_table(
    src: &mut Conn,
    tgt: &mut Conn,
    spec: &Spec,
    bounds: &[Bounds],
    report: &mut TableReport,
) -> Result<(), VerifyError> {
    if spec.key.is_empty() {
        return Ok(());
    }
    for (m, (lower, upper)) in report
        .mismatches
        .iter_mut()
        .zip(bounds)
        .take(SAMPLED_RANGES)
    {
        if m.source_rows.max(m.target_rows) > SAMPLE_MAX_ROWS {
            continue;
        }
        m.samples = differing_in(src, tgt, spec, lower, upper).await?;
    }
    Ok(())
}

/// Up to [`SAMPLE_KEYS`] keys of range `(lower, upper]` whose rows differ: each
/// side lists the range's keys with a CRC32 per row, compared here. Empty for
/// a keyless table.
pub(super) async fn differing_in(
    src: &mut Conn,
    tgt: &mut Conn,
    spec: &Spec,
    lower: &Option<Vec<Value>>,
    upper: &Option<Vec<Value>>,
) -> Result<Vec<KeySample>, VerifyError> {
    if spec.key.is_empty() {
        return Ok(Vec::new());
    }
    let (pred, params) = range_predicate(&spec.key, lower.as_deref(), upper.as_deref());
    let sql = |fqn: &str| row_hashes_sql(&spec.columns, &spec.key, fqn, &pred);
    let fail = |side: &'static str| {
        move |e: mysql_async::Error| VerifyError::Query {
            side,
            what: "listing the keys of a differing range".into(),
            cause: e.to_string(),
        }
    };
    let mine: Vec<Row> = src
        .exec(sql(&spec.src_fqn), Params::Positional(params.clone()))
        .await
        .map_err(fail("source"))?;
    let theirs: Vec<Row> = tgt
        .exec(sql(&spec.dst_fqn), Params::Positional(params))
        .await
        .map_err(fail("target"))?;
    Ok(differing_keys(
        &keyed(mine, spec.key.len()),
        &keyed(theirs, spec.key.len()),
    ))
}

fn row_hashes_sql(columns: &[String], key: &[String], fqn: &str, pred: &str) -> String {
    let keys: Vec<String> = key.iter().map(|c| quote(c)).collect();
    format!(
        "SELECT {}, {} FROM {fqn} WHERE {pred}",
        keys.join(", "),
        row_hash(columns)
    )
}

/// A side's rows of a range: the key as printed → the row's hash.
fn keyed(rows: Vec<Row>, key_len: usize) -> std::collections::BTreeMap<String, Value> {
    rows.into_iter()
        .map(|row| {
            let mut vals = row.unwrap();
            let hash = vals.pop().unwrap_or(Value::NULL);
            vals.truncate(key_len);
            (show_bound(&Some(vals)), hash)
        })
        .collect()
}

/// The first keys (in printed order) whose rows differ, at most [`SAMPLE_KEYS`].
fn differing_keys(
    source: &std::collections::BTreeMap<String, Value>,
    target: &std::collections::BTreeMap<String, Value>,
) -> Vec<KeySample> {
    let only = |a: &std::collections::BTreeMap<String, Value>,
                b: &std::collections::BTreeMap<String, Value>,
                what: &str| {
        a.keys()
            .filter(|k| !b.contains_key(*k))
            .map(|k| KeySample {
                key: k.clone(),
                difference: what.into(),
            })
            .collect::<Vec<_>>()
    };
    let mut all = only(source, target, "missing on the target");
    all.extend(only(target, source, "only on the target"));
    all.extend(
        source
            .iter()
            .filter(|(k, h)| target.get(*k).is_some_and(|t| t != *h))
            .map(|(k, _)| KeySample {
                key: k.clone(),
                difference: "differs".into(),
            }),
    );
    all.sort_by(|a, b| a.key.cmp(&b.key));
    all.truncate(SAMPLE_KEYS);
    all
}

/// Compares each table's definition on both sides; a table whose definition
/// differs is not equal, whatever its rows.
async fn compare_definitions(
    source: &Endpoint,
    target: &Endpoint,
    reports: &mut [TableReport],
) -> Result<(), VerifyError> {
    let fail = |side: &'static str| {
        move |e: &dyn std::fmt::Display| VerifyError::Query {
            side,
            what: "reading table definitions".into(),
            cause: e.to_string(),
        }
    };
    let flavor = |f: Result<crate::endpoint::ServerFacts, _>| f.ok().map(|f| f.flavor);
    let same_flavor = flavor(source.facts().await) == flavor(target.facts().await);
    let read = |endpoint: &'static str, ep: &Endpoint, schema: String, table: String| {
        let ep = ep.clone();
        async move {
            let mut conn = ep.conn().await.map_err(|e| fail(endpoint)(&e))?;
            definition::read(&mut conn, &schema, &table)
                .await
                .map_err(|e| fail(endpoint)(&e))
        }
    };
    // Every table on both sides at once (the pools bound the connections): at a
    // distance each read is round trips, not work.
    let definitions = try_join_all(reports.iter().map(|r| {
        let s = read("source", source, r.schema.clone(), r.table.clone());
        let t = read(
            "target",
            target,
            r.target_schema.clone(),
            r.target_table.clone(),
        );
        async move { tokio::try_join!(s, t) }
    }))
    .await?;
    for (r, (s, t)) in reports.iter_mut().zip(definitions) {
        r.definition = definition::differences(&s, &t, same_flavor);
        r.equal &= r.definition.is_empty();
    }
    Ok(())
}

/// One shard of a merged table for [`verify_merged`]: its source and its name.
pub struct MergedShard<'a> {
    pub source: &'a Endpoint,
    /// `source` or a `[[shards]]` name, for the report.
    pub label: String,
    pub schema: String,
    pub table: String,
}

/// Compares a table merged from several shards with the union of its shards:
/// row counts add up, and the order-independent checksums (BIT_XOR and SUM of a
/// CRC32 per row) of the target equal the XOR and the sum of the shards' ones.
/// Each shard is read in one statement; the sources should be quiet (a cutover).
///
/// First, cheaply: the server's `CHECKSUM TABLE` is the sum of a checksum per
/// row, modulo 2^32 (MariaDB and MySQL both add them up), so a merged table whose
/// definition is its shards' has the sum of theirs. Only when that does not add
/// up (other data, or a definition that changes the per-row checksum) are the
/// rows hashed in SQL, which says it by content alone.
pub async fn verify_merged(
    shards: &[MergedShard<'_>],
    target: &Endpoint,
    target_name: &(String, String),
    columns: &[String],
    sink: &EventSink,
) -> Result<TableReport, VerifyError> {
    let (parts, merged) = on_every_side(shards, target, target_name, |ep, side, fqn| async move {
        server_checksum(ep, side, &fqn).await
    })
    .await;
    let union = parts.into_iter().try_fold((0u64, 0u64), |acc, p| {
        let (rows, sum) = p?;
        Ok::<_, VerifyError>((acc.0 + rows, (acc.1 + sum) % (1 << 32)))
    });
    if let (Ok(union), Ok(merged)) = (union, merged) {
        if union == merged {
            return Ok(merged_report(
                shards,
                target_name,
                union.0,
                merged.0,
                true,
                sink,
            ));
        }
    }
    verify_merged_rows(shards, target, target_name, columns, sink).await
}

/// Runs `f` on every shard and on the merged table at once (each is one scan on
/// its own server): the shards' results, then the target's.
async fn on_every_side<'a, T, F, Fut>(
    shards: &'a [MergedShard<'a>],
    target: &'a Endpoint,
    target_name: &(String, String),
    f: F,
) -> (Vec<T>, T)
where
    F: Fn(&'a Endpoint, &'static str, String) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let dst = format!("{}.{}", quote(&target_name.0), quote(&target_name.1));
    tokio::join!(
        futures_util::future::join_all(shards.iter().map(|s| f(
            s.source,
            "source",
            format!("{}.{}", quote(&s.schema), quote(&s.table))
        ))),
        f(target, "target", dst)
    )
}

/// `COUNT(*)` and `CHECKSUM TABLE` of a whole table, the checksum as a number.
async fn server_checksum(
    ep: &Endpoint,
    side: &'static str,
    fqn: &str,
) -> Result<(u64, u64), VerifyError> {
    let fail = |e: &dyn std::fmt::Display| VerifyError::Query {
        side,
        what: format!("checksumming {fqn}"),
        cause: e.to_string(),
    };
    let mut conn = ep.conn().await.map_err(|e| fail(&e))?;
    let (rows, sum, _) = whole_table(&mut conn, fqn).await.map_err(|e| fail(&e))?;
    let sum = whole_number(&sum).and_then(|n| u64::try_from(n).ok());
    // NULL: the engine keeps no checksum it could compute.
    sum.map(|s| (rows, s))
        .ok_or_else(|| fail(&"the server gave no table checksum"))
}

/// A number the server sent as an integer or as decimal text (SUM's), its whole
/// part; `None` for NULL.
fn whole_number(v: &Value) -> Option<u128> {
    match v {
        Value::Int(i) => Some(*i as u128),
        Value::UInt(u) => Some(u128::from(*u)),
        Value::Bytes(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.split('.').next()?.parse().ok()),
        _ => None,
    }
}

/// The report of a merged table, announced as verified.
fn merged_report(
    shards: &[MergedShard<'_>],
    target_name: &(String, String),
    source_rows: u64,
    target_rows: u64,
    equal: bool,
    sink: &EventSink,
) -> TableReport {
    let report = TableReport {
        schema: "(merged)".into(),
        table: shards
            .iter()
            .map(|s| format!("{}:{}.{}", s.label, s.schema, s.table))
            .collect::<Vec<_>>()
            .join(" + "),
        target_schema: target_name.0.clone(),
        target_table: target_name.1.clone(),
        source_rows,
        target_rows,
        chunks: 1,
        mismatches: if equal {
            Vec::new()
        } else {
            vec![ChunkMismatch {
                chunk: 0,
                range: "(-∞ .. ∞]".into(),
                source_rows,
                target_rows,
                samples: Vec::new(),
            }]
        },
        definition: Vec::new(),
        last_ddl: None,
        equal,
    };
    sink.emit(JobEvent::Verified {
        schema: report.schema.clone(),
        table: report.table.clone(),
        equal,
        source_rows: report.source_rows,
        target_rows: report.target_rows,
        chunks: 1,
        mismatched_chunks: u64::from(!equal),
    });
    report
}

/// [`verify_merged`] by hashing every row in SQL.
async fn verify_merged_rows(
    shards: &[MergedShard<'_>],
    target: &Endpoint,
    target_name: &(String, String),
    columns: &[String],
    sink: &EventSink,
) -> Result<TableReport, VerifyError> {
    async fn sums(
        ep: &Endpoint,
        side: &'static str,
        fqn: &str,
        columns: &[String],
    ) -> Result<(u64, u64, u128), VerifyError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| VerifyError::Query {
            side,
            what: format!("{what} {fqn}"),
            cause: e.to_string(),
        };
        let mut conn = ep.conn().await.map_err(|e| fail("connecting for", &e))?;
        session(&mut conn)
            .await
            .map_err(|e| fail("session setup for", &e))?;
        let row: Option<Row> = conn
            .query_first(checksum_sql(columns, fqn, "TRUE"))
            .await
            .map_err(|e| fail("checksumming", &e))?;
        let (count, xor, sum) = read_sums(row);
        let number = |v: &Value| whole_number(v).unwrap_or(0);
        Ok((count, number(&xor) as u64, number(&sum)))
    }
    let (parts, merged) = on_every_side(shards, target, target_name, |ep, side, fqn| async move {
        sums(ep, side, &fqn, columns).await
    })
    .await;
    let mut union = (0u64, 0u64, 0u128);
    for part in parts {
        let (c, x, m) = part?;
        union = (union.0 + c, union.1 ^ x, union.2 + m);
    }
    let merged = merged?;
    let equal = merged == union;
    Ok(merged_report(
        shards,
        target_name,
        union.0,
        merged.0,
        equal,
        sink,
    ))
}

/// Runs the jobs on every (source, target) connection pair; gives the pairs back
/// (the source side still inside its snapshot).
async fn run_jobs(
    pairs: Vec<(Conn, Conn)>,
    jobs: VecDeque<Job>,
    specs: &Arc<Vec<Arc<Spec>>>,
) -> Result<(Vec<(Conn, Conn)>, Vec<Outcome>), VerifyError> {
    let jobs = Arc::new(Mutex::new(jobs));
    let workers: Vec<_> = pairs
        .into_iter()
        .map(|(src, tgt)| tokio::spawn(compare(src, tgt, jobs.clone(), specs.clone())))
        .collect();
    let mut pairs = Vec::new();
    let mut outcomes = Vec::new();
    let mut first_err = None;
    for w in workers {
        match w.await {
            Ok(Ok((src, tgt, mut o))) => {
                pairs.push((src, tgt));
                outcomes.append(&mut o);
            }
            Ok(Err(e)) => {
                jobs.lock().await.clear();
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(VerifyError::Query {
                    side: "source",
                    what: "a verification task".into(),
                    cause: e.to_string(),
                });
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok((pairs, outcomes)),
    }
}

/// The compared columns and names of one table.
#[derive(Clone)]
pub(super) struct Spec {
    pub columns: Vec<String>,
    pub key: Vec<String>,
    pub src_fqn: String,
    pub dst_fqn: String,
}

/// Takes jobs from the queue; both sides checksum each one at the same time.
async fn compare(
    mut src: Conn,
    mut tgt: Conn,
    jobs: Arc<Mutex<VecDeque<Job>>>,
    specs: Arc<Vec<Arc<Spec>>>,
) -> Result<(Conn, Conn, Vec<Outcome>), VerifyError> {
    let mut out = Vec::new();
    loop {
        let Some(job) = jobs.lock().await.pop_front() else {
            break;
        };
        let spec = specs[job.table].clone();
        let (s, t) = match &job.chunk {
            None => tokio::join!(
                whole_table(&mut src, &spec.src_fqn),
                whole_table(&mut tgt, &spec.dst_fqn)
            ),
            Some(chunk) => {
                let (pred, params) = if spec.key.is_empty() {
                    ("1=1".to_string(), Vec::new())
                } else {
                    range_predicate(&spec.key, chunk.lower.as_deref(), chunk.upper.as_deref())
                };
                let (s, t) = tokio::join!(
                    src.exec_first::<Row, _, _>(
                        checksum_sql(&spec.columns, &spec.src_fqn, &pred),
                        Params::Positional(params.clone())
                    ),
                    tgt.exec_first::<Row, _, _>(
                        checksum_sql(&spec.columns, &spec.dst_fqn, &pred),
                        Params::Positional(params)
                    )
                );
                (s.map(read_sums), t.map(read_sums))
            }
        };
        let s = s.map_err(|e| VerifyError::Query {
            side: "source",
            what: format!("checksumming {}", spec.src_fqn),
            cause: e.to_string(),
        })?;
        let t = t.map_err(|e| VerifyError::Query {
            side: "target",
            what: format!("checksumming {}", spec.dst_fqn),
            cause: e.to_string(),
        })?;
        out.push(Outcome {
            table: job.table,
            chunk: job.chunk,
            source: s,
            target: t,
        });
    }
    Ok((src, tgt, out))
}

/// `COUNT(*)` and `CHECKSUM TABLE` of a whole table (in the session's snapshot).
async fn whole_table(
    conn: &mut Conn,
    fqn: &str,
) -> Result<(u64, Value, Value), mysql_async::Error> {
    let rows: Option<u64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {fqn}"))
        .await?;
    let sum: Option<Row> = conn.query_first(format!("CHECKSUM TABLE {fqn}")).await?;
    let sum = sum
        .and_then(|mut r| r.take::<Value, _>(1))
        .unwrap_or(Value::NULL);
    Ok((rows.unwrap_or(0), sum, Value::NULL))
}
