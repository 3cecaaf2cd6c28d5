//! Server-level checks: versions, connection limits, the source's role, time zones,
//! sql_mode and default character sets.

use super::{Check, Context};
use crate::endpoint::{Flavor, ServerFacts};

/// The compatibility matrix: whether data and DDL from `s` can go to `t`.
pub fn compatibility(s: &ServerFacts, t: &ServerFacts) -> (super::Status, String) {
    use super::Status::*;
    let (sv, tv) = (s.version_number, t.version_number);
    let older = (tv.0, tv.1) < (sv.0, sv.1);
    match (s.flavor, t.flavor) {
        (a, b) if a == b && older => (
            Fail,
            format!("{a:?} {}.{} → {}.{} is a downgrade: newer syntax, collations and defaults do not load into the older server", sv.0, sv.1, tv.0, tv.1),
        ),
        (a, b) if a == b => (Pass, format!("{a:?} {}.{} → {}.{}", sv.0, sv.1, tv.0, tv.1)),
        (Flavor::MySQL, Flavor::MariaDB) => (
            Warn,
            "MySQL → MariaDB: JSON columns become LONGTEXT, utf8mb4_0900_* collations and some functions in defaults, views and routines do not exist in MariaDB".into(),
        ),
        (Flavor::MariaDB, Flavor::MySQL) => (
            Warn,
            "MariaDB → MySQL: sequences, system-versioned tables, INET6/UUID types, PERSISTENT columns and MariaDB-only functions do not exist in MySQL; GTIDs have another form".into(),
        ),
        (_, Flavor::TiDB) => (
            Warn,
            "→ TiDB: triggers, stored routines and events are not supported and are skipped; foreign keys and some collations behave differently".into(),
        ),
        (Flavor::TiDB, _) => (
            Warn,
            "TiDB → MySQL-compatible: TiDB-specific table options (AUTO_RANDOM, placement) are dropped".into(),
        ),
        (a, b) => (Warn, format!("{a:?} → {b:?} is not a tested pair")),
    }
}

pub fn version(ctx: &Context) -> Check {
    let (status, detail) = compatibility(&ctx.source_facts, &ctx.target_facts);
    let id = "version.compatibility";
    let title = "Source and target versions";
    match status {
        super::Status::Pass => Check::pass(id, title, detail),
        super::Status::Warn => Check::warn(id, title, detail, "review the selected objects for the differences named above; run a test migration first"),
        super::Status::Fail => Check::fail(id, title, detail, "migrate to a target of the same or a newer version"),
    }
}

fn num(vars: &std::collections::HashMap<String, String>, name: &str) -> Option<u64> {
    vars.get(name).and_then(|v| v.parse().ok())
}

pub fn all(ctx: &Context) -> Vec<Check> {
    vec![
        connections(ctx),
        source_role(ctx),
        time_zone(ctx),
        sql_mode(ctx),
        charset_defaults(ctx),
        stats_on_metadata(ctx),
    ]
}

/// Seed 001: with innodb_stats_on_metadata on, every information_schema read of
/// the source (discovery, sizes, checks) recomputes index statistics, which is
/// slow on large schemas and disturbs the source's query plans.
fn stats_on_metadata(ctx: &Context) -> Check {
    let (id, title) = (
        "source.innodb_stats_on_metadata",
        "innodb_stats_on_metadata",
    );
    match ctx.source_vars.get("innodb_stats_on_metadata").map(String::as_str) {
        Some(v) if v.eq_ignore_ascii_case("ON") || v == "1" => Check::warn(
            id,
            title,
            "ON: each read of table metadata on the source recomputes index statistics, which slows discovery and checks and can change the source's query plans",
            "SET GLOBAL innodb_stats_on_metadata = OFF on the source (and in its configuration)",
        ),
        _ => Check::pass(id, title, "OFF"),
    }
}

