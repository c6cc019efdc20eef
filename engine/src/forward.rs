//! Asking the owner: an operator command for a run another process drives (its fence is held
//! elsewhere on a shared store) is left in the store's inbox ([`crate::inbox`]), and this
//! process waits for the owner's answer — exactly what the owner's engine returned.

use crate::{refusal, Engine, EngineError};
use failback_state::{keys, InboxRequest, Millis, RequestedCommand, RunRecord};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the asker looks for the answer.
pub const POLL: Duration = Duration::from_millis(500);
/// How long past the lease the asker waits by default: the owner answers within about a
/// second; a dead owner's runs are taken over within the lease plus a scan.
pub const PAST_LEASE: Duration = Duration::from_secs(10);

/// Wall-clock milliseconds (requests and replies expire in real time).
pub(crate) fn wall_now() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A request id unique across processes and hosts: time, process, a random word, a counter.
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let word: u32 = rand::random();
    format!("{}-{}-{word:08x}-{n}", wall_now(), std::process::id())
}

impl Engine {
    /// The same engine, whose forwarded commands wait `wait` for the owner's answer (by
    /// default the store's lease plus [`PAST_LEASE`]).
    pub fn forwarding_wait(&self, wait: Duration) -> Engine {
        let mut engine = self.clone();
        engine.forward_wait = Some(wait);
        engine
    }

    /// The same engine, whose commands for runs another process drives fail with
    /// [`EngineError::NotOwned`] instead of being forwarded (a daemon starting `--paused`
    /// pauses the runs it can take, not every daemon's).
    pub fn without_forwarding(&self) -> Engine {
        self.forwarding_wait(Duration::ZERO)
    }

    fn forward_deadline(&self) -> Duration {
        let lease = self.store().raw().lease().unwrap_or_default();
        self.forward_wait.unwrap_or(lease + PAST_LEASE)
    }
}

/// Ask the owner of `run_id` to apply `what`, and return its answer. On no answer within the
/// deadline the request is withdrawn and [`EngineError::OwnerSilent`] returned: the owner may
/// have applied it meanwhile.
pub(crate) async fn forward(
    engine: &Engine,
    run_id: &str,
    what: RequestedCommand,
) -> Result<RunRecord, EngineError> {
    let wait = engine.forward_deadline();
    if wait.is_zero() {
        return Err(EngineError::NotOwned {
            run: run_id.to_owned(),
        });
    }
    let store = engine.store();
    let req = InboxRequest {
        id: request_id(),
        run_id: run_id.to_owned(),
        command: what,
        by: engine.actor.as_deref().map(str::to_owned),
        at: wall_now(),
    };
    tracing::info!(run_id, request = %req.id, "run driven by another process; asking it");
    store.ask(&req).await?;
    let deadline = tokio::time::Instant::now() + wait;
    let stop = engine.inner.shutdown.clone();
    while tokio::time::Instant::now() < deadline {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(POLL) => {}
        }
        if let Err(e) = store.refresh_inbox().await {
            tracing::warn!(error = %e, "reading the shared store for an answer failed");
            continue;
        }
        if let Some(answer) = take_reply(engine, &req).await? {
            return answer;
        }
    }
    store
        .remove_from_inbox(vec![keys::inbox_request(run_id, &req.id)])
        .await?;
    // Answered at the last moment (the withdrawal re-read the store on a conflict)?
    if let Some(answer) = take_reply(engine, &req).await? {
        return answer;
    }
    if stop.is_cancelled() {
        return Err(EngineError::ShuttingDown);
    }
    Err(EngineError::OwnerSilent {
        run: run_id.to_owned(),
        secs: wait.as_secs(),
    })
}

/// The owner's answer to `req` if it is there (then removed from the store).
async fn take_reply(
    engine: &Engine,
    req: &InboxRequest,
) -> Result<Option<Result<RunRecord, EngineError>>, EngineError> {
    let Some(reply) = engine.store().inbox_reply(&req.id)? else {
        return Ok(None);
    };
    engine
        .store()
        .remove_from_inbox(vec![keys::inbox_reply(&req.id)])
        .await?;
    Ok(Some(
        reply.outcome.map_err(|r| refusal::to_error(&req.run_id, r)),
    ))
}
