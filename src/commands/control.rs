//! `cancel`, `signal`, `retry`: operator commands. Each is durable when it returns; the run
//! is then driven in the foreground until it settles.

use crate::cli::OutputFormat;
use crate::commands::amend;
use crate::commands::follow::follow;
use crate::commands::plan::load_spec;
use anyhow::{anyhow, Result};
use failback_engine::Engine;
use std::path::Path;

pub async fn cancel(engine: &Engine, id: &str, teardown: bool) -> Result<i32> {
    engine.resume_all().map_err(|e| anyhow!("{e}"))?;
    engine
        .cancel(id, teardown)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    follow(engine, &[id.to_owned()], OutputFormat::Text).await
}

pub async fn signal(engine: &Engine, id: &str, signal: &str) -> Result<i32> {
    let known = [failback_steps::steps::await_failback::SIGNAL];
    if !known.contains(&signal) {
        anyhow::bail!("unknown signal {signal:?}; known: {}", known.join(", "));
    }
    engine.resume_all().map_err(|e| anyhow!("{e}"))?;
    engine
        .signal(id, signal)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    println!("run {id}: signal {signal} recorded");
    follow(engine, &[id.to_owned()], OutputFormat::Text).await
}

pub async fn retry(
    engine: &Engine,
    id: &str,
    from: Option<&str>,
    spec: Option<&Path>,
) -> Result<i32> {
    engine.resume_all().map_err(|e| anyhow!("{e}"))?;
    let amend = match spec {
        Some(path) => {
            let new = match load_spec(path) {
                Ok(s) => s,
                Err(code) => return Ok(code),
            };
            let run = engine
                .store()
                .load_run(id)
                .map_err(|e| anyhow!("{e}"))?
                .ok_or_else(|| anyhow!("no run {id}"))?;
            Some(amend::amendment(&run, &new, path)?)
        }
        None => None,
    };
    engine
        .retry_amended(id, from, amend)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    println!(
        "run {id}: retrying{}",
        from.map(|s| format!(" from {s}")).unwrap_or_default()
    );
    follow(engine, &[id.to_owned()], OutputFormat::Text).await
}
