//! `/tasks/templates` (task settings kept for later, no job behind them) and
//! `/tasks/converters` (a task ⇄ DM's task file).

use axum::http::StatusCode;
use axum::Json;

use ferry::dm::model::{
    ConverterTaskRequest, ConverterTaskResponse, ErrorWithMessage, FailedTask, List, Task,
    TaskTemplateRequest, TaskTemplateResponse,
};
use ferry::dm::{yaml, DmError};

use super::api::{parse, ApiResult, DmBody, DmJson, DmPath};
use super::Shared;

#[utoipa::path(post, path = "/api/v1/tasks/converters", tag = "task", request_body = ConverterTaskRequest, responses((status = 201, description = "both forms", body = ConverterTaskResponse), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn convert(
    DmJson(req): DmJson<ConverterTaskRequest>,
) -> ApiResult<(StatusCode, Json<ConverterTaskResponse>)> {
    let task = match (req.task, req.task_config_file) {
        (Some(t), None) => t,
        (None, Some(file)) => yaml::parse_task_yaml(&file)?,
        _ => return Err(DmError::invalid("give either task or task_config_file".into()).into()),
    };
    let task_config_file = yaml::task_yaml(&task)?;
    Ok((
        StatusCode::CREATED,
        Json(ConverterTaskResponse {
            task,
            task_config_file,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/tasks/templates", tag = "task", responses((status = 200, description = "templates", body = List<Task>)))]
pub async fn list(state: Shared) -> ApiResult<Json<List<Task>>> {
    let mut out = Vec::new();
    for name in state.dm.template_names()? {
        out.push(state.dm.template(&name)?);
    }
    Ok(Json(out.into()))
}

#[utoipa::path(post, path = "/api/v1/tasks/templates", tag = "task", request_body = Task, responses((status = 201, description = "created", body = Task), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn create(
    state: Shared,
    DmJson(task): DmJson<Task>,
) -> ApiResult<(StatusCode, Json<Task>)> {
    if state.dm.template(&task.name).is_ok() {
        return Err(DmError::Exists {
            kind: "task template",
            name: task.name,
        }
        .into());
    }
    state.dm.save_template(&task)?;
    Ok((StatusCode::CREATED, Json(state.dm.template(&task.name)?)))
}

#[utoipa::path(get, path = "/api/v1/tasks/templates/{task}", tag = "task", params(("task" = String, Path, description = "template name")), responses((status = 200, description = "the template", body = Task), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn get(state: Shared, DmPath(name): DmPath<String>) -> ApiResult<Json<Task>> {
    Ok(Json(state.dm.template(&name)?))
}

#[utoipa::path(put, path = "/api/v1/tasks/templates/{task}", tag = "task", params(("task" = String, Path, description = "template name")), request_body = Task, responses((status = 200, description = "updated", body = Task), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn update(
    state: Shared,
    DmPath(name): DmPath<String>,
    DmJson(task): DmJson<Task>,
) -> ApiResult<Json<Task>> {
    state.dm.template(&name)?;
    if task.name != name {
        return Err(DmError::invalid(format!(
            "name \"{}\" differs from the path's \"{name}\"",
            task.name
        ))
        .into());
    }
    state.dm.save_template(&task)?;
    Ok(Json(state.dm.template(&name)?))
}

#[utoipa::path(delete, path = "/api/v1/tasks/templates/{task}", tag = "task", params(("task" = String, Path, description = "template name")), responses((status = 204, description = "deleted"), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn delete(state: Shared, DmPath(name): DmPath<String>) -> ApiResult<StatusCode> {
    state.dm.delete_template(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a template of every task (job) there is.
#[utoipa::path(post, path = "/api/v1/tasks/templates/import", tag = "task", request_body(content = Option<TaskTemplateRequest>), responses((status = 202, description = "imported", body = TaskTemplateResponse)))]
pub async fn import(
    state: Shared,
    DmBody(bytes): DmBody,
) -> ApiResult<(StatusCode, Json<TaskTemplateResponse>)> {
    let req: TaskTemplateRequest = parse(&bytes)?;
    let mut done = TaskTemplateResponse {
        success_task_list: Vec::new(),
        failed_task_list: Vec::new(),
    };
    for name in state.profiles.list().unwrap_or_default() {
        let outcome = match state.profiles.load(&name) {
            Ok(p) if req.overwrite || state.dm.template(&name).is_err() => state
                .dm
                .save_template(&state.dm.task_of(&p))
                .map_err(|e| e.to_string()),
            Ok(_) => Err("a template of this name exists (send overwrite: true)".into()),
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => done.success_task_list.push(name),
            Err(error_msg) => done.failed_task_list.push(FailedTask {
                task_name: name,
                error_msg,
            }),
        }
    }
    Ok((StatusCode::ACCEPTED, Json(done)))
}
