//! A run's fence on Azure Blob Storage is the lease on its blob: `acquire` takes it (or, held
//! already, changes its id so that the older fence's id is refused by storage; a lease of ours
//! that lapsed is taken afresh), `renew` keeps it, `release` gives it up. A write carries the
//! lease id, so storage itself refuses a writer whose lease was taken over: the fence is
//! checked where the data is.

use crate::commit::fenced_error;
use crate::partition;
use crate::shared::{backend, Shared};
use failback_azblob::{BlobError, Condition, LeaseDuration, LeaseId};
use failback_state::{Fence, StoreError};
use std::sync::atomic::Ordering::SeqCst;

pub(crate) fn duration(shared: &Shared) -> Result<LeaseDuration, StoreError> {
    let secs = u32::try_from(shared.opts.lease.as_secs()).unwrap_or(u32::MAX);
    LeaseDuration::seconds(secs).map_err(|e| StoreError::BadUrl {
        url: shared.location.clone(),
        why: e.to_string(),
    })
}

pub(crate) async fn acquire(shared: &Shared, run: String) -> Result<Fence, StoreError> {
    let name = partition::of_run(&run);
    let held = shared.parts().get(&name).and_then(|p| p.lease.clone());
    let new_id = LeaseId(uuid::Uuid::new_v4().to_string());
    let client = &shared.client;
    let owned = || StoreError::Owned {
        location: shared.location.clone(),
        run: run.clone(),
    };
    let changed = match held {
        Some((_, id)) => match client.change_lease(&name, &id, &new_id).await {
            Ok(_) => true,
            // Our lease lapsed (or was taken): try a fresh one below, as any process would.
            Err(e) if e.is_fenced() => false,
            Err(e) => return Err(backend(e)),
        },
        None => false,
    };
    if !changed {
        take(shared, &name, &new_id).await.map_err(|e| match e {
            e if e.is_fenced() => owned(),
            e => backend(e),
        })?;
    }
    // Nobody else writes the blob now: read it as it is, then record the lease.
    let (data, etag) = shared.read(&name).await?;
    let token = shared.next_token.fetch_add(1, SeqCst) + 1;
    let mut parts = shared.parts();
    let part = parts.entry(name).or_default();
    if !part.writing {
        shared.publish(&part.data, &data);
        part.data = data;
        part.etag = etag;
    }
    part.lease = Some((token, new_id));
    Ok(Fence { run, token })
}

/// Acquire the lease of blob `name`, creating the blob (empty) first if it does not exist.
async fn take(shared: &Shared, name: &str, id: &LeaseId) -> Result<(), BlobError> {
    let client = &shared.client;
    let duration = duration(shared).map_err(|e| BlobError::Invalid {
        field: "lease duration",
        reason: e.to_string(),
    })?;
    match client.acquire_lease(name, duration, Some(id)).await {
        Err(BlobError::NotFound { .. }) => {}
        other => return other.map(drop),
    }
    match client
        .put_blob(name, Vec::new(), &Condition::create_only())
        .await
    {
        Ok(_) => {}
        // Created by another process meanwhile: fine, lease that one.
        Err(e) if e.is_fenced() => {}
        Err(e) => return Err(e),
    }
    client
        .acquire_lease(name, duration, Some(id))
        .await
        .map(drop)
}

/// The lease id behind `fence`, if it is the run's current one here.
fn current(shared: &Shared, fence: &Fence) -> Result<LeaseId, StoreError> {
    let name = partition::of_run(&fence.run);
    let lease = shared.parts().get(&name).and_then(|p| p.lease.clone());
    match lease {
        Some((token, id)) if token == fence.token => Ok(id),
        other => Err(fenced_error(shared, fence, other.map(|(t, _)| t))),
    }
}

/// Forget the lease of `fence`'s run if `fence` still names it.
fn forget(shared: &Shared, fence: &Fence) {
    let name = partition::of_run(&fence.run);
    if let Some(part) = shared.parts().get_mut(&name) {
        if part.lease.as_ref().map(|(t, _)| *t) == Some(fence.token) {
            part.lease = None;
        }
    }
}

pub(crate) async fn renew(shared: &Shared, fence: Fence) -> Result<(), StoreError> {
    let id = current(shared, &fence)?;
    let name = partition::of_run(&fence.run);
    match shared.client.renew_lease(&name, &id).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_fenced() => {
            forget(shared, &fence);
            Err(fenced_error(shared, &fence, None))
        }
        Err(e) => Err(backend(e)),
    }
}

pub(crate) async fn release(shared: &Shared, fence: Fence) -> Result<(), StoreError> {
    let id = current(shared, &fence)?;
    let name = partition::of_run(&fence.run);
    let released = shared.client.release_lease(&name, &id).await;
    forget(shared, &fence);
    match released {
        Ok(()) => Ok(()),
        Err(e) if e.is_fenced() => Err(fenced_error(shared, &fence, None)),
        Err(e) => Err(backend(e)),
    }
}
