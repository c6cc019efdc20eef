//! `status`, `list`, `history`, `graph`: read-only views of the store.

use crate::cli::{GraphFormat, OutputFormat};
use crate::render;
use anyhow::{anyhow, bail, Result};
use failback_engine::Engine;
use failback_state::{RunFilter, RunRecord, RunState, StateStore};

fn load(store: &StateStore, id: &str) -> Result<RunRecord> {
    store
        .load_run(id)?
        .ok_or_else(|| anyhow!("run {id} not found"))
}

pub fn status(engine: &Engine, id: &str, format: OutputFormat) -> Result<i32> {
    let store = engine.store();
    let run = load(store, id)?;
    let steps = store.load_steps(id)?;
    let now = engine.clock().now();
    let text = match format {
        OutputFormat::Text => {
            render::status::run_status_text(&run, &steps, now, super::color_stdout())
        }
        OutputFormat::Json => render::status::run_status_json(&run, &steps),
    };
    println!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}

pub(crate) fn parse_state(s: &str) -> Result<RunState> {
    RunState::from_name(s).ok_or_else(|| {
        anyhow!(
            "--state {s:?}: expected one of {}",
            RunState::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

pub fn list(engine: &Engine, state: Option<&str>, format: OutputFormat) -> Result<i32> {
    let filter = RunFilter {
        states: state.map(parse_state).transpose()?.into_iter().collect(),
    };
    // A damaged run record is a warning here, not the end of the list.
    let mut runs = Vec::new();
    for r in engine.store().run_summaries_lenient(&filter)? {
        match r {
            Ok(run) => runs.push(run),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    let text = match format {
        OutputFormat::Text => render::status::runs_table(&runs, engine.clock().now()),
        OutputFormat::Json => render::status::runs_json(&runs),
    };
    println!("{}", text.trim_end());
    for q in engine.store().list_quarantined()? {
        eprintln!("warning: {q}");
    }
    Ok(super::EXIT_OK)
}

pub fn history(engine: &Engine, id: &str, format: OutputFormat) -> Result<i32> {
    load(engine.store(), id)?;
    let events = engine.store().history(id)?;
    let text = match format {
        OutputFormat::Text => render::status::history_text(&events),
        OutputFormat::Json => render::status::history_json(&events),
    };
    println!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}

pub fn graph(engine: &Engine, id: &str, format: GraphFormat) -> Result<i32> {
    let run = load(engine.store(), id)?;
    let def = engine
        .registry()
        .build(&run.workflow, run.definition_version, &run.id, &run.input)
        .map_err(|e| anyhow!("{e}"))?;
    let steps = engine.store().load_steps(id)?;
    if steps.is_empty() {
        bail!("run {id} has no steps");
    }
    let edges = def.edges();
    let text = match format {
        GraphFormat::Dot => render::graph::graph_dot(&steps, &edges),
        GraphFormat::Mermaid => render::graph::graph_mermaid(&steps, &edges),
    };
    println!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}
