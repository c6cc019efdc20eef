//! Which service a request is for, from its path: the control plane, one of Entra's endpoints,
//! the managed-identity endpoint, Key Vault, or ARM (with the route it matched, if any).

use crate::auth::discovery::Protocol;
use crate::router::{route, Route};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/_sim/…`: the emulator's own control plane.
    Control,
    /// Entra's token endpoint (v1 `oauth2/token`, v2 `oauth2/v2.0/token`).
    Token(Protocol),
    /// OIDC discovery (`.well-known/openid-configuration`).
    OpenIdConfiguration(Protocol),
    /// The JWKS (`discovery/keys`, `discovery/v2.0/keys`).
    SigningKeys(Protocol),
    /// MSAL's instance discovery (`/common/discovery/instance`).
    InstanceDiscovery,
    /// App Service–style managed identity (`/msi/token`).
    ManagedIdentity,
    /// `/keyvault/{vault}/secrets/{name}[/{version}]`.
    KeyVault,
    /// Everything else is ARM; `None` when no emulated resource type matches.
    Arm(Option<Route>),
}

impl Endpoint {
    /// Classify by lowercased path segments.
    pub fn of(segs_lowercase: &[String]) -> Endpoint {
        use Protocol::{V1, V2};
        let segs: Vec<&str> = segs_lowercase.iter().map(|s| s.as_str()).collect();
        match segs.as_slice() {
            ["_sim", ..] => Endpoint::Control,
            [_, "oauth2", "v2.0", "token"] => Endpoint::Token(V2),
            [_, "oauth2", "token"] => Endpoint::Token(V1),
            [_, "v2.0", ".well-known", "openid-configuration"] => Endpoint::OpenIdConfiguration(V2),
            [_, ".well-known", "openid-configuration"] => Endpoint::OpenIdConfiguration(V1),
            [_, "discovery", "v2.0", "keys"] => Endpoint::SigningKeys(V2),
            [_, "discovery", "keys"] => Endpoint::SigningKeys(V1),
            ["common", "discovery", "instance"] => Endpoint::InstanceDiscovery,
            ["msi", "token"] => Endpoint::ManagedIdentity,
            ["keyvault", _, "secrets", _] | ["keyvault", _, "secrets", _, _] => Endpoint::KeyVault,
            _ => Endpoint::Arm(route(segs_lowercase)),
        }
    }

    /// The operation name the journal records and fault rules match (`PUT networkInterfaces`).
    pub fn operation_name(self, method: &str) -> String {
        match self {
            Endpoint::Control => String::new(),
            Endpoint::Token(_) => format!("{method} token"),
            Endpoint::OpenIdConfiguration(_) => format!("{method} openidConfiguration"),
            Endpoint::SigningKeys(_) => format!("{method} signingKeys"),
            Endpoint::InstanceDiscovery => format!("{method} instanceDiscovery"),
            Endpoint::ManagedIdentity => "GET managedIdentityToken".into(),
            Endpoint::KeyVault => format!("{method} keyVaultSecret"),
            Endpoint::Arm(Some(r)) => format!("{method} {}", r.type_name()),
            Endpoint::Arm(None) => format!("{method} unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(path: &str) -> Endpoint {
        let segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| s.to_ascii_lowercase())
            .collect();
        Endpoint::of(&segs)
    }

    #[test]
    fn entra_paths_are_not_arm() {
        assert_eq!(of("/t/oauth2/v2.0/token"), Endpoint::Token(Protocol::V2));
        assert_eq!(of("/t/oauth2/token"), Endpoint::Token(Protocol::V1));
        assert_eq!(
            of("/common/v2.0/.well-known/openid-configuration"),
            Endpoint::OpenIdConfiguration(Protocol::V2)
        );
        assert_eq!(
            of("/common/discovery/instance"),
            Endpoint::InstanceDiscovery
        );
        assert_eq!(of("/subscriptions/s/nope"), Endpoint::Arm(None));
    }
}
