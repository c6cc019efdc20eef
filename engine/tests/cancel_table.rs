//! The cancel table of docs/cli.md ("Cancel, retry and signal by run state"), every cell: a
//! run is brought into each of the eight states, then `cancel`, `cancel --teardown`, `retry`
//! or `signal` is applied, and the answer, the state it ends in and what was undone are
//! checked. The workflow: `make` (an effect with an undo, like create-nic/create-vm) then
//! `gate`, which the test steers into waiting, running (blocked), failing or finishing.

mod support;

use failback_engine::{
    Engine, EngineError, ManualClock, RetryPolicy, Step, StepContext, StepDef, StepFailure,
    StepOutcome, WorkflowDef, WorkflowRegistry,
};
use failback_state::{RunRecord, RunState, StateStore, StepStatus};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;

const T0: u64 = 1_800_000_000_000;
const SIGNAL: &str = "failback-complete";

/// What the test controls.
#[derive(Default)]
struct Knobs {
    /// `gate` fails until this is set (a retry then succeeds).
    fixed: AtomicBool,
    /// The undo of `make` blocks until this is set (holds a run in `cancelling`).
    undo_released: AtomicBool,
    /// Ends a blocked `gate` at the end of a cell.
    unblock: AtomicBool,
    undos: AtomicU32,
    makes: AtomicU32,
}

struct Make(Arc<Knobs>);
struct Undo(Arc<Knobs>);
struct Gate(Arc<Knobs>);

#[async_trait::async_trait]
impl Step for Make {
    async fn execute(&self, _ctx: &StepContext) -> StepOutcome {
        self.0.makes.fetch_add(1, Ordering::SeqCst);
        StepOutcome::Done(json!({"made": true}))
    }
}

