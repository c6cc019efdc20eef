//! Commit throughput of the sled store against the disk's raw `write + fdatasync` rate.
//! `cargo bench -p failback-state --bench commit` (plain binary, prints figures, ~10 s).

use failback_state::{Batch, SledStore, SledStoreOptions, Store};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const SERIAL: usize = 3000;
const THREADS: usize = 64;
const PER_THREAD: usize = 200;
/// About the size of an encoded step record plus its event.
const VALUE: usize = 200;

fn batch(key: String) -> Batch {
    let mut b = Batch::new();
    b.put(key, vec![0x5a; VALUE]);
    b
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// Serial commits; returns commits/s.
fn serial(dir: &Path, sync: bool) -> f64 {
    let opts = SledStoreOptions {
        sync,
        ..Default::default()
    };
    let store = SledStore::open(dir, opts).expect("open");
    for i in 0..100 {
        store
            .submit(batch(format!("warm/{i}")))
            .wait()
            .expect("commit");
    }
    let mut lat = Vec::with_capacity(SERIAL);
    let start = Instant::now();
    for i in 0..SERIAL {
        let t = Instant::now();
        store
            .submit(batch(format!("serial/{i:08}")))
            .wait()
            .expect("commit");
        lat.push(t.elapsed());
    }
    let rate = SERIAL as f64 / start.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "(a) serial commits, sync={sync:<5}: {rate:>8.0} commits/s   p50 {:>6.0} us   p99 {:>6.0} us",
        pct(&lat, 0.50),
        pct(&lat, 0.99)
    );
    rate
}

/// `write + fdatasync` of a small record to a plain file; returns writes/s.
fn raw(dir: &Path, append: bool) -> f64 {
    let path = dir.join(if append {
        "raw-append"
    } else {
        "raw-overwrite"
    });
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .expect("open raw file");
    let record = [0x5au8; VALUE];
    if !append {
        f.write_all(&record).expect("write");
        f.sync_all().expect("sync");
    }
    let start = Instant::now();
    for _ in 0..SERIAL {
        if !append {
            use std::os::unix::fs::FileExt;
            f.write_all_at(&record, 0).expect("write");
        } else {
            f.write_all(&record).expect("write");
        }
        f.sync_data().expect("fdatasync");
    }
    let rate = SERIAL as f64 / start.elapsed().as_secs_f64();
    let what = if append { "append   " } else { "overwrite" };
    println!("(b) raw write+fdatasync, {what}:  {rate:>8.0} writes/s");
    rate
}

fn concurrent(dir: &Path) {
    let store = Arc::new(SledStore::open(dir, SledStoreOptions::default()).expect("open"));
    let before = store.stats();
    let barrier = Arc::new(Barrier::new(THREADS + 1));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for i in 0..PER_THREAD {
                    store
                        .submit(batch(format!("c/{t:02}/{i:06}")))
                        .wait()
                        .expect("commit");
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for h in handles {
        h.join().expect("committer thread");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let s = store.stats();
    let (commits, groups) = (s.commits - before.commits, s.groups - before.groups);
    let mean_latency =
        (s.total_commit_latency_us - before.total_commit_latency_us) as f64 / commits as f64;
    println!(
        "(c) {THREADS} concurrent committers:    {:>8.0} commits/s   {groups} groups, mean group {:.1}, max {}, mean latency {mean_latency:.0} us",
        commits as f64 / elapsed,
        commits as f64 / groups as f64,
        s.max_group
    );
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let tmp = tempfile::tempdir().expect("tempdir");
    println!("store directory: {}", tmp.path().display());
    let durable = serial(&tmp.path().join("serial"), true);
    serial(&tmp.path().join("serial-nosync"), false);
    let raw_append = raw(tmp.path(), true);
    let raw_overwrite = raw(tmp.path(), false);
    println!(
        "    ratio sled durable serial / raw: {:.2} of append, {:.2} of overwrite",
        durable / raw_append,
        durable / raw_overwrite
    );
    concurrent(&tmp.path().join("concurrent"));
}
