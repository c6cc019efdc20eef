//! failback-state: where every run, step and event of `failback` is kept.
//!
//! Layers, bottom up:
//! - [`store`]: the narrow [`Store`] trait (get, scan, atomic durable batch, export/import).
//! - [`sled_store`]: its sled 0.34.7 implementation with one group-committing writer thread.
//! - [`dump`]: whole-store dump files (`StateStore::export_to` / `import_from`).
//! - [`mem_store`]: an in-memory implementation for unit tests of the layers above;
//!   [`failing_store`] wraps any store and fails its writes on demand (fault injection).
//! - [`failure`]: a failed write, with the OS error and what to do about it.
//! - [`codec`]: `[codec u8][schema u16][MessagePack named fields]` envelopes with upgrades.
//! - [`inbox`]: commands forwarded to the process that drives a run (a shared store).
//! - [`records`]: the record types; [`state_store`]: the typed API the engine uses, with
//!   quarantined runs (runs with a damaged record) kept apart.

mod access;
mod apply;
pub mod codec;
mod commit_stats;
mod committer;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod dump;
mod durable;
pub mod error;
pub mod failing_store;
pub mod failure;
mod fences;
mod format;
pub mod inbox;
pub mod keys;
pub mod lock;
pub mod mem_store;
mod ownership;
mod panics;
mod quarantine;
pub mod records;
mod recovery;
mod seq;
mod sled_call;
mod sled_conf;
mod sled_snapshot;
pub mod sled_store;
mod space;
pub mod state_store;
pub mod store;
mod wal;
mod writer;

pub use commit_stats::{CommitStats, COMMIT_LATENCY_BUCKETS_US};
pub use error::{CodecError, StoreError};
pub use failing_store::FailingStore;
pub use failure::WriteFailure;
pub use mem_store::MemStore;
pub use ownership::Renewed;
pub use records::*;
pub use sled_store::{SledStore, SledStoreOptions};
pub use state_store::{RunFilter, StateStore, Txn};
pub use store::{
    block_on, check_batch, check_fence_scope, ready, Batch, BatchOp, CommitTicket, Entry, Fence,
    Membership, Store, StoreFuture,
};
