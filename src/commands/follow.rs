//! Driving runs in the foreground: progress lines (or JSON events), Ctrl-C leaves a resumable
//! run and says how to resume it; a store that can no longer be written ends the command at
//! once with the reason (exit 1), the runs resumable.

use crate::cli::OutputFormat;
use crate::render::time::{fmt_duration, fmt_utc};
use anyhow::Result;
use failback_engine::{Engine, ProgressEvent};
use failback_state::{EventKind, RunRecord, RunState};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;

/// How long in-flight steps get to reach a checkpoint after Ctrl-C.
const GRACE: Duration = Duration::from_secs(10);

pub(crate) fn describe(ev: &ProgressEvent) -> String {
    let wake = |at: u64| {
        let left = at.saturating_sub(ev.at);
        format!("{} (at {})", fmt_duration(left), fmt_utc(at))
    };
    match &ev.kind {
        EventKind::RunCreated => "run created".into(),
        EventKind::StepStarted { attempt } if *attempt == 1 => "started".into(),
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
        EventKind::RunSucceeded => "run succeeded".into(),
        EventKind::RunFailed { step_id, message } => format!("run failed at {step_id}: {message}"),
        EventKind::RunPaused => "run paused".into(),
        EventKind::RunResumed => "run resumed".into(),
        EventKind::RunCancelRequested { compensate } => {
            format!(
                "cancel requested{}",
                if *compensate { " (with teardown)" } else { "" }
            )
        }
        EventKind::RunCancelled => "run cancelled".into(),
        EventKind::RunRetried { from } => match from {
            Some(s) => format!("retrying from {s}"),
            None => "retrying failed steps".into(),
        },
        EventKind::Signal { name } => format!("signal {name}"),
        EventKind::RunAmended { changes } => format!("run amended: {}", changes.join("; ")),
    }
}

fn print_event(ev: &ProgressEvent, output: OutputFormat, many: bool) {
    match output {
        OutputFormat::Json => {
            if let Ok(line) = serde_json::to_string(ev) {
                println!("{line}");
            }
        }
        OutputFormat::Text => {
            let run = if many {
                format!("{} ", ev.run_id)
            } else {
                String::new()
            };
            let step = ev.step_id.as_deref().unwrap_or("");
            println!("{} {run}{step:<22} {}", fmt_utc(ev.at), describe(ev));
        }
    }
}

/// Follow `runs` until each finishes (succeeded, failed, cancelled) or Ctrl-C.
pub async fn follow(engine: &Engine, runs: &[String], output: OutputFormat) -> Result<i32> {
    let wanted: BTreeSet<String> = runs.iter().cloned().collect();
    let many = wanted.len() > 1;
    let mut rx = engine.subscribe();
    let mut done: JoinSet<Result<RunRecord, failback_engine::EngineError>> = JoinSet::new();
    for id in runs {
        let (e, id) = (engine.clone(), id.clone());
        done.spawn(async move { e.finished(&id).await });
    }
    let mut finished = Vec::new();
    // Runs whose driver found a damaged record: reported, the others followed to their end.
    let mut quarantined = Vec::new();
    let mut live = (output == OutputFormat::Text && super::color_stdout())
        .then(|| super::live::Live::new(many));
    let mut show = |ev: &ProgressEvent| match live.as_mut() {
        Some(l) => l.event(ev),
        None => print_event(ev, output, many),
    };
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let fatal = engine.fatal();
    tokio::pin!(fatal);
    while finished.len() + quarantined.len() < runs.len() {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) if wanted.contains(&ev.run_id) => show(&ev),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            },
            Some(r) = done.join_next() => match r {
                Ok(Ok(run)) => finished.push(run),
                Ok(Err(failback_engine::EngineError::Quarantined(q))) => quarantined.push(q),
                Ok(Err(e)) => anyhow::bail!("{e}"),
                Err(e) => anyhow::bail!("waiting for a run: {e}"),
            },
            // Crash-only: the engine stopped driving (a write failed); say why and exit, the
            // runs stay resumable from what is durable.
            fatal = &mut fatal => {
                if let Some(l) = live.take() {
                    l.finish();
                }
                eprintln!("error: {fatal}");
                return Ok(super::EXIT_FAILED);
            }
            _ = &mut ctrl_c => {
                if let Some(l) = live.take() {
                    l.finish();
                }
                eprintln!("interrupted: letting in-flight steps reach a checkpoint…");
                let clean = engine.shutdown(GRACE).await;
                if !clean {
                    eprintln!("some steps were still running; they will run again on resume");
                }
                for id in runs {
                    eprintln!("resume with: failback resume {id}");
                }
                return Ok(super::EXIT_INTERRUPTED);
            }
        }
    }
    // Events broadcast before the final state was read may still be queued.
    while let Ok(ev) = rx.try_recv() {
        if wanted.contains(&ev.run_id) {
            show(&ev);
        }
    }
    if let Some(l) = live.take() {
        l.finish();
    }
    let mut code = report(&finished, output);
    for q in &quarantined {
        eprintln!("warning: {q}");
        code = super::EXIT_FAILED;
    }
    engine.shutdown(GRACE).await;
    Ok(code)
}

/// Say how each finished run ended; exit 1 when one failed.
pub(crate) fn report(finished: &[RunRecord], output: OutputFormat) -> i32 {
    let mut code = super::EXIT_OK;
    for run in finished {
        if output == OutputFormat::Text {
            match run.state {
                RunState::Succeeded => println!("run {} succeeded", run.id),
                RunState::Cancelled => println!("run {} cancelled", run.id),
                _ => {
                    println!(
                        "run {} failed: {}",
                        run.id,
                        run.error.as_deref().unwrap_or("unknown error")
                    );
                    println!(
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
