//! `/tasks`: DM tasks, each an ordinary Ferry job profile. Creating or updating a
//! task runs Ferry's precheck first and refuses the task (400, with the failing
//! checks) when a check fails, as DM does.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::Json;

use ferry::checkpoint::Request as JobRequest;
use ferry::dm::convert;
use ferry::dm::model::{
    DumpStatus, ErrorWithMessage, List, LoadStatus, OperateTableStructureRequest,
    OperateTaskResponse, SchemaSource, ShardingGroup, StartTaskRequest, StopTaskRequest,
    SubTaskStatus, SyncStatus, Task, TaskMigrateTarget, TaskRequest, TaskStage, TaskTableStructure,
};
use ferry::dm::DmError;
use ferry::endpoint::Side;
use ferry::position::Position;
use ferry::profile::Profile;

use super::api::{parse, with_status, ApiError, ApiResult, DmBody, DmJson, DmPath};
use super::{Server, Shared};

fn not_found(name: &str) -> ApiError {
    DmError::NotFound {
        kind: "task",
        name: name.to_string(),
    }
    .into()
}

fn load(state: &Server, name: &str) -> ApiResult<Profile> {
    ferry::dm::store::DmStore::check_name("task", name)?;
    match state.profiles.load(name) {
        Ok(p) => Ok(p),
        Err(ferry::profile::ProfileError::NotFound { .. }) => Err(not_found(name)),
        Err(e) => Err(ApiError::engine(StatusCode::BAD_REQUEST, &e)),
    }
}

/// The jobs that read from source `source`.
fn jobs_using(state: &Server, source: &str) -> Vec<Profile> {
    state
        .profiles
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|name| state.profiles.load(&name).ok())
        .filter(|p| state.dm.source_names_of(p).iter().any(|n| n == source))
        .collect()
}

