//! Binlog settings the incremental phase depends on.

use super::{Check, Context};
use crate::endpoint::{Flavor, GtidMode};

pub fn all(ctx: &Context) -> Vec<Check> {
    vec![
        enabled(ctx),
        format(ctx),
        row_image(ctx),
        server_id(ctx),
        filters(ctx),
        compression(ctx),
        row_value_options(ctx),
        session_overrides(ctx),
        prepared_xa(ctx),
        row_metadata(ctx),
        gtid(ctx),
        retention(ctx),
        start_position(ctx),
    ]
}

/// Incremental-only jobs: the `[incremental] start` must still be on the source.
fn start_position(ctx: &Context) -> Check {
    use crate::profile::{Mode, StartAt};
    let (id, title) = ("binlog.start_position", "Start position");
    if ctx.mode() != Mode::Incremental {
        return Check::pass(id, title, "the sync starts where the snapshot was taken");
    }
    let start = match ctx.profile.incremental.start_at() {
        Ok(s) => s,
        Err(e) => {
            return Check::fail(
                id,
                title,
                format!("[incremental] start: {e}"),
                "write the start as now, binlog:<file>:<offset> or gtid:<set>",
            )
        }
    };
    let oldest = || {
        ctx.source_binlogs
            .as_ref()
            .and_then(|l| l.first())
            .map_or("none".to_string(), |(f, _)| f.clone())
    };
    match start {
        StartAt::Snapshot => Check::fail(
            id,
            title,
            "⟦cli:start = \"snapshot\" needs mode = \"all\"|app:starting from the snapshot needs the mode “Full copy + incremental sync”⟧",
            "use now, binlog:<file>:<offset> or gtid:<set>",
        ),
        StartAt::Now => Check::pass(id, title, "starts at the source's current position"),
        StartAt::Binlog { file, pos } => match &ctx.source_binlogs {
            None => Check::warn(
                id,
                title,
                "SHOW BINARY LOGS is not allowed, so the start position cannot be checked",
                "grant the source account REPLICATION CLIENT (MariaDB: BINLOG MONITOR)",
            ),
            Some(logs) => match logs.iter().find(|(f, _)| *f == file) {
                None => Check::fail(
                    id,
                    title,
                    format!("{file} is not on the source (purged or mistyped); the oldest binlog kept is {}", oldest()),
                    "start from a position the source still has (SHOW BINARY LOGS), or load the target again and use ⟦cli:mode = \"all\"|app:the mode “Full copy + incremental sync”⟧",
                )
                .with_objects(vec![format!("{file}:{pos}")]),
                Some((_, size)) if pos > *size => Check::fail(
                    id,
                    title,
                    format!("offset {pos} is past the end of {file} ({size} bytes)"),
                    "take the position from SHOW MASTER STATUS or the dump that seeded the target",
                )
                .with_objects(vec![format!("{file}:{pos}")]),
                Some(_) => Check::pass(id, title, format!("{file}:{pos} is on the source")),
            },
        },
        StartAt::Gtid(set) => {
            let purged = match (&ctx.oldest_gtid, crate::position::MariaGtids::parse(&set)) {
                (Some(oldest), Ok(wanted)) => {
                    let first = crate::position::MariaGtids::parse(oldest).unwrap_or_default();
                    wanted.older_than(&first)
                }
                _ => Vec::new(),
            };
            if purged.is_empty() {
                Check::pass(id, title, format!("gtid {set}: the source still has what follows it"))
            } else {
                Check::fail(
                    id,
                    title,
                    format!(
                        "the source no longer has the transactions right after {}; the oldest binlog ({}) starts later",
                        purged.join(", "),
                        oldest()
                    ),
                    "start from a later GTID, or load the target again and use ⟦cli:mode = \"all\"|app:the mode “Full copy + incremental sync”⟧",
                )
                .with_objects(purged)
            }
        }
    }
}

