//! ARM errors, parsed from the error envelope and classified: a step retries transient ones
//! and fails on permanent ones with the ARM code and message.

use std::time::Duration;

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// 429 / 5xx / connection trouble / "another operation in progress": retry later.
    Transient,
    /// Bad request, quota, SKU not available, authorisation, not found: do not retry.
    Permanent,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{}{code}: {message}{}", status.map(|s| format!("HTTP {s} ")).unwrap_or_default(), request_id.as_ref().map(|r| format!(" (x-ms-request-id {r})")).unwrap_or_default())]
pub struct ArmError {
    pub status: Option<u16>,
    /// ARM error code (`SkuNotAvailable`, `AllocationFailed`, ...), or a local one for
    /// transport/auth problems (`ConnectionFailed`, `AuthenticationFailed`).
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
    pub class: ErrorClass,
    /// The server's Retry-After, when it gave one.
    pub retry_after: Option<Duration>,
}

/// Codes that are transient even though their HTTP status is 4xx.
const TRANSIENT_CODES: &[&str] = &[
    "AnotherOperationInProgress",
    "RetryableErrorDueToAnotherOperation",
    "NicReservedForAnotherVm",
    "OperationPreempted",
    "Conflict",
    "TooManyRequests",
    "SubscriptionRequestsThrottled",
    "ExpiredAuthenticationToken",
];

impl ArmError {
    pub fn local(code: &str, message: impl Into<String>, class: ErrorClass) -> Self {
        Self {
            status: None,
            code: code.into(),
            message: message.into(),
            request_id: None,
            class,
            retry_after: None,
        }
    }

    /// From an HTTP error response and its (possibly empty or non-ARM) body.
    pub fn from_response(
        status: u16,
        body: &serde_json::Value,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        // ARM: {"error": {code, message}}; ASR may differ, so read leniently.
        let err = body.get("error").unwrap_or(body);
        let code = err
            .get("code")
            .and_then(|c| {
                c.as_str()
                    .map(str::to_owned)
                    .or_else(|| c.as_i64().map(|n| n.to_string()))
            })
            .unwrap_or_else(|| format!("Http{status}"));
        let message = err
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_owned();
        let detail_throttle = err
            .get("details")
            .and_then(|d| d.as_array())
            .is_some_and(|d| {
                d.iter()
                    .any(|x| x.get("code").and_then(|c| c.as_str()) == Some("TooManyRequests"))
            });
        let class = if matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
            || TRANSIENT_CODES.contains(&code.as_str())
            || detail_throttle
        {
            ErrorClass::Transient
        } else {
            ErrorClass::Permanent
        };
        Self {
            status: Some(status),
            code,
            message,
            request_id,
            class,
            retry_after,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.class == ErrorClass::Transient
    }
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }
}
