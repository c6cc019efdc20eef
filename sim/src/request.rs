//! One incoming request as the front door sees it: its path split into segments, its query,
//! the ids it carries, and how its answer is stamped (ARM's common headers) and journaled.

use crate::clock::{http_date, real_now_ms, rfc3339};
use crate::endpoint::Endpoint;
use crate::envelope::Resp;
use crate::journal::JournalEntry;
use crate::shared::Shared;

/// Path segments (percent-decoded, caller's casing and lowercased) and query pairs.
pub struct RequestPath {
    pub segs: Vec<String>,
    pub segs_lowercase: Vec<String>,
    pub query: Vec<(String, String)>,
}

impl RequestPath {
    pub fn of(uri: &hyper::Uri) -> RequestPath {
        let mut segs: Vec<String> = uri
            .path()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned()
            })
            .collect();
        let mut query: Vec<(String, String)> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        // Compute's Location form `…/operations/{id}&monitor=true&api-version=…` has no '?'.
        if let Some(last) = segs.last_mut() {
            if let Some(pos) = last.find('&') {
                let rest = last[pos + 1..].to_string();
                last.truncate(pos);
                query.extend(form_urlencoded::parse(rest.as_bytes()).into_owned());
            }
        }
        let segs_lowercase = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        RequestPath {
            segs,
            segs_lowercase,
            query,
        }
    }
}

/// What the journal and the common response headers need to know about a request.
pub struct RequestRecord {
    pub method: String,
    pub path_query: String,
    /// `PUT networkInterfaces`: what fault rules and `denied_operations` match.
    pub op_name: String,
    pub request_id: String,
    pub correlation_id: String,
    pub client_request_id: Option<String>,
    pub user_agent: Option<String>,
    /// `x-ms-return-client-request-id: true`: echo the client's id.
    pub echo_client_request_id: bool,
}

impl RequestRecord {
    pub fn of(parts: &hyper::http::request::Parts, endpoint: Endpoint) -> RequestRecord {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|s| s.to_string())
        };
        let method = parts.method.as_str().to_ascii_uppercase();
        RequestRecord {
            op_name: endpoint.operation_name(&method),
            method,
            path_query: parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_else(|| "/".into()),
            request_id: uuid::Uuid::new_v4().to_string(),
            correlation_id: header("x-ms-correlation-request-id")
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            client_request_id: header("x-ms-client-request-id"),
            user_agent: header("user-agent"),
            echo_client_request_id: header("x-ms-return-client-request-id")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }

    /// The journal line for this request.
    pub fn journal_entry(&self, now: i64, status: u16, notes: Notes) -> JournalEntry {
        JournalEntry {
            seq: 0,
            real_time: rfc3339(real_now_ms()),
            sim_time: rfc3339(now),
            method: self.method.clone(),
            path: self.path_query.clone(),
            status,
            client_request_id: self.client_request_id.clone(),
            request_id: self.request_id.clone(),
            correlation_id: self.correlation_id.clone(),
            operation: self.op_name.clone(),
            error_code: notes.error_code,
            principal: notes.principal,
            user_agent: self.user_agent.clone(),
            fault: notes.fault,
        }
    }

    /// Stamp ARM's common headers on `r` and journal it.
    pub fn finish(&self, sh: &Shared, mut r: Resp, notes: Notes) -> Resp {
        let now = sh.clock.now();
        let stamp = chrono::DateTime::from_timestamp_millis(now)
            .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default();
        let mut headers = vec![
            ("x-ms-request-id", self.request_id.clone()),
            ("x-ms-correlation-request-id", self.correlation_id.clone()),
            (
                "x-ms-routing-request-id",
                format!("WESTEUROPE:{stamp}:{}", self.request_id),
            ),
            ("date", http_date(now)),
            ("cache-control", "no-cache".into()),
            ("pragma", "no-cache".into()),
            ("expires", "-1".into()),
            ("x-content-type-options", "nosniff".into()),
        ];
        if let (true, Some(c)) = (self.echo_client_request_id, &self.client_request_id) {
            headers.push(("x-ms-client-request-id", c.clone()));
        }
        r.headers
            .extend(headers.into_iter().map(|(k, v)| (k.to_string(), v)));
        let notes = Notes {
            error_code: r.error_code.clone(),
            ..notes
        };
        sh.journal.push(self.journal_entry(now, r.status, notes));
        r
    }
}

/// Journal columns besides the request and its status.
#[derive(Debug, Default)]
pub struct Notes {
    pub error_code: Option<String>,
    /// The authenticated client id.
    pub principal: Option<String>,
    /// The fault rule that fired (`#3 delay 200ms`).
    pub fault: Option<String>,
}
