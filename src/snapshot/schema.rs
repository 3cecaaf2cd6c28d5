//! Schema copy: databases and tables before the data, views, triggers, routines and
//! events after it. Statements come from the source's own `SHOW CREATE …`, with
//! names rewritten for routing. Rewrites work on backquoted identifier tokens (the
//! form every `SHOW CREATE` prints) and skip string literals, so a value that
//! happens to look like a name is never touched.

use std::collections::{BTreeSet, HashSet};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::{source_conn, source_err, target_conn, target_err, SnapshotError};
use crate::catalog::{Catalog, Schema};
use crate::checkpoint::{quote, Later, Meta};
use crate::endpoint::Endpoint;
use crate::error::Report;
use crate::events::{EventSink, JobEvent};
use crate::profile::{DefinerPolicy, OnExisting};
use crate::rules::{Matcher, SelectedTable, Selection};

/// A lexical token of a `SHOW CREATE` statement that matters for rewriting.
#[derive(Debug, PartialEq)]
enum Tok {
    /// A backquoted identifier: byte span in the text and its unquoted name.
    Ident(usize, usize, String),
    /// An unquoted word (a keyword, or a name as a trigger body writes it).
    Word(usize, usize, String),
    Dot,
    Other,
}

fn tokens(sql: &str) -> Vec<Tok> {
    use crate::mysql::{Comments, TokenKind};
    // Generated text: names inside comments (a trigger body's) are rewritten too.
    crate::mysql::tokens(sql, Comments::Scan)
        .into_iter()
        .map(|t| match t.kind {
            TokenKind::Quoted => Tok::Ident(t.start, t.end, t.text),
            TokenKind::Word => Tok::Word(t.start, t.end, t.text),
            TokenKind::Punct if t.text == "." => Tok::Dot,
            _ => Tok::Other,
        })
        .collect()
}

/// Rewrites every `` `schema`.`name` `` pair for which `map` gives a new pair.
pub fn rewrite_qualified(
    sql: &str,
    map: impl Fn(&str, &str) -> Option<(String, String)>,
) -> String {
    // Names may be unquoted: triggers and routines keep their body as written.
    let name = |t: &Tok| match t {
        Tok::Ident(s, e, n) | Tok::Word(s, e, n) => Some((*s, *e, n.clone())),
        _ => None,
    };
    let toks = tokens(sql);
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut i = 0;
    while i + 2 < toks.len() {
        if let (Some((s0, _, schema)), Tok::Dot, Some((_, e1, name))) =
            (name(&toks[i]), &toks[i + 1], name(&toks[i + 2]))
        {
            if let Some((ts, tn)) = map(&schema, &name) {
                edits.push((s0, e1, format!("{}.{}", quote(&ts), quote(&tn))));
            }
            // A third part (`db`.`t`.`col`) stays as is.
            i += 3;
            continue;
        }
        i += 1;
    }
    let mut out = sql.to_string();
    for (s, e, text) in edits.into_iter().rev() {
        out.replace_range(s..e, &text);
    }
    out
}

/// Replaces the table name right after `CREATE TABLE` with a qualified target name.
pub fn retarget_create_table(sql: &str, schema: &str, table: &str) -> Option<String> {
    let toks = tokens(sql);
    let Some(Tok::Ident(s, e, _)) = toks.iter().find(|t| matches!(t, Tok::Ident(..))) else {
        return None;
    };
    let mut out = sql.to_string();
    out.replace_range(*s..*e, &format!("{}.{}", quote(schema), quote(table)));
    Some(out)
}

/// Tables at least this big get their secondary indexes after the data.
pub const DEFER_INDEXES_FROM: u64 = 8 << 20;

/// Splits plain secondary keys (`KEY` / `INDEX`, not unique, fulltext or spatial)
/// out of a `SHOW CREATE TABLE` statement. Returns the statement without them and
/// their definitions, ready for `ALTER TABLE … ADD <definition>`.
pub fn split_secondary_keys(sql: &str) -> (String, Vec<String>) {
    split_keys(sql, |def| {
        def.starts_with("KEY ") || def.starts_with("INDEX ")
    })
}

