//! The key layout. Ids never contain `/`-free assumptions beyond these helpers; run ids are
//! validated by the engine to `[A-Za-z0-9._-]`, step ids to `[A-Za-z0-9._/-]`.
//!
//! - `meta`                         store format record
//! - `run/{run}`                    [`crate::RunRecord`]
//! - `step/{run}/{step}`            [`crate::StepRecord`]
//! - `ev/{run}/{seq:016x}`          [`crate::EventRecord`]
//! - `quarantine/{run}`             [`crate::QuarantineRecord`]: why a run is not driven
//! - `inbox/{run}/{request}`        [`crate::InboxRequest`]: a forwarded command (no run's key)
//! - `inbox-reply/{request}`        [`crate::InboxReply`]: its owner's answer (no run's key)
//! - `commit_seq`                   last group commit, u64 big-endian (no envelope; see `seq`)
//! - `wal_in_use`                   sled backend: its write-ahead log files exist (no envelope)
//!
//! The last two are a backend's bookkeeping ([`is_bookkeeping`]): not exported, not imported.

pub const META: &[u8] = b"meta";
pub const COMMIT_SEQ: &[u8] = b"commit_seq";
pub const WAL_IN_USE: &[u8] = b"wal_in_use";

/// A key of a backend's own bookkeeping, not data to export or import.
pub fn is_bookkeeping(key: &[u8]) -> bool {
    key == COMMIT_SEQ || key == WAL_IN_USE
}
pub const RUN_PREFIX: &str = "run/";
pub const STEP_PREFIX: &str = "step/";
pub const EVENT_PREFIX: &str = "ev/";
pub const QUARANTINE_PREFIX: &str = "quarantine/";
pub const INBOX_PREFIX: &str = "inbox/";
pub const INBOX_REPLY_PREFIX: &str = "inbox-reply/";

/// The run a key belongs to: `run/{id}`, `step/{id}/…`, `ev/{id}/…` and `quarantine/{id}`
/// are run `{id}`'s; other keys (`meta`, a backend's bookkeeping, the inbox of commands
/// forwarded between processes) are no run's: anyone may write them, not only the run's owner.
pub fn run_of(key: &[u8]) -> Option<&str> {
    let key = std::str::from_utf8(key).ok()?;
    if let Some(id) = key
        .strip_prefix(RUN_PREFIX)
        .or_else(|| key.strip_prefix(QUARANTINE_PREFIX))
    {
        return (!id.is_empty() && !id.contains('/')).then_some(id);
    }
    let rest = key
        .strip_prefix(STEP_PREFIX)
        .or_else(|| key.strip_prefix(EVENT_PREFIX))?;
    rest.split_once('/')
        .map(|(id, _)| id)
        .filter(|id| !id.is_empty())
}

pub fn run(run_id: &str) -> Vec<u8> {
    format!("{RUN_PREFIX}{run_id}").into_bytes()
}
pub fn steps_of(run_id: &str) -> Vec<u8> {
    format!("{STEP_PREFIX}{run_id}/").into_bytes()
}
pub fn step(run_id: &str, step_id: &str) -> Vec<u8> {
    format!("{STEP_PREFIX}{run_id}/{step_id}").into_bytes()
}
pub fn events_of(run_id: &str) -> Vec<u8> {
    format!("{EVENT_PREFIX}{run_id}/").into_bytes()
}
pub fn event(run_id: &str, seq: u64) -> Vec<u8> {
    format!("{EVENT_PREFIX}{run_id}/{seq:016x}").into_bytes()
}
pub fn quarantine(run_id: &str) -> Vec<u8> {
    format!("{QUARANTINE_PREFIX}{run_id}").into_bytes()
}

/// A forwarded command for `run_id` ([`crate::InboxRequest`]).
pub fn inbox_request(run_id: &str, request_id: &str) -> Vec<u8> {
    format!("{INBOX_PREFIX}{run_id}/{request_id}").into_bytes()
}
/// The owner's answer to request `request_id` ([`crate::InboxReply`]).
pub fn inbox_reply(request_id: &str) -> Vec<u8> {
    format!("{INBOX_REPLY_PREFIX}{request_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    #[test]
    fn run_of_names_the_owning_run() {
        let cases: [(&[u8], Option<&str>); 13] = [
            (b"run/r1", Some("r1")),
            (b"step/r1/vnet-a/create-vm", Some("r1")),
            (b"ev/r1/0000000000000001", Some("r1")),
            (b"quarantine/r1", Some("r1")),
            (b"meta", None),
            (b"commit_seq", None),
            (b"run/", None),
            (b"run/r1/x", None),
            (b"step/r1", None),
            (b"ev//1", None),
            (b"inbox/r1/1733400000000-42-7", None),
            (b"inbox-reply/1733400000000-42-7", None),
            (b"inbox/r1", None),
        ];
        for (key, run) in cases {
            assert_eq!(super::run_of(key), run, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn inbox_keys_are_no_runs() {
        let request = super::inbox_request("r1", "17-1-0");
        let reply = super::inbox_reply("17-1-0");
        assert_eq!(request, b"inbox/r1/17-1-0");
        assert_eq!(reply, b"inbox-reply/17-1-0");
        assert_eq!(super::run_of(&request), None);
        assert_eq!(super::run_of(&reply), None);
    }
}
