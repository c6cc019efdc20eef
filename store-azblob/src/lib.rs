//! failback's state store on Azure Blob Storage (issue 17).
//!
//! - Every key of a run lives in the run's blob `runs/{run}`; other keys (the format record)
//!   in the blob `store` ([`partition`]). A commit is a conditional `PUT` of the whole blob
//!   (`If-Match` on the ETag last seen), so a run's records change atomically, and batches
//!   queued for one blob meanwhile share the `PUT` (group commit per blob).
//! - A run's fence is the lease on its blob ([`lease`]): writes carry the lease id, so storage
//!   refuses a writer that lost the run — the fence is checked where the data is, not only by
//!   the writer.
//! - Reads are served from a replica in memory: what this process wrote, and the other blobs
//!   as of the last refresh ([`refresh`], every few seconds).
//! - Daemons sharing the container lease their own blob `daemons/{member}`
//!   ([`membership`]): a listing tells who is live and which runs are held, what each daemon
//!   needs to take only its fair share of the runs.

mod commit;
mod lease;
pub mod membership;
pub mod partition;
mod refresh;
mod shared;
mod store;

pub use shared::AzBlobOptions;
pub use store::AzBlobStore;
