//! `POST /{tenant}/oauth2/v2.0/token` (client credentials: secret or JWT assertion).

use super::{audience_ok, b64url_decode, mint};
use crate::clock::rfc3339;
use crate::envelope::{oauth_error, Resp};
use crate::router::Ctx;
use crate::server::Shared;
use serde_json::{json, Value};

pub fn handle(sh: &Shared, ctx: &Ctx) -> Resp {
    let now_s = rfc3339(ctx.now);
    let err = |status, e: &str, code, d: &str| oauth_error(status, e, code, d, &now_s);
    if ctx.method != "POST" {
        return err(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&ctx.body).into_owned().collect();
    let f = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let tenant = ctx.seg(0).to_string();
    let mut w = sh.world.lock();
    let known_tenant = w
        .scenario
        .auth
        .principals
        .iter()
        .any(|p| p.tenant_id.eq_ignore_ascii_case(&tenant))
        || w.scenario
            .subscriptions
            .iter()
            .any(|s| s.tenant_id.eq_ignore_ascii_case(&tenant));
    if !known_tenant {
        return err(400, "invalid_request", 90002, &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."));
    }
    match f("grant_type") {
        Some("client_credentials") => {}
        Some(g) => {
            return err(
                400,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{g}'."),
            )
        }
        None => {
            return err(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        }
    }
    let Some(client_id) = f("client_id") else {
        return err(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'client_id'.",
        );
    };
    let Some(p) = w
        .scenario
        .auth
        .principals
        .iter()
        .find(|p| {
            p.client_id.eq_ignore_ascii_case(client_id)
                && p.tenant_id.eq_ignore_ascii_case(&tenant)
                && !p.managed_identity
        })
        .cloned()
    else {
        return err(400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."));
    };
    let Some(scope) = f("scope") else {
        return err(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'scope'.",
        );
    };
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let resource = match scopes.as_slice() {
        [one] if one.ends_with("/.default") => one.trim_end_matches("/.default"),
        _ => return err(400, "invalid_scope", 70011, &format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. The scope format is invalid. Scope must be in a valid URI form <https://example/scope> or a valid Guid <guid/scope>.")),
    };
    if !audience_ok(&ctx.base, resource) {
        return err(400, "invalid_resource", 500011, &format!("The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."));
    }
    if let Some(secret) = f("client_secret") {
        if secret != p.client_secret || p.client_secret.is_empty() {
            return err(401, "invalid_client", 7000215, &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", p.client_id));
        }
    } else if let Some(assertion) = f("client_assertion") {
        if f("client_assertion_type")
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return err(
                400,
                "invalid_request",
                700025,
                "Client assertion type is invalid.",
            );
        }
        // The client signs its assertion with its own wall clock; the accelerated clock moves
        // the simulated Azure, not the client's machine, so `exp` is judged in real time.
        if let Err(m) = check_assertion(assertion, &p.client_id, crate::clock::real_now_ms()) {
            return err(401, "invalid_client", 700027, &m);
        }
    } else {
        return err(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    let (token, life) = mint(&mut w, &p.client_id, &p.tenant_id, resource, ctx.now);
    w.touch();
    Resp::json(
        200,
        &json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token}),
    )
}

/// Signature is not verified (there is no key material in a rehearsal); claims are.
fn check_assertion(jwt: &str, client_id: &str, now: i64) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("Client assertion contains an invalid signature.".into());
    }
    let payload: Value = b64url_decode(parts[1])
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("Client assertion is not a valid JWT.")?;
    let s = |k: &str| payload.get(k).and_then(|v| v.as_str()).unwrap_or("");
    if !s("iss").eq_ignore_ascii_case(client_id) || !s("sub").eq_ignore_ascii_case(client_id) {
        return Err("Client assertion iss/sub must be the client id.".into());
    }
    let exp = payload.get("exp").and_then(|v| v.as_i64()).unwrap_or(0);
    if exp * 1000 <= now {
        return Err(format!("Client assertion is expired (exp {exp})."));
    }
    Ok(())
}
