//! `GET /ui/runs/{id}/events`: a run's live updates as Server-Sent Events, made from
//! `LocalRuns::history` long polls. `history` events carry new history rows (their `id` is
//! the event's seq, so a reconnecting browser resumes after the last one it got), `state`
//! events the run's and each step's state and the next action; `end` says the run is
//! finished and nothing more will come.

use crate::daemon::api::AppState;
use crate::render::next::guidance;
use crate::render::status_label;
use crate::service::Runs as _;
use axum::response::sse::{Event, Sse};
use futures_util::stream::{self, Stream};
use serde_json::json;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

/// How long one long poll waits before a keep-alive comment.
const WAIT_MS: u64 = 20_000;

struct Live {
    state: Arc<AppState>,
    id: String,
    after: u64,
    queue: VecDeque<Event>,
    done: bool,
}

/// The stream of a run's updates from event `after` on.
pub fn events(
    state: Arc<AppState>,
    id: String,
    after: u64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let live = Live {
        state,
        id,
        after,
        queue: VecDeque::new(),
        done: false,
    };
    Sse::new(stream::unfold(live, next))
}

async fn next(mut l: Live) -> Option<(Result<Event, Infallible>, Live)> {
    loop {
        if let Some(e) = l.queue.pop_front() {
            return Some((Ok(e), l));
        }
        if l.done {
            return None;
        }
        poll(&mut l).await;
    }
}

/// One long poll: queue what it brings.
async fn poll(l: &mut Live) {
    let page = match l.state.runs.history(&l.id, l.after, WAIT_MS).await {
        Ok(p) => p,
        Err(e) => {
            l.queue
                .push_back(Event::default().event("failed").data(e.message));
            l.done = true;
            return;
        }
    };
    for e in &page.events {
        let data = json!({ "seq": e.seq, "html": super::pages::history_row(e) });
        l.queue.push_back(
            Event::default()
                .event("history")
                .id(e.seq.to_string())
                .data(data.to_string()),
        );
    }
    let quiet = page.events.is_empty();
    l.after = page.next;
    if quiet && !page.run.state.is_terminal() {
        l.queue.push_back(Event::default().comment("keep-alive"));
        return;
    }
    if let Some(ev) = state_event(&l.state, &l.id, l.after).await {
        l.queue.push_back(ev);
    }
    if quiet {
        l.queue
            .push_back(Event::default().event("end").data("the run is finished"));
        l.done = true;
    }
}

/// The run's state, each step's and the next action, as of at least event `seq`.
async fn state_event(state: &AppState, id: &str, seq: u64) -> Option<Event> {
    let s = state.runs.status(id).await.ok()?;
    let steps: serde_json::Map<String, serde_json::Value> = s
        .steps
        .iter()
        .map(|st| {
            let v = json!({ "status": st.status.name(), "label": status_label(st) });
            (st.step_id.clone(), v)
        })
        .collect();
    let g = guidance(&s.run, &s.steps, s.now);
    let data = json!({
        "run": s.run.state.as_str(),
        "seq": seq.max(s.run.next_event_seq),
        "error": s.run.error,
        "steps": steps,
        "next": g.next,
        "guidance": super::pages::guidance_html(&g, s.run.error.as_deref()),
    });
    Some(Event::default().event("state").data(data.to_string()))
}

/// `GET /ui/runs/events`: every run's state as it changes (`run` events: id and state), from
/// the engine's progress broadcast; `stale` when this stream fell behind (the page says to
/// reload). A comment every [`WAIT_MS`] keeps idle connections open.
pub fn list_events(state: Arc<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.engine.subscribe();
    Sse::new(stream::unfold(Some(rx), next_change))
}

type Changes = Option<tokio::sync::broadcast::Receiver<failback_engine::ProgressEvent>>;

async fn next_change(rx: Changes) -> Option<(Result<Event, Infallible>, Changes)> {
    use tokio::sync::broadcast::error::RecvError;
    let mut rx = rx?;
    let wait = std::time::Duration::from_millis(WAIT_MS);
    let ev = match tokio::time::timeout(wait, rx.recv()).await {
        Err(_) => Event::default().comment("keep-alive"),
        Ok(Ok(p)) => {
            let data = json!({ "id": p.run_id, "state": p.run_state.as_str() });
            Event::default().event("run").data(data.to_string())
        }
        Ok(Err(RecvError::Lagged(_))) => Event::default().event("stale").data("reload"),
        Ok(Err(RecvError::Closed)) => return None,
    };
    Some((Ok(ev), Some(rx)))
}
