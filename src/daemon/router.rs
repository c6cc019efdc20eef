//! The API's routes and the layers around them: the body limit (tower-http), each request's
//! handler in its own task, the bearer token on TCP, and a log line for every 5xx. Handlers
//! are in `api`; listeners and connections in `server`.

use super::api::{self, ApiError, AppState, Reply, ServerError};
use super::ui::session::same;
use super::MAX_BODY;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;

/// Every endpoint of the API. An unknown path is a JSON 404, a known one with a method it
/// does not take a JSON 405.
pub fn router(state: Arc<AppState>) -> Router {
    let routes = Router::new()
        .route("/", get(api::index))
        .route("/metrics", get(api::metrics))
        .route("/v1/health", get(api::health))
        .route("/v1/plan", post(api::plan_new))
        .route("/v1/runs", get(api::list).post(api::submit))
        .route("/v1/resume", post(api::resume_runs))
        .route("/v1/runs/{id}", get(api::get_run))
        .route("/v1/runs/{id}/history", get(api::history))
        .route("/v1/runs/{id}/graph", get(api::graph))
        .route("/v1/runs/{id}/plan", get(api::plan_run))
        .route("/v1/runs/{id}/cancel", post(api::cancel))
        .route("/v1/runs/{id}/retry", post(api::retry))
        .route("/v1/runs/{id}/pause", post(api::pause))
        .route("/v1/runs/{id}/resume", post(api::resume))
        .route("/v1/runs/{id}/signal", post(api::signal))
        .merge(super::ui::routes(state.clone()))
        .fallback(api::no_such_path)
        .method_not_allowed_fallback(api::wrong_method)
        .with_state(state);
    layered(routes)
}

/// The layers every listener's routes are served with.
fn layered(routes: Router) -> Router {
    routes
        .layer(middleware::from_fn(log_server_errors))
        .layer(middleware::from_fn(detached))
        // One limit, tower-http's: it refuses a declared oversize body before reading it and
        // cuts off a longer stream; axum's own (2 MiB) default is off.
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(MAX_BODY))
        .layer(middleware::map_response(json_413))
}

/// The same, for the TCP listener: every request needs `Authorization: Bearer TOKEN`, except
/// the browser console's, which need its session cookie instead (`ui`).
pub fn with_bearer(router: Router, token: String) -> Router {
    let token: Arc<str> = token.into();
    router.layer(middleware::from_fn_with_state(token, bearer))
}

fn authorized(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.trim().as_bytes(), token.as_bytes()))
}

async fn bearer(State(token): State<Arc<str>>, req: Request, next: Next) -> Response {
    if super::ui::is_console_path(req.uri().path()) || authorized(req.headers(), &token) {
        return next.run(req).await;
    }
    let mut resp =
        Reply::error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    resp
}

/// Each request's handler runs in its own task: a client that hangs up does not cancel a
/// submit or a signal half-way, and a bug that panics there answers 500 instead of dropping
/// the connection.
async fn detached(req: Request, next: Next) -> Response {
    match tokio::spawn(next.run(req)).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::error!(error = %e, "API handler failed");
            Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// One error line per 5xx answer, naming the request.
async fn log_server_errors(req: Request, next: Next) -> Response {
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = next.run(req).await;
    if let Some(ServerError(error)) = resp.extensions().get::<ServerError>() {
        tracing::error!(%method, path, %error, "API request failed");
    }
    resp
}

/// tower-http answers a declared oversize body in plain text; the API answers in JSON.
async fn json_413(resp: Response) -> Response {
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return ApiError::TooLarge.into_response();
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;
    use tokio::sync::Notify;
    use tower::ServiceExt as _;

    async fn call(app: Router, req: Request) -> (StatusCode, String) {
        let Ok(resp) = app.oneshot(req).await;
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        (status, body)
    }

    fn get_req(path: &str) -> Request {
        Request::get(path).body(Body::empty()).expect("request")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_json() {
        async fn boom() -> &'static str {
            panic!("a bug in a handler")
        }
        let app = layered(Router::new().route("/boom", get(boom)));
        let (status, body) = call(app, get_req("/boom")).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body, "{\"error\":\"internal error\"}\n");
    }

    #[tokio::test]
    async fn a_client_that_hangs_up_does_not_cancel_its_handler() {
        let (started, release) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let finished = Arc::new(AtomicBool::new(false));
        let handler = {
            let (started, release, finished) = (started.clone(), release.clone(), finished.clone());
            move || async move {
                started.notify_one();
                release.notified().await;
                finished.store(true, Ordering::SeqCst);
            }
        };
        let app = layered(Router::new().route("/slow", post(handler)));
        let req = Request::post("/slow").body(Body::empty()).expect("request");
        let client = tokio::spawn(call(app, req));
        started.notified().await;
        // The connection goes away mid-request: hyper drops the service's future.
        client.abort();
        let _ = client.await;
        release.notify_one();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !finished.load(Ordering::SeqCst) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the handler was cancelled"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_in_json_before_it_is_read() {
        let app = layered(Router::new().route("/v1/runs", post(|| async { "read" })));
        let req = Request::post("/v1/runs")
            .header(header::CONTENT_LENGTH, (MAX_BODY + 1).to_string())
            .body(Body::empty())
            .expect("request");
        let (status, body) = call(app, req).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            body.contains("\"error\":\"request body larger than"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn the_bearer_layer_refuses_a_missing_or_wrong_token() {
        let token = "0123456789abcdef-router-test";
        let app = with_bearer(
            layered(Router::new().route("/v1/runs", get(|| async { "ok" }))),
            token.to_owned(),
        );
        let with = |auth: Option<String>| {
            let mut req = get_req("/v1/runs");
            if let Some(v) = auth {
                req.headers_mut()
                    .insert(header::AUTHORIZATION, v.parse().expect("header"));
            }
            call(app.clone(), req)
        };
        assert_eq!(with(None).await.0, StatusCode::UNAUTHORIZED);
        let wrong = format!("Bearer {token}x");
        assert_eq!(with(Some(wrong)).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            with(Some(token.to_owned())).await.0,
            StatusCode::UNAUTHORIZED
        );
        let (status, body) = with(Some(format!("Bearer {token}"))).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
    }
}
