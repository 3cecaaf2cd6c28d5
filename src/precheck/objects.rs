//! Checks on the selected objects: keys, engines, foreign keys, definers, online
//! schema change leftovers and routing collisions.

use std::collections::BTreeMap;

use super::{Check, Context};
use crate::profile::{Consistency, DefinerPolicy};

pub fn all(ctx: &Context) -> Vec<Check> {
    let mut v = Vec::new();
    if let Some(r) = &ctx.rules_error {
        v.push(Check::fail(
            "objects.rules",
            "Object rules",
            r.message.clone(),
            r.remedy.clone(),
        ));
        return v;
    }
    v.push(selected(ctx));
    v.push(keys(ctx));
    v.push(engines(ctx));
    v.push(foreign_keys(ctx));
    v.push(left_out(ctx));
    v.push(cascades(ctx));
    v.push(system_versioned(ctx));
    v.push(definers(ctx));
    v.push(shadow_tables(ctx));
    v.push(routing(ctx));
    v
}

fn selected(ctx: &Context) -> Check {
    let (id, title) = ("objects.rules", "Object rules");
    if ctx.selection.tables.is_empty() && ctx.profile.mode != crate::profile::Mode::Full {
        // DM's tasks are made before their tables: the sync follows their
        // CREATE TABLE. Said, in case the rules are what is wrong.
        Check::warn(
            id,
            title,
            "the rules select no table yet: tables they match that are created on the source during the sync are created on the target and followed",
            "⟦cli:check [objects] include / exclude with `ferry objects JOB`|app:check the selection on the Objects page⟧ if tables should be selected now",
        )
    } else if ctx.selection.tables.is_empty() {
        Check::fail(
            id,
            title,
            "the rules select no table",
            "⟦cli:check [objects] include / exclude with `ferry objects JOB`|app:check the selection on the Objects page⟧",
        )
    } else {
        Check::pass(
            id,
            title,
            format!(
                "{} tables and {} other objects selected",
                ctx.selection.tables.len(),
                ctx.selection.objects.len()
            ),
        )
    }
}

fn keys(ctx: &Context) -> Check {
    let (id, title) = ("tables.primary_key", "Primary or unique keys");
    let keyless: Vec<String> = ctx
        .selection
        .tables
        .iter()
        .filter(|t| t.row_key.is_empty())
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect();
    if keyless.is_empty() {
        Check::pass(
            id,
            title,
            "every table has a primary key or a NOT NULL unique key",
        )
    } else {
        Check::warn(
            id,
            title,
            format!("{} no primary or NOT NULL unique key: each is copied in one piece, and replicated changes must match whole rows (slower; duplicate rows cannot be told apart)", crate::wording::count(keyless.len(), "table has", "tables have")),
            "add a primary key on the source (e.g. an invisible auto-increment id) before migrating",
        )
        .with_objects(keyless)
    }
}

fn engines(ctx: &Context) -> Check {
    let (id, title) = ("tables.engine", "Storage engines");
    let mut odd = Vec::new();
    let mut myisam = false;
    for sel in &ctx.selection.tables {
        let engine = sel.engine.clone().unwrap_or_default();
        if !engine.eq_ignore_ascii_case("InnoDB") {
            myisam |= matches!(engine.to_ascii_lowercase().as_str(), "myisam" | "aria");
            odd.push(format!("{}.{} ({engine})", sel.schema, sel.name));
        }
    }
    if odd.is_empty() {
        return Check::pass(id, title, "every table is InnoDB");
    }
    let mut detail = format!(
        "{} not InnoDB: they are not transactional",
        crate::wording::count(odd.len(), "table is", "tables are")
    );
    if myisam && ctx.profile.options.consistency != Consistency::Lock {
        detail.push_str("; MyISAM/Aria tables are not covered by the consistent snapshot and may be copied at a slightly different instant");
    }
    if odd
        .iter()
        .any(|o| o.to_ascii_lowercase().contains("(memory)"))
    {
        detail.push_str("; MEMORY tables lose their rows on every restart");
    }
    Check::warn(id, title, detail, "convert them to InnoDB (ALTER TABLE … ENGINE=InnoDB), or use ⟦cli:consistency = \"lock\"|app:Consistency lock (Options page)⟧ for an exact copy")
        .with_objects(odd)
}

