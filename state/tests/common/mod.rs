//! Helpers shared by the integration tests.
#![allow(dead_code)]

use failback_state::*;
use std::process::{Command, Stdio};

/// Env var naming the store directory a child role works on; child roles are `#[ignore]`d
/// tests that return at once without it.
pub const CHILD_DIR: &str = "FAILBACK_STATE_TEST_CHILD_DIR";

/// This test binary re-executed to run one ignored test as a child role.
pub fn child(test_name: &str, dir: &std::path::Path) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("current_exe"));
    c.args([
        test_name,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_DIR, dir)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    c
}

pub fn child_dir() -> Option<std::path::PathBuf> {
    std::env::var_os(CHILD_DIR).map(Into::into)
}

/// A run built through the frozen v1 shape, so fields added later take their defaults.
pub fn run(id: &str) -> RunRecord {
    failback_state::codec::v1::RunRecordV1 {
        id: id.into(),
        workflow: "failback".into(),
        definition_version: 1,
        input: serde_json::json!({"spec": id}),
        state: RunState::Running,
        created_at: 1_000,
        updated_at: 1_000,
        next_event_seq: 0,
        error: None,
    }
    .into()
}

/// A small pseudo-random number (no rand dependency): different per call and per process.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}
