//! The key that signs the tokens the emulator issues (RS256, as Entra signs), and the JWKS that
//! publishes it. Kept beside the state file (`<state_file>.token-key.pem`, mode 0600) so tokens
//! issued before a restart still verify against the keys served after it.

use crate::b64::{b64url, b64url_decode};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("token signing key: cannot generate an RSA key")]
    Generate,
    #[error("token signing key {path}: {what}")]
    File { path: PathBuf, what: String },
    #[error("token signing key: the public key is not PKCS#1 DER")]
    PublicKey,
    #[error("token signing key: signing failed")]
    Sign,
}

pub struct TokenSigner {
    key: KeyPair,
    /// Key id: base64url of the first 15 bytes of SHA-256(public key DER), as in `kid` / `x5t`.
    kid: String,
    modulus: Vec<u8>,
    exponent: Vec<u8>,
}

/// `<state_file>.token-key.pem`.
pub fn key_path(state_file: &Path) -> PathBuf {
    let mut p = state_file.as_os_str().to_owned();
    p.push(".token-key.pem");
    PathBuf::from(p)
}

const PEM_LABEL: &str = "PRIVATE KEY";

impl TokenSigner {
    /// Load the key kept beside `state_file`, or make one (and keep it there if there is a file).
    pub fn load_or_create(state_file: Option<&Path>) -> Result<TokenSigner, SigningError> {
        let Some(path) = state_file.map(key_path) else {
            return Self::from_key(
                KeyPair::generate(KeySize::Rsa2048).map_err(|_| SigningError::Generate)?,
            );
        };
        let file_err = |what: String| SigningError::File {
            path: path.clone(),
            what,
        };
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(|e| file_err(e.to_string()))?;
            let der = pem_decode(&text).ok_or_else(|| file_err("not a PEM private key".into()))?;
            let key = KeyPair::from_pkcs8(&der).map_err(|e| file_err(e.to_string()))?;
            return Self::from_key(key);
        }
        let key = KeyPair::generate(KeySize::Rsa2048).map_err(|_| SigningError::Generate)?;
        let der = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&key)
            .map_err(|_| SigningError::Generate)?;
        crate::tls::write_private(&path, pem_encode(der.as_ref()).as_bytes())
            .map_err(|e| file_err(e.to_string()))?;
        Self::from_key(key)
    }

    fn from_key(key: KeyPair) -> Result<TokenSigner, SigningError> {
        let public = key.public_key().as_ref().to_vec();
        let (modulus, exponent) = rsa_public_parts(&public).ok_or(SigningError::PublicKey)?;
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &public);
        Ok(TokenSigner {
            kid: b64url(&digest.as_ref()[..15]),
            key,
            modulus,
            exponent,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A compact JWS (RS256) of `claims`.
    pub fn sign(&self, claims: &Value) -> Result<String, SigningError> {
        let header = json!({"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| SigningError::Sign)?;
        Ok(format!("{input}.{}", b64url(&sig)))
    }

    /// One JWK as Entra's `discovery/keys` lists it (`kty`, `use`, `kid`, `x5t`, `n`, `e`).
    pub fn jwk(&self, issuer: &str) -> Value {
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid, "x5t": self.kid,
            "n": b64url(&self.modulus), "e": b64url(&self.exponent), "issuer": issuer,
        })
    }
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = base64_std(der);
    let mut out = format!("-----BEGIN {PEM_LABEL}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {PEM_LABEL}-----\n"));
    out
}

fn pem_decode(text: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {PEM_LABEL}-----");
    let end = format!("-----END {PEM_LABEL}-----");
    let body = text.split(&begin).nth(1)?.split(&end).next()?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    b64url_decode(&b64)
}

/// Standard base64 with padding (PEM bodies).
fn base64_std(data: &[u8]) -> String {
    let mut s: String = b64url(data).replace('-', "+").replace('_', "/");
    while s.len() % 4 != 0 {
        s.push('=');
    }
    s
}

/// (n, e) of a PKCS#1 `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_parts(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let (tag, seq, _) = der_item(der)?;
    if tag != 0x30 {
        return None;
    }
    let (t1, n, rest) = der_item(seq)?;
    let (t2, e, _) = der_item(rest)?;
    if t1 != 0x02 || t2 != 0x02 {
        return None;
    }
    let strip = |v: &[u8]| {
        let i = v
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(v.len().saturating_sub(1));
        v[i..].to_vec()
    };
    Some((strip(n), strip(e)))
}

/// (tag, contents, rest) of one DER item.
fn der_item(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, hdr) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let len = b
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |a, x| a << 8 | *x as usize);
        (len, 2 + n)
    };
    let contents = b.get(hdr..hdr + len)?;
    Some((tag, contents, &b[hdr + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};

    #[test]
    fn tokens_verify_with_the_published_key_and_the_key_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("sim.json");
        let s = TokenSigner::load_or_create(Some(&state)).unwrap();
        let jwt = s.sign(&json!({"aud": "x"})).unwrap();
        let again = TokenSigner::load_or_create(Some(&state)).unwrap();
        assert_eq!(again.kid(), s.kid());
        let jwk = again.jwk("iss");
        let n = b64url_decode(jwk["n"].as_str().unwrap()).unwrap();
        let e = b64url_decode(jwk["e"].as_str().unwrap()).unwrap();
        let (input, sig) = jwt.rsplit_once('.').unwrap();
        let sig = b64url_decode(sig).unwrap();
        let key = RsaPublicKeyComponents { n: &n, e: &e };
        key.verify(&RSA_PKCS1_2048_8192_SHA256, input.as_bytes(), &sig)
            .expect("signature verifies with the JWK");
        assert!(key
            .verify(&RSA_PKCS1_2048_8192_SHA256, b"other", &sig)
            .is_err());
    }
}