fn foreign_keys(ctx: &Context) -> Check {
    let (id, title) = (
        "tables.foreign_keys",
        "Foreign keys stay inside the selection",
    );
    if ctx.matcher.is_none() {
        return Check::pass(id, title, "no selection");
    }
    let broken = &ctx.selection.broken_keys;
    if broken.is_empty() {
        return Check::pass(id, title, "every referenced table is migrated too");
    }
    let mut parents: Vec<(String, String)> = broken
        .iter()
        .map(|k| (k.parent_schema.clone(), k.parent_table.clone()))
        .collect();
    parents.sort();
    parents.dedup();
    let mut check = Check::fail(
        id,
        title,
        format!("{} tables that are not selected", crate::wording::count(broken.len(), "foreign key references", "foreign keys reference")),
        "⟦cli:add the referenced tables to [objects] include|app:add the referenced tables to the selection⟧ (referenced tables must be migrated too)",
    )
    .with_objects(
        broken
            .iter()
            .map(|k| {
                format!(
                    "{}.{} -> {}.{} ({})",
                    k.schema, k.table, k.parent_schema, k.parent_table, k.name
                )
            })
            .collect(),
    );
    check.add_tables = parents;
    check
}

/// Views of the selected schemas that cannot come along, because a table (or
/// view) they are built on is not selected: said, not dropped silently. (A
/// trigger goes with its table, which the DBA left out knowingly.)
fn left_out(ctx: &Context) -> Check {
    let (id, title) = ("objects.left_out", "Views come with their tables");
    let left: Vec<_> = ctx
        .selection
        .left_out
        .iter()
        .filter(|l| l.object.kind == "view")
        .collect();
    if left.is_empty() {
        return Check::pass(id, title, "every view of the selected schemas comes along");
    }
    let mut missing: Vec<(String, String)> = left
        .iter()
        .flat_map(|l| l.missing.iter().cloned())
        .collect();
    missing.sort();
    missing.dedup();
    let mut check = Check::warn(
        id,
        title,
        format!(
            "{} left out with the tables {} built on",
            crate::wording::count(left.len(), "view is", "views are"),
            if left.len() == 1 { "it is" } else { "they are" }
        ),
        "⟦cli:add the tables to [objects] include if these views should come along|app:add the tables to the selection if these views should come along⟧",
    )
    .with_objects(
        left.iter()
            .map(|l| {
                let on: Vec<String> = l.missing.iter().map(|(s, t)| format!("{s}.{t}")).collect();
                format!(
                    "{} {}.{} (built on {})",
                    l.object.kind,
                    l.object.schema,
                    l.object.name,
                    on.join(", ")
                )
            })
            .collect(),
    );
    // Views may be built on views: only tables are offered.
    check.add_tables = missing
        .into_iter()
        .filter(|(s, t)| ctx.catalog.table(s, t).is_some())
        .collect();
    check
}

/// Foreign keys with actions: InnoDB changes the child rows inside the engine and
/// does not binlog them; the sync reproduces them on the target (see
/// `replicate::apply`), so this only tells the DBA where.
fn cascades(ctx: &Context) -> Check {
    let (id, title) = ("tables.cascades", "Cascading foreign keys");
    let mut found = Vec::new();
    for sel in &ctx.selection.tables {
        let Some(t) = ctx.catalog.table(&sel.schema, &sel.name) else {
            continue;
        };
        for fk in t.foreign_keys.iter().filter(|fk| fk.cascades()) {
            found.push(format!(
                "{}.{} -> {}.{} (ON DELETE {}, ON UPDATE {})",
                t.schema, t.name, fk.ref_schema, fk.ref_table, fk.on_delete, fk.on_update
            ));
        }
    }
    if found.is_empty() {
        Check::pass(
            id,
            title,
            "no selected table has a foreign key with CASCADE or SET NULL",
        )
    } else {
        Check::pass(
            id,
            title,
            format!("{} with CASCADE / SET NULL: the source does not binlog the child rows they change, so the sync applies each parent delete or key update in order with foreign-key checks on, and the target's engine makes the same child changes", crate::wording::count(found.len(), "foreign key", "foreign keys")),
        )
        .with_objects(found)
    }
}

/// MariaDB system-versioned tables: the server writes history rows and their
/// row_start / row_end itself, so neither the copy nor the sync can reproduce the
/// history as it is on the source.
fn system_versioned(ctx: &Context) -> Check {
    let (id, title) = ("tables.system_versioned", "System-versioned tables");
    let found: Vec<String> = ctx
        .selection
        .tables
        .iter()
        .filter(|s| {
            ctx.catalog
                .table(&s.schema, &s.name)
                .is_some_and(|t| t.system_versioned)
        })
        .map(|s| format!("{}.{}", s.schema, s.name))
        .collect();
    if found.is_empty() {
        Check::pass(id, title, "no selected table is system-versioned")
    } else {
        Check::fail(
            id,
            title,
            format!("{} WITH SYSTEM VERSIONING: their history rows and row_start/row_end times are set by the server and cannot be migrated as they are", crate::wording::count(found.len(), "table is", "tables are")),
            "leave these tables out of the job's selection and move them with mariadb-dump, or remove versioning on the source first (ALTER TABLE … DROP SYSTEM VERSIONING, which drops the history)",
        )
        .with_objects(found)
    }
}

