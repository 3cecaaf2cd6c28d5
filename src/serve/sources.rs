//! `/sources`: DM data sources. A password goes to the OS keyring and is never
//! answered (`******` shows that one is stored); a new or changed source is
//! connected to first, so a typo is an error now and not at the task's start.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use ferry::catalog::Catalog;
use ferry::dm::model::{
    CreateSourceRequest, ErrorWithMessage, List, Source, SourceStatus, UpdateSourceRequest,
};
use ferry::dm::DmError;
use ferry::endpoint::{Endpoint, Side};

use super::api::{parse, with_status, ApiError, ApiResult, DmBody, DmPath};
use super::Shared;

const MASK: &str = "******";

/// A source as answered: the password masked, the tasks that use it listed.
fn shown(state: &super::Server, mut s: Source) -> Source {
    s.password = match state.dm.source_password(&s.source_name) {
        Ok(Some(_)) => Some(MASK.into()),
        _ => None,
    };
    s.task_name_list = Some(super::tasks::tasks_using(state, &s.source_name));
    s.flavor = None;
    s
}

/// DM 6 wraps the source (`{"source": …}`); earlier releases and seed 003 send
/// it bare. Both are accepted.
fn source_body(bytes: &[u8], update: bool) -> ApiResult<Source> {
    let value: Value = parse(bytes)?;
    let wrapped = value.as_object().is_some_and(|o| o.contains_key("source"));
    let source = if wrapped {
        if update {
            serde_json::from_value::<UpdateSourceRequest>(value).map(|r| r.source)
        } else {
            serde_json::from_value::<CreateSourceRequest>(value).map(|r| r.source)
        }
    } else {
        serde_json::from_value::<Source>(value)
    }
    .map_err(|e| ApiError::bad_body(format!("invalid source: {e}")))?;
    check(&source)?;
    Ok(source)
}

fn check(s: &Source) -> ApiResult<()> {
    ferry::dm::store::DmStore::check_name("source", &s.source_name)?;
    if s.host.trim().is_empty() {
        return Err(DmError::invalid("host must not be empty".into()).into());
    }
    if s.port == 0 {
        return Err(DmError::invalid("port must be 1-65535".into()).into());
    }
    if s.relay_config.as_ref().is_some_and(|r| r.enable_relay) {
        return Err(DmError::unsupported(
            "the relay log: Ferry reads the source's binlog directly (set enable_relay false or leave relay_config out)"
                .into(),
        )
        .into());
    }
    Ok(())
}

/// Connects with what the request gives (the stored password when it gives
/// none or the mask).
async fn open(state: &super::Server, s: &Source) -> ApiResult<Endpoint> {
    let password = match s.password.as_deref() {
        Some(p) if p != MASK => Some(p.to_string()),
        _ => state.dm.source_password(&s.source_name)?,
    };
    let config = state.dm.source_endpoint(s);
    Endpoint::open(Side::Source, &config, password.as_deref(), 2)
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))
}

#[utoipa::path(get, path = "/api/v1/sources", tag = "source", params(("with_status" = Option<bool>, Query, description = "with each source's status_list"), ("enable_relay" = Option<bool>, Query, description = "true lists none (Ferry has no relay log)")), responses((status = 200, description = "sources", body = List<Source>)))]
pub async fn list(
    state: Shared,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<List<Source>>> {
    // No source of Ferry's has a relay log: `enable_relay=true` selects none.
    if q.get("enable_relay").is_some_and(|v| v == "true") {
        return Ok(Json(Vec::new().into()));
    }
    let mut out = Vec::new();
    for name in state.dm.source_names()? {
        let mut source = shown(&state, state.dm.source(&name)?);
        if with_status(&q) {
            source.status_list = Some(statuses(&state, &source).await);
        }
        out.push(source);
    }
    Ok(Json(out.into()))
}

#[utoipa::path(post, path = "/api/v1/sources", tag = "source", request_body = CreateSourceRequest, responses((status = 201, description = "created", body = Source), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn create(state: Shared, DmBody(bytes): DmBody) -> ApiResult<(StatusCode, Json<Source>)> {
    let source = source_body(&bytes, false)?;
    if state.dm.source_exists(&source.source_name) {
        return Err(DmError::Exists {
            kind: "source",
            name: source.source_name,
        }
        .into());
    }
    if source.password.as_deref() == Some(MASK) {
        return Err(DmError::invalid("password: give the password itself".into()).into());
    }
    open(&state, &source).await?.close().await;
    state.dm.save_source(&source)?;
    Ok((
        StatusCode::CREATED,
        Json(shown(&state, state.dm.source(&source.source_name)?)),
    ))
}

