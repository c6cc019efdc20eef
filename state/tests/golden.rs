//! Golden fixtures: bytes written by earlier builds, committed under `fixtures/golden/`, must
//! keep decoding to the same values. Regenerate (only when adding a schema, never to make a
//! failure go away): `cargo test -p failback-state --test golden -- --ignored regenerate_golden`
//! (it writes only the files that do not exist yet: a fixture, once written, is frozen).

use failback_state::codec::{self, v1::RunRecordV1, v1::StepRecordV1, Versioned};
use failback_state::*;
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/golden")
}

fn run_v1() -> RunRecordV1 {
    RunRecordV1 {
        id: "run-v1".into(),
        workflow: "failback".into(),
        definition_version: 1,
        input: json!({"networks": [{"name": "vnet-a", "subnet": "ps"}], "region": "westeurope"}),
        state: RunState::Waiting,
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_360_000,
        next_event_seq: 7,
        error: Some("quota short in westeurope".into()),
    }
}

/// What `run_v1.bin` must decode to with today's code.
fn run_v1_upgraded() -> RunRecord {
    RunRecord {
        id: "run-v1".into(),
        workflow: "failback".into(),
        definition_version: 1,
        input: json!({"networks": [{"name": "vnet-a", "subnet": "ps"}], "region": "westeurope"}),
        state: RunState::Waiting,
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_360_000,
        next_event_seq: 7,
        error: Some("quota short in westeurope".into()),
        labels: Default::default(),
        signals: vec![],
        wake_at: None,
    }
}

fn run_v2() -> RunRecord {
    RunRecord {
        id: "run-v2".into(),
        workflow: "failback".into(),
        definition_version: 2,
        input: json!({"networks": [{"name": "vnet-b"}]}),
        state: RunState::Failed,
        created_at: 1_700_000_000_001,
        updated_at: 1_700_000_000_002,
        next_event_seq: 12,
        error: None,
        labels: [("spec".to_string(), "prod.toml".to_string())].into(),
        signals: vec!["failback-complete".into()],
        wake_at: Some(1_700_000_900_000),
    }
}

fn step_waiting() -> StepRecord {
    StepRecord {
        run_id: "run-v2".into(),
        step_id: "vnet-b/await-boot".into(),
        status: StepStatus::Waiting {
            wake_at: 1_700_000_060_000,
            deadline: Some(1_700_003_600_000),
            poll_state: json!({"poll_url": "https://management.azure.com/op/1"}),
            reason: WaitReason::Retry {
                reason: "429 Too Many Requests".into(),
            },
        },
        attempt: 3,
        retries: 1,
        started_at: Some(1_700_000_000_100),
        updated_at: 1_700_000_000_200,
        polls: 0,
        last_poll_at: None,
    }
}

/// `step_waiting` as schema 1 stored it.
fn step_v1_frozen() -> StepRecordV1 {
    let s = step_waiting();
    StepRecordV1 {
        run_id: s.run_id,
        step_id: s.step_id,
        status: s.status,
        attempt: s.attempt,
        retries: s.retries,
        started_at: s.started_at,
        updated_at: s.updated_at,
    }
}

/// Schema 2: a wait polled 17 times in its second attempt.
fn step_polling() -> StepRecord {
    StepRecord {
        run_id: "run-v2".into(),
        step_id: "vnet-b/await-failback".into(),
        status: StepStatus::Waiting {
            wake_at: 1_700_005_400_000,
            deadline: Some(1_701_814_400_000),
            poll_state: json!({"since": 1_700_000_000_000u64}),
            reason: WaitReason::Timer,
        },
        attempt: 2,
        retries: 1,
        started_at: Some(1_700_000_000_100),
        updated_at: 1_700_005_100_000,
        polls: 17,
        last_poll_at: Some(1_700_005_100_000),
    }
}