/// Splits the key definitions `out` picks out of a `SHOW CREATE TABLE` statement:
/// the statement without them, and them.
pub fn split_keys(sql: &str, out: impl Fn(&str) -> bool) -> (String, Vec<String>) {
    let lines: Vec<&str> = sql.lines().collect();
    // Definitions sit one per line between the first line and the closing `) …`.
    let Some(close) = lines.iter().rposition(|l| l.starts_with(')')) else {
        return (sql.to_string(), Vec::new());
    };
    if close < 1 {
        return (sql.to_string(), Vec::new());
    }
    let mut kept = Vec::new();
    let mut keys = Vec::new();
    for line in &lines[1..close] {
        let def = line.trim().trim_end_matches(',');
        if out(def) {
            keys.push(def.to_string());
        } else {
            kept.push(format!("  {def}"));
        }
    }
    if keys.is_empty() || kept.is_empty() {
        return (sql.to_string(), Vec::new());
    }
    let mut out = vec![lines[0].to_string(), kept.join(",\n")];
    out.extend(lines[close..].iter().map(|l| l.to_string()));
    (out.join("\n"), keys)
}

/// Runs the DDL kept for `later` — the indexes deferred by
/// [`split_secondary_keys`] once the data is in, the unique keys held by a chunked
/// copy once its catch-up is done — up to `parallel` tables at a time. A key that
/// already exists (the run stopped after building it) counts as built.
pub async fn build_kept(
    target: &Endpoint,
    meta: &Meta,
    later: Later,
    parallel: usize,
    sink: &EventSink,
) -> Result<(), SnapshotError> {
    let what = later.what();
    let mut conn = target_conn(target, &format!("reading the kept {what}")).await?;
    let pending = meta
        .kept_ddl(&mut conn, later)
        .await
        .map_err(target_err(format!("reading the kept {what}")))?;
    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(pending));
    let mut workers = Vec::new();
    for _ in 0..parallel.max(1) {
        let mut c = target_conn(target, &format!("building {what}")).await?;
        let queue = queue.clone();
        let meta = meta.clone();
        let sink = sink.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let Some((schema, table, ddl)) = queue.lock().await.pop() else {
                    return Ok::<_, SnapshotError>(());
                };
                match c.query_drop(&ddl).await {
                    Ok(()) => {}
                    Err(mysql_async::Error::Server(e)) if e.code == 1061 => {}
                    Err(e) => {
                        return Err(SnapshotError::Target {
                            what: format!("building the {what} of {schema}.{table}"),
                            cause: e.to_string(),
                        })
                    }
                }
                meta.kept_done(&mut c, later, &schema, &table)
                    .await
                    .map_err(target_err(format!("recording built {what}")))?;
                sink.emit(JobEvent::Created {
                    kind: what.into(),
                    name: format!("{schema}.{table}"),
                });
            }
        }));
    }
    for w in workers {
        w.await.map_err(|e| SnapshotError::Target {
            what: format!("a task building {what}"),
            cause: e.to_string(),
        })??;
    }
    Ok(())
}

/// Removes a `DEFINER=user@host` clause (the object then belongs to the login that
/// creates it).
pub fn strip_definer(sql: &str) -> String {
    let Some(at) = sql.find("DEFINER=") else {
        return sql.to_string();
    };
    let rest = &sql[at + "DEFINER=".len()..];
    let toks = tokens(rest);
    // `user`@`host`, or a role `role`.
    let end = match toks.as_slice() {
        [Tok::Ident(_, e, _), Tok::Other, Tok::Ident(_, e2, _), ..]
            if rest[*e..].trim_start().starts_with('@') =>
        {
            *e2
        }
        [Tok::Ident(_, e, _), ..] => *e,
        _ => return sql.to_string(),
    };
    let tail = rest[end..].trim_start();
    format!("{}{}", &sql[..at], tail)
}

