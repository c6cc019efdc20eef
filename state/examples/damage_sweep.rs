//! What reopening a damaged sled store gives, swept over many offsets (evidence for the
//! "Damaged stores" table in state/README.md):
//!
//! `cargo run --release -p failback-state --example damage_sweep -- flip 3000 30011`
//!
//! writes `2 × N` one-record commits over N keys (each key twice, so an older value exists),
//! closes the store, then for every `STEP`-th byte offset of `db` damages a fresh copy (`flip`
//! inverts the byte, `truncate` cuts the file there) and reopens it. Each outcome is counted:
//! refused (by reason), intact (every record byte-identical), or silently wrong.

use failback_state::{Batch, SledStore, SledStoreOptions, Store, StoreError};
use std::collections::BTreeMap;
use std::path::Path;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn copy_dir(from: &Path, to: &Path) -> Res<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

fn damage(db: &Path, mode: &str, at: u64) -> Res<()> {
    match mode {
        "flip" => {
            let mut bytes = std::fs::read(db)?;
            if let Some(b) = bytes.get_mut(at as usize) {
                *b ^= 0xff;
            }
            std::fs::write(db, bytes)?;
        }
        "truncate" => std::fs::OpenOptions::new()
            .write(true)
            .open(db)?
            .set_len(at)?,
        other => return Err(format!("unknown mode {other:?} (flip | truncate)").into()),
    }
    Ok(())
}

/// The outcome of one reopen, as a counting key.
fn outcome(dir: &Path, expected: &BTreeMap<Vec<u8>, Vec<u8>>) -> Res<String> {
    let store = match SledStore::open(dir, SledStoreOptions::default()) {
        Ok(s) => s,
        Err(StoreError::Corrupt { message, .. }) => {
            let reason: String = message.chars().take(40).collect();
            return Ok(format!("refused: {reason}…"));
        }
        Err(e) => return Ok(format!("OTHER ERROR: {e}")),
    };
    let got: BTreeMap<_, _> = store.export()?.into_iter().collect();
    if &got == expected {
        return Ok("intact".into());
    }
    let missing = expected.keys().filter(|k| !got.contains_key(*k)).count();
    let older = expected
        .iter()
        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
        .count();
    Ok(format!(
        "SILENTLY WRONG ({} records missing, {} different)",
        bucket(missing),
        bucket(older)
    ))
}

fn bucket(n: usize) -> &'static str {
    match n {
        0 => "0",
        1..=9 => "1-9",
        _ => "10+",
    }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("flip", String::as_str);
    let n: usize = args.get(2).map_or(Ok(30), |a| a.parse())?;
    let step: u64 = args.get(3).map_or(Ok(97), |a| a.parse())?;
    let base = tempfile::tempdir()?;
    let orig = base.path().join("orig");
    let store = SledStore::open(&orig, SledStoreOptions::default())?;
    for j in 0..2 * n {
        let mut b = Batch::new();
        b.put(format!("run/r{:05}", j % n), vec![(j % 251) as u8; 300]);
        store.submit(b).wait()?;
    }
    let expected: BTreeMap<_, _> = store.export()?.into_iter().collect();
    drop(store);
    let len = std::fs::metadata(orig.join("db"))?.len();
    println!(
        "{mode}: {} commits, db {len} bytes, every {step} bytes",
        2 * n
    );

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut at = 0;
    while at <= len {
        let dir = base.path().join(format!("at-{at}"));
        copy_dir(&orig, &dir)?;
        damage(&dir.join("db"), mode, at)?;
        *counts.entry(outcome(&dir, &expected)?).or_default() += 1;
        std::fs::remove_dir_all(&dir)?;
        at += step;
    }
    for (what, count) in counts {
        println!("{count:>6}  {what}");
    }
    Ok(())
}
