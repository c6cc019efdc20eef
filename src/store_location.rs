//! `--store`: where runs are kept, parsed into a [`StoreLocation`] and opened.
//!
//! - `sled:///ABSOLUTE/DIR`: a sled store on this machine (the default, `{state dir}/store`).
//! - `azblob://ACCOUNT/CONTAINER`: a container of an Azure storage account
//!   (`https://ACCOUNT.blob.core.windows.net/CONTAINER`), shared by several daemons.
//! - `azblob+https://HOST/...` or `azblob+http://127.0.0.1:PORT/ACCOUNT/CONTAINER`: any
//!   other blob endpoint (a sovereign cloud, a private endpoint, Azurite).
//!
//! Credentials for blob storage come from the environment, never from the command line
//! (where `ps` shows them): see [`credentials`].

use anyhow::{anyhow, bail, Context as _, Result};
use failback_azblob::{AccountKey, Auth, ContainerClient, CoreCredential, Endpoint};
use failback_state::StateStore;
use failback_store_azblob::{AzBlobOptions, AzBlobStore};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A ready-made SAS (`sv=...&sig=...`) for the container or account.
pub const SAS_ENV: &str = "FAILBACK_STORE_SAS";
/// A file (owner-only) holding the storage account's key, base64.
pub const KEY_FILE_ENV: &str = "FAILBACK_STORE_KEY_FILE";
/// Entra ID credential for storage: `managed-identity`, `workload-identity` or `cli`
/// (with `AZURE_TENANT_ID`, and `AZURE_CLIENT_ID` for a user-assigned or workload identity).
pub const CREDENTIAL_ENV: &str = "FAILBACK_STORE_CREDENTIAL";

/// Where runs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    Sled(PathBuf),
    /// A blob container, by its URL (without any SAS).
    AzBlob(Endpoint),
}

impl StoreLocation {
    /// Parse `--store`. Errors name the flag and the forms it takes.
    pub fn parse(text: &str) -> Result<StoreLocation> {
        let forms = "sled:///DIR, azblob://ACCOUNT/CONTAINER, or azblob+http(s)://HOST/...";
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| anyhow!("--store {text:?}: expected {forms}"))?;
        let url = match scheme {
            "sled" if rest.starts_with('/') => return Ok(StoreLocation::Sled(rest.into())),
            "sled" => bail!("--store {text:?}: expected sled:///ABSOLUTE/DIR"),
            "azblob" => {
                let (account, container) = rest
                    .split_once('/')
                    .filter(|(a, c)| !a.is_empty() && !c.is_empty() && !c.contains('/'))
                    .ok_or_else(|| {
                        anyhow!("--store {text:?}: expected azblob://ACCOUNT/CONTAINER")
                    })?;
                format!("https://{account}.blob.core.windows.net/{container}")
            }
            "azblob+https" | "azblob+http" => format!("{}://{rest}", &scheme["azblob+".len()..]),
            _ => bail!("--store {text:?}: unknown scheme {scheme:?}; expected {forms}"),
        };
        if url.contains('?') {
            bail!("--store: a SAS does not go in the URL (the command line is visible to others); set {SAS_ENV}");
        }
        let endpoint = Endpoint::parse(&url).map_err(|e| anyhow!("--store {text:?}: {e}"))?;
        Ok(StoreLocation::AzBlob(endpoint))
    }

    /// Shared by several processes, with fences that lapse (leases).
    pub fn is_shared(&self) -> bool {
        matches!(self, StoreLocation::AzBlob(_))
    }

    /// For messages: the URL, never a credential.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Sled(dir) => format!("sled://{}", dir.display()),
            StoreLocation::AzBlob(e) => format!("azblob+{}", e.container_url()),
        }
    }

    /// Open the store: a blob container is created if missing and read whole. `lease`: how
    /// long a run's fence lasts on a shared store (default 30 s). `member`: the name a daemon
    /// joins the shared store's membership under ([`member_name`]), so that the daemons
    /// share the runs fairly; `None` for a process that only reads.
    pub async fn open(
        &self,
        lease: Option<Duration>,
        member: Option<String>,
    ) -> Result<StateStore> {
        match self {
            StoreLocation::Sled(dir) => StateStore::open(dir).map_err(|e| anyhow!("{e}")),
            StoreLocation::AzBlob(endpoint) => {
                let client = ContainerClient::new(endpoint.clone(), Some(credentials(endpoint)?))
                    .map_err(|e| anyhow!("{e}"))?;
                let mut opts = AzBlobOptions {
                    member,
                    ..AzBlobOptions::default()
                };
                if let Some(lease) = lease {
                    opts.lease = lease;
                }
                // Reading every blob blocks; keep it off the runtime's workers.
                let store = tokio::task::spawn_blocking(move || AzBlobStore::open(client, opts))
                    .await
                    .context("opening the blob store")?
                    .map_err(|e| anyhow!("{e}"))?;
                StateStore::checked(Arc::new(store)).map_err(|e| anyhow!("{e}"))
            }
        }
    }
}

