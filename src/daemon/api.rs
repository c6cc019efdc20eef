//! The JSON API's handlers, one per endpoint, and its errors (the extractors they take are in
//! `extract`, the routes and layers in `router`). Every failure is a JSON `{"error": "..."}` with a 4xx or 5xx
//! status; nothing a request carries can panic a handler.

use super::extract::{flag, JsonBody, RunId, Q};
use super::limits::BODY_TIMEOUT;
use super::metrics::Metrics;
use super::MAX_BODY;
use crate::render;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use failback_engine::planner::{self, Plan};
use failback_engine::{valid_run_id, Engine, EngineError};
use failback_state::{RunFilter, RunRecord, RunState, StoreError};
use failback_workflows::failback::{run_input, WORKFLOW};
use failback_workflows::spec;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Longest a history long-poll may wait.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub struct AppState {
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    pub fn new(engine: Engine, metrics: Arc<Metrics>) -> Self {
        Self { engine, metrics }
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
    fn status(&self) -> StatusCode {
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

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let msg = e.to_string();
        match e {
            EngineError::InvalidRunId(_) | EngineError::UnknownStep { .. } => Self::BadRequest(msg),
            EngineError::RunNotFound(_) => Self::NotFound(msg),
            EngineError::InvalidState { .. } | EngineError::Quarantined(_) => Self::Conflict(msg),
            EngineError::ShuttingDown => Self::Unavailable(msg),
            EngineError::Store(e) => e.into(),
            _ => Self::Internal(msg),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::RunNotFound(_) => Self::NotFound(e.to_string()),
            // Two creates of one id: the store's check under its create lock decides.
            StoreError::RunExists(id) => Self::Conflict(format!("run {id} exists already")),
            StoreError::Closed | StoreError::WriteFailed(_) => Self::Unavailable(e.to_string()),
            _ => Self::Internal(e.to_string()),
        }
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
    if let (Some(cause), Some(message)) = (h.cause, h.message) {
        body["cause"] = json!(cause);
        body["error"] = json!(message);
    }
    Reply::json(status, &body)
}

fn load_run(engine: &Engine, id: &str) -> Result<RunRecord, ApiError> {
    engine
        .store()
        .load_run(id)?
        .ok_or_else(|| ApiError::NotFound(format!("run {id} not found")))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    state: Option<String>,
}

/// `GET /v1/runs[?state=S]`: run summaries.
pub async fn list(State(state): App, Q(q): Q<ListQuery>) -> ApiResult {
    let states = match &q.state {
        None => Vec::new(),
        Some(s) => vec![RunState::from_name(s)
            .ok_or_else(|| ApiError::BadRequest(format!("unknown run state {s:?}")))?],
    };
    let runs = state.engine.store().run_summaries(&RunFilter { states })?;
    Ok(Reply::ok(json!({
        "runs": to_value(&runs)?,
        "now": state.engine.clock().now(),
    })))
}

/// `GET /v1/runs/{id}`: the run and its steps.
pub async fn get_run(State(state): App, RunId(id): RunId) -> ApiResult {
    let run = load_run(&state.engine, &id)?;
    let steps = state.engine.store().load_steps(&id)?;
    Ok(Reply::ok(json!({
        "run": to_value(&run)?,
        "steps": to_value(&steps)?,
        "now": state.engine.clock().now(),
    })))
}

fn terminal(r: &RunRecord) -> bool {
    matches!(
        r.state,
        RunState::Succeeded | RunState::Failed | RunState::Cancelled
    )
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
    let after = q.after;
    let wait = Duration::from_millis(q.wait_ms).min(MAX_WAIT);
    let mut run = load_run(&state.engine, &id)?;
    if !wait.is_zero() && run.next_event_seq <= after && !terminal(&run) {
        let ready = |r: &RunRecord| r.next_event_seq > after || terminal(r);
        if let Ok(r) = tokio::time::timeout(wait, state.engine.wait_for(&id, ready)).await {
            run = r?;
        }
    }
    // The run is read before its events, so the events cover at least its state.
    let events: Vec<_> = state
        .engine
        .store()
        .history(&id)?
        .into_iter()
        .filter(|e| e.seq >= after)
        .collect();
    let next = events.last().map_or(after, |e| e.seq + 1);
    Ok(Reply::ok(json!({
        "run": to_value(&run)?,
        "events": to_value(&events)?,
        "next": next,
    })))
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

/// `GET /v1/runs/{id}/graph[?format=dot|mermaid]`: the run's DAG with its steps' states.
pub async fn graph(State(state): App, RunId(id): RunId, Q(q): Q<GraphQuery>) -> ApiResult {
    let run = load_run(&state.engine, &id)?;
    let def = state.engine.registry().build(
        &run.workflow,
        run.definition_version,
        &run.id,
        &run.input,
    )?;
    let steps = state.engine.store().load_steps(&id)?;
    let edges = def.edges();
    let (format, text) = match q.format {
        GraphFormat::Dot => ("dot", render::graph::graph_dot(&steps, &edges)),
        GraphFormat::Mermaid => ("mermaid", render::graph::graph_mermaid(&steps, &edges)),
    };
    Ok(Reply::ok(json!({ "format": format, "text": text })))
}

fn plan_reply(plan: &Plan, color: bool) -> ApiResult {
    let as_json: Value = serde_json::from_str(&render::plan::plan_json(plan))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Reply::ok(json!({
        "run_id": plan.run_id,
        "blocked": plan.blocked(),
        "no_changes": plan.no_changes(),
        "plan": as_json,
        "text": render::plan::plan_text(plan, color),
        "dot": render::plan::plan_dot(plan),
        "mermaid": render::plan::plan_mermaid(plan),
    })))
}

#[derive(Debug, Deserialize)]
pub struct PlanQuery {
    #[serde(default, deserialize_with = "flag")]
    offline: bool,
    #[serde(default, deserialize_with = "flag")]
    color: bool,
}

/// `GET /v1/runs/{id}/plan[?offline&color]`: what the run would still do.
pub async fn plan_run(State(state): App, RunId(id): RunId, Q(q): Q<PlanQuery>) -> ApiResult {
    load_run(&state.engine, &id)?;
    let plan = planner::plan_run(
        state.engine.store(),
        state.engine.registry(),
        &id,
        q.offline,
    )
    .await?;
    plan_reply(&plan, q.color)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecRequest {
    spec_toml: Option<String>,
    /// With `spec_toml`: the name used in messages. Alone: an absolute path the daemon reads
    /// (relative secret files are then found next to it, as in the CLI).
    spec_path: Option<String>,
    run_id: Option<String>,
    #[serde(default)]
    offline: bool,
    #[serde(default)]
    color: bool,
}

impl SpecRequest {
    fn spec(&self) -> Result<spec::Spec, ApiError> {
        let parsed = match (&self.spec_toml, &self.spec_path) {
            (Some(text), origin) => spec::parse(text, origin.as_deref().unwrap_or("request")),
            (None, Some(path)) => {
                let path = std::path::Path::new(path);
                if !path.is_absolute() {
                    return Err(ApiError::BadRequest(
                        "spec_path must be absolute (or send spec_toml)".into(),
                    ));
                }
                spec::load(path)
            }
            (None, None) => {
                return Err(ApiError::BadRequest(
                    "spec_toml or spec_path is required".into(),
                ))
            }
        };
        parsed.map_err(|errs| ApiError::BadRequest(format!("the spec is not valid:\n{errs}")))
    }

    fn run_id(&self) -> Result<String, ApiError> {
        let id = self
            .run_id
            .clone()
            .unwrap_or_else(crate::context::new_run_id);
        if !valid_run_id(&id) {
            return Err(EngineError::InvalidRunId(id).into());
        }
        Ok(id)
    }
}

/// `POST /v1/plan`: the plan of a new run of a spec.
pub async fn plan_new(State(state): App, JsonBody(req): JsonBody<SpecRequest>) -> ApiResult {
    let spec = req.spec()?;
    let id = req.run_id()?;
    let plan = planner::plan_new(
        state.engine.registry(),
        WORKFLOW,
        &id,
        run_input(&spec),
        req.offline,
    )
    .await?;
    plan_reply(&plan, req.color)
}

/// `POST /v1/runs`: create a run of a spec and start it (201).
pub async fn submit(State(state): App, JsonBody(req): JsonBody<SpecRequest>) -> ApiResult {
    let spec = req.spec()?;
    let id = req.run_id()?;
    if state.engine.store().load_run(&id)?.is_some() {
        return Err(ApiError::Conflict(format!("run {id} exists already")));
    }
    let mut labels = BTreeMap::new();
    labels.insert(
        "spec".to_owned(),
        req.spec_path.clone().unwrap_or_else(|| "api".into()),
    );
    let run = state
        .engine
        .submit(WORKFLOW, &id, run_input(&spec), labels)
        .await?;
    Ok(Reply::json(
        StatusCode::CREATED,
        &json!({ "run": to_value(&run)? }),
    ))
}

/// The body of `POST /v1/runs/{id}/ACTION` (every action takes the same fields).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlRequest {
    #[serde(default)]
    teardown: bool,
    signal: Option<String>,
    from: Option<String>,
    /// `retry` with an amended input (`failback retry --spec`).
    amend: Option<AmendRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AmendRequest {
    /// The new run input; the daemon computes (and records) the changes itself.
    input: Value,
}

/// The daemon does not trust a client's amendment: the same rules as the CLI's, on the stored
/// run, and the changes recorded are the ones it computes.
fn checked_amendment(
    engine: &Engine,
    id: &str,
    a: AmendRequest,
) -> Result<failback_engine::Amendment, ApiError> {
    use crate::commands::amend::{diff, refusal};
    let run = load_run(engine, id)?;
    let bad = |e: EngineError| ApiError::BadRequest(e.to_string());
    let old = failback_workflows::failback::spec_of(&run.input).map_err(bad)?;
    let new = failback_workflows::failback::spec_of(&a.input).map_err(bad)?;
    let changes = diff(&old, &new);
    let refused: Vec<String> = changes
        .iter()
        .filter_map(|c| refusal(c, &old, id).map(|why| format!("{}: {why}", c.path)))
        .collect();
    if changes.is_empty() || !refused.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "run {id} not amended, nothing changed: {}",
            if changes.is_empty() {
                "no difference".to_owned()
            } else {
                refused.join("; ")
            }
        )));
    }
    Ok(failback_engine::Amendment {
        input: run_input(&new),
        changes: changes.iter().map(ToString::to_string).collect(),
    })
}

