//! Group-commit counters, as every backend reports them (metrics read these).

/// Upper bounds, microseconds, of the commit latency histogram's buckets.
pub const COMMIT_LATENCY_BUCKETS_US: [u64; 12] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

/// A snapshot of a backend's group-commit counters ([`crate::Store::commit_stats`]), in
/// terms any backend can fill: batches, groups, checkpoints, bytes, latency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Batches acknowledged as durable.
    pub commits: u64,
    /// Batches acknowledged with an error.
    pub failed_commits: u64,
    /// Groups written: one log append + fdatasync + sled apply each.
    pub groups: u64,
    /// Checkpoints: sled flushed and synced, the log switched to its other file.
    pub checkpoints: u64,
    /// Operations (puts + deletes) in acknowledged batches.
    pub ops: u64,
    /// Key + value bytes in acknowledged batches.
    pub bytes: u64,
    /// Batches in the largest group so far.
    pub max_group: u64,
    /// Submit-to-acknowledge time of the last batch, microseconds.
    pub last_commit_latency_us: u64,
    /// Sum of submit-to-acknowledge times, microseconds (divide by `commits` for the mean).
    pub total_commit_latency_us: u64,
    /// Sum of append + sync + apply times of all groups (checkpoints included), microseconds.
    pub total_write_us: u64,
    /// Acknowledged batches whose latency was at most each of
    /// [`COMMIT_LATENCY_BUCKETS_US`] (cumulative, as a Prometheus histogram's buckets).
    pub commit_latency_buckets: [u64; COMMIT_LATENCY_BUCKETS_US.len()],
}

impl CommitStats {
    /// Mean batches per group.
    pub fn mean_group_size(&self) -> f64 {
        if self.groups == 0 {
            0.0
        } else {
            (self.commits + self.failed_commits) as f64 / self.groups as f64
        }
    }
}
