//! Bearer tokens (the path the ARM client's Entra ID credentials take) against a real Azurite
//! over HTTPS with `--oauth basic`, which checks a token's issuer, audience and lifetime.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use failback_azblob::{
    Auth, BearerToken, BlobError, Condition, ContainerClient, Endpoint, TokenProvider,
    STORAGE_SCOPE,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::Azurite;

/// Mints unsigned JWTs shaped like Entra ID's (Azurite's basic OAuth does not check signatures).
#[derive(Debug)]
struct Minted {
    /// Seconds from now the token expires (negative: already expired).
    expires_in: i64,
    calls: AtomicUsize,
    scopes: Mutex<Vec<String>>,
}

impl Minted {
    fn new(expires_in: i64) -> Arc<Minted> {
        Arc::new(Minted {
            expires_in,
            calls: AtomicUsize::new(0),
            scopes: Mutex::new(Vec::new()),
        })
    }
}

fn jwt(now: i64, exp: i64) -> String {
    jwt_for("https://storage.azure.com", now, exp)
}

fn jwt_for(aud: &str, now: i64, exp: i64) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = format!(
        r#"{{"aud":"{aud}","iss":"https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/","iat":{},"nbf":{},"exp":{exp},"oid":"secret-principal"}}"#,
        now - 60,
        now - 60
    );
    let sig = URL_SAFE_NO_PAD.encode(b"not-a-real-signature-but-a-token-part");
    format!("{header}.{}.{sig}", URL_SAFE_NO_PAD.encode(claims))
}

#[async_trait::async_trait]
impl TokenProvider for Minted {
    async fn token(&self, scope: &str) -> Result<BearerToken, BlobError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes.lock().unwrap().push(scope.to_owned());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let exp = now + self.expires_in;
        Ok(BearerToken {
            token: jwt(now, exp),
            // What the client is told; an already expired token is still handed out once so
            // that the service, not the client, refuses it.
            expires_at: SystemTime::now() + Duration::from_secs(3600),
        })
    }
}

fn bearer_client(azurite: &Azurite, provider: Arc<Minted>) -> ContainerClient {
    let endpoint = Endpoint::parse(&azurite.container_url("bearer")).unwrap();
    ContainerClient::with_http(
        endpoint,
        Some(Auth::Bearer(provider)),
        azurite.http_client(),
    )
    .expect("bearer client")
}

#[tokio::test]
async fn a_bearer_token_provider_authenticates_over_https() {
    let azurite = Azurite::start_https();
    let provider = Minted::new(3600);
    let c = bearer_client(&azurite, provider.clone());
    assert!(c.create_container().await.expect("create with a token"));
    let etag = c
        .put_blob("b", b"by token".to_vec(), &Condition::create_only())
        .await
        .expect("write with a token");
    let blob = c.get_blob("b").await.unwrap().expect("blob");
    assert_eq!((blob.data.as_slice(), blob.etag), (&b"by token"[..], etag));
    assert_eq!(provider.scopes.lock().unwrap()[0], STORAGE_SCOPE);
    // The SDK caches the token until near its expiry: one token for several requests.
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);
    assert_eq!(c.requests_sent(), 3);
}

#[tokio::test]
async fn an_expired_token_is_refused_and_never_shown() {
    let azurite = Azurite::start_https();
    azurite.container("bearer").await;
    let c = bearer_client(&azurite, Minted::new(-600));
    let err = c.get_blob("b").await.expect_err("expired token");
    let shown = format!("{err} {err:?}");
    assert!(
        matches!(err, BlobError::Auth { status: 403, .. }),
        "{shown}"
    );
    assert!(shown.contains("expired"), "{shown}");
    assert!(!shown.contains("eyJ"), "no JWT part in the error: {shown}");
}

#[tokio::test]
async fn a_wrong_audience_is_refused() {
    // A token for ARM (not storage) must not open storage: Azurite checks the audience.
    #[derive(Debug)]
    struct ArmToken;
    #[async_trait::async_trait]
    impl TokenProvider for ArmToken {
        async fn token(&self, _scope: &str) -> Result<BearerToken, BlobError> {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            Ok(BearerToken {
                token: jwt_for("https://management.azure.com", now, now + 3600),
                expires_at: SystemTime::now() + Duration::from_secs(3600),
            })
        }
    }
    let azurite = Azurite::start_https();
    azurite.container("bearer").await;
    let endpoint = Endpoint::parse(&azurite.container_url("bearer")).unwrap();
    let c = ContainerClient::with_http(
        endpoint,
        Some(Auth::Bearer(Arc::new(ArmToken))),
        azurite.http_client(),
    )
    .unwrap();
    let err = c.get_blob("b").await.expect_err("ARM audience");
    assert!(
        matches!(err, BlobError::Auth { status: 403, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("audience"), "{err}");
}
