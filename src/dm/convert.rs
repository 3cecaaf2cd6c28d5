//! DM tasks ⇄ Ferry jobs. A task is stored as an ordinary job profile (so the
//! wizard and `ferry status` see it); what DM says that a job cannot hold is kept
//! beside it (see `TaskStore`), so a task reads back as it was written.
//!
//! Guarantees: `to_profile` either maps every setting of the task onto the job or
//! refuses the task naming the setting — nothing is dropped silently.

use super::model::{
    BinlogFilterRule, FullMigrateConf, IncrMigrateConf, RuleSource, RuleTarget, SourceConf,
    SourceConfig, TableMigrateRule, TargetConfig, Task, TaskMode,
};
use super::DmError;
use crate::profile::{
    Consistency, EndpointConfig, EventKind, FilterRule, Mode, ObjectRules, Profile, Route, Shard,
    StartAt,
};

/// A name part of a DM pattern as a Ferry pattern part: backquoted when it holds
/// a dot (Ferry's separator), wildcards kept.
fn part(name: &str, field: &str) -> Result<String, DmError> {
    if name.is_empty() {
        return Err(DmError::invalid(format!("{field} must not be empty")));
    }
    if name.contains('[') {
        return Err(DmError::unsupported(format!(
            "{field} \"{name}\": character classes ([...]) in patterns; use * and ?"
        )));
    }
    if name.contains('.') || name.contains('`') {
        if name.contains('*') || name.contains('?') {
            return Err(DmError::unsupported(format!(
                "{field} \"{name}\": a wildcard pattern containing a dot"
            )));
        }
        return Ok(format!("`{}`", name.replace('`', "``")));
    }
    Ok(name.to_string())
}

fn event_kinds(rule: &str, events: &[String]) -> Result<Vec<EventKind>, DmError> {
    let mut out = Vec::new();
    for e in events {
        let norm = e
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        if norm == "all" {
            out.extend([EventKind::AllDml, EventKind::AllDdl]);
            continue;
        }
        let kind = norm
            .parse::<EventKind>()
            .map_err(|why| DmError::unsupported(format!("binlog_filter_rule \"{rule}\": {why}")))?;
        out.push(kind);
    }
    Ok(out)
}

fn consistency(text: &str) -> Result<Consistency, DmError> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "auto" => Consistency::Auto,
        "flush" => Consistency::Flush,
        "snapshot" => Consistency::Snapshot,
        "lock" => Consistency::Lock,
        "none" => Consistency::None,
        other => {
            return Err(DmError::invalid(format!(
                "full_migrate_conf.consistency \"{other}\": use auto, flush, snapshot, lock or none"
            )))
        }
    })
}

/// The sources a task reads from, in the order `source_config.source_conf`
/// names them (then the rules): the first is the job's `[source]`, the others its
/// `[[shards]]`.
pub fn sources_of(task: &Task) -> Result<Vec<String>, DmError> {
    let mut names: Vec<String> = Vec::new();
    let all = task
        .source_config
        .source_conf
        .iter()
        .map(|c| c.source_name.as_str())
        .chain(
            task.table_migrate_rule
                .iter()
                .map(|r| r.source.source_name.as_str()),
        );
    for n in all {
        if !names.iter().any(|m| m == n) {
            names.push(n.to_string());
        }
    }
    if names.is_empty() {
        return Err(DmError::invalid(
            "the task names no source: add source_config.source_conf with a source_name".into(),
        ));
    }
    Ok(names)
}

/// The task's first source (the job's `[source]`).
pub fn source_of(task: &Task) -> Result<String, DmError> {
    Ok(sources_of(task)?.remove(0))
}

