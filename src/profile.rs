//! Job profiles: TOML files, one per job, under the OS config dir
//! (`~/.config/ferry/profiles/<name>.toml` on Linux). A profile never holds a
//! password; a file that tries to is refused, so a password can't end up in a backup
//! or a support bundle by accident.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::Coded;

/// What a job does: DM's `task_mode`, the `sync_way` of QingCloud's standby.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Mode {
    /// Snapshot copy only.
    Full,
    /// Binlog sync only; target tables must already exist.
    Incremental,
    /// Snapshot, then binlog sync from the snapshot's position.
    #[default]
    All,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Incremental => "incremental",
            Mode::All => "all",
        }
    }

    /// The mode `as_str` wrote (job files and the meta schema).
    pub fn parse(s: &str) -> Option<Mode> {
        [Mode::Full, Mode::Incremental, Mode::All]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

/// One `[[incremental.filters]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FilterRule {
    /// Source tables it applies to (`db.*`, `db.tb_*`); empty: every synced table.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// Event kinds to leave out: `insert`, `update`, `delete`, `all dml`,
    /// `create table`, `alter table`, `drop table`, `rename table`,
    /// `truncate table`, `create index`, `drop index`, `all ddl`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
    /// Regular expressions (case-insensitive); a DDL statement matching one is
    /// left out.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sql: Vec<String>,
}

/// A kind of binlog event a filter rule leaves out, as written in the job file
/// (`"insert"`, `"all dml"`, `"alter table"`…; case and spacing are free).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum EventKind {
    #[serde(rename = "insert")]
    Insert,
    #[serde(rename = "update")]
    Update,
    #[serde(rename = "delete")]
    Delete,
    /// insert, update and delete.
    #[serde(rename = "all dml")]
    AllDml,
    #[serde(rename = "create table")]
    CreateTable,
    #[serde(rename = "alter table")]
    AlterTable,
    #[serde(rename = "drop table")]
    DropTable,
    #[serde(rename = "rename table")]
    RenameTable,
    #[serde(rename = "truncate table")]
    TruncateTable,
    #[serde(rename = "create index")]
    CreateIndex,
    #[serde(rename = "drop index")]
    DropIndex,
    /// Every DDL kind above.
    #[serde(rename = "all ddl")]
    AllDdl,
}

impl EventKind {
    pub const DML: [EventKind; 3] = [EventKind::Insert, EventKind::Update, EventKind::Delete];
    pub const DDL: [EventKind; 7] = [
        EventKind::CreateTable,
        EventKind::AlterTable,
        EventKind::DropTable,
        EventKind::RenameTable,
        EventKind::TruncateTable,
        EventKind::CreateIndex,
        EventKind::DropIndex,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Insert => "insert",
            EventKind::Update => "update",
            EventKind::Delete => "delete",
            EventKind::AllDml => "all dml",
            EventKind::CreateTable => "create table",
            EventKind::AlterTable => "alter table",
            EventKind::DropTable => "drop table",
            EventKind::RenameTable => "rename table",
            EventKind::TruncateTable => "truncate table",
            EventKind::CreateIndex => "create index",
            EventKind::DropIndex => "drop index",
            EventKind::AllDdl => "all ddl",
        }
    }

    /// The kinds it stands for: itself, or the group `all dml` / `all ddl` names.
    pub fn expand(self) -> Vec<EventKind> {
        match self {
            EventKind::AllDml => EventKind::DML.to_vec(),
            EventKind::AllDdl => EventKind::DDL.to_vec(),
            k => vec![k],
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<EventKind, String> {
        let s = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_lowercase();
        EventKind::DML
            .into_iter()
            .chain(EventKind::DDL)
            .chain([EventKind::AllDml, EventKind::AllDdl])
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = EventKind::DML
                    .iter()
                    .chain(EventKind::DDL.iter())
                    .map(|k| k.as_str())
                    .collect();
                format!(
                    "unknown event \"{s}\" (use {}, all dml or all ddl)",
                    names.join(", ")
                )
            })
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl FilterRule {
    /// The event kinds it names, `all dml` / `all ddl` expanded.
    pub fn event_kinds(&self) -> Vec<EventKind> {
        let mut out: Vec<EventKind> = Vec::new();
        for k in self.events.iter().flat_map(|k| k.expand()) {
            if !out.contains(&k) {
                out.push(k);
            }
        }
        out
    }

    /// Its `sql` patterns, compiled case-insensitively.
    pub fn sql_patterns(&self, n: usize) -> Result<Vec<regex::Regex>, String> {
        self.sql
            .iter()
            .map(|p| {
                regex::RegexBuilder::new(p)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| format!("rule {n}: sql pattern \"{p}\": {e}"))
            })
            .collect()
    }
}

