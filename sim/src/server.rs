//! HTTP front: accept loop (hyper http1), request parsing, and the middleware chain
//! (faults → auth → api-version → throttling → handler) plus common headers and the journal.

use crate::auth::discovery::Protocol;
use crate::clock::{http_date, real_now_ms, rfc3339};
use crate::envelope::{ArmError, ArmResult, Resp};
use crate::faults::FaultAction;
use crate::journal::JournalEntry;
use crate::router::{route, Ctx, Route};
use crate::shared::Shared;
use crate::throttle::{Kind, Verdict};
use crate::world::{Outcome, World};
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

enum Kindof {
    Control,
    Token(Protocol),
    OpenIdConfiguration(Protocol),
    SigningKeys(Protocol),
    InstanceDiscovery,
    ManagedIdentity,
    KeyVault,
    Arm(Option<Route>),
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn handle(
    sh: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let path_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let mut segs: Vec<String> = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let mut query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
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
    let lsegs: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
    let request_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = parts
        .headers
        .get("x-ms-correlation-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_string())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let client_request_id = parts
        .headers
        .get("x-ms-client-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|s| s.to_string());
    let return_client_id = parts
        .headers
        .get("x-ms-return-client-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));

    let kind = match lsegs
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["_sim", ..] => Kindof::Control,
        [_, "oauth2", "v2.0", "token"] => Kindof::Token(Protocol::V2),
        [_, "oauth2", "token"] => Kindof::Token(Protocol::V1),
        [_, "v2.0", ".well-known", "openid-configuration"] => {
            Kindof::OpenIdConfiguration(Protocol::V2)
        }
        [_, ".well-known", "openid-configuration"] => Kindof::OpenIdConfiguration(Protocol::V1),
        [_, "discovery", "v2.0", "keys"] => Kindof::SigningKeys(Protocol::V2),
        [_, "discovery", "keys"] => Kindof::SigningKeys(Protocol::V1),
        ["common", "discovery", "instance"] => Kindof::InstanceDiscovery,
        ["msi", "token"] => Kindof::ManagedIdentity,
        ["keyvault", _, "secrets", _] | ["keyvault", _, "secrets", _, _] => Kindof::KeyVault,
        _ => Kindof::Arm(route(&lsegs)),
    };
    let op_name = match &kind {
        Kindof::Control => String::new(),
        Kindof::Token(_) => format!("{method} token"),
        Kindof::OpenIdConfiguration(_) => format!("{method} openidConfiguration"),
        Kindof::SigningKeys(_) => format!("{method} signingKeys"),
        Kindof::InstanceDiscovery => format!("{method} instanceDiscovery"),
        Kindof::ManagedIdentity => "GET managedIdentityToken".into(),
        Kindof::KeyVault => format!("{method} keyVaultSecret"),
        Kindof::Arm(Some(r)) => format!("{method} {}", r.type_name()),
        Kindof::Arm(None) => format!("{method} unknown"),
    };

    let body = match Limited::new(body, 4 << 20).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => {
            let r = ArmError::new(
                413,
                "RequestEntityTooLarge",
                "The request content size exceeds the maximum of 4194304 bytes.",
            )
            .into_resp();
            return Ok(finish(
                &sh,
                r,
                &method,
                &path_query,
                &op_name,
                &request_id,
                &correlation_id,
                client_request_id,
                return_client_id,
                None,
                None,
            ));
        }
    };
    let now = sh.clock.now();
    let mut ctx = Ctx {
        method: method.clone(),
        segs,
        lsegs,
        query,
        headers: parts.headers,
        body,
        now,
        base: sh.base_url.clone(),
        principal: None,
        lro_fault: None,
        slow: 1.0,
    };

    if let Kindof::Control = kind {
        let r = crate::control::handle(&sh, &ctx);
        return Ok(to_response(r));
    }

    // Faults first: they model the network and ARM's front door.
    let fired = sh.faults.lock().evaluate(&method, &path_query, &op_name);
    let mut fault_desc: Option<String> = None;
    let mut early: Option<Resp> = None;
    for (id, action) in fired {
        match action {
            FaultAction::Drop => {
                sh.journal.push(entry(
                    &sh,
                    now,
                    &method,
                    &path_query,
                    0,
                    &op_name,
                    &request_id,
                    &correlation_id,
                    client_request_id.clone(),
                    None,
                    None,
                    Some(format!("#{id} drop")),
                ));
                return Err(DropConnection);
            }
            FaultAction::Delay { ms } => {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                fault_desc = Some(format!("#{id} delay {ms}ms"));
            }
            FaultAction::Status {
                status,
                retry_after,
                code,
                message,
            } => {
                if early.is_none() {
                    early = Some(fault_status(status, retry_after, code, message));
                    fault_desc = Some(format!("#{id} status {status}"));
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
                fault_desc = Some(format!("#{id} fail_operation"));
            }
            FaultAction::SlowProvisioning { factor } => {
                ctx.slow = if factor.is_finite() && factor > 0.0 {
                    factor
                } else {
                    1.0
                };
                fault_desc = Some(format!("#{id} slow x{factor}"));
            }
        }
    }
    let now = sh.clock.now();
    ctx.now = now;

    let resp = if let Some(r) = early {
        r
    } else {
        match kind {
            Kindof::Token(p) => crate::auth::token::handle(&sh, &ctx, p),
            Kindof::OpenIdConfiguration(p) => {
                crate::auth::discovery::openid_configuration(&sh, &ctx, p)
            }
            Kindof::SigningKeys(p) => crate::auth::discovery::keys(&sh, &ctx, p),
            Kindof::InstanceDiscovery => crate::auth::discovery::instance(&ctx),
            Kindof::ManagedIdentity => crate::auth::managed_identity::handle(&sh, &ctx),
            Kindof::KeyVault => {
                crate::keyvault::handle(&sh, &mut ctx).unwrap_or_else(|e| e.into_resp())
            }
            Kindof::Arm(r) => arm(&sh, &mut ctx, r, &op_name).unwrap_or_else(|e| e.into_resp()),
            Kindof::Control => Resp::empty(500),
        }
    };
    let principal = ctx.principal.clone();
    Ok(finish(
        &sh,
        resp,
        &method,
        &path_query,
        &op_name,
        &request_id,
        &correlation_id,
        client_request_id,
        return_client_id,
        principal,
        fault_desc,
    ))
}

fn arm(sh: &Shared, ctx: &mut Ctx, r: Option<Route>, op_name: &str) -> ArmResult {
    let principal = {
        let w = sh.world.lock();
        crate::auth::authenticate(&w, ctx)?
    };
    ctx.principal = Some(principal.clone());
    let Some(r) = r else {
        return Err(ArmError::new(
            404,
            "InvalidResourceType",
            format!(
                "The resource type could not be found for path '/{}'.",
                ctx.segs.join("/")
            ),
        ));
    };
    let (throttle_cfg, denied) = {
        let w = sh.world.lock();
        crate::apiver::check(&w.scenario, r.area(), ctx.q("api-version"), r.type_name())?;
        let denied = w
            .scenario
            .auth
            .principals
            .iter()
            .find(|p| p.client_id.eq_ignore_ascii_case(&principal))
            .is_some_and(|p| {
                p.denied_operations
                    .iter()
                    .any(|o| o.eq_ignore_ascii_case(op_name))
            });
        (w.scenario.throttle.clone(), denied)
    };
    if denied {
        return Err(ArmError::new(
            403,
            "AuthorizationFailed",
            format!(
                "The client '{principal}' with object id '{principal}' does not have authorization to perform action '{op_name}' over scope '/{}' or the scope is invalid.",
                ctx.segs.join("/")
            ),
        ));
    }
    let mut rl_headers = vec![];
    if throttle_cfg.enabled {
        let kind = Kind::for_method(&ctx.method);
        let mut t = sh.throttle.lock();
        match t.take(&throttle_cfg, &principal, kind, ctx.now) {
            Verdict::Allowed { remaining } => {
                rl_headers.push((kind.header().to_string(), remaining.to_string()))
            }
            Verdict::Throttled { retry_after_secs } => {
                return Err(ArmError::new(
                    429,
                    "SubscriptionRequestsThrottled",
                    format!("Number of '{}' requests for subscription '{}' actor '{principal}' exceeded. Please try again after '{retry_after_secs}' seconds after the current bucket refills.", match kind { Kind::Reads => "read", Kind::Deletes => "delete", _ => "write" }, ctx.seg(1)),
                )
                .header("Retry-After", retry_after_secs.to_string())
                .header(kind.header(), "0"));
            }
        }
        if r == Route::InstanceView && ctx.method == "GET" {
            match t.take(&throttle_cfg, &principal, Kind::ComputeHighCostGet, ctx.now) {
                Verdict::Allowed { remaining } => rl_headers.push((
                    Kind::ComputeHighCostGet.header().into(),
                    format!("Microsoft.Compute/HighCostGet3Min;{remaining}"),
                )),
                Verdict::Throttled { retry_after_secs } => {
                    return Err(ArmError::new(409, "OperationNotAllowed", "The server rejected the request because too many requests have been received for this subscription.")
                        .detail("TooManyRequests", &format!("{{\"operationGroup\":\"HighCostGet3Min\",\"startTime\":\"{}\",\"endTime\":\"{}\",\"allowedRequestCount\":{},\"measuredRequestCount\":{}}}", rfc3339(ctx.now), rfc3339(ctx.now + 180_000), throttle_cfg.compute_high_cost_get_per_3min as u64, throttle_cfg.compute_high_cost_get_per_3min as u64 + 1))
                        .header("Retry-After", retry_after_secs.to_string()));
                }
            }
        }
    }
    let mut w = sh.world.lock();
    w.tick(ctx.now);
    let res = dispatch(&mut w, ctx, r);
    if ctx.method != "GET" {
        w.touch();
    }
    drop(w);
    // ARM has recorded a write (and any operation it started) before it answers.
    if ctx.method != "GET" {
        if let Err(e) = crate::persist::save_now(sh) {
            tracing::warn!("persisting sim state failed: {e}");
        }
    }
    match res {
        Ok(mut resp) => {
            resp.headers.extend(rl_headers);
            Ok(resp)
        }
        Err(mut e) => {
            e.headers.extend(rl_headers);
            Err(e)
        }
    }
}

fn dispatch(w: &mut World, ctx: &Ctx, r: Route) -> ArmResult {
    let sub = ctx.seg(1).to_string();
    let Some(sdef) = w.sub(&sub) else {
        return Err(ArmError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        ));
    };
    // The token's tenant must own the subscription.
    let tenant = sdef.tenant_id.clone();
    if let Some(p) = &ctx.principal {
        let tok_tenant = w
            .tokens
            .values()
            .find(|t| &t.client_id == p)
            .map(|t| t.tenant_id.clone());
        if let Some(tt) = tok_tenant {
            if !tenant.is_empty() && !tt.eq_ignore_ascii_case(&tenant) {
                return Err(ArmError::new(401, "InvalidAuthenticationTokenTenant", format!("The access token is from the wrong issuer. It must match the tenant '{tenant}' associated with this subscription.")));
            }
        }
    }
    let needs_rg = !matches!(
        r,
        Route::Subscription
            | Route::Skus
            | Route::Usages
            | Route::ComputeOperation
            | Route::NetworkOperation
            | Route::SubscriptionNicList
            | Route::SubscriptionVmList
    );
    if needs_rg && !w.rg_exists(&sub, ctx.seg(3)) {
        return Err(ArmError::new(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{}' could not be found.", ctx.seg(3)),
        ));
    }
    let m = ctx.method.as_str();
    use Route::*;
    match (r, m) {
        (Subscription, "GET") => crate::control::subscription_body(w, ctx),
        (ResourceGroup, "GET") => crate::control::resource_group_body(w, ctx),
        (Skus, "GET") => crate::compute::skus::list(w, ctx),
        (Usages, "GET") => crate::compute::usages::list(w, ctx),
        (ComputeOperation | NetworkOperation, "GET") => crate::lro::get_operation(w, ctx),
        (VnetList, "GET") => crate::network::vnets::list(w, ctx),
        (Vnet, "GET") => crate::network::vnets::get(w, ctx),
        (SubnetList, "GET") => crate::network::vnets::list_subnets(w, ctx),
        (Subnet, "GET") => crate::network::vnets::get_subnet(w, ctx),
        (CheckIp, "GET") => crate::network::vnets::check_ip(w, ctx),
        (NicList | SubscriptionNicList, "GET") => crate::network::nics::list(w, ctx),
        (Nic, "GET") => crate::network::nics::get(w, ctx),
        (Nic, "PUT") => crate::network::nics::put(w, ctx),
        (Nic, "DELETE") => crate::network::nics::delete(w, ctx),
        (NicOperationResult, "GET") => crate::lro::get_operation(w, ctx),
        (VmList | SubscriptionVmList, "GET") => crate::compute::vms::list(w, ctx),
        (Vm, "GET") => crate::compute::vms::get(w, ctx),
        (Vm, "PUT") => crate::compute::vms::put(w, ctx),
        (Vm, "DELETE") => crate::compute::vms::delete(w, ctx),
        (InstanceView, "GET") => crate::compute::instance_view::get(w, ctx),
        (RunCommandAction, "POST") => crate::compute::run_commands::action(w, ctx),
        (RunCommandList, "GET") => crate::compute::run_commands::list(w, ctx),
        (RunCommand, "GET") => crate::compute::run_commands::get(w, ctx),
        (RunCommand, "PUT") => crate::compute::run_commands::put(w, ctx),
        (RunCommand, "DELETE") => crate::compute::run_commands::delete(w, ctx),
        (DiskList, "GET") => crate::compute::disks::list(w, ctx),
        (Disk, "GET") => crate::compute::disks::get(w, ctx),
        (Disk, "DELETE") => crate::compute::disks::delete(w, ctx),
        (FabricList, "GET") => crate::asr::fabrics::list(w, ctx),
        (Fabric, "GET") => crate::asr::fabrics::get(w, ctx),
        (ReassociateGateway, "POST") => crate::asr::fabrics::reassociate(w, ctx),
        (ContainerItemList | VaultItemList, "GET") => crate::asr::protected_items::list(w, ctx),
        (ProtectedItem, "GET") => crate::asr::protected_items::get(w, ctx),
        (ItemAction, "POST") => crate::asr::protected_items::action(w, ctx),
        (ItemOperationResult, "GET") => crate::asr::protected_items::operation_result(w, ctx),
        (JobList, "GET") => crate::asr::jobs::list(w, ctx),
        (Job, "GET") => crate::asr::jobs::get(w, ctx),
        (JobCancel, "POST") => crate::asr::jobs::cancel(w, ctx),
        (AsrOperationStatus, "GET") => crate::asr::jobs::operation_status(w, ctx),
        _ => Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested resource does not support http method '{m}'."),
        )),
    }
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

#[allow(clippy::too_many_arguments)]
fn entry(
    sh: &Shared,
    now: i64,
    method: &str,
    path: &str,
    status: u16,
    op: &str,
    request_id: &str,
    correlation_id: &str,
    client_request_id: Option<String>,
    error_code: Option<String>,
    principal: Option<String>,
    fault: Option<String>,
) -> JournalEntry {
    let _ = sh;
    JournalEntry {
        seq: 0,
        real_time: rfc3339(real_now_ms()),
        sim_time: rfc3339(now),
        method: method.to_string(),
        path: path.to_string(),
        status,
        client_request_id,
        request_id: request_id.to_string(),
        correlation_id: correlation_id.to_string(),
        operation: op.to_string(),
        error_code,
        principal,
        fault,
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    sh: &Shared,
    mut r: Resp,
    method: &str,
    path: &str,
    op: &str,
    request_id: &str,
    correlation_id: &str,
    client_request_id: Option<String>,
    return_client_id: bool,
    principal: Option<String>,
    fault: Option<String>,
) -> Response<Full<Bytes>> {
    let now = sh.clock.now();
    let routing = format!(
        "WESTEUROPE:{}:{}",
        chrono::DateTime::from_timestamp_millis(now)
            .map(|d| d.format("%Y%m%dT%H%M%SZ").to_string())
            .unwrap_or_default(),
        request_id
    );
    r.headers
        .push(("x-ms-request-id".into(), request_id.into()));
    r.headers
        .push(("x-ms-correlation-request-id".into(), correlation_id.into()));
    r.headers.push(("x-ms-routing-request-id".into(), routing));
    r.headers.push(("date".into(), http_date(now)));
    r.headers.push(("cache-control".into(), "no-cache".into()));
    r.headers.push(("pragma".into(), "no-cache".into()));
    r.headers.push(("expires".into(), "-1".into()));
    r.headers
        .push(("x-content-type-options".into(), "nosniff".into()));
    if return_client_id {
        if let Some(c) = &client_request_id {
            r.headers.push(("x-ms-client-request-id".into(), c.clone()));
        }
    }
    sh.journal.push(entry(
        sh,
        now,
        method,
        path,
        r.status,
        op,
        request_id,
        correlation_id,
        client_request_id,
        r.error_code.clone(),
        principal,
        fault,
    ));
    to_response(r)
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
