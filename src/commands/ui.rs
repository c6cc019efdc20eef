//! `failback ui`: a one-time login link for the browser console of the process that holds
//! the store (the daemon, or a foreground `apply`). Asking for one needs the owner-only
//! socket, as every other verb. A daemon that listens on loopback TCP serves the console
//! itself: the link is for that address. One that serves only its socket cannot be reached
//! by a browser: `failback ui` then listens on loopback TCP itself and forwards the console's
//! paths (`/login`, `/ui/...`; nothing of `/v1/`) to the socket, until Ctrl-C. The console's
//! own session cookie guards those paths on every listener, so the forwarder adds no access.

use crate::daemon::client::DaemonClient;
use crate::daemon::ui::is_console_path;
use anyhow::{anyhow, Context as _, Result};
use axum::body::Body;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
struct Minted {
    path: String,
    tcp: Option<String>,
}

/// What `failback ui` was asked.
#[derive(Debug, Clone)]
pub struct UiOptions {
    pub state_dir: PathBuf,
    /// The forwarder's loopback port (0: any free one).
    pub port: u16,
    /// Forward even when the daemon listens on TCP itself.
    pub forward: bool,
}

pub async fn run(opts: UiOptions) -> Result<i32> {
    let client = DaemonClient::connect(&opts.state_dir)
        .await
        .ok_or_else(|| {
            anyhow!(
                "no daemon serves {}: start `failback daemon` first (the console is the daemon's)",
                crate::daemon::socket_path(&opts.state_dir).display()
            )
        })?;
    let minted: Minted = client
        .post("/v1/ui/login", &serde_json::json!({}))
        .await
        .context("asking the daemon for a login link")?;
    if let (Some(addr), false) = (&minted.tcp, opts.forward) {
        println!("http://{addr}{}", minted.path);
        eprintln!(
            "open the link above in a browser on this machine; it works once, within 10 minutes"
        );
        return Ok(super::EXIT_OK);
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    // Caught from before the link is printed: a Ctrl-C at any moment after it stops cleanly.
    let stop = Stop::install()?;
    println!("http://{local}{}", minted.path);
    eprintln!(
        "forwarding the console on http://{local} to {}; open the link above (it works once); Ctrl-C stops",
        client.socket().display()
    );
    serve(listener, client.socket().to_owned(), stop).await
}

/// SIGINT and SIGTERM, as streams: one that arrives between two polls is not lost.
struct Stop {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Stop {
    fn install() -> Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            int: signal(SignalKind::interrupt()).context("SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("SIGTERM handler")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// Accept until Ctrl-C (or SIGTERM), one task per connection.
async fn serve(listener: tokio::net::TcpListener, socket: PathBuf, mut stop: Stop) -> Result<i32> {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => r.context("accepting a connection")?,
            _ = stop.recv() => return Ok(super::EXIT_OK),
        };
        let socket = socket.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| forward(socket.clone(), req));
            // As the daemon's: a client that does not send a whole header in time is dropped.
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(crate::daemon::limits::HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "console connection ended with an error");
            }
        });
    }
}

fn answer(status: StatusCode, text: &str) -> Response<Body> {
    let mut r = Response::new(Body::from(format!(
        "{{\"error\":{}}}\n",
        serde_json::json!(text)
    )));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// One request to the socket, its answer streamed back (the event stream too).
async fn forward(
    socket: PathBuf,
    req: Request<Incoming>,
) -> Result<Response<Body>, std::convert::Infallible> {
    if !is_console_path(req.uri().path()) {
        return Ok(answer(
            StatusCode::NOT_FOUND,
            "failback ui forwards only the console (/login, /ui/); the API is on the daemon's socket",
        ));
    }
    Ok(match to_socket(&socket, req).await {
        Ok(resp) => resp.map(Body::new),
        Err(e) => answer(
            StatusCode::BAD_GATEWAY,
            &format!("the daemon's socket: {e}"),
        ),
    })
}

async fn to_socket(socket: &Path, req: Request<Incoming>) -> Result<Response<Incoming>> {
    let stream = tokio::net::UnixStream::connect(socket).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "forwarded connection ended with an error");
        }
    });
    Ok(sender.send_request(req).await?)
}
