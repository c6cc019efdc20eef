//! `POST /ui/runs/{id}/{action}`: the console's actions (signal, cancel, cancel with
//! teardown, retry from a step, pause, unpause) as HTML form posts. Each needs the session's
//! CSRF token, compared in equal time; without it the answer is 403 and nothing changes. The
//! page's script posts with `Accept: application/json` and gets JSON; a plain form post is
//! redirected back to the run's page.

use super::session::same;
use super::SessionCtx;
use crate::daemon::api::{ApiError, AppState, Reply};
use crate::service::types::{Action, ControlBody, ControlRequest};
use crate::service::Runs as _;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use failback_engine::valid_run_id;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

/// The form's known fields (later duplicates win), and the first unknown one if any.
fn fields(body: &[u8]) -> (HashMap<String, String>, Option<String>) {
    let mut out = HashMap::new();
    let mut unknown = None;
    for (k, v) in url::form_urlencoded::parse(body) {
        match &*k {
            "csrf" | "signal" | "from" | "teardown" => {
                out.insert(k.into_owned(), v.into_owned());
            }
            other => {
                unknown.get_or_insert_with(|| other.to_owned());
            }
        }
    }
    (out, unknown)
}

fn control_body(action: Action, f: &HashMap<String, String>) -> ControlBody {
    let nonempty = |k: &str| f.get(k).filter(|v| !v.is_empty()).cloned();
    ControlBody {
        teardown: action == Action::Cancel && f.get("teardown").is_some_and(|v| v == "true"),
        signal: nonempty("signal").filter(|_| action == Action::Signal),
        from: nonempty("from").filter(|_| action == Action::Retry),
        amend: None,
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn refused(status: StatusCode, message: &str, json: bool) -> Response {
    if json {
        return Reply::error(status, message).into_response();
    }
    let body = super::pages::shell(
        "Refused",
        &format!(
            "<h1>Not done</h1><p class=\"error\">{}</p><p><a href=\"/ui/runs\">Runs</a></p>",
            crate::daemon::page::escape(message)
        ),
    );
    super::html(status, body)
}

/// The action handler.
pub async fn act(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<SessionCtx>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json = wants_json(&headers);
    let (form, unknown) = fields(&body);
    let token = form.get("csrf").map_or("", String::as_str);
    if !same(token.as_bytes(), session.csrf.as_bytes()) {
        return refused(StatusCode::FORBIDDEN, "missing or wrong CSRF token", json);
    }
    if let Some(field) = unknown {
        let why = format!("unknown form field {field:?}");
        return refused(StatusCode::BAD_REQUEST, &why, json);
    }
    let Some(action) = Action::from_name(&action) else {
        return refused(
            StatusCode::NOT_FOUND,
            &format!("no action {action:?}"),
            json,
        );
    };
    if !valid_run_id(&id) {
        return refused(
            StatusCode::BAD_REQUEST,
            &format!("invalid run id {id:?}"),
            json,
        );
    }
    if let Some(why) = &state.read_only {
        return refused(StatusCode::CONFLICT, why, json);
    }
    let req = ControlRequest {
        action,
        body: control_body(action, &form),
    };
    match state.runs.acting_as(&super::who()).control(&id, &req).await {
        Ok(run) if json => Reply::ok(json!({
            "run": run.id,
            "state": run.state.as_str(),
            "action": action.as_str(),
            "seq": run.next_event_seq,
        }))
        .into_response(),
        Ok(_) => {
            let to = format!("/ui/runs/{id}");
            (StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response()
        }
        Err(e) => {
            let e = ApiError::from(e);
            let status = e.status();
            refused(status, &e.to_string(), json)
        }
    }
}
