//! Listeners and connections: the owner-only socket, loopback TCP, and each accepted
//! connection handed to hyper with the API's router as its service. Routes and layers live in
//! `router`, handlers in `api`; connection caps, timeouts and the accept loop in `limits`.

use super::api::AppState;
use super::limits::{self, ListenerStats};
use super::router;
use anyhow::{bail, Context as _, Result};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
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
    let app = router::router(state);
    limits::accept_loop(listener, stats, stop, |stream, permit| {
        spawn_conn(stream, app.clone(), permit)
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
    let app = router::with_bearer(router::router(state), token);
    limits::accept_loop(listener, stats, stop, |stream, permit| {
        spawn_conn(stream, app.clone(), permit)
    })
    .await
}

/// Serve one connection; `permit` (one of its listener's connection slots) is held until it
/// ends. A client that does not send a whole header within [`limits::HEADER_TIMEOUT`] (first
/// request, or the next one on a kept-alive connection) is dropped.
fn spawn_conn<I>(io: I, app: Router, permit: OwnedSemaphorePermit)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let _permit = permit;
        if let Err(e) = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits::HEADER_TIMEOUT)
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(app))
            .await
        {
            tracing::debug!(error = %e, "API connection ended with an error");
        }
    });
}
