//! The container client: blobs written whole (block blobs), read whole, deleted, listed; each
//! write conditional on an ETag and/or a lease id when asked.

use crate::auth::{Auth, ProviderCredential, SasPolicy};
use crate::endpoint::{check_blob_name, Endpoint};
use crate::error::BlobError;
use crate::sas::AccountKey;
use azure_core::credentials::TokenCredential;
use azure_core::http::policies::Policy;
use azure_core::http::{ClientOptions, Etag, RequestContent, RetryOptions, Transport};
use azure_storage_blob::models::{
    BlobClientDeleteOptions, BlobClientDownloadOptions, BlobClientUploadOptions,
    BlobContainerClientCreateOptions, BlobContainerClientListBlobsOptions, LeaseState,
};
use azure_storage_blob::{BlobClient, BlobContainerClient, BlobContainerClientOptions};
use futures_util::StreamExt;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A blob's ETag in its header form, quotes included (`"0x8D..."`). Listings give ETags
/// without quotes; [`ETag::new`] adds them, so ETags from any answer compare equal.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

impl ETag {
    pub fn new(text: &str) -> ETag {
        if text.starts_with('"') || text.starts_with("W/") {
            ETag(text.to_owned())
        } else {
            ETag(format!("\"{text}\""))
        }
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ETag({})", self.0)
    }
}

/// A lease id (a UUID; the service's or one we proposed).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct LeaseId(pub String);

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which version of the blob a request applies to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Match {
    /// Whatever is there (or nothing).
    #[default]
    Any,
    /// Only if no blob exists (`If-None-Match: *`): create-only.
    NoBlob,
    /// Only if the blob's current ETag is this one (`If-Match`).
    ETag(ETag),
}

/// The conditions of a write or delete: an ETag match and/or the lease the writer holds.
/// On a leased blob every write must carry the lease id (else 412 LeaseIdMissing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Condition {
    pub matching: Match,
    pub lease: Option<LeaseId>,
}

impl Condition {
    /// No condition.
    pub fn none() -> Condition {
        Condition::default()
    }

    /// Only if the blob does not exist.
    pub fn create_only() -> Condition {
        Condition {
            matching: Match::NoBlob,
            lease: None,
        }
    }

    /// Only if the blob's ETag is `etag`.
    pub fn if_match(etag: &ETag) -> Condition {
        Condition {
            matching: Match::ETag(etag.clone()),
            lease: None,
        }
    }

    /// The same condition, also carrying `lease`.
    pub fn with_lease(mut self, lease: &LeaseId) -> Condition {
        self.lease = Some(lease.clone());
        self
    }

    fn if_match_header(&self) -> Option<Etag> {
        match &self.matching {
            Match::ETag(e) => Some(Etag::from(e.0.clone())),
            _ => None,
        }
    }

    fn if_none_match_header(&self) -> Option<Etag> {
        (self.matching == Match::NoBlob).then(|| Etag::from("*"))
    }
}

/// A blob read whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blob {
    pub data: Vec<u8>,
    pub etag: ETag,
}

/// One listed blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobEntry {
    pub name: String,
    pub etag: Option<ETag>,
    /// Whether a lease holds the blob as of the listing (leased, or breaking: a lease being
    /// broken still holds until its break period ends). An expired lease does not.
    pub leased: bool,
}

/// A listing and how many requests (pages) it took.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub entries: Vec<BlobEntry>,
    pub pages: usize,
}

/// How long one operation may take, unless [`ContainerClient::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A client for one container. Cheap to clone (the HTTP pipeline is shared). Requests are not
/// retried here: the caller decides (a storage backend must not blindly retry a fenced write).
/// Every operation is bounded by a timeout: a connection that silently stops answering (a
/// network partition) gives a [`BlobError::Transport`] instead of a wait without end.
#[derive(Clone)]
pub struct ContainerClient {
    inner: Arc<BlobContainerClient>,
    endpoint: Endpoint,
    sent: Arc<AtomicU64>,
    timeout: Duration,
}

/// Counts the HTTP requests the pipeline sends (one per try; we never retry).
#[derive(Debug)]
struct CountPolicy(Arc<AtomicU64>);

#[async_trait::async_trait]
impl Policy for CountPolicy {
    async fn send(
        &self,
        ctx: &azure_core::http::Context,
        request: &mut azure_core::http::Request,
        next: &[Arc<dyn Policy>],
    ) -> azure_core::http::policies::PolicyResult {
        self.0.fetch_add(1, Ordering::Relaxed);
        match next.split_first() {
            Some((policy, rest)) => policy.send(ctx, request, rest).await,
            None => Err(azure_core::Error::with_message(
                azure_core::error::ErrorKind::Other,
                "request counter is the last policy in the pipeline",
            )),
        }
    }
}

