//! Client-certificate credentials: an RS256 assertion signed in pure Rust gets a token from the
//! emulator through azure_identity, and the signature verifies with the certificate's key.

mod support;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use failback_steps::arm::certificate::CertificateAssertion;
use failback_steps::arm::{
    ApiVersions, ArmClient, ArmClientConfig, Cloud, CredentialConfig, HttpRetry,
};
use failback_steps::secrets::SecretRef;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::Verifier;
use sha1::Digest as _;
use std::time::Duration;
use support::*;

fn certificate_pem() -> (String, Vec<u8>, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
    let cert = rcgen::CertificateParams::new(vec!["failback-test".into()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let pem = format!("{}{}", cert.pem(), key.serialize_pem());
    (pem, cert.der().to_vec(), key.serialize_pem())
}

#[tokio::test]
async fn a_certificate_assertion_gets_a_token_and_its_signature_verifies() {
    let env = start(fast_scenario()).await;
    let (tenant, client, _) = env.sim.credentials().unwrap();
    let (pem, der, key_pem) = certificate_pem();
    let file = env.dir.path().join("sp.pem");
    std::fs::write(&file, &pem).unwrap();

    // The assertion itself: claims, thumbprint, and an RS256 signature that verifies.
    let aud = format!("{}/{tenant}/oauth2/v2.0/token", env.sim.base_url());
    let jwt = CertificateAssertion::from_pem(&pem, &client, &aud)
        .unwrap()
        .jwt();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header: serde_json::Value =
        serde_json::from_slice(&B64URL.decode(parts[0]).unwrap()).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5t"], B64URL.encode(sha1::Sha1::digest(&der)));
    assert_eq!(claims["aud"], aud.as_str());
    assert_eq!(claims["iss"], client.as_str());
    assert_eq!(claims["sub"], client.as_str());
    let public = rsa::RsaPrivateKey::from_pkcs8_pem(&key_pem)
        .unwrap()
        .to_public_key();
    let sig = Signature::try_from(B64URL.decode(parts[2]).unwrap().as_slice()).unwrap();
    VerifyingKey::<sha2::Sha256>::new(public)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the signature verifies with the certificate's key");

    // Through azure_identity to a bearer-authenticated ARM call.
    let base = url::Url::parse(&env.sim.base_url()).unwrap();
    let config = |client_id: &str| ArmClientConfig {
        cloud: Cloud::custom(base.clone(), base.clone()),
        tenant_id: tenant.clone(),
        subscription_id: env.sim.subscription_id().unwrap(),
        credential: CredentialConfig::ClientCertificate {
            client_id: client_id.into(),
            certificate: SecretRef::File { file: file.clone() },
        },
        ca_file: Some(env.ca_file.clone()),
        api_versions: ApiVersions::default(),
        retry: HttpRetry {
            max_attempts: 1,
            ..HttpRetry::default()
        },
        timeout: Duration::from_secs(30),
    };
    let arm = ArmClient::new(config(&client), env.clock.clone()).unwrap();
    let url = arm.url(&arm.sub_path(""), "2022-12-01").unwrap();
    let resp = arm
        .get(url, "GET subscription")
        .await
        .expect("authenticated with the certificate");
    assert_eq!(resp.status, 200);
    assert!(env
        .sim
        .journal()
        .iter()
        .any(|e| e.path.contains("/oauth2/v2.0/token") && e.status == 200));

    // An unknown client id is refused by the token endpoint, permanently.
    let other = ArmClient::new(
        config("99999999-0000-4000-8000-000000000000"),
        env.clock.clone(),
    )
    .unwrap();
    let url = other.url(&other.sub_path(""), "2022-12-01").unwrap();
    let err = other.get(url, "GET subscription").await.unwrap_err();
    assert_eq!(err.code, "AuthenticationFailed", "{err}");
    assert!(!err.is_transient(), "{err}");
}

#[test]
fn a_file_without_a_key_is_a_clear_error() {
    let (pem, _, _) = certificate_pem();
    let cert_only: String = pem
        .split("-----BEGIN PRIVATE KEY-----")
        .next()
        .unwrap()
        .into();
    let err = CertificateAssertion::from_pem(&cert_only, "c", "a")
        .unwrap_err()
        .to_string();
    assert!(err.contains("no RSA private key"), "{err}");
    let err = CertificateAssertion::from_pem("not pem", "c", "a")
        .unwrap_err()
        .to_string();
    assert!(err.contains("CERTIFICATE") || err.contains("PEM"), "{err}");
}
