//! `failback apply` and `failback resume`.

use crate::cli::{OutputFormat, PlanFormat};
use crate::commands::{follow::follow, plan};
use anyhow::{anyhow, bail, Result};
use failback_engine::Engine;
use failback_state::{RunFilter, RunState};
use failback_workflows::failback::{run_input, WORKFLOW};
use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

pub(crate) fn confirm() -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("not a terminal: pass --yes to apply without confirmation");
    }
    print!("Apply this plan? Only 'yes' is accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

pub async fn apply(
    engine: &Engine,
    spec_path: &Path,
    run_id: Option<String>,
    yes: bool,
    output: OutputFormat,
) -> Result<i32> {
    let spec = match plan::load_spec(spec_path) {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let run_id = run_id.unwrap_or_else(crate::context::new_run_id);
    if !failback_engine::valid_run_id(&run_id) {
        bail!("{}", failback_engine::EngineError::InvalidRunId(run_id));
    }
    if engine.store().load_run(&run_id)?.is_some() {
        bail!("run {run_id} exists already; use `failback resume {run_id}`");
    }
    let the_plan = plan::new_plan(engine, &spec, &run_id, false).await?;
    if output == OutputFormat::Text {
        plan::print(&the_plan, PlanFormat::Text);
    }
    if the_plan.blocked() {
        eprintln!("the plan is blocked; nothing was created");
        return Ok(super::EXIT_BLOCKED);
    }
    if !yes && !confirm()? {
        eprintln!("not applied");
        return Ok(super::EXIT_FAILED);
    }
    let mut labels = BTreeMap::new();
    labels.insert("spec".to_owned(), spec_path.display().to_string());
    engine
        .submit(WORKFLOW, &run_id, run_input(&spec), labels)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    if output == OutputFormat::Text {
        println!("run {run_id} started");
    }
    follow(engine, &[run_id], output).await
}

pub async fn resume(engine: &Engine, runs: Vec<String>, output: OutputFormat) -> Result<i32> {
    for id in &runs {
        match engine.store().load_run(id)? {
            None => bail!("run {id} not found"),
            Some(r) if r.state == RunState::Paused => engine
                .unpause(id)
                .await
                .map(|_| ())
                .map_err(|e| anyhow!("{e}"))?,
            Some(_) => {}
        }
    }
    let report = engine.resume_all().map_err(|e| anyhow!("{e}"))?;
    for bad in &report.unreadable {
        eprintln!("warning: {bad}");
    }
    for q in &report.quarantined {
        eprintln!("warning: {q}");
    }
    let runs = if runs.is_empty() {
        // Runs whose record does not read were reported above; follow the others.
        let quarantined = |id: &str| report.quarantined.iter().any(|q| q.run_id == id);
        engine
            .store()
            .run_summaries_lenient(&RunFilter::unfinished())?
            .into_iter()
            .filter_map(Result::ok)
            .map(|r| r.id)
            .filter(|id| !quarantined(id))
            .collect()
    } else {
        runs
    };
    // A quarantined run needs the operator: the command says so in its exit code too.
    let worst = |code: i32| {
        if report.quarantined.is_empty() || code != super::EXIT_OK {
            code
        } else {
            super::EXIT_FAILED
        }
    };
    if runs.is_empty() {
        println!("no unfinished runs");
        return Ok(worst(super::EXIT_OK));
    }
    if output == OutputFormat::Text {
        println!(
            "resuming {} run(s) ({} waiting on timers)",
            runs.len(),
            report.scheduled
        );
    }
    Ok(worst(follow(engine, &runs, output).await?))
}
