//! The JSON API: routing and handlers. Every failure is a JSON `{"error": "..."}` with a 4xx
//! or 5xx status; nothing a request carries can panic a handler.

use super::metrics::Metrics;
use crate::render;
use bytes::Bytes;
use failback_engine::planner::{self, Plan};
use failback_engine::{valid_run_id, Engine, EngineError};
use failback_state::{RunFilter, RunRecord, RunState, StoreError};
use failback_workflows::failback::{run_input, WORKFLOW};
use failback_workflows::spec;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
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
        ["v1", "runs"] if get => list(state, q),
        ["v1", "runs"] if post => submit(state, body).await,
        ["v1", "plan"] if post => plan_new(state, body).await,
        ["v1", "runs", id, rest @ ..] => {
            if !valid_run_id(id) {
                return Err(EngineError::InvalidRunId((*id).to_owned()).into());
            }
            match rest {
                [] if get => get_run(state, id),
                ["history"] if get => history(state, id, q).await,
                ["graph"] if get => graph(state, id, q),
                ["plan"] if get => plan_run(state, id, q).await,
                [action] if post => control(state, id, action, body).await,
                [] | ["history" | "graph" | "plan"] => Err(ApiError::Method(method.clone())),
                _ => Err(ApiError::NotFound(format!("no such path: {path}"))),
            }
        }
        [""] | ["metrics"] | ["v1", "health" | "runs" | "plan"] => {
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

fn load_run(engine: &Engine, id: &str) -> Result<RunRecord, ApiError> {
    engine
        .store()
        .load_run(id)?
        .ok_or_else(|| ApiError::NotFound(format!("run {id} not found")))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    serde_json::to_value(v).map_err(|e| ApiError::Internal(e.to_string()))
}

fn list(state: &AppState, q: &HashMap<String, String>) -> ApiResult {
    let states = match q.get("state") {
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

fn get_run(state: &AppState, id: &str) -> ApiResult {
    let run = load_run(&state.engine, id)?;
    let steps = state.engine.store().load_steps(id)?;
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

/// Events with `seq >= after`. With `wait_ms`, a long poll: answers as soon as there is such
/// an event or the run is finished, or when the wait is over.
async fn history(state: &AppState, id: &str, q: &HashMap<String, String>) -> ApiResult {
    let num = |name: &str| -> Result<u64, ApiError> {
        q.get(name).map_or(Ok(0), |v| {
            v.parse()
                .map_err(|_| ApiError::BadRequest(format!("{name}={v}: expected a number")))
        })
    };
    let after = num("after")?;
    let wait = Duration::from_millis(num("wait_ms")?).min(MAX_WAIT);
    let mut run = load_run(&state.engine, id)?;
    if !wait.is_zero() && run.next_event_seq <= after && !terminal(&run) {
        let ready = |r: &RunRecord| r.next_event_seq > after || terminal(r);
        if let Ok(r) = tokio::time::timeout(wait, state.engine.wait_for(id, ready)).await {
            run = r?;
        }
    }
    // The run is read before its events, so the events cover at least its state.
    let events: Vec<_> = state
        .engine
        .store()
        .history(id)?
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

fn graph(state: &AppState, id: &str, q: &HashMap<String, String>) -> ApiResult {
    let format = q.get("format").map_or("dot", String::as_str);
    if !matches!(format, "dot" | "mermaid") {
        return Err(ApiError::BadRequest(format!(
            "format={format}: expected dot or mermaid"
        )));
    }
    let run = load_run(&state.engine, id)?;
    let def = state.engine.registry().build(
        &run.workflow,
        run.definition_version,
        &run.id,
        &run.input,
    )?;
    let steps = state.engine.store().load_steps(id)?;
    let edges = def.edges();
    let text = if format == "dot" {
        render::graph::graph_dot(&steps, &edges)
    } else {
        render::graph::graph_mermaid(&steps, &edges)
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

async fn plan_run(state: &AppState, id: &str, q: &HashMap<String, String>) -> ApiResult {
    load_run(&state.engine, id)?;
    let plan = planner::plan_run(
        state.engine.store(),
        state.engine.registry(),
        id,
        flag(q, "offline")?,
    )
    .await?;
    plan_reply(&plan, flag(q, "color")?)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecRequest {
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
                let path = Path::new(path);
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

async fn plan_new(state: &AppState, body: &Bytes) -> ApiResult {
    let req: SpecRequest = parse_body(body)?;
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

async fn submit(state: &AppState, body: &Bytes) -> ApiResult {
    let req: SpecRequest = parse_body(body)?;
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlRequest {
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

async fn control(state: &AppState, id: &str, action: &str, body: &Bytes) -> ApiResult {
    let req: ControlRequest = parse_body(body)?;
    let e = &state.engine;
    let run = match action {
        "cancel" => e.cancel(id, req.teardown).await?,
        "retry" => {
            let amend = match req.amend {
                Some(a) => Some(checked_amendment(e, id, a)?),
                None => None,
            };
            e.retry_amended(id, req.from.as_deref(), amend).await?
        }
        "pause" => e.pause(id).await?,
        "resume" => e.unpause(id).await?,
        "signal" => {
            let name = req
                .signal
                .ok_or_else(|| ApiError::BadRequest("\"signal\" is required".into()))?;
            if !KNOWN_SIGNALS.contains(&name.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "unknown signal {name:?}; known: {}",
                    KNOWN_SIGNALS.join(", ")
                )));
            }
            e.signal(id, &name).await?
        }
        _ => return Err(ApiError::NotFound(format!("no such action: {action}"))),
    };
    Ok(Reply::ok(json!({ "run": to_value(&run)? })))
}
