//! failback-workflows: the spec file (`failback.toml`) and the failback DAG builder.
//! See ../shared/DESIGN.md section 2 and docs/spec.md.

pub mod azure_pool;
pub mod failback;
pub mod spec;

pub use azure_pool::AzurePool;
