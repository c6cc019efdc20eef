//! The inbox: operator commands for a run that another process drives, left in the shared
//! store for that process (the run's owner) to apply under its fence and answer. Requests and
//! replies are no run's keys ([`keys::run_of`]), so any process may write them; on a shared
//! backend they live beside the format record, outside every run's leased records.

use crate::codec::{self, Versioned};
use crate::records::{EventRecord, InboxReply, InboxRequest};
use crate::state_store::StateStore;
use crate::{keys, StoreError};

/// A stored record and its key; `Err` when it does not decode.
pub type Keyed<T> = (Vec<u8>, Result<T, StoreError>);

fn decode<T: Versioned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    codec::decode(bytes).map_err(|source| StoreError::Codec {
        key: String::from_utf8_lossy(key).into_owned(),
        source,
    })
}

impl StateStore {
    /// Leave `req` for the owner of its run.
    pub async fn ask(&self, req: &InboxRequest) -> Result<(), StoreError> {
        let mut txn = self.txn();
        txn.put(keys::inbox_request(&req.run_id, &req.id), req);
        self.commit(txn).await
    }

    /// Every request waiting, in key order (by run, then by id).
    pub fn inbox(&self) -> Result<Vec<Keyed<InboxRequest>>, StoreError> {
        self.keyed(keys::INBOX_PREFIX)
    }

    /// Every reply not yet taken by its asker.
    pub fn inbox_replies(&self) -> Result<Vec<Keyed<InboxReply>>, StoreError> {
        self.keyed(keys::INBOX_REPLY_PREFIX)
    }

    fn keyed<T: Versioned>(&self, prefix: &str) -> Result<Vec<Keyed<T>>, StoreError> {
        let mut out = Vec::new();
        self.raw().for_each_prefix(prefix.as_bytes(), &mut |k, v| {
            out.push((k.to_vec(), decode(k, v)));
        })?;
        Ok(out)
    }

    /// The owner's answer to request `id`, once it is there.
    pub fn inbox_reply(&self, id: &str) -> Result<Option<InboxReply>, StoreError> {
        let key = keys::inbox_reply(id);
        self.raw().get(&key)?.map(|v| decode(&key, &v)).transpose()
    }

    /// Answer `req` with `reply`: the request goes and the reply comes in one commit.
    pub async fn answer(&self, req: &InboxRequest, reply: &InboxReply) -> Result<(), StoreError> {
        let mut txn = self.txn();
        txn.delete(keys::inbox_request(&req.run_id, &req.id));
        txn.put(keys::inbox_reply(&reply.id), reply);
        self.commit(txn).await
    }

    /// Delete inbox `keys` (a withdrawn request, a reply taken, expired ones) in one commit.
    pub async fn remove_from_inbox(&self, keys: Vec<Vec<u8>>) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut txn = self.txn();
        for key in keys {
            txn.delete(key);
        }
        self.commit(txn).await
    }

    /// Whether an event of `run_id` was caused by request `request_id` (it was applied).
    pub fn applied(&self, run_id: &str, request_id: &str) -> Result<bool, StoreError> {
        let needle = request_id.as_bytes();
        if needle.is_empty() {
            return Ok(false);
        }
        let mut found = Ok(false);
        self.raw()
            .for_each_prefix(&keys::events_of(run_id), &mut |k, v| {
                // Only an event whose bytes hold the id can be one: decode just those.
                if !matches!(found, Ok(false)) || !v.windows(needle.len()).any(|w| w == needle) {
                    return;
                }
                found =
                    decode::<EventRecord>(k, v).map(|ev| ev.request.as_deref() == Some(request_id));
            })?;
        found
    }
}

#[cfg(test)]
mod tests {
    use crate::records::*;
    use crate::{keys, StateStore};

    fn block<F: std::future::Future>(f: F) -> F::Output {
        crate::store::block_on(f)
    }

    fn run(id: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            workflow: "w".into(),
            definition_version: 1,
            input: serde_json::Value::Null,
            state: RunState::Running,
            created_at: 1,
            updated_at: 1,
            next_event_seq: 0,
            error: None,
            labels: Default::default(),
            signals: Vec::new(),
            wake_at: None,
        }
    }

    #[test]
    fn a_request_is_answered_in_one_commit_and_its_reply_taken() {
        let store = StateStore::in_memory();
        let req = InboxRequest {
            id: "7-1-0-0".into(),
            run_id: "r".into(),
            command: RequestedCommand::Signal { name: "go".into() },
            by: None,
            at: 7,
        };
        block(store.ask(&req)).unwrap();
        let listed = store.inbox().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, keys::inbox_request("r", &req.id));
        assert_eq!(listed[0].1.as_ref().unwrap(), &req);
        let reply = InboxReply {
            id: req.id.clone(),
            run_id: "r".into(),
            outcome: Err(Refusal::InvalidState {
                message: "run is already succeeded".into(),
            }),
            at: 8,
        };
        block(store.answer(&req, &reply)).unwrap();
        assert!(store.inbox().unwrap().is_empty());
        assert_eq!(store.inbox_reply(&req.id).unwrap(), Some(reply));
        block(store.remove_from_inbox(vec![keys::inbox_reply(&req.id)])).unwrap();
        assert_eq!(store.inbox_reply(&req.id).unwrap(), None);
        assert!(store.inbox_replies().unwrap().is_empty());
    }

    #[test]
    fn applied_finds_the_event_a_request_caused() {
        let store = StateStore::in_memory();
        let mut r = run("r");
        let mut txn = store.txn();
        txn.event(&mut r, 1, None, EventKind::RunCreated);
        txn.event_requested(&mut r, 2, None, EventKind::RunPaused, None, Some("9-1-0-0"));
        txn.put_run(&r);
        block(store.commit(txn)).unwrap();
        assert!(store.applied("r", "9-1-0-0").unwrap());
        assert!(!store.applied("r", "9-1-0-1").unwrap());
        assert!(!store.applied("other", "9-1-0-0").unwrap());
        assert!(!store.applied("r", "").unwrap());
    }
}
