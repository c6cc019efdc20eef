//! Reading the container: at open every blob, later the blobs that changed (by ETag) and that
//! this process does not hold a lease on — the runs other daemons drive. The same listing
//! tells the membership (member blobs are not data: they are never read into the replica).
//! Reads are served from the replica, so a run driven elsewhere is seen as of the last refresh.

use crate::membership;
use crate::partition::Contents;
use crate::shared::{backend, Shared};
use failback_azblob::ETag;
use failback_state::StoreError;
use std::collections::HashSet;

/// The ETag this process last saw of blob `name` (`Some(None)`: never seen), or `None` when
/// the blob is not to be read again: this process holds its lease, or is writing it.
fn seen(shared: &Shared, name: &str) -> Option<Option<ETag>> {
    match shared.parts().get(name) {
        Some(p) if p.lease.is_some() || p.writing => None,
        Some(p) => Some(p.etag.clone()),
        None => Some(None),
    }
}

/// Read blob `name` and take it as this process's view, unless it changed here since `known`.
async fn reread(shared: &Shared, name: &str, known: Option<ETag>) -> Result<(), StoreError> {
    let (data, etag) = shared.read(name).await?;
    shared.adopt(name, known.as_ref(), data, etag);
    Ok(())
}

pub(crate) async fn refresh(shared: &Shared) -> Result<(), StoreError> {
    let listing = shared.client.list_blobs("", None).await.map_err(backend)?;
    let dead = membership::observe(shared, &listing.entries);
    let mut listed = HashSet::new();
    for entry in listing.entries {
        if entry.name.starts_with(membership::MEMBER_PREFIX) {
            continue;
        }
        listed.insert(entry.name.clone());
        let Some(known) = seen(shared, &entry.name) else {
            continue;
        };
        if known.is_none() || known != entry.etag {
            reread(shared, &entry.name, known).await?;
        }
    }
    let gone: Vec<_> = shared
        .parts()
        .iter()
        .filter(|(name, p)| p.etag.is_some() && p.lease.is_none() && !listed.contains(*name))
        .map(|(name, p)| (name.clone(), p.etag.clone()))
        .collect();
    for (name, etag) in gone {
        shared.adopt(&name, etag.as_ref(), Contents::new(), None);
    }
    membership::sweep(shared, dead).await;
    Ok(())
}

/// Read blob `name` again, unless this process holds its lease or is writing it (one `GET`:
/// what a frequent poll of one part costs, instead of a listing).
pub(crate) async fn refresh_one(shared: &Shared, name: &str) -> Result<(), StoreError> {
    match seen(shared, name) {
        Some(known) => reread(shared, name, known).await,
        None => Ok(()),
    }
}