#[utoipa::path(get, path = "/api/v1/sources/{source}", tag = "source", params(("source" = String, Path, description = "source name"), ("with_status" = Option<bool>, Query, description = "with its status_list")), responses((status = 200, description = "the source", body = Source), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn get(
    state: Shared,
    DmPath(name): DmPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Source>> {
    let mut source = shown(&state, state.dm.source(&name)?);
    if with_status(&q) {
        source.status_list = Some(statuses(&state, &source).await);
    }
    Ok(Json(source))
}

#[utoipa::path(put, path = "/api/v1/sources/{source}", tag = "source", params(("source" = String, Path, description = "source name")), request_body = UpdateSourceRequest, responses((status = 200, description = "updated", body = Source), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn update(
    state: Shared,
    DmPath(name): DmPath<String>,
    DmBody(bytes): DmBody,
) -> ApiResult<Json<Source>> {
    state.dm.source(&name)?;
    let mut source = source_body(&bytes, true)?;
    // As DM does: a running task keeps the settings it started with, so a
    // change now would not reach it while the stored source said otherwise.
    let running = super::tasks::running_using(&state, &name).await;
    if !running.is_empty() {
        return Err(DmError::Conflict(format!(
            "source \"{name}\" is used by running tasks: {} (stop them first: POST /api/v1/tasks/{{task}}/stop)",
            running.join(", ")
        ))
        .into());
    }
    if source.source_name != name {
        return Err(DmError::invalid(format!(
            "source_name \"{}\" differs from the path's \"{name}\"",
            source.source_name
        ))
        .into());
    }
    open(&state, &source).await?.close().await;
    if source.password.as_deref() == Some(MASK) {
        source.password = None;
    }
    let new_password = source.password.clone();
    state.dm.save_source(&source)?;
    // Jobs made from this source connect with their own copy of its password.
    if let Some(pw) = new_password {
        for task in super::tasks::tasks_using(&state, &name) {
            ferry::secrets::set_password(&task, Side::Source, &pw)
                .map_err(|e| ApiError::engine(StatusCode::INTERNAL_SERVER_ERROR, &e))?;
        }
    }
    Ok(Json(shown(&state, state.dm.source(&name)?)))
}

#[utoipa::path(delete, path = "/api/v1/sources/{source}", tag = "source", params(("source" = String, Path, description = "source name"), ("force" = Option<bool>, Query, description = "delete it with the tasks that use it (stopped first)")), responses((status = 204, description = "deleted"), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn delete(
    state: Shared,
    DmPath(name): DmPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    state.dm.source(&name)?;
    let users = super::tasks::tasks_using(&state, &name);
    let force = q.get("force").is_some_and(|v| v == "true");
    if !users.is_empty() && !force {
        return Err(DmError::Conflict(format!(
            "tasks use source \"{name}\": {} (delete them first, or pass ?force=true)",
            users.join(", ")
        ))
        .into());
    }
    // As DM does, a forced delete takes the source's tasks with it (stopped
    // first when they run): none is left reading from a source that is gone.
    for task in &users {
        super::tasks::remove(&state, task, true).await?;
    }
    state.dm.delete_source(&name)?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/sources/{source}/status", tag = "source", params(("source" = String, Path, description = "source name")), responses((status = 200, description = "status", body = List<SourceStatus>), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn status(
    state: Shared,
    DmPath(name): DmPath<String>,
) -> ApiResult<Json<List<SourceStatus>>> {
    let source = state.dm.source(&name)?;
    Ok(Json(statuses(&state, &source).await.into()))
}

