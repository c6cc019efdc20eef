//! Calls into sled 0.34.7 with its errors and panics made typed.

use crate::{panics, StoreError};
use std::path::Path;

pub(crate) fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A sled error, with corruption reported as a damaged store.
pub(crate) fn sled_error(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Corruption { at, .. } => StoreError::Corrupt {
            location: dir.display().to_string(),
            message: format!(
                "sled found corrupted data{}",
                at.map(|a| format!(" at {a:?}")).unwrap_or_default()
            ),
        },
        other => backend(other),
    }
}

/// Call into sled; its panics (on some damaged files) become [`StoreError::Corrupt`].
pub(crate) fn guarded<T>(dir: &Path, f: impl FnOnce() -> sled::Result<T>) -> Result<T, StoreError> {
    panics::quiet(f)
        .map_err(|panic| StoreError::Corrupt {
            location: dir.display().to_string(),
            message: format!("sled panicked reading it: {panic}"),
        })?
        .map_err(|e| sled_error(dir, e))
}
