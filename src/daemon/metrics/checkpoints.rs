//! The store's group-commit statistics. Means are ratios of counters: batches per group is
//! `(commits + failures) / groups`, mean commit latency
//! `commit_latency_seconds_sum / commit_latency_seconds_count`.

use super::text::{counter, gauge, header, sample};
use failback_state::{CommitStats, COMMIT_LATENCY_BUCKETS_US};

pub fn render(out: &mut String, s: &CommitStats) {
    let counters = [
        (
            "failback_checkpoint_commits_total",
            "Checkpoint batches acknowledged durable.",
            s.commits,
        ),
        (
            "failback_checkpoint_commit_failures_total",
            "Checkpoint batches that failed.",
            s.failed_commits,
        ),
        (
            "failback_checkpoint_groups_total",
            "Group commits (one fdatasync each); batches per group = rate of commits and \
             failures over rate of groups.",
            s.groups,
        ),
        (
            "failback_checkpoint_ops_total",
            "Puts and deletes in acknowledged batches.",
            s.ops,
        ),
    ];
    for (name, help, v) in counters {
        counter(out, name, help, v);
    }
    let name = "failback_checkpoint_commit_latency_seconds";
    header(
        out,
        name,
        "histogram",
        "Submit-to-durable time of acknowledged checkpoint batches.",
    );
    let bucket = format!("{name}_bucket");
    for (bound, n) in COMMIT_LATENCY_BUCKETS_US
        .iter()
        .zip(s.commit_latency_buckets)
    {
        let le = (*bound as f64 / 1e6).to_string();
        sample(out, &bucket, &format!("le=\"{le}\""), n as f64);
    }
    sample(out, &bucket, "le=\"+Inf\"", s.commits as f64);
    sample(
        out,
        &format!("{name}_sum"),
        "",
        s.total_commit_latency_us as f64 / 1e6,
    );
    sample(out, &format!("{name}_count"), "", s.commits as f64);
    gauge(
        out,
        "failback_checkpoint_last_commit_latency_seconds",
        "Submit-to-durable time of the last batch.",
        s.last_commit_latency_us as f64 / 1e6,
    );
    gauge(
        out,
        "failback_checkpoint_batch_size_max",
        "Largest group commit so far, in batches.",
        s.max_group as f64,
    );
}
