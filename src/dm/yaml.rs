//! DM's configuration files: the task file (`task-configuration-file-full`) and
//! the source file, as a DM cluster loads them with `dmctl`. Passwords are never
//! written: the files carry an empty `password` to fill in on the DM side
//! (`dmctl encrypt` makes the encrypted form DM accepts).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{
    BinlogFilterRule, FullMigrateConf, IncrMigrateConf, RuleSource, RuleTarget, ShardMode,
    SourceConf, SourceConfig, TableMigrateRule, TargetConfig, Task, TaskMode,
};
use super::DmError;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TaskFile {
    pub name: String,
    pub task_mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_schema: Option<String>,
    #[serde(default)]
    pub online_ddl: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_checking_items: Vec<String>,
    pub target_database: Database,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, RouteRule>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filters: BTreeMap<String, FilterRuleFile>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub block_allow_list: BTreeMap<String, BlockAllow>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mydumpers: BTreeMap<String, Mydumper>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub loaders: BTreeMap<String, Loader>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub syncers: BTreeMap<String, Syncer>,
    pub mysql_instances: Vec<Instance>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Database {
    pub host: String,
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub password: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct RouteRule {
    pub schema_pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_pattern: Option<String>,
    pub target_schema: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_table: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct FilterRuleFile {
    pub schema_pattern: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_pattern: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sql_pattern: Vec<String>,
    pub action: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DoTable {
    pub db_name: String,
    pub tbl_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BlockAllow {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub do_dbs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub do_tables: Vec<DoTable>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mydumper {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Loader {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Syncer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_count: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_pos: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_gtid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Instance {
    pub source_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filter_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_allow_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mydumper_config_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loader_config_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syncer_config_name: Option<String>,
}

/// A source's configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SourceFile {
    pub source_id: String,
    #[serde(default)]
    pub enable_gtid: bool,
    pub from: Database,
}

const GLOBAL: &str = "global";

fn mode_word(m: TaskMode) -> &'static str {
    match m {
        TaskMode::Full => "full",
        TaskMode::Incremental => "incremental",
        TaskMode::All => "all",
        TaskMode::Dump => "dump",
        TaskMode::Load => "load",
    }
}

/// The DM task file of a task, for each of its sources.
pub fn task_file(task: &Task) -> TaskFile {
    let mut routes = BTreeMap::new();
    let mut filters = BTreeMap::new();
    let mut lists: BTreeMap<String, BlockAllow> = BTreeMap::new();
    let mut instances: BTreeMap<String, Instance> = BTreeMap::new();
    for (i, rule) in task.table_migrate_rule.iter().enumerate() {
        let src = &rule.source;
        let inst = instances
            .entry(src.source_name.clone())
            .or_insert_with(|| Instance {
                source_id: src.source_name.clone(),
                meta: None,
                route_rules: Vec::new(),
                filter_rules: Vec::new(),
                block_allow_list: Some(format!("ba-{}", src.source_name)),
                mydumper_config_name: Some(GLOBAL.into()),
                loader_config_name: Some(GLOBAL.into()),
                syncer_config_name: Some(GLOBAL.into()),
            });
        lists
            .entry(format!("ba-{}", src.source_name))
            .or_default()
            .do_tables
            .push(DoTable {
                db_name: src.schema.clone(),
                tbl_name: src.table.clone(),
            });
        if let Some(RuleTarget {
            schema: Some(schema),
            table,
        }) = &rule.target
        {
            let name = format!("route-{}", i + 1);
            routes.insert(
                name.clone(),
                RouteRule {
                    schema_pattern: src.schema.clone(),
                    table_pattern: Some(src.table.clone()),
                    target_schema: schema.clone(),
                    target_table: table.clone(),
                },
            );
            inst.route_rules.push(name);
        }
        for f in &rule.binlog_filter_rule {
            let Some(def) = task.binlog_filter_rule.get(f) else {
                continue;
            };
            let name = format!("{f}-{}", i + 1);
            filters.insert(
                name.clone(),
                FilterRuleFile {
                    schema_pattern: src.schema.clone(),
                    table_pattern: Some(src.table.clone()),
                    events: def.ignore_event.clone(),
                    sql_pattern: def.ignore_sql.clone(),
                    action: "Ignore".into(),
                },
            );
            inst.filter_rules.push(name);
        }
    }
    for conf in &task.source_config.source_conf {
        if let Some(inst) = instances.get_mut(&conf.source_name) {
            let meta = Meta {
                binlog_name: conf.binlog_name.clone(),
                binlog_pos: conf.binlog_pos,
                binlog_gtid: conf.binlog_gtid.clone(),
            };
            inst.meta = (meta != Meta::default()).then_some(meta);
        }
    }
    // In the task's order of sources: the first is the job's `[source]`.
    let mut mysql_instances: Vec<Instance> = crate::dm::convert::sources_of(task)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| instances.remove(&n))
        .collect();
    mysql_instances.extend(instances.into_values());
    let full = task
        .source_config
        .full_migrate_conf
        .clone()
        .unwrap_or_default();
    let incr = task
        .source_config
        .incr_migrate_conf
        .clone()
        .unwrap_or_default();
    TaskFile {
        name: task.name.clone(),
        task_mode: mode_word(task.task_mode).into(),
        shard_mode: task.shard_mode.map(|m| match m {
            ShardMode::Pessimistic => "pessimistic".into(),
            ShardMode::Optimistic => "optimistic".into(),
        }),
        meta_schema: task.meta_schema.clone(),
        online_ddl: task.enhance_online_schema_change,
        ignore_checking_items: task.ignore_checking_items.clone(),
        target_database: Database {
            host: task.target_config.host.clone(),
            port: task.target_config.port,
            user: task.target_config.user.clone(),
            password: String::new(),
        },
        routes,
        filters,
        block_allow_list: lists,
        mydumpers: BTreeMap::from([(
            GLOBAL.into(),
            Mydumper {
                threads: full.export_threads,
            },
        )]),
        loaders: BTreeMap::from([(
            GLOBAL.into(),
            Loader {
                pool_size: full.import_threads,
                dir: full.data_dir,
            },
        )]),
        syncers: BTreeMap::from([(
            GLOBAL.into(),
            Syncer {
                worker_count: incr.repl_threads,
                batch: incr.repl_batch,
            },
        )]),
        mysql_instances,
    }
}

/// The task a DM task file describes.
pub fn task_of_file(f: &TaskFile) -> Result<Task, DmError> {
    let task_mode = match f.task_mode.as_str() {
        "full" => TaskMode::Full,
        "incremental" => TaskMode::Incremental,
        "all" => TaskMode::All,
        other => {
            return Err(DmError::invalid(format!(
                "task-mode \"{other}\": use full, incremental or all"
            )))
        }
    };
    let shard_mode = match f.shard_mode.as_deref() {
        None | Some("") => None,
        Some("pessimistic") => Some(ShardMode::Pessimistic),
        Some("optimistic") => Some(ShardMode::Optimistic),
        Some(other) => return Err(DmError::invalid(format!("shard-mode \"{other}\""))),
    };
    let mut rules = Vec::new();
    let mut filter_defs = BTreeMap::new();
    let mut source_conf = Vec::new();
    for inst in &f.mysql_instances {
        let list = match &inst.block_allow_list {
            Some(name) => f.block_allow_list.get(name).cloned().ok_or_else(|| {
                DmError::invalid(format!("block-allow-list \"{name}\" is not defined"))
            })?,
            None => BlockAllow {
                do_dbs: vec!["*".into()],
                do_tables: Vec::new(),
            },
        };
        let pairs = list
            .do_dbs
            .iter()
            .map(|d| (d.clone(), "*".to_string()))
            .chain(
                list.do_tables
                    .iter()
                    .map(|t| (t.db_name.clone(), t.tbl_name.clone())),
            );
        for (schema, table) in pairs {
            let route = inst
                .route_rules
                .iter()
                .filter_map(|r| f.routes.get(r))
                .find(|r| {
                    r.schema_pattern == schema && r.table_pattern.as_deref().unwrap_or("*") == table
                });
            let mut names = Vec::new();
            for name in &inst.filter_rules {
                let Some(def) = f.filters.get(name) else {
                    return Err(DmError::invalid(format!(
                        "filter \"{name}\" is not defined"
                    )));
                };
                if def.schema_pattern == schema
                    && def.table_pattern.as_deref().unwrap_or("*") == table
                {
                    if !def.action.eq_ignore_ascii_case("ignore") {
                        return Err(DmError::unsupported(format!(
                            "filter \"{name}\": action {} (only Ignore)",
                            def.action
                        )));
                    }
                    // The per-rule suffix of an exported name goes; the definition stays.
                    let base = name
                        .rsplit_once('-')
                        .filter(|(_, n)| n.parse::<usize>().is_ok())
                        .map_or(name.as_str(), |(b, _)| b);
                    filter_defs.insert(
                        base.to_string(),
                        BinlogFilterRule {
                            ignore_event: def.events.clone(),
                            ignore_sql: def.sql_pattern.clone(),
                        },
                    );
                    names.push(base.to_string());
                }
            }
            rules.push(TableMigrateRule {
                source: RuleSource {
                    source_name: inst.source_id.clone(),
                    schema,
                    table,
                },
                target: route.map(|r| RuleTarget {
                    schema: Some(r.target_schema.clone()),
                    table: r.target_table.clone(),
                }),
                binlog_filter_rule: names,
            });
        }
        let meta = inst.meta.clone().unwrap_or_default();
        source_conf.push(SourceConf {
            source_name: inst.source_id.clone(),
            binlog_name: meta.binlog_name,
            binlog_pos: meta.binlog_pos,
            binlog_gtid: meta.binlog_gtid,
        });
    }
    let first = f.mysql_instances.first();
    let pick = |name: Option<&String>| name.cloned().unwrap_or_else(|| GLOBAL.into());
    let dumper = first.and_then(|i| f.mydumpers.get(&pick(i.mydumper_config_name.as_ref())));
    let loader = first.and_then(|i| f.loaders.get(&pick(i.loader_config_name.as_ref())));
    let syncer = first.and_then(|i| f.syncers.get(&pick(i.syncer_config_name.as_ref())));
    Ok(Task {
        name: f.name.clone(),
        task_mode,
        shard_mode,
        meta_schema: f.meta_schema.clone(),
        enhance_online_schema_change: f.online_ddl,
        on_duplicate: Default::default(),
        target_config: TargetConfig {
            host: f.target_database.host.clone(),
            port: f.target_database.port,
            user: f.target_database.user.clone(),
            password: None,
            security: None,
        },
        binlog_filter_rule: filter_defs,
        table_migrate_rule: rules,
        source_config: SourceConfig {
            full_migrate_conf: Some(FullMigrateConf {
                export_threads: dumper.and_then(|d| d.threads),
                import_threads: loader.and_then(|l| l.pool_size),
                data_dir: loader.and_then(|l| l.dir.clone()),
                consistency: None,
            }),
            incr_migrate_conf: Some(IncrMigrateConf {
                repl_threads: syncer.and_then(|s| s.worker_count),
                repl_batch: syncer.and_then(|s| s.batch),
            }),
            source_conf,
        },
        status_list: None,
        ignore_checking_items: f.ignore_checking_items.clone(),
    })
}

/// The task file as YAML text, with a note on the password.
pub fn task_yaml(task: &Task) -> Result<String, DmError> {
    let text = serde_yaml_ng::to_string(&task_file(task))
        .map_err(|e| DmError::Storage(format!("encoding the task file: {e}")))?;
    Ok(format!(
        "# DM task file made by Ferry {} from job \"{}\".\n# target-database.password is empty: Ferry writes no passwords to files. Fill it in\n# (`dmctl encrypt` gives the encrypted form) before `dmctl start-task`.\n{text}",
        crate::VERSION,
        task.name
    ))
}

pub fn parse_task_yaml(text: &str) -> Result<Task, DmError> {
    let f: TaskFile = serde_yaml_ng::from_str(text)
        .map_err(|e| DmError::invalid(format!("task_config_file: {e}")))?;
    task_of_file(&f)
}

/// A source file as YAML text (no password).
pub fn source_yaml(s: &super::model::Source) -> Result<String, DmError> {
    let f = SourceFile {
        source_id: s.source_name.clone(),
        enable_gtid: s.enable_gtid,
        from: Database {
            host: s.host.clone(),
            port: s.port,
            user: s.user.clone(),
            password: String::new(),
        },
    };
    let text = serde_yaml_ng::to_string(&f)
        .map_err(|e| DmError::Storage(format!("encoding the source file: {e}")))?;
    Ok(format!(
        "# DM source file made by Ferry {}.\n# from.password is empty: fill it in (`dmctl encrypt`) before `dmctl operate-source create`.\n{text}",
        crate::VERSION
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_survives_its_yaml_file() {
        let task: Task = serde_json::from_value(serde_json::json!({
            "name": "shop-merge",
            "task_mode": "all",
            "shard_mode": "pessimistic",
            "meta_schema": "dm_meta",
            "enhance_online_schema_change": true,
            "on_duplicate": "error",
            "target_config": {"host": "10.0.0.2", "port": 4000, "user": "root", "password": "secret"},
            "binlog_filter_rule": {"no-drops": {"ignore_event": ["drop table"], "ignore_sql": ["^DROP"]}},
            "table_migrate_rule": [
                {"source": {"source_name": "mysql-01", "schema": "shop_*", "table": "orders"},
                 "target": {"schema": "shop", "table": "orders"}, "binlog_filter_rule": ["no-drops"]},
                {"source": {"source_name": "mysql-01", "schema": "crm", "table": "*"}}
            ],
            "source_config": {
                "full_migrate_conf": {"export_threads": 2, "import_threads": 8, "data_dir": "./dump"},
                "incr_migrate_conf": {"repl_threads": 4, "repl_batch": 100},
                "source_conf": [{"source_name": "mysql-01", "binlog_name": "binlog.000007", "binlog_pos": 1234}]
            }
        }))
        .unwrap();
        let text = task_yaml(&task).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(
            text.contains("task-mode: all") && text.contains("mysql-instances:"),
            "{text}"
        );
        let back = parse_task_yaml(&text).unwrap();
        let mut want = task.clone();
        want.target_config.password = None;
        assert_eq!(back, want);
    }
}