impl fmt::Debug for ContainerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContainerClient({})", self.endpoint)
    }
}

impl ContainerClient {
    /// A client for `endpoint`. With `auth` `None`, a SAS in the endpoint URL is used.
    pub fn new(endpoint: Endpoint, auth: Option<Auth>) -> Result<ContainerClient, BlobError> {
        ContainerClient::build(endpoint, auth, None)
    }

    /// As [`ContainerClient::new`], over the caller's HTTP client (e.g. one that trusts a
    /// private CA, or shared with the ARM client). Automatic decompression must be off in it.
    pub fn with_http(
        endpoint: Endpoint,
        auth: Option<Auth>,
        http: reqwest::Client,
    ) -> Result<ContainerClient, BlobError> {
        ContainerClient::build(endpoint, auth, Some(Transport::new(Arc::new(http))))
    }

    fn build(
        endpoint: Endpoint,
        auth: Option<Auth>,
        transport: Option<Transport>,
    ) -> Result<ContainerClient, BlobError> {
        let auth = match (auth, endpoint.sas()) {
            (Some(a), _) => a,
            (None, Some(sas)) => Auth::Sas(sas.to_owned()),
            (None, None) => {
                return Err(BlobError::Invalid {
                    field: "storage credentials",
                    reason: format!("{endpoint}: no SAS in the URL and no credential given"),
                })
            }
        };
        let sent = Arc::new(AtomicU64::new(0));
        let mut client_options = ClientOptions {
            retry: RetryOptions::none(),
            per_try_policies: vec![Arc::new(CountPolicy(sent.clone()))],
            transport,
            ..Default::default()
        };
        let mut credential: Option<Arc<dyn TokenCredential>> = None;
        match auth {
            Auth::AccountKey(key) => client_options
                .per_call_policies
                .push(Arc::new(SasPolicy::signed(endpoint.account(), key)) as Arc<dyn Policy>),
            Auth::Sas(sas) => client_options
                .per_call_policies
                .push(Arc::new(SasPolicy::fixed(&sas)) as Arc<dyn Policy>),
            Auth::Bearer(p) => credential = Some(Arc::new(ProviderCredential(p))),
        }
        let options = BlobContainerClientOptions {
            client_options,
            ..Default::default()
        };
        let inner =
            BlobContainerClient::new(endpoint.container_url().clone(), credential, Some(options))
                .map_err(|e| BlobError::Invalid {
                field: "storage URL",
                reason: crate::error::redact(&e.to_string()),
            })?;
        Ok(ContainerClient {
            inner: Arc::new(inner),
            endpoint,
            sent,
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// A client for Azurite's development account (SAS signed with its public key).
    pub fn azurite(container_url: &str) -> Result<ContainerClient, BlobError> {
        let endpoint = Endpoint::parse(container_url)?;
        let key = AccountKey::from_base64(crate::sas::DEV_ACCOUNT_KEY)?;
        ContainerClient::new(endpoint, Some(Auth::AccountKey(key)))
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// HTTP requests this client (and its clones) sent so far, answered or not.
    pub fn requests_sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The same client with another per-operation timeout (each step of an operation — the
    /// answer's head, its body, each page or block — is bounded by it).
    pub fn with_timeout(mut self, timeout: Duration) -> ContainerClient {
        self.timeout = timeout;
        self
    }

    /// Runs one SDK call for operation `op` on `blob`, bounded by the timeout, mapping errors.
    pub(crate) async fn call<T>(
        &self,
        op: &'static str,
        blob: &str,
        fut: impl Future<Output = azure_core::Result<T>>,
    ) -> Result<T, BlobError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(BlobError::from_core(op, blob, e)),
            Err(_) => Err(self.timed_out(op, blob)),
        }
    }

    fn timed_out(&self, op: &'static str, blob: &str) -> BlobError {
        BlobError::Transport {
            op,
            blob: blob.to_owned(),
            message: format!("no answer within {:?}", self.timeout),
        }
    }

    pub(crate) fn blob(&self, name: &str) -> Result<BlobClient, BlobError> {
        check_blob_name(name)?;
        Ok(self.inner.blob_client(name))
    }

    /// Creates the container; `Ok(false)` if it already existed. One request.
    pub async fn create_container(&self) -> Result<bool, BlobError> {
        let options = BlobContainerClientCreateOptions::default();
        match self
            .call("create_container", "", self.inner.create(Some(options)))
            .await
        {
            Ok(_) => Ok(true),
            Err(BlobError::Conflict { code, .. }) if code == "ContainerAlreadyExists" => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Writes `data` as the whole blob if `cond` holds; returns the new ETag. One request
    /// (up to 4 MiB; larger blobs are staged in 4 MiB blocks then committed under `cond`).
    pub async fn put_blob(
        &self,
        name: &str,
        data: Vec<u8>,
        cond: &Condition,
    ) -> Result<ETag, BlobError> {
        let blob = self.blob(name)?;
        let options = BlobClientUploadOptions {
            if_match: cond.if_match_header(),
            if_none_match: cond.if_none_match_header(),
            lease_id: cond.lease.as_ref().map(|l| l.0.clone()),
            ..Default::default()
        };
        let upload = blob.upload(RequestContent::from(data), Some(options));
        let result = self.call("put_blob", name, upload).await?;
        result
            .etag
            .map(|e| ETag::new(e.as_ref()))
            .ok_or_else(|| missing("put_blob", name, "ETag"))
    }

    /// Reads the whole blob and its ETag; `None` if it does not exist. One request (blobs over
    /// 4 MiB: one per 4 MiB, each pinned to the first answer's ETag).
    pub async fn get_blob(&self, name: &str) -> Result<Option<Blob>, BlobError> {
        let blob = self.blob(name)?;
        let download = blob.download(Some(BlobClientDownloadOptions::default()));
        let result = match self.call("get_blob", name, download).await {
            Ok(r) => r,
            Err(BlobError::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other),
        };
        let etag = result
            .properties
            .etag
            .clone()
            .map(|e| ETag::new(e.as_ref()))
            .ok_or_else(|| missing("get_blob", name, "ETag"))?;
        let data = self.call("get_blob", name, result.body.collect()).await?;
        Ok(Some(Blob {
            data: data.to_vec(),
            etag,
        }))
    }

    /// Deletes the blob if `cond` holds. A missing blob is [`BlobError::NotFound`]. One request.
    pub async fn delete_blob(&self, name: &str, cond: &Condition) -> Result<(), BlobError> {
        let blob = self.blob(name)?;
        let options = BlobClientDeleteOptions {
            if_match: cond.if_match_header(),
            if_none_match: cond.if_none_match_header(),
            lease_id: cond.lease.as_ref().map(|l| l.0.clone()),
            ..Default::default()
        };
        self.call("delete_blob", name, blob.delete(Some(options)))
            .await?;
        Ok(())
    }

    /// Every blob whose name starts with `prefix`, in name order, following continuation
    /// markers. One request per page of up to 5,000 names (`page_size` lowers that).
    pub async fn list_blobs(
        &self,
        prefix: &str,
        page_size: Option<u32>,
    ) -> Result<Listing, BlobError> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            maxresults: page_size.map(|n| n.clamp(1, 5000) as i32),
            ..Default::default()
        };
        let err = |e| BlobError::from_core("list_blobs", prefix, e);
        let mut pages = self
            .inner
            .list_blobs(Some(options))
            .map_err(err)?
            .into_pages();
        let mut listing = Listing {
            entries: Vec::new(),
            pages: 0,
        };
        loop {
            let next = tokio::time::timeout(self.timeout, pages.next()).await;
            let page = match next {
                Ok(Some(page)) => page.map_err(err)?.into_model().map_err(err)?,
                Ok(None) => break,
                Err(_) => return Err(self.timed_out("list_blobs", prefix)),
            };
            listing.pages += 1;
            for item in page.blob_items {
                let Some(name) = item.name else { continue };
                let props = item.properties;
                let etag = props
                    .as_ref()
                    .and_then(|p| p.etag.as_ref())
                    .map(|e| ETag::new(e.as_ref()));
                let leased = props
                    .and_then(|p| p.lease_state)
                    .is_some_and(|s| matches!(s, LeaseState::Leased | LeaseState::Breaking));
                listing.entries.push(BlobEntry { name, etag, leased });
            }
        }
        Ok(listing)
    }
}

pub(crate) fn missing(op: &'static str, blob: &str, what: &str) -> BlobError {
    BlobError::Http {
        op,
        blob: blob.to_owned(),
        status: 200,
        code: String::new(),
        message: format!("answer without {what}"),
    }
}
