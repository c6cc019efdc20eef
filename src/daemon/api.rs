//! The JSON API's handlers, one per endpoint, and its errors (the extractors they take are in
//! `extract`, the routes and layers in `router`). Every failure is a JSON `{"error": "..."}` with a 4xx or 5xx
//! status; nothing a request carries can panic a handler.

use super::extract::{flag, JsonBody, RunId, Q};
use super::limits::BODY_TIMEOUT;
use super::metrics::Metrics;
use super::MAX_BODY;
use crate::service::local::LocalRuns;
use crate::service::types::{
    Action, ControlBody, ControlRequest, PlanReply, ResumeRequest, RunReply, SpecRequest,
    API_VERSION,
};
use crate::service::{ErrorKind, Runs, ServiceError};
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use failback_engine::planner::Plan;
use failback_engine::{Engine, EngineError};
use failback_state::StoreError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

pub struct AppState {
    pub engine: Engine,
    /// The verbs' implementation over the engine: every `/v1` handler calls it.
    pub runs: LocalRuns,
    pub metrics: Arc<Metrics>,
    /// Why writes are refused (a foreground `apply` serves reads only); `None`: a daemon.
    pub read_only: Option<String>,
    /// The browser console's sessions and login links.
    pub console: Arc<super::ui::Console>,
}