/// The meta schema Ferry keeps job state in on the target, unless a job names another.
pub const META_SCHEMA: &str = "ferry_meta";

pub const DEFAULT_PORT: u16 = 3306;
const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;

/// Which side of a migration an endpoint is; used in every message about a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Side {
    Source,
    Target,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Target => "target",
        }
    }

    /// The environment variable the CLI reads this side's password from.
    pub fn password_env(self) -> &'static str {
        match self {
            Side::Source => "FERRY_SOURCE_PASSWORD",
            Side::Target => "FERRY_TARGET_PASSWORD",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a connection is protected; the names are those of `mysql --ssl-mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum TlsMode {
    Disabled,
    #[default]
    Preferred,
    Required,
    VerifyCa,
    VerifyIdentity,
}

impl TlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Preferred => "preferred",
            TlsMode::Required => "required",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyIdentity => "verify-identity",
        }
    }
}

/// One server as written in a job profile. No password: that lives in the keyring.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct EndpointConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub user: String,
    #[serde(default)]
    pub tls: TlsMode,
    /// CA certificate (PEM) for `verify-ca` / `verify-identity`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for servers that require X509 accounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM) matching `cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn default_connect_timeout() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_SECS
}

impl EndpointConfig {
    pub fn new(host: impl Into<String>, port: u16, user: impl Into<String>) -> Self {
        EndpointConfig {
            host: host.into(),
            port,
            user: user.into(),
            tls: TlsMode::default(),
            ca: None,
            cert: None,
            key: None,
            connect_timeout_secs: DEFAULT_CONNECT_TIMEOUT_SECS,
        }
    }

    /// `host:port`, as shown in messages.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Which tables a job selects and where they go on the target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ObjectRules {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<Route>,
    /// Views, triggers, routines and events left out although their table or
    /// schema is selected, each as `kind schema.name` (`"view shop.v_orders"`;
    /// kinds: view, trigger, procedure, function, event).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Route {
    pub from: String,
    pub to: String,
}

/// `[[shards]]`: one more source of a job, named for messages and its checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Shard {
    pub name: String,
    /// This source's own selection and routes (DM's per-source
    /// `table_migrate_rule`); by default the job's `[objects]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<ObjectRules>,
    #[serde(flatten)]
    pub endpoint: EndpointConfig,
}

/// The label of a job's `[source]` among its shards.
pub const FIRST_SOURCE: &str = "source";

/// A job profile as stored on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Profile {
    pub name: String,
    #[serde(default)]
    pub mode: Mode,
    pub source: EndpointConfig,
    /// More sources whose tables are copied and followed into the same target
    /// (DM's multi-source task; routes that name one target table for tables of
    /// several sources merge their rows). Each has its own snapshot, binlog reader
    /// and checkpoint; its password is kept in the keyring under `job.shard`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<Shard>,
    pub target: EndpointConfig,
    #[serde(default)]
    pub objects: ObjectRules,
    #[serde(default)]
    pub options: Options,
    /// The binlog phase (modes `all` and `incremental`).
    #[serde(default, skip_serializing_if = "Incremental::is_default")]
    pub incremental: Incremental,
    /// Precheck ids whose failure must not stop `ferry run` (warnings never do).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_checks: Vec<String>,
    /// Set on the reverse sync's job (see `reverse`): the job it reverses,
    /// whose passwords it uses with the sides swapped. Never in a job file.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub reverse_of: Option<String>,
}

/// `[incremental]`: where the binlog phase starts and how it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Incremental {
    /// `snapshot` (the full copy's position; the default), `now`,
    /// `gtid:<set>` or `binlog:<file>:<offset>`.
    pub start: String,
    /// The replica id Ferry registers with on the source; by default derived from
    /// the job name, so several jobs can follow one source.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<u32>,
    /// `auto`: `ferry complete` cuts over; `never`: a standby that keeps syncing.
    pub cutover: Cutover,
    /// Target connections that apply each batch in parallel (whole tables, or a
    /// large table's rows partitioned by key; tables with other unique indexes
    /// and keyless tables stay on one). 0: automatic — 2 near the target, 8 at a
    /// distance, where each worker's round trips overlap the others'.
    pub apply_workers: usize,
    /// Binlog events to leave out (DM's `binlog_filter_rule`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<FilterRule>,
    /// Continuous verification during the sync: the percent of the servers'
    /// time it may take (1–100); 0 turns it off (the cutover then compares
    /// every table).
    pub verify_share: u8,
    /// After the cutover, replicate the target's changes back to the source so
    /// the job can be rolled back (see `reverse`): `off`, `until-released`, or
    /// a number of hours (`24h`).
    pub reverse: String,
}

/// How long a job keeps its reverse sync after the cutover (`[incremental] reverse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReverseFor {
    Off,
    Hours(u32),
    UntilReleased,
}