fn other_steps() -> Vec<StepRecord> {
    let base = StepRecord::pending("run-v2", "", 1_700_000_000_300);
    let with = |step_id: &str, status| StepRecord {
        step_id: step_id.into(),
        status,
        attempt: 2,
        ..base.clone()
    };
    vec![
        with(
            "validate",
            StepStatus::Succeeded {
                output: json!({"quota_ok": true}),
            },
        ),
        with(
            "vnet-b/create-nic",
            StepStatus::Failed {
                error: StepErrorRecord {
                    code: "QuotaExceeded".into(),
                    message: "cores".into(),
                    permanent: true,
                },
            },
        ),
        with(
            "vnet-b/create-vm",
            StepStatus::Running {
                attempt: 2,
                poll_state: Some(json!({"n": 1})),
                deadline: Some(1_700_009_000_000),
            },
        ),
        with("vnet-b/register", StepStatus::Compensating { attempt: 1 }),
        with("vnet-b/teardown", StepStatus::Skipped),
    ]
}

fn event() -> EventRecord {
    EventRecord {
        run_id: "run-v2".into(),
        seq: 11,
        at: 1_700_000_000_400,
        step_id: Some("vnet-b/await-boot".into()),
        kind: EventKind::StepRetryScheduled {
            attempt: 3,
            wake_at: 1_700_000_060_000,
            reason: "429 Too Many Requests".into(),
        },
        by: None,
        request: None,
    }
}

fn event_amended_change() -> &'static str {
    "failback.protected_items: [\"vm-ap2\"] -> [\"vm-app2\"]"
}

/// Schema 2: the `run_amended` event.
fn event_amended() -> EventRecord {
    EventRecord {
        run_id: "run-v2".into(),
        seq: 12,
        at: 1_700_000_000_600,
        step_id: None,
        kind: EventKind::RunAmended {
            changes: vec!["failback.protected_items: [\"vm-ap2\"] -> [\"vm-app2\"]".into()],
        },
        by: None,
        request: None,
    }
}

fn meta() -> MetaRecord {
    MetaRecord {
        format_version: 1,
        created_by: "failback-state golden".into(),
    }
}

fn quarantine() -> QuarantineRecord {
    QuarantineRecord {
        run_id: "run-v2".into(),
        key: "step/run-v2/vnet-b/create-vm".into(),
        error: "step record (schema 1) does not decode: invalid type".into(),
        at: 1_700_000_000_500,
    }
}

fn envelope<T: Serialize>(schema: u16, value: &T) -> Vec<u8> {
    let mut v = vec![codec::CODEC_MSGPACK];
    v.extend_from_slice(&schema.to_be_bytes());
    v.extend(rmp_serde::to_vec_named(value).unwrap());
    v
}

fn golden_store() -> StateStore {
    let st = StateStore::in_memory();
    let mut b = Batch::new();
    b.put(keys::META, codec::encode(&meta()).unwrap());
    b.put(keys::run("run-v1"), envelope(1, &run_v1()));
    st.raw().submit(b).wait().unwrap();
    let mut txn = st.txn();
    txn.put_run(&run_v2()).put_step(&step_waiting());
    for s in other_steps() {
        txn.put_step(&s);
    }
    st.commit_blocking(txn).unwrap();
    let mut b = Batch::new();
    b.put(keys::event("run-v2", 11), codec::encode(&event()).unwrap());
    st.raw().submit(b).wait().unwrap();
    st
}

