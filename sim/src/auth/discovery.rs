//! Entra's unauthenticated metadata, as MSAL reads it before asking for a token:
//! OIDC discovery (`/{tenant}/v2.0/.well-known/openid-configuration`, v1
//! `/{tenant}/.well-known/openid-configuration`; `common` and `organizations` too), the JWKS that
//! holds the key signing the tokens (`/{tenant}/discovery/v2.0/keys`, `/{tenant}/discovery/keys`)
//! and instance discovery (`/common/discovery/instance?authorization_endpoint=…`).

use super::known_tenant;
use crate::clock::rfc3339;
use crate::envelope::{oauth_error, Resp};
use crate::router::Ctx;
use crate::shared::Shared;
use serde_json::{json, Value};

/// Which protocol version a metadata document describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V1,
    V2,
}

/// Tenants every Entra instance answers for besides real ones.
const MULTI_TENANT: &[&str] = &["common", "organizations", "consumers"];

fn is_multi_tenant(tenant: &str) -> bool {
    MULTI_TENANT.iter().any(|t| t.eq_ignore_ascii_case(tenant))
}

fn unknown_tenant(ctx: &Ctx, tenant: &str) -> Resp {
    oauth_error(
        400,
        "invalid_tenant",
        90002,
        &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."),
        &rfc3339(ctx.now),
    )
}

fn only_get(ctx: &Ctx) -> Option<Resp> {
    (ctx.method != "GET").then(|| {
        oauth_error(
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts GET requests.",
            &rfc3339(ctx.now),
        )
    })
}

/// `GET /{tenant}[/v2.0]/.well-known/openid-configuration`.
pub fn openid_configuration(sh: &Shared, ctx: &Ctx, protocol: Protocol) -> Resp {
    if let Some(r) = only_get(ctx) {
        return r;
    }
    let tenant = ctx.tenant().to_string();
    if !is_multi_tenant(&tenant) && !known_tenant(&sh.world.lock(), &tenant) {
        return unknown_tenant(ctx, &tenant);
    }
    // The multi-tenant documents name the issuer with a placeholder, as Entra's do.
    let tid = if is_multi_tenant(&tenant) {
        "{tenantid}".to_string()
    } else {
        tenant.clone()
    };
    Resp::json(200, &document(&ctx.base, &tenant, &tid, protocol))
}

fn document(base: &str, tenant: &str, tid: &str, protocol: Protocol) -> Value {
    let (oauth, issuer, keys) = match protocol {
        Protocol::V2 => (
            format!("{base}/{tenant}/oauth2/v2.0"),
            format!("{base}/{tid}/v2.0"),
            format!("{base}/{tenant}/discovery/v2.0/keys"),
        ),
        Protocol::V1 => (
            format!("{base}/{tenant}/oauth2"),
            format!("https://sts.windows.net/{tid}/"),
            format!("{base}/{tenant}/discovery/keys"),
        ),
    };
    let host = base.split("://").nth(1).unwrap_or(base);
    json!({
        "token_endpoint": format!("{oauth}/token"),
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": keys,
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "authorization_endpoint": format!("{oauth}/authorize"),
        "device_authorization_endpoint": format!("{oauth}/devicecode"),
        "end_session_endpoint": format!("{oauth}/logout"),
        "http_logout_supported": true,
        "frontchannel_logout_supported": true,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "tid", "ver"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": host,
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
    })
}

/// `GET /{tenant}/discovery[/v2.0]/keys`: the key that signs every token this emulator issues.
pub fn keys(sh: &Shared, ctx: &Ctx, protocol: Protocol) -> Resp {
    if let Some(r) = only_get(ctx) {
        return r;
    }
    let tenant = ctx.tenant();
    let issuer = match protocol {
        Protocol::V2 => format!("{}/{{tenantid}}/v2.0", ctx.base),
        Protocol::V1 => "https://sts.windows.net/{tenantid}/".to_string(),
    };
    if !is_multi_tenant(tenant) && !known_tenant(&sh.world.lock(), tenant) {
        return unknown_tenant(ctx, tenant);
    }
    Resp::json(200, &json!({"keys": [sh.signer.jwk(&issuer)]}))
}

/// `GET /common/discovery/instance?api-version=…&authorization_endpoint=…`: this emulator's host
/// is a known instance (its own alias); any other host is `invalid_instance`, as Entra answers for
/// hosts it does not know.
pub fn instance(ctx: &Ctx) -> Resp {
    if let Some(r) = only_get(ctx) {
        return r;
    }
    let now = rfc3339(ctx.now);
    let Some(endpoint) = ctx.q("authorization_endpoint") else {
        return oauth_error(
            400,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'authorization_endpoint'.",
            &now,
        );
    };
    let host = ctx.base.split("://").nth(1).unwrap_or(&ctx.base);
    // MSAL names the instance by host name only (no port).
    let path = endpoint.strip_prefix("https://").and_then(|rest| {
        let (authority, path) = rest.split_once('/')?;
        let same_host = authority.eq_ignore_ascii_case(host)
            || host.split(':').next() == Some(authority.to_ascii_lowercase().as_str());
        same_host.then_some(path)
    });
    let Some(path) = path else {
        return oauth_error(
            400,
            "invalid_instance",
            50049,
            "Unknown or invalid instance.",
            &now,
        );
    };
    let tenant = path.split('/').next().unwrap_or("common");
    let version = if path.contains("/v2.0/") { "/v2.0" } else { "" };
    Resp::json(
        200,
        &json!({
            "tenant_discovery_endpoint": format!("{}/{tenant}{version}/.well-known/openid-configuration", ctx.base),
            "api-version": ctx.api_version(),
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }),
    )
}