impl ReverseFor {
    pub fn parse(text: &str) -> Result<ReverseFor, String> {
        let t = text.trim();
        match t {
            "" | "off" => Ok(ReverseFor::Off),
            "until-released" => Ok(ReverseFor::UntilReleased),
            _ => t
                .strip_suffix('h')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|n| *n > 0)
                .map(ReverseFor::Hours)
                .ok_or_else(|| {
                    format!("reverse = \"{text}\": use \"off\", \"until-released\" or a number of hours such as \"24h\"")
                }),
        }
    }
}

impl Default for Incremental {
    fn default() -> Self {
        Incremental {
            apply_workers: 0,
            filters: Vec::new(),
            verify_share: DEFAULT_VERIFY_SHARE,
            reverse: "off".into(),
            start: "snapshot".into(),
            server_id: None,
            cutover: Cutover::Auto,
        }
    }
}

/// The continuous verification's share of the servers' time, in percent.
pub const DEFAULT_VERIFY_SHARE: u8 = 20;

impl Incremental {
    fn is_default(&self) -> bool {
        *self == Incremental::default()
    }

    /// The replica id for job `name`: the configured one, or a stable hash of the
    /// name in 1 700 000 000 – 2 099 999 999 (away from usual server ids).
    pub fn server_id_for(&self, name: &str) -> u32 {
        self.server_id.unwrap_or_else(|| {
            // FNV-1a: stable across runs and versions, unlike std's hasher.
            let mut h: u32 = 0x811c_9dc5;
            for b in name.bytes() {
                h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
            }
            1_700_000_000 + h % 400_000_000
        })
    }

    pub fn start_at(&self) -> Result<StartAt, String> {
        StartAt::parse(&self.start)
    }

    /// `reverse`, parsed (checked when the job file is read).
    pub fn reverse_for(&self) -> ReverseFor {
        ReverseFor::parse(&self.reverse).unwrap_or(ReverseFor::Off)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Cutover {
    #[default]
    Auto,
    Never,
}

/// A parsed `[incremental] start`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    Snapshot,
    Now,
    Gtid(String),
    Binlog { file: String, pos: u64 },
}

impl StartAt {
    pub fn parse(s: &str) -> Result<StartAt, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("snapshot") {
            return Ok(StartAt::Snapshot);
        }
        if s.eq_ignore_ascii_case("now") {
            return Ok(StartAt::Now);
        }
        if let Some(set) = s.strip_prefix("gtid:") {
            let set = set.trim();
            let valid = crate::gtid::MariaGtids::parse(set).is_ok()
                || crate::gtid::MysqlGtids::parse(set).is_ok();
            if set.is_empty() || !valid {
                return Err(format!("\"{set}\" is neither a MariaDB GTID list (0-1-42) nor a MySQL GTID set (uuid:1-42)"));
            }
            return Ok(StartAt::Gtid(set.to_string()));
        }
        if let Some(rest) = s.strip_prefix("binlog:") {
            if let Some((file, pos)) = rest.rsplit_once(':') {
                if let Ok(pos) = pos.parse::<u64>() {
                    if !file.is_empty() && pos >= 4 {
                        return Ok(StartAt::Binlog {
                            file: file.to_string(),
                            pos,
                        });
                    }
                }
            }
            return Err(format!(
                "\"{rest}\" is not <file>:<offset> (offset 4 or more)"
            ));
        }
        Err(format!(
            "\"{s}\" is not snapshot, now, gtid:<set> or binlog:<file>:<offset>"
        ))
    }
}

/// How the snapshot is made consistent (DM's `consistency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Consistency {
    /// `flush`; where FLUSH TABLES WITH READ LOCK is not allowed (managed MySQL),
    /// `chunked` for a job with a sync, `snapshot` for a copy alone.
    #[default]
    Auto,
    /// Parallel readers opened under a brief FLUSH TABLES WITH READ LOCK.
    Flush,
    /// No global lock and no long transaction: every chunk is read on its own and
    /// the sync's replay from the position read before the copy makes the target
    /// consistent (see `snapshot::catchup`). Needs a sync (`mode = "all"`).
    Chunked,
    /// One reader, no lock; MariaDB gives the position via `binlog_snapshot_*`.
    Snapshot,
    /// LOCK TABLES … READ on the selected tables while the readers' snapshot opens
    /// (milliseconds) — for the whole copy when a table is not InnoDB (MyISAM,
    /// Aria: no snapshot covers them).
    Lock,
    /// No consistency: only for sources nobody writes to.
    None,
}

/// What to do with target tables that already exist and hold rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum OnExisting {
    #[default]
    Error,
    Truncate,
    Append,
}

