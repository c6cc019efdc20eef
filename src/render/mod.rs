//! Output rendering for the CLI: pure functions from plans, runs, steps and events to text,
//! JSON, Graphviz DOT and Mermaid. Nothing here does I/O or reads the clock; callers pass
//! `now_ms` and whether to colour.

mod dag;
pub mod graph;
pub(crate) mod next;
pub mod plan;
pub mod status;
mod style;
pub mod time;

#[cfg(test)]
mod tests;

pub use graph::{graph_dot, graph_mermaid, status_label};
pub use plan::{
    change_name, plan_dot, plan_edges, plan_json, plan_mermaid, plan_summary, plan_text, PlanCounts,
};
pub use status::{
    event_text, history_json, history_text, run_status_json, run_status_text, run_status_view,
    runs_json, runs_table,
};
pub use time::{fmt_clock, fmt_duration, fmt_relative, fmt_utc, fmt_utc_near};
