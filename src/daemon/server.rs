//! HTTP/1.1 plumbing: listeners, the owner-only socket, authentication, body limits. Routing
//! and handlers live in `api`; connection caps, timeouts and the accept loop in `limits`.

use super::api::{self, AppState, Reply};
use super::limits::{self, ListenerStats};
use super::MAX_BODY;
use anyhow::{bail, Context as _, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// Bind the socket owner-only (0600). A socket file left by a crashed daemon is replaced; one
/// that still accepts connections belongs to a live daemon and is an error.
pub fn bind_unix(path: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            bail!("{} exists and is not a socket", path.display());
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("a daemon is already serving {}", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    // The umask makes the socket 0600 from its creation, not only after the chmod below.
    // SAFETY: umask only swaps the process's file mode mask; it has no memory effects.
    let old = unsafe { libc::umask(0o177) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let listener = bound.with_context(|| format!("binding {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} owner-only", path.display()))?;
    listener.set_nonblocking(true)?;
    Ok(UnixListener::from_std(listener)?)
}

/// Serve the Unix socket until `stop`. Its 0600 mode is the access control.
pub async fn serve_unix(
    listener: UnixListener,
    state: Arc<AppState>,
    stats: Arc<ListenerStats>,
    stop: CancellationToken,
) {
    limits::accept_loop(listener, stats, stop, |stream, permit| {
        spawn_conn(stream, state.clone(), None, permit)
    })
    .await
}

/// Serve loopback TCP until `stop`; every request must carry `Authorization: Bearer TOKEN`.
pub async fn serve_tcp(
    listener: TcpListener,
    state: Arc<AppState>,
    token: String,
    stats: Arc<ListenerStats>,
    stop: CancellationToken,
) {
    let token = Arc::new(token);
    limits::accept_loop(listener, stats, stop, |stream, permit| {
        spawn_conn(stream, state.clone(), Some(token.clone()), permit)
    })
    .await
}

/// Serve one connection; `permit` (one of its listener's connection slots) is held until it
/// ends. A client that does not send a whole header within [`limits::HEADER_TIMEOUT`] (first
/// request, or the next one on a kept-alive connection) is dropped.
fn spawn_conn<I>(
    io: I,
    state: Arc<AppState>,
    token: Option<Arc<String>>,
    permit: OwnedSemaphorePermit,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let _permit = permit;
        let svc = hyper::service::service_fn(move |req| {
            let (state, token) = (state.clone(), token.clone());
            async move { Ok::<_, Infallible>(respond(state, token.as_deref(), req).await) }
        });
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits::HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(io), svc)
            .await
        {
            tracing::debug!(error = %e, "API connection ended with an error");
        }
    });
}

/// Equal-time comparison, so response timing does not reveal how much of a token matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(req: &Request<Incoming>, token: &str) -> bool {
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given.trim().as_bytes(), token.as_bytes()))
}

async fn respond(
    state: Arc<AppState>,
    token: Option<&String>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    if let Some(token) = token {
        if !authorized(&req, token) {
            let mut resp = Reply::error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token")
                .into_response();
            resp.headers_mut().insert(
                hyper::header::WWW_AUTHENTICATE,
                hyper::header::HeaderValue::from_static("Bearer"),
            );
            return resp;
        }
    }
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return too_large();
    }
    let collected =
        tokio::time::timeout(limits::BODY_TIMEOUT, Limited::new(body, MAX_BODY).collect());
    let body = match collected.await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(e)) => {
            return Reply::error(StatusCode::BAD_REQUEST, &format!("reading the body: {e}"))
                .into_response()
        }
        Err(_) => {
            return Reply::error(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the body did not arrive within {} s",
                    limits::BODY_TIMEOUT.as_secs()
                ),
            )
            .into_response()
        }
    };
    let method = parts.method;
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();
    // A handler runs in its own task so that a bug panicking there answers 500 instead of
    // dropping the connection.
    let handled =
        tokio::spawn(async move { api::handle(&state, &method, &path, &query, body).await }).await;
    match handled {
        Ok(reply) => reply.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "API handler failed");
            Reply::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn too_large() -> Response<Full<Bytes>> {
    Reply::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("request body larger than {MAX_BODY} bytes"),
    )
    .into_response()
}
