//! failback-steps: a small ARM client (Entra ID credentials, retries, throttling, long-running
//! operations) and the seven failback steps built on it. Knows nothing of the store.

pub mod arm;
pub mod azure;
pub mod bounded;
pub mod cidr;
pub mod model;
pub mod secrets;
pub mod steps;
pub mod suggest;

pub use azure::Azure;
