//! Steps and workflows for testing and benchmarking the engine (and crash-testing binaries
//! built on it). Every effect is appended to a [`Journal`] and synced before the step returns,
//! so a test can compare what happened with what the store says after a `kill -9`.

use crate::definition::{RetryPolicy, StepDef, WorkflowDef};
use crate::registry::WorkflowRegistry;
use crate::step::{Step, StepContext, StepFailure, StepOutcome};
use crate::EngineError;
use serde_json::{json, Value};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An append-only record of side effects: one line `run step attempt poll` per execution.
#[derive(Debug)]
pub struct Journal {
    path: Option<PathBuf>,
    lines: Mutex<Vec<String>>,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Effect {
    pub run: String,
    pub step: String,
    pub attempt: u32,
    /// 0 for an attempt's first execution, n for its n-th poll.
    pub poll: u32,
}

impl Journal {
    pub fn memory() -> Arc<Self> {
        Arc::new(Self {
            path: None,
            lines: Mutex::new(Vec::new()),
        })
    }
    pub fn file(path: &Path) -> Arc<Self> {
        Arc::new(Self {
            path: Some(path.to_path_buf()),
            lines: Mutex::new(Vec::new()),
        })
    }
    /// Append and sync one effect (a single short `write`, so a kill cannot tear it).
    pub fn record(&self, run: &str, step: &str, attempt: u32, poll: u32) -> std::io::Result<()> {
        let line = format!("{run} {step} {attempt} {poll}\n");
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = &self.path {
            let mut f = OpenOptions::new().create(true).append(true).open(p)?;
            f.write_all(line.as_bytes())?;
            f.sync_data()?;
        }
        lines.push(line);
        Ok(())
    }
    pub fn effects(&self) -> Vec<Effect> {
        match &self.path {
            Some(p) => Self::read(p).unwrap_or_default(),
            None => parse(
                &self
                    .lines
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .concat(),
            ),
        }
    }
    pub fn read(path: &Path) -> std::io::Result<Vec<Effect>> {
        match std::fs::read_to_string(path) {
            Ok(s) => Ok(parse(&s)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
}

fn parse(s: &str) -> Vec<Effect> {
    s.lines()
        .filter_map(|l| {
            let mut it = l.split(' ');
            Some(Effect {
                run: it.next()?.to_owned(),
                step: it.next()?.to_owned(),
                attempt: it.next()?.parse().ok()?,
                poll: it.next().map_or(Some(0), |p| p.parse().ok())?,
            })
        })
        .collect()
}

/// How a [`JournalStep`] behaves.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Record the effect, done.
    Effect,
    /// First execution records and waits `d`; the next one records and is done (an LRO).
    WaitOnce(Duration),
    /// First attempt records and asks to be retried after `d`; the next one is done.
    RetryOnce(Duration),
    /// Always fails permanently (unless `ok_flag` exists on disk: lets a test "fix" it).
    Fail { ok_flag: Option<PathBuf> },
}

pub struct JournalStep {
    pub journal: Arc<Journal>,
    pub behaviour: Behaviour,
}

fn record(j: &Journal, ctx: &StepContext) -> Result<(), StepOutcome> {
    j.record(&ctx.run_id, &ctx.step_id, ctx.attempt, ctx.poll)
        .map_err(|e| StepOutcome::Retry {
            after: None,
            reason: format!("journal write failed: {e}"),
        })
}

#[async_trait::async_trait]
impl Step for JournalStep {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        if let Err(o) = record(&self.journal, ctx) {
            return o;
        }
        let done = StepOutcome::Done(json!({ "step": ctx.step_id, "attempt": ctx.attempt }));
        match &self.behaviour {
            Behaviour::Effect => done,
            Behaviour::WaitOnce(d) => match &ctx.poll_state {
                Some(_) => done,
                None => StepOutcome::Wait {
                    until: ctx.now() + d.as_millis() as u64,
                    state: json!({ "started_attempt": ctx.attempt }),
                    deadline: None,
                },
            },
            Behaviour::RetryOnce(d) => {
                if ctx.attempt == 1 {
                    StepOutcome::Retry {
                        after: Some(*d),
                        reason: "first attempt always fails (test)".into(),
                    }
                } else {
                    done
                }
            }
            Behaviour::Fail { ok_flag } => match ok_flag {
                Some(p) if p.exists() => done,
                _ => StepOutcome::Fail(StepFailure::new("TestFailure", "this step always fails")),
            },
        }
    }
}

/// Does nothing: for measuring the engine's own cost.
pub struct NoopStep;

#[async_trait::async_trait]
impl Step for NoopStep {
    async fn execute(&self, _ctx: &StepContext) -> StepOutcome {
        StepOutcome::Done(Value::Null)
    }
}

/// `n` no-op steps in a line (`s0 → s1 → …`), name `noop-chain`.
pub fn noop_chain(n: usize) -> Result<WorkflowDef, EngineError> {
    let step: Arc<dyn Step> = Arc::new(NoopStep);
    let steps = (0..n)
        .map(|i| {
            let d = StepDef::new(format!("s{i}"), step.clone()).retry(RetryPolicy::none());
            if i == 0 {
                d
            } else {
                d.after([format!("s{}", i - 1)])
            }
        })
        .collect();
    WorkflowDef::new("noop-chain", 1, steps)
}

/// The failback-shaped test workflow: `validate`, then per branch `create → boot (waits) →
/// register (retried once)`, then `await` (waits), then per branch `teardown`. Creates are
/// `validate` and the creates are compensated by effect steps (journaled under the step's id).
pub fn branching(
    journal: Arc<Journal>,
    branches: &[&str],
    wait: Duration,
) -> Result<WorkflowDef, EngineError> {
    let step = |b: Behaviour| -> Arc<dyn Step> {
        Arc::new(JournalStep {
            journal: journal.clone(),
            behaviour: b,
        })
    };
    let fast = RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        multiplier: 2.0,
        jitter: 0.2,
    };
    let mut steps =
        vec![StepDef::new("validate", step(Behaviour::Effect))
            .compensate_with(step(Behaviour::Effect))];
    let mut registers = Vec::new();
    for b in branches {
        steps.push(
            StepDef::new(format!("{b}/create"), step(Behaviour::Effect))
                .after(["validate"])
                .compensate_with(step(Behaviour::Effect)),
        );
        steps.push(
            StepDef::new(format!("{b}/boot"), step(Behaviour::WaitOnce(wait)))
                .after([format!("{b}/create")]),
        );
        steps.push(
            StepDef::new(format!("{b}/register"), step(Behaviour::RetryOnce(wait)))
                .after([format!("{b}/boot")])
                .retry(fast.clone()),
        );
        registers.push(format!("{b}/register"));
    }
    steps.push(StepDef::new("await", step(Behaviour::WaitOnce(wait))).after(registers));
    for b in branches {
        steps.push(StepDef::new(format!("{b}/teardown"), step(Behaviour::Effect)).after(["await"]));
    }
    WorkflowDef::new("branching", 1, steps)
}

/// A registry with `branching` (branches from the run input's `branches` array, wait from
/// `wait_ms`) and `noop-chain` (length from `steps`).
pub fn registry(journal: Arc<Journal>) -> WorkflowRegistry {
    let mut r = WorkflowRegistry::new();
    r.register("branching", 1, move |_run, input| {
        let branches: Vec<String> = input["branches"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_else(|| vec!["a".into(), "b".into()]);
        let refs: Vec<&str> = branches.iter().map(String::as_str).collect();
        let wait = Duration::from_millis(input["wait_ms"].as_u64().unwrap_or(10));
        branching(journal.clone(), &refs, wait)
    });
    r.register("noop-chain", 1, |_run, input| {
        noop_chain(input["steps"].as_u64().unwrap_or(7) as usize)
    });
    r
}

/// Prepare a crash-test child process: the crash point it must die at (none: clear any
/// inherited one), and no core files from the deliberate aborts.
pub fn crash_child(cmd: &mut std::process::Command, crash_at: Option<&str>) {
    use std::os::unix::process::CommandExt;
    match crash_at {
        Some(c) => cmd.env(crate::crash::ENV_VAR, c),
        None => cmd.env_remove(crate::crash::ENV_VAR),
    };
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let zero = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::setrlimit(libc::RLIMIT_CORE, &zero);
            Ok(())
        });
    }
}
