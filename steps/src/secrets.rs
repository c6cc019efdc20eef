//! Secret references. A spec names *where* a secret is (an environment variable, a file, a Key
//! Vault secret); the value is read only when a step needs it and is never stored, logged or
//! returned. [`Secret`] hides its value from `Debug` and `Display`.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where a secret lives. In TOML: `{ env = "NAME" }`, `{ file = "/path" }` or
/// `{ key_vault = "https://myvault.vault.azure.net", name = "secret-name" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum SecretRef {
    Env {
        env: String,
    },
    File {
        file: PathBuf,
    },
    KeyVault {
        key_vault: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
    },
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretRef::Env { env } => write!(f, "environment variable {env}"),
            SecretRef::File { file } => write!(f, "file {}", file.display()),
            SecretRef::KeyVault {
                key_vault, name, ..
            } => write!(f, "Key Vault secret {name} in {key_vault}"),
        }
    }
}

/// A resolved secret value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value, for the one place that must send it (a request body, a protected parameter).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {reference}: environment variable is not set")]
    EnvMissing { reference: String },
    #[error("secret {reference}: {source}")]
    File {
        reference: String,
        #[source]
        source: std::io::Error,
    },
    #[error("secret {reference} is empty")]
    Empty { reference: String },
    #[error("secret {reference}: Key Vault read failed: {message}")]
    KeyVault { reference: String, message: String },
}

impl SecretRef {
    /// Check that the reference can be resolved, without keeping the value (spec validation).
    /// Key Vault references are checked when used.
    pub fn check_local(&self) -> Result<(), SecretError> {
        match self {
            SecretRef::KeyVault { .. } => Ok(()),
            _ => self.resolve_local().map(|_| ()),
        }
    }

    /// Resolve an `env` or `file` reference. A file's trailing newline is not part of the secret.
    pub fn resolve_local(&self) -> Result<Secret, SecretError> {
        let reference = self.to_string();
        let value = match self {
            SecretRef::Env { env } => std::env::var(env).map_err(|_| SecretError::EnvMissing {
                reference: reference.clone(),
            })?,
            SecretRef::File { file } => std::fs::read_to_string(file)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
                .map_err(|source| SecretError::File {
                    reference: reference.clone(),
                    source,
                })?,
            SecretRef::KeyVault { .. } => {
                return Err(SecretError::KeyVault {
                    reference,
                    message: "needs the Azure client".into(),
                })
            }
        };
        if value.is_empty() {
            return Err(SecretError::Empty { reference });
        }
        Ok(Secret(value))
    }
}
