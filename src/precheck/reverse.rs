//! What a reverse sync after the cutover needs (`[incremental] reverse`),
//! checked before the job starts, not at the cutover: the target writes a
//! binlog the sync can follow, and the source account may write the rows back
//! (and keep its checkpoints, and drop and create the tables' triggers).

use super::privileges::{describe, grants, lacking};
use super::{Check, Context};
use crate::profile::ReverseFor;

pub fn all(ctx: &Context) -> Vec<Check> {
    if ctx.profile.incremental.reverse_for() == ReverseFor::Off {
        return Vec::new();
    }
    vec![target_binlog(ctx), source_writes(ctx)]
}

fn target_binlog(ctx: &Context) -> Check {
    let (id, title) = (
        "reverse.target_binlog",
        "Target binlog for the reverse sync",
    );
    let f = &ctx.target_facts;
    let mut wrong = Vec::new();
    if !f.log_bin {
        wrong.push("log_bin is OFF".to_string());
    }
    match f.binlog_format.as_deref() {
        Some(b) if b.eq_ignore_ascii_case("ROW") => {}
        other => wrong.push(format!("binlog_format is {}", other.unwrap_or("unknown"))),
    }
    match f.binlog_row_image.as_deref() {
        Some(b) if b.eq_ignore_ascii_case("FULL") => {}
        other => wrong.push(format!(
            "binlog_row_image is {}",
            other.unwrap_or("unknown")
        )),
    }
    if wrong.is_empty() {
        Check::pass(
            id,
            title,
            "log_bin = ON, ROW, FULL: the target's changes can go back to the source",
        )
    } else {
        Check::fail(
            id,
            title,
            format!(
                "the reverse sync follows the target's binlog after the cutover, but on the target {}",
                wrong.join(", ")
            ),
            "start the target with log_bin, binlog_format = ROW and binlog_row_image = FULL (my.cnf, then restart), or ⟦cli:set [incremental] reverse = \"off\"|app:choose “off” for the way back on the Options page⟧",
        )
    }
}

fn source_writes(ctx: &Context) -> Check {
    let (id, title) = (
        "reverse.source_writes",
        "Source account writes for the reverse sync",
    );
    let Some(p) = &ctx.source_privileges else {
        return Check::warn(
            id,
            title,
            "the source account's privileges could not be read",
            "check by hand that it may INSERT, UPDATE, DELETE, and manage triggers on the migrated schemas",
        );
    };
    let schemas = ctx.selected_schemas();
    let meta = ctx.profile.options.meta_schema.as_str();
    let mut needs: Vec<(&str, Vec<&str>)> = [
        "INSERT", "UPDATE", "DELETE", "SELECT", "TRIGGER", "ALTER", "CREATE", "DROP",
    ]
    .iter()
    .map(|p| (*p, schemas.clone()))
    .collect();
    needs.extend(
        ["CREATE", "INSERT", "UPDATE", "DELETE", "SELECT"]
            .iter()
            .map(|p| (*p, vec![meta])),
    );
    let to_grant = lacking(p, &needs);
    let absent = describe(&to_grant);
    if absent.is_empty() {
        Check::pass(
            id,
            title,
            "the source account may write the target's changes back",
        )
    } else {
        Check::fail(
            id,
            title,
            format!(
                "the reverse sync writes to the source, whose account lacks {}",
                absent.join("; ")
            ),
            format!("on the source, run: {}", grants(&p.grantee, &to_grant)),
        )
        .with_objects(absent)
    }
}