#[test]
#[ignore = "writes fixtures/golden; run by hand when adding a schema"]
fn regenerate_golden() {
    let d = dir();
    std::fs::create_dir_all(&d).unwrap();
    let write = |name: &str, bytes: Vec<u8>| {
        if !d.join(name).exists() {
            std::fs::write(d.join(name), bytes).unwrap()
        }
    };
    write("run_v1.bin", envelope(1, &run_v1()));
    write("run_v2.bin", codec::encode(&run_v2()).unwrap());
    write("step_v1.bin", envelope(1, &step_v1_frozen()));
    write("step_v2.bin", codec::encode(&step_polling()).unwrap());
    write("event_v1.bin", envelope(1, &event()));
    write("event_v2.bin", codec::encode(&event_amended()).unwrap());
    write("meta_v1.bin", codec::encode(&meta()).unwrap());
    write("quarantine_v1.bin", codec::encode(&quarantine()).unwrap());
    if !d.join("store_v1.dump").exists() {
        golden_store().export_to(&d.join("store_v1.dump")).unwrap();
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(dir().join(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// The stored body as a JSON tree: field names and values, order-insensitive.
fn body_tree(bytes: &[u8]) -> serde_json::Value {
    rmp_serde::from_slice(&bytes[3..]).unwrap()
}

/// `name` holds schema `schema` and decodes to `expected`; and today's encoding of `expected`
/// (when it is the current schema) has exactly the same field names and values, so renaming,
/// adding or removing a stored field without a new schema fails here.
fn check<T: Versioned + PartialEq + std::fmt::Debug>(name: &str, schema: u16, expected: &T) {
    let bytes = read(name);
    assert_eq!(bytes[0], codec::CODEC_MSGPACK, "{name}: codec byte");
    assert_eq!(u16::from_be_bytes([bytes[1], bytes[2]]), schema, "{name}");
    let decoded: T = codec::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(&decoded, expected, "{name}");
    if schema == T::SCHEMA {
        let now = codec::encode(expected).unwrap();
        assert_eq!(
            body_tree(&bytes),
            body_tree(&now),
            "{name}: stored shape changed"
        );
    }
}

#[test]
fn golden_records_decode() {
    check("run_v1.bin", 1, &run_v1_upgraded());
    assert_eq!(
        body_tree(&read("run_v1.bin")),
        serde_json::to_value(run_v1()).unwrap(),
        "the frozen v1 struct changed"
    );
    check("run_v2.bin", 2, &run_v2());
    check("step_v1.bin", 1, &step_waiting());
    assert_eq!(
        body_tree(&read("step_v1.bin")),
        serde_json::to_value(step_v1_frozen()).unwrap(),
        "the frozen v1 step struct changed"
    );
    check("step_v2.bin", 2, &step_polling());
    check("event_v1.bin", 1, &event());
    check("event_v2.bin", 2, &event_amended());
    check("meta_v1.bin", 1, &meta());
    check("quarantine_v1.bin", 1, &quarantine());

    // Lists and restarts read only a summary: the same fields, from every schema.
    for (name, full) in [("run_v1.bin", run_v1_upgraded()), ("run_v2.bin", run_v2())] {
        let summary = codec::decode_run_summary(&read(name)).unwrap();
        assert_eq!(summary, RunSummary::from(&full), "{name}");
    }

    // Spot checks in plain terms, independent of the helpers above.
    let run: RunRecord = codec::decode(&read("run_v2.bin")).unwrap();
    assert_eq!(run.labels["spec"], "prod.toml");
    assert_eq!(run.signals, ["failback-complete"]);
    let tree = body_tree(&read("step_v1.bin"));
    assert_eq!(tree["status"]["status"], "waiting");
    assert_eq!(tree["status"]["reason"]["kind"], "retry");
    assert_eq!(tree["retries"], 1);
    let tree = body_tree(&read("step_v2.bin"));
    assert_eq!(tree["polls"], 17);
    assert_eq!(tree["attempt"], 2);
    assert_eq!(tree["status"]["reason"]["kind"], "timer");
    let tree = body_tree(&read("event_v1.bin"));
    assert_eq!(tree["kind"]["event"], "step_retry_scheduled");
    let tree = body_tree(&read("event_v2.bin"));
    assert_eq!(tree["kind"]["event"], "run_amended");
    assert_eq!(tree["kind"]["changes"][0], event_amended_change());
    let tree = body_tree(&read("quarantine_v1.bin"));
    assert_eq!(tree["key"], "step/run-v2/vnet-b/create-vm");
}

#[test]
fn golden_store_dump_imports_and_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let st = StateStore::open(tmp.path()).unwrap();
    assert_eq!(st.import_from(&dir().join("store_v1.dump")).unwrap(), 9);

    let runs = st.list_runs(&RunFilter::all()).unwrap();
    assert_eq!(runs, vec![run_v1_upgraded(), run_v2()]);
    let mut steps = vec![step_waiting()];
    steps.extend(other_steps());
    steps.sort_by(|a, b| a.step_id.cmp(&b.step_id));
    assert_eq!(st.load_steps("run-v2").unwrap(), steps);
    assert_eq!(st.history("run-v2").unwrap(), vec![event()]);
    // The dump's meta was checked, the store kept its own.
    let meta: MetaRecord = codec::decode(&st.raw().get(keys::META).unwrap().unwrap()).unwrap();
    assert_eq!(meta.format_version, codec::STORE_FORMAT_VERSION);
}
