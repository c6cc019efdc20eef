//! Account SAS signed with a storage account key (the `azure_storage_blob` crate has no Shared
//! Key authentication). Used for Azurite, whose development account key is public; on Azure a
//! bearer credential is the better choice (no key to keep).
//!
//! String to sign for `sv` ≥ 2020-12-06, per "Create an account SAS" in the Azure Storage REST
//! docs: account, permissions, services, resource types, start, expiry, IP, protocol, version,
//! encryption scope, each followed by a newline.

use crate::error::BlobError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

/// Azurite's well-known development account (published by Microsoft; not a secret).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development account key.
pub const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The service version the SAS is signed for (Azurite 3.35.0's newest).
pub const SAS_VERSION: &str = "2025-11-05";

/// Blob service, resource types service+container+object, read/write/delete/list/add/create.
const SERVICES: &str = "b";
const RESOURCE_TYPES: &str = "sco";
const PERMISSIONS: &str = "rwdlac";

/// A storage account key (base64 as the portal shows it). `Debug` does not show it.
#[derive(Clone)]
pub struct AccountKey(Vec<u8>);

impl AccountKey {
    pub fn from_base64(text: &str) -> Result<AccountKey, BlobError> {
        STANDARD
            .decode(text.trim())
            .map(AccountKey)
            .map_err(|e| BlobError::Invalid {
                field: "account key",
                reason: format!("not base64: {e}"),
            })
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(REDACTED)")
    }
}

/// Signs an account SAS for the blob service valid until `expiry`, allowing `https,http`
/// (Azurite speaks plain HTTP). Returns the query string without a leading `?`.
pub fn account_sas(account: &str, key: &AccountKey, expiry: DateTime<Utc>) -> String {
    let expiry = expiry.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let protocol = "https,http";
    let string_to_sign = [
        account,
        PERMISSIONS,
        SERVICES,
        RESOURCE_TYPES,
        "",
        &expiry,
        "",
        protocol,
        SAS_VERSION,
        "",
        "",
    ]
    .join("\n");
    let sig = sign(key, &string_to_sign);
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("sv", SAS_VERSION)
        .append_pair("ss", SERVICES)
        .append_pair("srt", RESOURCE_TYPES)
        .append_pair("sp", PERMISSIONS)
        .append_pair("se", &expiry)
        .append_pair("spr", protocol)
        .append_pair("sig", &sig)
        .finish()
}

fn sign(key: &AccountKey, text: &str) -> String {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key.0) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
    };
    mac.update(text.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn signature_matches_a_known_answer() {
        // Computed independently: printf 'devstoreaccount1\nrwdlac\nb\nsco\n\n2030-01-01T00:00:00Z\n\nhttps,http\n2025-11-05\n\n' |
        //   openssl dgst -sha256 -mac HMAC -macopt hexkey:$(echo KEY | base64 -d | xxd -p -c 256) -binary | base64
        let key = AccountKey::from_base64(DEV_ACCOUNT_KEY).unwrap();
        let expiry = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        let sas = account_sas(DEV_ACCOUNT, &key, expiry);
        assert!(sas.starts_with("sv=2025-11-05&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00%3A00%3A00Z&spr=https%2Chttp&sig="), "{sas}");
        assert!(sas.ends_with(&format!("sig={}", KNOWN_SIG)), "{sas}");
    }

    #[test]
    fn bad_key_names_the_field_and_debug_hides_the_key() {
        let err = AccountKey::from_base64("not base64!").unwrap_err();
        assert!(err.to_string().contains("account key"), "{err}");
        let key = AccountKey::from_base64(DEV_ACCOUNT_KEY).unwrap();
        assert_eq!(format!("{key:?}"), "AccountKey(REDACTED)");
    }

    const KNOWN_SIG: &str = "ronEtVdVi8dNWCbf8Odnl3hZK%2B8PnVC4yNszBJNe0XU%3D";
}
