//! The storage seam's conformance suite (`failback_state::conformance`) on sled and in memory.

use failback_state::conformance::Backend;
use failback_state::{MemStore, SledStore, SledStoreOptions, Store, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

struct Sled(tempfile::TempDir);

impl Sled {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("tempdir"))
    }
    fn path(&self) -> PathBuf {
        self.0.path().join("store")
    }
}

impl Backend for Sled {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(SledStore::open(&self.path(), SledStoreOptions::default()).expect("open sled"))
    }
    fn reopen(&self, old: Arc<dyn Store>) -> Option<Arc<dyn Store>> {
        old.close().expect("close");
        drop(old);
        Some(self.open())
    }
}

struct Mem;

impl Backend for Mem {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(MemStore::new())
    }
    fn reopen(&self, _old: Arc<dyn Store>) -> Option<Arc<dyn Store>> {
        None
    }
}

failback_state::conformance_suite!(sled, Sled::new());
failback_state::conformance_suite!(memory, Mem);

#[test]
fn stores_open_from_urls() {
    use failback_state::StateStore;
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sled://{}", dir.path().join("store").display());
    let s = StateStore::open_url(&url).expect("sled URL");
    assert!(s.raw().location().ends_with("store"));
    drop(s);
    StateStore::open_url("memory:").expect("memory URL");
    for bad in [
        "sled://relative/path",
        "azblob://acct/container",
        "/no/scheme",
        "memory:x",
    ] {
        let e = StateStore::open_url(bad).err().expect("refused");
        assert!(matches!(e, StoreError::BadUrl { .. }), "{bad}: {e}");
    }
}