/// Returns once `done()` holds (checked every 5 ms).
async fn until(done: impl Fn() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[async_trait::async_trait]
impl Step for Undo {
    async fn execute(&self, _ctx: &StepContext) -> StepOutcome {
        until(|| self.0.undo_released.load(Ordering::SeqCst)).await;
        self.0.undos.fetch_add(1, Ordering::SeqCst);
        StepOutcome::Done(json!(null))
    }
}

#[async_trait::async_trait]
impl Step for Gate {
    async fn execute(&self, ctx: &StepContext) -> StepOutcome {
        match ctx.run_input["gate"].as_str().unwrap_or("wait") {
            "done" => StepOutcome::Done(json!(null)),
            "fail" if !self.0.fixed.load(Ordering::SeqCst) => {
                StepOutcome::Fail(StepFailure::new("TestFailure", "gate is closed"))
            }
            "fail" => StepOutcome::Done(json!(null)),
            // In flight until the run is cancelled (or the engine stops).
            "block" => {
                until(|| ctx.cancel.is_cancelled() || self.0.unblock.load(Ordering::SeqCst)).await;
                StepOutcome::Retry {
                    after: None,
                    reason: "stopped by cancel".into(),
                }
            }
            _ if ctx.has_signal(SIGNAL) => StepOutcome::Done(json!(null)),
            _ => StepOutcome::Wait {
                until: ctx.now() + 3_600_000,
                state: json!({}),
                deadline: None,
            },
        }
    }
}

fn engine(knobs: &Arc<Knobs>) -> Engine {
    let k = knobs.clone();
    let mut reg = WorkflowRegistry::new();
    reg.register("table", 1, move |_, _| {
        WorkflowDef::new(
            "table",
            1,
            vec![
                StepDef::new("make", Arc::new(Make(k.clone())))
                    .compensate_with(Arc::new(Undo(k.clone()))),
                StepDef::new("gate", Arc::new(Gate(k.clone())))
                    .after(["make"])
                    .retry(RetryPolicy::none()),
            ],
        )
    });
    engine_with(StateStore::in_memory(), Arc::new(ManualClock::new(T0)), reg)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmd {
    Cancel,
    Teardown,
    Retry,
    Signal,
}

/// Bring run `r` into `state`.
async fn bring(eng: &Engine, knobs: &Knobs, state: RunState) {
    let gate = match state {
        RunState::Running => "block",
        RunState::Succeeded => "done",
        RunState::Failed => "fail",
        _ => "wait",
    };
    let input = json!({ "gate": gate });
    if state == RunState::Pending {
        eng.create("table", 1, "r", input, no_labels())
            .await
            .unwrap();
        return;
    }
    eng.submit("table", "r", input, no_labels()).await.unwrap();
    match state {
        RunState::Running => {
            eng.wait_for("r", |_| {
                gate_is(eng, |s| matches!(s, StepStatus::Running { .. }))
            })
            .await
            .unwrap();
        }
        RunState::Succeeded | RunState::Failed => {
            eng.finished("r").await.unwrap();
        }
        _ => {
            eng.wait_for("r", |r| r.state == RunState::Waiting)
                .await
                .unwrap();
        }
    }
    match state {
        RunState::Paused => {
            eng.pause("r").await.unwrap();
        }
        RunState::Cancelling => {
            eng.cancel("r", true).await.unwrap();
        }
        RunState::Cancelled => {
            knobs.undo_released.store(true, Ordering::SeqCst);
            eng.cancel("r", false).await.unwrap();
        }
        _ => {}
    }
    let run = eng.store().load_run("r").unwrap().unwrap();
    assert_eq!(run.state, state, "set-up of the {state:?} row");
}

fn gate_is(eng: &Engine, f: impl Fn(&StepStatus) -> bool) -> bool {
    eng.store()
        .load_steps("r")
        .unwrap()
        .iter()
        .any(|s| s.step_id == "gate" && f(&s.status))
}

async fn apply(eng: &Engine, knobs: &Knobs, cmd: Cmd) -> Result<RunRecord, EngineError> {
    match cmd {
        Cmd::Cancel => eng.cancel("r", false).await,
        Cmd::Teardown => eng.cancel("r", true).await,
        Cmd::Retry => {
            knobs.fixed.store(true, Ordering::SeqCst);
            eng.retry("r", None).await
        }
        Cmd::Signal => eng.signal("r", SIGNAL).await,
    }
}

/// What a cell promises.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Refused with a message containing this; the run is left in its state.
    Refused(&'static str),
    /// Accepted; the run ends in this state with `make` undone this many times.
    Ends(RunState, u32),
    /// Accepted and recorded; the run stays in this state.
    Stays(RunState),
}

fn expect(state: RunState, cmd: Cmd) -> Expect {
    use Expect::*;
    use RunState::*;
    match (state, cmd) {
        (Succeeded, Cmd::Cancel | Cmd::Teardown) => Refused("already succeeded"),
        (Cancelled, Cmd::Cancel) => Refused("already cancelled"),
        (Succeeded | Cancelled, Cmd::Signal) => Refused("already"),
        (Failed, Cmd::Retry) => Ends(Succeeded, 0),
        (_, Cmd::Retry) => Refused("only a failed run can be retried"),
        // `make` never ran: nothing to undo.
        (Pending, Cmd::Teardown) => Ends(Cancelled, 0),
        (Cancelling, Cmd::Cancel | Cmd::Teardown) => Ends(Cancelled, 1),
        (_, Cmd::Cancel) => Ends(Cancelled, 0),
        (_, Cmd::Teardown) => Ends(Cancelled, 1),
        // A waiting step looks again at once and sees the signal.
        (Pending | Waiting, Cmd::Signal) => Ends(Succeeded, 0),
        (Running | Paused | Failed | Cancelling, Cmd::Signal) => Stays(state),
    }
}

async fn cell(state: RunState, cmd: Cmd) {
    let knobs = Arc::new(Knobs::default());
    let eng = engine(&knobs);
    bring(&eng, &knobs, state).await;
    let undone_before = knobs.undos.load(Ordering::SeqCst);
    let result = apply(&eng, &knobs, cmd).await;
    let want = expect(state, cmd);
    let at = format!("{} × {cmd:?}", state.as_str());
    match want {
        Expect::Refused(msg) => {
            let e = result.expect_err(&at).to_string();
            assert!(e.contains(msg), "{at}: {e}");
            let run = eng.store().load_run("r").unwrap().unwrap();
            if state == RunState::Pending {
                // The command woke the run, which is then driven as on `resume`.
                assert!(
                    run.state != RunState::Cancelled && run.signals.is_empty(),
                    "{at}"
                );
            } else {
                assert_eq!(run.state, state, "{at}: a refused command changes nothing");
            }
        }
        Expect::Ends(end, undos) => {
            let run = result.unwrap_or_else(|e| panic!("{at}: {e}"));
            if cmd == Cmd::Signal {
                assert!(run.signals.iter().any(|s| s == SIGNAL), "{at}");
            }
            knobs.undo_released.store(true, Ordering::SeqCst);
            // Generous: a wrong end state fails here instead of hanging the suite.
            let run = tokio::time::timeout(
                Duration::from_secs(60),
                eng.wait_for("r", |r| r.state == end || r.state == RunState::Failed),
            )
            .await
            .unwrap_or_else(|_| panic!("{at}: never reached {end:?}"))
            .unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(run.state, end, "{at}");
            let undone = knobs.undos.load(Ordering::SeqCst) - undone_before;
            assert_eq!(undone, undos, "{at}: undos of make");
            if end == RunState::Cancelled && undos == 1 {
                let steps = eng.store().load_steps("r").unwrap();
                let make = steps.iter().find(|s| s.step_id == "make").unwrap();
                assert_eq!(make.status, StepStatus::Compensated, "{at}");
            }
        }
        Expect::Stays(stay) => {
            let run = result.unwrap_or_else(|e| panic!("{at}: {e}"));
            assert!(run.signals.iter().any(|s| s == SIGNAL), "{at}");
            let run = eng.store().load_run("r").unwrap().unwrap();
            assert_eq!(run.state, stay, "{at}");
            assert_eq!(knobs.undos.load(Ordering::SeqCst), undone_before, "{at}");
        }
    }
    assert!(
        knobs.makes.load(Ordering::SeqCst) <= 1,
        "{at}: make ran twice"
    );
    knobs.undo_released.store(true, Ordering::SeqCst);
    knobs.unblock.store(true, Ordering::SeqCst);
    eng.shutdown(Duration::from_secs(5)).await;
}

macro_rules! row {
    ($name:ident, $state:expr) => {
        #[tokio::test]
        async fn $name() {
            for cmd in [Cmd::Cancel, Cmd::Teardown, Cmd::Retry, Cmd::Signal] {
                cell($state, cmd).await;
            }
        }
    };
}

row!(pending, RunState::Pending);
row!(running, RunState::Running);
row!(waiting, RunState::Waiting);
row!(paused, RunState::Paused);
row!(succeeded, RunState::Succeeded);
row!(failed, RunState::Failed);
row!(cancelling, RunState::Cancelling);
row!(cancelled, RunState::Cancelled);
