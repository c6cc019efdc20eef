//! The stored envelope: `[codec u8][schema u16 big-endian][body]`, body = MessagePack with
//! named fields (`rmp_serde::to_vec_named`), so an added field never shifts the others.
//! A record written by an older schema is decoded by its frozen struct and upgraded.

use crate::records::*;
use crate::CodecError;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Codec byte for MessagePack with named fields.
pub const CODEC_MSGPACK: u8 = 0x01;

/// Format version of the store as a whole (key layout + codec); stamped in `meta`.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// A stored record type with an explicit schema version.
pub trait Versioned: Serialize + DeserializeOwned {
    const KIND: &'static str;
    const SCHEMA: u16;
    /// Decode a body written with an older `schema` and upgrade it.
    fn decode_older(schema: u16, body: &[u8]) -> Result<Self, CodecError> {
        rmp_serde::from_slice(body).map_err(|source| CodecError::Decode {
            kind: Self::KIND,
            schema,
            source,
        })
    }
}

/// A schema-1 body decoded as its frozen shape `Old` and upgraded; any other older schema is
/// one this build does not know.
fn upgrade_v1<Old, T>(schema: u16, body: &[u8]) -> Result<T, CodecError>
where
    Old: DeserializeOwned + Into<T>,
    T: Versioned,
{
    match schema {
        1 => rmp_serde::from_slice::<Old>(body)
            .map(Into::into)
            .map_err(|source| CodecError::Decode {
                kind: T::KIND,
                schema,
                source,
            }),
        _ => Err(CodecError::NewerSchema {
            kind: T::KIND,
            found: schema,
            supported: T::SCHEMA,
        }),
    }
}

pub fn encode<T: Versioned>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(128);
    out.push(CODEC_MSGPACK);
    out.extend_from_slice(&T::SCHEMA.to_be_bytes());
    rmp_serde::encode::write_named(&mut out, value).map_err(|source| CodecError::Encode {
        kind: T::KIND,
        source,
    })?;
    Ok(out)
}

/// The envelope: codec byte, schema version, then the body.
fn open_envelope(bytes: &[u8]) -> Result<(u16, &[u8]), CodecError> {
    let (&codec, rest) = bytes.split_first().ok_or(CodecError::Empty)?;
    if codec != CODEC_MSGPACK {
        return Err(CodecError::UnknownCodec(codec));
    }
    if rest.len() < 2 {
        return Err(CodecError::Truncated { len: bytes.len() });
    }
    Ok((u16::from_be_bytes([rest[0], rest[1]]), &rest[2..]))
}

pub fn decode<T: Versioned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (schema, body) = open_envelope(bytes)?;
    if schema == T::SCHEMA {
        rmp_serde::from_slice(body).map_err(|source| CodecError::Decode {
            kind: T::KIND,
            schema,
            source,
        })
    } else if schema < T::SCHEMA {
        T::decode_older(schema, body)
    } else {
        Err(CodecError::NewerSchema {
            kind: T::KIND,
            found: schema,
            supported: T::SCHEMA,
        })
    }
}

/// Decode only a run's [`RunSummary`]. Every run schema so far (1 and 2) names these fields
/// the same way, the newer ones with defaults; a schema that renames one must add a case here.
pub fn decode_run_summary(bytes: &[u8]) -> Result<RunSummary, CodecError> {
    let (schema, body) = open_envelope(bytes)?;
    if schema > RunRecord::SCHEMA {
        return Err(CodecError::NewerSchema {
            kind: RunRecord::KIND,
            found: schema,
            supported: RunRecord::SCHEMA,
        });
    }
    rmp_serde::from_slice(body).map_err(|source| CodecError::Decode {
        kind: RunRecord::KIND,
        schema,
        source,
    })
}

impl Versioned for MetaRecord {
    const KIND: &'static str = "meta";
    const SCHEMA: u16 = 1;
}

impl Versioned for RunRecord {
    const KIND: &'static str = "run";
    const SCHEMA: u16 = 2;
    fn decode_older(schema: u16, body: &[u8]) -> Result<Self, CodecError> {
        upgrade_v1::<v1::RunRecordV1, Self>(schema, body)
    }
}

impl Versioned for StepRecord {
    const KIND: &'static str = "step";
    const SCHEMA: u16 = 2;
    fn decode_older(schema: u16, body: &[u8]) -> Result<Self, CodecError> {
        upgrade_v1::<v1::StepRecordV1, Self>(schema, body)
    }
}

/// Schema 2 added the `run_amended` event; schema-1 events decode as they are (a subset).
impl Versioned for EventRecord {
    const KIND: &'static str = "event";
    const SCHEMA: u16 = 2;
}

impl Versioned for QuarantineRecord {
    const KIND: &'static str = "quarantine";
    const SCHEMA: u16 = 1;
}

impl Versioned for InboxRequest {
    const KIND: &'static str = "inbox_request";
    const SCHEMA: u16 = 1;
}

impl Versioned for InboxReply {
    const KIND: &'static str = "inbox_reply";
    const SCHEMA: u16 = 1;
}

/// Frozen schema-1 shapes. Never edit these: stores written by older builds depend on them.
pub mod v1 {
    use super::*;
    use serde::Deserialize;
    use serde_json::Value;

    /// `RunRecord` as first released: no labels, no signals.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct RunRecordV1 {
        pub id: String,
        pub workflow: String,
        pub definition_version: u32,
        pub input: Value,
        pub state: RunState,
        pub created_at: Millis,
        pub updated_at: Millis,
        pub next_event_seq: u64,
        pub error: Option<String>,
    }

    impl From<RunRecordV1> for RunRecord {
        fn from(v: RunRecordV1) -> Self {
            RunRecord {
                id: v.id,
                workflow: v.workflow,
                definition_version: v.definition_version,
                input: v.input,
                state: v.state,
                created_at: v.created_at,
                updated_at: v.updated_at,
                next_event_seq: v.next_event_seq,
                error: v.error,
                labels: Default::default(),
                signals: Vec::new(),
                wake_at: None,
            }
        }
    }

    /// `StepRecord` as first released: polls counted as attempts, no poll count.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct StepRecordV1 {
        pub run_id: String,
        pub step_id: String,
        pub status: StepStatus,
        pub attempt: u32,
        pub retries: u32,
        pub started_at: Option<Millis>,
        pub updated_at: Millis,
    }

    /// The old `attempt` mixed attempts and polls and cannot be split: it is kept (the next
    /// execution numbers on from it) and the poll count starts at zero.
    impl From<StepRecordV1> for StepRecord {
        fn from(v: StepRecordV1) -> Self {
            StepRecord {
                run_id: v.run_id,
                step_id: v.step_id,
                status: v.status,
                attempt: v.attempt,
                retries: v.retries,
                started_at: v.started_at,
                updated_at: v.updated_at,
                polls: 0,
                last_poll_at: None,
            }
        }
    }
}
