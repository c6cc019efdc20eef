//! A SAS for Azurite's development account, and its signature (to look for in what is shown).

use failback_azblob::{account_sas, AccountKey, DEV_ACCOUNT, DEV_ACCOUNT_KEY};

pub fn sas() -> String {
    let key = AccountKey::from_base64(DEV_ACCOUNT_KEY).unwrap();
    account_sas(
        DEV_ACCOUNT,
        &key,
        chrono::Utc::now() + chrono::Duration::hours(1),
    )
}

pub fn sig_of(sas: &str) -> String {
    let sig = sas.split('&').find_map(|p| p.strip_prefix("sig=")).unwrap();
    assert!(sig.len() > 20, "{sig}");
    sig.to_owned()
}