/// One source's part of the task's rules: its selection and routes.
fn rules_of(task: &Task, source: &str) -> Result<(ObjectRules, Vec<FilterRule>), DmError> {
    let mut objects = ObjectRules::default();
    let mut filters = Vec::new();
    for (i, rule) in task.table_migrate_rule.iter().enumerate() {
        if rule.source.source_name != source {
            continue;
        }
        let field = format!("table_migrate_rule[{i}].source");
        let from = format!(
            "{}.{}",
            part(&rule.source.schema, &format!("{field}.schema"))?,
            part(&rule.source.table, &format!("{field}.table"))?
        );
        if !objects.include.contains(&from) {
            objects.include.push(from.clone());
        }
        if let Some(target) = &rule.target {
            // DM's clients send "" for "keep the source's name", as for a name
            // left out.
            let named = |n: &Option<String>| n.clone().filter(|n| !n.is_empty());
            let to = match (named(&target.schema), named(&target.table)) {
                (Some(s), Some(t)) => Some(format!("{}.{}", literal(&s)?, literal(&t)?)),
                (Some(s), None) => Some(literal(&s)?),
                (None, Some(t)) => Some(format!("{}.{}", keep(&rule.source.schema)?, literal(&t)?)),
                (None, None) => None,
            };
            if let Some(to) = to {
                objects.route.push(Route {
                    from: from.clone(),
                    to,
                });
            }
        }
        for name in &rule.binlog_filter_rule {
            let Some(f) = task.binlog_filter_rule.get(name) else {
                return Err(DmError::invalid(format!(
                    "table_migrate_rule[{i}] names binlog_filter_rule \"{name}\", which the task does not define"
                )));
            };
            filters.push(FilterRule {
                tables: vec![from.clone()],
                events: event_kinds(name, &f.ignore_event)?,
                sql: f.ignore_sql.clone(),
            });
        }
    }
    Ok((objects, filters))
}

/// DM's precheck items and the Ferry checks each stands for. The TiDB-only
/// items (regions, TiKV versions, import-mode features) stand for none.
const DM_CHECKS: &[(&str, &[&str])] = &[
    ("dump_privilege", &["privileges.source"]),
    ("replication_privilege", &["privileges.source"]),
    ("version", &["version.compatibility"]),
    ("server_id", &["binlog.server_id"]),
    ("binlog_enable", &["binlog.enabled"]),
    ("binlog_format", &["binlog.format"]),
    ("binlog_row_image", &["binlog.row_image"]),
    (
        "table_schema",
        &["tables.primary_key", "tables.engine", "server.charset"],
    ),
    ("schema_of_shard_tables", &["shards.schemas"]),
    ("auto_increment_ID", &["shards.keys"]),
    ("online_ddl", &["tables.online_ddl"]),
    ("binlog_db", &["binlog.filters"]),
    ("meta_position", &["binlog.start_position"]),
    ("conn_number", &["server.connections"]),
    ("target_privilege", &["privileges.target"]),
    ("free_space", &["target.capacity"]),
    ("downstream_table_empty", &["target.conflicts"]),
    ("primary_key", &["tables.primary_key"]),
    ("empty_region", &[]),
    ("region_distribution", &[]),
    ("downstream_version", &[]),
    ("downstream_mutex_features", &[]),
];

/// A task's `ignore_checking_items` as Ferry check ids: DM's item names are
/// translated (`all` is every one of them), Ferry's own ids (`tables.keys`)
/// kept, empty items skipped as DM skips them; anything else is refused, so a
/// misspelt item does not silently leave a check in force.
pub fn ignored_checks(items: &[String]) -> Result<Vec<String>, DmError> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |id: &str| {
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    };
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        if item == "all" {
            DM_CHECKS
                .iter()
                .flat_map(|(_, ids)| *ids)
                .for_each(|id| add(id));
        } else if let Some((_, ids)) = DM_CHECKS.iter().find(|(name, _)| *name == item) {
            ids.iter().for_each(|id| add(id));
        } else if item.contains('.') {
            add(item);
        } else {
            let names: Vec<&str> = DM_CHECKS.iter().map(|(n, _)| *n).collect();
            return Err(DmError::invalid(format!(
                "ignore_checking_items: \"{item}\" is neither one of DM's checks (all, {}) nor a Ferry check id such as tables.primary_key",
                names.join(", ")
            )));
        }
    }
    Ok(out)
}