/// Names of the jobs that read from source `source`.
pub fn tasks_using(state: &Server, source: &str) -> Vec<String> {
    jobs_using(state, source)
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// Running jobs that read from source `source`.
pub async fn running_using(state: &Server, source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for p in jobs_using(state, source) {
        if running(state, &p).await {
            out.push(p.name);
        }
    }
    out
}

/// Turns a task into its job: the source must exist; passwords go to the
/// keyring under the job's name (the source's is copied; the target's is the
/// request's, or the one stored before).
fn job_of(state: &Server, task: &Task) -> ApiResult<Profile> {
    let mut sources = Vec::new();
    for source_name in convert::sources_of(task)? {
        let source = state.dm.source(&source_name).map_err(|e| match e {
            DmError::NotFound { .. } => ApiError::from(DmError::invalid(format!(
                "the task reads from source \"{source_name}\", which does not exist: create it with POST /api/v1/sources"
            ))),
            e => e.into(),
        })?;
        sources.push((source_name, state.dm.source_endpoint(&source)));
    }
    Ok(convert::to_profile(task, &sources)?)
}

/// Each DM source of a task with the keyring account of its password in the
/// task's job (its member's, see `Profile::members`).
fn source_accounts(task: &Task, profile: &Profile) -> ApiResult<Vec<(String, String)>> {
    Ok(convert::sources_of(task)?
        .into_iter()
        .zip(profile.members())
        .map(|(name, m)| (name, m.keyring_name(Side::Source).to_string()))
        .collect())
}

fn store_passwords(state: &Server, task: &Task, profile: &Profile) -> ApiResult<()> {
    let keyring =
        |e: ferry::secrets::SecretError| ApiError::engine(StatusCode::INTERNAL_SERVER_ERROR, &e);
    for (source_name, account) in source_accounts(task, profile)? {
        match state.dm.source_password(&source_name)? {
            Some(pw) => {
                ferry::secrets::set_password(&account, Side::Source, &pw).map_err(keyring)?
            }
            None => ferry::secrets::delete_password(&account, Side::Source).map_err(keyring)?,
        }
    }
    if let Some(pw) = &task.target_config.password {
        ferry::secrets::set_password(&task.name, Side::Target, pw).map_err(keyring)?;
    }
    Ok(())
}

fn forget_passwords(p: &Profile) {
    for m in p.members() {
        let _ = ferry::secrets::delete_password(m.keyring_name(Side::Source), Side::Source);
    }
    let _ = ferry::secrets::delete_password(&p.name, Side::Target);
}

/// Makes the task's job, stores its passwords, runs the precheck, and keeps the
/// job and the task's DM form. A task the precheck refuses, or whose passwords
/// cannot all be stored, leaves the keyring as it was (the precheck must connect
/// with the new passwords, so they are stored first).
async fn save_checked(state: &Server, task: &Task) -> ApiResult<(Profile, String)> {
    let profile = job_of(state, task)?;
    let accounts: Vec<(String, Side)> = source_accounts(task, &profile)?
        .into_iter()
        .map(|(_, account)| (account, Side::Source))
        .chain([(task.name.clone(), Side::Target)])
        .collect();
    let before: Vec<Option<String>> = accounts
        .iter()
        .map(|(account, side)| ferry::secrets::get_password(account, *side).ok().flatten())
        .collect();
    let checked = match store_passwords(state, task, &profile) {
        Ok(()) => precheck(&profile).await,
        Err(e) => Err(e),
    };
    let check_result = match checked {
        Ok(words) => words,
        Err(e) => {
            for ((account, side), old) in accounts.iter().zip(before) {
                let _ = match old {
                    Some(pw) => ferry::secrets::set_password(account, *side, &pw),
                    None => ferry::secrets::delete_password(account, *side),
                };
            }
            return Err(e);
        }
    };
    state
        .profiles
        .save(&profile)
        .map_err(|e| ApiError::engine(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
    state.dm.save_task(task)?;
    Ok((profile, check_result))
}

/// Ferry's precheck; a failing check (not in `ignore_checking_items`) refuses.
/// Passed, it answers DM's `check_result`: "pre-check is passed. " and each
/// warning (and each failure the task ignores).
async fn precheck(profile: &Profile) -> ApiResult<String> {
    let report = ferry::precheck::run(profile).await;
    let report = report.for_audience(ferry::error::Audience::Cli);
    let failed = report.blocking(&profile.ignore_checks);
    let line = |c: &ferry::precheck::Check| {
        // The objects a check names, the first few (the app lists them all).
        let objects = match c.objects.len() {
            0 => String::new(),
            n if n <= 10 => format!(" ({})", c.objects.join(", ")),
            n => format!(" ({}, and {} more)", c.objects[..10].join(", "), n - 10),
        };
        format!(
            "[{}] {}: {}{objects} Fix: {}",
            c.id, c.title, c.detail, c.remedy
        )
    };
    if failed.is_empty() {
        let mut words = String::from("pre-check is passed. ");
        for c in report
            .checks
            .iter()
            .filter(|c| c.status != ferry::precheck::Status::Pass)
        {
            words.push_str(&line(c));
            words.push_str("; ");
        }
        return Ok(words.trim_end_matches("; ").to_string());
    }
    let lines: Vec<String> = report
        .checks
        .iter()
        .filter(|c| failed.contains(&c.id))
        .map(line)
        .collect();
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        10005,
        format!("precheck failed: {}", lines.join("; ")),
    ))
}

async fn running(state: &Server, p: &Profile) -> bool {
    if state.runs.control(&p.name).is_some() {
        return true;
    }
    ferry::control::status(p).await.is_ok_and(|s| s.running)
}

/// The list's filters, as DM reads them.
struct ListFilter {
    with_status: bool,
    /// Every source's stage must be this one.
    stage: Option<TaskStage>,
    /// The task's sources must be exactly these.
    sources: Option<Vec<String>>,
}

impl ListFilter {
    fn of(q: &[(String, String)]) -> ApiResult<ListFilter> {
        let mut f = ListFilter {
            with_status: false,
            stage: None,
            sources: None,
        };
        for (k, v) in q {
            match k.as_str() {
                "with_status" => f.with_status = v == "true",
                "stage" => {
                    f.stage = Some(
                        serde_json::from_value(serde_json::Value::String(v.clone())).map_err(
                            |_| {
                                ApiError::bad_body(format!(
                                    "stage \"{v}\": one of Running, Paused, Stopped, Finished"
                                ))
                            },
                        )?,
                    )
                }
                // DM's client repeats the key; a comma-separated list is read too.
                "source_name_list" => f
                    .sources
                    .get_or_insert_with(Vec::new)
                    .extend(v.split(',').filter(|s| !s.is_empty()).map(String::from)),
                _ => {}
            }
        }
        Ok(f)
    }

    fn keeps(&self, sources: &[String], statuses: Option<&[SubTaskStatus]>) -> bool {
        let stage_ok = match (self.stage, statuses) {
            (Some(stage), Some(list)) => list.iter().all(|s| s.stage == stage),
            _ => true,
        };
        let sources_ok = self.sources.as_ref().is_none_or(|want| {
            want.len() == sources.len() && sources.iter().all(|s| want.contains(s))
        });
        stage_ok && sources_ok
    }
}

#[utoipa::path(get, path = "/api/v1/tasks", tag = "task", params(("with_status" = Option<bool>, Query, description = "with each task's status"), ("stage" = Option<TaskStage>, Query, description = "only tasks whose every source is at this stage"), ("source_name_list" = Option<Vec<String>>, Query, description = "only tasks over exactly these sources")), responses((status = 200, description = "tasks", body = List<Task>), (status = 400, description = "refused: DM's error body", body = ErrorWithMessage)))]
pub async fn list(
    state: Shared,
    Query(q): Query<Vec<(String, String)>>,
) -> ApiResult<Json<List<Task>>> {
    let filter = ListFilter::of(&q)?;
    let mut out = Vec::new();
    for name in state
        .profiles
        .list()
        .map_err(|e| ApiError::engine(StatusCode::INTERNAL_SERVER_ERROR, &e))?
    {
        let Ok(p) = state.profiles.load(&name) else {
            continue;
        };
        let mut t = state.dm.task_of(&p);
        let statuses = if filter.with_status || filter.stage.is_some() {
            Some(sub_statuses(&state, &p).await)
        } else {
            None
        };
        if !filter.keeps(&state.dm.source_names_of(&p), statuses.as_deref()) {
            continue;
        }
        if filter.with_status {
            t.status_list = statuses;
        }
        out.push(t);
    }
    Ok(Json(out.into()))
}

#[utoipa::path(post, path = "/api/v1/tasks", tag = "task", request_body = TaskRequest, responses((status = 201, description = "created (the precheck passed)", body = OperateTaskResponse), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn create(
    state: Shared,
    DmJson(req): DmJson<TaskRequest>,
) -> ApiResult<(StatusCode, Json<OperateTaskResponse>)> {
    let task = req.task;
    ferry::dm::store::DmStore::check_name("task", &task.name)?;
    if state.profiles.path_of(&task.name).exists() {
        return Err(DmError::Exists {
            kind: "task",
            name: task.name,
        }
        .into());
    }
    let (profile, check_result) = save_checked(&state, &task).await?;
    Ok((
        StatusCode::CREATED,
        Json(OperateTaskResponse {
            task: state.dm.task_of(&profile),
            check_result,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/tasks/{task}", tag = "task", params(("task" = String, Path, description = "task name"), ("with_status" = Option<bool>, Query, description = "with its status")), responses((status = 200, description = "the task", body = Task), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn get(
    state: Shared,
    DmPath(name): DmPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Task>> {
    let p = load(&state, &name)?;
    let mut t = state.dm.task_of(&p);
    if with_status(&q) {
        t.status_list = Some(sub_statuses(&state, &p).await);
    }
    Ok(Json(t))
}

#[utoipa::path(put, path = "/api/v1/tasks/{task}", tag = "task", params(("task" = String, Path, description = "task name")), request_body = TaskRequest, responses((status = 200, description = "updated", body = OperateTaskResponse), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn update(
    state: Shared,
    DmPath(name): DmPath<String>,
    DmJson(req): DmJson<TaskRequest>,
) -> ApiResult<Json<OperateTaskResponse>> {
    let before = load(&state, &name)?;
    let task = req.task;
    if task.name != name {
        return Err(DmError::invalid(format!(
            "task name \"{}\" differs from the path's \"{name}\"",
            task.name
        ))
        .into());
    }
    if running(&state, &before).await {
        return Err(DmError::Conflict(format!("task \"{name}\" is running")).into());
    }
    let (profile, check_result) = save_checked(&state, &task).await?;
    Ok(Json(OperateTaskResponse {
        task: state.dm.task_of(&profile),
        check_result,
    }))
}

#[utoipa::path(delete, path = "/api/v1/tasks/{task}", tag = "task", params(("task" = String, Path, description = "task name"), ("force" = Option<bool>, Query, description = "stop the task first when it runs")), responses((status = 204, description = "deleted"), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn delete(
    state: Shared,
    DmPath(name): DmPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    let force = q.get("force").is_some_and(|v| v == "true");
    remove(&state, &name, force).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes a task: its job, its passwords and its DM form. A running one is
/// refused, or with `force` stopped first (a pause with its checkpoint), as DM
/// does.
pub(super) async fn remove(state: &Server, name: &str, force: bool) -> ApiResult<()> {
    let p = load(state, name)?;
    if running(state, &p).await {
        if !force {
            return Err(DmError::Conflict(format!(
                "task \"{name}\" is running: stop it first (POST /api/v1/tasks/{name}/stop), or delete it with ?force=true"
            ))
            .into());
        }
        pause(state, &p).await?;
        let deadline = std::time::Instant::now() + STOP_WAIT;
        while running(state, &p).await {
            if std::time::Instant::now() > deadline {
                return Err(DmError::Conflict(format!(
                    "task \"{name}\" did not stop within {} s: delete it again once its status says Paused",
                    STOP_WAIT.as_secs()
                ))
                .into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    state
        .profiles
        .remove(name)
        .map_err(|e| ApiError::engine(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
    forget_passwords(&p);
    state.dm.delete_task(name)?;
    Ok(())
}

#[utoipa::path(post, path = "/api/v1/tasks/{task}/start", tag = "task", params(("task" = String, Path, description = "task name")), request_body(content = Option<StartTaskRequest>), responses((status = 200, description = "started"), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn start(
    state: Shared,
    DmPath(name): DmPath<String>,
    DmBody(bytes): DmBody,
) -> ApiResult<StatusCode> {
    let req: StartTaskRequest = parse(&bytes)?;
    if req.start_time.is_some() {
        return Err(DmError::unsupported(
            "start_time: a Ferry job starts from its checkpoint, or a new one from its start position (source_conf's binlog_name / binlog_pos or binlog_gtid)"
                .into(),
        )
        .into());
    }
    if req.remove_meta {
        return Err(DmError::unsupported(
            "remove_meta: a Ferry job resumes from its checkpoints; to start over, delete the task and create it again after emptying the target tables"
                .into(),
        )
        .into());
    }
    let p = load(&state, &name)?;
    for source in state.dm.source_names_of(&p) {
        if let Ok(s) = state.dm.source(&source) {
            if !s.enable {
                return Err(DmError::Conflict(format!(
                    "source \"{source}\" is disabled: enable it first (POST /api/v1/sources/{source}/enable)"
                ))
                .into());
            }
        }
    }
    if lacks_a_position(&state, &p).await {
        return Err(DmError::invalid(format!(
            "must set meta for task-mode incremental: task \"{name}\" gives no start position; set source_conf's binlog_name and binlog_pos, or binlog_gtid (PUT /api/v1/tasks/{name})"
        ))
        .into());
    }
    if running(&state, &p).await || !state.runs.start(p) {
        return Err(DmError::Conflict(format!("task \"{name}\" is already running")).into());
    }
    Ok(StatusCode::OK)
}

#[utoipa::path(post, path = "/api/v1/tasks/{task}/stop", tag = "task", params(("task" = String, Path, description = "task name")), request_body(content = Option<StopTaskRequest>), responses((status = 200, description = "stopping (pauses with a checkpoint)"), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn stop(
    state: Shared,
    DmPath(name): DmPath<String>,
    DmBody(bytes): DmBody,
) -> ApiResult<StatusCode> {
    let _: StopTaskRequest = parse(&bytes)?;
    let p = load(&state, &name)?;
    pause(&state, &p).await?;
    Ok(StatusCode::OK)
}

/// The task's reverse sync that still syncs (Ferry's way back after the
/// cutover, `[incremental] reverse`), as DM's error body otherwise.
async fn syncing_back(p: &Profile) -> ApiResult<Profile> {
    match ferry::control::reverse(p).await {
        Ok(Some((state, back))) if state.state == ferry::reverse::SYNCING => Ok(back),
        Ok(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            10004,
            format!(
                "[reverse.none] task \"{}\" has no reverse sync running. Fix: a way back is kept after the cutover when the job sets [incremental] reverse before it starts",
                p.name
            ),
        )),
        Err(e) => Err(ApiError::engine(StatusCode::BAD_REQUEST, &e)),
    }
}

/// Ferry's extension: rolls the task back to its source through its reverse
/// sync (drain, verify, the source's triggers back). Runs the reverse sync in
/// this server when no process does.
#[utoipa::path(post, path = "/api/v1/tasks/{task}/rollback", tag = "task", params(("task" = String, Path, description = "task name")), responses((status = 200, description = "rolling back: the task's status shows it; its reverse state becomes rolled_back"), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn rollback(state: Shared, DmPath(name): DmPath<String>) -> ApiResult<StatusCode> {
    let p = load(&state, &name)?;
    let back = syncing_back(&p).await?;
    let delivered = ferry::control::request(&back, JobRequest::complete())
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    if !delivered {
        if !state.runs.start(p) {
            return Err(DmError::Conflict(format!("task \"{name}\" is already running")).into());
        }
        if let Some(control) = state.runs.control(&name) {
            control.complete(false, false);
        }
    }
    Ok(StatusCode::OK)
}

/// Ferry's extension: ends the task's reverse sync.
#[utoipa::path(post, path = "/api/v1/tasks/{task}/release", tag = "task", params(("task" = String, Path, description = "task name")), responses((status = 200, description = "released: the source is no longer kept current"), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn release(state: Shared, DmPath(name): DmPath<String>) -> ApiResult<StatusCode> {
    let p = load(&state, &name)?;
    let back = syncing_back(&p).await?;
    let delivered = ferry::control::request(&back, JobRequest::Abort)
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    if !delivered {
        ferry::job::set_reverse_state(&p, ferry::reverse::RELEASED)
            .await
            .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    }
    Ok(StatusCode::OK)
}

/// As DM refuses it: an incremental task made through the API with no start
/// position, never run. (Ferry's own jobs may start `now`; a DM client relies
/// on the refusal not to skip changes unknowingly.)
async fn lacks_a_position(state: &Server, p: &Profile) -> bool {
    let Ok(Some(task)) = state.dm.task(&p.name) else {
        return false;
    };
    let positioned = task
        .source_config
        .source_conf
        .iter()
        .any(ferry::dm::model::SourceConf::has_position);
    if task.task_mode != ferry::dm::model::TaskMode::Incremental || positioned {
        return false;
    }
    !ferry::control::status(p)
        .await
        .is_ok_and(|s| s.phase.is_some())
}

/// How long a forced delete waits for its running task to stop.
const STOP_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Asks the task's job to pause: the run in this server, or one elsewhere
/// through its control row.
async fn pause(state: &Server, p: &Profile) -> ApiResult<()> {
    if let Some(control) = state.runs.control(&p.name) {
        control.pause();
        return Ok(());
    }
    // False when no process runs it: then it is stopped already.
    ferry::control::request(p, JobRequest::Pause)
        .await
        .map(|_| ())
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))
}

#[utoipa::path(get, path = "/api/v1/tasks/{task}/status", tag = "task", params(("task" = String, Path, description = "task name")), responses((status = 200, description = "status per source", body = List<SubTaskStatus>), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn status(
    state: Shared,
    DmPath(name): DmPath<String>,
) -> ApiResult<Json<List<SubTaskStatus>>> {
    let p = load(&state, &name)?;
    Ok(Json(sub_statuses(&state, &p).await.into()))
}

/// One DM status per source of the job, as DM lists a task's subtasks.
async fn sub_statuses(state: &Server, p: &Profile) -> Vec<SubTaskStatus> {
    let names = state.dm.source_names_of(p);
    let mut out = Vec::new();
    for (i, (member, name)) in p.members().iter().zip(names).enumerate() {
        out.push(sub_status(state, p, member, name, i == 0).await);
    }
    out
}

/// `(file, pos)`, DM's form of a binlog position.
fn binlog(p: Option<&Position>) -> String {
    match p {
        Some(Position {
            file: Some(f),
            pos: Some(n),
            ..
        }) => format!("({f}, {n})"),
        _ => String::new(),
    }
}

fn gtid(p: Option<&Position>) -> String {
    p.and_then(|p| p.gtid.clone()).unwrap_or_default()
}

/// The DM status of one source of a job: its stored status on the target, and
/// what this server saw of a run it started (the job's copy totals go with the
/// first source).
async fn sub_status(
    state: &Server,
    job: &Profile,
    p: &Profile,
    source_name: String,
    first: bool,
) -> SubTaskStatus {
    let live = state.runs.live(&job.name);
    let stored = ferry::control::status(p).await;
    let active = live.as_ref().is_some_and(|l| l.active);
    let mut error_msg = live
        .as_ref()
        .and_then(|l| l.error.as_ref())
        .filter(|_| !active)
        .map(|r| format!("[{}] {} Fix: {}", r.code, r.message, r.remedy));
    let status = match stored {
        Ok(s) => Some(s),
        Err(e) => {
            error_msg.get_or_insert_with(|| e.to_string());
            None
        }
    };
    let phase = status.as_ref().and_then(|s| s.phase.clone());
    let running = active || status.as_ref().is_some_and(|s| s.running);
    let stage = if running {
        TaskStage::Running
    } else if phase.as_deref() == Some("completed") {
        TaskStage::Finished
    } else {
        TaskStage::Paused
    };
    let live_phase = live.as_ref().and_then(|l| l.phase);
    use ferry::events::Phase;
    // A full-mode task has no Sync unit: finished, it is a finished Load.
    let copy_only = p.mode == ferry::profile::Mode::Full;
    let unit = match (live_phase.filter(|_| active), phase.as_deref()) {
        (Some(Phase::Precheck), _) => "Check",
        (Some(Phase::Schema | Phase::Snapshot | Phase::Copy | Phase::Objects), _) => "Load",
        (Some(_), _) if copy_only => "Load",
        (Some(_), _) => "Sync",
        (None, Some("copy")) => "Load",
        (None, Some(_)) if copy_only => "Load",
        (None, Some(_)) => "Sync",
        (None, None) if active => "Check",
        (None, None) => "Load",
    };
    let mut sub = SubTaskStatus {
        name: job.name.clone(),
        source_name,
        worker_name: "ferry".into(),
        stage,
        unit: unit.into(),
        unresolved_ddl_lock_id: None,
        load_status: None,
        sync_status: None,
        validation_status: None,
        dump_status: None,
        error_msg,
    };
    let Some(s) = status else { return sub };
    let copy_live = live.as_ref().filter(|_| first);
    // Past the copy (syncing, completed), the load is whole whatever the
    // estimates said.
    let copied = phase.as_deref().is_some_and(|p| p != "copy");
    let (done, total) = match copy_live {
        Some(l) if l.bytes_total > 0 && !copied => (l.bytes_done, l.bytes_total),
        Some(l) if copied => {
            let all = l.bytes_done.max(s.copied_bytes);
            (all, all)
        }
        _ => (s.copied_bytes, s.copied_bytes),
    };
    sub.dump_status = Some(match copy_live {
        Some(l) if l.rows_total > 0 => DumpStatus {
            total_tables: l.tables,
            completed_tables: l.tables_done as f64,
            finished_bytes: l.bytes_done as f64,
            finished_rows: l.rows_done as f64,
            estimate_total_rows: l.rows_total as f64,
        },
        _ => DumpStatus {
            finished_bytes: s.copied_bytes as f64,
            finished_rows: s.copied_rows as f64,
            estimate_total_rows: s.copied_rows as f64,
            ..DumpStatus::default()
        },
    });
    sub.load_status = Some(LoadStatus {
        finished_bytes: done,
        total_bytes: total,
        progress: if copied {
            "100.00 %".into()
        } else if total > 0 {
            format!("{:.2} %", done as f64 * 100.0 / total as f64)
        } else {
            "0.00 %".into()
        },
        meta_binlog: binlog(s.snapshot.as_ref()),
        meta_binlog_gtid: gtid(s.snapshot.as_ref()),
    });
    if let Some(v) = s.live.as_ref().and_then(|l| l.verification.as_ref()) {
        sub.validation_status = Some(validation(v));
    }
    if let Some(l) = &s.live {
        let elapsed = s
            .started_at
            .and_then(|t| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .ok()
                    .map(|now| now.as_secs().saturating_sub(t))
            })
            .unwrap_or(0)
            .max(1);
        sub.sync_status = Some(SyncStatus {
            io_total_bytes: l.job_read_bytes,
            dump_io_total_bytes: s.copied_bytes,
            total_events: l.job_changes,
            total_tps: l.job_changes / elapsed,
            recent_tps: l.transactions_per_sec.round() as u64,
            master_binlog: binlog(l.source.as_ref()),
            master_binlog_gtid: gtid(l.source.as_ref()),
            syncer_binlog: binlog(Some(&l.applied)),
            syncer_binlog_gtid: gtid(Some(&l.applied)),
            blocking_ddls: s
                .pending_ddl
                .iter()
                .map(|d| d.statement.clone())
                .chain(l.shard_locks.iter().map(|k| k.statement.clone()))
                .collect(),
            unresolved_groups: l
                .shard_locks
                .iter()
                .map(|k| ShardingGroup {
                    target: k.target.clone(),
                    ddl_list: vec![k.statement.clone()],
                    first_location: String::new(),
                    synced: k.arrived.clone(),
                    unsynced: k.waiting_for.clone(),
                })
                .collect(),
            synced: running && l.synced,
            binlog_type: "remote".into(),
            seconds_behind_master: if running {
                // DM has no "unknown": out of contact, the status is not synced.
                l.lag_secs.map_or(0, |s| s.round() as u64)
            } else {
                0
            },
        });
    }
    if let Some(k) = s.live.as_ref().and_then(|l| l.shard_locks.first()) {
        // DM's lock id: the task and the merged table.
        sub.unresolved_ddl_lock_id = Some(format!("{}-{}", job.name, k.target));
    }
    if let Some(d) = &s.pending_ddl {
        sub.error_msg.get_or_insert_with(|| {
            format!(
                "the target refused the DDL at {}: {} ({}); decide with `ferry ddl skip|replace {}` then start the task",
                d.position, d.statement, d.error, p.name
            )
        });
    }
    sub
}

/// Source tables of the task and where they go.
#[utoipa::path(get, path = "/api/v1/tasks/{task}/sources/{source}/migrate_targets", tag = "task", params(("task" = String, Path, description = "task name"), ("source" = String, Path, description = "source name"), ("schema_pattern" = Option<String>, Query, description = "schema pattern"), ("table_pattern" = Option<String>, Query, description = "table pattern")), responses((status = 200, description = "source and target tables", body = List<TaskMigrateTarget>), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn migrate_targets(
    state: Shared,
    DmPath((name, source)): DmPath<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<List<TaskMigrateTarget>>> {
    let p = source_of_task(&state, &name, &source)?;
    let mut rules = ferry::rules::ObjectRules {
        include: Vec::new(),
        ..Default::default()
    };
    if let (Some(s), t) = (q.get("schema_pattern"), q.get("table_pattern")) {
        rules
            .include
            .push(format!("{s}.{}", t.map_or("*", |t| t.as_str())));
    } else if let Some(t) = q.get("table_pattern") {
        rules.include.push(format!("*.{t}"));
    }
    let filter = rules
        .compile(0)
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    let selection = ferry::inspect::selected_objects(&p)
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    let out: Vec<TaskMigrateTarget> = selection
        .tables
        .into_iter()
        .filter(|t| filter.selects(&t.schema, &t.name))
        .map(|t| TaskMigrateTarget {
            source_schema: t.schema,
            source_table: t.name,
            target_schema: t.target_schema,
            target_table: t.target_name,
        })
        .collect();
    Ok(Json(out.into()))
}

/// The job of one source of a task (a member of a task over several sources).
fn source_of_task(state: &Server, name: &str, source: &str) -> ApiResult<Profile> {
    let p = load(state, name)?;
    let names = state.dm.source_names_of(&p);
    match names.iter().position(|n| n == source) {
        Some(i) => Ok(p.members().swap_remove(i)),
        None => Err(DmError::NotFound {
            kind: "source of this task",
            name: source.to_string(),
        }
        .into()),
    }
}

/// Schemas the task selects on its source.
#[utoipa::path(get, path = "/api/v1/tasks/{task}/sources/{source}/schemas", tag = "task", params(("task" = String, Path, description = "task name"), ("source" = String, Path, description = "source name")), responses((status = 200, description = "schemas the task selects", body = Vec<String>), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn schemas(
    state: Shared,
    DmPath((name, source)): DmPath<(String, String)>,
) -> ApiResult<Json<Vec<String>>> {
    let p = source_of_task(&state, &name, &source)?;
    let selection = ferry::inspect::selected_objects(&p)
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    let mut names: Vec<String> = selection.tables.into_iter().map(|t| t.schema).collect();
    names.dedup();
    Ok(Json(names))
}

