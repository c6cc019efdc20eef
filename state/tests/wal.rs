//! The sled backend's write-ahead log, with a real process killed by SIGKILL: every
//! acknowledged group comes back (re-applied from the log), and a damaged log is refused as a
//! damaged store rather than opened with commits missing.

mod common;

use common::{child, child_dir};
use failback_state::*;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

fn value(i: u64) -> Vec<u8> {
    format!("value {i} {}", "x".repeat(300)).into_bytes()
}

/// Child: commit `FAILBACK_WAL_TEST_N` batches one by one, say DONE, then wait to be killed.
#[test]
#[ignore = "child role of the write-ahead log tests"]
fn child_commit_then_wait() {
    let Some(dir) = child_dir() else { return };
    let n: u64 = std::env::var("FAILBACK_WAL_TEST_N")
        .unwrap()
        .parse()
        .unwrap();
    let store = SledStore::open(&dir, SledStoreOptions::default()).unwrap();
    for i in 0..n {
        let mut b = Batch::new();
        b.put(format!("k/{i:06}"), value(i));
        if i > 0 && i % 3 == 0 {
            b.delete(format!("k/{:06}", i - 1));
        }
        store.submit(b).wait().unwrap();
    }
    println!("DONE {}", store.stats().checkpoints);
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
}

/// A store that `n` commits were made to by a process killed right after: its directory and
/// the checkpoints the child made.
fn killed_after(n: u64) -> (tempfile::TempDir, PathBuf, u64) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("store");
    let mut proc = child("child_commit_then_wait", &dir)
        .env("FAILBACK_WAL_TEST_N", n.to_string())
        .spawn()
        .unwrap();
    let lines = BufReader::new(proc.stdout.take().unwrap()).lines();
    let done = lines
        .map(Result::unwrap)
        .find_map(|l| {
            l.split_once("DONE ")
                .map(|(_, c)| c.parse::<u64>().unwrap())
        })
        .expect("the child said DONE");
    proc.kill().unwrap(); // SIGKILL
    proc.wait().unwrap();
    (tmp, dir, done)
}

fn expect_all(store: &SledStore, n: u64) {
    for i in 0..n {
        let deleted = i + 1 < n && (i + 1) % 3 == 0;
        let got = store.get(format!("k/{i:06}").as_bytes()).unwrap();
        let want = (!deleted).then(|| value(i));
        assert_eq!(got, want, "k/{i:06} after {n} commits");
    }
}

#[test]
fn every_acknowledged_group_comes_back_after_sigkill() {
    // 200 groups fit in one log file; 16,000 (about 5.5 MiB) cross a checkpoint.
    for n in [200, 16_000] {
        let (_tmp, dir, checkpoints) = killed_after(n);
        assert_eq!(
            checkpoints > 0,
            n > 200,
            "{n} commits, {checkpoints} checkpoints"
        );
        let store = SledStore::open(&dir, SledStoreOptions::default()).unwrap();
        expect_all(&store, n);
        drop(store);
        // Re-applied and checkpointed: a second open finds the same.
        let store = SledStore::open(&dir, SledStoreOptions::default()).unwrap();
        expect_all(&store, n);
        let mut b = Batch::new();
        b.put("after", b"reopen".to_vec());
        store.submit(b).wait().unwrap();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// The log file with the most data (the active one, after a run without checkpoints).
fn active_log(dir: &Path) -> PathBuf {
    ["wal-a", "wal-b"]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .max_by_key(|p| {
            let b = std::fs::read(p).unwrap();
            b.iter().rposition(|x| *x != 0).unwrap_or(0)
        })
        .unwrap()
}

fn damage(path: &Path, how: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let end = bytes.iter().rposition(|x| *x != 0).unwrap();
    match how {
        "flip-middle" => bytes[end / 2] ^= 0x10,
        "flip-header" => bytes[10] ^= 0x01,
        "cut-middle" => bytes.truncate(end / 2),
        "cut-to-header" => bytes.truncate(21),
        _ => unreachable!(),
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_log_is_refused_not_half_replayed() {
    let (tmp, dir, _) = killed_after(200);
    let log = active_log(&dir);
    let cases = [
        "flip-middle",
        "flip-header",
        "cut-middle",
        "cut-to-header",
        "deleted",
    ];
    for case in cases {
        let copy = tmp.path().join(case);
        copy_dir(&dir, &copy);
        let target = copy.join(log.file_name().unwrap());
        if case == "deleted" {
            std::fs::remove_file(&target).unwrap();
        } else {
            damage(&target, case);
        }
        let err = SledStore::open(&copy, SledStoreOptions::default())
            .err()
            .unwrap_or_else(|| panic!("{case}: opened a store whose log lost commits"));
        let msg = err.to_string();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{case}: {err:?}");
        assert!(msg.contains("is damaged"), "{case}: {msg}");
        eprintln!(
            "{case}: {}",
            msg.replace(&copy.display().to_string(), "DIR")
        );
    }
}

/// sled 0.34.7 writes a snapshot to `snap.{lsn}.generating`, syncs it and renames it; its
/// reader takes the last of *all* `snap.` files, so a process killed mid-write (a kill during
/// an open, which snapshots what it recovered) leaves a torn file that sled then reads as the
/// newest snapshot and reports as corruption. The open clears such files first.
#[test]
fn a_snapshot_torn_by_a_kill_does_not_make_the_store_unopenable() {
    let (_tmp, dir, _) = killed_after(200);
    // The open after the kill re-applies the log and leaves a finished snapshot behind.
    drop(SledStore::open(&dir, SledStoreOptions::default()).unwrap());
    let snap = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("snap.") && !name.ends_with(".generating")
        })
        .expect("sled wrote a snapshot");
    let bytes = std::fs::read(&snap).unwrap();
    let torn = snap.with_file_name(format!(
        "{}.generating",
        snap.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&torn, &bytes[..bytes.len() / 2]).unwrap();
    let store = SledStore::open(&dir, SledStoreOptions::default())
        .unwrap_or_else(|e| panic!("a torn snapshot made the store unopenable: {e}"));
    expect_all(&store, 200);
    assert!(!torn.exists(), "the torn snapshot was cleared");
}

/// Real kills: a child opening the store (sled recovers and snapshots) and committing is
/// SIGKILLed at instants spread over the whole of its life; after each kill the store opens
/// and holds every value. (The torn snapshot above needs a kill between two system calls of a
/// few microseconds apart: the reliability suite's soaks met it once in thousands of kills,
/// so it has the file-level test above.)
#[test]
fn a_kill_at_any_instant_of_an_open_leaves_an_openable_store() {
    const KILLS: u32 = 40;
    let (_tmp, dir, _) = killed_after(2_000);
    let spawn = || {
        child("child_commit_then_wait", &dir)
            .env("FAILBACK_WAL_TEST_N", "50")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // How long a child takes to open and commit, measured on one it lets finish.
    let started = std::time::Instant::now();
    let mut whole = child("child_commit_then_wait", &dir)
        .env("FAILBACK_WAL_TEST_N", "50")
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(whole.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let life = started.elapsed();
    whole.kill().unwrap();
    whole.wait().unwrap();
    for i in 0..KILLS {
        let mut proc = spawn();
        std::thread::sleep(life * i / KILLS);
        proc.kill().unwrap();
        proc.wait().unwrap();
        let store = SledStore::open(&dir, SledStoreOptions::default())
            .unwrap_or_else(|e| panic!("kill {i} of {KILLS} ({life:?} life): {e}"));
        expect_all(&store, 50);
    }
}
