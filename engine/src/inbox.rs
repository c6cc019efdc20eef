//! Serving the inbox: every [`EVERY`], a process on a shared store reads the commands other
//! processes left for runs it drives ([`crate::forward`]), applies each through its ordinary
//! command path under the run's fence, as the original actor, and answers: the request goes and
//! the reply comes in one commit.
//!
//! At most once: the events a forwarded command appends carry the request's id, and a driver
//! that finds such an event does not apply the request again but answers with the run as it is.
//! An owner that dies between applying and answering leaves the request; the run's next owner
//! finds the mark (it reads the run after taking its fence) and answers without re-applying.
//!
//! A request left longer than the lease (its asker's owner died, or finished the run and let it
//! go) is tried by any process: its driver takes the run's fence if it is free (or answers
//! "not found" if the run is gone). Requests and replies older than twice the asker's wait are
//! removed unanswered (their asker gave up long ago).

use crate::forward::{wall_now, PAST_LEASE};
use crate::{refusal, Engine, EngineError};
use failback_state::{InboxReply, InboxRequest};
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the inbox is read.
pub const EVERY: Duration = Duration::from_secs(1);

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// Serve the inbox every [`EVERY`] until `stop` (or the engine stops). A failed pass is
    /// retried at the next one.
    pub async fn serve_inbox(self, stop: CancellationToken) {
        let shutdown = self.inner.shutdown.clone();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(EVERY) => {}
            }
            if let Err(e) = self.serve_inbox_once().await {
                tracing::warn!(error = %e, "serving forwarded commands failed");
            }
        }
    }

    /// One pass over the inbox: answer what this process can; returns how many it answered.
    pub async fn serve_inbox_once(&self) -> Result<usize, EngineError> {
        let store = self.store();
        let owned: HashSet<String> = store.owned_runs().into_iter().collect();
        // One read of the part holding the inbox (a GET on Blob Storage), not a listing.
        store.refresh_inbox().await?;
        let lease = store.raw().lease().unwrap_or_default();
        let stuck = millis(lease);
        let expired = millis((lease + PAST_LEASE) * 2);
        let now = wall_now();
        let mut dead = Vec::new();
        let mut answered = 0;
        for (key, req) in store.inbox()? {
            let req = match req {
                Ok(req) => req,
                Err(e) => {
                    tracing::warn!(error = %e, "a forwarded command does not read");
                    // Damaged is removed; a newer build's is left for that build.
                    if e.damaged_key().is_some() {
                        dead.push(key);
                    }
                    continue;
                }
            };
            let age = now.saturating_sub(req.at);
            if age > expired {
                dead.push(key);
            } else if (owned.contains(&req.run_id) || age >= stuck) && self.serve(&req).await? {
                answered += 1;
            }
        }
        for (key, reply) in store.inbox_replies()? {
            let gone = match reply {
                Ok(reply) => now.saturating_sub(reply.at) > expired,
                Err(e) => e.damaged_key().is_some(),
            };
            if gone {
                dead.push(key);
            }
        }
        store.remove_from_inbox(dead).await?;
        Ok(answered)
    }

    /// Apply `req` as its asker would have and answer it; false when this process does not
    /// drive the run (it is left for the one that does).
    async fn serve(&self, req: &InboxRequest) -> Result<bool, EngineError> {
        let engine = match &req.by {
            Some(by) => self.acting_as(by),
            None => self.clone(),
        };
        let result = engine
            .command_as(&req.run_id, req.command.clone(), Some(&req.id))
            .await;
        let outcome = match result {
            Ok(run) => Ok(run),
            Err(e) => match refusal::of_error(e) {
                Some(refusal) => Err(refusal),
                None => return Ok(false),
            },
        };
        let reply = InboxReply {
            id: req.id.clone(),
            run_id: req.run_id.clone(),
            outcome,
            at: wall_now(),
        };
        self.store().answer(req, &reply).await?;
        tracing::info!(run_id = %req.run_id, request = %req.id, "answered a forwarded command");
        Ok(true)
    }
}