async fn ddl_conn(target: &Endpoint) -> Result<Conn, SnapshotError> {
    let mut c = target_conn(target, "opening a DDL connection").await?;
    crate::target::prepare(&mut c, crate::target::Session::Ddl)
        .await
        .map_err(target_err("setting up the DDL session"))?;
    Ok(c)
}

/// Target tables that may already exist, as lowercase (schema, table): every
/// table of the wanted tables' schemas, in one query. A name not in it is absent;
/// one in it is checked exactly by [`target_table_state`] (names differ in case
/// only where the server compares them case-sensitively).
async fn target_tables_hint(
    conn: &mut Conn,
    wanted: &[&SelectedTable],
) -> Result<HashSet<(String, String)>, SnapshotError> {
    let schemas: BTreeSet<&str> = wanted.iter().map(|t| t.target_schema.as_str()).collect();
    if schemas.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = crate::catalog::list_tables(conn, &schemas)
        .await
        .map_err(target_err("looking up target tables"))?;
    Ok(rows
        .into_iter()
        .map(|(s, t)| (s.to_lowercase(), t.to_lowercase()))
        .collect())
}

/// `SHOW CREATE TABLE` of each table, 50 to a packet; keyed by source name.
async fn show_creates(
    src: &mut Conn,
    tables: &[&SelectedTable],
) -> Result<std::collections::HashMap<(String, String), String>, SnapshotError> {
    let mut creates = std::collections::HashMap::new();
    for batch in tables.chunks(50) {
        let sql = batch
            .iter()
            .map(|t| format!("SHOW CREATE TABLE {}.{}", quote(&t.schema), quote(&t.name)))
            .collect::<Vec<_>>()
            .join("; ");
        let err = || source_err("SHOW CREATE TABLE");
        let mut results = src.query_iter(sql).await.map_err(err())?;
        for t in batch {
            let rows: Vec<(String, String)> = results.collect().await.map_err(err())?;
            if let Some((_, create)) = rows.into_iter().next() {
                creates.insert((t.schema.clone(), t.name.clone()), create);
            }
        }
    }
    Ok(creates)
}

async fn show_create(src: &mut Conn, t: &SelectedTable) -> Result<Option<String>, SnapshotError> {
    let row: Option<(String, String)> = src
        .query_first(format!(
            "SHOW CREATE TABLE {}.{}",
            quote(&t.schema),
            quote(&t.name)
        ))
        .await
        .map_err(source_err(format!(
            "SHOW CREATE TABLE {}.{}",
            t.schema, t.name
        )))?;
    Ok(row.map(|(_, c)| c))
}

async fn target_table_state(
    conn: &mut Conn,
    schema: &str,
    table: &str,
) -> Result<Option<bool>, SnapshotError> {
    let exists: Option<u8> = conn
        .exec_first(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (schema, table),
        )
        .await
        .map_err(target_err("looking up target tables"))?;
    if exists.is_none() {
        return Ok(None);
    }
    let any = crate::catalog::holds_rows(conn, schema, table)
        .await
        .map_err(target_err(format!("reading {schema}.{table}")))?;
    Ok(Some(any))
}

fn object_warning(kind: &str, name: &str, cause: String, remedy: &str) -> Report {
    Report {
        code: "snapshot.object_skipped".into(),
        message: format!("the {kind} {name} could not be created on the target: {cause}"),
        remedy: remedy.into(),
    }
}

/// Which objects `create_objects` creates. During a binlog sync the source's
/// trigger effects arrive as row changes, so target triggers wait for the cutover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objects {
    All,
    AllButTriggers,
    Triggers,
}

