//! Entra ID emulation (token endpoint, managed identity) and ARM bearer validation.

pub mod discovery;
pub mod managed_identity;
pub mod token;

pub use crate::b64::{b64url, b64url_decode};
use crate::clock::rfc3339;
use crate::envelope::ArmError;
use crate::router::Ctx;
use crate::signing;
use crate::world::{TokenInfo, World};
use serde_json::json;

/// Accepted ARM audiences (besides the sim's own base URL).
pub const ARM_AUDIENCES: &[&str] = &[
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://management.chinacloudapi.cn",
    "https://management.usgovcloudapi.net",
];

pub fn audience_ok(base: &str, resource: &str) -> bool {
    let r = resource.trim_end_matches('/');
    r.eq_ignore_ascii_case(base.trim_end_matches('/'))
        || ARM_AUDIENCES.iter().any(|a| a.eq_ignore_ascii_case(r))
}

fn unauthorized(ctx: &Ctx, code: &str, msg: &str, desc: &str) -> ArmError {
    ArmError::new(401, code, msg).header(
        "WWW-Authenticate",
        format!(
            "Bearer authorization_uri=\"{}/common\", error=\"invalid_token\", error_description=\"{desc}\"",
            ctx.base
        ),
    )
}

/// Returns the principal (client id) of a valid bearer token.
pub fn authenticate(w: &World, ctx: &Ctx) -> Result<String, ArmError> {
    let Some(h) = ctx.header("authorization") else {
        return Err(unauthorized(
            ctx,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            "The authentication failed because of missing 'Authorization' header.",
        ));
    };
    let tok = match h.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => {
            t.trim()
        }
        _ => return Err(unauthorized(
            ctx,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            "The authentication failed because of invalid 'Authorization' header format.",
        )),
    };
    let Some(info) = w.tokens.get(tok) else {
        return Err(unauthorized(
            ctx,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            "The access token is invalid.",
        ));
    };
    if info.expires_at <= ctx.now {
        return Err(unauthorized(
            ctx,
            "ExpiredAuthenticationToken",
            &format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                rfc3339(info.expires_at),
                rfc3339(ctx.now)
            ),
            "The access token has expired.",
        ));
    }
    Ok(info.client_id.clone())
}

/// Mint a token signed with the emulator's key (RS256, published in the JWKS) and remember it.
pub fn mint(
    w: &mut World,
    signer: &signing::TokenSigner,
    client_id: &str,
    tenant_id: &str,
    audience: &str,
    now: i64,
) -> Result<(String, i64), signing::SigningError> {
    let life = w.scenario.auth.token_lifetime_secs as i64;
    let exp = now + life * 1000;
    let claims = json!({
        "aud": audience, "iss": format!("https://sts.windows.net/{tenant_id}/"), "iat": now / 1000,
        "nbf": now / 1000, "exp": exp / 1000, "appid": client_id, "oid": client_id, "sub": client_id,
        "tid": tenant_id, "idtyp": "app", "jti": uuid::Uuid::new_v4().to_string(), "ver": "1.0"
    });
    let token = signer.sign(&claims)?;
    w.tokens.insert(
        token.clone(),
        TokenInfo {
            client_id: client_id.to_string(),
            tenant_id: tenant_id.to_string(),
            expires_at: exp,
        },
    );
    // Bound memory: drop tokens expired for a day.
    let cutoff = now - 86_400_000;
    w.tokens.retain(|_, t| t.expires_at > cutoff);
    Ok((token, life))
}

/// Whether `tenant` is a tenant of the scenario (a principal's or a subscription's).
pub fn known_tenant(w: &World, tenant: &str) -> bool {
    w.scenario
        .auth
        .principals
        .iter()
        .any(|p| p.tenant_id.eq_ignore_ascii_case(tenant))
        || w.scenario
            .subscriptions
            .iter()
            .any(|s| s.tenant_id.eq_ignore_ascii_case(tenant))
}
