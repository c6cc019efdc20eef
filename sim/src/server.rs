//! HTTP front: the accept loop (hyper http1, optionally TLS) and the chain every request goes
//! through: parse and classify (`request`, `endpoint`), fault injection, the service (Entra,
//! managed identity, Key Vault, or ARM's front door in `arm`), then common headers and the journal.

use crate::endpoint::Endpoint;
use crate::envelope::{ArmError, Resp};
use crate::faults::FaultAction;
use crate::request::{Notes, RequestPath, RequestRecord};
use crate::router::Ctx;
use crate::shared::Shared;
use crate::world::Outcome;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Returned to hyper to drop the connection without answering (fault injection).
#[derive(Debug)]
pub struct DropConnection;
impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}
impl std::error::Error for DropConnection {}

/// A client that opens a connection and never completes the handshake is dropped after this.
const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn serve(
    listener: TcpListener,
    sh: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => {
                let Ok((stream, peer)) = r else { continue };
                let _ = stream.set_nodelay(true);
                let sh = sh.clone();
                let tls = tls.clone();
                conns.spawn(async move {
                    match tls {
                        None => serve_conn(stream, sh).await,
                        Some(acceptor) => {
                            match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(s)) => serve_conn(s, sh).await,
                                Ok(Err(e)) => tracing::debug!("TLS handshake with {peer} failed: {e}"),
                                Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                            }
                        }
                    }
                });
            }
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
}

async fn serve_conn<S>(io: S, sh: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = service_fn(move |req| handle(sh.clone(), req));
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), svc)
        .await;
}

/// Parse, classify, apply faults, serve, stamp and journal one request.
async fn handle(
    sh: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = req.into_parts();
    let path = RequestPath::of(&parts.uri);
    let endpoint = Endpoint::of(&path.segs_lowercase);
    let record = RequestRecord::of(&parts, endpoint);
    let body = match Limited::new(body, 4 << 20).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            let r = ArmError::new(
                413,
                "RequestEntityTooLarge",
                "The request content size exceeds the maximum of 4194304 bytes.",
            )
            .into_resp();
            return Ok(to_response(record.finish(&sh, r, Notes::default())));
        }
    };
    let mut ctx = Ctx {
        method: record.method.clone(),
        segs: path.segs,
        segs_lowercase: path.segs_lowercase,
        query: path.query,
        headers: parts.headers,
        body,
        now: sh.clock.now(),
        base: sh.base_url.clone(),
        principal: None,
        lro_fault: None,
        slow: 1.0,
    };
    if endpoint == Endpoint::Control {
        return Ok(to_response(crate::control::handle(&sh, &ctx)));
    }
    // Faults first: they model the network and ARM's front door.
    let fired = apply_faults(&sh, &mut ctx, &record).await?;
    ctx.now = sh.clock.now();
    let resp = match fired.answer {
        Some(r) => r,
        None => serve_endpoint(&sh, &mut ctx, endpoint, &record.op_name),
    };
    let notes = Notes {
        principal: ctx.principal.clone(),
        fault: fired.description,
        ..Notes::default()
    };
    Ok(to_response(record.finish(&sh, resp, notes)))
}

fn serve_endpoint(sh: &Shared, ctx: &mut Ctx, endpoint: Endpoint, op_name: &str) -> Resp {
    use crate::auth::{discovery, managed_identity, token};
    match endpoint {
        Endpoint::Token(p) => token::handle(sh, ctx, p),
        Endpoint::OpenIdConfiguration(p) => discovery::openid_configuration(sh, ctx, p),
        Endpoint::SigningKeys(p) => discovery::keys(sh, ctx, p),
        Endpoint::InstanceDiscovery => discovery::instance(ctx),
        Endpoint::ManagedIdentity => managed_identity::handle(sh, ctx),
        Endpoint::KeyVault => crate::keyvault::handle(sh, ctx).unwrap_or_else(|e| e.into_resp()),
        Endpoint::Arm(r) => {
            crate::arm::serve(sh, ctx, r, op_name).unwrap_or_else(|e| e.into_resp())
        }
        Endpoint::Control => crate::control::handle(sh, ctx),
    }
}

