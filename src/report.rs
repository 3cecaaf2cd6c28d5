//! The job's report: the whole job across its runs and processes, for the DBA and
//! the change board. Built from the job's log in the meta schema (see
//! `job::journal`: every run notes its start and its end with the run's summary,
//! phases, DDL with what became of each, warnings) and the job's state
//! (`control::status`), so a report can be made at any time, by any process, also
//! after the window that ran the job closed.
//!
//! What it claims is what was recorded: durations are between logged times (a run
//! whose process died ends at its last entry and reads "interrupted"), the
//! verification is the latest one recorded with its time, and the checklist's
//! accounts are what the source account can see in `information_schema`.
//!
//! Exported as JSON (the structure below), CSV (one line per verified table) and
//! one self-contained HTML page (no script, no external resource).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use mysql_async::prelude::Queryable;
use serde::{Deserialize, Serialize};

use crate::checkpoint::LogRow;
use crate::control::ControlError;
use crate::endpoint::Side;
use crate::events::{LateWrites, LogEntry};
use crate::inspect;
use crate::mysql::quote;
use crate::profile::Profile;
use crate::verify::VerifyReport;

/// Entries read back from the log: enough for a job of many runs.
const LOG_LIMIT: u32 = 100_000;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct JobReport {
    pub job: String,
    /// When this report was made (seconds since the epoch).
    pub generated_at: f64,
    pub mode: Option<String>,
    /// The job's phase now (`sync`, `completed`, …).
    pub phase: Option<String>,
    pub running: bool,
    pub started_at: Option<f64>,
    /// The end of the last run, when no process runs the job.
    pub ended_at: Option<f64>,
    pub rows_copied: u64,
    pub bytes_copied: u64,
    /// Row changes the sync applied, over every run.
    pub row_changes: u64,
    /// DDL statements that ran on the target (applied, replaced), over every run.
    pub ddl_ran: u64,
    pub runs: Vec<RunRecord>,
    /// Time spent in each phase over every run, in the order first met.
    pub phases: Vec<PhaseTime>,
    pub ddl: Vec<DdlRecord>,
    /// Warnings and errors, oldest first.
    pub warnings: Vec<LogEntry>,
    /// The latest verification (at a cutover or on its own) and when it ran.
    pub verification: Option<VerifyReport>,
    pub verified_at: Option<f64>,
    /// Writes after the cutover point the operator accepted.
    pub late_writes: Option<LateWrites>,
    /// What to do before the application moves to the target.
    pub checklist: Vec<ChecklistItem>,
    /// The way back after the cutover, for a job that keeps one.
    pub way_back: Option<WayBack>,
}

