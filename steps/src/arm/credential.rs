//! Credentials from `azure_identity`, chosen by configuration (no default chain: the operator
//! says which one). They share the ARM client's HTTP client, so a custom root CA (the
//! emulator's) applies to token requests too. Tokens are cached by the credential types
//! themselves and refreshed before expiry.

use super::cloud::Cloud;
use crate::secrets::SecretRef;
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret as AzSecret, TokenCredential};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    AzureCliCredential, AzureCliCredentialOptions, ClientAssertionCredential,
    ClientAssertionCredentialOptions, ClientSecretCredential, ClientSecretCredentialOptions,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use std::path::PathBuf;
use std::sync::Arc;

/// Which credential to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialConfig {
    /// `az login` on this machine.
    AzureCli,
    ClientSecret {
        client_id: String,
        secret: SecretRef,
    },
    /// A PEM file holding the certificate and its RSA private key.
    ClientCertificate {
        client_id: String,
        certificate: SecretRef,
    },
    /// System-assigned, or user-assigned with a client id.
    ManagedIdentity { client_id: Option<String> },
    WorkloadIdentity {
        client_id: String,
        token_file: Option<PathBuf>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credential {kind}: {message}")]
    Unavailable { kind: &'static str, message: String },
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

impl CredentialConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            CredentialConfig::AzureCli => "cli",
            CredentialConfig::ClientSecret { .. } => "client-secret",
            CredentialConfig::ClientCertificate { .. } => "client-certificate",
            CredentialConfig::ManagedIdentity { .. } => "managed-identity",
            CredentialConfig::WorkloadIdentity { .. } => "workload-identity",
        }
    }
}

fn client_options(cloud: &Cloud, http: &reqwest::Client) -> ClientOptions {
    let cloud_config = if cloud.name == "Custom" {
        let mut custom = CustomConfiguration::default();
        custom.authority_host = cloud
            .authority_host
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        CloudConfiguration::Custom(custom)
    } else if cloud.name == "AzureChinaCloud" {
        CloudConfiguration::AzureChina
    } else if cloud.name == "AzureUSGovernment" {
        CloudConfiguration::AzureGovernment
    } else {
        CloudConfiguration::AzurePublic
    };
    ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        cloud: Some(Arc::new(cloud_config)),
        ..Default::default()
    }
}

/// Build the configured credential. Secrets are resolved here, once, and handed to the
/// credential, which keeps them in memory only.
pub fn build(
    config: &CredentialConfig,
    tenant_id: &str,
    cloud: &Cloud,
    http: &reqwest::Client,
) -> Result<Arc<dyn TokenCredential>, CredentialError> {
    let kind = config.kind();
    let unavailable = |e: azure_core::Error| CredentialError::Unavailable {
        kind,
        message: e.to_string(),
    };
    let options = client_options(cloud, http);
    let cred: Arc<dyn TokenCredential> = match config {
        CredentialConfig::AzureCli => AzureCliCredential::new(Some(AzureCliCredentialOptions {
            tenant_id: Some(tenant_id.to_owned()),
            ..Default::default()
        }))
        .map_err(unavailable)?,
        CredentialConfig::ClientSecret { client_id, secret } => {
            let value = secret.resolve_local()?;
            ClientSecretCredential::new(
                tenant_id,
                client_id.clone(),
                AzSecret::new(value.expose().to_owned()),
                Some(ClientSecretCredentialOptions {
                    client_options: options,
                }),
            )
            .map_err(unavailable)?
        }
        CredentialConfig::ClientCertificate {
            client_id,
            certificate,
        } => {
            let pem = certificate.resolve_local()?;
            let audience = format!(
                "{}/{tenant_id}/oauth2/v2.0/token",
                cloud.authority_host.as_str().trim_end_matches('/')
            );
            let assertion = super::certificate::CertificateAssertion::from_pem(
                pem.expose(),
                client_id,
                &audience,
            )
            .map_err(|e| CredentialError::Unavailable {
                kind,
                message: e.to_string(),
            })?;
            ClientAssertionCredential::new(
                tenant_id.to_owned(),
                client_id.clone(),
                assertion,
                Some(ClientAssertionCredentialOptions {
                    client_options: options,
                }),
            )
            .map_err(unavailable)?
        }
        CredentialConfig::ManagedIdentity { client_id } => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                client_options: options,
            }))
            .map_err(unavailable)?
        }
        CredentialConfig::WorkloadIdentity {
            client_id,
            token_file,
        } => WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
            client_id: Some(client_id.clone()),
            tenant_id: Some(tenant_id.to_owned()),
            token_file_path: token_file.clone(),
            credential_options: azure_identity::ClientAssertionCredentialOptions {
                client_options: options,
            },
        }))
        .map_err(unavailable)?,
    };
    Ok(cred)
}