/// Definers of views, triggers, routines and events on the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum DefinerPolicy {
    Keep,
    /// Drop the DEFINER clause: objects belong to the target login.
    #[default]
    Rewrite,
}

/// How rows are written to the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum WriteMethod {
    /// The copy inserts near the target and loads (LOAD DATA LOCAL INFILE) at a
    /// distance; the sync loads large batches. Loads only where the target allows
    /// `local_infile`.
    #[default]
    Auto,
    LoadData,
    Insert,
}

/// Tuning and policies; every key has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Options {
    pub consistency: Consistency,
    pub export_threads: usize,
    pub import_threads: usize,
    /// Target size of one copy chunk (key range) in bytes. At its default,
    /// chunks grow from 2 ms round trip to the servers, and a table of up to
    /// 256 MiB (and its writer's share of the copy) goes to a MariaDB 10.6+
    /// target whole, in one transaction that the target loads in bulk; a size
    /// set here holds for every table, at any distance.
    pub chunk_bytes: u64,
    pub on_existing: OnExisting,
    pub definer: DefinerPolicy,
    pub meta_schema: String,
    pub write_method: WriteMethod,
    /// Start no earlier than this UTC time (`2026-11-23T02:00:00Z`); `ferry run`
    /// waits for it (seed 001's scheduled migration).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub start_at: Option<String>,
}

/// Seconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS[Z]` (UTC).
pub fn parse_utc(s: &str) -> Result<i64, String> {
    let t = s.trim().trim_end_matches('Z');
    let bad = || format!("\"{s}\" is not a UTC time like 2026-11-23T02:00:00Z");
    let (date, time) = t.split_once(['T', ' ']).ok_or_else(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let tm: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let ([y, m, day], [hh, mm, ss]) = (d.as_slice(), tm.as_slice()) else {
        return Err(bad());
    };
    if !(1..=12).contains(m) || !(1..=31).contains(day) || *hh > 23 || *mm > 59 || *ss > 60 {
        return Err(bad());
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if *m <= 2 { y - 1 } else { *y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// `chunk_bytes` when the job leaves it out. At this size, and only at it, the
/// copy sizes its chunks itself: whole tables into MariaDB 10.6+
/// (`plan::whole_table_bytes`), larger ranges at a distance (`plan::chunk_bytes_at`).
pub const DEFAULT_CHUNK_BYTES: u64 = 4 << 20;

impl Default for Options {
    fn default() -> Self {
        Options {
            consistency: Consistency::Auto,
            export_threads: 4,
            import_threads: 4,
            chunk_bytes: DEFAULT_CHUNK_BYTES,
            on_existing: OnExisting::Error,
            definer: DefinerPolicy::Rewrite,
            meta_schema: META_SCHEMA.to_string(),
            write_method: WriteMethod::Auto,
            start_at: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("cannot read the job file {path}: {cause}")]
    Read { path: String, cause: String },
    #[error("the job file {path} is not valid TOML for a Ferry job (line {line}, column {column}): {message}")]
    Malformed {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("the job file {path} contains a {side} password")]
    PasswordInFile { path: String, side: Side },
    #[error("the job name '{name}' is not allowed: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("the job file {path} is invalid: {reason}")]
    Invalid { path: String, reason: String },
    #[error("no saved profile named '{name}' (looked in {dir})")]
    NotFound { name: String, dir: String },
    #[error("cannot write the profile {path}: {cause}")]
    Write { path: String, cause: String },
    #[error("cannot find a configuration directory for this user (no HOME?)")]
    NoConfigDir,
}

impl Coded for ProfileError {
    fn code(&self) -> &'static str {
        match self {
            ProfileError::Read { .. } => "profile.read",
            ProfileError::Malformed { .. } => "profile.malformed",
            ProfileError::PasswordInFile { .. } => "profile.password_in_file",
            ProfileError::InvalidName { .. } => "profile.invalid_name",
            ProfileError::Invalid { .. } => "profile.invalid",
            ProfileError::NotFound { .. } => "profile.not_found",
            ProfileError::Write { .. } => "profile.write",
            ProfileError::NoConfigDir => "profile.no_config_dir",
        }
    }

    fn remedy(&self) -> String {
        match self {
            ProfileError::Read { .. } => "check the path and that the file is readable".into(),
            ProfileError::Malformed { .. } => {
                "fix the line named above; README.md shows the job file format".into()
            }
            ProfileError::PasswordInFile { side, .. } => format!(
                "delete the password line⟦cli:; `ferry profile save` stores it in the OS keyring, or set {} for one run|app: from the job file; enter the password on the Connect page, which keeps it in the OS keyring⟧",
                side.password_env()
            ),
            ProfileError::InvalidName { .. } => {
                "use a name that starts with a letter, has fewer than 60 characters, and only letters, digits, '_' and '-'".into()
            }
            ProfileError::Invalid { .. } => "correct the value named above".into(),
            ProfileError::NotFound { .. } => {
                "⟦cli:run `ferry profile list` to see saved profiles, or pass the path of a job file|app:open the job from the job list, or create it again⟧".into()
            }
            ProfileError::Write { .. } => {
                "check that the config directory is writable and the disk is not full".into()
            }
            ProfileError::NoConfigDir => "set HOME (or XDG_CONFIG_HOME) for this user".into(),
        }
    }
}

/// Seed 004's task-name rule: a letter first, under 60 characters, letters, digits,
/// `_` and `-` only. It keeps names safe as file names and keyring accounts too.
pub fn validate_name(name: &str) -> Result<(), ProfileError> {
    let fail = |reason| {
        Err(ProfileError::InvalidName {
            name: name.to_string(),
            reason,
        })
    };
    match name.chars().next() {
        None => return fail("it is empty"),
        Some(c) if !c.is_ascii_alphabetic() => return fail("it must start with a letter"),
        _ => {}
    }
    if name.chars().count() >= 60 {
        return fail("it must be shorter than 60 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return fail("it may hold only letters, digits, '_' and '-'");
    }
    Ok(())
}

impl Profile {
    /// Parses a job file's text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Profile, ProfileError> {
        // Look for passwords before typed parsing, so the message is about the password
        // and not about an unknown field.
        if let Ok(value) = text.parse::<toml::Table>() {
            let shard_password = value
                .get("shards")
                .and_then(|v| v.as_array())
                .is_some_and(|a| {
                    a.iter()
                        .filter_map(|s| s.as_table())
                        .any(|t| t.keys().any(|k| k.contains("pass")))
                });
            if shard_password {
                return Err(ProfileError::PasswordInFile {
                    path: origin.to_string(),
                    side: Side::Source,
                });
            }
            // `[[shards]]` flattens the endpoint's fields, which serde cannot check
            // for strangers: a typo must not pass for a default.
            const SHARD_KEYS: &[&str] = &[
                "name",
                "objects",
                "host",
                "port",
                "user",
                "tls",
                "ca",
                "cert",
                "key",
                "connect_timeout_secs",
            ];
            let stranger = value
                .get("shards")
                .and_then(|v| v.as_array())
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_table())
                .flat_map(|t| t.keys())
                .find(|k| !SHARD_KEYS.contains(&k.as_str()));
            if let Some(k) = stranger {
                return Err(ProfileError::Invalid {
                    path: origin.to_string(),
                    reason: format!(
                        "[[shards]] has an unknown field `{k}` (expected one of {})",
                        SHARD_KEYS.join(", ")
                    ),
                });
            }
            for side in [Side::Source, Side::Target] {
                let has_password = value
                    .get(side.as_str())
                    .and_then(|v| v.as_table())
                    .is_some_and(|t| t.keys().any(|k| k.contains("pass")));
                if has_password {
                    return Err(ProfileError::PasswordInFile {
                        path: origin.to_string(),
                        side,
                    });
                }
            }
        }
        let profile: Profile = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ProfileError::Malformed {
                path: origin.to_string(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        })?;
        profile.validate(origin)?;
        Ok(profile)
    }

    /// The jobs a profile runs: itself alone, or with `[[shards]]` one per source,
    /// each with that source and no shards. The first keeps the job's name (its
    /// checkpoint, keyring entries and replica id stay those of a one-source job);
    /// the others are named `job.shard`.
    pub fn members(&self) -> Vec<Profile> {
        let first = Profile {
            shards: Vec::new(),
            ..self.clone()
        };
        let mut members = vec![first.clone()];
        for shard in &self.shards {
            members.push(Profile {
                name: format!("{}.{}", self.name, shard.name),
                source: shard.endpoint.clone(),
                objects: shard
                    .objects
                    .clone()
                    .unwrap_or_else(|| self.objects.clone()),
                ..first.clone()
            });
        }
        members
    }

    /// The job a member profile belongs to (`job.shard` → `job`).
    pub fn job_name(&self) -> &str {
        self.name.split('.').next().unwrap_or(&self.name)
    }

    /// The source's label: `source`, or the shard's name of a member.
    pub fn source_label(&self) -> &str {
        self.name.split_once('.').map_or(FIRST_SOURCE, |(_, s)| s)
    }

    /// The keyring account of a side's password: a member's source has its own,
    /// the target is the job's.
    pub fn keyring_name(&self, side: Side) -> &str {
        match side {
            Side::Source => &self.name,
            Side::Target => self.job_name(),
        }
    }

    /// Where a side's password is kept: the keyring account and the side it is
    /// stored under (the reverse sync's source is its job's target).
    pub fn password_key(&self, side: Side) -> (&str, Side) {
        match &self.reverse_of {
            Some(job) => (
                job,
                match side {
                    Side::Source => Side::Target,
                    Side::Target => Side::Source,
                },
            ),
            None => (self.keyring_name(side), side),
        }
    }

    pub fn load_file(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError::Read {
            path: path.display().to_string(),
            cause: e.to_string(),
        })?;
        Profile::from_toml(&text, &path.display().to_string())
    }

    pub fn to_toml(&self) -> String {
        // Serialising plain structs of strings and numbers cannot fail.
        toml::to_string_pretty(self).unwrap_or_default()
    }

    fn validate(&self, origin: &str) -> Result<(), ProfileError> {
        validate_name(&self.name)?;
        let reverse = ReverseFor::parse(&self.incremental.reverse).map_err(|reason| {
            ProfileError::Invalid {
                path: origin.to_string(),
                reason: format!("[incremental] {reason}"),
            }
        })?;
        if reverse != ReverseFor::Off && (self.mode == Mode::Full || !self.shards.is_empty()) {
            return Err(ProfileError::Invalid {
                path: origin.to_string(),
                reason: "[incremental] reverse needs a job of one source that syncs (mode = \"all\" or \"incremental\")".into(),
            });
        }
        if self.incremental.verify_share > 100 {
            return Err(ProfileError::Invalid {
                path: origin.to_string(),
                reason: format!(
                    "[incremental] verify_share = {} must be a percent, 0-100 (0: off)",
                    self.incremental.verify_share
                ),
            });
        }
        let mut seen = vec![FIRST_SOURCE];
        for shard in &self.shards {
            let invalid = |reason: String| ProfileError::Invalid {
                path: origin.to_string(),
                reason,
            };
            let n = &shard.name;
            if n.is_empty()
                || n.len() > 32
                || !n
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(invalid(format!(
                    "[[shards]] name {n:?} must be 1-32 letters, digits, '_' or '-'"
                )));
            }
            if self.name.len() + 1 + n.len() > 64 {
                return Err(invalid(format!(
                    "[[shards]] name {n:?}: the job name and a shard name together must be under 64 characters"
                )));
            }
            if seen.contains(&n.as_str()) {
                return Err(invalid(format!(
                    "[[shards]] name {n:?} is used twice (\"{FIRST_SOURCE}\" is the [source])"
                )));
            }
            seen.push(n);
        }
        let sides = [(Side::Source, &self.source), (Side::Target, &self.target)]
            .into_iter()
            .chain(self.shards.iter().map(|s| (Side::Source, &s.endpoint)));
        for (side, ep) in sides {
            let invalid = |reason: String| ProfileError::Invalid {
                path: origin.to_string(),
                reason,
            };
            if ep.host.trim().is_empty() {
                return Err(invalid(format!("[{side}] host is empty")));
            }
            if ep.port == 0 {
                return Err(invalid(format!("[{side}] port must be 1-65535")));
            }
            if ep.user.is_empty() {
                return Err(invalid(format!("[{side}] user is empty")));
            }
        }
        let invalid = |reason: &str| ProfileError::Invalid {
            path: origin.to_string(),
            reason: reason.to_string(),
        };
        let o = &self.options;
        if !(1..=64).contains(&o.export_threads) || !(1..=64).contains(&o.import_threads) {
            return Err(invalid(
                "[options] export_threads and import_threads must be 1-64",
            ));
        }
        if o.chunk_bytes < 4096 {
            return Err(invalid("[options] chunk_bytes must be at least 4096"));
        }
        if let Some(at) = &o.start_at {
            parse_utc(at).map_err(|e| invalid(&format!("[options] start_at: {e}")))?;
        }
        if o.meta_schema.is_empty() || o.meta_schema.len() > 64 {
            return Err(invalid("[options] meta_schema must be 1-64 characters"));
        }
        match self.incremental.start_at() {
            Err(e) => return Err(invalid(&format!("[incremental] start: {e}"))),
            Ok(StartAt::Snapshot) if self.mode == Mode::Incremental => {
                return Err(invalid(
                    "[incremental] start = \"snapshot\" needs mode = \"all\"; an incremental-only job starts at now, gtid:<set> or binlog:<file>:<offset>",
                ))
            }
            Ok(_) => {}
        }
        for (i, r) in self.incremental.filters.iter().enumerate() {
            let n = i + 1;
            let events = r.event_kinds();
            let checked = r.sql_patterns(n).and_then(|sql| {
                if events.is_empty() && sql.is_empty() {
                    return Err(format!("rule {n} names neither events nor sql patterns"));
                }
                ObjectRules {
                    include: r.tables.clone(),
                    ..Default::default()
                }
                .compile(0)
                .map(|_| ())
                .map_err(|e| format!("rule {n}: {e}"))
            });
            if let Err(e) = checked {
                return Err(invalid(&format!("[[incremental.filters]]: {e}")));
            }
        }
        if self.incremental.apply_workers > 64 {
            return Err(invalid(
                "[incremental] apply_workers must be 0 (automatic) to 64",
            ));
        }
        if self.incremental.server_id == Some(0) {
            return Err(invalid("[incremental] server_id must not be 0"));
        }
        for shard in &self.shards {
            if let Some(objects) = &shard.objects {
                objects.validate().map_err(|e| ProfileError::Invalid {
                    path: origin.to_string(),
                    reason: format!("[shards.objects] of {}: {e}", shard.name),
                })?;
            }
        }
        self.objects.validate().map_err(|e| ProfileError::Invalid {
            path: origin.to_string(),
            reason: e.to_string(),
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The directory of saved profiles.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    dir: PathBuf,
}

impl ProfileStore {
    /// The per-user store: `directories::ProjectDirs` config dir + `profiles/`.
    pub fn user() -> Result<ProfileStore, ProfileError> {
        let dirs = directories::ProjectDirs::from("dev", "ferry", "ferry")
            .ok_or(ProfileError::NoConfigDir)?;
        Ok(ProfileStore {
            dir: dirs.config_dir().join("profiles"),
        })
    }

    pub fn at(dir: impl Into<PathBuf>) -> ProfileStore {
        ProfileStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path_of(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.toml"))
    }

    /// Writes the profile atomically (temp file + rename): a crash leaves the old
    /// version or the new one, never half a file.
    pub fn save(&self, profile: &Profile) -> Result<PathBuf, ProfileError> {
        validate_name(&profile.name)?;
        let path = self.path_of(&profile.name);
        let write_err = |e: std::io::Error| ProfileError::Write {
            path: path.display().to_string(),
            cause: e.to_string(),
        };
        std::fs::create_dir_all(&self.dir).map_err(write_err)?;
        let tmp = self.dir.join(format!(".{}.toml.tmp", profile.name));
        std::fs::write(&tmp, profile.to_toml()).map_err(write_err)?;
        std::fs::rename(&tmp, &path).map_err(write_err)?;
        Ok(path)
    }

    pub fn load(&self, name: &str) -> Result<Profile, ProfileError> {
        validate_name(name)?;
        let path = self.path_of(name);
        if !path.exists() {
            return Err(ProfileError::NotFound {
                name: name.to_string(),
                dir: self.dir.display().to_string(),
            });
        }
        Profile::load_file(&path)
    }

    /// Saved profile names, sorted.
    pub fn list(&self) -> Result<Vec<String>, ProfileError> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(ProfileError::Read {
                    path: self.dir.display().to_string(),
                    cause: e.to_string(),
                })
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".toml")
                    .filter(|n| validate_name(n).is_ok())
                    .map(str::to_string)
            })
            .collect();
        names.sort();
        Ok(names)
    }

    pub fn remove(&self, name: &str) -> Result<(), ProfileError> {
        validate_name(name)?;
        let path = self.path_of(name);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ProfileError::NotFound {
                name: name.to_string(),
                dir: self.dir.display().to_string(),
            }),
            Err(e) => Err(ProfileError::Write {
                path: path.display().to_string(),
                cause: e.to_string(),
            }),
        }
    }

    /// A CLI argument is a job file when it names an existing file or looks like a
    /// path; otherwise it is the name of a saved profile.
    pub fn resolve(&self, job: &str) -> Result<Profile, ProfileError> {
        let path = Path::new(job);
        if path.is_file() || job.contains('/') || job.ends_with(".toml") {
            Profile::load_file(path)
        } else {
            self.load(job)
        }
    }
}

