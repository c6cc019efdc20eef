//! Following runs, the same on both paths: each run's history is long-polled through
//! [`Runs::history`] and printed as it comes (a live view on a terminal, plain lines in a
//! pipe, one JSON event per line with `-o json`) until the run ends. Ctrl-C: in-process, let
//! in-flight steps reach a checkpoint and say how to resume; through another process, only
//! stop watching. A session that can drive no more (a store write failed) says why, exit 1.

use crate::cli::OutputFormat;
use crate::render::time::{fmt_duration, fmt_utc};
use crate::service::types::FollowFrom;
use crate::service::{ErrorKind, Place, Runs, ServiceError};
use crate::{outln, service::json};
use anyhow::Result;
use failback_state::{EventKind, EventRecord, RunRecord, RunState};
use std::sync::Arc;
use tokio::sync::mpsc;

/// How long one history long poll may wait.
const POLL_MS: u64 = 10_000;

enum Msg {
    Event(EventRecord),
    Done(RunRecord),
    Failed(String, ServiceError),
}

/// What an event means, short, for a line under its step.
pub fn describe(e: &EventRecord) -> String {
    let wake = |at: u64| {
        let left = at.saturating_sub(e.at);
        format!("{} (at {})", fmt_duration(left), fmt_utc(at))
    };
    match &e.kind {
        EventKind::StepStarted { attempt } if *attempt <= 1 => "started".into(),
        EventKind::StepStarted { attempt } => format!("running (attempt {attempt})"),
        EventKind::StepSucceeded { .. } => "done".into(),
        EventKind::StepWaiting { wake_at, .. } => format!("waiting {}", wake(*wake_at)),
        EventKind::StepRetryScheduled {
            wake_at, reason, ..
        } => format!("retrying in {}: {reason}", wake(*wake_at)),
        EventKind::StepFailed { code, message, .. } => format!("FAILED {code}: {message}"),
        EventKind::StepCompensating { .. } => "undoing".into(),
        EventKind::StepCompensated => "undone".into(),
        EventKind::StepSkipped => "skipped".into(),
        EventKind::StepReset => "reset for retry".into(),
        EventKind::RunWaiting { wake_at } => {
            format!("run waiting; next wake in {}", wake(*wake_at))
        }
        EventKind::RunFailed { step_id, message } => format!("run failed at {step_id}: {message}"),
        EventKind::RunCancelRequested { compensate } => format!(
            "cancel requested{}",
            if *compensate { " (with teardown)" } else { "" }
        ),
        EventKind::RunRetried { from: Some(s) } => format!("retrying from {s}"),
        EventKind::RunRetried { from: None } => "retrying failed steps".into(),
        EventKind::Signal { name } => format!("signal {name}"),
        _ => crate::render::event_text(e),
    }
}

fn print_event(e: &EventRecord, output: OutputFormat, many: bool) {
    match output {
        OutputFormat::Json => outln!("{}", json::event_line(e)),
        OutputFormat::Text => {
            let run = if many {
                format!("{} ", e.run_id)
            } else {
                String::new()
            };
            let step = e.step_id.as_deref().unwrap_or("");
            outln!("{} {run}{step:<22} {}", fmt_utc(e.at), describe(e));
        }
    }
}

fn terminal(r: &RunRecord) -> bool {
    matches!(
        r.state,
        RunState::Succeeded | RunState::Failed | RunState::Cancelled
    )
}

/// Long-poll one run's history from `from.after` until it ends.
async fn watch(runs: Arc<dyn Runs>, from: FollowFrom, tx: mpsc::Sender<Msg>) {
    let mut after = from.after;
    loop {
        let page = match runs.history(&from.run_id, after, POLL_MS).await {
            Ok(p) => p,
            Err(e) => {
                let _ = tx.send(Msg::Failed(from.run_id.clone(), e)).await;
                return;
            }
        };
        for e in page.events {
            if tx.send(Msg::Event(e)).await.is_err() {
                return;
            }
        }
        after = page.next;
        if terminal(&page.run) {
            let _ = tx.send(Msg::Done(page.run)).await;
            return;
        }
    }
}

/// Follow `runs` until each ends, or Ctrl-C.
pub async fn follow(
    svc: Arc<dyn Runs>,
    runs: Vec<FollowFrom>,
    output: OutputFormat,
) -> Result<i32> {
    let many = runs.len() > 1;
    let ids: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
    let (tx, mut rx) = mpsc::channel(256);
    let mut tasks = tokio::task::JoinSet::new();
    for from in runs {
        tasks.spawn(watch(svc.clone(), from, tx.clone()));
    }
    drop(tx);
    let mut live = (output == OutputFormat::Text && super::color_stdout())
        .then(|| super::live::Live::new(many));
    let (mut finished, mut code) = (Vec::new(), super::EXIT_OK);
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let fatal = svc.fatal();
    tokio::pin!(fatal);
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Event(e)) => match live.as_mut() {
                    Some(l) => l.event(&e),
                    None => print_event(&e, output, many),
                },
                Some(Msg::Done(run)) => finished.push(run),
                // A quarantined run needs the operator; the others are followed to their end.
                Some(Msg::Failed(_, e)) if e.kind == ErrorKind::Conflict => {
                    eprintln!("warning: {e}");
                    code = super::EXIT_FAILED;
                }
                Some(Msg::Failed(id, e)) => {
                    stop_live(live.take());
                    anyhow::bail!("following run {id}: {e}");
                }
                None => break,
            },
            reason = &mut fatal => {
                stop_live(live.take());
                eprintln!("error: {reason}");
                return Ok(super::EXIT_FAILED);
            }
            _ = &mut ctrl_c => {
                stop_live(live.take());
                return Ok(interrupted(svc.as_ref(), &ids).await);
            }
        }
    }
    stop_live(live.take());
    Ok(report(&finished, output).max(code))
}

fn stop_live(live: Option<super::live::Live>) {
    if let Some(l) = live {
        l.finish();
    }
}

async fn interrupted(svc: &dyn Runs, ids: &[String]) -> i32 {
    for line in svc.interrupt().await {
        eprintln!("{line}");
    }
    for id in ids {
        match svc.place() {
            Place::InProcess => eprintln!("resume with: failback resume {id}"),
            Place::Remote => eprintln!("follow again with: failback status {id} --follow"),
        }
    }
    super::EXIT_INTERRUPTED
}

/// Say how each finished run ended; exit 1 when one failed.
pub fn report(finished: &[RunRecord], output: OutputFormat) -> i32 {
    let mut code = super::EXIT_OK;
    for run in finished {
        if output == OutputFormat::Text {
            match run.state {
                RunState::Succeeded => outln!("run {} succeeded", run.id),
                RunState::Cancelled => outln!("run {} cancelled", run.id),
                _ => {
                    outln!(
                        "run {} failed: {}",
                        run.id,
                        run.error.as_deref().unwrap_or("unknown error")
                    );
                    outln!(
                        "fix the cause, then: failback retry {} (or --from STEP)",
                        run.id
                    );
                }
            }
        }
        if run.state == RunState::Failed {
            code = super::EXIT_FAILED;
        }
    }
    code
}
