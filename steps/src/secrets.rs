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
    #[error("secret {reference}: not a regular file of at most {max} bytes")]
    FileShape { reference: String, max: u64 },
    #[error("secret {reference}: Key Vault read failed: {message}")]
    KeyVault { reference: String, message: String },
}

/// A secret file is small and regular: `/dev/zero` or a FIFO named by mistake must give an
/// error, not a parse that never ends (see [`crate::bounded`]).
const MAX_SECRET_FILE: u64 = crate::bounded::MAX_SECRET_FILE;

fn read_secret_file(path: &std::path::Path, reference: &str) -> Result<String, SecretError> {
    use crate::bounded::{read_bounded, BoundedReadError};
    let bytes = read_bounded(path, MAX_SECRET_FILE, "secret file").map_err(|e| match e {
        BoundedReadError::Io { source, .. } => SecretError::File {
            reference: reference.to_owned(),
            source,
        },
        _ => SecretError::FileShape {
            reference: reference.to_owned(),
            max: MAX_SECRET_FILE,
        },
    })?;
    let text = String::from_utf8(bytes).map_err(|_| SecretError::File {
        reference: reference.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
    })?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
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
            SecretRef::File { file } => read_secret_file(file, &reference)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_file_must_be_small_and_regular() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = dir.path().join("pw");
        std::fs::write(&ok, "s3cret\n").expect("write");
        let value = SecretRef::File { file: ok }
            .resolve_local()
            .expect("resolves");
        assert_eq!(value.expose(), "s3cret");
        for file in [
            std::path::PathBuf::from("/dev/zero"),
            dir.path().to_path_buf(),
        ] {
            let err = SecretRef::File { file }.resolve_local().unwrap_err();
            assert!(matches!(err, SecretError::FileShape { .. }), "{err}");
        }
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 70_000]).expect("write");
        assert!(matches!(
            SecretRef::File { file: big }.resolve_local(),
            Err(SecretError::FileShape { .. })
        ));
    }
}