#[cfg(test)]
mod schedule_tests {
    use super::parse_utc;

    #[test]
    fn utc_times_parse_to_epoch_seconds() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_utc("2000-02-29T12:00:01Z"), Ok(951_825_601));
        assert_eq!(parse_utc("2038-01-19 03:14:07"), Ok(2_147_483_647));
        assert!(parse_utc("tomorrow").is_err());
        assert!(parse_utc("2026-13-01T00:00:00Z").is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARDED: &str = r#"
name = "orders"
mode = "all"
[source]
host = "10.0.0.5"
user = "migrator"
[[shards]]
name = "east"
host = "10.0.0.6"
port = 3307
user = "migrator"
tls = "required"
[shards.objects]
include = ["shard_east.orders"]
[[shards.objects.route]]
from = "shard_east.orders"
to = "db.orders"
[[shards]]
name = "west"
host = "10.0.0.7"
user = "migrator"
[target]
host = "127.0.0.1"
user = "root"
[objects]
include = ["shard_*.orders"]
[[objects.route]]
from = "shard_*.orders"
to = "db.orders"
"#;

    #[test]
    fn shards_are_members_with_their_own_source_checkpoint_and_password() {
        let p = Profile::from_toml(SHARDED, "test").unwrap();
        let again = Profile::from_toml(&p.to_toml(), "again").unwrap();
        assert_eq!(p, again, "{}", p.to_toml());
        let m = p.members();
        assert_eq!(m.len(), 3);
        assert_eq!(
            m.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["orders", "orders.east", "orders.west"]
        );
        assert_eq!(m[1].source.port, 3307);
        assert_eq!(m[1].source.tls, TlsMode::Required);
        assert_eq!(m[1].objects.include, ["shard_east.orders"]);
        assert_eq!(
            m[2].objects, p.objects,
            "a shard without [shards.objects] takes the job's"
        );
        assert!(m.iter().all(|m| m.shards.is_empty()));
        assert_eq!(
            m.iter().map(|m| m.source_label()).collect::<Vec<_>>(),
            ["source", "east", "west"]
        );
        assert_eq!(m[1].keyring_name(Side::Source), "orders.east");
        assert_eq!(m[1].keyring_name(Side::Target), "orders");
        assert_eq!(m[1].job_name(), "orders");
        assert_ne!(
            m[0].incremental.server_id_for(&m[0].name),
            m[1].incremental.server_id_for(&m[1].name)
        );
    }

    #[test]
    fn bad_shards_are_refused_by_name() {
        let dup = SHARDED.replace("name = \"west\"", "name = \"east\"");
        let e = Profile::from_toml(&dup, "t").unwrap_err().to_string();
        assert!(e.contains("used twice"), "{e}");
        let first = SHARDED.replace("name = \"west\"", "name = \"source\"");
        assert!(Profile::from_toml(&first, "t").is_err());
        let bad = SHARDED.replace("name = \"west\"", "name = \"we.st\"");
        let e = Profile::from_toml(&bad, "t").unwrap_err().to_string();
        assert!(e.contains("letters, digits"), "{e}");
        let pw = SHARDED.replace("port = 3307", "port = 3307\npassword = \"x\"");
        assert!(matches!(
            Profile::from_toml(&pw, "t"),
            Err(ProfileError::PasswordInFile { .. })
        ));
        let typo = SHARDED.replace("port = 3307", "prot = 3307");
        assert!(
            Profile::from_toml(&typo, "t").is_err(),
            "unknown shard fields are refused"
        );
    }

    const JOB: &str = r#"
name = "shop-to-tidb"
mode = "all"
[source]
host = "10.0.0.5"
port = 3306
user = "migrator"
tls = "preferred"
[target]
host = "127.0.0.1"
port = 4000
user = "root"
[objects]
include = ["shop.*", "crm.customers"]
exclude = ["shop.tmp_*"]
[[objects.route]]
from = "shop.*"
to = "shop_v2.*"
"#;

    #[test]
    fn the_documented_format_parses_and_round_trips() {
        let p = Profile::from_toml(JOB, "job.toml").unwrap();
        assert_eq!(p.name, "shop-to-tidb");
        assert_eq!(p.mode, Mode::All);
        assert_eq!(p.target.port, 4000);
        assert_eq!(p.objects.include, vec!["shop.*", "crm.customers"]);
        assert_eq!(p.objects.route[0].to, "shop_v2.*");
        let again = Profile::from_toml(&p.to_toml(), "again").unwrap();
        assert_eq!(again, p);
    }

    #[test]
    fn names_follow_the_rule() {
        assert!(validate_name("a").is_ok());
        assert!(validate_name("shop_to-tidb2").is_ok());
        assert!(validate_name("1shop").is_err());
        assert!(validate_name("shop to").is_err());
        assert!(validate_name("../etc").is_err());
        assert!(validate_name(&"a".repeat(59)).is_ok());
        assert!(validate_name(&"a".repeat(60)).is_err());
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let err = Profile::from_toml("name = \"x\"\nmode = \n", "bad.toml").unwrap_err();
        assert_eq!(err.code(), "profile.malformed");
        let msg = err.to_string();
        assert!(msg.contains("bad.toml") && msg.contains("line 2"), "{msg}");
    }

    #[test]
    fn passwords_are_refused() {
        let text = JOB.replace("user = \"root\"", "user = \"root\"\npassword = \"hunter2\"");
        let err = Profile::from_toml(&text, "job.toml").unwrap_err();
        assert_eq!(err.code(), "profile.password_in_file");
        assert!(!err.to_string().contains("hunter2"));
        assert!(!err.remedy().contains("hunter2"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let text = JOB.replace("port = 4000", "prot = 4000");
        let err = Profile::from_toml(&text, "job.toml").unwrap_err();
        assert_eq!(err.code(), "profile.malformed");
        assert!(err.to_string().contains("prot"), "{err}");
    }
}