/// Enough free connections on both sides for the job's threads.
fn connections(ctx: &Context) -> Check {
    let o = &ctx.profile.options;
    let need_source = o.export_threads as u64 + 3;
    let mut need_target = o.import_threads as u64 + 3;
    if ctx.needs_binlog() {
        // The sync's appliers (more at a distance, when automatic), beside the
        // job's lock, control, status and log connections.
        use crate::replicate::apply::{connections_for, workers_for};
        let workers = workers_for(
            ctx.profile.incremental.apply_workers,
            ctx.target.round_trip(),
        );
        need_target = need_target.max(connections_for(workers) as u64 + 4);
    }
    let free = |vars, status| -> Option<u64> {
        let max = num(vars, "max_connections")?;
        let used = num(status, "threads_connected").unwrap_or(0);
        Some(max.saturating_sub(used))
    };
    let mut short = Vec::new();
    for (side, need, f) in [
        (
            "source",
            need_source,
            free(&ctx.source_vars, &ctx.source_status),
        ),
        (
            "target",
            need_target,
            free(&ctx.target_vars, &ctx.target_status),
        ),
    ] {
        if let Some(f) = f {
            if f < need {
                short.push(format!("{side}: {f} free, {need} needed"));
            }
        }
    }
    let id = "server.connections";
    let title = "Connection limits";
    if short.is_empty() {
        Check::pass(
            id,
            title,
            format!("room for {need_source} source and {need_target} target connections"),
        )
    } else {
        Check::fail(
            id,
            title,
            format!("not enough free connections ({})", short.join("; ")),
            "raise max_connections on that server, or lower ⟦cli:export_threads / import_threads in [options]|app:Reader threads / Writer threads on the Options page⟧",
        )
    }
}

fn on(vars: &std::collections::HashMap<String, String>, name: &str) -> bool {
    vars.get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("ON") || v == "1")
}

/// A source that is a replica, read-only or an Aurora reader still works, but the
/// DBA must know what it implies.
fn source_role(ctx: &Context) -> Check {
    let id = "source.role";
    let title = "Source server role";
    let mut notes = Vec::new();
    if ctx.source_is_replica {
        notes.push("the source is itself a replica: its binlog must have log_slave_updates=ON to carry the replicated writes, and replication lag delays the migration");
    }
    if on(&ctx.source_vars, "read_only") {
        notes.push(
            "the source is read_only: fine for copying, but the application writes elsewhere",
        );
    }
    if ctx.source_vars.contains_key("aurora_version") && on(&ctx.source_vars, "innodb_read_only") {
        notes.push(
            "the source is an Aurora reader: binlogs are only written on the writer instance",
        );
    }
    if notes.is_empty() {
        Check::pass(id, title, "a writable primary")
    } else {
        Check::warn(
            id,
            title,
            notes.join("; "),
            "point the source at the primary (writer) unless reading from a replica is intended",
        )
    }
}

/// Different time zones matter for TIMESTAMP columns and NOW() in the application.
fn time_zone(ctx: &Context) -> Check {
    let id = "server.time_zone";
    let title = "Time zones";
    let zone = |f: &ServerFacts| {
        if f.time_zone.eq_ignore_ascii_case("SYSTEM") {
            format!("SYSTEM ({})", f.system_time_zone)
        } else {
            f.time_zone.clone()
        }
    };
    let (s, t) = (zone(&ctx.source_facts), zone(&ctx.target_facts));
    let timestamps: Vec<String> = ctx
        .selection
        .tables
        .iter()
        .filter(|sel| {
            ctx.catalog
                .table(&sel.schema, &sel.name)
                .is_some_and(|tab| {
                    tab.columns
                        .iter()
                        .any(|c| c.data_type.eq_ignore_ascii_case("timestamp"))
                })
        })
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect();
    if s == t || timestamps.is_empty() {
        Check::pass(id, title, format!("source {s}, target {t}"))
    } else {
        Check::warn(
            id,
            title,
            format!("source {s}, target {t}: TIMESTAMP values are copied exactly (in UTC), but the application will read them in another zone"),
            "set the target's time_zone like the source's, or make sure the application sets its session time zone",
        )
        .with_objects(timestamps)
    }
}

