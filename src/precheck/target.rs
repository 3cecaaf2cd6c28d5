//! The target side: conflicts with existing tables, missing tables for incremental
//! jobs, capacity, name case rules, character sets and packet size.

use std::collections::{BTreeMap, BTreeSet};

use super::{Check, Context};
use crate::profile::{Mode, OnExisting};

pub fn all(ctx: &Context) -> Vec<Check> {
    let mut v = Vec::new();
    if ctx.mode() == Mode::Incremental {
        v.push(missing_tables(ctx));
    } else {
        v.push(conflicts(ctx));
    }
    if ctx.resuming {
        v.push(pending_ddl(ctx));
    }
    v.push(capacity(ctx));
    v.push(lower_case(ctx));
    v.push(charsets(ctx));
    v.push(packet(ctx));
    v
}

/// A resumed sync would stop on the same refused statement again.
fn pending_ddl(ctx: &Context) -> Check {
    // Titled for what it finds: a waiting statement is the news.
    let id = "target.pending_ddl";
    match &ctx.pending_ddl {
        None => Check::pass(
            id,
            "Refused DDL",
            "the job did not stop on a DDL statement",
        ),
        Some((position, statement, error)) => Check::warn(
            id,
            "A refused DDL waits for your decision",
            format!("the sync stopped at {position} on `{statement}`, which the target refused: {error}"),
            "decide first — skip the statement, or run an edited one instead — or change the target so that it succeeds; resuming as it is runs the statement again",
        ),
    }
}

fn conflicts(ctx: &Context) -> Check {
    let (id, title) = ("target.conflicts", "Target tables are empty");
    let full: Vec<String> = ctx
        .target_tables
        .iter()
        .filter(|(_, rows)| **rows)
        .map(|((s, t), _)| format!("{s}.{t}"))
        .collect();
    if full.is_empty() {
        return Check::pass(id, title, "no selected table holds rows on the target");
    }
    if ctx.resuming {
        return Check::pass(
            id,
            title,
            format!(
                "{} rows of this job's interrupted copy, which resumes",
                crate::wording::count(full.len(), "table holds", "tables hold")
            ),
        );
    }
    match ctx.profile.options.on_existing {
        OnExisting::Error => Check::fail(
            id,
            title,
            format!("{} rows", crate::wording::count(full.len(), "target table already holds", "target tables already hold")),
            "empty or drop them, or ⟦cli:set [options] on_existing = \"truncate\" or \"append\"|app:choose truncate or append for “Target tables that already hold rows” on the Options page⟧",
        )
        .with_objects(full),
        OnExisting::Truncate => Check::warn(
            id,
            title,
            format!(
                "{} rows and will be TRUNCATED",
                crate::wording::count(full.len(), "target table holds", "target tables hold")
            ),
            "make sure nothing on the target needs those rows",
        )
        .with_objects(full),
        OnExisting::Append => Check::warn(
            id,
            title,
            format!(
                "{} rows; copied rows are added, duplicate keys fail the copy",
                crate::wording::count(full.len(), "target table holds", "target tables hold")
            ),
            "make sure the existing rows cannot collide with the source's keys",
        )
        .with_objects(full),
    }
}

fn missing_tables(ctx: &Context) -> Check {
    let (id, title) = ("target.tables_exist", "Target tables exist (incremental)");
    let missing: Vec<String> = ctx
        .selection
        .tables
        .iter()
        .filter(|t| {
            !ctx.target_tables
                .contains_key(&(t.target_schema.clone(), t.target_name.clone()))
        })
        .map(|t| format!("{}.{}", t.target_schema, t.target_name))
        .collect();
    if missing.is_empty() {
        Check::pass(id, title, "every selected table exists on the target")
    } else {
        // The job may start before them (DM's tasks do): a CREATE TABLE in the
        // binlog makes them, and a change to one before that stops the sync
        // with its name.
        Check::warn(
            id,
            title,
            format!(
                "an incremental job only applies changes; {}: the sync stops at the first change to one of them until it does",
                crate::wording::count(missing.len(), "target table does not exist", "target tables do not exist")
            ),
            "create them on the target first (or use ⟦cli:mode = \"all\"|app:the mode “Full copy + incremental sync”⟧ to copy them)",
        )
        .with_objects(missing)
    }
}