/// Signals a run understands.
pub const KNOWN_SIGNALS: [&str; 1] = [failback_steps::steps::await_failback::SIGNAL];

fn run_reply(run: &RunRecord) -> ApiResult {
    Ok(Reply::ok(json!({ "run": to_value(run)? })))
}

/// `POST /v1/runs/{id}/cancel` `{"teardown": bool}`.
pub async fn cancel(
    State(state): App,
    RunId(id): RunId,
    JsonBody(req): JsonBody<ControlRequest>,
) -> ApiResult {
    run_reply(&state.engine.cancel(&id, req.teardown).await?)
}

/// `POST /v1/runs/{id}/retry` `{"from": STEP, "amend": {"input": …}}`.
pub async fn retry(
    State(state): App,
    RunId(id): RunId,
    JsonBody(req): JsonBody<ControlRequest>,
) -> ApiResult {
    let e = &state.engine;
    let amend = match req.amend {
        Some(a) => Some(checked_amendment(e, &id, a)?),
        None => None,
    };
    run_reply(&e.retry_amended(&id, req.from.as_deref(), amend).await?)
}

/// `POST /v1/runs/{id}/pause`.
pub async fn pause(
    State(state): App,
    RunId(id): RunId,
    JsonBody(_): JsonBody<ControlRequest>,
) -> ApiResult {
    run_reply(&state.engine.pause(&id).await?)
}

/// `POST /v1/runs/{id}/resume`.
pub async fn resume(
    State(state): App,
    RunId(id): RunId,
    JsonBody(_): JsonBody<ControlRequest>,
) -> ApiResult {
    run_reply(&state.engine.unpause(&id).await?)
}

/// `POST /v1/runs/{id}/signal` `{"signal": NAME}`.
pub async fn signal(
    State(state): App,
    RunId(id): RunId,
    JsonBody(req): JsonBody<ControlRequest>,
) -> ApiResult {
    let name = req
        .signal
        .ok_or_else(|| ApiError::BadRequest("\"signal\" is required".into()))?;
    if !KNOWN_SIGNALS.contains(&name.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "unknown signal {name:?}; known: {}",
            KNOWN_SIGNALS.join(", ")
        )));
    }
    run_reply(&state.engine.signal(&id, &name).await?)
}
