//! Runs with a damaged record are quarantined, not driven: a `quarantine/{run}` record names
//! the key and the decode error, and every other run goes on. A record of a newer schema is
//! not damage (an upgrade reads it again) and is only reported.

use failback_state::{keys, Millis, QuarantineRecord, StoreError};

/// The quarantine record for `run_id` when `e` shows one of its records is damaged.
pub(crate) fn record_for(run_id: &str, e: &StoreError, at: Millis) -> Option<QuarantineRecord> {
    match e {
        StoreError::Codec { key, source } if !source.is_newer_schema() => Some(QuarantineRecord {
            run_id: run_id.to_owned(),
            key: key.clone(),
            error: source.to_string(),
            at,
        }),
        _ => None,
    }
}

/// The run a `run/{id}` key belongs to.
pub(crate) fn run_of_key(key: &str) -> &str {
    key.strip_prefix(keys::RUN_PREFIX).unwrap_or(key)
}
