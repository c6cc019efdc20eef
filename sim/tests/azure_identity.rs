//! Acceptance 2: the real azure_identity crate obtains tokens from the sim, a bearer ARM call
//! succeeds, and a bad secret fails with the OAuth error.
//!
//! azure_identity 1.0 refuses a non-https authority host for ClientSecretCredential, so two paths
//! are exercised: (a) ManagedIdentityCredential against the App Service–style endpoint over plain
//! HTTP (IDENTITY_ENDPOINT + IDENTITY_HEADER), and (b) ClientSecretCredential with a custom cloud
//! whose authority host is `https://127.0.0.1:PORT`, sent through a custom transport that talks
//! plain HTTP to the sim. The crate's own request building and Entra response parsing run unchanged.

mod support;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{AsyncRawResponse, ClientOptions, HttpClient, Request, Transport};
use std::sync::Arc;
use support::*;

#[derive(Debug)]
struct PlainHttp(reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for PlainHttp {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let mut req = request.clone();
        let _ = req.url_mut().set_scheme("http");
        self.0.execute_request(&req).await
    }
}

fn client_secret(t: &T, secret: &str) -> Arc<azure_identity::ClientSecretCredential> {
    let (tenant, client, _) = t.sim.credentials().unwrap();
    let mut cloud = azure_core::cloud::CustomConfiguration::default();
    cloud.authority_host = t.base.replace("http://", "https://");
    let options = azure_identity::ClientSecretCredentialOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(Arc::new(PlainHttp(reqwest::Client::new())))),
            cloud: Some(Arc::new(cloud.into())),
            ..Default::default()
        },
    };
    azure_identity::ClientSecretCredential::new(
        &tenant,
        client,
        Secret::new(secret.to_string()),
        Some(options),
    )
    .expect("credential")
}

#[tokio::test]
async fn azure_identity_obtains_tokens_and_arm_accepts_them() {
    let t = T::new().await;
    let scope = format!("{}/.default", t.base);
    let arm_get = |token: String| {
        let url = t.url(&format!("{}?api-version={NET}", t.vnet("vnet-a")));
        let http = t.http.clone();
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // (a) Managed identity over plain HTTP. The only test in this binary touching the process env.
    let env = t.sim.env();
    for k in ["IDENTITY_ENDPOINT", "IDENTITY_HEADER"] {
        let v = env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap();
        std::env::set_var(k, v);
    }
    let mi =
        azure_identity::ManagedIdentityCredential::new(None).expect("managed identity credential");
    let tok = mi
        .get_token(&[&scope], None)
        .await
        .expect("managed identity token");
    assert_eq!(arm_get(tok.token.secret().to_string()).await, 200);

    // (b) Client secret through a custom (https) authority.
    let (_, _, secret) = t.sim.credentials().unwrap();
    let cred = client_secret(&t, &secret);
    let tok = cred
        .get_token(&[&scope], None)
        .await
        .expect("client secret token");
    assert_eq!(arm_get(tok.token.secret().to_string()).await, 200);

    let bad = client_secret(&t, "not-the-secret");
    let err = bad
        .get_token(&[&scope], None)
        .await
        .expect_err("bad secret must fail");
    let msg = err.to_string();
    assert!(msg.contains("AADSTS7000215"), "OAuth error surfaced: {msg}");
    assert!(t.sim.journal().iter().any(|e| e.operation == "POST token"
        && e.status == 401
        && e.error_code.as_deref() == Some("invalid_client")));
}
