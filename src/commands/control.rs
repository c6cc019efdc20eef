//! `cancel`, `signal`, `retry`: operator actions, the same on both paths. Each is durable
//! when it returns; the run is then followed until it ends. What deletes (`cancel
//! --teardown`, the `failback-complete` signal, which starts teardown) shows what it will
//! delete and asks first; without a terminal it needs `--yes`.

use crate::cli::OutputFormat;
use crate::commands::{amend, confirm, follow::follow, plan::load_spec};
use crate::outln;
use crate::service::types::{
    Action, AmendBody, ControlBody, ControlRequest, FollowFrom, RunStatus,
};
use crate::service::Runs;
use anyhow::Result;
use failback_state::{StepRecord, StepStatus};
use std::path::Path;
use std::sync::Arc;

/// Azure resource ids (and process-server registrations) a succeeded step's output names.
pub(crate) fn created(s: &StepRecord) -> Vec<String> {
    let StepStatus::Succeeded { output } = &s.status else {
        return Vec::new();
    };
    let mut ids = Vec::new();
    if let Some(m) = output.as_object() {
        for v in m.values().filter_map(|v| v.as_str()) {
            if v.starts_with("/subscriptions/") {
                ids.push(v.to_owned());
            }
        }
    }
    if ids.is_empty() && s.step_id.ends_with("/register") {
        ids.push("its process-server registration on the configuration server".into());
    }
    ids
}

/// A preview line: on stdout in text, on stderr beside `-o json` (stdout stays JSON).
fn say(output: OutputFormat, line: &str) {
    match output {
        OutputFormat::Text => outln!("{line}"),
        OutputFormat::Json => eprintln!("{line}"),
    }
}

/// Each step's depth in the DAG (the longest chain of dependencies above it).
pub(crate) fn depths(edges: &[(String, String)]) -> std::collections::HashMap<&str, usize> {
    let mut depth: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    // Relax every edge until nothing changes: at most one round per step.
    for _ in 0..=edges.len() {
        let mut changed = false;
        for (a, b) in edges {
            let d = depth.get(a.as_str()).copied().unwrap_or(0) + 1;
            if depth.get(b.as_str()).is_none_or(|old| *old < d) {
                depth.insert(b, d);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    depth
}

/// What `cancel --teardown` undoes: the steps that created something, in the reverse of
/// the order they ran in (deepest first, then by id). The console lists the same.
pub(crate) fn teardown_steps(s: &RunStatus) -> Vec<&StepRecord> {
    let depth = depths(&s.edges);
    let mut done: Vec<&StepRecord> = s.steps.iter().filter(|s| !created(s).is_empty()).collect();
    done.sort_by_key(|s| {
        let d = depth.get(s.step_id.as_str()).copied().unwrap_or(0);
        (std::cmp::Reverse(d), s.step_id.clone())
    });
    done
}

fn teardown_preview(id: &str, s: &RunStatus, output: OutputFormat) {
    let say = |l: String| say(output, &l);
    let done = teardown_steps(s);
    if done.is_empty() {
        say(format!(
            "Run {id} has created nothing that teardown would delete."
        ));
        return;
    }
    say(format!(
        "Cancelling run {id} with teardown deletes what it created:"
    ));
    for s in done {
        say(format!("  - undo {}:", s.step_id));
        for what in created(s) {
            say(format!("      {what}"));
        }
    }
}

pub async fn cancel(
    svc: Arc<dyn Runs>,
    id: &str,
    teardown: bool,
    yes: bool,
    output: OutputFormat,
) -> Result<i32> {
    let s = svc.status(id).await?;
    if teardown {
        teardown_preview(id, &s, output);
        if !confirm::ask("Cancel the run and delete these?", yes, "deleted")? {
            eprintln!("not cancelled; nothing was deleted");
            return Ok(super::EXIT_FAILED);
        }
    }
    let body = ControlBody {
        teardown,
        ..ControlBody::default()
    };
    act(svc, id, s.run.next_event_seq, Action::Cancel, body, output).await
}

/// What the `failback-complete` signal will delete: the teardown steps still to run.
async fn signal_preview(svc: &dyn Runs, id: &str, output: OutputFormat) -> Result<()> {
    let plan = svc.plan_run(id, true).await?;
    let say = |l: String| say(output, &l);
    say(format!(
        "Signalling failback-complete ends the wait for failback of run {id} and starts teardown:"
    ));
    for s in &plan.steps {
        let deletes: Vec<&String> = s
            .plan
            .calls
            .iter()
            .filter(|c| c.starts_with("DELETE"))
            .collect();
        if deletes.is_empty() || s.status.as_deref() == Some("succeeded") {
            continue;
        }
        say(format!("  - {}: {}", s.id, s.plan.action));
        for c in deletes {
            say(format!("      {c}"));
        }
    }
    Ok(())
}

pub async fn signal(
    svc: Arc<dyn Runs>,
    id: &str,
    signal: &str,
    yes: bool,
    output: OutputFormat,
) -> Result<i32> {
    let s = svc.status(id).await?;
    if signal == failback_steps::steps::await_failback::SIGNAL {
        signal_preview(svc.as_ref(), id, output).await?;
        if !confirm::ask("Send the signal?", yes, "deleted")? {
            eprintln!("no signal sent; nothing was deleted");
            return Ok(super::EXIT_FAILED);
        }
    }
    let body = ControlBody {
        signal: Some(signal.to_owned()),
        ..ControlBody::default()
    };
    act(svc, id, s.run.next_event_seq, Action::Signal, body, output).await
}

pub async fn retry(
    svc: Arc<dyn Runs>,
    id: &str,
    from: Option<&str>,
    spec: Option<&Path>,
    output: OutputFormat,
) -> Result<i32> {
    let s = svc.status(id).await?;
    let amend = match spec {
        Some(path) => {
            let new = match load_spec(path) {
                Ok(spec) => spec,
                Err(code) => return Ok(code),
            };
            let a = amend::amendment(&s.run, &new, path)?;
            Some(AmendBody { input: a.input })
        }
        None => None,
    };
    let body = ControlBody {
        from: from.map(str::to_owned),
        amend,
        ..ControlBody::default()
    };
    act(svc, id, s.run.next_event_seq, Action::Retry, body, output).await
}

/// Carry out the action, say so, and follow the run from the events it adds.
async fn act(
    svc: Arc<dyn Runs>,
    id: &str,
    after: u64,
    action: Action,
    body: ControlBody,
    output: OutputFormat,
) -> Result<i32> {
    let req = ControlRequest { action, body };
    svc.control(id, &req).await?;
    if output == OutputFormat::Text {
        let what = match (action, &req.body) {
            (Action::Cancel, b) if b.teardown => "cancel with teardown requested".to_owned(),
            (Action::Cancel, _) => "cancel requested".to_owned(),
            (Action::Signal, b) => format!("signal {} recorded", b.signal.as_deref().unwrap_or("")),
            (Action::Retry, b) => match &b.from {
                Some(step) => format!("retrying from {step}"),
                None => "retrying".to_owned(),
            },
            (a, _) => a.as_str().to_owned(),
        };
        outln!("run {id}: {what}");
    }
    let from = FollowFrom {
        run_id: id.to_owned(),
        after,
    };
    follow(svc, vec![from], output).await
}
