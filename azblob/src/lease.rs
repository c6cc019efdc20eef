//! Blob leases: one holder at a time may write a leased blob (every write must carry the lease
//! id), which is what makes storage itself refuse a writer that lost its lease. One request each.

use crate::client::{missing, ContainerClient, LeaseId};
use crate::error::BlobError;
use azure_storage_blob::models::{
    BlobClientAcquireLeaseOptions, BlobClientAcquireLeaseResultHeaders,
    BlobClientBreakLeaseOptions, BlobClientBreakLeaseResultHeaders, BlobClientChangeLeaseOptions,
    BlobClientChangeLeaseResultHeaders, BlobClientReleaseLeaseOptions, BlobClientRenewLeaseOptions,
};
use std::time::Duration;

/// How long a lease lasts unless renewed: 15 to 60 s, or until released or broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseDuration {
    /// Build it with [`LeaseDuration::seconds`], which refuses values outside 15..=60 before
    /// any request; a value built directly outside that range is refused by the service (400).
    Seconds(u32),
    Infinite,
}

impl LeaseDuration {
    /// A finite lease; Azure accepts 15..=60 seconds.
    pub fn seconds(secs: u32) -> Result<LeaseDuration, BlobError> {
        if (15..=60).contains(&secs) {
            Ok(LeaseDuration::Seconds(secs))
        } else {
            Err(BlobError::Invalid {
                field: "lease duration",
                reason: format!("{secs} s: Azure accepts 15 to 60 seconds, or infinite"),
            })
        }
    }

    fn header(self) -> i32 {
        match self {
            LeaseDuration::Seconds(s) => s.min(i32::MAX as u32) as i32,
            LeaseDuration::Infinite => -1,
        }
    }
}

impl ContainerClient {
    /// Takes the lease on blob `name` (which must exist). `proposed` lets the caller choose the
    /// id (a UUID), e.g. to re-acquire idempotently after a lost answer: acquiring again with the
    /// id already holding the lease succeeds. Another holder: [`BlobError::Conflict`]
    /// (`LeaseAlreadyPresent`).
    pub async fn acquire_lease(
        &self,
        name: &str,
        duration: LeaseDuration,
        proposed: Option<&LeaseId>,
    ) -> Result<LeaseId, BlobError> {
        let op = "acquire_lease";
        let options = BlobClientAcquireLeaseOptions {
            proposed_lease_id: proposed.map(|l| l.0.clone()),
            ..Default::default()
        };
        let blob = self.blob(name)?;
        let rsp = self
            .call(
                op,
                name,
                blob.acquire_lease(duration.header(), Some(options)),
            )
            .await?;
        rsp.lease_id()
            .map_err(|e| BlobError::from_core(op, name, e))?
            .map(LeaseId)
            .ok_or_else(|| missing(op, name, "x-ms-lease-id"))
    }

    /// Renews the lease (restarts its duration). After a break, or with a wrong id:
    /// [`BlobError::Conflict`].
    pub async fn renew_lease(&self, name: &str, lease: &LeaseId) -> Result<(), BlobError> {
        let blob = self.blob(name)?;
        let options = Some(BlobClientRenewLeaseOptions::default());
        let renew = blob.renew_lease(lease.0.clone(), options);
        self.call("renew_lease", name, renew).await?;
        Ok(())
    }

    /// Gives the lease up at once; another acquirer may take it immediately.
    pub async fn release_lease(&self, name: &str, lease: &LeaseId) -> Result<(), BlobError> {
        let blob = self.blob(name)?;
        let options = Some(BlobClientReleaseLeaseOptions::default());
        let release = blob.release_lease(lease.0.clone(), options);
        self.call("release_lease", name, release).await?;
        Ok(())
    }

    /// Breaks the lease whoever holds it (no id needed): after `period` (0..=60 s; `None` = the
    /// rest of a finite lease, at once for an infinite one) nobody holds it. From the break on,
    /// the old holder's writes fail with 412 and its renew with 409. Returns the time left
    /// until the lease is broken.
    pub async fn break_lease(
        &self,
        name: &str,
        period: Option<Duration>,
    ) -> Result<Duration, BlobError> {
        let op = "break_lease";
        let break_period = match period {
            Some(p) if p.as_secs() > 60 => {
                return Err(BlobError::Invalid {
                    field: "break period",
                    reason: format!("{} s: Azure accepts 0 to 60 seconds", p.as_secs()),
                })
            }
            Some(p) => Some(p.as_secs() as i32),
            None => None,
        };
        let options = BlobClientBreakLeaseOptions {
            break_period,
            ..Default::default()
        };
        let blob = self.blob(name)?;
        let rsp = self.call(op, name, blob.break_lease(Some(options))).await?;
        let left = rsp
            .lease_time()
            .map_err(|e| BlobError::from_core(op, name, e))?
            .unwrap_or(0);
        Ok(Duration::from_secs(left.max(0) as u64))
    }

    /// Changes the held lease's id to `proposed` (e.g. a new owner generation) without ever
    /// letting go of the lease.
    pub async fn change_lease(
        &self,
        name: &str,
        lease: &LeaseId,
        proposed: &LeaseId,
    ) -> Result<LeaseId, BlobError> {
        let op = "change_lease";
        let blob = self.blob(name)?;
        let options = Some(BlobClientChangeLeaseOptions::default());
        let change = blob.change_lease(lease.0.clone(), proposed.0.clone(), options);
        let rsp = self.call(op, name, change).await?;
        rsp.lease_id()
            .map_err(|e| BlobError::from_core(op, name, e))?
            .map(LeaseId)
            .ok_or_else(|| missing(op, name, "x-ms-lease-id"))
    }
}
