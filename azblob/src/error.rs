//! Typed errors. Every message that can carry text from the HTTP stack goes through
//! [`redact`] first, so a SAS signature never reaches a `Display`, a `Debug` or a log line;
//! bearer tokens travel only in the `Authorization` header, which no message includes.

use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderName;
use std::time::Duration;

/// What a storage request can fail with. `op` names the operation (`put_blob`, `acquire_lease`,
/// ...), `blob` the blob (empty for container-level operations), `code` Azure's
/// `x-ms-error-code` (e.g. `LeaseAlreadyPresent`, `ConditionNotMet`, `LeaseIdMismatchWithLeaseOperation`).
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// 409: the blob's state forbids the request (a lease held by someone else, a lease already
    /// broken, a create-only write on a blob that exists, ...).
    #[error("{op} {blob}: conflict (409 {code})")]
    Conflict {
        op: &'static str,
        blob: String,
        code: String,
    },
    /// 412: a condition of the request does not hold (stale ETag, missing or wrong lease id).
    #[error("{op} {blob}: precondition failed (412 {code})")]
    PreconditionFailed {
        op: &'static str,
        blob: String,
        code: String,
    },
    /// 404: the blob or the container does not exist.
    #[error("{op} {blob}: not found (404 {code})")]
    NotFound {
        op: &'static str,
        blob: String,
        code: String,
    },
    /// 503 ServerBusy or 500 OperationTimedOut: retry later (after `retry_after` if the service
    /// said so).
    #[error("{op} {blob}: throttled ({status} {code}), retry after {retry_after:?}")]
    Throttled {
        op: &'static str,
        blob: String,
        status: u16,
        code: String,
        retry_after: Option<Duration>,
    },
    /// 401/403: the SAS or the token was refused (expired, wrong signature, missing permission).
    #[error("{op} {blob}: not authorized ({status} {code}): {message}")]
    Auth {
        op: &'static str,
        blob: String,
        status: u16,
        code: String,
        message: String,
    },
    /// Any other HTTP error answer.
    #[error("{op} {blob}: HTTP {status} {code}: {message}")]
    Http {
        op: &'static str,
        blob: String,
        status: u16,
        code: String,
        message: String,
    },
    /// No answer: connection refused or reset, timeout, TLS, an unreadable body.
    #[error("{op} {blob}: transport error: {message}")]
    Transport {
        op: &'static str,
        blob: String,
        message: String,
    },
    /// The bearer-token provider could not give a token.
    #[error("token for {scope}: {message}")]
    Token { scope: String, message: String },
    /// A bad argument or configuration, named by `field`; nothing was sent.
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl BlobError {
    /// Azure's `x-ms-error-code`, when the service answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            BlobError::Conflict { code, .. }
            | BlobError::PreconditionFailed { code, .. }
            | BlobError::NotFound { code, .. }
            | BlobError::Throttled { code, .. }
            | BlobError::Auth { code, .. }
            | BlobError::Http { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            BlobError::Conflict { .. } => Some(409),
            BlobError::PreconditionFailed { .. } => Some(412),
            BlobError::NotFound { .. } => Some(404),
            BlobError::Throttled { status, .. }
            | BlobError::Auth { status, .. }
            | BlobError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for errors that mean "another writer owns this blob now" (409/412): a store
    /// backend must stop writing the run at once.
    pub fn is_fenced(&self) -> bool {
        matches!(
            self,
            BlobError::Conflict { .. } | BlobError::PreconditionFailed { .. }
        )
    }

    /// True for errors worth retrying after a pause (throttling, transport).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BlobError::Throttled { .. } | BlobError::Transport { .. }
        ) || matches!(self, BlobError::Http { status, .. } if *status >= 500)
    }

    /// Maps an `azure_core` error from operation `op` on `blob`.
    pub(crate) fn from_core(op: &'static str, blob: &str, err: azure_core::Error) -> BlobError {
        let blob = blob.to_owned();
        if matches!(err.kind(), ErrorKind::Credential) {
            return BlobError::Token {
                scope: crate::auth::STORAGE_SCOPE.to_owned(),
                message: redact(&error_chain(&err)),
            };
        }
        let ErrorKind::HttpResponse {
            status,
            error_code,
            raw_response,
        } = err.kind()
        else {
            return BlobError::Transport {
                op,
                blob,
                message: redact(&error_chain(&err)),
            };
        };
        let status = u16::from(*status);
        let header = |name: &'static str| {
            raw_response
                .as_ref()
                .and_then(|r| r.headers().get_optional_str(&HeaderName::from_static(name)))
                .map(str::to_owned)
        };
        let code = error_code
            .clone()
            .or_else(|| header("x-ms-error-code"))
            .unwrap_or_default();
        let message = raw_response
            .as_ref()
            .map(|r| error_message(r.body().as_ref()))
            .unwrap_or_default();
        classify(
            op,
            blob,
            status,
            code,
            redact(&message),
            header("retry-after"),
        )
    }
}

