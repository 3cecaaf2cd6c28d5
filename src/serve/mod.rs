//! `ferry serve`: TiDB DM's OpenAPI (v1) over Ferry's engine, so what automates
//! DM can drive Ferry. Sources and tasks are DM's resources; a task is an ordinary
//! job profile (the wizard and `ferry status` see it), run by this process.
//!
//! Every answer that is not a success carries DM's error body
//! `{"error_msg", "error_code"}`; a request with a bad body, path or method gets a
//! 4xx, never a 500 or a dropped connection.

mod api;
mod cluster;
mod runs;
mod sources;
mod tasks;
mod templates;
mod tls;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use ferry::dm::model;
use ferry::dm::store::DmStore;
use ferry::profile::ProfileStore;
use utoipa::OpenApi;

use api::ApiError;

/// Request bodies above this are refused (a task is a few KiB).
const BODY_LIMIT: usize = 1 << 20;

pub struct Server {
    pub profiles: ProfileStore,
    pub dm: DmStore,
    pub runs: runs::Runs,
    /// The address clients reach this node at (cluster info).
    pub addr: String,
    token: Option<String>,
}

type Shared = State<Arc<Server>>;

/// Serves until the process is stopped. `token`: the bearer token every request
/// must carry (required off loopback); `tls`: certificate and key files for HTTPS.
pub async fn serve(
    listen: SocketAddr,
    token: Option<String>,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
) -> Result<(), String> {
    let profiles = ProfileStore::user().map_err(|e| e.to_string())?;
    let server = Arc::new(Server {
        dm: DmStore::beside(&profiles),
        profiles,
        runs: runs::Runs::default(),
        addr: listen.to_string(),
        token,
    });
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let runs = server.runs.clone();
    let app = router(server);
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let acceptor = match &tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key)?),
        None => None,
    };
    // The line scripts wait for: the port is open.
    let scheme = if acceptor.is_some() { "https" } else { "http" };
    let _ = writeln!(
        std::io::stdout(),
        "ferry serve: DM OpenAPI on {scheme}://{local}/api/v1"
    );
    // Two calls: the plain and the TLS listener are different types.
    let served = match acceptor {
        Some(acceptor) => {
            let listener = tls::TlsListener::new(listener, acceptor).map_err(|e| e.to_string())?;
            axum::serve(listener, app)
                .with_graceful_shutdown(interrupted)
                .await
        }
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(interrupted)
                .await
        }
    };
    // Ctrl-C: the tasks running here pause with their checkpoints, as `ferry run`
    // does, so a later start resumes them.
    let paused = runs.pause_all();
    if paused > 0 {
        // Whoever started the server may have stopped reading its output.
        let _ = writeln!(
            std::io::stderr(),
            "ferry serve: pausing {}…",
            ferry::wording::count(paused, "running task", "running tasks")
        );
        runs.wait_idle(std::time::Duration::from_secs(120)).await;
    }
    served.map_err(|e| e.to_string())
}

fn router(server: Arc<Server>) -> Router {
    let api = Router::new()
        .route("/sources", get(sources::list).post(sources::create))
        .route(
            "/sources/{source}",
            get(sources::get)
                .put(sources::update)
                .delete(sources::delete),
        )
        .route("/sources/{source}/status", get(sources::status))
        .route("/sources/{source}/enable", post(sources::enable))
        .route("/sources/{source}/disable", post(sources::disable))
        .route("/sources/{source}/transfer", post(sources::no_workers))
        .route("/sources/{source}/relay/{action}", post(sources::no_relay))
        .route("/sources/{source}/schemas", get(sources::schemas))
        .route("/sources/{source}/schemas/{schema}", get(sources::tables))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/converters", post(templates::convert))
        .route(
            "/tasks/templates",
            get(templates::list).post(templates::create),
        )
        .route("/tasks/templates/import", post(templates::import))
        .route(
            "/tasks/templates/{task}",
            get(templates::get)
                .put(templates::update)
                .delete(templates::delete),
        )
        .route(
            "/tasks/{task}",
            get(tasks::get).put(tasks::update).delete(tasks::delete),
        )
        .route("/tasks/{task}/start", post(tasks::start))
        .route("/tasks/{task}/stop", post(tasks::stop))
        .route("/tasks/{task}/rollback", post(tasks::rollback))
        .route("/tasks/{task}/release", post(tasks::release))
        .route("/tasks/{task}/status", get(tasks::status))
        .route(
            "/tasks/{task}/sources/{source}/migrate_targets",
            get(tasks::migrate_targets),
        )
        .route(
            "/tasks/{task}/sources/{source}/schemas",
            get(tasks::schemas),
        )
        .route(
            "/tasks/{task}/sources/{source}/schemas/{schema}",
            get(tasks::tables),
        )
        .route(
            "/tasks/{task}/sources/{source}/schemas/{schema}/{table}",
            get(tasks::table_structure)
                .put(tasks::set_table_structure)
                .delete(tasks::delete_table_structure),
        )
        .route("/cluster/info", get(cluster::info))
        .route("/cluster/masters", get(cluster::masters))
        .route("/cluster/workers", get(cluster::workers))
        .route("/dm.json", get(document))
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/api/v1", api)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(server.clone(), authorize))
        .with_state(server)
}

/// The OpenAPI document of this server, generated from the handlers'
/// annotations and the model's types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Ferry: TiDB DM OpenAPI",
        description = "DM's OpenAPI v1, served by `ferry serve` over Ferry's engine"
    ),
    paths(
        sources::list,
        sources::create,
        sources::get,
        sources::update,
        sources::delete,
        sources::status,
        sources::enable,
        sources::disable,
        sources::no_workers,
        sources::no_relay,
        sources::schemas,
        sources::tables,
        tasks::list,
        tasks::create,
        tasks::get,
        tasks::update,
        tasks::delete,
        tasks::start,
        tasks::stop,
        tasks::rollback,
        tasks::release,
        tasks::status,
        tasks::migrate_targets,
        tasks::schemas,
        tasks::tables,
        tasks::table_structure,
        tasks::set_table_structure,
        tasks::delete_table_structure,
        templates::convert,
        templates::list,
        templates::create,
        templates::get,
        templates::update,
        templates::delete,
        templates::import,
        cluster::info,
        cluster::masters,
        cluster::workers,
    ),
    components(schemas(
        model::ErrorWithMessage,
        model::Source,
        model::Task,
        model::SubTaskStatus
    ))
)]
struct Document;

async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    let mut doc = Document::openapi();
    doc.info.version = ferry::VERSION.to_string();
    axum::Json(doc)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        10002,
        "no such API path (see /api/v1/dm.json)",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        10000,
        "this method is not allowed on this path",
    )
}

/// With a token, every request must carry `Authorization: Bearer <token>`.
async fn authorize(State(server): Shared, req: Request, next: Next) -> Response {
    if let Some(token) = &server.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Compared in full whatever the first difference, so timing tells nothing.
        let ok = given.is_some_and(|g| {
            g.len() == token.len()
                && g.bytes()
                    .zip(token.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        });
        if !ok {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                10008,
                "this server needs its token: send Authorization: Bearer <token> (ferry serve --show-token prints it)",
            )
            .into_response();
        }
    }
    next.run(req).await
}