/// A source's status list as DM gives it: one entry, this node's, with the
/// error of connecting to it now if there is one.
async fn statuses(state: &super::Server, source: &Source) -> Vec<SourceStatus> {
    let error_msg = match open(state, source).await {
        Ok(e) => {
            e.close().await;
            None
        }
        Err(e) => Some(e.message),
    };
    vec![SourceStatus {
        source_name: source.source_name.clone(),
        worker_name: "ferry".into(),
        relay_status: None,
        error_msg,
    }]
}

async fn set_enabled(state: &super::Server, name: &str, enable: bool) -> ApiResult<StatusCode> {
    let mut source = state.dm.source(name)?;
    source.enable = enable;
    source.password = None;
    state.dm.save_source(&source)?;
    Ok(StatusCode::OK)
}

#[utoipa::path(post, path = "/api/v1/sources/{source}/enable", tag = "source", params(("source" = String, Path, description = "source name")), responses((status = 200, description = "enabled"), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn enable(state: Shared, DmPath(name): DmPath<String>) -> ApiResult<StatusCode> {
    set_enabled(&state, &name, true).await
}

/// A disabled source's tasks cannot start (a running one keeps going: stop it).
#[utoipa::path(post, path = "/api/v1/sources/{source}/disable", tag = "source", params(("source" = String, Path, description = "source name")), responses((status = 200, description = "disabled"), (status = 400, description = "refused: DM's error body, error_code says why", body = ErrorWithMessage)))]
pub async fn disable(state: Shared, DmPath(name): DmPath<String>) -> ApiResult<StatusCode> {
    set_enabled(&state, &name, false).await
}

#[utoipa::path(post, path = "/api/v1/sources/{source}/transfer", tag = "source", params(("source" = String, Path, description = "source name")), responses((status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn no_workers(DmPath(_): DmPath<String>) -> ApiError {
    DmError::unsupported("workers to transfer a source to: this node is the only worker".into())
        .into()
}

#[utoipa::path(post, path = "/api/v1/sources/{source}/relay/{action}", tag = "source", params(("source" = String, Path, description = "source name"), ("action" = String, Path, description = "enable, disable or purge")), responses((status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn no_relay(DmPath(_): DmPath<(String, String)>) -> ApiError {
    DmError::unsupported("the relay log: Ferry reads the source's binlog directly".into()).into()
}

#[utoipa::path(get, path = "/api/v1/sources/{source}/schemas", tag = "source", params(("source" = String, Path, description = "source name")), responses((status = 200, description = "schema names", body = Vec<String>), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn schemas(state: Shared, DmPath(name): DmPath<String>) -> ApiResult<Json<Vec<String>>> {
    let source = state.dm.source(&name)?;
    let ep = open(&state, &source).await?;
    let names = Catalog::load_schema_names(&ep).await;
    ep.close().await;
    names
        .map(Json)
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))
}

#[utoipa::path(get, path = "/api/v1/sources/{source}/schemas/{schema}", tag = "source", params(("source" = String, Path, description = "source name"), ("schema" = String, Path, description = "schema name")), responses((status = 200, description = "table names", body = Vec<String>), (status = 400, description = "failed", body = ErrorWithMessage)))]
pub async fn tables(
    state: Shared,
    DmPath((name, schema)): DmPath<(String, String)>,
) -> ApiResult<Json<Vec<String>>> {
    let source = state.dm.source(&name)?;
    let ep = open(&state, &source).await?;
    let names = table_names(&ep, &schema).await;
    ep.close().await;
    names.map(Json)
}

/// The tables of one schema (404 when the schema does not exist).
pub async fn table_names(ep: &Endpoint, schema: &str) -> ApiResult<Vec<String>> {
    let schemas = Catalog::load_schema_names(ep)
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    if !schemas.iter().any(|s| s == schema) {
        return Err(DmError::NotFound {
            kind: "schema",
            name: schema.to_string(),
        }
        .into());
    }
    let catalog = Catalog::load(ep, |s| s == schema)
        .await
        .map_err(|e| ApiError::engine(StatusCode::BAD_REQUEST, &e))?;
    Ok(catalog.tables.iter().map(|t| t.name.clone()).collect())
}
