//! `failback plan`: the dry run. Exit 0 when ready, 2 when blocked; nothing is created.

use crate::cli::PlanFormat;
use crate::outln;
use crate::render;
use crate::service::types::PlanRequest;
use crate::service::{json, Runs};
use anyhow::{Context as _, Result};
use failback_engine::planner::Plan;
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
        PlanFormat::Json => json::plan(plan),
        PlanFormat::Dot => render::plan::plan_dot(plan),
        PlanFormat::Mermaid => render::plan::plan_mermaid(plan),
    };
    outln!("{}", text.trim_end());
}

/// The request for a spec file: its absolute path, so whoever reads it finds relative secret
/// files next to it.
pub fn spec_request(path: &Path, run_id: &str, offline: bool) -> Result<PlanRequest> {
    let abs = std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    Ok(PlanRequest {
        spec_toml: None,
        spec_path: Some(abs.display().to_string()),
        run_id: Some(run_id.to_owned()),
        offline,
    })
}

fn exit_code(plan: &Plan) -> i32 {
    if plan.blocked() {
        super::EXIT_BLOCKED
    } else {
        super::EXIT_OK
    }
}

pub async fn run(
    svc: &dyn Runs,
    spec_path: &Path,
    run: Option<&str>,
    run_id: Option<String>,
    offline: bool,
    format: PlanFormat,
) -> Result<i32> {
    let plan = match run {
        Some(id) => svc.plan_run(id, offline).await?,
        None => {
            if let Err(code) = load_spec(spec_path) {
                return Ok(code);
            }
            let id = run_id.unwrap_or_else(crate::context::new_run_id);
            let plan = svc
                .plan_new(&spec_request(spec_path, &id, offline)?)
                .await?;
            if format == PlanFormat::Text {
                outln!("Names below are for run id {id}: apply with `failback apply --run-id {id}` to create exactly these.\n");
            }
            plan
        }
    };
    print(&plan, format);
    Ok(exit_code(&plan))
}