/// Tables the task selects in one schema.
#[utoipa::path(get, path = "/api/v1/tasks/{task}/sources/{source}/schemas/{schema}", tag = "task", params(("task" = String, Path, description = "task name"), ("source" = String, Path, description = "source name"), ("schema" = String, Path, description = "schema name")), responses((status = 200, description = "tables the task selects", body = Vec<String>), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn tables(
    state: Shared,
    DmPath((name, source, schema)): DmPath<(String, String, String)>,
) -> ApiResult<Json<Vec<String>>> {
    let p = source_of_task(&state, &name, &source)?;
    let selection = ferry::inspect::selected_objects(&p)
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    Ok(Json(
        selection
            .tables
            .into_iter()
            .filter(|t| t.schema == schema)
            .map(|t| t.name)
            .collect(),
    ))
}

/// The source's `CREATE TABLE` of a table the task selects.
async fn selected_table(
    state: &Server,
    name: &str,
    source: &str,
    schema: &str,
    table: &str,
) -> ApiResult<String> {
    let p = source_of_task(state, name, source)?;
    ferry::inspect::selected_table_definition(&p, schema, table)
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?
        .ok_or_else(|| {
            DmError::NotFound {
                kind: "table of this task",
                name: format!("{schema}.{table}"),
            }
            .into()
        })
}