impl AppState {
    pub fn new(runs: LocalRuns, metrics: Arc<Metrics>) -> Self {
        Self {
            engine: runs.engine().clone(),
            runs,
            metrics,
            read_only: None,
            console: Arc::default(),
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

/// What every handler is given.
type App = State<Arc<AppState>>;

/// A response: JSON (with a trailing newline), HTML or text.
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
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let content_type = [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        )];
        (self.status, content_type, self.body).into_response()
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
    #[error("request body larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("the body did not arrive within {} s", BODY_TIMEOUT.as_secs())]
    BodyTimeout,
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Method(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A 5xx answer's cause, for the router's log line (which knows the method and path).
#[derive(Debug, Clone)]
pub struct ServerError(pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.to_string();
        let mut resp = Reply::error(status, &message).into_response();
        if status.is_server_error() {
            resp.extensions_mut().insert(ServerError(message));
        }
        resp
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

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServiceError::from(e).into()
    }
}

type ApiResult = Result<Reply, ApiError>;

/// Any path no route has.
pub async fn no_such_path(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no such path: {}", uri.path()))
}

/// A path that exists, with a method it does not take.
pub async fn wrong_method(method: Method) -> ApiError {
    ApiError::Method(method)
}

/// `GET /`: the status page.
pub async fn index(State(s): App) -> ApiResult {
    Ok(Reply::text(
        "text/html; charset=utf-8",
        super::page::index(&s.engine)?,
    ))
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(s): App) -> Reply {
    Reply::text(
        "text/plain; version=0.0.4; charset=utf-8",
        s.metrics.render(&s.engine),
    )
}

/// 200 while the engine drives; 503 naming the cause once it cannot (a failed store write, a
/// dead driver or timer task, a stalled scheduler).
pub async fn health(State(state): App) -> Reply {
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
    let store = state.engine.store();
    if let Some(lease) = store.raw().lease() {
        // A store shared with other daemons: the runs this one holds the fence of, and the
        // daemons it shares the runs with, itself included (as of its last listing).
        body["shared_store"] = json!({
            "lease_secs": lease.as_secs(),
            "owned_runs": store.owned_runs().len(),
            "live_daemons": store.membership().map_or(1, |m| m.live),
        });
    }
    if let (Some(cause), Some(message)) = (h.cause, h.message) {
        body["cause"] = json!(cause);
        body["error"] = json!(message);
    }
    Reply::json(status, &body)
}

fn reply<T: Serialize>(status: StatusCode, v: &T) -> ApiResult {
    let v = serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Reply::json(status, &v))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
}

/// `GET /v1/runs[?state=S]`: run summaries.
pub async fn list(State(state): App, Q(q): Q<ListQuery>) -> ApiResult {
    reply(StatusCode::OK, &state.runs.list(q.state.as_deref()).await?)
}

/// `GET /v1/runs/{id}`: the run, its steps and its DAG's edges.
pub async fn get_run(State(state): App, RunId(id): RunId) -> ApiResult {
    reply(StatusCode::OK, &state.runs.status(&id).await?)
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_ms: u64,
}

/// `GET /v1/runs/{id}/history[?after=N&wait_ms=M]`: events with `seq >= after`. With
/// `wait_ms`, a long poll: answers as soon as there is such an event or the run is finished,
/// or when the wait is over.
pub async fn history(State(state): App, RunId(id): RunId, Q(q): Q<HistoryQuery>) -> ApiResult {
    let page = state.runs.history(&id, q.after, q.wait_ms).await?;
    reply(StatusCode::OK, &page)
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum GraphFormat {
    #[default]
    Dot,
    Mermaid,
}

#[derive(Debug, Deserialize)]
pub struct GraphQuery {
    #[serde(default)]
    format: GraphFormat,
}

/// `GET /v1/runs/{id}/graph[?format=dot|mermaid]`: the run's DAG with its steps' states,
/// rendered (for the page and tools; the CLI renders `GET /v1/runs/{id}` itself).
pub async fn graph(State(state): App, RunId(id): RunId, Q(q): Q<GraphQuery>) -> ApiResult {
    let s = state.runs.status(&id).await?;
    let (format, text) = match q.format {
        GraphFormat::Dot => ("dot", crate::render::graph::graph_dot(&s.steps, &s.edges)),
        GraphFormat::Mermaid => (
            "mermaid",
            crate::render::graph::graph_mermaid(&s.steps, &s.edges),
        ),
    };
    Ok(Reply::ok(json!({ "format": format, "text": text })))
}

fn plan_reply(plan: Plan) -> ApiResult {
    let (blocked, no_changes) = (plan.blocked(), plan.no_changes());
    let r = PlanReply {
        api_version: API_VERSION,
        plan,
        blocked,
        no_changes,
    };
    reply(StatusCode::OK, &r)
}

#[derive(Debug, Deserialize)]
pub struct PlanQuery {
    #[serde(default, deserialize_with = "flag")]
    offline: bool,
}

/// `GET /v1/runs/{id}/plan[?offline]`: what the run has left to do.
pub async fn plan_run(State(state): App, RunId(id): RunId, Q(q): Q<PlanQuery>) -> ApiResult {
    plan_reply(state.runs.plan_run(&id, q.offline).await?)
}

/// `POST /v1/plan`: the dry run of a new run.
pub async fn plan_new(State(state): App, JsonBody(req): JsonBody<SpecRequest>) -> ApiResult {
    plan_reply(state.runs.plan_new(&req).await?)
}

/// `POST /v1/runs`: create a run (the daemon drives it).
pub async fn submit(State(state): App, JsonBody(req): JsonBody<SpecRequest>) -> ApiResult {
    state.writable()?;
    let run = state.runs.submit(&req).await?;
    let r = RunReply {
        api_version: API_VERSION,
        run,
    };
    reply(StatusCode::CREATED, &r)
}

/// `POST /v1/resume`: unpause the named runs; name the unfinished ones to follow.
pub async fn resume_runs(State(state): App, JsonBody(req): JsonBody<ResumeRequest>) -> ApiResult {
    state.writable()?;
    reply(StatusCode::OK, &state.runs.resume(&req).await?)
}

async fn act(state: &AppState, id: &str, action: Action, body: ControlBody) -> ApiResult {
    state.writable()?;
    let run = state
        .runs
        .control(id, &ControlRequest { action, body })
        .await?;
    let r = RunReply {
        api_version: API_VERSION,
        run,
    };
    reply(StatusCode::OK, &r)
}

/// `POST /v1/runs/{id}/cancel` `{"teardown"}`.
pub async fn cancel(
    State(s): App,
    RunId(id): RunId,
    JsonBody(b): JsonBody<ControlBody>,
) -> ApiResult {
    act(&s, &id, Action::Cancel, b).await
}

/// `POST /v1/runs/{id}/retry` `{"from", "amend": {"input"}}`.
pub async fn retry(
    State(s): App,
    RunId(id): RunId,
    JsonBody(b): JsonBody<ControlBody>,
) -> ApiResult {
    act(&s, &id, Action::Retry, b).await
}

/// `POST /v1/runs/{id}/pause`.
pub async fn pause(
    State(s): App,
    RunId(id): RunId,
    JsonBody(b): JsonBody<ControlBody>,
) -> ApiResult {
    act(&s, &id, Action::Pause, b).await
}

/// `POST /v1/runs/{id}/resume` (unpause).
pub async fn resume(
    State(s): App,
    RunId(id): RunId,
    JsonBody(b): JsonBody<ControlBody>,
) -> ApiResult {
    act(&s, &id, Action::Resume, b).await
}

/// `POST /v1/runs/{id}/signal` `{"signal"}`.
pub async fn signal(
    State(s): App,
    RunId(id): RunId,
    JsonBody(b): JsonBody<ControlBody>,
) -> ApiResult {
    act(&s, &id, Action::Signal, b).await
}
