//! The `failback` binary's library: flags, commands, rendering. `main.rs` only wires it up.

pub mod cli;
pub mod commands;
pub mod context;
pub mod daemon;
pub mod out;
pub mod rehearsal;
pub mod render;
pub mod service;
pub mod store_location;
