//! Client-certificate authentication without OpenSSL: an RS256-signed JWT client assertion
//! (REFERENCE.md section 1: aud = token endpoint, iss = sub = client id, jti, nbf, exp, x5t and
//! x5t#S256 thumbprints of the certificate), handed to azure_identity's
//! `ClientAssertionCredential`, which does the token request and caching.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use sha1::Digest as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// A certificate and its RSA private key, from one PEM file (as `az ad sp create-for-rbac
/// --create-cert` writes it).
pub struct CertificateAssertion {
    key: SigningKey<sha2::Sha256>,
    x5t: String,
    x5t_s256: String,
    client_id: String,
    audience: String,
}

impl std::fmt::Debug for CertificateAssertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAssertion")
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("the certificate file is not PEM: {0}")]
    Pem(String),
    #[error("the certificate file has no CERTIFICATE block")]
    NoCertificate,
    #[error("the certificate file has no RSA private key (PRIVATE KEY or RSA PRIVATE KEY block)")]
    NoKey,
    #[error("the private key does not decode: {0}")]
    Key(String),
}

impl CertificateAssertion {
    /// `audience`: the token endpoint (`{authority}/{tenant}/oauth2/v2.0/token`).
    pub fn from_pem(
        pem_text: &str,
        client_id: &str,
        audience: &str,
    ) -> Result<Self, CertificateError> {
        let blocks = pem::parse_many(pem_text).map_err(|e| CertificateError::Pem(e.to_string()))?;
        let cert = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or(CertificateError::NoCertificate)?;
        let key = blocks
            .iter()
            .find_map(|b| match b.tag() {
                "PRIVATE KEY" => {
                    Some(RsaPrivateKey::from_pkcs8_der(b.contents()).map_err(|e| e.to_string()))
                }
                "RSA PRIVATE KEY" => {
                    Some(RsaPrivateKey::from_pkcs1_der(b.contents()).map_err(|e| e.to_string()))
                }
                _ => None,
            })
            .ok_or(CertificateError::NoKey)?
            .map_err(CertificateError::Key)?;
        Ok(Self {
            key: SigningKey::<sha2::Sha256>::new(key),
            x5t: B64URL.encode(sha1::Sha1::digest(cert.contents())),
            x5t_s256: B64URL.encode(sha2::Sha256::digest(cert.contents())),
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// A fresh assertion, valid for ten minutes.
    pub fn jwt(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": self.x5t, "x5t#S256": self.x5t_s256 });
        let claims = serde_json::json!({
            "aud": self.audience,
            "iss": self.client_id,
            "sub": self.client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + 600,
        });
        let signing_input = format!(
            "{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string())
        );
        let sig = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64URL.encode(sig.to_bytes()))
    }
}

#[async_trait::async_trait]
impl azure_identity::ClientAssertion for CertificateAssertion {
    async fn secret(
        &self,
        _options: Option<azure_core::http::ClientMethodOptions<'_>>,
    ) -> azure_core::Result<String> {
        Ok(self.jwt())
    }
}
