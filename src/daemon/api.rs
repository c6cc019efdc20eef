//! The JSON API: routing and handlers. Every failure is a JSON `{"error": "..."}` with a 4xx
//! or 5xx status; nothing a request carries can panic a handler.

use super::metrics::Metrics;
use crate::render;
use crate::service::local::LocalRuns;
use crate::service::types::{
    Action, ControlBody, ControlRequest, PlanReply, ResumeRequest, RunReply, SpecRequest,
    API_VERSION,
};
use crate::service::{ErrorKind, Runs, ServiceError};
use bytes::Bytes;
use failback_engine::planner::Plan;
use failback_engine::{valid_run_id, Engine, EngineError};
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub struct AppState {
    pub engine: Engine,
    /// The verbs' implementation over the engine: every `/v1` handler calls it.
    pub runs: LocalRuns,
    pub metrics: Arc<Metrics>,
    /// Why writes are refused (a foreground `apply` serves reads only); `None`: a daemon.
    pub read_only: Option<String>,
}

impl AppState {
    pub fn new(runs: LocalRuns, metrics: Arc<Metrics>) -> Self {
        Self {
            engine: runs.engine().clone(),
            runs,
            metrics,
            read_only: None,
        }
    }

    /// Refuse every request that would change a run, saying `why`.
    pub fn read_only(mut self, why: String) -> Self {
        self.read_only = Some(why);
        self
    }

    fn writable(&self) -> Result<(), ApiError> {
        match &self.read_only {
            Some(why) => Err(ApiError::Conflict(why.clone())),
            None => Ok(()),
        }
    }
}

/// A response before it becomes HTTP.
pub struct Reply {
    status: StatusCode,
    content_type: &'static str,
    body: Bytes,
}

impl Reply {
    pub fn json(status: StatusCode, value: &Value) -> Self {
        let mut body = value.to_string().into_bytes();
        body.push(b'\n');
        Self {
            status,
            content_type: "application/json",
            body: body.into(),
        }
    }
    pub fn ok(value: Value) -> Self {
        Self::json(StatusCode::OK, &value)
    }
    pub fn error(status: StatusCode, message: &str) -> Self {
        Self::json(status, &json!({ "error": message }))
    }
    pub fn text(content_type: &'static str, body: String) -> Self {
        Self {
            status: StatusCode::OK,
            content_type,
            body: body.into(),
        }
    }
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(self.body));
        *resp.status_mut() = self.status;
        resp.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(self.content_type),
        );
        resp
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("method {0} is not allowed on this path")]
    Method(Method),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let msg = e.message;
        match e.kind {
            ErrorKind::BadRequest => Self::BadRequest(msg),
            ErrorKind::NotFound => Self::NotFound(msg),
            ErrorKind::Conflict => Self::Conflict(msg),
            ErrorKind::Unavailable => Self::Unavailable(msg),
            ErrorKind::Internal | ErrorKind::Transport => Self::Internal(msg),
        }
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        ServiceError::from(e).into()
    }
}

impl From<failback_state::StoreError> for ApiError {
    fn from(e: failback_state::StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

type ApiResult = Result<Reply, ApiError>;

pub async fn handle(
    state: &AppState,
    method: &Method,
    path: &str,
    query: &str,
    body: Bytes,
) -> Reply {
    let query: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    match route(state, method, path, &query, &body).await {
        Ok(r) => r,
        Err(e) => {
            if e.status().is_server_error() {
                tracing::error!(%method, path, error = %e, "API request failed");
            }
            Reply::error(e.status(), &e.to_string())
        }
    }
}

async fn route(
    state: &AppState,
    method: &Method,
    path: &str,
    q: &HashMap<String, String>,
    body: &Bytes,
) -> ApiResult {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = method == Method::GET;
    let post = method == Method::POST;
    match segs.as_slice() {
        [""] if get => Ok(Reply::text(
            "text/html; charset=utf-8",
            super::page::index(&state.engine)?,
        )),
        ["metrics"] if get => Ok(Reply::text(
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(&state.engine),
        )),
        ["v1", "health"] if get => Ok(health(state)),
        ["v1", "runs"] if get => list(state, q).await,
        ["v1", "runs"] if post => submit(state, body).await,
        ["v1", "plan"] if post => plan_new(state, body).await,
        ["v1", "resume"] if post => resume(state, body).await,
        ["v1", "runs", id, rest @ ..] => {
            if !valid_run_id(id) {
                return Err(EngineError::InvalidRunId((*id).to_owned()).into());
            }
            match rest {
                [] if get => get_run(state, id).await,
                ["history"] if get => history(state, id, q).await,
                ["graph"] if get => graph(state, id, q).await,
                ["plan"] if get => plan_run(state, id, q).await,
                [action] if post => control(state, id, action, body).await,
                [] | ["history" | "graph" | "plan"] => Err(ApiError::Method(method.clone())),
                _ => Err(ApiError::NotFound(format!("no such path: {path}"))),
            }
        }
        [""] | ["metrics"] | ["v1", "health" | "runs" | "plan" | "resume"] => {
            Err(ApiError::Method(method.clone()))
        }
        _ => Err(ApiError::NotFound(format!("no such path: {path}"))),
    }
}

/// 200 while the engine drives; 503 naming the cause once it cannot (a failed store write, a
/// dead driver or timer task, a stalled scheduler).
fn health(state: &AppState) -> Reply {
    let h = state.engine.health();
    let status = if h.healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "healthy": h.healthy,
        "pid": std::process::id(),
        "version": env!("CARGO_PKG_VERSION"),
        "active_runs": state.engine.active_runs(),
        "scheduled_runs": state.engine.scheduled_runs(),
    });
    if let (Some(cause), Some(message)) = (h.cause, h.message) {
        body["cause"] = json!(cause);
        body["error"] = json!(message);
    }
    Reply::json(status, &body)
}

