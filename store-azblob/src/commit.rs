//! Writing a blob: the batches queued for it since its last write go out as one conditional
//! `PUT` of the whole blob (group commit per blob; different blobs are written in parallel).
//!
//! The `PUT` carries `If-Match` with the ETag this process last saw (or `If-None-Match: *`
//! for a new blob) and the run's lease id when this process holds the lease. Storage refuses
//! it (409/412) when another writer got there first: without a lease this process reads the
//! blob again and applies the batches on top of what is there (optimistic concurrency); with
//! a lease it has lost the run, and the batches fail with `Fenced`. A throttled or unanswered
//! `PUT` may still have landed, so the blob is read back before it is written again.

use crate::partition::{self, Contents};
use crate::shared::{backend, Pending, Shared};
use failback_azblob::{BlobError, Condition, ETag, LeaseId};
use failback_state::{check_batch, BatchOp, Fence, StoreError, WriteFailure};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Queue `pending` for blob `name`, starting its commit task unless one runs.
pub(crate) fn enqueue(
    shared: &Arc<Shared>,
    rt: &tokio::runtime::Handle,
    name: String,
    pending: Pending,
) {
    let mut parts = shared.parts();
    let part = parts.entry(name.clone()).or_default();
    part.queue.push(pending);
    if !part.writing {
        part.writing = true;
        rt.spawn(run(shared.clone(), name));
    }
}

/// The commit task of one blob: writes until its queue is empty.
async fn run(shared: Arc<Shared>, name: String) {
    loop {
        let group = {
            let mut parts = shared.parts();
            let part = parts.entry(name.clone()).or_default();
            if part.queue.is_empty() {
                part.writing = false;
                shared.idle.notify_all();
                return;
            }
            std::mem::take(&mut part.queue)
        };
        commit(&shared, &name, group).await;
    }
}

/// What a write starts from: the blob as this process knows it.
struct Base {
    data: Contents,
    etag: Option<ETag>,
    lease: Option<(u64, LeaseId)>,
}

async fn commit(shared: &Shared, name: &str, mut group: Vec<Pending>) {
    let deadline = Instant::now() + shared.opts.commit_deadline;
    let mut backoff = Duration::from_millis(50);
    loop {
        let base = snapshot(shared, name);
        let (accepted, data) = check(shared, &base, group);
        if accepted.is_empty() {
            return;
        }
        let bytes = partition::encode(&data);
        let mut cond = match &base.etag {
            Some(etag) => Condition::if_match(etag),
            None => Condition::create_only(),
        };
        if let Some((_, id)) = &base.lease {
            cond = cond.with_lease(id);
        }
        let started = Instant::now();
        let written = shared.client.put_blob(name, bytes.clone(), &cond).await;
        shared
            .counters
            .total_write_us
            .fetch_add(started.elapsed().as_micros() as u64, Relaxed);
        let error = match written {
            Ok(etag) => return finish(shared, name, data, etag, accepted),
            Err(e) => e,
        };
        if error.is_fenced() && base.lease.is_some() {
            return lost_lease(shared, name, &base, accepted);
        }
        let retry_after = match &error {
            e if e.is_fenced() && Instant::now() < deadline => Some(Duration::ZERO),
            BlobError::Throttled { retry_after, .. } if Instant::now() < deadline => {
                Some(retry_after.unwrap_or(backoff))
            }
            e if e.is_transient() && Instant::now() < deadline => Some(backoff),
            _ => None,
        };
        let Some(pause) = retry_after else {
            return fail(shared, accepted, &error.to_string());
        };
        // Someone else wrote it, or the answer was lost: see what is there now.
        match reread(shared, name).await {
            Ok(Some((seen, etag))) if seen == bytes => {
                return finish(shared, name, data, etag, accepted)
            }
            Ok(_) => {}
            Err(e) if matches!(e, StoreError::Corrupt { .. }) => {
                return fail(shared, accepted, &e.to_string())
            }
            Err(_) => {}
        }
        tokio::time::sleep(pause).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
        group = accepted;
    }
}

fn snapshot(shared: &Shared, name: &str) -> Base {
    let mut parts = shared.parts();
    let part = parts.entry(name.to_owned()).or_default();
    Base {
        data: part.data.clone(),
        etag: part.etag.clone(),
        lease: part.lease.clone(),
    }
}