fn modes(v: Option<&String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

/// sql_mode flags that change which data is accepted.
fn sql_mode(ctx: &Context) -> Check {
    let id = "server.sql_mode";
    let title = "sql_mode differences";
    const DATA: &[&str] = &[
        "STRICT_TRANS_TABLES",
        "STRICT_ALL_TABLES",
        "NO_ZERO_DATE",
        "NO_ZERO_IN_DATE",
        "ALLOW_INVALID_DATES",
        "PAD_CHAR_TO_FULL_LENGTH",
        "NO_BACKSLASH_ESCAPES",
        "ERROR_FOR_DIVISION_BY_ZERO",
    ];
    let s = modes(ctx.source_vars.get("sql_mode"));
    let t = modes(ctx.target_vars.get("sql_mode"));
    let differ: Vec<String> = DATA
        .iter()
        .filter(|m| s.iter().any(|x| x == *m) != t.iter().any(|x| x == *m))
        .map(|m| {
            if t.iter().any(|x| x == m) {
                format!("{m} only on the target")
            } else {
                format!("{m} only on the source")
            }
        })
        .collect();
    if differ.is_empty() {
        Check::pass(id, title, "the flags that affect data are the same")
    } else {
        Check::warn(
            id,
            title,
            format!("{}: Ferry copies with the source's sql_mode, but after cutover the application's writes follow the target's", differ.join(", ")),
            "align the target's sql_mode with the source's, or test the application against the target's",
        )
    }
}

fn charset_defaults(ctx: &Context) -> Check {
    let id = "server.charset";
    let title = "Default character sets";
    let s = (
        &ctx.source_facts.character_set_server,
        &ctx.source_facts.collation_server,
    );
    let t = (
        &ctx.target_facts.character_set_server,
        &ctx.target_facts.collation_server,
    );
    if s == t {
        Check::pass(id, title, format!("both {}/{}", s.0, s.1))
    } else {
        Check::warn(
            id,
            title,
            format!("source {}/{}, target {}/{}: tables keep their own character sets, but objects created later on the target get its defaults", s.0, s.1, t.0, t.1),
            "set character_set_server / collation_server on the target like the source",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::Status;
    use super::*;
    use crate::endpoint::GtidMode;

    fn facts(flavor: Flavor, v: (u32, u32, u32)) -> ServerFacts {
        ServerFacts {
            version: format!("{}.{}.{}", v.0, v.1, v.2),
            version_number: v,
            flavor,
            server_id: 1,
            log_bin: true,
            binlog_format: None,
            binlog_row_image: None,
            gtid_mode: GtidMode::Off,
            lower_case_table_names: 0,
            max_allowed_packet: 0,
            time_zone: String::new(),
            system_time_zone: String::new(),
            character_set_server: String::new(),
            collation_server: String::new(),
            read_only: false,
            local_infile: true,
            tls_version: None,
        }
    }

    #[test]
    fn version_matrix() {
        use Flavor::*;
        let c = |a, av, b, bv| compatibility(&facts(a, av), &facts(b, bv)).0;
        assert_eq!(c(MySQL, (5, 7, 40), MySQL, (8, 0, 36)), Status::Pass);
        assert_eq!(c(MySQL, (8, 0, 36), MySQL, (5, 7, 40)), Status::Fail);
        assert_eq!(c(MariaDB, (10, 11, 6), MariaDB, (10, 6, 1)), Status::Fail);
        assert_eq!(c(MariaDB, (10, 6, 1), MariaDB, (10, 11, 6)), Status::Pass);
        assert_eq!(c(MariaDB, (10, 11, 6), MySQL, (8, 0, 36)), Status::Warn);
        assert_eq!(c(MySQL, (8, 0, 36), MariaDB, (11, 4, 2)), Status::Warn);
        assert_eq!(c(MySQL, (8, 0, 36), TiDB, (8, 0, 11)), Status::Warn);
    }
}
