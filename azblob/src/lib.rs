//! A typed Azure Blob Storage client for failback's networked store: whole-blob reads and
//! writes conditional on an ETag and/or a lease id, listing with continuation, and blob leases.
//! Built on the official `azure_storage_blob` crate; see README.md for why and for the requests
//! each operation costs.

mod auth;
mod client;
mod endpoint;
mod error;
mod lease;
mod sas;

pub use auth::{Auth, BearerToken, CoreCredential, TokenProvider, STORAGE_SCOPE};
pub use client::{
    Blob, BlobEntry, Condition, ContainerClient, ETag, LeaseId, Listing, Match, DEFAULT_TIMEOUT,
};
pub use endpoint::Endpoint;
pub use error::{redact, BlobError};
pub use lease::LeaseDuration;
pub use sas::{account_sas, AccountKey, DEV_ACCOUNT, DEV_ACCOUNT_KEY, SAS_VERSION};