/// The job a task describes; `sources` are the endpoints of its sources in the
/// order of [`sources_of`]. A task over several sources is a job with
/// `[[shards]]` named for the DM sources, each with its own rules. Passwords are
/// the caller's business (the keyring).
pub fn to_profile(task: &Task, sources: &[(String, EndpointConfig)]) -> Result<Profile, DmError> {
    crate::profile::validate_name(&task.name)
        .map_err(|e| DmError::invalid(format!("name: {e}")))?;
    let Some((first_name, first)) = sources.first() else {
        return Err(DmError::invalid(
            "the task names no source: add source_config.source_conf with a source_name".into(),
        ));
    };
    let mut profile = Profile {
        name: task.name.clone(),
        mode: match task.task_mode {
            TaskMode::Full => Mode::Full,
            TaskMode::Incremental => Mode::Incremental,
            TaskMode::All => Mode::All,
            TaskMode::Dump | TaskMode::Load => {
                return Err(DmError::unsupported(
                    "task_mode dump / load: Ferry copies from the source straight into the target, with no dump files in between; use full (the copy) or all"
                        .into(),
                ))
            }
        },
        source: first.clone(),
        shards: Vec::new(),
        target: target_endpoint(&task.target_config)?,
        objects: ObjectRules::default(),
        options: Default::default(),
        incremental: Default::default(),
        ignore_checks: ignored_checks(&task.ignore_checking_items)?,
        reverse_of: None,
    };
    if task.shard_mode == Some(super::model::ShardMode::Optimistic) {
        return Err(DmError::unsupported(
            "shard_mode optimistic: Ferry coordinates shard DDL pessimistically (leave it out or use pessimistic)".into(),
        ));
    }
    if task.target_config.security.as_ref().is_some_and(|s| {
        !s.ssl_ca_content.is_empty()
            || !s.ssl_cert_content.is_empty()
            || !s.ssl_key_content.is_empty()
    }) {
        return Err(DmError::unsupported(
            "target_config.security: TLS material for the target in a task; connect to the target without it, or make the job with the app or a job file (tls, ca, cert, key)".into(),
        ));
    }
    if let Some(meta) = &task.meta_schema {
        profile.options.meta_schema = meta.clone();
    }
    for name in task.binlog_filter_rule.keys() {
        if !task
            .table_migrate_rule
            .iter()
            .any(|r| r.binlog_filter_rule.contains(name))
        {
            return Err(DmError::invalid(format!(
                "binlog_filter_rule \"{name}\" is not used by any table_migrate_rule"
            )));
        }
    }
    let (objects, filters) = rules_of(task, first_name)?;
    profile.objects = objects;
    profile.incremental.filters = filters;
    for (name, endpoint) in &sources[1..] {
        let (objects, filters) = rules_of(task, name)?;
        for f in filters {
            if !profile.incremental.filters.contains(&f) {
                profile.incremental.filters.push(f);
            }
        }
        profile.shards.push(Shard {
            name: name.clone(),
            objects: (objects != profile.objects).then_some(objects),
            endpoint: endpoint.clone(),
        });
    }
    let sc = &task.source_config;
    if let Some(full) = &sc.full_migrate_conf {
        if let Some(n) = full.export_threads {
            profile.options.export_threads = n.max(1);
        }
        if let Some(n) = full.import_threads {
            profile.options.import_threads = n.max(1);
        }
        if let Some(c) = &full.consistency {
            profile.options.consistency = consistency(c)?;
        }
    }
    if let Some(n) = sc.incr_migrate_conf.as_ref().and_then(|c| c.repl_threads) {
        profile.incremental.apply_workers = n.max(1);
    }
    if sources.len() > 1
        && sc
            .source_conf
            .iter()
            .any(super::model::SourceConf::has_position)
    {
        return Err(DmError::unsupported(
            "binlog_name / binlog_gtid in a task over several sources: each source would need its own start; start such a task from its snapshot (task_mode all) or from now".into(),
        ));
    }
    if let Some(conf) = sc.source_conf.first() {
        profile.incremental.start = match (&conf.binlog_gtid, &conf.binlog_name, conf.binlog_pos) {
            (Some(g), _, _) if !g.trim().is_empty() => format!("gtid:{}", g.trim()),
            (_, Some(f), pos) if !f.trim().is_empty() => {
                format!("binlog:{}:{}", f.trim(), pos.unwrap_or(4))
            }
            _ if profile.mode == Mode::Incremental => "now".into(),
            _ => "snapshot".into(),
        };
    }
    // The job file's own checks (patterns, filters, start) apply as well.
    crate::profile::Profile::from_toml(&profile.to_toml(), &format!("task {}", task.name))
        .map_err(|e| DmError::invalid(e.to_string()))?;
    Ok(profile)
}

