//! Authentication: an account SAS (signed here from an account key, or given ready-made) added
//! to each request by a pipeline policy, or a bearer token from a [`TokenProvider`] (Entra ID,
//! scope [`STORAGE_SCOPE`], HTTPS only — the SDK refuses a credential over plain HTTP).
//!
//! The SAS never lives in the client's URL: the policy appends it to each outgoing request, so
//! the SDK's own messages about the endpoint cannot show it.

use crate::error::BlobError;
use crate::sas::{account_sas, AccountKey};
use async_trait::async_trait;
use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{Context, Request};
use chrono::{DateTime, Utc};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The OAuth scope of Azure Storage.
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// How SAS signed from an account key last (re-signed at half that age).
const SIGNED_SAS_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// How the client authenticates.
#[derive(Clone)]
pub enum Auth {
    /// Sign an account SAS with this key (Azurite's development key, or a real account's).
    AccountKey(AccountKey),
    /// A ready-made SAS query string (`sv=...&sig=...`), e.g. from the endpoint URL.
    Sas(String),
    /// Entra ID bearer tokens.
    Bearer(Arc<dyn TokenProvider>),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::AccountKey(_) => f.write_str("Auth::AccountKey(REDACTED)"),
            Auth::Sas(_) => f.write_str("Auth::Sas(REDACTED)"),
            Auth::Bearer(p) => write!(f, "Auth::Bearer({p:?})"),
        }
    }
}

/// A bearer token and when it expires. `Debug` does not show the token.
#[derive(Clone)]
pub struct BearerToken {
    pub token: String,
    pub expires_at: SystemTime,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("token", &"REDACTED")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Gives bearer tokens for a scope. Implementations cache and refresh tokens themselves.
/// The ARM client's credentials (managed identity, workload identity, client secret, CLI) plug
/// in through [`CoreCredential`].
#[async_trait]
pub trait TokenProvider: Send + Sync + fmt::Debug {
    async fn token(&self, scope: &str) -> Result<BearerToken, BlobError>;
}

/// Any `azure_core` credential (those of `azure_identity`) as a [`TokenProvider`].
#[derive(Debug, Clone)]
pub struct CoreCredential(pub Arc<dyn TokenCredential>);

#[async_trait]
impl TokenProvider for CoreCredential {
    async fn token(&self, scope: &str) -> Result<BearerToken, BlobError> {
        let t = self
            .0
            .get_token(&[scope], None)
            .await
            .map_err(|e| BlobError::Token {
                scope: scope.to_owned(),
                message: crate::error::redact(&e.to_string()),
            })?;
        Ok(BearerToken {
            token: t.token.secret().to_owned(),
            expires_at: t.expires_on.into(),
        })
    }
}

/// A [`TokenProvider`] as the SDK's credential type.
#[derive(Debug)]
pub(crate) struct ProviderCredential(pub Arc<dyn TokenProvider>);

#[async_trait]
impl TokenCredential for ProviderCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let scope = scopes.first().copied().unwrap_or(STORAGE_SCOPE);
        // The provider's own message; `BlobError::from_core` turns this kind back into `Token`.
        let t = self.0.token(scope).await.map_err(|e| {
            let message = match e {
                BlobError::Token { message, .. } => message,
                other => other.to_string(),
            };
            azure_core::Error::with_message(azure_core::error::ErrorKind::Credential, message)
        })?;
        Ok(AccessToken::new(t.token, t.expires_at.into()))
    }
}

/// Where a [`SasPolicy`] gets its SAS.
enum SasSource {
    Fixed(String),
    Signed {
        account: String,
        key: AccountKey,
        current: Mutex<(String, DateTime<Utc>)>,
    },
}

/// Appends the SAS to every request's query.
pub(crate) struct SasPolicy(SasSource);

impl fmt::Debug for SasPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SasPolicy(REDACTED)")
    }
}

impl SasPolicy {
    pub(crate) fn fixed(sas: &str) -> SasPolicy {
        SasPolicy(SasSource::Fixed(sas.trim_start_matches('?').to_owned()))
    }

    pub(crate) fn signed(account: &str, key: AccountKey) -> SasPolicy {
        let (sas, renew_at) = sign_now(account, &key);
        SasPolicy(SasSource::Signed {
            account: account.to_owned(),
            key,
            current: Mutex::new((sas, renew_at)),
        })
    }

    fn sas(&self) -> String {
        match &self.0 {
            SasSource::Fixed(s) => s.clone(),
            SasSource::Signed {
                account,
                key,
                current,
            } => {
                let mut current = current.lock().unwrap_or_else(|e| e.into_inner());
                if Utc::now() >= current.1 {
                    *current = sign_now(account, key);
                }
                current.0.clone()
            }
        }
    }
}

/// A fresh SAS and when to re-sign it (half its lifetime).
fn sign_now(account: &str, key: &AccountKey) -> (String, DateTime<Utc>) {
    let now = Utc::now();
    let lifetime = chrono::Duration::from_std(SIGNED_SAS_LIFETIME).unwrap_or_default();
    (
        account_sas(account, key, now + lifetime),
        now + lifetime / 2,
    )
}

#[async_trait]
impl Policy for SasPolicy {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let sas = self.sas();
        let url = request.url_mut();
        let query = match url.query() {
            Some(q) if !q.is_empty() => format!("{q}&{sas}"),
            _ => sas,
        };
        url.set_query(Some(&query));
        match next.split_first() {
            Some((policy, rest)) => policy.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "SAS policy is the last in the pipeline",
            )),
        }
    }
}
