//! TiDB DM's OpenAPI resources (v1, `dm/openapi/spec/dm.yaml`), with DM's field
//! names. Request bodies refuse unknown fields, so a typo is an error instead of a
//! setting silently left out; read-only fields a client may send back from a GET
//! (`status_list`, `task_name_list`, `flavor`) are accepted and ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// DM's uniform error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorWithMessage {
    pub error_msg: String,
    pub error_code: i64,
}

/// TLS material of a source or target, as PEM text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Security {
    #[serde(default)]
    pub ssl_ca_content: String,
    #[serde(default)]
    pub ssl_cert_content: String,
    #[serde(default)]
    pub ssl_key_content: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cert_allowed_cn: Vec<String>,
}

/// Relay log clean-up policy (kept for DM clients; Ferry keeps no relay log).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Purge {
    #[serde(default)]
    pub interval: Option<i64>,
    #[serde(default)]
    pub expires: Option<i64>,
    #[serde(default)]
    pub remain_space: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    #[serde(default)]
    pub enable_relay: bool,
    #[serde(default)]
    pub relay_binlog_name: Option<String>,
    #[serde(default)]
    pub relay_binlog_gtid: Option<String>,
    #[serde(default)]
    pub relay_dir: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RelayStatus {
    pub master_binlog: String,
    pub master_binlog_gtid: String,
    pub relay_dir: String,
    pub relay_binlog_gtid: String,
    pub relay_catch_up_master: bool,
    pub stage: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceStatus {
    pub source_name: String,
    pub worker_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_status: Option<RelayStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
}

/// A data source: one upstream server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    pub source_name: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Write-only: stored in the OS keyring; answers show `******`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub enable_gtid: bool,
    #[serde(default = "yes")]
    pub enable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_name_list: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purge: Option<Purge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_list: Option<Vec<SourceStatus>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_config: Option<RelayConfig>,
    /// Sent by DM's own clients in every source body; DM's server ignores it, and
    /// so does Ferry (names compare as the source's `lower_case_table_names`
    /// says). Kept and answered back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
}

fn yes() -> bool {
    true
}

/// `POST /sources` (DM 6: `{"source": …, "worker_name": …}`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSourceRequest {
    pub source: Source,
    #[serde(default)]
    pub worker_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSourceRequest {
    pub source: Source,
}

/// A list answer: `{"total": n, "data": [...]}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct List<T> {
    pub total: usize,
    pub data: Vec<T>,
}