fn var<'a>(ctx: &'a Context, name: &str) -> Option<&'a str> {
    ctx.source_vars.get(name).map(String::as_str)
}

fn enabled(ctx: &Context) -> Check {
    let (id, title) = ("binlog.enabled", "Binary log enabled");
    if ctx.source_facts.log_bin {
        Check::pass(id, title, "log_bin = ON")
    } else {
        Check::fail(
            id,
            title,
            "log_bin is OFF on the source: there is no change stream to follow",
            "start the source with log_bin (e.g. log_bin = mysql-bin in my.cnf) and restart it",
        )
    }
}

fn format(ctx: &Context) -> Check {
    let (id, title) = ("binlog.format", "binlog_format = ROW");
    match ctx.source_facts.binlog_format.as_deref() {
        Some(f) if f.eq_ignore_ascii_case("ROW") => Check::pass(id, title, "ROW"),
        other => Check::fail(
            id,
            title,
            format!("binlog_format is {}: statements cannot be replayed exactly", other.unwrap_or("unknown")),
            "SET GLOBAL binlog_format = 'ROW' (and in my.cnf); sessions already open keep their old format until they reconnect",
        ),
    }
}

fn row_image(ctx: &Context) -> Check {
    let (id, title) = ("binlog.row_image", "binlog_row_image = FULL");
    match ctx.source_facts.binlog_row_image.as_deref() {
        Some(f) if f.eq_ignore_ascii_case("FULL") => Check::pass(id, title, "FULL"),
        other => Check::fail(
            id,
            title,
            format!(
                "binlog_row_image is {}: updates do not carry whole rows",
                other.unwrap_or("unknown")
            ),
            "SET GLOBAL binlog_row_image = 'FULL' (and in my.cnf)",
        ),
    }
}

fn server_id(ctx: &Context) -> Check {
    let (id, title) = ("binlog.server_id", "server_id");
    let sid = ctx.source_facts.server_id;
    if sid == 0 {
        Check::fail(
            id,
            title,
            "server_id is 0: the source refuses replication clients",
            "set server_id to a unique non-zero value on the source",
        )
    } else if sid == u64::from(ctx.profile.incremental.server_id_for(&ctx.profile.name)) {
        Check::fail(
            id,
            title,
            format!("server_id {sid} is the id this job registers with"),
            "⟦cli:set another [incremental] server_id in the job|app:give the job another name (its server id is derived from the name)⟧",
        )
    } else {
        Check::pass(id, title, format!("server_id = {sid}"))
    }
}

fn filters(ctx: &Context) -> Check {
    let (id, title) = ("binlog.filters", "Binlog filters");
    let (do_db, ignore_db) = &ctx.binlog_filters;
    let lost: Vec<String> = ctx
        .selected_schemas()
        .into_iter()
        .filter(|s| {
            ignore_db.iter().any(|d| d == s) || (!do_db.is_empty() && !do_db.iter().any(|d| d == s))
        })
        .map(str::to_string)
        .collect();
    if lost.is_empty() {
        Check::pass(
            id,
            title,
            "no binlog_do_db / binlog_ignore_db excludes the selected schemas",
        )
    } else {
        Check::fail(
            id,
            title,
            format!("changes to {} are not written to the binlog (binlog_do_db / binlog_ignore_db)", lost.join(", ")),
            "remove those schemas from binlog_ignore_db / add them to binlog_do_db in my.cnf and restart the source",
        )
        .with_objects(lost)
    }
}

fn compression(ctx: &Context) -> Check {
    let (id, title) = ("binlog.compression", "Binlog compression");
    let on = |v: Option<&str>| v.is_some_and(|v| v.eq_ignore_ascii_case("ON") || v == "1");
    if on(var(ctx, "binlog_transaction_compression")) && !on(var(ctx, "log_bin_compress")) {
        return Check::warn(id, title, "MySQL compresses each transaction (binlog_transaction_compression = ON): Ferry decodes these TRANSACTION_PAYLOAD events, but its tests build them in process, not on a MySQL 8 server", "SET GLOBAL binlog_transaction_compression = OFF for the migration if you prefer the tested path");
    }
    if on(var(ctx, "log_bin_compress")) {
        Check::pass(
            id,
            title,
            "MariaDB compresses large binlog events (log_bin_compress = ON): Ferry reads them",
        )
    } else {
        Check::pass(id, title, "events are not compressed")
    }
}