/// What the fault rules that fired did to a request.
#[derive(Default)]
struct FiredFaults {
    /// An injected status answers instead of the service.
    answer: Option<Resp>,
    /// For the journal.
    description: Option<String>,
}

/// Apply every fault rule matching the request: drop the connection, delay, answer with a
/// status, or mark the operation it starts to fail / run slow.
async fn apply_faults(
    sh: &Shared,
    ctx: &mut Ctx,
    record: &RequestRecord,
) -> Result<FiredFaults, DropConnection> {
    let fired = sh
        .faults
        .lock()
        .evaluate(&record.method, &record.path_query, &record.op_name);
    let mut out = FiredFaults::default();
    for (id, action) in fired {
        match action {
            FaultAction::Drop => {
                let notes = Notes {
                    fault: Some(format!("#{id} drop")),
                    ..Notes::default()
                };
                sh.journal.push(record.journal_entry(ctx.now, 0, notes));
                return Err(DropConnection);
            }
            FaultAction::Delay { ms } => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                out.description = Some(format!("#{id} delay {ms}ms"));
            }
            FaultAction::Status {
                status,
                retry_after,
                code,
                message,
            } => {
                if out.answer.is_none() {
                    out.answer = Some(fault_status(status, retry_after, code, message));
                    out.description = Some(format!("#{id} status {status}"));
                }
            }
            FaultAction::FailOperation {
                code,
                message,
                canceled,
            } => {
                ctx.lro_fault = Some(if canceled {
                    Outcome::Canceled
                } else {
                    Outcome::Failed {
                        message: message.unwrap_or_else(|| default_failure_message(&code)),
                        code,
                        status: 200,
                    }
                });
                out.description = Some(format!("#{id} fail_operation"));
            }
            FaultAction::SlowProvisioning { factor } => {
                ctx.slow = if factor.is_finite() && factor > 0.0 {
                    factor
                } else {
                    1.0
                };
                out.description = Some(format!("#{id} slow x{factor}"));
            }
        }
    }
    Ok(out)
}

fn default_failure_message(code: &str) -> String {
    match code {
        "AllocationFailed" => "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance".into(),
        "OSProvisioningTimedOut" => "OS Provisioning for VM 'vm' did not finish in the allotted time. The VM may still finish provisioning successfully. Please check provisioning state later.".into(),
        _ => format!("The operation failed with code {code}."),
    }
}

fn fault_status(
    status: u16,
    retry_after: Option<u64>,
    code: Option<String>,
    message: Option<String>,
) -> Resp {
    let (dcode, dmsg) = match status {
        429 => ("SubscriptionRequestsThrottled", "Number of requests exceeded the limit. Please retry later."),
        500 => ("InternalServerError", "Encountered internal server error. Please try again."),
        502 => ("BadGateway", "The gateway did not receive a response from the service."),
        503 => ("ServiceUnavailable", "The service is temporarily unavailable. Please try again later."),
        504 => ("GatewayTimeout", "The gateway did not receive a response from 'Microsoft.Compute' within the specified time period."),
        404 => ("ResourceNotFound", "The resource was not found."),
        409 => ("Conflict", "The request conflicts with the current state."),
        _ => ("InjectedFault", "Injected fault."),
    };
    let mut e = ArmError::new(
        status,
        code.as_deref().unwrap_or(dcode),
        message.unwrap_or_else(|| dmsg.to_string()),
    );
    if let Some(ra) = retry_after {
        e = e.header("Retry-After", ra.to_string());
    }
    e.into_resp()
}

pub fn to_response(r: Resp) -> Response<Full<Bytes>> {
    let mut b = Response::builder().status(r.status);
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    let body = Full::new(Bytes::from(r.body.unwrap_or_default()));
    b.body(body).unwrap_or_else(|_| {
        let mut resp = Response::new(Full::new(Bytes::from_static(
            b"{\"error\":{\"code\":\"InternalServerError\",\"message\":\"bad response header\"}}",
        )));
        *resp.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
        resp
    })
}
