//! Tests with a real second process: this test binary re-executes itself to run one of the
//! `#[ignore]`d `child_*` tests (they do nothing without the env var `common::CHILD_DIR`).

mod common;

use common::{child, child_dir};
use failback_state::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};

const THREADS: u64 = 4;

/// Child: commit events on `THREADS` runs until killed, printing `ACK {thread} {seq}` once
/// each commit is acknowledged durable.
#[test]
#[ignore = "child role of crash_kill9_loses_no_acknowledged_commit"]
fn child_commit_loop() {
    let Some(dir) = child_dir() else { return };
    let tag = std::env::var("FAILBACK_STATE_TEST_TAG").unwrap();
    let st = StateStore::open(&dir).unwrap();
    let out = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (st, out, tag) = (&st, &out, &tag);
            s.spawn(move || {
                let mut run = common::run(&format!("{tag}-t{t}"));
                for seq in 0..100_000u64 {
                    let mut txn = st.txn();
                    txn.event(
                        &mut run,
                        seq,
                        Some("s"),
                        EventKind::StepStarted { attempt: 1 },
                    )
                    .put_step(&StepRecord::pending(&run.id, &format!("s{seq:06}"), seq))
                    .put_run(&run);
                    st.commit_blocking(txn).unwrap();
                    let mut out = out.lock().unwrap();
                    writeln!(out, "ACK {t} {seq}").unwrap();
                    out.flush().unwrap();
                }
            });
        }
    });
}

#[test]
fn crash_kill9_loses_no_acknowledged_commit() {
    let tmp = tempfile::tempdir().unwrap();
    for round in 0..5 {
        let tag = format!("r{round}");
        let kill_after = 1 + common::random_u64() % 400;
        let mut proc = child("child_commit_loop", tmp.path())
            .env("FAILBACK_STATE_TEST_TAG", &tag)
            .spawn()
            .unwrap();
        let pid = proc.id() as libc::pid_t;
        let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
        let mut n = 0;
        let mut killed = false;
        let stdout = BufReader::new(proc.stdout.take().unwrap());
        // Keep reading after the kill: lines already written are acknowledgements too.
        for line in stdout.lines() {
            let line = line.unwrap();
            // libtest may print `test child_commit_loop ... ` in front of the first line.
            let Some(rest) = line.split_once("ACK ").map(|(_, r)| r) else {
                continue;
            };
            let (t, seq) = rest.split_once(' ').unwrap();
            let (t, seq): (u64, u64) = (t.parse().unwrap(), seq.parse().unwrap());
            let e = acked.entry(t).or_default();
            *e = (*e).max(seq + 1);
            n += 1;
            if n == kill_after && !killed {
                // SAFETY: plain syscall on our own child's pid.
                assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
                killed = true;
            }
        }
        let status = proc.wait().unwrap();
        assert!(killed, "child ended before the kill: {status:?}");

        let st = StateStore::open(tmp.path()).unwrap();
        for (t, count) in &acked {
            let id = format!("{tag}-t{t}");
            let run = st.load_run(&id).unwrap().expect("acknowledged run missing");
            assert!(run.next_event_seq >= *count, "{id}: {run:?} < {count}");
            let history = st.history(&id).unwrap();
            assert!(history.len() as u64 >= *count, "{id}: lost events");
            for (i, ev) in history.iter().enumerate() {
                assert_eq!(ev.seq, i as u64);
            }
            assert!(st.load_steps(&id).unwrap().len() as u64 >= *count);
        }
        // Everything in the store decodes, including unacknowledged tails.
        assert!(st.list_runs(&RunFilter::all()).is_ok());
        eprintln!("round {round}: killed after {n} acks, per thread {acked:?}");
    }
}

/// Child: hold the store open until stdin closes.
#[test]
#[ignore = "child role of locked_by_another_process"]
fn child_hold_store() {
    let Some(dir) = child_dir() else { return };
    let _st = StateStore::open(&dir).unwrap();
    println!("READY");
    let mut sink = Vec::new();
    std::io::stdin().read_to_end(&mut sink).unwrap();
}

#[test]
fn locked_by_another_process() {
    let tmp = tempfile::tempdir().unwrap();
    let mut holder = child("child_hold_store", tmp.path()).spawn().unwrap();
    let mut lines = BufReader::new(holder.stdout.take().unwrap()).lines();
    assert!(lines.any(|l| l.unwrap().ends_with("READY")));

    let err = StateStore::open(tmp.path()).err().expect("must be locked");
    let msg = err.to_string();
    eprintln!("{msg}");
    match &err {
        StoreError::Locked {
            location,
            holder: who,
        } => {
            assert_eq!(*location, tmp.path().display().to_string());
            let who = who.as_deref().expect("holder read from the owner file");
            assert!(who.contains(&format!("pid {}", holder.id())), "{who}");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
    assert!(msg.contains("in use by another process"), "{msg}");

    drop(holder.stdin.take()); // the holder exits and its lock goes with it
    assert!(holder.wait().unwrap().success());
    StateStore::open(tmp.path()).unwrap();
}