/// MySQL's PARTIAL_JSON logs a JSON update as a diff against the old document,
/// not as the new row: the sync would stop at the first one.
fn row_value_options(ctx: &Context) -> Check {
    let (id, title) = ("binlog.row_value_options", "binlog_row_value_options");
    match var(ctx, "binlog_row_value_options") {
        Some(v) if v.to_ascii_uppercase().contains("PARTIAL_JSON") => Check::fail(
            id,
            title,
            "PARTIAL_JSON: JSON updates are logged as diffs against the old document, which Ferry cannot apply faithfully",
            "SET GLOBAL binlog_row_value_options = '' on the source (and in its configuration)",
        ),
        None => Check::pass(id, title, "not a MySQL 8 source: updates are logged as whole rows"),
        Some(_) => Check::pass(id, title, "updates are logged as whole rows"),
    }
}

/// Sessions that may write rows as statements (binlog_format) are the ones with
/// SUPER or BINLOG ADMIN; a row image is shortened by any session that sets
/// binlog_row_image. The sync stops with the table and position when it meets
/// either, so they are named here, before the start.
fn session_overrides(ctx: &Context) -> Check {
    let (id, title) = (
        "binlog.session_overrides",
        "Sessions that change the binlog format",
    );
    let system = |g: &str| {
        let user = g.trim_matches('\'').split("'@'").next().unwrap_or_default();
        matches!(user, "root" | "mariadb.sys" | "mysql.sys" | "mysql.session")
            || g.starts_with(&format!("'{}'@", ctx.profile.source.user))
    };
    match &ctx.binlog_admins {
        None => Check::pass(
            id,
            title,
            "the grants of other accounts cannot be read; rows a session writes as statements or with a partial image stop the sync with their table and position",
        ),
        Some(all) => {
            let others: Vec<String> = all.iter().filter(|g| !system(g)).cloned().collect();
            if others.is_empty() {
                Check::pass(id, title, "only administrative accounts may change binlog_format for their session")
            } else {
                Check::warn(
                    id,
                    title,
                    format!("{} SUPER or BINLOG ADMIN and may SET SESSION binlog_format = STATEMENT: rows they write that way cannot be replayed faithfully, and the sync stops at them (so does a session with binlog_row_image = MINIMAL)", crate::wording::count(others.len(), "account has", "accounts have")),
                    "REVOKE SUPER / BINLOG ADMIN from application accounts, or make sure their sessions keep binlog_format = ROW and binlog_row_image = FULL",
                )
                .with_objects(others)
            }
        }
    }
}

/// A prepared XA transaction's rows are in the binlog at its PREPARE, before the
/// point the job starts from, and the snapshot does not see them: its later
/// XA COMMIT would find nothing to commit on the target.
fn prepared_xa(ctx: &Context) -> Check {
    let (id, title) = ("binlog.prepared_xa", "Prepared XA transactions");
    match &ctx.prepared_xa {
        None => Check::pass(id, title, "XA RECOVER is not allowed for the source account; make sure no XA transaction is left prepared when the job starts"),
        Some(x) if x.is_empty() => Check::pass(id, title, "no XA transaction is prepared and waiting on the source"),
        Some(x) => Check::fail(
            id,
            title,
            format!("{} prepared and not yet committed or rolled back on the source: their rows were written to the binlog before the job's start and the snapshot does not see them, so they would be missed", crate::wording::count(x.len(), "XA transaction is", "XA transactions are")),
            "commit or roll them back on the source (XA COMMIT / XA ROLLBACK with the ids listed by XA RECOVER), then check again",
        )
        .with_objects(x.clone()),
    }
}

