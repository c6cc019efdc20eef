//! One Azure client per (cloud, tenant, subscription, credential) in a process, so every run
//! against the same subscription shares one HTTP client, token cache and rate limiter.

use crate::spec::{Credential, Spec};
use failback_engine::Clock;
use failback_steps::arm::{
    ApiVersions, ArmClient, ArmClientConfig, ArmStatsSnapshot, Cloud, CredentialConfig, HttpRetry,
};
use failback_steps::Azure;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Environment variable naming an extra root CA (PEM) to trust, e.g. the emulator's.
pub const CA_FILE_ENV: &str = "FAILBACK_CA_FILE";

pub struct AzurePool {
    clock: Arc<dyn Clock>,
    ca_file: Option<PathBuf>,
    clients: Mutex<HashMap<String, Arc<Azure>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("azure.authority_host / azure.resource_manager: {0}")]
    Endpoint(String),
    #[error("Azure client for subscription {subscription}: {message}")]
    Client {
        subscription: String,
        message: String,
    },
}

fn credential(c: &Credential) -> CredentialConfig {
    match c {
        Credential::Cli => CredentialConfig::AzureCli,
        Credential::ClientSecret {
            client_id,
            client_secret,
        } => CredentialConfig::ClientSecret {
            client_id: client_id.clone(),
            secret: client_secret.clone(),
        },
        Credential::ClientCertificate {
            client_id,
            certificate,
        } => CredentialConfig::ClientCertificate {
            client_id: client_id.clone(),
            certificate: certificate.clone(),
        },
        Credential::ManagedIdentity { client_id } => CredentialConfig::ManagedIdentity {
            client_id: client_id.clone(),
        },
        Credential::WorkloadIdentity {
            client_id,
            token_file,
        } => CredentialConfig::WorkloadIdentity {
            client_id: client_id.clone(),
            token_file: token_file.clone(),
        },
    }
}

impl AzurePool {
    pub fn new(clock: Arc<dyn Clock>, ca_file: Option<PathBuf>) -> Self {
        Self {
            clock,
            ca_file,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// With the CA file from `FAILBACK_CA_FILE`, if set.
    pub fn from_env(clock: Arc<dyn Clock>) -> Self {
        Self::new(clock, std::env::var_os(CA_FILE_ENV).map(PathBuf::from))
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Every client's counters, merged by subscription id (sorted).
    pub fn stats(&self) -> Vec<(String, ArmStatsSnapshot)> {
        let clients: Vec<Arc<Azure>> = self
            .clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut by_sub: BTreeMap<String, ArmStatsSnapshot> = BTreeMap::new();
        for c in clients {
            by_sub
                .entry(c.arm.subscription_id().to_owned())
                .or_default()
                .merge(&c.arm.stats_snapshot());
        }
        by_sub.into_iter().collect()
    }

    pub fn get(&self, spec: &Spec) -> Result<Arc<Azure>, PoolError> {
        let a = &spec.azure;
        let key = format!(
            "{}|{}|{}|{:?}",
            a.resource_manager, a.tenant_id, a.subscription_id, a.credential
        );
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let parse =
            |s: &str| url::Url::parse(s).map_err(|e| PoolError::Endpoint(format!("{s}: {e}")));
        let authority = parse(&a.authority_host)?;
        let arm_url = parse(&a.resource_manager)?;
        let cloud = match a.cloud {
            crate::spec::Cloud::Public => Cloud::public(),
            crate::spec::Cloud::China => Cloud::china(),
            crate::spec::Cloud::UsGov => Cloud::us_gov(),
            crate::spec::Cloud::Custom => Cloud::custom(authority, arm_url),
        };
        let config = ArmClientConfig {
            cloud,
            tenant_id: a.tenant_id.clone(),
            subscription_id: a.subscription_id.clone(),
            credential: credential(&a.credential),
            ca_file: self.ca_file.clone(),
            api_versions: ApiVersions::default(),
            retry: HttpRetry::default(),
            timeout: Duration::from_secs(60),
        };
        let arm = ArmClient::new(config, self.clock.clone()).map_err(|e| PoolError::Client {
            subscription: a.subscription_id.clone(),
            message: e.to_string(),
        })?;
        let azure = Azure::new(arm);
        clients.insert(key, azure.clone());
        Ok(azure)
    }
}
