//! The operator console in the browser: `/login` (a one-time token for a session cookie),
//! the pages under `/ui/` (runs list, one page per run with its DAG as SVG, live updates over
//! Server-Sent Events, actions with CSRF tokens) and `POST /v1/ui/login`, which mints login
//! links for whoever may use the API (the owner-only socket, or the bearer token on TCP).
//! Every `/ui/` path needs the session cookie on every listener; `/v1/` never accepts it.
//! Assets are embedded: no build step, no CDN.

mod actions;
mod live;
pub mod pages;
pub mod session;
mod svg;

use super::api::{AppState, Reply};
use super::extract::{RunId, Q};
use crate::service::types::API_VERSION;
use crate::service::{Runs as _, ServiceError};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde::Deserialize;
use serde_json::json;
use session::Sessions;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

const CSS: &str = include_str!("assets/ui.css");
const JS: &str = include_str!("assets/ui.js");

/// The console's state in the daemon: sessions, and the loopback address browsers use.
#[derive(Default)]
pub struct Console {
    pub sessions: Sessions,
    /// The daemon's TCP listener, once bound.
    pub tcp: OnceLock<SocketAddr>,
}

impl Console {
    /// A new one-time login path (`/login?token=...`).
    pub fn login_path(&self) -> String {
        format!("/login?token={}", self.sessions.mint_login())
    }

    /// `daemon --ui`: a login link on stderr, with the daemon's other lines (a login link is a
    /// secret for a terminal, not for a log collector's stdout).
    pub fn print_login(&self) {
        if let Some(addr) = self.tcp.get() {
            eprintln!(
                "failback daemon: console login (one use, 10 minutes): http://{addr}{}",
                self.login_path()
            );
        }
    }
}

/// Who acts from the console, for the history: the daemon's user, who alone can mint login
/// links (the socket is theirs, 0600) or holds the bearer token.
pub fn who() -> String {
    // SAFETY: getuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        Ok(name) if !name.is_empty() => format!("console: user {name} (uid {uid})"),
        _ => format!("console: uid {uid}"),
    }
}

/// The logged-in session a `/ui/` request comes with.
#[derive(Debug, Clone)]
pub struct SessionCtx {
    pub id: String,
    pub csrf: String,
}

/// The console's routes, for the API's router.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    let guarded = Router::new()
        .route("/ui", get(to_runs))
        .route("/ui/", get(to_runs))
        .route("/ui/runs", get(runs))
        .route("/ui/runs/events", get(list_events))
        .route("/ui/runs/{id}", get(run))
        .route("/ui/runs/{id}/events", get(events))
        .route("/ui/runs/{id}/{action}", post(actions::act))
        .route("/ui/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(state, guard));
    Router::new()
        .route("/login", get(login))
        .route("/v1/ui/login", post(mint))
        // Static and secret-free: the login page is styled too.
        .route(
            "/ui/assets/ui.css",
            get(|| async { asset("text/css; charset=utf-8", CSS) }),
        )
        .route(
            "/ui/assets/ui.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS) }),
        )
        .merge(guarded)
}

/// Is this path the console's (its own access control, not the bearer token)?
pub fn is_console_path(path: &str) -> bool {
    path == "/login" || path == "/ui" || path.starts_with("/ui/")
}

/// Headers on every console answer: no caching, no framing, only our own scripts and styles.
fn harden(resp: &mut Response) {
    let h = resp.headers_mut();
    let set = [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ];
    for (k, v) in set {
        h.insert(k, HeaderValue::from_static(v));
    }
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response();
    harden(&mut resp);
    resp
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    harden(&mut resp);
    resp
}

/// Every `/ui/` request but the two assets needs a live session: without one a page answers
/// 401 (saying how to log in) and anything else 403.
async fn guard(State(state): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let found = session::cookie_value(req.headers())
        .and_then(|id| state.console.sessions.session(&id).map(|s| (id, s)));
    match found {
        Some((id, s)) => {
            req.extensions_mut().insert(SessionCtx { id, csrf: s.csrf });
            let mut resp = next.run(req).await;
            harden(&mut resp);
            resp
        }
        None if req.method() == Method::GET => {
            html(StatusCode::UNAUTHORIZED, pages::login_needed())
        }
        None => {
            Reply::error(StatusCode::FORBIDDEN, "no console session: log in first").into_response()
        }
    }
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    #[serde(default)]
    token: String,
}

