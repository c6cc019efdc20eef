//! Acceptance 2: the real azure_identity crate obtains tokens from the sim, a bearer ARM call
//! succeeds, and a bad secret fails with the OAuth error.
//!
//! (a) ManagedIdentityCredential against the App Service–style endpoint over plain HTTP
//! (IDENTITY_ENDPOINT + IDENTITY_HEADER; no https check there). (b) ClientSecretCredential, which
//! refuses non-https authority hosts, against the sim serving real HTTPS (`SimConfig.tls`): a
//! custom cloud whose authority host is the sim's `https://127.0.0.1:PORT`, and a plain
//! `reqwest::Client` that trusts the sim's CA as the transport. Nothing is rewritten.

mod support;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use std::sync::Arc;
use support::*;

fn client_secret(t: &T, secret: &str) -> Arc<azure_identity::ClientSecretCredential> {
    let (tenant, client, _) = t.sim.credentials().unwrap();
    let ca = t.sim.ca_pem().expect("TLS sim");
    // The sim CA on top of the platform roots (the platform verifier), as a product client would.
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).expect("CA PEM"))
        .build()
        .expect("https client");
    let mut cloud = azure_core::cloud::CustomConfiguration::default();
    cloud.authority_host = t.base.clone();
    let options = azure_identity::ClientSecretCredentialOptions {
        client_options: ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
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

async fn arm_get(t: &T, token: &str) -> u16 {
    let url = t.url(&format!("{}?api-version={NET}", t.vnet("vnet-a")));
    t.http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .expect("ARM GET")
        .status()
        .as_u16()
}

#[tokio::test]
async fn managed_identity_credential_gets_a_token_over_http() {
    let t = T::new().await;
    let scope = format!("{}/.default", t.base);
    // The only test in this binary touching the process env.
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
    assert_eq!(arm_get(&t, tok.token.secret()).await, 200);
}

#[tokio::test]
async fn client_secret_credential_over_https_gets_a_token_and_bad_secret_fails() {
    let t = T::with_tls(scenario()).await;
    assert!(t.base.starts_with("https://127.0.0.1:"), "{}", t.base);
    let scope = format!("{}/.default", t.base);

    let (_, _, secret) = t.sim.credentials().unwrap();
    let cred = client_secret(&t, &secret);
    let tok = cred
        .get_token(&[&scope], None)
        .await
        .expect("client secret token over https");
    assert_eq!(arm_get(&t, tok.token.secret()).await, 200);

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
