//! `failback apply` and `failback resume`.

use crate::cli::{OutputFormat, PlanFormat};
use crate::commands::{confirm, follow::follow, plan};
use crate::outln;
use crate::service::types::{FollowFrom, ResumeRequest};
use crate::service::{ErrorKind, Runs};
use anyhow::{bail, Result};
use std::path::Path;
use std::sync::Arc;

pub async fn apply(
    svc: Arc<dyn Runs>,
    spec_path: &Path,
    run_id: Option<String>,
    yes: bool,
    output: OutputFormat,
) -> Result<i32> {
    if let Err(code) = plan::load_spec(spec_path) {
        return Ok(code);
    }
    let run_id = run_id.unwrap_or_else(crate::context::new_run_id);
    if !failback_engine::valid_run_id(&run_id) {
        bail!("{}", failback_engine::EngineError::InvalidRunId(run_id));
    }
    match svc.status(&run_id).await {
        Ok(_) => bail!("run {run_id} exists already; use `failback resume {run_id}`"),
        Err(e) if e.kind == ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    let req = plan::spec_request(spec_path, &run_id, false)?;
    let the_plan = svc.plan_new(&req).await?;
    if output == OutputFormat::Text {
        plan::print(&the_plan, PlanFormat::Text);
    }
    if the_plan.blocked() {
        eprintln!("the plan is blocked; nothing was created");
        return Ok(super::EXIT_BLOCKED);
    }
    if !confirm::ask("Apply this plan?", yes, "created")? {
        eprintln!("not applied");
        return Ok(super::EXIT_FAILED);
    }
    svc.submit(&req).await?;
    if output == OutputFormat::Text {
        outln!("run {run_id} started");
    }
    let from = FollowFrom { run_id, after: 0 };
    follow(svc, vec![from], output).await
}

pub async fn resume(svc: Arc<dyn Runs>, runs: Vec<String>, output: OutputFormat) -> Result<i32> {
    let reply = svc.resume(&ResumeRequest { runs }).await?;
    for w in &reply.warnings {
        eprintln!("warning: {w}");
    }
    // A quarantined run needs the operator: the command says so in its exit code too.
    let worst = |code: i32| {
        if reply.quarantined && code == super::EXIT_OK {
            super::EXIT_FAILED
        } else {
            code
        }
    };
    if reply.runs.is_empty() {
        // With -o json, stdout carries only events (there are none).
        match output {
            OutputFormat::Text => outln!("no unfinished runs"),
            OutputFormat::Json => eprintln!("no unfinished runs"),
        }
        return Ok(worst(super::EXIT_OK));
    }
    if output == OutputFormat::Text {
        outln!(
            "resuming {} run(s) ({} waiting on timers)",
            reply.runs.len(),
            reply.scheduled
        );
    }
    Ok(worst(follow(svc, reply.runs, output).await?))
}
