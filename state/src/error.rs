//! Typed errors of the state layer.

/// Decoding or encoding one stored value failed.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("value is empty: no codec byte")]
    Empty,
    #[error("value is truncated: {len} bytes, the envelope header needs 3")]
    Truncated { len: usize },
    #[error("unknown codec byte {0:#04x} (this build knows 0x01 = MessagePack)")]
    UnknownCodec(u8),
    #[error("{kind} record has schema version {found}, this build reads up to {supported}")]
    NewerSchema {
        kind: &'static str,
        found: u16,
        supported: u16,
    },
    #[error("{kind} record (schema {schema}) does not decode: {source}")]
    Decode {
        kind: &'static str,
        schema: u16,
        #[source]
        source: rmp_serde::decode::Error,
    },
    #[error("{kind} record does not encode: {source}")]
    Encode {
        kind: &'static str,
        #[source]
        source: rmp_serde::encode::Error,
    },
}

impl CodecError {
    /// Written by a newer build, not damaged: an upgrade reads it again.
    pub fn is_newer_schema(&self) -> bool {
        matches!(self, CodecError::NewerSchema { .. })
    }
}

/// Anything the store can report.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store {location} is in use by another process{}", holder.as_ref().map(|h| format!(" ({h})")).unwrap_or_default())]
    Locked {
        location: String,
        holder: Option<String>,
    },
    #[error(
        "state store {location} has format version {found}, newer than this build supports ({supported}); \
         use a newer failback release"
    )]
    NewerFormat {
        location: String,
        found: u32,
        supported: u32,
    },
    #[error("state store {location}: {message}")]
    Open { location: String, message: String },
    /// The store's files are damaged; what it holds cannot be trusted. Restore a backup.
    #[error(
        "state store {location} is damaged: {message}; move it aside and restore the state \
         directory from a backup"
    )]
    Corrupt { location: String, message: String },
    /// The store's files cannot be read or written by this user; they are not damaged.
    #[error(
        "state store {location}: permission denied ({what}) for user {user}; give this user \
         access to the state directory, or run failback as the user that owns it"
    )]
    PermissionDenied {
        location: String,
        what: String,
        user: String,
    },
    /// A commit did not reach the disk; every later one fails the same way (see
    /// [`crate::failure`]).
    #[error("{0}")]
    WriteFailed(crate::failure::WriteFailure),
    #[error("state store I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("state store backend error: {0}")]
    Backend(String),
    #[error("state store is closed")]
    Closed,
    #[error("record {key}: {source}")]
    Codec {
        key: String,
        #[source]
        source: CodecError,
    },
    #[error("run {0} not found")]
    RunNotFound(String),
    #[error("run {0} already exists")]
    RunExists(String),
    #[error("store URL {url:?}: {why}")]
    BadUrl { url: String, why: String },
    /// A conditional write found its key present: nothing of the batch was written.
    #[error("a key that must be absent exists: {key}")]
    ConditionFailed { key: String },
    /// A batch carried a fence that is no longer its run's current one: nothing of it was
    /// written, and this process no longer owns the run.
    #[error("state store {location}: this process no longer owns run {run} (fence {given}, current {}); nothing was written", current.map_or("none".to_owned(), |c| c.to_string()))]
    Fenced {
        location: String,
        run: String,
        given: u64,
        /// The run's current fence, when the backend knows it (`None`: released or lapsed).
        current: Option<u64>,
    },
    /// Another process owns the run (a shared backend's lease is held).
    #[error("state store {location}: run {run} is owned by another process")]
    Owned { location: String, run: String },
    /// A batch touched keys a backend cannot commit together (a networked backend commits
    /// one run's keys, or the store's own records, atomically): nothing of it was written.
    #[error("a batch spans {first} and {second}, which this store cannot commit atomically")]
    SpansPartitions { first: String, second: String },
    /// A fenced batch touched a key outside its fence's run: nothing of it was written.
    #[error("a batch fenced for run {run} touches {key}, which is not that run's")]
    OutsideFence { key: String, run: String },
    #[error("import file is malformed: {0}")]
    BadImport(String),
}

impl StoreError {
    /// A commit that failed after it was handed to the backend: the store's state on disk is
    /// unknown from then on and the process must stop driving (crash-only). `Closed` is a
    /// shutdown, and errors found before submission (codec) concern one record only.
    pub fn is_write_failure(&self) -> bool {
        matches!(
            self,
            StoreError::WriteFailed(_) | StoreError::Io(_) | StoreError::Backend(_)
        )
    }

    /// The key of a record that is damaged (does not decode for a reason other than a newer
    /// schema): the run it belongs to is quarantined rather than driven.
    pub fn damaged_key(&self) -> Option<&str> {
        match self {
            StoreError::Codec { key, source } if !source.is_newer_schema() => Some(key),
            _ => None,
        }
    }
}
