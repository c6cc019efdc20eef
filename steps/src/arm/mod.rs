//! A small ARM client: credentials, one shared HTTP client, retries honouring Retry-After,
//! a per-subscription rate limiter, long-running operations.

pub mod api_versions;
pub mod certificate;
pub mod client;
pub mod cloud;
pub mod credential;
pub mod error;
pub mod inflight;
pub mod lro;
pub mod operation;
pub mod ratelimit;
pub mod stats;

pub use api_versions::ApiVersions;
pub use client::{ArmClient, ArmClientConfig, ArmResponse, HttpRetry};
pub use cloud::Cloud;
pub use credential::CredentialConfig;
pub use error::{ArmError, ErrorClass};
pub use lro::{LroPoll, LroStatus};
pub use ratelimit::{OpKind, RateLimiter};
pub use stats::{ArmStats, ArmStatsSnapshot};
