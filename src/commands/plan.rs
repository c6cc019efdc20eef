//! `failback plan`: the dry run. Exit 0 when ready, 2 when blocked; nothing is created.

use crate::cli::PlanFormat;
use crate::render;
use anyhow::{anyhow, Result};
use failback_engine::planner::{self, Plan};
use failback_engine::Engine;
use failback_workflows::failback::{run_input, WORKFLOW};
use failback_workflows::spec;
use std::path::Path;

/// Load and validate the spec; errors are printed as `file:line:col: field: message`.
pub fn load_spec(path: &Path) -> Result<spec::Spec, i32> {
    spec::load(path).map_err(|errors| {
        eprintln!("{errors}");
        eprintln!(
            "error: {} is not valid; nothing was created",
            path.display()
        );
        super::EXIT_FAILED
    })
}

pub fn print(plan: &Plan, format: PlanFormat) {
    let text = match format {
        PlanFormat::Text => render::plan::plan_text(plan, super::color_stdout()),
        PlanFormat::Json => render::plan::plan_json(plan),
        PlanFormat::Dot => render::plan::plan_dot(plan),
        PlanFormat::Mermaid => render::plan::plan_mermaid(plan),
    };
    println!("{}", text.trim_end());
}

pub async fn new_plan(
    engine: &Engine,
    spec: &spec::Spec,
    run_id: &str,
    offline: bool,
) -> Result<Plan> {
    planner::plan_new(
        engine.registry(),
        WORKFLOW,
        run_id,
        run_input(spec),
        offline,
    )
    .await
    .map_err(|e| anyhow!("{e}"))
}

pub async fn run(
    engine: &Engine,
    spec_path: &Path,
    run: Option<&str>,
    run_id: Option<String>,
    offline: bool,
    format: PlanFormat,
) -> Result<i32> {
    let plan = match run {
        Some(id) => planner::plan_run(engine.store(), engine.registry(), id, offline)
            .await
            .map_err(|e| anyhow!("{e}"))?,
        None => {
            let spec = match load_spec(spec_path) {
                Ok(s) => s,
                Err(code) => return Ok(code),
            };
            let id = run_id.unwrap_or_else(crate::context::new_run_id);
            let plan = new_plan(engine, &spec, &id, offline).await?;
            if format == PlanFormat::Text {
                println!("Names below are for run id {id}: apply with `failback apply --run-id {id}` to create exactly these.\n");
            }
            plan
        }
    };
    print(&plan, format);
    Ok(if plan.blocked() {
        super::EXIT_BLOCKED
    } else {
        super::EXIT_OK
    })
}
