//! The admin API: `/health`, `/ready`, `/metrics` (Prometheus text format) and
//! `/pipelines[/{name}]` (JSON status, with each file's last reload), and `POST /reload`
//! (read the pipeline directory again, answer what changed). With a token set, every endpoint but `/health`
//! and `/ready` (the probes) wants `Authorization: Bearer <token>`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::metrics::{Entry, Hub, State as PipelineState};

#[derive(Clone)]
struct Shared {
    hub: Arc<Hub>,
    token: Option<String>,
}

pub fn router(hub: Arc<Hub>, token: Option<String>) -> Router {
    let shared = Shared { hub, token };
    let guarded = Router::new()
        .route("/metrics", get(metrics))
        .route("/pipelines", get(pipelines))
        .route("/pipelines/{name}", get(pipeline))
        .route("/reload", post(reload))
        .route_layer(middleware::from_fn_with_state(shared.clone(), authorize));
    Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/ready", get(ready))
        .merge(guarded)
        .with_state(shared)
}

async fn authorize(
    State(s): State<Shared>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &s.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.is_none_or(|g| !constant_time_eq(g.as_bytes(), token.as_bytes())) {
            let body =
                json!({"error": "a bearer token is required (Authorization: Bearer <token>)"});
            return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        }
    }
    next.run(request).await
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 200 when every pipeline is running, standing by for its lease, or has finished;
/// 503, with the reasons, when one is still starting, has failed, or a pipeline file
/// was refused.
async fn ready(State(s): State<Shared>) -> Response {
    let mut waiting = Vec::new();
    for (name, entry) in s.hub.pipelines() {
        let Some(status) = entry.metrics.status() else {
            continue;
        };
        if !matches!(
            status.state,
            PipelineState::Running | PipelineState::Standby | PipelineState::Finished
        ) {
            waiting
                .push(json!({"pipeline": name, "state": status.state, "error": status.last_error}));
        }
    }
    for (file, errors) in s.hub.refused() {
        waiting.push(json!({"file": file, "state": "invalid", "error": errors}));
    }
    if waiting.is_empty() {
        (StatusCode::OK, axum::Json(json!({"ready": true}))).into_response()
    } else {
        let body = json!({"ready": false, "pipelines": waiting});
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
    }
}

async fn metrics(State(s): State<Shared>) -> Response {
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], s.hub.encode()).into_response()
}

async fn pipelines(State(s): State<Shared>) -> axum::Json<Value> {
    let list: Vec<Value> = s
        .hub
        .pipelines()
        .iter()
        .map(|(name, entry)| describe(&s.hub, name, entry))
        .collect();
    let refused: Vec<Value> = s
        .hub
        .refused()
        .into_iter()
        .map(|(file, errors)| json!({"file": file, "errors": errors}))
        .collect();
    axum::Json(json!({"pipelines": list, "invalid_files": refused}))
}

async fn pipeline(State(s): State<Shared>, Path(name): Path<String>) -> Response {
    match s.hub.pipelines().get(&name) {
        Some(entry) => axum::Json(describe(&s.hub, &name, entry)).into_response(),
        None => {
            let body = json!({"error": format!("no pipeline `{name}`")});
            (StatusCode::NOT_FOUND, axum::Json(body)).into_response()
        }
    }
}

/// A pipeline's status as JSON. Settings and secrets are not in it: the file is named
/// and identified by its digest.
fn describe(hub: &Hub, name: &str, entry: &Entry) -> Value {
    let status = entry.metrics.status();
    let (buffered, open, freshness) = entry.metrics.gauges();
    json!({
        "name": name,
        "file": entry.file,
        "config_digest": entry.digest,
        "state": status.as_ref().map(|s| s.state),
        "last_error": status.as_ref().and_then(|s| s.last_error.clone()),
        "positions": status.as_ref().map(|s| &s.positions),
        "lag_seconds": status.as_ref().map(|s| &s.lag_seconds),
        "freshness_seconds": freshness,
        "buffered_bytes": buffered,
        "open_prefixes": open,
        "last_flush": status.as_ref().and_then(|s| s.last_flush.clone()),
        // State in a local directory has no lease.
        "lease": status.as_ref().and_then(|s| s.lease.clone()),
        // A refused change names its file, line, key and reason here.
        "last_reload": hub.last_reload(&entry.file),
    })
}

/// Reads the pipeline directory again, as SIGHUP does, and answers what changed: 200,
/// or 422 when a change was refused (the previous version of that pipeline runs on).
async fn reload(State(s): State<Shared>) -> Response {
    let answered = s.hub.request_reload();
    // A reload drains the pipelines it replaces: that can take a flush to the store.
    match tokio::time::timeout(std::time::Duration::from_secs(300), answered).await {
        Ok(Ok(summary)) => {
            let code = if summary.failed() {
                StatusCode::UNPROCESSABLE_ENTITY
            } else {
                StatusCode::OK
            };
            (code, axum::Json(summary)).into_response()
        }
        Ok(Err(_)) => {
            let body = json!({"error": "this daemon does not reload: it runs with --once"});
            (StatusCode::CONFLICT, axum::Json(body)).into_response()
        }
        Err(_) => {
            let body = json!({"error": "the reload did not finish within 300 s; see the log and GET /pipelines"});
            (StatusCode::GATEWAY_TIMEOUT, axum::Json(body)).into_response()
        }
    }
}
