//! Which daemons share the container, told by storage itself: a daemon joins by leasing its
//! own blob `daemons/{member}` and renews that lease with its runs' fences (first, so that it
//! lapses no later than any of them); a listing then says which members are live (their blob
//! is leased) and which runs are held (their blob is leased). No clock of any host is compared
//! with another's. A member blob whose lease ended (a daemon that died) is deleted by whoever
//! lists it next.

use crate::partition::RUN_PREFIX;
use crate::shared::{backend, Shared};
use failback_azblob::{BlobEntry, BlobError, Condition, LeaseId};
use failback_state::{Membership, StoreError};
use std::sync::{MutexGuard, PoisonError};

/// Member blobs are named `daemons/{member}`.
pub const MEMBER_PREFIX: &str = "daemons/";

/// What this process knows of the membership: its own lease, and the last listing's view.
#[derive(Default)]
pub(crate) struct Members {
    /// The lease on this process's member blob, once joined.
    pub lease: Option<LeaseId>,
    /// As of the last listing.
    pub view: Membership,
}

impl Shared {
    pub(crate) fn members(&self) -> MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn blob_of(member: &str) -> String {
    format!("{MEMBER_PREFIX}{member}")
}

/// Join as `shared.opts.member` (nothing to do for a process that is no member): write the
/// member blob (who and since when, for operators) and lease it.
pub(crate) async fn join(shared: &Shared) -> Result<(), StoreError> {
    let Some(member) = &shared.opts.member else {
        return Ok(());
    };
    let name = blob_of(member);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let about = format!("pid={} since_unix={since}\n", std::process::id());
    let client = &shared.client;
    let duration = crate::lease::duration(shared)?;
    let id = LeaseId(uuid::Uuid::new_v4().to_string());
    // Between the write and the lease another daemon's sweep may take the blob for a dead
    // member's and delete it: write it again.
    let mut tries = 0;
    loop {
        tries += 1;
        client
            .put_blob(&name, about.clone().into_bytes(), &Condition::none())
            .await
            .map_err(backend)?;
        match client.acquire_lease(&name, duration, Some(&id)).await {
            Ok(lease) => {
                shared.members().lease = Some(lease);
                return Ok(());
            }
            Err(BlobError::NotFound { .. }) if tries < 3 => continue,
            Err(e) => return Err(backend(e)),
        }
    }
}

/// Keep this process's membership for another lease; a membership that lapsed (the process
/// was frozen, or storage out of reach for a whole lease) is joined afresh.
pub(crate) async fn heartbeat(shared: &Shared) -> Result<(), StoreError> {
    let Some(member) = &shared.opts.member else {
        return Ok(());
    };
    let lease = shared.members().lease.clone();
    if let Some(lease) = lease {
        match shared.client.renew_lease(&blob_of(member), &lease).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_fenced() || matches!(e, BlobError::NotFound { .. }) => {
                tracing::warn!(error = %e, "state store: this daemon's membership lapsed; joining again");
            }
            Err(e) => return Err(backend(e)),
        }
    }
    join(shared).await
}

/// Leave: release the member blob's lease and delete it, so the others count one daemon less
/// at their next listing.
pub(crate) async fn leave(shared: &Shared) -> Result<(), StoreError> {
    let (Some(member), Some(lease)) = (&shared.opts.member, shared.members().lease.take()) else {
        return Ok(());
    };
    let name = blob_of(member);
    shared
        .client
        .delete_blob(&name, &Condition::none().with_lease(&lease))
        .await
        .map_err(backend)
}

/// Take in a listing of the container: the live members and the held runs. Returns the member
/// blobs whose lease has ended (dead daemons), to be deleted.
pub(crate) fn observe(shared: &Shared, listing: &[BlobEntry]) -> Vec<BlobEntry> {
    let mut view = Membership::default();
    let mut dead = Vec::new();
    for entry in listing {
        if let Some(run) = entry.name.strip_prefix(RUN_PREFIX) {
            if entry.leased {
                view.held.insert(run.to_owned());
            }
        } else if entry.name.starts_with(MEMBER_PREFIX) {
            if entry.leased {
                view.live += 1;
            } else {
                dead.push(entry.clone());
            }
        }
    }
    shared.members().view = view;
    dead
}

/// Delete the blobs of members whose lease ended, each only as listed (`If-Match`): a member
/// that joined again meanwhile wrote it anew and keeps it.
pub(crate) async fn sweep(shared: &Shared, dead: Vec<BlobEntry>) {
    for entry in dead {
        let Some(etag) = &entry.etag else { continue };
        let deleted = shared
            .client
            .delete_blob(&entry.name, &Condition::if_match(etag))
            .await;
        match deleted {
            Ok(()) | Err(BlobError::NotFound { .. }) => {}
            Err(e) if e.is_fenced() => {}
            Err(e) => tracing::debug!(blob = %entry.name, error = %e,
                "state store: deleting a dead daemon's member blob failed; retried at the next listing"),
        }
    }
}

/// The membership as of the last listing, with the runs this process holds now added (the
/// listing may predate their acquiring).
pub(crate) fn current(shared: &Shared) -> Membership {
    let mut view = shared.members().view.clone();
    for (name, part) in shared.parts().iter() {
        if let Some(run) = name.strip_prefix(RUN_PREFIX) {
            if part.lease.is_some() {
                view.held.insert(run.to_owned());
            }
        }
    }
    view
}