fn classify(
    op: &'static str,
    blob: String,
    status: u16,
    code: String,
    message: String,
    retry_after: Option<String>,
) -> BlobError {
    match (status, code.as_str()) {
        (409, _) => BlobError::Conflict { op, blob, code },
        (412, _) => BlobError::PreconditionFailed { op, blob, code },
        (404, _) => BlobError::NotFound { op, blob, code },
        (503, _) | (500, "OperationTimedOut") | (429, _) => BlobError::Throttled {
            op,
            blob,
            status,
            code,
            retry_after: retry_after
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        },
        (401 | 403, _) => BlobError::Auth {
            op,
            blob,
            status,
            code,
            message,
        },
        _ => BlobError::Http {
            op,
            blob,
            status,
            code,
            message,
        },
    }
}

/// The `<Message>` of a storage error body and its `<AuthenticationErrorDetail>` if any (first
/// lines only: Azure appends request ids and times), or nothing.
fn error_message(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let message = element(&text, "Message");
    match element(&text, "AuthenticationErrorDetail") {
        Some(detail) => format!("{} ({detail})", message.unwrap_or_default()),
        None => message.unwrap_or_default(),
    }
}

fn element(text: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let rest = &text[start..];
    let end = rest.find(&format!("</{name}>")).unwrap_or(rest.len());
    Some(rest[..end].lines().next().unwrap_or("").trim().to_owned())
}

fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Blanks the value of every `sig=` query parameter in `text` (a SAS signature is the secret
/// part of a SAS; the rest — permissions, expiry — is useful in a message).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = find_sig(rest) {
        let value_start = i + "sig=".len();
        out.push_str(&rest[..value_start]);
        out.push_str("REDACTED");
        let tail = &rest[value_start..];
        let end = tail
            .find(|c: char| c == '&' || c == '"' || c == '\'' || c == ')' || c.is_whitespace())
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The first `sig=` that starts a query parameter (after `?`, `&`, or at the start).
fn find_sig(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(j) = lower[from..].find("sig=") {
        let i = from + j;
        let before = lower[..i].chars().next_back();
        if matches!(before, None | Some('?') | Some('&')) {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_blanks_every_signature() {
        let text = "GET http://h/a/c/b?sv=2025-11-05&sig=abc%2Bdef%3D&se=x failed; again ?sig=zzz";
        let out = redact(text);
        assert!(!out.contains("abc%2Bdef"), "{out}");
        assert!(!out.contains("zzz"), "{out}");
        assert!(
            out.contains("sv=2025-11-05") && out.contains("se=x"),
            "{out}"
        );
        assert_eq!(redact("no secrets; ssig=keep"), "no secrets; ssig=keep");
    }

    #[test]
    fn error_message_takes_the_first_line() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>LeaseAlreadyPresent</Code><Message>There is already a lease present.\nRequestId:1\nTime:2</Message></Error>";
        assert_eq!(error_message(body), "There is already a lease present.");
        assert_eq!(error_message(b""), "");
        let body = b"<Error><Code>AuthenticationFailed</Code><Message>Server failed.\nRequestId:1</Message><AuthenticationErrorDetail>Lifetime validation failed. The token is expired.</AuthenticationErrorDetail></Error>";
        assert_eq!(
            error_message(body),
            "Server failed. (Lifetime validation failed. The token is expired.)"
        );
    }

    #[test]
    fn throttling_answers_carry_retry_after() {
        let e = classify(
            "put_blob",
            "b".into(),
            503,
            "ServerBusy".into(),
            String::new(),
            Some("7".into()),
        );
        assert!(
            matches!(e, BlobError::Throttled { retry_after: Some(d), .. } if d == Duration::from_secs(7))
        );
        let e = classify(
            "put_blob",
            "b".into(),
            500,
            "OperationTimedOut".into(),
            String::new(),
            None,
        );
        assert!(e.is_transient() && matches!(e, BlobError::Throttled { .. }));
        let e = classify(
            "put_blob",
            "b".into(),
            500,
            "InternalError".into(),
            String::new(),
            None,
        );
        assert!(e.is_transient() && matches!(e, BlobError::Http { status: 500, .. }));
    }
}