/// `GET /login?token=T`: a one-time token for a session cookie, then the runs list.
async fn login(State(state): State<Arc<AppState>>, Q(q): Q<LoginQuery>) -> Response {
    let Some(id) = state.console.sessions.login(&q.token) else {
        let body = pages::shell(
            "Login link not valid",
            "<h1>This login link is not valid</h1><p>It was used already, or has expired, or the \
             daemon restarted. Run <code>failback ui</code> for a new one.</p>",
        );
        return html(StatusCode::FORBIDDEN, body);
    };
    let mut resp = (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/ui/runs".to_owned()),
            (header::SET_COOKIE, session::set_cookie(&id)),
        ],
    )
        .into_response();
    harden(&mut resp);
    resp
}

/// `POST /ui/logout`.
async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(s): Extension<SessionCtx>,
) -> Response {
    state.console.sessions.end(&s.id);
    let clear = format!(
        "{}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        session::COOKIE
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, "/login".to_owned()),
            (header::SET_COOKIE, clear),
        ],
    )
        .into_response()
}

/// `POST /v1/ui/login`: a new one-time login path, and the loopback address to open it on if
/// the daemon listens on TCP.
async fn mint(State(state): State<Arc<AppState>>) -> Reply {
    let path = state.console.login_path();
    let tcp = state.console.tcp.get().map(ToString::to_string);
    Reply::ok(json!({ "api_version": API_VERSION, "path": path, "tcp": tcp }))
}

async fn to_runs() -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/ui/runs")]).into_response()
}

fn failed(e: ServiceError) -> Response {
    let e = super::api::ApiError::from(e);
    let body = pages::shell(
        "Error",
        &format!(
            "<h1>Error</h1><p class=\"error\">{}</p><p><a href=\"/ui/runs\">Runs</a></p>",
            super::page::escape(&e.to_string())
        ),
    );
    html(e.status(), body)
}

/// `GET /ui/runs[?state=S&q=TEXT]`.
async fn runs(State(state): State<Arc<AppState>>, Q(q): Q<pages::ListQuery>) -> Response {
    let filter = q.state.as_deref().filter(|s| !s.is_empty());
    let list = match state.runs.list(filter).await {
        Ok(l) => l,
        Err(e) => return failed(e),
    };
    let mut rows: Vec<pages::ListRow> = Vec::new();
    for r in list
        .runs
        .iter()
        .filter(|r| pages::matches(r, q.q.as_deref().unwrap_or("")))
    {
        let awaiting = !r.state.is_terminal() && awaits_failback(&state, &r.id);
        rows.push(pages::ListRow {
            attention: pages::attention(r.state, awaiting),
            run: r.clone(),
        });
    }
    rows.sort_by_key(|row| {
        (
            row.attention.is_none(),
            std::cmp::Reverse(row.run.updated_at),
        )
    });
    html(StatusCode::OK, pages::runs_page(&list, &rows, &q))
}

/// Does the run wait for failback (for the operator's signal)?
fn awaits_failback(state: &AppState, id: &str) -> bool {
    let Ok(steps) = state.engine.store().load_steps(id) else {
        return false;
    };
    let Ok(run) = state.engine.store().load_run(id) else {
        return false;
    };
    run.is_some_and(|run| {
        crate::render::next::guidance(&run, &steps, state.engine.clock().now())
            .awaiting
            .is_some()
    })
}

/// `GET /ui/runs/{id}`.
async fn run(
    State(state): State<Arc<AppState>>,
    Extension(s): Extension<SessionCtx>,
    RunId(id): RunId,
) -> Response {
    let status = match state.runs.status(&id).await {
        Ok(st) => st,
        Err(e) => return failed(e),
    };
    let page = match state.runs.history(&id, 0, 0).await {
        Ok(p) => p,
        Err(e) => return failed(e),
    };
    html(
        StatusCode::OK,
        pages::run_page(&status, &page.events, page.next, &s.csrf),
    )
}

/// `GET /ui/runs/events`: the runs list's live updates.
async fn list_events(State(state): State<Arc<AppState>>) -> Response {
    live::list_events(state).into_response()
}

#[derive(Debug, Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
}

/// `GET /ui/runs/{id}/events[?after=N]`; a reconnecting browser's `Last-Event-ID` wins.
async fn events(
    State(state): State<Arc<AppState>>,
    RunId(id): RunId,
    Q(q): Q<EventsQuery>,
    headers: HeaderMap,
) -> Response {
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map(|seq| seq + 1);
    let after = resumed.unwrap_or(q.after);
    live::events(state, id, after).into_response()
}
