//! The client side of the local API: typed JSON over HTTP/1.1 on the Unix socket of whoever
//! holds the store (the daemon, or a foreground `apply`), one connection per request.

use super::socket_path;
use crate::service::{ErrorKind, ServiceError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;

/// The service error an API status stands for.
pub fn kind_of(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        400 | 405 | 413 | 422 => ErrorKind::BadRequest,
        404 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        503 => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

fn transport(socket: &Path, what: impl std::fmt::Display) -> ServiceError {
    ServiceError::new(
        ErrorKind::Transport,
        format!(
            "talking to the process that holds the store ({}): {what}",
            socket.display()
        ),
    )
}

#[derive(Debug, Clone)]
pub struct DaemonClient {
    socket: PathBuf,
}

impl DaemonClient {
    /// A client when a process accepts connections on the state directory's socket; `None`
    /// when there is no socket or it is stale (its process died).
    pub async fn connect(state_dir: &Path) -> Option<Self> {
        let socket = socket_path(state_dir);
        UnixStream::connect(&socket).await.ok()?;
        Some(Self { socket })
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Send one request: a 2xx answer's body, or the API's `{"error"}` as a [`ServiceError`]
    /// of the kind its status stands for.
    async fn send(&self, method: Method, path: &str, body: String) -> Result<Bytes, ServiceError> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| transport(&self.socket, e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| transport(&self.socket, e))?;
        let conn = tokio::spawn(conn);
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, "localhost")
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| transport(&self.socket, e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| transport(&self.socket, e))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| transport(&self.socket, e))?
            .to_bytes();
        conn.abort();
        if status.is_success() {
            return Ok(bytes);
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message = value
            .get("error")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        Err(ServiceError::new(kind_of(status), message))
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, ServiceError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| transport(&self.socket, format!("an answer that is not JSON: {e}")))?;
        let version = v.get("api_version").and_then(Value::as_u64);
        let ours = u64::from(crate::service::types::API_VERSION);
        if version.is_some_and(|v| v != ours) {
            return Err(transport(
                &self.socket,
                format!(
                    "it speaks API version {}, this failback speaks {ours}; use the same failback binary",
                    version.unwrap_or_default()
                ),
            ));
        }
        serde_json::from_value(v)
            .map_err(|e| transport(&self.socket, format!("an answer of the wrong shape: {e}")))
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ServiceError> {
        let bytes = self.send(Method::GET, path, String::new()).await?;
        self.decode(&bytes)
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ServiceError> {
        let body = serde_json::to_string(body).map_err(|e| transport(&self.socket, e))?;
        let bytes = self.send(Method::POST, path, body).await?;
        self.decode(&bytes)
    }
}
