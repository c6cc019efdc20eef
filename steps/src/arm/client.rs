//! The ARM client. Every request carries a fresh `x-ms-client-request-id`; the response's `x-ms-request-id` goes into tracing and errors. Throttling
//! and transient failures are retried here a few times, honouring Retry-After; past that the
//! error goes back to the step, whose retry policy takes over on a durable timer.

use super::cloud::Cloud;
use super::credential::{self, CredentialConfig, CredentialError};
use super::error::{ArmError, ErrorClass};
use super::inflight::InFlight;
use super::operation;
use super::ratelimit::{OpKind, RateLimiter};
use super::stats::{ArmStats, ArmStatsSnapshot};
use super::ApiVersions;
use azure_core::credentials::TokenCredential;
use failback_engine::Clock;
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// In-call retries of one request.
#[derive(Debug, Clone)]
pub struct HttpRetry {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// A Retry-After longer than this is not waited out in-call: the step gets the error
    /// and waits on a durable timer instead.
    pub max_in_call_wait: Duration,
}

impl Default for HttpRetry {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_in_call_wait: Duration::from_secs(60),
        }
    }
}

/// Everything needed to talk to one subscription.
#[derive(Debug, Clone)]
pub struct ArmClientConfig {
    pub cloud: Cloud,
    pub tenant_id: String,
    pub subscription_id: String,
    pub credential: CredentialConfig,
    /// Extra root certificate (PEM) to trust, e.g. the emulator's.
    pub ca_file: Option<PathBuf>,
    pub api_versions: ApiVersions,
    pub retry: HttpRetry,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// A response with the headers the steps care about.
#[derive(Debug, Clone)]
pub struct ArmResponse {
    pub status: u16,
    pub body: Value,
    pub request_id: Option<String>,
    pub retry_after: Option<Duration>,
    pub async_operation: Option<String>,
    pub location: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error(transparent)]
    CaFile(#[from] crate::bounded::BoundedReadError),
    #[error("the CA file {path} is not a PEM certificate: {message}")]
    BadCa { path: PathBuf, message: String },
    #[error("building the HTTP client: {0}")]
    Http(String),
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

pub struct ArmClient {
    http: reqwest::Client,
    config: ArmClientConfig,
    /// Replaced when ARM rejects a cached token (see `renew_credential`).
    credential: std::sync::RwLock<Arc<dyn TokenCredential>>,
    scope: String,
    limiter: Arc<RateLimiter>,
    /// One request per (method, URL) on the wire, so a Retry-After holds the next one.
    inflight: InFlight,
    clock: Arc<dyn Clock>,
    stats: ArmStats,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("arm", &self.config.cloud.resource_manager.as_str())
            .field("subscription", &self.config.subscription_id)
            .finish_non_exhaustive()
    }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Retry-After in seconds (ARM never sends an HTTP date here; an unparsable value is ignored).
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    header(h, "retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// One request as sent (and re-sent by the retry loop).
#[derive(Clone, Copy)]
struct Call<'a> {
    method: &'a Method,
    url: &'a Url,
    body: Option<&'a Value>,
    op: &'a str,
    extra: &'a [(&'a str, &'a str)],
    kind: OpKind,
    scope: &'a str,
}

impl Call<'_> {
    /// The bounded metrics name of this call (`PUT virtualMachines`).
    fn operation(&self) -> String {
        operation::operation_name(self.method, self.url)
    }
}

fn op_kind(m: &Method) -> OpKind {
    match *m {
        Method::GET | Method::HEAD => OpKind::Read,
        Method::DELETE => OpKind::Delete,
        _ => OpKind::Write,
    }
}

impl ArmClient {
    pub fn new(config: ArmClientConfig, clock: Arc<dyn Clock>) -> Result<Self, ClientBuildError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            // Idle connections keep their read buffers; a burst must not leave hundreds behind.
            .pool_max_idle_per_host(16)
            // The pid tells the daemons sharing a store apart in Azure's logs (and the
            // emulator's journal).
            .user_agent(format!(
                "failback/{} (pid {})",
                env!("CARGO_PKG_VERSION"),
                std::process::id()
            ));
        if let Some(path) = &config.ca_file {
            let pem = crate::bounded::read_bounded(path, crate::bounded::MAX_TEXT_FILE, "CA file")?;
            let cert =
                reqwest::Certificate::from_pem(&pem).map_err(|e| ClientBuildError::BadCa {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| ClientBuildError::Http(e.to_string()))?;
        let credential =
            credential::build(&config.credential, &config.tenant_id, &config.cloud, &http)?;
        Ok(Self {
            scope: config.cloud.arm_scope(),
            limiter: Arc::new(RateLimiter::new(clock.clone())),
            inflight: InFlight::default(),
            http,
            config,
            credential: std::sync::RwLock::new(credential),
            clock,
            stats: ArmStats::default(),
        })
    }

    pub fn subscription_id(&self) -> &str {
        &self.config.subscription_id
    }
    pub fn api(&self) -> &ApiVersions {
        &self.config.api_versions
    }
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }
    /// Requests by status, retries and Retry-After waits of this client.
    pub fn stats(&self) -> &ArmStats {
        &self.stats
    }
    /// [`stats`](Self::stats) with the rate limiter's waits, for metrics.
    pub fn stats_snapshot(&self) -> ArmStatsSnapshot {
        self.stats.snapshot(self.limiter.waited())
    }