impl<T> From<Vec<T>> for List<T> {
    fn from(data: Vec<T>) -> Self {
        List {
            total: data.len(),
            data,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TaskMode {
    Full,
    Incremental,
    All,
    /// DM's dump-only and load-only modes: read, and refused as not supported
    /// (a Ferry copy streams from source to target, with no dump in between).
    Dump,
    Load,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShardMode {
    Pessimistic,
    Optimistic,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OnDuplicate {
    Replace,
    #[default]
    Error,
    Ignore,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// Write-only, like a source's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Security>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BinlogFilterRule {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_event: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_sql: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSource {
    pub source_name: String,
    pub schema: String,
    pub table: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TableMigrateRule {
    pub source: RuleSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<RuleTarget>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binlog_filter_rule: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FullMigrateConf {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_threads: Option<usize>,
    /// DM's dump directory; Ferry streams rows and writes no files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncrMigrateConf {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repl_threads: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repl_batch: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceConf {
    pub source_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_pos: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binlog_gtid: Option<String>,
}

impl SourceConf {
    /// Whether it names a start position (a GTID set, or a binlog file).
    pub fn has_position(&self) -> bool {
        let given = |v: &Option<String>| v.as_deref().is_some_and(|x| !x.trim().is_empty());
        given(&self.binlog_gtid) || given(&self.binlog_name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_migrate_conf: Option<FullMigrateConf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incr_migrate_conf: Option<IncrMigrateConf>,
    pub source_conf: Vec<SourceConf>,
}

/// A migration task (a Ferry job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Task {
    pub name: String,
    pub task_mode: TaskMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_mode: Option<ShardMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_schema: Option<String>,
    #[serde(default)]
    pub enhance_online_schema_change: bool,
    #[serde(default)]
    pub on_duplicate: OnDuplicate,
    pub target_config: TargetConfig,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub binlog_filter_rule: BTreeMap<String, BinlogFilterRule>,
    #[serde(default)]
    pub table_migrate_rule: Vec<TableMigrateRule>,
    pub source_config: SourceConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_list: Option<Vec<SubTaskStatus>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_checking_items: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    pub task: Task,
}

/// The answer to creating or updating a task: the task and its precheck's
/// words (`pre-check is passed. `, then each warning).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OperateTaskResponse {
    pub task: Task,
    pub check_result: String,
}

/// `GET /tasks/{t}/sources/{s}/schemas/{db}/{table}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskTableStructure {
    pub schema_name: String,
    pub table_name: String,
    pub schema_create_sql: String,
}

/// Where the table structure a task decodes rows with comes from (DM's
/// `OperateTaskTableStructureRequest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SchemaSource {
    Sql,
    Upstream,
    Downstream,
}

/// `PUT /tasks/{t}/sources/{s}/schemas/{db}/{table}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperateTableStructureRequest {
    #[serde(default)]
    pub schema_source: Option<SchemaSource>,
    #[serde(default)]
    pub sql_content: Option<String>,
    #[serde(default)]
    pub flush: Option<bool>,
    #[serde(default)]
    pub sync: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartTaskRequest {
    #[serde(default)]
    pub remove_meta: bool,
    #[serde(default)]
    pub source_name_list: Option<Vec<String>>,
    /// DM: start the sync from the binlog at this time. Refused as not supported:
    /// a Ferry job starts from its checkpoint or its `[incremental] start`.
    #[serde(default)]
    pub start_time: Option<String>,
    /// DM: how long to write in safe mode (idempotent statements) after the
    /// start. Accepted without effect: Ferry's sync always writes rows' final
    /// images, which is what safe mode does.
    #[serde(default)]
    pub safe_mode_time_duration: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopTaskRequest {
    #[serde(default)]
    pub source_name_list: Option<Vec<String>>,
    /// DM: how long to wait for the task to stop. Accepted: a stop asks the job
    /// to pause after the batch in flight and answers at once, as DM's does.
    #[serde(default)]
    pub timeout_duration: Option<String>,
}

/// DM's stages: a stopped task is `Paused` (it resumes where it stopped);
/// `Stopped` is read from DM clusters too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum TaskStage {
    Paused,
    Stopped,
    Running,
    Finished,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoadStatus {
    pub finished_bytes: u64,
    pub total_bytes: u64,
    pub progress: String,
    pub meta_binlog: String,
    pub meta_binlog_gtid: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShardingGroup {
    pub target: String,
    pub ddl_list: Vec<String>,
    pub first_location: String,
    pub synced: Vec<String>,
    pub unsynced: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncStatus {
    pub total_events: u64,
    pub total_tps: u64,
    pub recent_tps: u64,
    pub master_binlog: String,
    pub master_binlog_gtid: String,
    pub syncer_binlog: String,
    pub syncer_binlog_gtid: String,
    pub blocking_ddls: Vec<String>,
    pub unresolved_groups: Vec<ShardingGroup>,
    pub synced: bool,
    pub binlog_type: String,
    pub seconds_behind_master: u64,
    /// Bytes of binlog read from the source over the whole task.
    #[serde(default)]
    pub io_total_bytes: u64,
    /// Bytes the copy read from the source (DM's dump).
    #[serde(default)]
    pub dump_io_total_bytes: u64,
}

/// Ferry's continuous verification, in the shape of DM's validator status
/// (`dmctl validation status`): an extension DM's own clients ignore.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ValidationStatus {
    /// `running`, `waiting`, `verified`, `stopped`.
    pub stage: String,
    pub verified_chunks: u64,
    pub total_chunks: u64,
    /// `97.00 %`.
    pub progress: String,
    /// Key ranges that differ, one line each: table, range, sample keys.
    pub errors: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DumpStatus {
    pub total_tables: u64,
    pub completed_tables: f64,
    pub finished_bytes: f64,
    pub finished_rows: f64,
    pub estimate_total_rows: f64,
}

/// One source's part of a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SubTaskStatus {
    pub name: String,
    pub source_name: String,
    pub worker_name: String,
    pub stage: TaskStage,
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unresolved_ddl_lock_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_status: Option<LoadStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<SyncStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump_status: Option<DumpStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_status: Option<ValidationStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_msg: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskMigrateTarget {
    pub source_schema: String,
    pub source_table: String,
    pub target_schema: String,
    pub target_table: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterMaster {
    pub name: String,
    pub alive: bool,
    pub leader: bool,
    pub addr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterWorker {
    pub name: String,
    pub addr: String,
    pub bound_stage: String,
    pub bound_source_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClusterInfo {
    pub cluster_id: u64,
}

/// `POST /tasks/converters`: a task to turn into DM's task file, or a file to
/// turn into a task.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConverterTaskRequest {
    #[serde(default)]
    pub task: Option<Task>,
    #[serde(default)]
    pub task_config_file: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConverterTaskResponse {
    pub task: Task,
    pub task_config_file: String,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskTemplateRequest {
    #[serde(default)]
    pub overwrite: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FailedTask {
    pub task_name: String,
    pub error_msg: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskTemplateResponse {
    pub success_task_list: Vec<String>,
    pub failed_task_list: Vec<FailedTask>,
}
