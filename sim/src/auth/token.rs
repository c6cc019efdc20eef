//! Entra's token endpoints for the client-credentials grant: v2 `POST /{tenant}/oauth2/v2.0/token`
//! (`scope=…/.default`) and v1 `POST /{tenant}/oauth2/token` (`resource=…`). The client proves
//! itself with a secret (in the body or HTTP Basic) or a JWT assertion.

use super::discovery::Protocol;
use super::{audience_ok, b64url_decode, known_tenant, mint};
use crate::clock::rfc3339;
use crate::envelope::{oauth_error, Resp};
use crate::router::Ctx;
use crate::scenario::PrincipalDef;
use crate::shared::Shared;
use serde_json::{json, Value};

/// An OAuth error as Entra returns it: HTTP status, `error`, AADSTS code, description.
struct Refusal {
    status: u16,
    error: &'static str,
    aadsts: u32,
    description: String,
}

fn refuse(
    status: u16,
    error: &'static str,
    aadsts: u32,
    description: impl Into<String>,
) -> Refusal {
    Refusal {
        status,
        error,
        aadsts,
        description: description.into(),
    }
}

fn missing(name: &str) -> Refusal {
    refuse(
        400,
        "invalid_request",
        900144,
        format!("The request body must contain the following parameter: '{name}'."),
    )
}

/// The request's form fields, with HTTP Basic client credentials folded in.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(ctx: &Ctx) -> Form {
        let mut fields: Vec<(String, String)> =
            form_urlencoded::parse(&ctx.body).into_owned().collect();
        let basic = ctx
            .header("authorization")
            .and_then(|h| {
                h.strip_prefix("Basic ")
                    .or_else(|| h.strip_prefix("basic "))
            })
            .and_then(|b| b64url_decode(b.trim()))
            .and_then(|b| String::from_utf8(b).ok());
        if let Some((id, secret)) = basic.as_deref().and_then(|s| s.split_once(':')) {
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            fields.push(("client_id".into(), dec(id)));
            fields.push(("client_secret".into(), dec(secret)));
        }
        Form(fields)
    }
    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }
    fn require(&self, k: &str) -> Result<&str, Refusal> {
        self.get(k).ok_or_else(|| missing(k))
    }
}

pub fn handle(sh: &Shared, ctx: &Ctx, protocol: Protocol) -> Resp {
    match issue(sh, ctx, protocol) {
        Ok(r) => {
            // A token Entra issued stays valid across an emulator restart: on disk before it
            // is handed out.
            if let Err(e) = crate::persist::save_now(sh) {
                tracing::warn!("persisting sim state failed: {e}");
            }
            r
        }
        Err(e) => oauth_error(
            e.status,
            e.error,
            e.aadsts,
            &e.description,
            &rfc3339(ctx.now),
        ),
    }
}

fn issue(sh: &Shared, ctx: &Ctx, protocol: Protocol) -> Result<Resp, Refusal> {
    if ctx.method != "POST" {
        return Err(refuse(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        ));
    }
    let form = Form::parse(ctx);
    let tenant = ctx.tenant().to_string();
    let mut w = sh.world.lock();
    if !known_tenant(&w, &tenant) {
        return Err(refuse(400, "invalid_request", 90002, format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")));
    }
    match form.require("grant_type")? {
        "client_credentials" => {}
        g => {
            return Err(refuse(
                400,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{g}'."),
            ))
        }
    }
    let client_id = form.require("client_id")?;
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
        return Err(refuse(400, "unauthorized_client", 700016, format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")));
    };
    let resource = match protocol {
        Protocol::V2 => resource_of_scope(form.require("scope")?)?,
        Protocol::V1 => form.require("resource")?.to_string(),
    };
    if !audience_ok(&ctx.base, &resource) {
        return Err(refuse(400, "invalid_resource", 500011, format!("The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.")));
    }
    check_client(&form, &p)?;
    let (token, life) = mint(
        &mut w,
        &sh.signer,
        &p.client_id,
        &p.tenant_id,
        &resource,
        ctx.now,
    )
    .map_err(|e| refuse(500, "temporarily_unavailable", 90033, e.to_string()))?;
    w.touch();
    Ok(Resp::json(
        200,
        &body(protocol, token, life, &resource, ctx.now),
    ))
}

/// The resource a v2 `scope` names: exactly one `…/.default`.
fn resource_of_scope(scope: &str) -> Result<String, Refusal> {
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    match scopes.as_slice() {
        [one] if one.ends_with("/.default") => Ok(one.trim_end_matches("/.default").to_string()),
        _ => Err(refuse(400, "invalid_scope", 70011, format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid. The scope format is invalid. Scope must be in a valid URI form <https://example/scope> or a valid Guid <guid/scope>."))),
    }
}

/// The client's proof: its secret, or a JWT assertion whose claims name it.
fn check_client(form: &Form, p: &PrincipalDef) -> Result<(), Refusal> {
    if let Some(secret) = form.get("client_secret") {
        if secret != p.client_secret || p.client_secret.is_empty() {
            return Err(refuse(401, "invalid_client", 7000215, format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", p.client_id)));
        }
        return Ok(());
    }
    let Some(assertion) = form.get("client_assertion") else {
        return Err(refuse(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."));
    };
    if form.get("client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err(refuse(
            400,
            "invalid_request",
            700025,
            "Client assertion type is invalid.",
        ));
    }
    // The client signs its assertion with its own wall clock; the accelerated clock moves
    // the simulated Azure, not the client's machine, so `exp` is judged in real time.
    check_assertion(assertion, &p.client_id, crate::clock::real_now_ms())
        .map_err(|m| refuse(401, "invalid_client", 700027, m))
}

/// v2 answers numbers; v1 answers strings and names the resource.
fn body(protocol: Protocol, token: String, life: i64, resource: &str, now: i64) -> Value {
    match protocol {
        Protocol::V2 => {
            json!({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": token})
        }
        Protocol::V1 => json!({
            "token_type": "Bearer", "expires_in": life.to_string(), "ext_expires_in": life.to_string(),
            "expires_on": (now / 1000 + life).to_string(), "not_before": (now / 1000).to_string(),
            "resource": resource, "access_token": token,
        }),
    }
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
