//! sled 0.34.7 backend. PLACEHOLDER: synchronous flush per commit; the group committer,
//! fdatasync, lock detection and format check replace this.

use crate::store::{Batch, BatchOp, CommitTicket, Store};
use crate::StoreError;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct SledStoreOptions {}

pub struct SledStore {
    db: sled::Db,
    path: PathBuf,
}

fn backend(e: sled::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SledStore {
    pub fn open(dir: &Path, _opts: SledStoreOptions) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(dir).open().map_err(backend)?;
        Ok(Self {
            db,
            path: dir.to_path_buf(),
        })
    }
}

impl Store for SledStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key).map_err(backend)?.map(|v| v.to_vec()))
    }
    fn scan_prefix(&self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.db
            .scan_prefix(prefix)
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(backend))
            .collect()
    }
    fn last_with_prefix(&self, prefix: &[u8]) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.db
            .scan_prefix(prefix)
            .next_back()
            .transpose()
            .map(|o| o.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .map_err(backend)
    }
    fn submit(&self, batch: Batch) -> CommitTicket {
        let mut b = sled::Batch::default();
        for op in batch.ops {
            match op {
                BatchOp::Put(k, v) => b.insert(k, v),
                BatchOp::Delete(k) => b.remove(k),
            }
        }
        let r = self
            .db
            .apply_batch(b)
            .and_then(|_| self.db.flush().map(|_| ()))
            .map_err(backend);
        CommitTicket::ready(r)
    }
    fn export(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        self.db
            .iter()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(backend))
            .collect()
    }
    fn location(&self) -> String {
        self.path.display().to_string()
    }
}