    /// ARM rejected a token the credential still considers valid (its cache runs on this
    /// machine's clock; the server's may differ, or the token was revoked): start from a fresh
    /// credential so the next call fetches a new token.
    fn renew_credential(&self) {
        match credential::build(
            &self.config.credential,
            &self.config.tenant_id,
            &self.config.cloud,
            &self.http,
        ) {
            Ok(fresh) => {
                tracing::info!("ARM rejected the cached token; renewing the credential");
                *self.credential.write().unwrap_or_else(|e| e.into_inner()) = fresh;
            }
            Err(e) => tracing::warn!(error = %e, "could not renew the credential"),
        }
    }

    /// An absolute URL for an ARM path (starting with `/subscriptions/...`) and api-version.
    pub fn url(&self, path: &str, api_version: &str) -> Result<Url, ArmError> {
        let mut url = self.config.cloud.resource_manager.join(path).map_err(|e| {
            ArmError::local("InvalidUrl", format!("{path}: {e}"), ErrorClass::Permanent)
        })?;
        url.query_pairs_mut()
            .append_pair("api-version", api_version);
        Ok(url)
    }

    /// `/subscriptions/{sub}` + `rest`.
    pub fn sub_path(&self, rest: &str) -> String {
        format!("/subscriptions/{}{}", self.config.subscription_id, rest)
    }

    pub async fn get(&self, url: Url, op: &str) -> Result<ArmResponse, ArmError> {
        self.send(Method::GET, url, None, op, &[]).await
    }
    pub async fn put(&self, url: Url, body: &Value, op: &str) -> Result<ArmResponse, ArmError> {
        self.send(Method::PUT, url, Some(body), op, &[]).await
    }
    pub async fn post(
        &self,
        url: Url,
        body: Option<&Value>,
        op: &str,
    ) -> Result<ArmResponse, ArmError> {
        self.send(Method::POST, url, body, op, &[]).await
    }
    pub async fn delete(&self, url: Url, op: &str) -> Result<ArmResponse, ArmError> {
        self.send(Method::DELETE, url, None, op, &[]).await
    }
    /// A GET outside ARM (Key Vault data plane) with a token for `scope`.
    pub async fn get_scoped(
        &self,
        url: Url,
        scope: &str,
        op: &str,
    ) -> Result<ArmResponse, ArmError> {
        self.send_scoped(Method::GET, url, None, op, &[], scope)
            .await
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let r = &self.config.retry;
        let base =
            r.initial_backoff.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(16) as i32);
        let capped = base.min(r.max_backoff.as_secs_f64());
        Duration::from_secs_f64(capped * rand::rng().random_range(1.0..1.5))
    }