fn literal(name: &str) -> Result<String, DmError> {
    if name.contains('*') || name.contains('?') {
        return Err(DmError::invalid(format!(
            "target name \"{name}\": DM target names take no wildcards"
        )));
    }
    part(name, "target")
}

/// A source schema pattern as a route target part that keeps the source's name.
fn keep(schema: &str) -> Result<String, DmError> {
    if schema.contains('*') || schema.contains('?') {
        Ok("*".into())
    } else {
        part(schema, "source.schema")
    }
}

fn target_endpoint(t: &TargetConfig) -> Result<EndpointConfig, DmError> {
    if t.host.trim().is_empty() {
        return Err(DmError::invalid(
            "target_config.host must not be empty".into(),
        ));
    }
    Ok(EndpointConfig::new(t.host.trim(), t.port, t.user.clone()))
}

/// The DM task a job reads as (for jobs made by the wizard or the CLI): what a DM
/// task can say of it. `source_names` name its sources: `[source]`, then each of
/// `[[shards]]`.
pub fn from_profile(p: &Profile, source_names: &[String]) -> Task {
    let mode = match p.mode {
        Mode::Full => TaskMode::Full,
        Mode::Incremental => TaskMode::Incremental,
        Mode::All => TaskMode::All,
    };
    let split = |pattern: &str| -> (String, String) {
        let unquote = |s: &str| s.trim_matches('`').replace("``", "`");
        match pattern.split_once('.') {
            Some((s, t)) => (unquote(s), unquote(t)),
            None => (unquote(pattern), "*".into()),
        }
    };
    let mut binlog_filter_rule = std::collections::BTreeMap::new();
    for (n, f) in p.incremental.filters.iter().enumerate() {
        binlog_filter_rule.insert(
            format!("filter-{}", n + 1),
            BinlogFilterRule {
                ignore_event: f.events.iter().map(|e| e.as_str().to_string()).collect(),
                ignore_sql: f.sql.clone(),
            },
        );
    }
    let members = p.members();
    let name_of = |i: usize| {
        source_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| members[i].source.address())
    };
    let mut table_migrate_rule = Vec::new();
    for (i, m) in members.iter().enumerate() {
        let includes: Vec<String> = if m.objects.include.is_empty() {
            vec!["*.*".into()]
        } else {
            m.objects.include.clone()
        };
        let filters_of = |pattern: &str| -> Vec<String> {
            p.incremental
                .filters
                .iter()
                .enumerate()
                .filter(|(_, f)| f.tables.is_empty() || f.tables.iter().any(|t| t == pattern))
                .map(|(n, _)| format!("filter-{}", n + 1))
                .collect()
        };
        // A route is a rule with a target when the job selects what it names (a
        // route for tables the job leaves out would select them in DM); the
        // includes no route names are rules without one.
        let selects = m.objects.compile(0).ok();
        let mut named = Vec::new();
        for r in &m.objects.route {
            let (schema, table) = split(&r.from);
            let covered = m.objects.include.is_empty()
                || selects.as_ref().is_some_and(|x| x.selects(&schema, &table));
            if !covered {
                continue;
            }
            let (ts, tt) = split(&r.to);
            named.push(r.from.clone());
            table_migrate_rule.push(TableMigrateRule {
                source: RuleSource {
                    source_name: name_of(i),
                    schema,
                    table,
                },
                target: Some(RuleTarget {
                    schema: Some(ts),
                    table: (tt != "*").then_some(tt),
                }),
                binlog_filter_rule: filters_of(&r.from),
            });
        }
        for inc in includes.iter().filter(|inc| !named.contains(inc)) {
            let (schema, table) = split(inc);
            table_migrate_rule.push(TableMigrateRule {
                source: RuleSource {
                    source_name: name_of(i),
                    schema,
                    table,
                },
                target: None,
                binlog_filter_rule: filters_of(inc),
            });
        }
    }
    let (binlog_name, binlog_pos, binlog_gtid) = match p.incremental.start_at() {
        Ok(StartAt::Binlog { file, pos }) => (Some(file), Some(pos), None),
        Ok(StartAt::Gtid(g)) => (None, None, Some(g)),
        _ => (None, None, None),
    };
    Task {
        name: p.name.clone(),
        task_mode: mode,
        shard_mode: (members.len() > 1).then_some(super::model::ShardMode::Pessimistic),
        meta_schema: Some(p.options.meta_schema.clone()),
        enhance_online_schema_change: false,
        on_duplicate: Default::default(),
        target_config: TargetConfig {
            host: p.target.host.clone(),
            port: p.target.port,
            user: p.target.user.clone(),
            password: None,
            security: None,
        },
        binlog_filter_rule,
        table_migrate_rule,
        source_config: SourceConfig {
            full_migrate_conf: Some(FullMigrateConf {
                export_threads: Some(p.options.export_threads),
                import_threads: Some(p.options.import_threads),
                data_dir: None,
                consistency: Some(
                    serde_json::to_value(p.options.consistency)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| "auto".into()),
                ),
            }),
            incr_migrate_conf: Some(IncrMigrateConf {
                // Automatic (0) is left to DM's own default.
                repl_threads: Some(p.incremental.apply_workers).filter(|&n| n > 0),
                repl_batch: None,
            }),
            source_conf: (0..members.len())
                .map(|i| SourceConf {
                    source_name: name_of(i),
                    binlog_name: binlog_name.clone(),
                    binlog_pos,
                    binlog_gtid: binlog_gtid.clone(),
                })
                .collect(),
        },
        status_list: None,
        ignore_checking_items: p.ignore_checks.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(json: serde_json::Value) -> Task {
        serde_json::from_value(json).unwrap()
    }

    /// An endpoint for each source the task names.
    fn eps(t: &Task) -> Vec<(String, EndpointConfig)> {
        sources_of(t)
            .unwrap()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (n, EndpointConfig::new("10.0.0.1", 3306 + i as u16, "dm")))
            .collect()
    }

    fn base() -> serde_json::Value {
        serde_json::json!({
            "name": "shard-task",
            "task_mode": "all",
            "meta_schema": "dm_meta",
            "on_duplicate": "replace",
            "target_config": {"host": "10.0.0.2", "port": 4000, "user": "root"},
            "binlog_filter_rule": {"no-drops": {"ignore_event": ["drop table", "truncate table"], "ignore_sql": ["^DROP"]}},
            "table_migrate_rule": [
                {"source": {"source_name": "mysql-01", "schema": "shop_*", "table": "orders"},
                 "target": {"schema": "shop", "table": "orders"},
                 "binlog_filter_rule": ["no-drops"]},
                {"source": {"source_name": "mysql-01", "schema": "crm", "table": "*"}}
            ],
            "source_config": {
                "full_migrate_conf": {"export_threads": 2, "import_threads": 8, "consistency": "snapshot", "data_dir": "./dump"},
                "incr_migrate_conf": {"repl_threads": 4, "repl_batch": 100},
                "source_conf": [{"source_name": "mysql-01", "binlog_name": "binlog.000007", "binlog_pos": 1234}]
            },
            "ignore_checking_items": ["tables.keys"]
        })
    }

    #[test]
    fn dm_check_names_stand_for_ferry_checks() {
        let items = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ignored_checks(&items(&[
                "version",
                "",
                "schema_of_shard_tables",
                "tables.keys"
            ]))
            .unwrap(),
            ["version.compatibility", "shards.schemas", "tables.keys"]
        );
        assert_eq!(
            ignored_checks(&items(&["dump_privilege", "replication_privilege"])).unwrap(),
            ["privileges.source"]
        );
        let all = ignored_checks(&items(&["all"])).unwrap();
        assert!(
            all.contains(&"binlog.format".to_string()) && all.contains(&"shards.keys".to_string())
        );
        assert!(ignored_checks(&items(&["empty_region"]))
            .unwrap()
            .is_empty());
        let e = ignored_checks(&items(&["binlog_formt"])).unwrap_err();
        assert!(e.to_string().contains("binlog_formt"), "{e}");
    }

    #[test]
    fn a_task_maps_onto_every_job_setting() {
        let t = task(base());
        assert_eq!(source_of(&t).unwrap(), "mysql-01");
        let p = to_profile(&t, &eps(&t)).unwrap();
        assert_eq!(p.mode, Mode::All);
        assert_eq!(p.target.address(), "10.0.0.2:4000");
        assert_eq!(p.options.meta_schema, "dm_meta");
        assert_eq!(p.objects.include, ["shop_*.orders", "crm.*"]);
        assert_eq!(
            p.objects.route,
            [Route {
                from: "shop_*.orders".into(),
                to: "shop.orders".into()
            }]
        );
        assert_eq!(p.incremental.filters.len(), 1);
        assert_eq!(p.incremental.filters[0].tables, ["shop_*.orders"]);
        assert_eq!(
            p.incremental.filters[0].events,
            [EventKind::DropTable, EventKind::TruncateTable]
        );
        assert_eq!(p.incremental.start, "binlog:binlog.000007:1234");
        assert_eq!(p.incremental.apply_workers, 4);
        assert_eq!((p.options.export_threads, p.options.import_threads), (2, 8));
        assert_eq!(p.options.consistency, Consistency::Snapshot);
        assert_eq!(p.ignore_checks, ["tables.keys"]);
        // Read back as a task, the job says the same.
        let back = from_profile(&p, &["mysql-01".to_string()]);
        assert_eq!(
            back.table_migrate_rule[0]
                .target
                .as_ref()
                .unwrap()
                .table
                .as_deref(),
            Some("orders")
        );
        assert_eq!(back.source_config.source_conf[0].binlog_pos, Some(1234));
        assert_eq!(to_profile(&back, &eps(&back)).unwrap().objects, p.objects);
    }

    /// DM's clients write `""` for a target name that keeps the source's.
    #[test]
    fn an_empty_target_name_keeps_the_source_name() {
        let routes = |schema: &str, table: &str| {
            let mut v = base();
            v["table_migrate_rule"][0]["target"] =
                serde_json::json!({"schema": schema, "table": table});
            let t = task(v);
            to_profile(&t, &eps(&t)).unwrap().objects.route
        };
        let to = |r: Vec<Route>| r.into_iter().map(|r| r.to).collect::<Vec<_>>();
        assert_eq!(to(routes("openapi", "")), ["openapi"]);
        assert_eq!(to(routes("", "orders")), ["*.orders"]);
        assert!(routes("", "").is_empty());
    }

    #[test]
    fn a_task_over_several_sources_is_a_job_with_shards() {
        let mut v = base();
        v["source_config"]["source_conf"] = serde_json::json!([
            {"source_name": "mysql-01"}, {"source_name": "mysql-02"}
        ]);
        v["shard_mode"] = "pessimistic".into();
        v["table_migrate_rule"] = serde_json::json!([
            {"source": {"source_name": "mysql-01", "schema": "shop_01", "table": "orders"},
             "target": {"schema": "shop", "table": "orders"}, "binlog_filter_rule": ["no-drops"]},
            {"source": {"source_name": "mysql-02", "schema": "shop_02", "table": "orders"},
             "target": {"schema": "shop", "table": "orders"}}
        ]);
        let t = task(v);
        assert_eq!(sources_of(&t).unwrap(), ["mysql-01", "mysql-02"]);
        let p = to_profile(&t, &eps(&t)).unwrap();
        assert_eq!(p.objects.include, ["shop_01.orders"]);
        assert_eq!(p.shards.len(), 1);
        let shard = &p.shards[0];
        assert_eq!(shard.name, "mysql-02");
        assert_eq!(shard.endpoint.port, 3307);
        let own = shard.objects.as_ref().unwrap();
        assert_eq!(own.include, ["shop_02.orders"]);
        assert_eq!(own.route[0].to, "shop.orders");
        assert_eq!(p.incremental.start, "snapshot");
        // Read back, the job is the same task: both sources, their rules.
        let names = ["mysql-01".to_string(), "mysql-02".to_string()];
        let back = from_profile(&p, &names);
        assert_eq!(back.source_config.source_conf.len(), 2);
        assert_eq!(back.table_migrate_rule[1].source.source_name, "mysql-02");
        assert_eq!(
            back.shard_mode,
            Some(super::super::model::ShardMode::Pessimistic)
        );
        assert_eq!(to_profile(&back, &eps(&back)).unwrap(), p);
    }

    #[test]
    fn a_route_narrower_than_its_include_reads_as_its_own_rule() {
        let t = task(base());
        let mut p = to_profile(&t, &eps(&t)).unwrap();
        p.objects.include = vec!["shard_*.*".into()];
        p.objects.route = vec![
            Route {
                from: "shard_*.orders".into(),
                to: "db.orders".into(),
            },
            // Names tables the job does not select: no rule, or DM would take them.
            Route {
                from: "crm.*".into(),
                to: "crm2.*".into(),
            },
        ];
        p.incremental.filters.clear();
        let back = from_profile(&p, &["mysql-01".to_string()]);
        let rules: Vec<(String, Option<String>)> = back
            .table_migrate_rule
            .iter()
            .map(|r| {
                (
                    format!("{}.{}", r.source.schema, r.source.table),
                    r.target.as_ref().and_then(|t| t.table.clone()),
                )
            })
            .collect();
        assert_eq!(
            rules,
            [
                ("shard_*.orders".to_string(), Some("orders".to_string())),
                ("shard_*.*".to_string(), None)
            ]
        );
    }

    #[test]
    fn what_a_job_cannot_hold_is_refused_by_name() {
        let refused = |edit: &dyn Fn(&mut serde_json::Value), needle: &str| {
            let mut v = base();
            edit(&mut v);
            let t = task(v);
            let err = sources_of(&t)
                .and_then(|_| to_profile(&t, &eps(&t)))
                .unwrap_err();
            assert!(err.to_string().contains(needle), "{err} lacks {needle}");
        };
        refused(
            &|v| v["table_migrate_rule"][1]["source"]["source_name"] = "mysql-02".into(),
            "several sources",
        );
        refused(&|v| v["shard_mode"] = "optimistic".into(), "optimistic");
        refused(
            &|v| v["table_migrate_rule"][1]["source"]["table"] = "t[0-9]".into(),
            "character classes",
        );
        refused(
            &|v| {
                v["binlog_filter_rule"]["no-drops"]["ignore_event"] =
                    serde_json::json!(["create database"])
            },
            "no-drops",
        );
        refused(
            &|v| {
                v["table_migrate_rule"][0]["binlog_filter_rule"] =
                    serde_json::json!(["no-drops", "missing"])
            },
            "missing",
        );
        refused(
            &|v| v["table_migrate_rule"][0]["target"]["table"] = "orders_*".into(),
            "wildcards",
        );
        refused(
            &|v| v["source_config"]["full_migrate_conf"]["consistency"] = "eventual".into(),
            "eventual",
        );
        refused(&|v| v["name"] = "9lives".into(), "name");
        refused(&|v| v["task_mode"] = "dump".into(), "dump");
        refused(&|v| v["task_mode"] = "load".into(), "load");
        refused(
            &|v| v["target_config"]["security"] = serde_json::json!({"ssl_ca_content": "PEM"}),
            "security",
        );
    }
}