fn row_metadata(ctx: &Context) -> Check {
    let (id, title) = ("binlog.row_metadata", "binlog_row_metadata");
    match var(ctx, "binlog_row_metadata") {
        None => Check::pass(id, title, "not available on this server; columns are decoded through the tracked schema"),
        Some(v) if v.eq_ignore_ascii_case("FULL") => Check::pass(id, title, "FULL"),
        Some(v) => Check::warn(
            id,
            title,
            format!("{v}: row events carry no column names or signedness, so Ferry decodes them through its tracked schema (DDL outside Ferry's view can confuse it)"),
            "SET GLOBAL binlog_row_metadata = 'FULL'",
        ),
    }
}

fn gtid(ctx: &Context) -> Check {
    let (id, title) = ("binlog.gtid", "GTID mode");
    match (ctx.source_facts.flavor, ctx.source_facts.gtid_mode) {
        (Flavor::MariaDB, _) => mariadb_gtid(ctx, id, title),
        (_, GtidMode::On) => Check::pass(id, title, "gtid_mode = ON"),
        _ => Check::warn(
            id,
            title,
            "gtid_mode is OFF: positions are file + offset only, which do not survive a source failover",
            "enable GTIDs (gtid_mode = ON, enforce_gtid_consistency = ON) if the source may fail over during the migration",
        ),
    }
}

/// MariaDB GTIDs are always on; what can make a GTID position point to the wrong
/// place is a domain whose sequence numbers went out of order, which only
/// `gtid_strict_mode` prevents. It matters when the job starts from a GTID set the DBA
/// took elsewhere (e.g. from a former replica).
fn mariadb_gtid(ctx: &Context, id: &str, title: &str) -> Check {
    let asks_gtid = ctx.mode() == crate::profile::Mode::Incremental
        && matches!(
            ctx.profile.incremental.start_at(),
            Ok(crate::profile::StartAt::Gtid(_))
        );
    let strict = var(ctx, "gtid_strict_mode").is_some_and(|v| v.eq_ignore_ascii_case("ON"));
    if !asks_gtid || strict {
        return Check::pass(id, title, "MariaDB GTIDs (domain-server-seq)");
    }
    Check::warn(
        id,
        title,
        "the job starts from a GTID set but gtid_strict_mode is OFF on the source: a domain's sequence numbers may be out of order (writes on a former replica, gtid_seq_no set by hand), and the set can then match the wrong place",
        "SET GLOBAL gtid_strict_mode = ON on the source (and in my.cnf), or start from binlog:<file>:<offset>",
    )
}

fn retention(ctx: &Context) -> Check {
    let (id, title) = ("binlog.retention", "Binlog retention");
    let seconds = var(ctx, "binlog_expire_logs_seconds")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .or_else(|| {
            var(ctx, "expire_logs_days")
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|d| *d > 0.0)
                .map(|d| d * 86_400.0)
        });
    // A cautious copy rate for 2-core servers; the copy must finish well inside the
    // retention so the binlog position it records still exists when sync starts.
    let bytes = ctx.selection.total_bytes() as f64;
    let copy_secs = bytes / (20.0 * 1024.0 * 1024.0);
    let needed = (3.0 * copy_secs).max(86_400.0);
    match seconds {
        None => Check::pass(id, title, "binlogs are kept until purged by hand"),
        Some(s) if s >= needed => Check::pass(id, title, format!("kept {:.1} h; the copy needs about {:.1} h", s / 3600.0, copy_secs / 3600.0)),
        Some(s) => Check::warn(
            id,
            title,
            format!("binlogs are kept only {:.1} h; the copy may take {:.1} h, and the position it starts from could be purged before sync begins", s / 3600.0, copy_secs / 3600.0),
            format!("raise binlog_expire_logs_seconds to at least {:.0} for the migration", needed),
        ),
    }
}
