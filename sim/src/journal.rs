//! Request journal: one entry per ARM/token request (control-plane calls are not journaled).

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalEntry {
    pub seq: u64,
    pub real_time: String,
    pub sim_time: String,
    pub method: String,
    /// Path and query as sent.
    pub path: String,
    /// 0 when the connection was dropped by a fault.
    pub status: u16,
    pub client_request_id: Option<String>,
    pub request_id: String,
    pub correlation_id: String,
    /// Coarse operation name, e.g. `PUT networkInterfaces`.
    pub operation: String,
    pub error_code: Option<String>,
    pub principal: Option<String>,
    /// The client's `User-Agent` (failback's names its process).
    #[serde(default)]
    pub user_agent: Option<String>,
    /// Description of the injected fault, if one fired.
    pub fault: Option<String>,
}

pub struct Journal {
    inner: Mutex<(u64, VecDeque<JournalEntry>)>,
    cap: usize,
}

impl Journal {
    pub fn new(cap: usize) -> Journal {
        Journal {
            inner: Mutex::new((0, VecDeque::new())),
            cap,
        }
    }

    pub fn push(&self, mut e: JournalEntry) -> u64 {
        let mut g = self.inner.lock();
        g.0 += 1;
        e.seq = g.0;
        if g.1.len() >= self.cap {
            g.1.pop_front();
        }
        g.1.push_back(e);
        g.0
    }

    /// Entries with `seq > since`.
    pub fn since(&self, since: u64) -> Vec<JournalEntry> {
        self.inner
            .lock()
            .1
            .iter()
            .filter(|e| e.seq > since)
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        self.inner.lock().1.clear();
    }
}
