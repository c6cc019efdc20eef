//! What the API's handlers take from a request, each refusal a JSON `ApiError`: a checked run
//! id from the path, a typed query, and a JSON body read within a time limit.

use super::api::ApiError;
use super::limits::BODY_TIMEOUT;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use bytes::Bytes;
use failback_engine::{valid_run_id, EngineError};
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde::Deserialize;

/// The `{id}` of a run's path, percent-decoded and checked (`bad%2Fid` is refused, not
/// looked up).
pub struct RunId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for RunId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        if !valid_run_id(&id) {
            return Err(EngineError::InvalidRunId(id).into());
        }
        Ok(Self(id))
    }
}

/// axum's `Query`, refused as a JSON 400.
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(q) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        Ok(Self(q))
    }
}

/// A JSON request body, read whole within [`BODY_TIMEOUT`] and at most `MAX_BODY` (the
/// router's limit layer). An empty body is `{}`; unknown fields are refused by the types, so
/// typos do not pass silently.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let body = match tokio::time::timeout(BODY_TIMEOUT, Bytes::from_request(req, state)).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::TooLarge)
            }
            Ok(Err(e)) => {
                return Err(ApiError::BadRequest(format!(
                    "reading the body: {}",
                    e.body_text()
                )))
            }
            Err(_) => return Err(ApiError::BodyTimeout),
        };
        let text: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &body
        };
        serde_json::from_slice(text)
            .map(Self)
            .map_err(|e| ApiError::BadRequest(format!("request body: {e}")))
    }
}

/// A query flag: `name`, `name=true|1` or `name=false|0`.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let v = String::deserialize(d)?;
    match v.as_str() {
        "" | "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(D::Error::custom(format!("{v:?}: expected true or false"))),
    }
}
