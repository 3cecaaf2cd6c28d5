//! Privileges of the source and target accounts for what this job does.

use super::context::Privileges;
use super::{Check, Context};
use crate::profile::{Consistency, Mode};

/// What the account lacks of `needs`, one line per privilege (`SELECT ON shop, crm`).
fn missing(p: &Privileges, needs: &[(&str, Vec<&str>)]) -> Vec<String> {
    describe(&lacking(p, needs))
}

pub(super) fn describe(lacked: &[(&str, Vec<&str>)]) -> Vec<String> {
    lacked
        .iter()
        .map(|(privilege, schemas)| {
            if schemas.is_empty() {
                format!("{privilege} ON *.*")
            } else {
                format!("{privilege} ON {}", schemas.join(", "))
            }
        })
        .collect()
}

/// The GRANT statements that give `grantee` what `needs` lacks, one per object
/// (`*.*` or `` `schema`.* ``), ready to run: `needs` as for [`missing`], already
/// filtered to what is absent.
pub(super) fn grants(grantee: &str, absent: &[(&str, Vec<&str>)]) -> String {
    let mut by_object: Vec<(String, Vec<&str>)> = Vec::new();
    for (privilege, schemas) in absent {
        let objects: Vec<String> = if schemas.is_empty() {
            vec!["*.*".into()]
        } else {
            schemas
                .iter()
                .map(|s| format!("`{}`.*", s.replace('`', "``")))
                .collect()
        };
        for object in objects {
            match by_object.iter_mut().find(|(o, _)| *o == object) {
                Some((_, privs)) => privs.push(privilege),
                None => by_object.push((object, vec![privilege])),
            }
        }
    }
    by_object
        .iter()
        .map(|(object, privs)| format!("GRANT {} ON {object} TO {grantee};", privs.join(", ")))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The entries of `needs` the account lacks.
pub(super) fn lacking<'a>(
    p: &Privileges,
    needs: &[(&'a str, Vec<&'a str>)],
) -> Vec<(&'a str, Vec<&'a str>)> {
    needs
        .iter()
        .filter(|(privilege, schemas)| {
            if schemas.is_empty() {
                !p.global.contains(*privilege)
            } else {
                !p.has_on_all(privilege, schemas.iter().copied())
            }
        })
        .cloned()
        .collect()
}

fn kinds(ctx: &Context, kind: &str) -> bool {
    ctx.selection.objects.iter().any(|o| o.kind == kind)
}

pub fn all(ctx: &Context) -> Vec<Check> {
    vec![source(ctx), target(ctx), meta(ctx)]
}