/// The structure the task reads the table's rows with: Ferry has no schema
/// tracker of its own; it follows the source table's definition (read from the
/// source, kept current by the DDL it replays), so this is the source's.
#[utoipa::path(get, path = "/api/v1/tasks/{task}/sources/{source}/schemas/{schema}/{table}", tag = "task", params(("task" = String, Path, description = "task name"), ("source" = String, Path, description = "source name"), ("schema" = String, Path, description = "schema name"), ("table" = String, Path, description = "table name")), responses((status = 200, description = "the table's CREATE TABLE", body = TaskTableStructure), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn table_structure(
    state: Shared,
    DmPath((name, source, schema, table)): DmPath<(String, String, String, String)>,
) -> ApiResult<Json<TaskTableStructure>> {
    let sql = selected_table(&state, &name, &source, &schema, &table).await?;
    Ok(Json(TaskTableStructure {
        schema_name: schema,
        table_name: table,
        schema_create_sql: sql,
    }))
}

/// Setting the structure by hand, as DM's schema tracker allows, is refused
/// (10001) but for `upstream`, which is what Ferry does anyway: it decodes
/// rows with the source's own definition, so no hand-made one can drift from
/// it. Malformed requests are refused as DM refuses them.
#[utoipa::path(put, path = "/api/v1/tasks/{task}/sources/{source}/schemas/{schema}/{table}", tag = "task", params(("task" = String, Path, description = "task name"), ("source" = String, Path, description = "source name"), ("schema" = String, Path, description = "schema name"), ("table" = String, Path, description = "table name")), request_body = OperateTableStructureRequest, responses((status = 200, description = "schema_source upstream: the task follows the source table (as always)"), (status = 400, description = "refused: DM's error body; 10001 for sql and downstream", body = ErrorWithMessage)))]
pub async fn set_table_structure(
    state: Shared,
    DmPath((name, source, schema, table)): DmPath<(String, String, String, String)>,
    DmBody(bytes): DmBody,
) -> ApiResult<StatusCode> {
    let req: OperateTableStructureRequest = parse(&bytes)?;
    let source_kind = req.schema_source.unwrap_or(SchemaSource::Sql);
    let has_sql = req.sql_content.is_some();
    match source_kind {
        SchemaSource::Sql
            if req
                .sql_content
                .as_deref()
                .is_none_or(|s| s.trim().is_empty()) =>
        {
            return Err(DmError::invalid(
                "sql_content must be given and not empty when schema_source is sql".into(),
            )
            .into())
        }
        SchemaSource::Upstream | SchemaSource::Downstream if has_sql => {
            return Err(DmError::invalid(
                "sql_content must be left out when schema_source is upstream or downstream".into(),
            )
            .into())
        }
        _ => {}
    }
    selected_table(&state, &name, &source, &schema, &table).await?;
    match source_kind {
        SchemaSource::Upstream => Ok(StatusCode::OK),
        SchemaSource::Sql | SchemaSource::Downstream => Err(DmError::unsupported(
            "setting a table's structure by hand: Ferry decodes each row with the source table's own definition (schema_source upstream), kept current by the DDL it replays"
                .into(),
        )
        .into()),
    }
}

