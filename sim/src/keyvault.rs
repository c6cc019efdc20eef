//! The Key Vault data plane, just `GET …/secrets/{name}[/{version}]`: what a client resolving a
//! secret reference needs. Bearer-authenticated like ARM; `api-version` 7.x required.

use crate::envelope::{ArmError, ArmResult, Resp};
use crate::router::Ctx;
use crate::shared::Shared;
use serde_json::json;

pub fn handle(sh: &Shared, ctx: &mut Ctx) -> ArmResult {
    let w = sh.world.lock();
    ctx.principal = Some(crate::auth::authenticate(&w, ctx)?);
    if ctx.method != "GET" {
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            "Only GET is emulated for Key Vault secrets.",
        ));
    }
    match ctx.q("api-version") {
        Some(v) if v.starts_with("7.") => {}
        Some(v) => {
            return Err(ArmError::new(
                400,
                "BadParameter",
                format!("The specified version ({v}) is not recognized. Consider using the latest supported version (7.4)."),
            ))
        }
        None => return Err(ArmError::new(400, "BadParameter", "api-version query parameter is required.")),
    }
    let (vault, name) = (
        ctx.name_of("keyvault").to_string(),
        ctx.name_of("secrets").to_string(),
    );
    let version = ctx.segs.get(4).cloned().unwrap_or_default();
    let found = w.scenario.key_vault_secrets.iter().find(|s| {
        s.vault.eq_ignore_ascii_case(&vault)
            && s.name.eq_ignore_ascii_case(&name)
            && (version.is_empty() || s.version.is_empty() || s.version == version)
    });
    match found {
        Some(s) => {
            let ver = if s.version.is_empty() { "6f6b2a1c0e3d4b5a8c9d0e1f2a3b4c5d" } else { &s.version };
            Ok(Resp::json(
                200,
                &json!({
                    "value": s.value,
                    "id": format!("{}/keyvault/{}/secrets/{}/{}", ctx.base, s.vault, s.name, ver),
                    "attributes": { "enabled": true, "recoveryLevel": "Recoverable+Purgeable" }
                }),
            ))
        }
        None => Err(ArmError::new(
            404,
            "SecretNotFound",
            format!("A secret with (name/id) {name} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command."),
        )),
    }
}