fn capacity(ctx: &Context) -> Check {
    let (id, title) = ("target.capacity", "Target capacity");
    let need = ctx.selection.total_bytes();
    let mib = |b: u64| b as f64 / 1048576.0;
    match ctx.target_free_bytes {
        // Unknown is not enough room: said, so the DBA checks it where Ferry cannot.
        None => Check::warn(
            id,
            title,
            format!("the copy needs about {:.0} MiB; the target does not report its free space (information_schema.DISKS), so Ferry could not check it", mib(need)),
            "make sure the target's data directory has room for the copy (its size, plus the indexes built after it); on MariaDB, INSTALL SONAME 'disks' lets Ferry read it",
        ),
        Some(free) if free >= need.saturating_mul(12) / 10 => Check::pass(
            id,
            title,
            format!("{:.0} MiB free, about {:.0} MiB needed", mib(free), mib(need)),
        ),
        Some(free) => Check::warn(
            id,
            title,
            format!("only {:.0} MiB free for about {:.0} MiB of data and indexes (plus binlogs and undo)", mib(free), mib(need)),
            "free or add disk space on the target before starting",
        ),
    }
}

fn lower_case(ctx: &Context) -> Check {
    let (id, title) = ("target.lower_case_table_names", "Name case rules");
    let (s, t) = (
        ctx.source_facts.lower_case_table_names,
        ctx.target_facts.lower_case_table_names,
    );
    if s == t {
        return Check::pass(id, title, format!("lower_case_table_names = {s} on both"));
    }
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if t != 0 {
        for tab in &ctx.selection.tables {
            let key = format!("{}.{}", tab.target_schema, tab.target_name).to_lowercase();
            seen.entry(key)
                .or_default()
                .push(format!("{}.{}", tab.target_schema, tab.target_name));
        }
    }
    let collide: Vec<String> = seen
        .into_values()
        .filter(|v| v.len() > 1)
        .flatten()
        .collect();
    if collide.is_empty() {
        Check::warn(
            id,
            title,
            format!("lower_case_table_names is {s} on the source and {t} on the target: names may change case"),
            "queries that spell names with other cases may behave differently after cutover",
        )
    } else {
        Check::fail(
            id,
            title,
            format!("the target folds names to lower case (lower_case_table_names = {t}), so these tables collide"),
            "rename them with [[objects.route]] so they differ in more than case",
        )
        .with_objects(collide)
    }
}

fn charsets(ctx: &Context) -> Check {
    let (id, title) = ("target.charsets", "Character sets and collations");
    let Some(known) = &ctx.target_collations else {
        return Check::warn(
            id,
            title,
            "the target's collations could not be read",
            "check them by hand",
        );
    };
    let mut used = BTreeSet::new();
    for sel in &ctx.selection.tables {
        if let Some(t) = ctx.catalog.table(&sel.schema, &sel.name) {
            used.extend(t.collation.iter().cloned());
            used.extend(t.columns.iter().filter_map(|c| c.collation.clone()));
        }
    }
    let unknown: Vec<String> = used.into_iter().filter(|c| !known.contains(c)).collect();
    if unknown.is_empty() {
        Check::pass(
            id,
            title,
            "every collation the selected tables use exists on the target",
        )
    } else {
        Check::fail(
            id,
            title,
            format!("the target does not know {}", unknown.join(", ")),
            "convert those tables/columns on the source to a collation both servers support, or upgrade the target",
        )
        .with_objects(unknown)
    }
}

fn packet(ctx: &Context) -> Check {
    let (id, title) = (
        "target.max_allowed_packet",
        "Row size vs max_allowed_packet",
    );
    let limit = ctx.target_facts.max_allowed_packet;
    let big: Vec<String> = ctx
        .largest_rows
        .iter()
        .filter(|(_, size)| *size >= limit)
        .map(|(t, size)| format!("{t} ({size} bytes)"))
        .collect();
    if big.is_empty() {
        Check::pass(
            id,
            title,
            format!("every measured row fits in {limit} bytes"),
        )
    } else {
        Check::warn(
            id,
            title,
            format!("rows larger than the target's max_allowed_packet ({limit} bytes) cannot be written"),
            "SET GLOBAL max_allowed_packet = 1073741824 on the target (and in my.cnf)",
        )
        .with_objects(big)
    }
}