/// Refused (10001): there is no tracked structure to delete (see
/// [`set_table_structure`]).
#[utoipa::path(delete, path = "/api/v1/tasks/{task}/sources/{source}/schemas/{schema}/{table}", tag = "task", params(("task" = String, Path, description = "task name"), ("source" = String, Path, description = "source name"), ("schema" = String, Path, description = "schema name"), ("table" = String, Path, description = "table name")), responses((status = 400, description = "refused: 10001, Ferry keeps no table structure of its own", body = ErrorWithMessage)))]
pub async fn delete_table_structure(
    state: Shared,
    DmPath((name, source, schema, table)): DmPath<(String, String, String, String)>,
) -> ApiResult<StatusCode> {
    selected_table(&state, &name, &source, &schema, &table).await?;
    Err(DmError::unsupported(
        "deleting a table's tracked structure: Ferry keeps none of its own; it follows the source table's definition"
            .into(),
    )
    .into())
}

/// The continuous verification as DM's validator status.
fn validation(v: &ferry::events::VerificationStatus) -> ferry::dm::model::ValidationStatus {
    ferry::dm::model::ValidationStatus {
        stage: match v.state.as_str() {
            "verifying" | "starting" => "running".into(),
            other => other.into(),
        },
        verified_chunks: v.verified,
        total_chunks: v.chunks,
        progress: if v.chunks > 0 {
            format!("{:.2} %", v.verified as f64 * 100.0 / v.chunks as f64)
        } else {
            "0.00 %".into()
        },
        errors: v
            .differences
            .iter()
            .map(|d| {
                format!(
                    "{}.{} range {} {}: {} rows on the source, {} on the target; keys {}",
                    d.schema,
                    d.table,
                    d.mismatch.chunk,
                    d.mismatch.range,
                    d.mismatch.source_rows,
                    d.mismatch.target_rows,
                    d.mismatch
                        .samples
                        .iter()
                        .map(|k| format!("{} ({})", k.key, k.difference))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect(),
    }
}
