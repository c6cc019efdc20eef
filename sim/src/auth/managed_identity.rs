//! App Service–style managed identity endpoint (`IDENTITY_ENDPOINT` + `IDENTITY_HEADER`), plain HTTP,
//! which azure_identity's ManagedIdentityCredential accepts (its client-secret path requires https).

use super::{audience_ok, mint};
use crate::envelope::Resp;
use crate::router::Ctx;
use crate::shared::Shared;
use serde_json::json;

pub fn handle(sh: &Shared, ctx: &Ctx) -> Resp {
    let bad = |status: u16, msg: &str| {
        Resp::json(
            status,
            &json!({"statusCode": status, "message": msg, "error": {"code": "invalid_request", "message": msg}}),
        )
    };
    if ctx.method != "GET" {
        return bad(405, "Only GET is supported.");
    }
    let mut w = sh.world.lock();
    let expected = w.scenario.auth.identity_header.clone();
    if ctx.header("x-identity-header") != Some(expected.as_str()) {
        return bad(
            401,
            "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.",
        );
    }
    if ctx.q("api-version").is_none() {
        return bad(400, "The api-version parameter is required.");
    }
    let Some(resource) = ctx.q("resource") else {
        return bad(400, "The resource parameter is required.");
    };
    if !audience_ok(&ctx.base, resource) {
        return bad(400, &format!("AADSTS500011: The resource principal named {resource} was not found in the tenant."));
    }
    let wanted = ctx.q("client_id").map(|s| s.to_string());
    let Some(p) = w
        .scenario
        .auth
        .principals
        .iter()
        .find(|p| {
            p.managed_identity
                && wanted
                    .as_deref()
                    .is_none_or(|c| p.client_id.eq_ignore_ascii_case(c))
        })
        .cloned()
    else {
        return bad(400, "No managed identity is assigned to this resource.");
    };
    let Ok((token, life)) = mint(
        &mut w,
        &sh.signer,
        &p.client_id,
        &p.tenant_id,
        resource,
        ctx.now,
    ) else {
        return bad(500, "The token could not be signed.");
    };
    w.touch();
    let exp = ctx.now / 1000 + life;
    Resp::json(
        200,
        &json!({"access_token": token, "expires_on": exp.to_string(), "resource": resource, "token_type": "Bearer", "client_id": p.client_id}),
    )
}