fn source(ctx: &Context) -> Check {
    let id = "privileges.source";
    let title = "Source account privileges";
    let Some(p) = &ctx.source_privileges else {
        return Check::warn(
            id,
            title,
            "the account's privileges could not be read",
            "grant the account SELECT on information_schema views, or check the grants by hand",
        );
    };
    let schemas = ctx.selected_schemas();
    let mut needs: Vec<(&str, Vec<&str>)> = vec![("SELECT", schemas.clone())];
    let o = &ctx.profile.options;
    // Where FLUSH TABLES WITH READ LOCK is denied, a job with a sync copies
    // chunked (`snapshot::catchup`): keyless tables are locked for a moment each.
    let no_reload = !p.global.contains("RELOAD");
    let chunked = ctx.mode() == Mode::All
        && (o.consistency == Consistency::Chunked
            || o.consistency == Consistency::Auto && no_reload);
    let keyless: Vec<&str> = {
        let mut v: Vec<&str> = ctx
            .selection
            .tables
            .iter()
            .filter(|t| {
                ctx.catalog
                    .table(&t.schema, &t.name)
                    .is_some_and(|tab| tab.row_key().is_none())
            })
            .map(|t| t.schema.as_str())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    if ctx.mode() != Mode::Incremental {
        match o.consistency {
            Consistency::Flush => needs.push(("RELOAD", vec![])),
            Consistency::Lock => needs.push(("LOCK TABLES", schemas.clone())),
            _ if chunked && !keyless.is_empty() => needs.push(("LOCK TABLES", keyless)),
            _ => {}
        }
    }
    if kinds(ctx, "view") {
        needs.push(("SHOW VIEW", schemas.clone()));
    }
    if kinds(ctx, "trigger") {
        needs.push(("TRIGGER", schemas.clone()));
    }
    if kinds(ctx, "event") {
        needs.push(("EVENT", schemas.clone()));
    }
    let mut to_grant = lacking(p, &needs);
    let mut absent = describe(&to_grant);
    if ctx.mode() != Mode::Full {
        if !p.global.contains("REPLICATION SLAVE") {
            absent.push("REPLICATION SLAVE ON *.*".into());
            to_grant.push(("REPLICATION SLAVE", vec![]));
        }
        if !(p.global.contains("REPLICATION CLIENT") || p.global.contains("BINLOG MONITOR")) {
            absent.push("REPLICATION CLIENT (MariaDB: BINLOG MONITOR) ON *.*".into());
            // MariaDB 10.5+ split SHOW BINARY LOGS / MASTER STATUS off into BINLOG MONITOR.
            let monitor = if ctx.source_facts.flavor == crate::endpoint::Flavor::MariaDB {
                "BINLOG MONITOR"
            } else {
                "REPLICATION CLIENT"
            };
            to_grant.push((monitor, vec![]));
        }
    }
    let auto_without_reload =
        ctx.mode() == Mode::Full && o.consistency == Consistency::Auto && no_reload;
    if !absent.is_empty() {
        Check::fail(
            id,
            title,
            format!("missing: {}", absent.join("; ")),
            format!("on the source, run: {}", grants(&p.grantee, &to_grant)),
        )
        .with_objects(absent)
    } else if auto_without_reload {
        Check::warn(
            id,
            title,
            "no RELOAD: FLUSH TABLES WITH READ LOCK is not allowed, so the copy falls back to one lock-free reader (slower)",
            format!(
                "for parallel consistent reads: GRANT RELOAD ON *.* TO {}",
                p.grantee
            ),
        )
    } else if chunked {
        Check::pass(
            id,
            title,
            if o.consistency == Consistency::Chunked {
                "everything the job needs is granted; the copy is chunked (no lock, no long transaction; made consistent by the binlog)"
            } else {
                "everything the job needs is granted; no RELOAD (FLUSH TABLES WITH READ LOCK is not allowed, as on managed MySQL): the copy is chunked — no lock, no long transaction, every chunk read on its own and made consistent by the binlog"
            },
        )
    } else if ctx.mode() == Mode::All && o.consistency == Consistency::Auto {
        Check::pass(
            id,
            title,
            "everything the job needs is granted; the copy takes FLUSH TABLES WITH READ LOCK for milliseconds, or is chunked (no lock, no long transaction) where the server refuses it, as managed MySQL does",
        )
    } else {
        Check::pass(id, title, "everything the job needs is granted")
    }
}

fn target(ctx: &Context) -> Check {
    let id = "privileges.target";
    let title = "Target account privileges";
    let Some(p) = &ctx.target_privileges else {
        return Check::warn(
            id,
            title,
            "the account's privileges could not be read",
            "check the grants by hand",
        );
    };
    let schemas = ctx.target_schemas();
    let mut needs: Vec<(&str, Vec<&str>)> = [
        "CREATE", "ALTER", "DROP", "INDEX", "INSERT", "UPDATE", "DELETE", "SELECT",
    ]
    .iter()
    .map(|p| (*p, schemas.clone()))
    .collect();
    if kinds(ctx, "view") {
        needs.push(("CREATE VIEW", schemas.clone()));
    }
    if kinds(ctx, "procedure") || kinds(ctx, "function") {
        needs.push(("CREATE ROUTINE", schemas.clone()));
        needs.push(("ALTER ROUTINE", schemas.clone()));
    }
    if kinds(ctx, "trigger") {
        needs.push(("TRIGGER", schemas.clone()));
    }
    if kinds(ctx, "event") {
        needs.push(("EVENT", schemas.clone()));
    }
    let to_grant = lacking(p, &needs);
    let absent = describe(&to_grant);
    if absent.is_empty() {
        Check::pass(id, title, "everything the job needs is granted")
    } else {
        Check::fail(
            id,
            title,
            format!("missing: {}", absent.join("; ")),
            format!("on the target, run: {}", grants(&p.grantee, &to_grant)),
        )
        .with_objects(absent)
    }
}

fn meta(ctx: &Context) -> Check {
    let id = "privileges.meta";
    let title = "Target meta schema";
    let schema = ctx.profile.options.meta_schema.clone();
    let Some(p) = &ctx.target_privileges else {
        return Check::warn(
            id,
            title,
            "the account's privileges could not be read",
            "check the grants by hand",
        );
    };
    let needs: Vec<(&str, Vec<&str>)> = ["CREATE", "INSERT", "UPDATE", "DELETE", "SELECT"]
        .iter()
        .map(|p| (*p, vec![schema.as_str()]))
        .collect();
    let absent = missing(p, &needs);
    if absent.is_empty() {
        Check::pass(id, title, format!("checkpoints can be kept in `{schema}`"))
    } else {
        Check::fail(
            id,
            title,
            format!("Ferry keeps its checkpoints in `{schema}` but lacks {}", absent.join("; ")),
            format!("GRANT CREATE, INSERT, UPDATE, DELETE, SELECT ON `{schema}`.* TO {}, or ⟦cli:set [options] meta_schema|app:set “Meta schema on the target” on the Options page⟧ to a schema it may use", p.grantee),
        )
    }
}

#[cfg(test)]
mod grant_tests {
    #[test]
    fn fixes_are_grant_statements_one_per_object() {
        let sql = super::grants(
            "'mig'@'%'",
            &[
                ("SELECT", vec!["shop", "cr`m"]),
                ("SHOW VIEW", vec!["shop"]),
                ("REPLICATION SLAVE", vec![]),
                ("BINLOG MONITOR", vec![]),
            ],
        );
        assert_eq!(
            sql,
            "GRANT SELECT, SHOW VIEW ON `shop`.* TO 'mig'@'%'; GRANT SELECT ON `cr``m`.* TO 'mig'@'%'; GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO 'mig'@'%';"
        );
    }
}
