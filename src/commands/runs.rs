//! `status`, `list`, `history`, `graph`: read-only views, the same on both paths.

use crate::cli::{GraphFormat, OutputFormat};
use crate::commands::follow::follow;
use crate::outln;
use crate::render;
use crate::service::types::FollowFrom;
use crate::service::{json, Runs};
use anyhow::{bail, Result};
use std::sync::Arc;

/// `status RUN` (with `--follow`, its events until it ends), or without a run the list.
pub async fn status(
    svc: Arc<dyn Runs>,
    id: Option<&str>,
    follow_it: bool,
    format: OutputFormat,
) -> Result<i32> {
    let Some(id) = id else {
        return list(svc.as_ref(), None, format).await;
    };
    let s = svc.status(id).await?;
    if follow_it {
        let from = FollowFrom {
            run_id: s.run.id,
            after: 0,
        };
        return follow(svc, vec![from], format).await;
    }
    let text = match format {
        OutputFormat::Text => render::status::run_status_view(
            &s.run,
            &s.steps,
            &s.edges,
            s.now,
            super::color_stdout(),
        ),
        OutputFormat::Json => json::status(&s),
    };
    outln!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}

pub async fn list(svc: &dyn Runs, state: Option<&str>, format: OutputFormat) -> Result<i32> {
    let l = svc.list(state).await?;
    let text = match format {
        OutputFormat::Text => render::status::runs_table(&l.runs, l.now),
        OutputFormat::Json => json::list(&l),
    };
    outln!("{}", text.trim_end());
    for w in &l.warnings {
        eprintln!("warning: {w}");
    }
    Ok(super::EXIT_OK)
}

pub async fn history(svc: &dyn Runs, id: &str, format: OutputFormat) -> Result<i32> {
    let page = svc.history(id, 0, 0).await?;
    let text = match format {
        OutputFormat::Text => render::status::history_text(&page.events),
        OutputFormat::Json => json::history(id, &page.events),
    };
    outln!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}

pub async fn graph(svc: &dyn Runs, id: &str, format: GraphFormat) -> Result<i32> {
    let s = svc.status(id).await?;
    if s.steps.is_empty() {
        bail!("run {id} has no steps");
    }
    let text = match format {
        GraphFormat::Dot => render::graph::graph_dot(&s.steps, &s.edges),
        GraphFormat::Mermaid => render::graph::graph_mermaid(&s.steps, &s.edges),
    };
    outln!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}
