//! Authentication against a real Azurite over HTTP, and secrets kept out of errors.

#[path = "support/sas.rs"]
mod sas_support;
mod support;

use failback_azblob::{
    AccountKey, Auth, BearerToken, BlobError, Condition, ContainerClient, Endpoint, TokenProvider,
};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::Azurite;

use sas_support::{sas, sig_of};

/// Every way an error can be shown.
fn shown(err: &BlobError) -> String {
    format!("{err} {err:?}")
}

#[tokio::test]
async fn a_sas_in_the_url_authenticates_and_a_wrong_key_is_refused() {
    let azurite = Azurite::start();
    azurite.container("auth").await;
    let sas = sas();
    let url = format!("{}?{sas}", azurite.container_url("auth"));
    let c = ContainerClient::new(Endpoint::parse(&url).unwrap(), None).expect("client");
    c.put_blob("b", b"1".to_vec(), &Condition::none())
        .await
        .expect("SAS from the URL");
    assert!(!format!("{c:?}").contains(&sig_of(&sas)));

    let wrong = AccountKey::from_base64("d3Jvbmcga2V5").unwrap();
    let endpoint = Endpoint::parse(&azurite.container_url("auth")).unwrap();
    let c = ContainerClient::new(endpoint, Some(Auth::AccountKey(wrong))).unwrap();
    let err = c.get_blob("b").await.expect_err("wrong key");
    assert!(
        matches!(err, BlobError::Auth { status: 403, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_forged_signature_never_appears_in_errors() {
    let azurite = Azurite::start();
    let good = sas();
    let forged_sig = "Zm9yZ2VkLXNpZ25hdHVyZS10aGF0LW11c3Qtbm90LWxlYWs%3D";
    let forged = good.replace(&sig_of(&good), forged_sig);
    let url = format!("{}?{forged}", azurite.container_url("auth"));
    let c = ContainerClient::new(Endpoint::parse(&url).unwrap(), None).unwrap();
    let err = c
        .put_blob("b", b"1".to_vec(), &Condition::none())
        .await
        .expect_err("forged");
    assert_eq!(err.status(), Some(403), "{err:?}");
    assert!(!shown(&err).contains(forged_sig), "{}", shown(&err));
    assert!(!shown(&err).contains("Zm9yZ2Vk"), "{}", shown(&err));
}

#[tokio::test]
async fn transport_errors_do_not_show_the_sas() {
    // Azurite started then stopped: nothing listens on its port any more.
    let mut azurite = Azurite::start();
    let url = format!("{}?{}", azurite.container_url("auth"), sas());
    azurite.kill();
    let sig = sig_of(&url);
    let c = ContainerClient::new(Endpoint::parse(&url).unwrap(), None).unwrap();
    let err = c.get_blob("b").await.expect_err("nothing listens");
    assert!(matches!(err, BlobError::Transport { .. }), "{err:?}");
    assert!(err.is_transient());
    assert!(!shown(&err).contains(&sig), "{}", shown(&err));
    let err = c.list_blobs("", None).await.expect_err("nothing listens");
    assert!(!shown(&err).contains(&sig), "{}", shown(&err));
}

#[derive(Debug)]
struct FixedToken;

#[async_trait::async_trait]
impl TokenProvider for FixedToken {
    async fn token(&self, _scope: &str) -> Result<BearerToken, BlobError> {
        Ok(BearerToken {
            token: "TOKEN-THAT-MUST-NOT-LEAK".into(),
            expires_at: SystemTime::now() + Duration::from_secs(3600),
        })
    }
}

#[tokio::test]
async fn a_bearer_credential_over_plain_http_is_refused_before_any_request() {
    let endpoint = Endpoint::parse("http://127.0.0.1:9/devstoreaccount1/auth").unwrap();
    let err = ContainerClient::new(endpoint, Some(Auth::Bearer(Arc::new(FixedToken))))
        .expect_err("token over http");
    assert!(shown(&err).contains("https"), "{}", shown(&err));
    assert!(!shown(&err).contains("TOKEN-THAT"), "{}", shown(&err));
    let token = FixedToken.token("s").await.unwrap();
    assert!(!format!("{token:?}").contains("TOKEN-THAT"));
}

#[test]
fn no_credentials_at_all_is_a_clear_error() {
    let endpoint = Endpoint::parse("http://127.0.0.1:9/devstoreaccount1/auth").unwrap();
    let err = ContainerClient::new(endpoint, None).expect_err("no credentials");
    assert!(err.to_string().contains("storage credentials"), "{err}");
}

#[derive(Debug)]
struct NoIdentity;

#[async_trait::async_trait]
impl TokenProvider for NoIdentity {
    async fn token(&self, scope: &str) -> Result<BearerToken, BlobError> {
        Err(BlobError::Token {
            scope: scope.to_owned(),
            message: "managed identity endpoint unreachable".into(),
        })
    }
}

#[tokio::test]
async fn a_failing_token_provider_is_a_token_error_and_nothing_is_sent() {
    let endpoint = Endpoint::parse("https://acct.blob.core.windows.net/runs").unwrap();
    let c = ContainerClient::new(endpoint, Some(Auth::Bearer(Arc::new(NoIdentity)))).unwrap();
    let err = c.get_blob("b").await.expect_err("no token");
    assert_eq!(c.requests_sent(), 0, "no request without a token");
    assert!(
        matches!(&err, BlobError::Token { scope, message }
            if scope == failback_azblob::STORAGE_SCOPE && message.contains("managed identity endpoint unreachable")),
        "{err:?}"
    );
}
