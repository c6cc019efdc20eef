//! The store's format record (`meta`), checked above the backends: [`crate::StateStore`]'s
//! constructors put every backend's store through [`check_or_init`] before anything reads
//! records from it, so a new backend gets the same refusals as sled.
//!
//! - no `meta` and no other record: a new store; `meta` is written with a conditional create
//!   (two processes initializing one shared store write it once);
//! - no `meta` but other records: damage (meta is the first record ever written);
//! - `meta` of a newer format, or of a newer schema: [`StoreError::NewerFormat`];
//! - `meta` that does not decode: damage.

use crate::codec::{self, STORE_FORMAT_VERSION};
use crate::records::MetaRecord;
use crate::store::{Batch, Store};
use crate::{keys, CodecError, StoreError};

pub(crate) fn check_or_init(store: &dyn Store) -> Result<(), StoreError> {
    let location = store.location();
    let damaged = |message: String| StoreError::Corrupt {
        location: location.clone(),
        message,
    };
    let Some(bytes) = store.get(keys::META)? else {
        // Only a new or damaged store lacks meta, so reading it whole is cheap or moot.
        if let Some((key, _)) = store.export()?.into_iter().next() {
            return Err(damaged(format!(
                "its meta record is missing but it holds other records (such as {})",
                String::from_utf8_lossy(&key)
            )));
        }
        return init(store);
    };
    let newer = |found| StoreError::NewerFormat {
        location: location.clone(),
        found,
        supported: STORE_FORMAT_VERSION,
    };
    match codec::decode::<MetaRecord>(&bytes) {
        Ok(meta) if meta.format_version > STORE_FORMAT_VERSION => Err(newer(meta.format_version)),
        Ok(_) => Ok(()),
        Err(CodecError::NewerSchema { .. }) => Err(newer(probe_format_version(&bytes))),
        Err(e) => Err(damaged(format!("its meta record does not decode: {e}"))),
    }
}

/// Write this build's meta record into a new store (unless another writer just did).
fn init(store: &dyn Store) -> Result<(), StoreError> {
    let meta = MetaRecord {
        format_version: STORE_FORMAT_VERSION,
        created_by: format!("failback-state {}", env!("CARGO_PKG_VERSION")),
    };
    let bytes = codec::encode(&meta).map_err(|source| StoreError::Codec {
        key: "meta".into(),
        source,
    })?;
    let mut batch = Batch::new();
    batch.require_absent(keys::META);
    batch.put(keys::META, bytes);
    match store.submit(batch).wait() {
        // Another process initialized it first: check what it wrote.
        Err(StoreError::ConditionFailed { .. }) => check_or_init(store),
        other => other,
    }
}

/// The format version in a meta record of a newer schema, if its `format_version` field is
/// still readable; otherwise "newer than ours" is all we know.
fn probe_format_version(bytes: &[u8]) -> u32 {
    #[derive(serde::Deserialize)]
    struct Probe {
        format_version: u32,
    }
    bytes
        .get(3..)
        .and_then(|body| rmp_serde::from_slice::<Probe>(body).ok())
        .map(|p| p.format_version)
        .unwrap_or(STORE_FORMAT_VERSION + 1)
}
