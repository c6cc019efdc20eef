//! The inbox of forwarded commands, served by the run's owner: a request is applied once even
//! when it is found again after it was applied (its owner died before the answer was durable),
//! and a request for a run that does not exist is answered "not found".

mod support;

use failback_engine::testkit::{Behaviour, Journal, JournalStep};
use failback_engine::{RetryPolicy, Step, StepDef, SystemClock, WorkflowDef, WorkflowRegistry};
use failback_state::{EventKind, InboxRequest, Refusal, RequestedCommand, RunState, StateStore};
use serde_json::json;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use support::*;

/// `first`, then `main`, which always fails permanently.
fn failing(journal: Arc<Journal>) -> WorkflowRegistry {
    let mut reg = WorkflowRegistry::new();
    reg.register("one", 1, move |_, _| {
        let step = |behaviour| -> Arc<dyn Step> {
            Arc::new(JournalStep {
                journal: journal.clone(),
                behaviour,
            })
        };
        WorkflowDef::new(
            "one",
            1,
            vec![
                StepDef::new("first", step(Behaviour::Effect)),
                StepDef::new("main", step(Behaviour::Fail { ok_flag: None }))
                    .after(["first"])
                    .retry(RetryPolicy::none()),
            ],
        )
    });
    reg
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn request(id: &str, run: &str, command: RequestedCommand) -> InboxRequest {
    InboxRequest {
        id: id.into(),
        run_id: run.into(),
        command,
        by: Some("carol".into()),
        at: now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_found_again_after_it_was_applied_is_not_applied_twice() {
    let journal = Journal::memory();
    let store = StateStore::in_memory();
    let eng = engine_with(
        store.clone(),
        Arc::new(SystemClock),
        failing(journal.clone()),
    );
    eng.submit("one", "r", json!({}), no_labels())
        .await
        .unwrap();
    assert_eq!(eng.finished("r").await.unwrap().state, RunState::Failed);

    let retry = RequestedCommand::Retry {
        from: None,
        amend: None,
    };
    let req = request("1-1-0-0", "r", retry);
    store.ask(&req).await.unwrap();
    assert_eq!(eng.serve_inbox_once().await.unwrap(), 1);
    let first = store.inbox_reply(&req.id).unwrap().expect("answered");
    let run = first.outcome.expect("applied");
    assert_eq!(run.state, RunState::Running);
    assert!(store.inbox().unwrap().is_empty(), "the request is gone");
    // `main` fails again: a retry applied twice would run it a third time.
    assert_eq!(eng.finished("r").await.unwrap().state, RunState::Failed);

    // The owner died after applying, before its answer was durable: the request is found again.
    store.ask(&req).await.unwrap();
    assert_eq!(eng.serve_inbox_once().await.unwrap(), 1);
    let again = store.inbox_reply(&req.id).unwrap().expect("answered again");
    assert_eq!(
        again.outcome.expect("known applied").state,
        RunState::Failed
    );

    let history = store.history("r").unwrap();
    let retried: Vec<_> = history
        .iter()
        .filter(|e| matches!(e.kind, EventKind::RunRetried { .. }))
        .collect();
    assert_eq!(retried.len(), 1, "{history:?}");
    assert_eq!(retried[0].by.as_deref(), Some("carol"));
    assert_eq!(retried[0].request.as_deref(), Some(req.id.as_str()));
    let mains = journal
        .effects()
        .iter()
        .filter(|e| e.step == "main")
        .count();
    assert_eq!(mains, 2, "the first attempt and one retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_a_run_that_does_not_exist_is_answered_not_found() {
    let store = StateStore::in_memory();
    let eng = engine_with(
        store.clone(),
        Arc::new(SystemClock),
        failing(Journal::memory()),
    );
    let req = request("2-1-0-0", "ghost", RequestedCommand::Pause);
    store.ask(&req).await.unwrap();
    assert_eq!(eng.serve_inbox_once().await.unwrap(), 1);
    let reply = store.inbox_reply(&req.id).unwrap().expect("answered");
    assert_eq!(reply.outcome, Err(Refusal::RunNotFound));
    assert!(store.inbox().unwrap().is_empty());
}