    /// Send one request with in-call retries. `extra` adds headers (If-Match, correlation id).
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        op: &str,
        extra: &[(&str, &str)],
    ) -> Result<ArmResponse, ArmError> {
        let scope = self.scope.clone();
        self.send_scoped(method, url, body, op, extra, &scope).await
    }

    async fn send_scoped(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
        op: &str,
        extra: &[(&str, &str)],
        scope: &str,
    ) -> Result<ArmResponse, ArmError> {
        let kind = op_kind(&method);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let call = Call {
                method: &method,
                url: &url,
                body,
                op,
                extra,
                kind,
                scope,
            };
            let err = match self.try_once(&call).await {
                Ok(resp) => return Ok(resp),
                Err(e) => e,
            };
            let retry = &self.config.retry;
            let wait = err.retry_after.unwrap_or_else(|| self.backoff(attempt));
            if !err.is_transient() || attempt >= retry.max_attempts || wait > retry.max_in_call_wait
            {
                return Err(err);
            }
            tracing::debug!(op, attempt, code = %err.code, wait_ms = wait.as_millis() as u64, "retrying");
            self.stats.record_retry();
            if err.retry_after.is_some() {
                self.stats.record_retry_after_wait(wait);
            }
            self.clock.sleep(wait).await;
        }
    }

    async fn try_once(&self, call: &Call<'_>) -> Result<ArmResponse, ArmError> {
        let _in_flight = self
            .inflight
            .enter(format!("{} {}", call.method, call.url))
            .await;
        let token = self.token(call.scope).await?;
        // The limiter last, right before sending: a Retry-After that arrived while the token
        // was fetched still holds this request.
        self.limiter.acquire(call.kind).await;
        // The fence, right before the request leaves: a process that lost its run (frozen past
        // its lease) sends no write, even from the middle of a step.
        if call.kind != OpKind::Read && !failback_engine::fence_guard::may_act() {
            return Err(ArmError::local(
                "NotOwned",
                format!(
                    "{}: not sent: this process no longer holds the run (its lease lapsed)",
                    call.op
                ),
                ErrorClass::Permanent,
            ));
        }
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let started = std::time::Instant::now();
        let resp = self.send_once(call, &token, &client_request_id).await?;
        let status = resp.status().as_u16();
        self.stats.record_status(status);
        self.stats
            .record_operation(&call.operation(), &operation::code_class(status));
        let headers = resp.headers().clone();
        self.observe_remaining(&headers);
        let body = read_body(resp, call.op).await?;
        let request_id = header(&headers, "x-ms-request-id");
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let (op, rid) = (call.op, request_id.as_deref().unwrap_or(""));
        // Non-2xx answers are worth seeing without -vv; their ids are what Azure support asks for.
        if (200..300).contains(&status) {
            tracing::debug!(op, status, %client_request_id, request_id = rid, elapsed_ms, "arm request");
        } else {
            tracing::info!(op, status, %client_request_id, request_id = rid, elapsed_ms, "arm request");
        }
        let retry_after = retry_after(&headers);
        if status >= 400 {
            return Err(self.refused(call, status, &body, request_id, retry_after));
        }
        Ok(ArmResponse {
            status,
            body,
            request_id,
            retry_after,
            async_operation: header(&headers, "azure-asyncoperation"),
            location: header(&headers, "location"),
        })
    }

    /// A token for `scope`; a rejected identity is a permanent error (it will not improve by
    /// retrying), an unreachable endpoint a transient one.
    async fn token(&self, scope: &str) -> Result<azure_core::credentials::AccessToken, ArmError> {
        let credential = self
            .credential
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        credential.get_token(&[scope], None).await.map_err(|e| {
            let text = e.to_string();
            let permanent = [
                "invalid_client",
                "unauthorized_client",
                "invalid_scope",
                "AADSTS7000215",
                "AADSTS700016",
            ]
            .iter()
            .any(|m| text.contains(m));
            let class = if permanent {
                ErrorClass::Permanent
            } else {
                ErrorClass::Transient
            };
            ArmError::local("AuthenticationFailed", text, class)
        })
    }

    async fn send_once(
        &self,
        call: &Call<'_>,
        token: &azure_core::credentials::AccessToken,
        client_request_id: &str,
    ) -> Result<reqwest::Response, ArmError> {
        let mut req = self
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.token.secret())
            .header("x-ms-client-request-id", client_request_id)
            .header("accept", "application/json");
        for (k, v) in call.extra {
            req = req.header(*k, *v);
        }
        if let Some(b) = call.body {
            req = req.json(b);
        }
        req.send().await.map_err(|e| {
            self.stats.record_connection_error();
            self.stats
                .record_operation(&call.operation(), operation::NO_RESPONSE);
            let op = call.op;
            tracing::info!(op, %client_request_id, error = %e, "arm request failed");
            ArmError::local(
                "ConnectionFailed",
                format!("{op}: {e}"),
                ErrorClass::Transient,
            )
        })
    }

    /// ARM's `x-ms-ratelimit-remaining-*` headers pull the limiter's buckets down.
    fn observe_remaining(&self, headers: &HeaderMap) {
        for (name, k) in [
            ("x-ms-ratelimit-remaining-subscription-reads", OpKind::Read),
            (
                "x-ms-ratelimit-remaining-subscription-writes",
                OpKind::Write,
            ),
            (
                "x-ms-ratelimit-remaining-subscription-deletes",
                OpKind::Delete,
            ),
        ] {
            if let Some(n) = header(headers, name).and_then(|v| v.parse().ok()) {
                self.limiter.observe_remaining(k, n);
            }
        }
    }

    /// The error for an answer of `status` >= 400. A Retry-After pauses the request's kind at
    /// once; an expired or invalid token renews the credential and is worth a retry.
    fn refused(
        &self,
        call: &Call<'_>,
        status: u16,
        body: &Value,
        request_id: Option<String>,
        retry_after: Option<Duration>,
    ) -> ArmError {
        if let Some(wait) = retry_after {
            // ARM throttles per subscription and kind: every request of this kind waits it
            // out from now, whether or not this call retries in-call (a caller that gets
            // the error back retries on its own timer; the others must not go meanwhile).
            self.limiter.pause(call.kind, wait);
        }
        let mut err = ArmError::from_response(status, body, request_id, retry_after);
        if status == 401
            && matches!(
                err.code.as_str(),
                "ExpiredAuthenticationToken" | "InvalidAuthenticationToken"
            )
        {
            self.renew_credential();
            err.class = ErrorClass::Transient;
        }
        if status == 429 {
            let op = call.op;
            tracing::info!(op, code = %err.code, retry_after_s = retry_after.map(|d| d.as_secs()), "throttled");
        }
        err
    }
}

/// The answer's body as JSON (`Null` when empty or not JSON).
async fn read_body(resp: reqwest::Response, op: &str) -> Result<Value, ArmError> {
    let bytes = resp.bytes().await.map_err(|e| {
        ArmError::local(
            "ConnectionFailed",
            format!("{op}: reading the body: {e}"),
            ErrorClass::Transient,
        )
    })?;
    Ok(if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    })
}