/// A job's reverse sync after its cutover (see `reverse`), as it stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct WayBack {
    pub reverse: crate::events::ReverseState,
    /// Whether a process runs the reverse sync now.
    pub running: bool,
    /// Its live status while it runs.
    pub sync: Option<crate::events::SyncStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RunRecord {
    pub started_at: f64,
    /// `None` while it runs, or when its process ended without a word.
    pub ended_at: Option<f64>,
    /// `completed`, `paused`, `copied`, `aborted`, `stopped: code`, `running`,
    /// `interrupted`.
    pub end: String,
    /// The phase a resumed run picked up.
    pub resumed: Option<String>,
    pub rows_copied: u64,
    pub phases: Vec<PhaseTime>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PhaseTime {
    pub phase: String,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct DdlRecord {
    pub at: f64,
    pub statement: String,
    /// `applied`, `already on the target`, `skipped by decision`, `replaced by
    /// decision: SQL`, `left out by a filter`, `refused: why`.
    pub outcome: String,
    pub position: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ChecklistItem {
    pub id: String,
    pub text: String,
    /// SQL to run on the target, when there is some to copy.
    pub sql: Option<String>,
}

/// The job's report, now. The log and the state are read from the target; the
/// accounts from the source, best effort (the report stands without them).
pub async fn load(profile: &Profile) -> Result<JobReport, ControlError> {
    let status = crate::control::status(profile).await?;
    let rows = read_log(profile).await?;
    let now = crate::events::unix_now();
    let runs = runs(&rows, status.running, now);
    let mut report = JobReport {
        job: profile.name.clone(),
        generated_at: now,
        mode: status.mode.clone(),
        phase: status.phase.clone(),
        running: status.running,
        started_at: runs.first().map(|r| r.started_at),
        ended_at: runs
            .last()
            .filter(|_| !status.running)
            .and_then(|r| r.ended_at),
        rows_copied: status.copied_rows,
        bytes_copied: status.copied_bytes,
        row_changes: status.live.as_ref().map_or(0, |l| l.job_changes),
        ddl_ran: 0,
        phases: phase_totals(&runs),
        runs,
        ddl: ddl(&rows),
        warnings: warnings(&rows),
        verification: None,
        verified_at: None,
        late_writes: None,
        checklist: Vec::new(),
        way_back: way_back(profile).await?,
    };
    report.ddl_ran = report
        .ddl
        .iter()
        .filter(|d| {
            d.outcome == "applied"
                || d.outcome.starts_with("applied (")
                || d.outcome.starts_with("replaced")
        })
        .count() as u64;
    if let Some((at, v)) = latest_verification(&rows) {
        report.verification = Some(v);
        report.verified_at = Some(at);
    }
    report.late_writes = summaries(&rows)
        .filter_map(|(_, s)| s.late_writes)
        .next_back();
    let completed = report.phase.as_deref() == Some("completed");
    report.checklist = checklist(profile, &rows, completed).await;
    Ok(report)
}

/// The job's reverse sync, with its live status when a process runs it.
async fn way_back(profile: &Profile) -> Result<Option<WayBack>, ControlError> {
    let Some((reverse, back)) = crate::control::reverse(profile).await? else {
        return Ok(None);
    };
    // The reverse job's own status: none before it first ran.
    let status = crate::control::status(&back).await.ok();
    Ok(Some(WayBack {
        reverse,
        running: status.as_ref().is_some_and(|s| s.running),
        sync: status.and_then(|s| s.live),
    }))
}

/// The way back in one line, for the report's readers.
pub fn way_back_text(w: &WayBack) -> String {
    let r = &w.reverse;
    let at = |t: Option<f64>| t.map_or(String::new(), |t| format!(" at {}", time(t)));
    match r.state.as_str() {
        crate::reverse::ROLLED_BACK => format!(
            "rolled back{}: the source has every change the target had",
            at(r.ended_at)
        ),
        crate::reverse::RELEASED => format!(
            "released{}: the source is no longer kept current",
            at(r.ended_at)
        ),
        _ => {
            let mut line = format!(
                "reverse sync {} from the target's {} ({} tables)",
                if w.running { "running" } else { "not running" },
                r.start,
                r.tables.len()
            );
            if let Some(lag) = w.sync.as_ref().and_then(|s| s.lag_secs) {
                line.push_str(&format!(", lag {lag:.1} s"));
            }
            if let Some(until) = r.until {
                line.push_str(&format!(", ends by itself at {}", time(until)));
            }
            line
        }
    }
}

/// The log of the job (its first source's for a job with several: they run
/// together) and the others' DDL and warnings, labelled, in time order.
async fn read_log(profile: &Profile) -> Result<Vec<LogRow>, ControlError> {
    Ok(crate::control::log_rows(profile, LOG_LIMIT)
        .await?
        .into_iter()
        // Runs and phases are the first source's; the others run with it.
        .filter(|(i, r)| *i == 0 || !matches!(r.kind.as_str(), "run" | "phase"))
        .map(|(_, r)| r)
        .collect())
}

/// A run's note (see `job::RunNote`), read back.
#[derive(Deserialize)]
#[serde(tag = "run", rename_all = "snake_case")]
enum RunNote {
    Started { resumed: Option<String> },
    Ended { summary: Box<StoredSummary> },
    Stopped { code: String },
    Lost { last_seen: f64 },
}

/// The part of a stored [`RunSummary`] the report uses.
#[derive(Deserialize)]
struct StoredSummary {
    rows: u64,
    verify: Option<VerifyReport>,
    sync_end: Option<String>,
    late_writes: Option<LateWrites>,
}

fn note(row: &LogRow) -> Option<RunNote> {
    (row.kind == "run")
        .then(|| serde_json::from_str(row.data.as_deref()?).ok())
        .flatten()
}

fn summaries(rows: &[LogRow]) -> impl DoubleEndedIterator<Item = (f64, StoredSummary)> + '_ {
    rows.iter().filter_map(|r| match note(r)? {
        RunNote::Ended { summary } => Some((r.at, *summary)),
        _ => None,
    })
}

/// The runs, each with its phases: a phase lasts until the next one or the run's
/// end; a run without an end ends at its last entry (its process died) or, the
/// last one of a running job, now. Terminal phases take no time.
fn runs(rows: &[LogRow], running: bool, now: f64) -> Vec<RunRecord> {
    // Each run, the time of its last entry, and its phases with their start.
    let mut runs: Vec<(RunRecord, f64, Vec<PhaseStart>)> = Vec::new();
    for r in rows {
        match (note(r), runs.last_mut()) {
            (Some(RunNote::Started { resumed }), _) => runs.push((
                RunRecord {
                    started_at: r.at,
                    ended_at: None,
                    end: "interrupted".into(),
                    resumed,
                    rows_copied: 0,
                    phases: Vec::new(),
                },
                r.at,
                Vec::new(),
            )),
            (Some(RunNote::Ended { summary }), Some((run, last, _))) => {
                run.ended_at = Some(r.at);
                run.end = summary.sync_end.unwrap_or_else(|| "copied".into());
                run.rows_copied = summary.rows;
                *last = r.at;
            }
            (Some(RunNote::Stopped { code }), Some((run, last, _))) => {
                run.ended_at = Some(r.at);
                run.end = format!("stopped: {code}");
                *last = r.at;
            }
            // The run it speaks of is the last one, which never ended.
            (Some(RunNote::Lost { last_seen }), Some((run, last, _))) if run.ended_at.is_none() => {
                *last = last.max(last_seen);
            }
            (None, Some((run, last, phases))) if run.ended_at.is_none() => {
                *last = r.at;
                if r.kind == "phase" {
                    let phase = r.text.trim_start_matches("phase: ").to_string();
                    phases.push((phase, r.at));
                }
            }
            _ => {}
        }
    }
    let count = runs.len();
    runs.into_iter()
        .enumerate()
        .map(|(i, (mut run, last, phases))| {
            let end = match run.ended_at {
                Some(at) => at,
                None if running && i + 1 == count => {
                    run.end = "running".into();
                    now
                }
                None => last,
            };
            let mut totals: Vec<PhaseTime> = Vec::new();
            for (j, (phase, from)) in phases.iter().enumerate() {
                if TERMINAL.contains(&phase.as_str()) {
                    continue;
                }
                let to = phases.get(j + 1).map_or(end, |(_, at)| *at);
                add(&mut totals, phase, (to - from).max(0.0));
            }
            run.phases = totals;
            run
        })
        .collect()
}

type PhaseStart = (String, f64);

const TERMINAL: [&str; 4] = ["completed", "paused", "aborted", "failed"];

fn add(totals: &mut Vec<PhaseTime>, phase: &str, seconds: f64) {
    match totals.iter_mut().find(|p| p.phase == phase) {
        Some(p) => p.seconds += seconds,
        None => totals.push(PhaseTime {
            phase: phase.to_string(),
            seconds,
        }),
    }
}

fn phase_totals(runs: &[RunRecord]) -> Vec<PhaseTime> {
    let mut totals = Vec::new();
    for p in runs.iter().flat_map(|r| &r.phases) {
        add(&mut totals, &p.phase, p.seconds);
    }
    totals
}

/// A DDL entry's event (see `events::JobEvent::Ddl`), read back.
#[derive(Deserialize)]
struct StoredDdl {
    statement: String,
    outcome: String,
    position: String,
}

fn ddl(rows: &[LogRow]) -> Vec<DdlRecord> {
    rows.iter()
        .filter(|r| r.kind == "ddl")
        .filter_map(|r| {
            let d: StoredDdl = serde_json::from_str(r.data.as_deref()?).ok()?;
            Some(DdlRecord {
                at: r.at,
                statement: d.statement,
                outcome: d.outcome,
                position: d.position,
            })
        })
        .collect()
}

fn warnings(rows: &[LogRow]) -> Vec<LogEntry> {
    rows.iter()
        .filter(|r| r.severity == "warning" || r.severity == "error")
        .map(|r| LogEntry {
            at: r.at,
            severity: r.severity.clone(),
            text: r.text.clone(),
        })
        .collect()
}

/// The latest verification: a run's (at its cutover) or one on its own.
fn latest_verification(rows: &[LogRow]) -> Option<(f64, VerifyReport)> {
    rows.iter().rev().find_map(|r| match r.kind.as_str() {
        "verify" => Some((r.at, serde_json::from_str(r.data.as_deref()?).ok()?)),
        "run" => match note(r)? {
            RunNote::Ended { summary } => Some((r.at, summary.verify?)),
            _ => None,
        },
        _ => None,
    })
}

/// A warning's report (see `events::LogLine`), read back.
fn report_of(row: &LogRow) -> Option<crate::error::Report> {
    serde_json::from_str(row.data.as_deref()?).ok()
}

/// Before the application moves: events created DISABLED (with their ALTER
/// EVENT … ENABLE), definers rewritten, objects the target refused, the triggers
/// that now fire, the accounts and their grants (never migrated).
async fn checklist(profile: &Profile, rows: &[LogRow], completed: bool) -> Vec<ChecklistItem> {
    let coded = |code: &str| -> Vec<crate::error::Report> {
        rows.iter()
            .filter(|r| r.kind == "warning")
            .filter_map(report_of)
            .filter(|r| r.code == code)
            .collect()
    };
    let mut items = Vec::new();
    let events: BTreeSet<String> = coded("snapshot.event_disabled")
        .iter()
        .filter_map(|r| {
            let sql = r.remedy.split("run ").nth(1)?;
            Some(format!("{};", sql.trim_end_matches('.')))
        })
        .collect();
    if !events.is_empty() {
        items.push(ChecklistItem {
            id: "events".into(),
            text: format!(
                "{} created DISABLED on the target, so they would not change its data before the cutover: enable them once the application uses the target.",
                crate::wording::count(events.len(), "event was", "events were")
            ),
            sql: Some(events.into_iter().collect::<Vec<_>>().join("\n")),
        });
    }
    if !coded("snapshot.definer_rewritten").is_empty() {
        items.push(ChecklistItem {
            id: "definers".into(),
            text: "Views, triggers, routines and events run as the target login (their definers were rewritten): check that it may do what they do, or recreate them with the application's accounts as definers.".into(),
            sql: None,
        });
    }
    for (i, r) in coded("snapshot.object_skipped").iter().enumerate() {
        items.push(ChecklistItem {
            id: format!("skipped-{i}"),
            text: format!("{} {}", r.message, r.remedy),
            sql: None,
        });
    }
    let (selected, accounts) = match selection(profile).await {
        Ok(selected) => {
            let accounts = accounts(profile, &selected).await;
            (selected, accounts)
        }
        Err(e) => (Vec::new(), Err(e)),
    };
    if completed {
        if let Some(item) = triggers(profile, &selected).await {
            items.push(item);
        }
    }
    items.push(match accounts {
        Ok(grants) if !grants.is_empty() => ChecklistItem {
            id: "accounts".into(),
            text: format!(
                "Accounts and grants are not migrated: {} on the migrated schemas on the source (as far as the source login can see). Create them on the target with passwords of yours, then point the application at the target.",
                crate::wording::count(grants.len(), "account has grants", "accounts have grants")
            ),
            sql: Some(grants.join("\n\n")),
        },
        Ok(_) => ChecklistItem {
            id: "accounts".into(),
            text: "Accounts and grants are not migrated, and the source login sees no account with grants on the migrated schemas: create the application's accounts on the target (SHOW CREATE USER and SHOW GRANTS on the source list them), then point the application at the target.".into(),
            sql: None,
        },
        Err(cause) => ChecklistItem {
            id: "accounts".into(),
            text: format!(
                "Accounts and grants are not migrated: create the application's accounts on the target (SHOW CREATE USER and SHOW GRANTS on the source list them), then point the application at the target. (Ferry could not list them: {cause})"
            ),
            sql: None,
        },
    });
    items
}

/// Each selected source table with its target name.
type Pair = ((String, String), (String, String));

async fn selection(profile: &Profile) -> Result<Vec<Pair>, String> {
    let (source, target, _, selection, _) = crate::job::open_job(profile)
        .await
        .map_err(|e| e.to_string())?;
    source.close().await;
    target.close().await;
    Ok(selection
        .tables
        .iter()
        .map(|t| {
            (
                (t.schema.clone(), t.name.clone()),
                (t.target_schema.clone(), t.target_name.clone()),
            )
        })
        .collect())
}

/// The triggers of the migrated tables on the target.
async fn triggers(profile: &Profile, selected: &[Pair]) -> Option<ChecklistItem> {
    let schemas: BTreeSet<&str> = selected.iter().map(|(_, (s, _))| s.as_str()).collect();
    let tables: BTreeSet<(&str, &str)> = selected
        .iter()
        .map(|(_, (s, t))| (s.as_str(), t.as_str()))
        .collect();
    let target = inspect::open(profile, Side::Target, 1).await.ok()?;
    let mut names = Vec::new();
    if let Ok(mut conn) = target.conn().await {
        for schema in schemas {
            let rows: Vec<(String, String)> = conn
                .exec(
                    "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS \
                     WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME",
                    (schema,),
                )
                .await
                .unwrap_or_default();
            names.extend(
                rows.into_iter()
                    .filter(|(_, t)| tables.contains(&(schema, t.as_str())))
                    .map(|(name, _)| format!("{schema}.{name}")),
            );
        }
    }
    target.close().await;
    (!names.is_empty()).then(|| ChecklistItem {
        id: "triggers".into(),
        text: format!(
            "{} created at the cutover and now fire on the target for the application's writes: {}.",
            crate::wording::count(names.len(), "trigger was", "triggers were"),
            names.join(", ")
        ),
        sql: None,
    })
}

/// `CREATE USER` and `GRANT` statements, one block per account, for the accounts
/// with privileges on the migrated schemas or tables, written for the target's
/// names. Passwords are never read: the statement leaves one to set.
async fn accounts(profile: &Profile, selected: &[Pair]) -> Result<Vec<String>, String> {
    let schemas: BTreeMap<&str, BTreeSet<&str>> =
        selected
            .iter()
            .fold(BTreeMap::new(), |mut m, ((s, _), (ts, _))| {
                m.entry(s.as_str())
                    .or_insert_with(BTreeSet::new)
                    .insert(ts.as_str());
                m
            });
    let tables: BTreeMap<(&str, &str), (&str, &str)> = selected
        .iter()
        .map(|((s, t), (ts, tt))| ((s.as_str(), t.as_str()), (ts.as_str(), tt.as_str())))
        .collect();
    let source = inspect::open(profile, Side::Source, 1)
        .await
        .map_err(|e| e.to_string())?;
    let read = async {
        let mut conn = source.conn().await.map_err(|e| e.to_string())?;
        let mut grants: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (schema, targets) in &schemas {
            let rows: Vec<(String, String, String)> = conn
                .exec(
                    "SELECT GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.SCHEMA_PRIVILEGES \
                     WHERE TABLE_SCHEMA = ? ORDER BY GRANTEE, PRIVILEGE_TYPE",
                    (schema,),
                )
                .await
                .map_err(|e| e.to_string())?;
            for target in targets {
                add_grants(&mut grants, &rows, &format!("{}.*", quote(target)));
            }
            let rows: Vec<(String, String, String, String)> = conn
                .exec(
                    "SELECT TABLE_NAME, GRANTEE, PRIVILEGE_TYPE, IS_GRANTABLE FROM information_schema.TABLE_PRIVILEGES \
                     WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME, GRANTEE, PRIVILEGE_TYPE",
                    (schema,),
                )
                .await
                .map_err(|e| e.to_string())?;
            let mut by_table: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
            for (table, grantee, privilege, grantable) in rows {
                by_table
                    .entry(table)
                    .or_default()
                    .push((grantee, privilege, grantable));
            }
            for (table, rows) in by_table {
                if let Some((ts, tt)) = tables.get(&(*schema, table.as_str())) {
                    add_grants(&mut grants, &rows, &format!("{}.{}", quote(ts), quote(tt)));
                }
            }
        }
        drop(conn);
        Ok::<_, String>(grants)
    };
    let grants = tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .map_err(|_| "the source did not answer within 10 s".to_string())?;
    source.close().await;
    let own = profile.source.user.as_str();
    Ok(grants?
        .into_iter()
        .filter(|(account, _)| account_user(account) != Some(own))
        .map(|(account, lines)| {
            let mut block =
                format!("CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '<password>';");
            for line in lines {
                block.push('\n');
                block.push_str(&line);
            }
            block
        })
        .collect())
}

/// `GRANT privileges ON what TO account` per account of `rows` (grantee as
/// `information_schema` prints it, `'user'@'host'`; privilege; grantable).
fn add_grants(
    grants: &mut BTreeMap<String, Vec<String>>,
    rows: &[(String, String, String)],
    what: &str,
) {
    let mut per: BTreeMap<&str, (Vec<&str>, bool)> = BTreeMap::new();
    for (grantee, privilege, grantable) in rows {
        let e = per.entry(grantee.as_str()).or_default();
        e.0.push(privilege.as_str());
        e.1 |= grantable == "YES";
    }
    for (grantee, (privileges, grantable)) in per {
        let Some(account) = account_sql(grantee) else {
            continue;
        };
        let mut line = format!("GRANT {} ON {what} TO {account}", privileges.join(", "));
        if grantable {
            line.push_str(" WITH GRANT OPTION");
        }
        line.push(';');
        grants.entry(account).or_default().push(line);
    }
}

/// `'user'@'host'` as `information_schema` prints it, quoted again for SQL (a
/// quote inside is doubled).
fn account_sql(grantee: &str) -> Option<String> {
    let (user, host) = grantee.rsplit_once("'@'")?;
    let user = user.strip_prefix('\'')?;
    let host = host.strip_suffix('\'')?;
    let lit = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"));
    Some(format!("{}@{}", lit(user), lit(host)))
}

fn account_user(account: &str) -> Option<&str> {
    account.split("'@'").next()?.strip_prefix('\'')
}

/// One line per verified table: names, row counts, ranges, differing ranges with
/// sample keys, how the definitions differ, the last DDL on a table that
/// differs, equal.
pub fn csv(report: &JobReport) -> String {
    let quote = |v: &str| {
        if v.contains([',', '"', '\n']) {
            format!("\"{}\"", v.replace('"', "\"\""))
        } else {
            v.to_string()
        }
    };
    let mut out = String::from(
        "source,target,source_rows,target_rows,chunks,differing_ranges,sample_keys,definition,last_ddl,equal\n",
    );
    for t in report.verification.iter().flat_map(|v| &v.tables) {
        let ranges: Vec<String> = t.mismatches.iter().map(|m| m.range.clone()).collect();
        let samples: Vec<String> = t
            .mismatches
            .iter()
            .flat_map(|m| &m.samples)
            .map(|s| format!("{} ({})", s.key, s.difference))
            .collect();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{}",
            quote(&format!("{}.{}", t.schema, t.table)),
            quote(&format!("{}.{}", t.target_schema, t.target_table)),
            t.source_rows,
            t.target_rows,
            t.chunks,
            quote(&ranges.join("; ")),
            quote(&samples.join("; ")),
            quote(&t.definition.join("; ")),
            quote(t.last_ddl.as_deref().unwrap_or("")),
            t.equal
        );
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn seconds(s: f64) -> String {
    let s = s.round() as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

fn time(at: f64) -> String {
    format!("{} UTC", crate::mysql::utc_time(at))
}

/// One self-contained page: inline style, no script, nothing fetched.
pub fn html(report: &JobReport) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Ferry report — {job}</title>\n<style>\
         body{{font:14px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2937}}\
         table{{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}}td,th{{border-bottom:1px solid #e5e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top}}\
         th{{background:#f3f4f6}}.diff{{color:#b91c1c}}.ok{{color:#15803d}}pre{{background:#f3f4f6;padding:.5rem;white-space:pre-wrap}}dt{{font-weight:600}}\
         dl{{display:grid;grid-template-columns:12rem 1fr;gap:.2rem}}</style></head><body>\n<h1>Migration report: {job}</h1>\n",
        job = esc(&report.job)
    );
    let _ = write!(
        h,
        "<dl><dt>Made</dt><dd>{}</dd><dt>Mode</dt><dd>{}</dd><dt>State</dt><dd>{}{}</dd>",
        time(report.generated_at),
        esc(report.mode.as_deref().unwrap_or("—")),
        esc(report.phase.as_deref().unwrap_or("not started")),
        if report.running { " (running)" } else { "" }
    );
    if let Some(at) = report.started_at {
        let _ = write!(h, "<dt>Started</dt><dd>{}</dd>", time(at));
    }
    if let Some(at) = report.ended_at {
        let _ = write!(h, "<dt>Ended</dt><dd>{}</dd>", time(at));
    }
    let _ = write!(
        h,
        "<dt>Rows copied</dt><dd>{} ({} bytes)</dd><dt>Row changes replicated</dt><dd>{}</dd><dt>DDL run on the target</dt><dd>{}</dd></dl>",
        report.rows_copied, report.bytes_copied, report.row_changes, report.ddl_ran
    );
    h.push_str("<h2>Runs</h2><table><tr><th>Started</th><th>Ended</th><th>How</th><th>Rows copied</th><th>Phases</th></tr>");
    for r in &report.runs {
        let phases: Vec<String> = r
            .phases
            .iter()
            .map(|p| format!("{} {}", p.phase, seconds(p.seconds)))
            .collect();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            time(r.started_at),
            r.ended_at.map_or("—".into(), time),
            esc(&r.end),
            r.rows_copied,
            esc(&phases.join(", "))
        );
    }
    h.push_str("</table><h2>Time per phase</h2><table><tr><th>Phase</th><th>Time</th></tr>");
    for p in &report.phases {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&p.phase),
            seconds(p.seconds)
        );
    }
    h.push_str("</table>");
    if let Some(v) = &report.verification {
        let differ = v.tables.iter().filter(|t| !t.equal).count();
        let _ = write!(
            h,
            "<h2>Verification</h2><p class=\"{}\">{}{}</p><table><tr><th>Source</th><th>Target</th><th>Rows (source / target)</th><th>Result</th></tr>",
            if v.equal { "ok" } else { "diff" },
            if v.equal {
                format!("{} tables equal, 0 differences", v.tables.len())
            } else {
                format!("{differ} of {} tables differ", v.tables.len())
            },
            report.verified_at.map_or(String::new(), |at| format!(" ({})", time(at)))
        );
        for t in &v.tables {
            let mut detail = Vec::new();
            for m in &t.mismatches {
                let keys: Vec<String> = m
                    .samples
                    .iter()
                    .map(|s| format!("{} ({})", s.key, s.difference))
                    .collect();
                detail.push(format!(
                    "range {}: {} / {} rows{}",
                    m.range,
                    m.source_rows,
                    m.target_rows,
                    if keys.is_empty() {
                        String::new()
                    } else {
                        format!("; keys {}", keys.join(", "))
                    }
                ));
            }
            if !t.definition.is_empty() {
                detail.push(format!("definitions differ: {}", t.definition.join("; ")));
            }
            if let (false, Some(ddl)) = (t.equal, &t.last_ddl) {
                detail.push(format!("last DDL: {ddl}"));
            }
            let _ = write!(
                h,
                "<tr class=\"{}\"><td>{}.{}</td><td>{}.{}</td><td>{} / {}</td><td>{}{}</td></tr>",
                if t.equal { "" } else { "diff" },
                esc(&t.schema),
                esc(&t.table),
                esc(&t.target_schema),
                esc(&t.target_table),
                t.source_rows,
                t.target_rows,
                if t.equal { "equal" } else { "DIFFERS" },
                detail
                    .iter()
                    .map(|d| format!("<br>{}", esc(d)))
                    .collect::<String>()
            );
        }
        h.push_str("</table>");
    }
    if let Some(late) = &report.late_writes {
        let _ = write!(
            h,
            "<h2>Writes accepted after the cutover point</h2><p>{} row changes since {}: {}</p>",
            late.rows,
            esc(&late.since.to_string()),
            esc(&late
                .tables
                .iter()
                .map(|t| format!("{}.{} {}", t.schema, t.table, t.count))
                .collect::<Vec<_>>()
                .join(", "))
        );
    }
    if let Some(w) = &report.way_back {
        let _ = write!(h, "<h2>Way back</h2><p>{}</p>", esc(&way_back_text(w)));
    }
    if !report.ddl.is_empty() {
        h.push_str("<h2>DDL</h2><table><tr><th>When</th><th>Statement</th><th>Outcome</th></tr>");
        for d in &report.ddl {
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
                time(d.at),
                esc(&d.statement),
                esc(&d.outcome)
            );
        }
        h.push_str("</table>");
    }
    if !report.warnings.is_empty() {
        h.push_str("<h2>Warnings and errors</h2><table><tr><th>When</th><th>What</th></tr>");
        for w in &report.warnings {
            let _ = write!(
                h,
                "<tr class=\"{}\"><td>{}</td><td>{}</td></tr>",
                if w.severity == "error" { "diff" } else { "" },
                time(w.at),
                esc(&w.text)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("<h2>Before you switch the application</h2><ul>");
    for item in &report.checklist {
        let _ = write!(h, "<li>{}", esc(&item.text));
        if let Some(sql) = &item.sql {
            let _ = write!(h, "<pre>{}</pre>", esc(sql));
        }
        h.push_str("</li>");
    }
    h.push_str("</ul></body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(at: f64, kind: &str, text: &str, data: Option<&str>) -> LogRow {
        LogRow {
            at,
            severity: "info".into(),
            kind: kind.into(),
            text: text.into(),
            data: data.map(str::to_string),
        }
    }

    #[test]
    fn runs_and_phases_over_every_run() {
        let rows = vec![
            row(
                100.0,
                "run",
                "run started",
                Some(r#"{"run":"started","resumed":null}"#),
            ),
            row(100.0, "phase", "phase: copy", None),
            row(130.0, "phase", "phase: sync", None),
            // The process died here: the run ends at its last entry.
            row(150.0, "retry", "retrying (1)", None),
            // Noted by the next run: the status was written last at 170.
            row(
                199.0,
                "run",
                "the previous run's process ended",
                Some(r#"{"run":"lost","last_seen":170.0}"#),
            ),
            row(
                200.0,
                "run",
                "run resumed (phase sync)",
                Some(r#"{"run":"started","resumed":"sync"}"#),
            ),
            row(200.0, "phase", "phase: sync", None),
            row(260.0, "phase", "phase: completing", None),
            row(262.0, "phase", "phase: completed", None),
            row(
                263.0,
                "run",
                "run ended: completed",
                Some(
                    r#"{"run":"ended","summary":{"rows":0,"verify":null,"sync_end":"completed","late_writes":null}}"#,
                ),
            ),
        ];
        let runs = runs(&rows, false, 1000.0);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].end, "interrupted");
        assert_eq!(runs[0].ended_at, None);
        assert_eq!(runs[1].end, "completed");
        assert_eq!(runs[1].resumed.as_deref(), Some("sync"));
        let totals = phase_totals(&runs);
        let get = |p: &str| totals.iter().find(|t| t.phase == p).map(|t| t.seconds);
        assert_eq!(get("copy"), Some(30.0));
        assert_eq!(get("sync"), Some(40.0 + 60.0));
        assert_eq!(get("completing"), Some(2.0));
        assert_eq!(get("completed"), None);
    }

    #[test]
    fn a_running_job_runs_until_now() {
        let rows = vec![
            row(
                100.0,
                "run",
                "run started",
                Some(r#"{"run":"started","resumed":null}"#),
            ),
            row(100.0, "phase", "phase: sync", None),
        ];
        let runs = runs(&rows, true, 160.0);
        assert_eq!(runs[0].end, "running");
        assert_eq!(runs[0].phases[0].seconds, 60.0);
    }

    #[test]
    fn grants_for_the_target_names_never_a_password() {
        let mut grants = BTreeMap::new();
        let rows = vec![
            (
                "'app'@'%'".to_string(),
                "SELECT".to_string(),
                "NO".to_string(),
            ),
            (
                "'app'@'%'".to_string(),
                "INSERT".to_string(),
                "NO".to_string(),
            ),
            // information_schema prints a quote inside a name as it is.
            (
                "'o'k'@'10.%'".to_string(),
                "SELECT".to_string(),
                "YES".to_string(),
            ),
        ];
        add_grants(&mut grants, &rows, "`shop_new`.*");
        assert_eq!(
            grants.get("'app'@'%'").map(Vec::as_slice),
            Some(&["GRANT SELECT, INSERT ON `shop_new`.* TO 'app'@'%';".to_string()][..])
        );
        assert_eq!(
            grants.get("'o''k'@'10.%'").map(Vec::as_slice),
            Some(
                &["GRANT SELECT ON `shop_new`.* TO 'o''k'@'10.%' WITH GRANT OPTION;".to_string()][..]
            )
        );
        assert_eq!(account_user("'app'@'%'"), Some("app"));
    }

    #[test]
    fn the_page_escapes_what_it_shows() {
        let report = JobReport {
            job: "<job>".into(),
            generated_at: 0.0,
            mode: None,
            phase: None,
            running: false,
            started_at: None,
            ended_at: None,
            rows_copied: 0,
            bytes_copied: 0,
            row_changes: 0,
            ddl_ran: 0,
            runs: Vec::new(),
            phases: Vec::new(),
            ddl: vec![DdlRecord {
                at: 0.0,
                statement: "ALTER TABLE t ADD c INT DEFAULT '<b>'".into(),
                outcome: "applied".into(),
                position: String::new(),
            }],
            warnings: Vec::new(),
            verification: None,
            verified_at: None,
            late_writes: None,
            checklist: Vec::new(),
            way_back: None,
        };
        let page = html(&report);
        assert!(page.contains("&lt;job&gt;"));
        assert!(page.contains("&lt;b&gt;"));
        assert!(!page.contains("<script"));
    }

    #[test]
    fn the_way_back_says_how_it_stands() {
        let mut w = WayBack {
            reverse: crate::events::ReverseState {
                state: crate::reverse::SYNCING.into(),
                start: crate::position::Position {
                    file: Some("binlog.000003".into()),
                    pos: Some(4),
                    gtid: None,
                },
                until: None,
                tables: vec![("shop.orders".into(), "shop.orders".into())],
                ended_at: None,
            },
            running: true,
            sync: Some(crate::events::SyncStatus {
                lag_secs: Some(0.25),
                ..Default::default()
            }),
        };
        let line = way_back_text(&w);
        assert!(
            line.starts_with(
                "reverse sync running from the target's binlog.000003:4 (1 tables), lag 0.2 s"
            ),
            "{line}"
        );
        w.reverse.state = crate::reverse::ROLLED_BACK.into();
        w.reverse.ended_at = Some(0.0);
        assert_eq!(
            way_back_text(&w),
            "rolled back at 1970-01-01 00:00:00 UTC: the source has every change the target had"
        );
    }
}
