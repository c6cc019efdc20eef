//! ARM's front door for emulated resources: bearer authentication, the resource type, the
//! api-version, RBAC denials, throttling, the subscription and resource group, then the one
//! handler for the route and method. A write is on disk before it is answered.

use crate::clock::rfc3339;
use crate::envelope::{ArmError, ArmResult};
use crate::router::{Ctx, Route};
use crate::scenario::ThrottleConfig;
use crate::shared::Shared;
use crate::throttle::{Kind, Verdict};
use crate::world::World;

/// Serve an ARM request; `route` is `None` when the path names no emulated resource type.
pub fn serve(sh: &Shared, ctx: &mut Ctx, route: Option<Route>, op_name: &str) -> ArmResult {
    let principal = crate::auth::authenticate(&sh.world.lock(), ctx)?;
    ctx.principal = Some(principal.clone());
    let Some(r) = route else {
        return Err(ArmError::new(
            404,
            "InvalidResourceType",
            format!(
                "The resource type could not be found for path '/{}'.",
                ctx.segs.join("/")
            ),
        ));
    };
    let throttle_cfg = admit(sh, ctx, r, &principal, op_name)?;
    let rate_headers = if throttle_cfg.enabled {
        take_budget(sh, ctx, r, &throttle_cfg, &principal)?
    } else {
        vec![]
    };
    let mut w = sh.world.lock();
    w.tick(ctx.now);
    let res = check_scope(&w, ctx, r).and_then(|()| dispatch(&mut w, ctx, r));
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
            resp.headers.extend(rate_headers);
            Ok(resp)
        }
        Err(mut e) => {
            e.headers.extend(rate_headers);
            Err(e)
        }
    }
}

/// The api-version, then the principal's `denied_operations`; returns the throttle settings.
fn admit(
    sh: &Shared,
    ctx: &Ctx,
    r: Route,
    principal: &str,
    op_name: &str,
) -> Result<ThrottleConfig, ArmError> {
    let w = sh.world.lock();
    crate::apiver::check(&w.scenario, r.area(), ctx.q("api-version"), r.type_name())?;
    let denied = w
        .scenario
        .auth
        .principals
        .iter()
        .find(|p| p.client_id.eq_ignore_ascii_case(principal))
        .is_some_and(|p| {
            p.denied_operations
                .iter()
                .any(|o| o.eq_ignore_ascii_case(op_name))
        });
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
    Ok(w.scenario.throttle.clone())
}

/// Take one request from the principal's bucket (and, for an instance view, one from Compute's
/// HighCostGet bucket); returns the remaining-requests headers.
fn take_budget(
    sh: &Shared,
    ctx: &Ctx,
    r: Route,
    cfg: &ThrottleConfig,
    principal: &str,
) -> Result<Vec<(String, String)>, ArmError> {
    let kind = Kind::for_method(&ctx.method);
    let mut t = sh.throttle.lock();
    let mut headers = vec![];
    match t.take(cfg, principal, kind, ctx.now) {
        Verdict::Allowed { remaining } => {
            headers.push((kind.header().to_string(), remaining.to_string()))
        }
        Verdict::Throttled { retry_after_secs } => {
            let what = match kind {
                Kind::Reads => "read",
                Kind::Deletes => "delete",
                _ => "write",
            };
            return Err(ArmError::new(
                429,
                "SubscriptionRequestsThrottled",
                format!("Number of '{what}' requests for subscription '{}' actor '{principal}' exceeded. Please try again after '{retry_after_secs}' seconds after the current bucket refills.", ctx.subscription()),
            )
            .header("Retry-After", retry_after_secs.to_string())
            .header(kind.header(), "0"));
        }
    }
    if r == Route::InstanceView && ctx.method == "GET" {
        match t.take(cfg, principal, Kind::ComputeHighCostGet, ctx.now) {
            Verdict::Allowed { remaining } => headers.push((
                Kind::ComputeHighCostGet.header().into(),
                format!("Microsoft.Compute/HighCostGet3Min;{remaining}"),
            )),
            Verdict::Throttled { retry_after_secs } => {
                return Err(high_cost_get_throttled(ctx, cfg, retry_after_secs))
            }
        }
    }
    Ok(headers)
}

fn high_cost_get_throttled(ctx: &Ctx, cfg: &ThrottleConfig, retry_after_secs: u64) -> ArmError {
    let allowed = cfg.compute_high_cost_get_per_3min as u64;
    ArmError::new(409, "OperationNotAllowed", "The server rejected the request because too many requests have been received for this subscription.")
        .detail("TooManyRequests", &format!("{{\"operationGroup\":\"HighCostGet3Min\",\"startTime\":\"{}\",\"endTime\":\"{}\",\"allowedRequestCount\":{allowed},\"measuredRequestCount\":{}}}", rfc3339(ctx.now), rfc3339(ctx.now + 180_000), allowed + 1))
        .header("Retry-After", retry_after_secs.to_string())
}

/// The subscription exists and belongs to the token's tenant; the resource group exists (for
/// routes inside one).
fn check_scope(w: &World, ctx: &Ctx, r: Route) -> Result<(), ArmError> {
    let sub = ctx.subscription();
    let Some(sdef) = w.sub(sub) else {
        return Err(ArmError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        ));
    };
    let tenant = &sdef.tenant_id;
    let token_tenant = ctx.principal.as_ref().and_then(|p| {
        w.tokens
            .values()
            .find(|t| &t.client_id == p)
            .map(|t| t.tenant_id.clone())
    });
    if let Some(tt) = token_tenant {
        if !tenant.is_empty() && !tt.eq_ignore_ascii_case(tenant) {
            return Err(ArmError::new(401, "InvalidAuthenticationTokenTenant", format!("The access token is from the wrong issuer. It must match the tenant '{tenant}' associated with this subscription.")));
        }
    }
    if r.in_resource_group() && !w.rg_exists(sub, ctx.resource_group()) {
        return Err(ArmError::new(
            404,
            "ResourceGroupNotFound",
            format!(
                "Resource group '{}' could not be found.",
                ctx.resource_group()
            ),
        ));
    }
    Ok(())
}

/// The one handler for a route and method.
fn dispatch(w: &mut World, ctx: &Ctx, r: Route) -> ArmResult {
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
        (Nic, "PUT") => crate::network::nic_put::put(w, ctx),
        (Nic, "DELETE") => crate::network::nics::delete(w, ctx),
        (NicOperationResult, "GET") => crate::lro::get_operation(w, ctx),
        (VmList | SubscriptionVmList, "GET") => crate::compute::vms::list(w, ctx),
        (Vm, "GET") => crate::compute::vms::get(w, ctx),
        (Vm, "PUT") => crate::compute::vm_put::put(w, ctx),
        (Vm, "DELETE") => crate::compute::vms::delete(w, ctx),
        (InstanceView, "GET") => crate::compute::instance_view::get(w, ctx),
        (RunCommandAction, "POST") => crate::compute::run_commands::action(w, ctx),
        (RunCommandList, "GET") => crate::compute::run_commands::list(w, ctx),
        (RunCommand, "GET") => crate::compute::run_commands::get(w, ctx),
        (RunCommand, "PUT") => crate::compute::run_command_put::put(w, ctx),
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