/// A name for this daemon among those sharing a store: its host, its process id, and the
/// instant it started (a restarted daemon is a new member; the old one's entry lapses and goes).
pub fn member_name() -> String {
    let host: String = failback_state::lock::hostname()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{host}-{}-{:08x}", std::process::id(), nanos as u32)
}

/// The credential for a blob endpoint, from the environment, in this order: a SAS
/// ([`SAS_ENV`]), an account key file ([`KEY_FILE_ENV`]), an Entra ID credential
/// ([`CREDENTIAL_ENV`]); with none of them, Azurite's published development key for its
/// development account on a loopback address. Anything else is an error naming the three.
pub fn credentials(endpoint: &Endpoint) -> Result<Auth> {
    if let Some(sas) = std::env::var_os(SAS_ENV).filter(|v| !v.is_empty()) {
        let sas = sas.to_string_lossy().trim_start_matches('?').to_owned();
        return Ok(Auth::Sas(sas));
    }
    if let Some(file) = std::env::var_os(KEY_FILE_ENV).filter(|v| !v.is_empty()) {
        use failback_steps::bounded::{read_private, MAX_SECRET_FILE};
        let bytes = read_private(file.as_ref(), MAX_SECRET_FILE, "storage account key file")?;
        let text = String::from_utf8_lossy(&bytes);
        let key = AccountKey::from_base64(text.trim())
            .map_err(|e| anyhow!("{KEY_FILE_ENV} {}: {e}", file.to_string_lossy()))?;
        return Ok(Auth::AccountKey(key));
    }
    if let Some(kind) = std::env::var_os(CREDENTIAL_ENV).filter(|v| !v.is_empty()) {
        return entra(&kind.to_string_lossy());
    }
    if is_azurite(endpoint) {
        let key = AccountKey::from_base64(failback_azblob::DEV_ACCOUNT_KEY)
            .map_err(|e| anyhow!("{e}"))?;
        return Ok(Auth::AccountKey(key));
    }
    bail!(
        "no credential for {endpoint}: set {SAS_ENV}, {KEY_FILE_ENV} or {CREDENTIAL_ENV} (managed-identity, workload-identity or cli)"
    )
}

/// Azurite's development account on a loopback address: its key is published.
fn is_azurite(endpoint: &Endpoint) -> bool {
    let loopback = match endpoint.container_url().host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    loopback && endpoint.account() == failback_azblob::DEV_ACCOUNT
}

/// An Entra ID credential of the kinds the ARM client has, for Azure Storage.
fn entra(kind: &str) -> Result<Auth> {
    use failback_steps::arm::{credential, Cloud, CredentialConfig};
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let config = match kind {
        "managed-identity" => CredentialConfig::ManagedIdentity {
            client_id: env("AZURE_CLIENT_ID"),
        },
        "workload-identity" => CredentialConfig::WorkloadIdentity {
            client_id: env("AZURE_CLIENT_ID").ok_or_else(|| {
                anyhow!("{CREDENTIAL_ENV}=workload-identity needs AZURE_CLIENT_ID")
            })?,
            token_file: env("AZURE_FEDERATED_TOKEN_FILE").map(PathBuf::from),
        },
        "cli" => CredentialConfig::AzureCli,
        other => {
            bail!("{CREDENTIAL_ENV}={other:?}: expected managed-identity, workload-identity or cli")
        }
    };
    let tenant = env("AZURE_TENANT_ID").unwrap_or_default();
    let http = reqwest::Client::new();
    let cred = credential::build(&config, &tenant, &Cloud::public(), &http)
        .map_err(|e| anyhow!("{CREDENTIAL_ENV}: {e}"))?;
    Ok(Auth::Bearer(Arc::new(CoreCredential(cred))))
}

#[cfg(test)]
mod tests {
    use super::StoreLocation;

    #[test]
    fn forms() {
        let loc = StoreLocation::parse("azblob://acct/runs").unwrap();
        assert_eq!(
            loc.describe(),
            "azblob+https://acct.blob.core.windows.net/runs"
        );
        let loc =
            StoreLocation::parse("azblob+http://127.0.0.1:10000/devstoreaccount1/c01").unwrap();
        assert!(loc.is_shared());
        assert_eq!(
            StoreLocation::parse("sled:///var/lib/failback/store").unwrap(),
            StoreLocation::Sled("/var/lib/failback/store".into())
        );
        for bad in [
            "azblob://acct",
            "azblob://acct/c/extra",
            "s3://bucket/x",
            "sled://relative",
            "azblob+https://acct.blob.core.windows.net/c?sv=1&sig=x",
            "/just/a/path",
        ] {
            let e = StoreLocation::parse(bad).unwrap_err().to_string();
            assert!(e.contains("--store"), "{bad}: {e}");
            assert!(!e.contains("sig=x"), "{bad}: the SAS is not repeated: {e}");
        }
    }
}
