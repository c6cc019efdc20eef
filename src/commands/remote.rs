//! The CLI commands when a daemon owns the store: the same output as the direct path, with
//! the data fetched over the daemon's socket. Runs are driven by the daemon; following one
//! only watches it, so Ctrl-C detaches without stopping anything.

use crate::cli::{GraphFormat, OutputFormat, PlanFormat};
use crate::daemon::client::DaemonClient;
use crate::render::{self, time::fmt_utc};
use anyhow::{anyhow, bail, Context as _, Result};
use failback_state::{EventRecord, RunRecord, RunState, RunSummary, StepRecord};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use std::path::Path;
use tokio::task::JoinSet;

/// How long one history long-poll may wait on the daemon.
const POLL_MS: u64 = 10_000;

fn field<T: DeserializeOwned>(v: &Value, name: &str) -> Result<T> {
    serde_json::from_value(v.get(name).cloned().unwrap_or(Value::Null))
        .with_context(|| format!("the daemon's answer: field {name:?}"))
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub async fn status(c: &DaemonClient, id: &str, format: OutputFormat) -> Result<i32> {
    let v = c.get(&format!("/v1/runs/{}", enc(id))).await?;
    let run: RunRecord = field(&v, "run")?;
    let steps: Vec<StepRecord> = field(&v, "steps")?;
    let text = match format {
        OutputFormat::Text => {
            render::status::run_status_text(&run, &steps, field(&v, "now")?, super::color_stdout())
        }
        OutputFormat::Json => render::status::run_status_json(&run, &steps),
    };
    println!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}

pub async fn list(c: &DaemonClient, state: Option<&str>, format: OutputFormat) -> Result<i32> {
    if let Some(s) = state {
        // The same message as the direct path.
        super::runs::parse_state(s)?;
    }
    let path = match state {
        Some(s) => format!("/v1/runs?state={}", enc(s)),
        None => "/v1/runs".into(),
    };
    let v = c.get(&path).await?;
    let runs: Vec<RunSummary> = field(&v, "runs")?;
    let text = match format {
        OutputFormat::Text => render::status::runs_table(&runs, field(&v, "now")?),
        OutputFormat::Json => render::status::runs_json(&runs),
    };
    println!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}

pub async fn history(c: &DaemonClient, id: &str, format: OutputFormat) -> Result<i32> {
    let v = c.get(&format!("/v1/runs/{}/history", enc(id))).await?;
    let events: Vec<EventRecord> = field(&v, "events")?;
    let text = match format {
        OutputFormat::Text => render::status::history_text(&events),
        OutputFormat::Json => render::status::history_json(&events),
    };
    println!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}

pub async fn graph(c: &DaemonClient, id: &str, format: GraphFormat) -> Result<i32> {
    let f = match format {
        GraphFormat::Dot => "dot",
        GraphFormat::Mermaid => "mermaid",
    };
    let v = c
        .get(&format!("/v1/runs/{}/graph?format={f}", enc(id)))
        .await?;
    let text: String = field(&v, "text")?;
    println!("{}", text.trim_end());
    Ok(super::EXIT_OK)
}

/// Print a plan answer in `format`; returns whether it is blocked.
fn print_plan(v: &Value, format: PlanFormat) -> Result<bool> {
    let text = match format {
        PlanFormat::Text => field::<String>(v, "text")?,
        PlanFormat::Json => format!("{:#}", v.get("plan").unwrap_or(&Value::Null)),
        PlanFormat::Dot => field::<String>(v, "dot")?,
        PlanFormat::Mermaid => field::<String>(v, "mermaid")?,
    };
    println!("{}", text.trim_end());
    field(v, "blocked")
}

fn spec_request(spec_path: &Path, run_id: &str, offline: bool) -> Result<Value> {
    // The daemon reads the file itself, so relative secret files resolve as in the CLI.
    let abs = std::path::absolute(spec_path)
        .with_context(|| format!("resolving {}", spec_path.display()))?;
    Ok(json!({
        "spec_path": abs.display().to_string(),
        "run_id": run_id,
        "offline": offline,
        "color": super::color_stdout(),
    }))
}

pub async fn plan(
    c: &DaemonClient,
    spec_path: &Path,
    run: Option<&str>,
    run_id: Option<String>,
    offline: bool,
    format: PlanFormat,
) -> Result<i32> {
    let v = match run {
        Some(id) => {
            let color = super::color_stdout();
            c.get(&format!(
                "/v1/runs/{}/plan?offline={offline}&color={color}",
                enc(id)
            ))
            .await?
        }
        None => {
            if let Err(code) = super::plan::load_spec(spec_path) {
                return Ok(code);
            }
            let id = run_id.unwrap_or_else(crate::context::new_run_id);
            let v = c
                .post("/v1/plan", &spec_request(spec_path, &id, offline)?)
                .await?;
            if format == PlanFormat::Text {
                println!("Names below are for run id {id}: apply with `failback apply --run-id {id}` to create exactly these.\n");
            }
            v
        }
    };
    Ok(if print_plan(&v, format)? {
        super::EXIT_BLOCKED
    } else {
        super::EXIT_OK
    })
}

pub async fn apply(
    c: &DaemonClient,
    spec_path: &Path,
    run_id: Option<String>,
    yes: bool,
    output: OutputFormat,
) -> Result<i32> {
    if let Err(code) = super::plan::load_spec(spec_path) {
        return Ok(code);
    }
    let run_id = run_id.unwrap_or_else(crate::context::new_run_id);
    if !failback_engine::valid_run_id(&run_id) {
        bail!("{}", failback_engine::EngineError::InvalidRunId(run_id));
    }
    match c.get(&format!("/v1/runs/{}", enc(&run_id))).await {
        Ok(_) => bail!("run {run_id} exists already; use `failback resume {run_id}`"),
        Err(e) if e.status() == Some(404) => {}
        Err(e) => return Err(e.into()),
    }
    let req = spec_request(spec_path, &run_id, false)?;
    let v = c.post("/v1/plan", &req).await?;
    let blocked: bool = field(&v, "blocked")?;
    if output == OutputFormat::Text {
        print_plan(&v, PlanFormat::Text)?;
    }
    if blocked {
        eprintln!("the plan is blocked; nothing was created");
        return Ok(super::EXIT_BLOCKED);
    }
    if !yes && !super::apply::confirm()? {
        eprintln!("not applied");
        return Ok(super::EXIT_FAILED);
    }
    let mut req = req;
    if let Some(o) = req.as_object_mut() {
        o.remove("offline");
        o.remove("color");
    }
    c.post("/v1/runs", &req).await?;
    if output == OutputFormat::Text {
        println!("run {run_id} started (driven by the daemon)");
    }
    follow(c, &[run_id], output).await
}

pub async fn resume(c: &DaemonClient, runs: Vec<String>, output: OutputFormat) -> Result<i32> {
    for id in &runs {
        let v = c.get(&format!("/v1/runs/{}", enc(id))).await?;
        let run: RunRecord = field(&v, "run")?;
        if run.state == RunState::Paused {
            c.post(&format!("/v1/runs/{}/resume", enc(id)), &json!({}))
                .await?;
        }
    }
    let runs = if runs.is_empty() {
        let v = c.get("/v1/runs").await?;
        let all: Vec<RunRecord> = field(&v, "runs")?;
        all.into_iter()
            .filter(|r| {
                matches!(
                    r.state,
                    RunState::Pending
                        | RunState::Running
                        | RunState::Waiting
                        | RunState::Cancelling
                )
            })
            .map(|r| r.id)
            .collect()
    } else {
        runs
    };
    if runs.is_empty() {
        println!("no unfinished runs");
        return Ok(super::EXIT_OK);
    }
    if output == OutputFormat::Text {
        println!("following {} run(s) driven by the daemon", runs.len());
    }
    follow(c, &runs, output).await
}

async fn control(c: &DaemonClient, id: &str, action: &str, body: Value) -> Result<()> {
    c.post(&format!("/v1/runs/{}/{action}", enc(id)), &body)
        .await?;
    Ok(())
}

pub async fn cancel(c: &DaemonClient, id: &str, teardown: bool) -> Result<i32> {
    control(c, id, "cancel", json!({ "teardown": teardown })).await?;
    follow(c, &[id.to_owned()], OutputFormat::Text).await
}

pub async fn signal(c: &DaemonClient, id: &str, signal: &str) -> Result<i32> {
    control(c, id, "signal", json!({ "signal": signal })).await?;
    println!("run {id}: signal {signal} recorded");
    follow(c, &[id.to_owned()], OutputFormat::Text).await
}

pub async fn retry(
    c: &DaemonClient,
    id: &str,
    from: Option<&str>,
    spec: Option<&std::path::Path>,
) -> Result<i32> {
    let mut body = json!({ "from": from });
    if let Some(path) = spec {
        let new = match super::plan::load_spec(path) {
            Ok(s) => s,
            Err(code) => return Ok(code),
        };
        let v = c.get(&format!("/v1/runs/{}", enc(id))).await?;
        let run: RunRecord = field(&v, "run")?;
        let a = super::amend::amendment(&run, &new, path)?;
        body["amend"] = json!({ "input": a.input });
    }
    control(c, id, "retry", body).await?;
    println!(
        "run {id}: retrying{}",
        from.map(|s| format!(" from {s}")).unwrap_or_default()
    );
    follow(c, &[id.to_owned()], OutputFormat::Text).await
}

fn print_event(e: &EventRecord, output: OutputFormat, many: bool) {
    match output {
        OutputFormat::Json => {
            if let Ok(line) = serde_json::to_string(e) {
                println!("{line}");
            }
        }
        OutputFormat::Text => {
            let run = if many {
                format!("{} ", e.run_id)
            } else {
                String::new()
            };
            println!("{} {run}{}", fmt_utc(e.at), render::event_text(e));
        }
    }
}

/// Watch one run through history long-polls until it finishes; prints events as they come.
async fn watch(c: DaemonClient, id: String, output: OutputFormat, many: bool) -> Result<RunRecord> {
    let mut after = 0u64;
    loop {
        let v = c
            .get(&format!(
                "/v1/runs/{}/history?after={after}&wait_ms={POLL_MS}",
                enc(&id)
            ))
            .await?;
        let run: RunRecord = field(&v, "run")?;
        let events: Vec<EventRecord> = field(&v, "events")?;
        for e in &events {
            print_event(e, output, many);
        }
        after = field(&v, "next")?;
        if matches!(
            run.state,
            RunState::Succeeded | RunState::Failed | RunState::Cancelled
        ) {
            return Ok(run);
        }
    }
}

/// Follow `runs` until each finishes, or Ctrl-C (which only detaches).
pub async fn follow(c: &DaemonClient, runs: &[String], output: OutputFormat) -> Result<i32> {
    let many = runs.len() > 1;
    let mut set = JoinSet::new();
    for id in runs {
        set.spawn(watch(c.clone(), id.clone(), output, many));
    }
    let mut finished = Vec::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    while finished.len() < runs.len() {
        tokio::select! {
            Some(r) = set.join_next() => match r {
                Ok(Ok(run)) => finished.push(run),
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(anyhow!("following a run: {e}")),
            },
            _ = &mut ctrl_c => {
                eprintln!("detached; the daemon keeps driving the run(s)");
                for id in runs {
                    eprintln!("follow again with: failback resume {id}");
                }
                return Ok(super::EXIT_INTERRUPTED);
            }
        }
    }
    Ok(super::follow::report(&finished, output))
}