/// Refuse the batches whose fence is not the blob's current one or whose `absent` keys
/// exist (answering them now), and apply the others in order to a copy of the blob.
fn check(shared: &Shared, base: &Base, group: Vec<Pending>) -> (Vec<Pending>, Contents) {
    let mut data = base.data.clone();
    let mut accepted = Vec::with_capacity(group.len());
    let current = base.lease.as_ref().map(|(t, _)| *t);
    for p in group {
        let fenced = |f: &Fence| {
            if current == Some(f.token) {
                Ok(())
            } else {
                Err(fenced_error(shared, f, current))
            }
        };
        let checked = check_batch(&p.batch, &fenced, &mut |k| Ok(data.contains_key(k)));
        if let Err(e) = checked {
            shared.counters.failed_commits.fetch_add(1, Relaxed);
            let _ = p.ack.send(Err(e));
            continue;
        }
        for op in &p.batch.ops {
            match op {
                BatchOp::Put(k, v) => data.insert(k.clone(), v.clone()),
                BatchOp::Delete(k) => data.remove(k),
            };
        }
        accepted.push(p);
    }
    (accepted, data)
}

pub(crate) fn fenced_error(shared: &Shared, f: &Fence, current: Option<u64>) -> StoreError {
    StoreError::Fenced {
        location: shared.location.clone(),
        run: f.run.clone(),
        given: f.token,
        current,
    }
}

fn finish(shared: &Shared, name: &str, data: Contents, etag: ETag, accepted: Vec<Pending>) {
    {
        let mut parts = shared.parts();
        let part = parts.entry(name.to_owned()).or_default();
        shared.publish(&part.data, &data);
        part.data = data;
        part.etag = Some(etag);
    }
    let c = &shared.counters;
    c.groups.fetch_add(1, Relaxed);
    c.max_group.fetch_max(accepted.len() as u64, Relaxed);
    for p in accepted {
        c.commits.fetch_add(1, Relaxed);
        c.ops.fetch_add(p.batch.ops.len() as u64, Relaxed);
        // Key + value bytes written, as `CommitStats::bytes` counts them (not `absent` keys).
        let bytes = p.batch.bytes();
        c.bytes.fetch_add(bytes as u64, Relaxed);
        let _ = p.ack.send(Ok(()));
    }
}

/// Storage refused a write carrying this process's lease: the run is someone else's now.
fn lost_lease(shared: &Shared, name: &str, base: &Base, accepted: Vec<Pending>) {
    let token = base.lease.as_ref().map(|(t, _)| *t);
    {
        let mut parts = shared.parts();
        let part = parts.entry(name.to_owned()).or_default();
        if part.lease.as_ref().map(|(t, _)| *t) == token {
            part.lease = None;
        }
    }
    tracing::warn!(
        blob = name,
        "state store: lost the lease of {name}; its writes stop"
    );
    for p in accepted {
        shared.counters.failed_commits.fetch_add(1, Relaxed);
        let run = name.strip_prefix(partition::RUN_PREFIX).unwrap_or(name);
        let fence = p.batch.fence.clone().unwrap_or(Fence {
            run: run.to_owned(),
            token: token.unwrap_or(0),
        });
        let _ = p.ack.send(Err(fenced_error(shared, &fence, None)));
    }
}

/// A write that cannot succeed: every batch of it fails, as a write failure (crash-only).
fn fail(shared: &Shared, accepted: Vec<Pending>, why: &str) {
    let path = std::path::Path::new(&shared.location);
    let failure = WriteFailure::backend(path, why.to_owned());
    for p in accepted {
        shared.counters.failed_commits.fetch_add(1, Relaxed);
        let _ = p.ack.send(Err(StoreError::WriteFailed(failure.clone())));
    }
}

/// Read blob `name` again and take it as this process's view (its commit task is the caller,
/// so nothing else changes it meanwhile). Returns its bytes and ETag, `None` if it is gone.
async fn reread(shared: &Shared, name: &str) -> Result<Option<(Vec<u8>, ETag)>, StoreError> {
    let blob = shared.client.get_blob(name).await.map_err(backend)?;
    let (data, etag) = match &blob {
        Some(b) => (shared.decode(name, &b.data)?, Some(b.etag.clone())),
        None => (Contents::new(), None),
    };
    let mut parts = shared.parts();
    let part = parts.entry(name.to_owned()).or_default();
    shared.publish(&part.data, &data);
    part.data = data;
    part.etag = etag;
    Ok(blob.map(|b| (b.data, b.etag)))
}
