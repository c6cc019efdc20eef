//! Reading the container: at open every blob, later the blobs that changed (by ETag) and that
//! this process does not hold a lease on — the runs other daemons drive. The same listing
//! tells the membership (member blobs are not data: they are never read into the replica). Reads are served from
//! the replica, so a run driven elsewhere is seen as of the last refresh.

use crate::membership;
use crate::partition::Contents;
use crate::shared::Shared;
use failback_state::StoreError;
use std::collections::HashSet;

pub(crate) async fn refresh(shared: &Shared) -> Result<(), StoreError> {
    let backend = |e: failback_azblob::BlobError| StoreError::Backend(e.to_string());
    let listing = shared.client.list_blobs("", None).await.map_err(backend)?;
    let dead = membership::observe(shared, &listing.entries);
    let mut listed = HashSet::new();
    for entry in listing.entries {
        if entry.name.starts_with(membership::MEMBER_PREFIX) {
            continue;
        }
        listed.insert(entry.name.clone());
        let known = {
            let parts = shared.parts();
            match parts.get(&entry.name) {
                Some(p) if p.lease.is_some() || p.writing => continue,
                Some(p) => p.etag.clone(),
                None => None,
            }
        };
        if known.is_some() && known == entry.etag {
            continue;
        }
        let blob = shared.client.get_blob(&entry.name).await.map_err(backend)?;
        let (data, etag) = match blob {
            Some(b) => (shared.decode(&entry.name, &b.data)?, Some(b.etag)),
            None => (Contents::new(), None),
        };
        shared.adopt(&entry.name, known.as_ref(), data, etag);
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

/// Read blob `name` again if it changed, unless this process holds its lease or is writing it
/// (one `GET`: what a frequent poll of one part costs, instead of a listing).
pub(crate) async fn refresh_one(shared: &Shared, name: &str) -> Result<(), StoreError> {
    let known = {
        let parts = shared.parts();
        match parts.get(name) {
            Some(p) if p.lease.is_some() || p.writing => return Ok(()),
            Some(p) => p.etag.clone(),
            None => None,
        }
    };
    let blob = shared.client.get_blob(name).await;
    let blob = blob.map_err(|e| StoreError::Backend(e.to_string()))?;
    let (data, etag) = match blob {
        Some(b) => (shared.decode(name, &b.data)?, Some(b.etag)),
        None => (Contents::new(), None),
    };
    if etag != known {
        shared.adopt(name, known.as_ref(), data, etag);
    }
    Ok(())
}
