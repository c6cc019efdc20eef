//! failback-workflows: the spec file (`failback.toml`) and the failback DAG builder.
//! See ../shared/DESIGN.md section 2 and docs/spec.md.

pub mod spec;
