//! Schema evolution and malformed values: never a panic, always a typed error.

mod common;

use failback_state::codec::{self, v1::RunRecordV1, CODEC_MSGPACK};
use failback_state::*;
use std::sync::Arc;

fn v1_run() -> RunRecordV1 {
    RunRecordV1 {
        id: "old-run".into(),
        workflow: "failback".into(),
        definition_version: 1,
        input: serde_json::json!({"networks": ["vnet-a"]}),
        state: RunState::Waiting,
        created_at: 10,
        updated_at: 20,
        next_event_seq: 3,
        error: None,
    }
}

fn envelope(schema: u16, body: &[u8]) -> Vec<u8> {
    let mut v = vec![CODEC_MSGPACK];
    v.extend_from_slice(&schema.to_be_bytes());
    v.extend_from_slice(body);
    v
}

#[test]
fn v1_run_reads_as_current_with_defaults() {
    let bytes = envelope(1, &rmp_serde::to_vec_named(&v1_run()).unwrap());
    let run: RunRecord = codec::decode(&bytes).unwrap();
    assert_eq!(run.id, "old-run");
    assert_eq!(run.state, RunState::Waiting);
    assert_eq!(run.next_event_seq, 3);
    assert_eq!(run.input, serde_json::json!({"networks": ["vnet-a"]}));
    assert!(run.labels.is_empty());
    assert!(run.signals.is_empty());
    // And re-encoding writes the current schema.
    assert_eq!(&codec::encode(&run).unwrap()[..3], &[1, 0, 2]);
}

#[test]
fn newer_schema_is_a_typed_error() {
    let body = rmp_serde::to_vec_named(&v1_run()).unwrap();
    match codec::decode::<RunRecord>(&envelope(99, &body)) {
        Err(CodecError::NewerSchema {
            kind,
            found,
            supported,
        }) => {
            assert_eq!((kind, found, supported), ("run", 99, 2));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(matches!(
        codec::decode::<StepRecord>(&envelope(99, &body)),
        Err(CodecError::NewerSchema { found: 99, .. })
    ));
}

#[test]
fn unknown_codec_byte() {
    let mut bytes = codec::encode(&common::run("r")).unwrap();
    bytes[0] = 0x02;
    assert!(matches!(
        codec::decode::<RunRecord>(&bytes),
        Err(CodecError::UnknownCodec(0x02))
    ));
}

#[test]
fn truncated_and_garbage_values_never_panic() {
    assert!(matches!(
        codec::decode::<RunRecord>(&[]),
        Err(CodecError::Empty)
    ));
    assert!(matches!(
        codec::decode::<RunRecord>(&[CODEC_MSGPACK, 0]),
        Err(CodecError::Truncated { len: 2 })
    ));
    let event = EventRecord {
        run_id: "r".into(),
        seq: 1,
        at: 2,
        step_id: Some("s".into()),
        kind: EventKind::StepFailed {
            attempt: 1,
            code: "Conflict".into(),
            message: "m".into(),
        },
        by: None,
        request: None,
    };
    let full = codec::encode(&event).unwrap();
    for cut in 0..full.len() {
        assert!(
            codec::decode::<EventRecord>(&full[..cut]).is_err(),
            "cut at {cut} decoded"
        );
    }
    let garbage = envelope(1, &[0xc1, 0xff, 0x00, 0x13]);
    assert!(matches!(
        codec::decode::<EventRecord>(&garbage),
        Err(CodecError::Decode {
            kind: "event",
            schema: 1,
            ..
        })
    ));
    // A value of the wrong kind is an error too, not a silent misread.
    assert!(codec::decode::<StepRecord>(&full).is_err());
}

#[test]
fn state_store_reports_the_key_of_a_bad_record() {
    let mem = Arc::new(MemStore::new());
    let st = StateStore::new(mem.clone());
    let mut b = Batch::new();
    b.put(
        keys::run("good"),
        codec::encode(&common::run("good")).unwrap(),
    );
    b.put(keys::run("future"), envelope(99, &[0x80]));
    mem.submit(b).wait().unwrap();

    let err = st.load_run("future").unwrap_err();
    assert!(err.to_string().contains("run/future"), "{err}");
    assert!(matches!(
        err,
        StoreError::Codec {
            source: CodecError::NewerSchema { .. },
            ..
        }
    ));
    assert!(st.list_runs(&RunFilter::all()).is_err());
    let lenient = st.list_runs_lenient(&RunFilter::all()).unwrap();
    assert_eq!(lenient.len(), 2);
    assert_eq!(lenient.iter().filter(|r| r.is_ok()).count(), 1);
}