fn definers(ctx: &Context) -> Check {
    let (id, title) = (
        "objects.definers",
        "Definers of views, triggers, routines, events",
    );
    let mut by_definer: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let selected = |kind: &str, schema: &str, name: &str| {
        ctx.selection
            .objects
            .iter()
            .any(|o| o.kind == kind && o.schema == schema && o.name == name)
    };
    let c = &ctx.catalog;
    let all = c
        .views
        .iter()
        .map(|v| ("view", &v.schema, &v.name, &v.definer))
        .chain(
            c.triggers
                .iter()
                .map(|t| ("trigger", &t.schema, &t.name, &t.definer)),
        )
        .chain(c.routines.iter().map(|r| {
            (
                if r.kind == "FUNCTION" {
                    "function"
                } else {
                    "procedure"
                },
                &r.schema,
                &r.name,
                &r.definer,
            )
        }))
        .chain(
            c.events
                .iter()
                .map(|e| ("event", &e.schema, &e.name, &e.definer)),
        );
    for (kind, schema, name, definer) in all {
        if selected(kind, schema, name) {
            by_definer
                .entry(definer.clone())
                .or_default()
                .push(format!("{kind} {schema}.{name}"));
        }
    }
    let Some(accounts) = &ctx.target_accounts else {
        return Check::pass(
            id,
            title,
            "the target's accounts cannot be read; definers are not checked",
        );
    };
    let missing: Vec<String> = by_definer
        .into_iter()
        .filter(|(d, _)| !accounts.contains(d))
        .flat_map(|(d, objs)| objs.into_iter().map(move |o| format!("{o} (definer {d})")))
        .collect();
    if missing.is_empty() {
        return Check::pass(id, title, "every definer exists on the target");
    }
    let policy = match ctx.profile.options.definer {
        DefinerPolicy::Rewrite => {
            "definer = \"rewrite\": they will be created with the target login as definer"
        }
        DefinerPolicy::Keep => {
            "definer = \"keep\": creating them will fail until those accounts exist"
        }
    };
    Check::warn(
        id,
        title,
        format!(
            "{} definers that do not exist on the target; {policy}",
            crate::wording::count(missing.len(), "object has", "objects have")
        ),
        "create the definer accounts on the target, or accept the rewrite",
    )
    .with_objects(missing)
}

fn shadow_tables(ctx: &Context) -> Check {
    let (id, title) = ("tables.online_ddl", "Online schema change leftovers");
    let shadow: Vec<String> = ctx
        .catalog
        .tables
        .iter()
        .filter(|t| {
            let n = t.name.as_str();
            n.starts_with('_')
                && ["_gho", "_ghc", "_del", "_new", "_old"]
                    .iter()
                    .any(|s| n.ends_with(s))
        })
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect();
    if shadow.is_empty() {
        Check::pass(id, title, "no gh-ost / pt-online-schema-change tables")
    } else {
        Check::warn(
            id,
            title,
            "tables left by gh-ost or pt-online-schema-change exist: an online schema change may be running, and its cut-over would rename tables under the migration",
            "finish or abort the schema change and drop the leftovers, or exclude them",
        )
        .with_objects(shadow)
    }
}

fn routing(ctx: &Context) -> Check {
    let (id, title) = ("objects.routing", "Routing collisions");
    let mut targets: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for t in &ctx.selection.tables {
        targets
            .entry(format!("{}.{}", t.target_schema, t.target_name))
            .or_default()
            .push(format!("{}.{}", t.schema, t.name));
    }
    let merged: Vec<String> = targets
        .into_iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(t, s)| format!("{} -> {t}", s.join(" + ")))
        .collect();
    if merged.is_empty() {
        Check::pass(id, title, "every source table has its own target name")
    } else {
        // Merging is a feature (shard merge); the checks of merged tables follow.
        Check::pass(
            id,
            title,
            format!(
                "{} several source tables (shard merge; their definitions and keys are checked below)",
                crate::wording::count(merged.len(), "target table merges", "target tables merge")
            ),
        )
        .with_objects(merged)
    }
}
