//! Quarantined runs (`quarantine/{run}`): runs with a damaged record, which the engine
//! never drives. The records are kept so an operator sees why, and can lift it after a fix.

use crate::codec;
use crate::records::QuarantineRecord;
use crate::state_store::{StateStore, Txn};
use crate::store::Batch;
use crate::{keys, StoreError};

impl Txn {
    pub fn put_quarantine(&mut self, rec: &QuarantineRecord) -> &mut Self {
        self.put(keys::quarantine(&rec.run_id), rec);
        self
    }
}

/// A quarantine record that itself does not decode still quarantines its run.
fn decode_lenient(key: &[u8], value: &[u8]) -> QuarantineRecord {
    codec::decode(value).unwrap_or_else(|e| {
        let key = String::from_utf8_lossy(key).into_owned();
        QuarantineRecord {
            run_id: key
                .strip_prefix(keys::QUARANTINE_PREFIX)
                .unwrap_or(&key)
                .to_owned(),
            error: format!("the quarantine record itself does not decode: {e}"),
            key,
            at: 0,
        }
    })
}

impl StateStore {
    /// Quarantine a run (durable when it returns).
    pub async fn quarantine(&self, rec: &QuarantineRecord) -> Result<(), StoreError> {
        let mut txn = self.txn();
        txn.put_quarantine(rec);
        self.commit(txn).await
    }

    /// Why `run_id` is quarantined, if it is.
    pub fn load_quarantine(&self, run_id: &str) -> Result<Option<QuarantineRecord>, StoreError> {
        let key = keys::quarantine(run_id);
        Ok(self.raw().get(&key)?.map(|v| decode_lenient(&key, &v)))
    }

    /// Every quarantined run, in id order.
    pub fn list_quarantined(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        Ok(self
            .raw()
            .scan_prefix(keys::QUARANTINE_PREFIX.as_bytes())?
            .iter()
            .map(|(k, v)| decode_lenient(k, v))
            .collect())
    }

    /// Let the engine drive `run_id` again (after its records were repaired or restored).
    /// Returns whether it was quarantined.
    pub async fn lift_quarantine(&self, run_id: &str) -> Result<bool, StoreError> {
        let key = keys::quarantine(run_id);
        if self.raw().get(&key)?.is_none() {
            return Ok(false);
        }
        let mut batch = Batch::new();
        batch.delete(key);
        self.raw().submit(batch).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(run: &str) -> QuarantineRecord {
        QuarantineRecord {
            run_id: run.into(),
            key: format!("step/{run}/validate"),
            error: "step record (schema 1) does not decode: EOF".into(),
            at: 42,
        }
    }

    #[tokio::test]
    async fn quarantine_list_load_lift() {
        let st = StateStore::in_memory();
        assert!(st.list_quarantined().unwrap().is_empty());
        st.quarantine(&rec("b")).await.unwrap();
        st.quarantine(&rec("a")).await.unwrap();
        let mut batch = Batch::new();
        batch.put(keys::quarantine("c"), vec![0xff, 1]);
        st.raw().submit(batch).await.unwrap();

        let all = st.list_quarantined().unwrap();
        let ids: Vec<&str> = all.iter().map(|q| q.run_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(all[0], rec("a"));
        assert_eq!(all[2].key, "quarantine/c");
        assert!(all[2].error.contains("does not decode"), "{}", all[2].error);
        assert_eq!(st.load_quarantine("b").unwrap(), Some(rec("b")));
        assert_eq!(st.load_quarantine("zz").unwrap(), None);
        assert!(rec("a")
            .to_string()
            .contains("record step/a/validate is damaged"));

        assert!(st.lift_quarantine("a").await.unwrap());
        assert!(!st.lift_quarantine("a").await.unwrap());
        assert_eq!(st.list_quarantined().unwrap().len(), 2);
    }
}