/// What schema copy works on: both servers and what the job selects. Its target
/// sessions write under `target::WRITE_SQL_MODE` (zero-date defaults and the like
/// are accepted as on the source).
pub struct SchemaCopy<'a> {
    pub source: &'a Endpoint,
    pub target: &'a Endpoint,
    pub catalog: &'a Catalog,
    pub selection: &'a Selection,
    pub sink: &'a EventSink,
}

impl SchemaCopy<'_> {
    /// A source connection for SHOW CREATE and a target DDL session.
    async fn connections(&self) -> Result<(Conn, Conn), SnapshotError> {
        let src = source_conn(self.source, "opening a DDL connection").await?;
        let tgt = ddl_conn(self.target).await?;
        Ok((src, tgt))
    }

    /// Creates target databases and tables (routed names) for the selection. Tables in
    /// `resuming` belong to an interrupted run of this job and are kept as they are.
    ///
    /// Target tables in `merged_elsewhere` are left alone (a job with several
    /// sources prepares the tables they merge into once, before its sources copy,
    /// with a `meta` of its own for their deferred indexes: see
    /// `shard::MergedIndexes`).
    pub async fn create_tables(
        &self,
        on_existing: OnExisting,
        resuming: &HashSet<(String, String)>,
        meta: &Meta,
        merged_elsewhere: &HashSet<(String, String)>,
        hold_unique: bool,
    ) -> Result<(), SnapshotError> {
        let SchemaCopy {
            catalog,
            selection,
            sink,
            ..
        } = *self;
        let (mut src, mut tgt) = self.connections().await?;
        let mut not_empty = Vec::new();
        let mut created_schemas = BTreeSet::new();
        let wanted: Vec<&SelectedTable> = selection
            .tables
            .iter()
            .filter(|t| {
                !resuming.contains(&(t.schema.clone(), t.name.clone()))
                    && !merged_elsewhere.contains(&(t.target_schema.clone(), t.target_name.clone()))
            })
            .collect();
        // What is on the target and each CREATE TABLE, read up front in a packet or
        // two rather than a round trip per table.
        let maybe_there = target_tables_hint(&mut tgt, &wanted).await?;
        let absent = |t: &SelectedTable| {
            !maybe_there.contains(&(t.target_schema.to_lowercase(), t.target_name.to_lowercase()))
        };
        let to_create: Vec<&SelectedTable> = wanted.iter().copied().filter(|t| absent(t)).collect();
        let mut creates = show_creates(&mut src, &to_create).await?;
        // Targets created by this loop: several source tables may route to one.
        let mut created = HashSet::new();
        for t in wanted {
            let target = (t.target_schema.clone(), t.target_name.clone());
            let state = if created.contains(&target) {
                Some(false)
            } else if absent(t) {
                None
            } else {
                target_table_state(&mut tgt, &t.target_schema, &t.target_name).await?
            };
            match state {
                Some(true) => match on_existing {
                    OnExisting::Error => {
                        not_empty.push(format!("{}.{}", t.target_schema, t.target_name))
                    }
                    OnExisting::Truncate => {
                        tgt.query_drop(format!(
                            "TRUNCATE TABLE {}.{}",
                            quote(&t.target_schema),
                            quote(&t.target_name)
                        ))
                        .await
                        .map_err(target_err(format!(
                            "truncating {}.{}",
                            t.target_schema, t.target_name
                        )))?;
                    }
                    OnExisting::Append => {}
                },
                Some(false) => {}
                None => {
                    if created_schemas.insert(t.target_schema.clone()) {
                        let charset = catalog
                            .schemas
                            .iter()
                            .find(|s| s.name == t.schema)
                            .map(|s: &Schema| (s.charset.clone(), s.collation.clone()));
                        let mut sql =
                            format!("CREATE DATABASE IF NOT EXISTS {}", quote(&t.target_schema));
                        if let Some((cs, coll)) = charset {
                            sql.push_str(&format!(" CHARACTER SET {cs} COLLATE {coll}"));
                        }
                        tgt.query_drop(sql).await.map_err(target_err(format!(
                            "creating database {}",
                            t.target_schema
                        )))?;
                    }
                    let create = match creates.remove(&(t.schema.clone(), t.name.clone())) {
                        Some(c) => c,
                        // Listed as there a moment ago and gone: read it now.
                        None => match show_create(&mut src, t).await? {
                            Some(c) => c,
                            None => continue,
                        },
                    };
                    let sql = retarget_create_table(&create, &t.target_schema, &t.target_name)
                        .ok_or_else(|| SnapshotError::Source {
                            what: format!("SHOW CREATE TABLE {}.{}", t.schema, t.name),
                            cause: "unexpected statement form".into(),
                        })?;
                    // A chunked copy creates unique keys other than the row key
                    // once the sync's catch-up has made the target consistent
                    // (see `catchup`), recorded first.
                    let (sql, held) = if hold_unique {
                        let keep = catalog
                            .table(&t.schema, &t.name)
                            .filter(|tab| tab.primary_key.is_none())
                            .and_then(|tab| tab.row_key())
                            .map(|k| k.name.as_str());
                        super::catchup::split_unique_keys(&sql, keep)
                    } else {
                        (sql, Vec::new())
                    };
                    if !held.is_empty() {
                        let ddl = format!(
                            "ALTER TABLE {}.{} {}",
                            quote(&t.target_schema),
                            quote(&t.target_name),
                            held.iter()
                                .map(|k| format!("ADD {k}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        meta.keep_ddl(
                            &mut tgt,
                            Later::Held,
                            &t.target_schema,
                            &t.target_name,
                            &ddl,
                        )
                        .await
                        .map_err(target_err("recording the held unique keys"))?;
                    }
                    // Big tables load faster without their secondary indexes; they
                    // are built in one sorted pass after the data (recorded first, so
                    // a crash can never lose them).
                    let defer = catalog.table(&t.schema, &t.name).is_some_and(|tab| {
                        tab.foreign_keys.is_empty() && tab.data_bytes >= DEFER_INDEXES_FROM
                    });
                    let (sql, deferred) = if defer {
                        split_secondary_keys(&sql)
                    } else {
                        (sql, Vec::new())
                    };
                    if !deferred.is_empty() {
                        let ddl = format!(
                            "ALTER TABLE {}.{} {}",
                            quote(&t.target_schema),
                            quote(&t.target_name),
                            deferred
                                .iter()
                                .map(|k| format!("ADD {k}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        );
                        meta.keep_ddl(
                            &mut tgt,
                            Later::Deferred,
                            &t.target_schema,
                            &t.target_name,
                            &ddl,
                        )
                        .await
                        .map_err(target_err("recording deferred indexes"))?;
                    }
                    // Unqualified foreign-key references resolve in the current
                    // database. One packet.
                    tgt.query_drop(format!("USE {}; {sql}", quote(&t.target_schema)))
                        .await
                        .map_err(target_err(format!(
                            "creating table {}.{}",
                            t.target_schema, t.target_name
                        )))?;
                    sink.emit(JobEvent::Created {
                        kind: "table".into(),
                        name: format!("{}.{}", t.target_schema, t.target_name),
                    });
                    created.insert(target);
                }
            }
        }
        if !not_empty.is_empty() {
            return Err(SnapshotError::TargetNotEmpty {
                tables: not_empty.join(", "),
            });
        }
        Ok(())
    }

    /// Drops the selection's triggers on the target (those a cutover created), so
    /// rows applied again do not fire them there.
    pub async fn drop_triggers(&self) -> Result<(), SnapshotError> {
        let (_, mut tgt) = self.connections().await?;
        for o in self
            .selection
            .objects
            .iter()
            .filter(|o| o.kind == "trigger")
        {
            tgt.query_drop(format!(
                "DROP TRIGGER IF EXISTS {}.{}",
                quote(&o.target_schema),
                quote(&o.target_name)
            ))
            .await
            .map_err(|e| SnapshotError::Target {
                what: format!("dropping trigger {}.{}", o.target_schema, o.target_name),
                cause: e.to_string(),
            })?;
        }
        Ok(())
    }

    /// Creates views (dependencies first), triggers, routines and events on the target.
    /// An object the target refuses is reported as a warning and skipped, so the data
    /// copy is never lost over a view; events are created disabled.
    pub async fn create_objects(
        &self,
        matcher: &Matcher,
        definer: DefinerPolicy,
        which: Objects,
    ) -> Result<(), SnapshotError> {
        let SchemaCopy {
            catalog,
            selection,
            sink,
            ..
        } = *self;
        let sql_mode = crate::target::WRITE_SQL_MODE;
        let (mut src, mut tgt) = self.connections().await?;
        let route = |s: &str, n: &str| -> Option<(String, String)> {
            catalog
                .schemas
                .iter()
                .any(|x| x.name == s)
                .then(|| matcher.route(s, n))
        };
        let fix_definer = |sql: String| match definer {
            DefinerPolicy::Keep => sql,
            DefinerPolicy::Rewrite => strip_definer(&sql),
        };
        if definer == DefinerPolicy::Rewrite && !selection.objects.is_empty() {
            sink.warn(Report {
            code: "snapshot.definer_rewritten".into(),
            message: format!(
                "{} created with the target login as DEFINER",
                crate::wording::count(
                    selection.objects.len(),
                    "view, trigger, routine or event is",
                    "views, triggers, routines and events are"
                )
            ),
            remedy: "⟦cli:set [options] definer = \"keep\"|app:choose keep for “Definers of views, triggers, routines and events” on the Options page⟧ to keep the source definers (they must exist on the target)".into(),
        });
        }

        // Views: retry until no progress, so views over views find their dependencies.
        let mut pending: Vec<(String, String, String, String)> = Vec::new();
        let wanted = |kind: &str| match which {
            Objects::All => true,
            Objects::AllButTriggers => kind != "trigger",
            Objects::Triggers => kind == "trigger",
        };
        for o in selection
            .objects
            .iter()
            .filter(|o| o.kind == "view" && wanted("view"))
        {
            let row: Option<Row> = src
                .query_first(format!(
                    "SHOW CREATE VIEW {}.{}",
                    quote(&o.schema),
                    quote(&o.name)
                ))
                .await
                .map_err(source_err(format!(
                    "SHOW CREATE VIEW {}.{}",
                    o.schema, o.name
                )))?;
            let Some(mut row) = row else { continue };
            let create: String = row.take(1).unwrap_or_default();
            let mut sql = rewrite_qualified(&fix_definer(create), route);
            sql = sql.replacen("CREATE ", "CREATE OR REPLACE ", 1);
            sql = retarget_view(&sql, &o.target_schema, &o.target_name);
            pending.push((
                o.target_schema.clone(),
                o.target_name.clone(),
                sql,
                String::new(),
            ));
        }
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for (schema, name, sql, _) in pending {
                ensure_db(&mut tgt, &schema)
                    .await
                    .map_err(|cause| SnapshotError::Target {
                        what: format!("creating database {schema}"),
                        cause,
                    })?;
                match tgt.query_drop(&sql).await {
                    Ok(()) => sink.emit(JobEvent::Created {
                        kind: "view".into(),
                        name: format!("{schema}.{name}"),
                    }),
                    Err(e) => still.push((schema, name, sql, e.to_string())),
                }
            }
            if still.is_empty() {
                break;
            }
            if still.len() == before {
                for (schema, name, _, err) in still {
                    sink.warn(object_warning(
                        "view",
                        &format!("{schema}.{name}"),
                        err,
                        "create it by hand after fixing the cause (a missing table or definer)",
                    ));
                }
                break;
            }
            pending = still;
        }

        for o in selection.objects.iter().filter(|o| wanted(&o.kind)) {
            let (show, col, drop_kind) = match o.kind.as_str() {
                "trigger" => ("TRIGGER", 2, "TRIGGER"),
                "procedure" => ("PROCEDURE", 2, "PROCEDURE"),
                "function" => ("FUNCTION", 2, "FUNCTION"),
                "event" => ("EVENT", 3, "EVENT"),
                _ => continue,
            };
            let row: Option<Row> = src
                .query_first(format!(
                    "SHOW CREATE {show} {}.{}",
                    quote(&o.schema),
                    quote(&o.name)
                ))
                .await
                .map_err(source_err(format!(
                    "SHOW CREATE {show} {}.{}",
                    o.schema, o.name
                )))?;
            let Some(mut row) = row else { continue };
            let mode: String = row.take(1).unwrap_or_default();
            let create: Option<String> = row.take(col);
            let Some(create) = create else {
                sink.warn(object_warning(
                    &o.kind,
                    &format!("{}.{}", o.schema, o.name),
                    "the source shows no definition (the account lacks privileges on it)".into(),
                    "grant the source account SHOW VIEW / TRIGGER / EVENT, or SELECT on mysql.proc",
                ));
                continue;
            };
            let sql = rewrite_qualified(&fix_definer(create), route);
            let result = async {
                ensure_db(&mut tgt, &o.target_schema).await?;
                tgt.query_drop(format!("USE {}", quote(&o.target_schema)))
                    .await
                    .map_err(|e| e.to_string())?;
                tgt.query_drop(format!(
                    "DROP {drop_kind} IF EXISTS {}.{}",
                    quote(&o.target_schema),
                    quote(&o.name)
                ))
                .await
                .map_err(|e| e.to_string())?;
                tgt.exec_drop("SET SESSION sql_mode = ?", (&mode,))
                    .await
                    .map_err(|e| e.to_string())?;
                let created = tgt.query_drop(&sql).await.map_err(|e| e.to_string());
                let _ = tgt.exec_drop("SET SESSION sql_mode = ?", (sql_mode,)).await;
                created?;
                if o.kind == "event" {
                    // A copied event must not start changing target data before cutover.
                    tgt.query_drop(format!(
                        "ALTER EVENT {}.{} DISABLE",
                        quote(&o.target_schema),
                        quote(&o.name)
                    ))
                    .await
                    .map_err(|e| e.to_string())?;
                }
                Ok::<_, String>(())
            }
            .await;
            match result {
                Ok(()) => {
                    sink.emit(JobEvent::Created {
                        kind: o.kind.clone(),
                        name: format!("{}.{}", o.target_schema, o.name),
                    });
                    if o.kind == "event" {
                        sink.warn(Report {
                            code: "snapshot.event_disabled".into(),
                            message: format!(
                                "event {}.{} was created DISABLED on the target",
                                o.target_schema, o.name
                            ),
                            remedy: format!(
                                "after cutover run ALTER EVENT {}.{} ENABLE",
                                quote(&o.target_schema),
                                quote(&o.name)
                            ),
                        });
                    }
                }
                Err(cause) => sink.warn(object_warning(
                    &o.kind,
                    &format!("{}.{}", o.schema, o.name),
                    cause,
                    "create it by hand on the target; bodies naming renamed tables need editing",
                )),
            }
        }
        Ok(())
    }
}

async fn ensure_db(tgt: &mut Conn, schema: &str) -> Result<(), String> {
    tgt.query_drop(format!("CREATE DATABASE IF NOT EXISTS {}", quote(schema)))
        .await
        .map_err(|e| e.to_string())
}

/// The view's own name in `CREATE … VIEW `name` AS` becomes the qualified target.
fn retarget_view(sql: &str, schema: &str, name: &str) -> String {
    let Some(view_at) = sql.find(" VIEW ") else {
        return sql.to_string();
    };
    let head = &sql[..view_at + " VIEW ".len()];
    let rest = &sql[view_at + " VIEW ".len()..];
    let toks = tokens(rest);
    // Either `v` or `db`.`v` before AS.
    let end = match toks.as_slice() {
        [Tok::Ident(..), Tok::Dot, Tok::Ident(_, e, _), ..] => *e,
        [Tok::Ident(_, e, _), ..] => *e,
        _ => return sql.to_string(),
    };
    format!("{head}{}.{}{}", quote(schema), quote(name), &rest[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_are_rewritten_outside_strings() {
        let sql = "select `shop`.`orders`.`id` AS `id`,'`shop`.`orders`' AS `s` from `shop`.`orders` join `crm`.`x`";
        let out = rewrite_qualified(sql, |s, n| {
            (s == "shop").then(|| ("shop_v2".into(), format!("{n}_1")))
        });
        assert_eq!(
            out,
            "select `shop_v2`.`orders_1`.`id` AS `id`,'`shop`.`orders`' AS `s` from `shop_v2`.`orders_1` join `crm`.`x`"
        );
        // A trigger's body as written: unquoted names too; NEW.id is no table.
        let sql = "CREATE TRIGGER shop.t_ai AFTER INSERT ON shop.t FOR EACH ROW INSERT INTO shop.audit (tid) VALUES (NEW.id)";
        let out = rewrite_qualified(sql, |s, n| {
            (s == "shop").then(|| ("shop_v2".into(), n.to_string()))
        });
        assert_eq!(
            out,
            "CREATE TRIGGER `shop_v2`.`t_ai` AFTER INSERT ON `shop_v2`.`t` FOR EACH ROW INSERT INTO `shop_v2`.`audit` (tid) VALUES (NEW.id)"
        );
    }

    #[test]
    fn create_table_gets_the_target_name() {
        let sql = "CREATE TABLE `we``ird` (\n  `id` int(11) NOT NULL\n)";
        assert_eq!(
            retarget_create_table(sql, "db2", "t2").unwrap(),
            "CREATE TABLE `db2`.`t2` (\n  `id` int(11) NOT NULL\n)"
        );
    }

    #[test]
    fn secondary_keys_are_split_out() {
        let sql = "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `k` int(11) NOT NULL DEFAULT 0,\n  `c` char(10) NOT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`c`),\n  KEY `k_1` (`k`),\n  KEY `kc` (`k`,`c`)\n) ENGINE=InnoDB";
        let (create, keys) = split_secondary_keys(sql);
        assert_eq!(
            create,
            "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  `k` int(11) NOT NULL DEFAULT 0,\n  `c` char(10) NOT NULL,\n  PRIMARY KEY (`id`),\n  UNIQUE KEY `u` (`c`)\n) ENGINE=InnoDB"
        );
        assert_eq!(keys, vec!["KEY `k_1` (`k`)", "KEY `kc` (`k`,`c`)"]);
        let plain =
            "CREATE TABLE `t` (\n  `id` int(11) NOT NULL,\n  PRIMARY KEY (`id`)\n) ENGINE=InnoDB";
        assert_eq!(split_secondary_keys(plain), (plain.to_string(), vec![]));
    }

    #[test]
    fn definers_are_stripped() {
        assert_eq!(
            strip_definer("CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`127.0.0.1` SQL SECURITY DEFINER VIEW `v` AS select 1"),
            "CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1"
        );
        assert_eq!(
            strip_definer(
                "CREATE DEFINER=`app`@`%` TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1"
            ),
            "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1"
        );
        assert_eq!(
            strip_definer("CREATE TABLE t (a int)"),
            "CREATE TABLE t (a int)"
        );
    }

    #[test]
    fn views_are_retargeted() {
        assert_eq!(
            retarget_view(
                "CREATE OR REPLACE SQL SECURITY DEFINER VIEW `v` AS select 1 AS `1`",
                "db",
                "w"
            ),
            "CREATE OR REPLACE SQL SECURITY DEFINER VIEW `db`.`w` AS select 1 AS `1`"
        );
    }
}
