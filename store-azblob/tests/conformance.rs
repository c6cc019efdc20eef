//! The storage seam's conformance suite (`failback_state::conformance`) on Azure Blob Storage:
//! Azurite from the npm registry (`bash .ci/run` installs it), real HTTP.

mod common;

use failback_state::conformance::Backend;
use failback_state::Store;
use std::sync::Arc;

/// A store in its own container; reopened on the same container.
struct Blob(String);

impl Blob {
    fn new() -> Self {
        Self(common::fresh_container())
    }
}

impl Backend for Blob {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(common::open(&self.0))
    }
    fn reopen(&self, old: Arc<dyn Store>) -> Option<Arc<dyn Store>> {
        old.close().expect("close");
        drop(old);
        Some(self.open())
    }
}

failback_state::conformance_suite!(azblob, Blob::new());