/// An empty body is `{}`; unknown fields are refused so typos do not pass silently.
fn parse_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
}

fn flag(q: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match q.get(name).map(String::as_str) {
        None | Some("false" | "0") => Ok(false),
        Some("" | "true" | "1") => Ok(true),
        Some(v) => Err(ApiError::BadRequest(format!(
            "{name}={v}: expected true or false"
        ))),
    }
}

fn num(q: &HashMap<String, String>, name: &str) -> Result<u64, ApiError> {
    q.get(name).map_or(Ok(0), |v| {
        v.parse()
            .map_err(|_| ApiError::BadRequest(format!("{name}={v}: expected a number")))
    })
}

fn reply<T: Serialize>(status: StatusCode, v: &T) -> ApiResult {
    let v = serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Reply::json(status, &v))
}

async fn list(state: &AppState, q: &HashMap<String, String>) -> ApiResult {
    let l = state.runs.list(q.get("state").map(String::as_str)).await?;
    reply(StatusCode::OK, &l)
}

async fn get_run(state: &AppState, id: &str) -> ApiResult {
    reply(StatusCode::OK, &state.runs.status(id).await?)
}

/// Events with `seq >= after`. With `wait_ms`, a long poll: answers as soon as there is such
/// an event or the run is finished, or when the wait is over.
async fn history(state: &AppState, id: &str, q: &HashMap<String, String>) -> ApiResult {
    let (after, wait) = (num(q, "after")?, num(q, "wait_ms")?);
    reply(StatusCode::OK, &state.runs.history(id, after, wait).await?)
}

/// The DAG with live status, rendered (`format=dot|mermaid`).
async fn graph(state: &AppState, id: &str, q: &HashMap<String, String>) -> ApiResult {
    let format = q.get("format").map_or("dot", String::as_str);
    if !matches!(format, "dot" | "mermaid") {
        return Err(ApiError::BadRequest(format!(
            "format={format}: expected dot or mermaid"
        )));
    }
    let s = state.runs.status(id).await?;
    let text = if format == "dot" {
        render::graph::graph_dot(&s.steps, &s.edges)
    } else {
        render::graph::graph_mermaid(&s.steps, &s.edges)
    };
    Ok(Reply::ok(json!({ "format": format, "text": text })))
}

fn plan_reply(plan: Plan) -> ApiResult {
    let (blocked, no_changes) = (plan.blocked(), plan.no_changes());
    reply(
        StatusCode::OK,
        &PlanReply {
            api_version: API_VERSION,
            plan,
            blocked,
            no_changes,
        },
    )
}

async fn plan_run(state: &AppState, id: &str, q: &HashMap<String, String>) -> ApiResult {
    plan_reply(state.runs.plan_run(id, flag(q, "offline")?).await?)
}

async fn plan_new(state: &AppState, body: &Bytes) -> ApiResult {
    let req: SpecRequest = parse_body(body)?;
    plan_reply(state.runs.plan_new(&req).await?)
}

async fn submit(state: &AppState, body: &Bytes) -> ApiResult {
    state.writable()?;
    let req: SpecRequest = parse_body(body)?;
    let run = state.runs.submit(&req).await?;
    reply(
        StatusCode::CREATED,
        &RunReply {
            api_version: API_VERSION,
            run,
        },
    )
}

async fn resume(state: &AppState, body: &Bytes) -> ApiResult {
    state.writable()?;
    let req: ResumeRequest = parse_body(body)?;
    reply(StatusCode::OK, &state.runs.resume(&req).await?)
}

async fn control(state: &AppState, id: &str, action: &str, body: &Bytes) -> ApiResult {
    let action = Action::from_name(action)
        .ok_or_else(|| ApiError::NotFound(format!("no such action: {action}")))?;
    state.writable()?;
    let body: ControlBody = parse_body(body)?;
    let run = state
        .runs
        .control(id, &ControlRequest { action, body })
        .await?;
    reply(
        StatusCode::OK,
        &RunReply {
            api_version: API_VERSION,
            run,
        },
    )
}
