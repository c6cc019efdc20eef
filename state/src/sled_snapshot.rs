//! sled 0.34.7 writes a snapshot of its page table to `snap.{lsn}.generating`, syncs it, and
//! renames it to `snap.{lsn}`. Its reader takes the last, by name, of *all* the `snap.` files,
//! the unfinished ones included. A process killed in the middle of that write (sled snapshots
//! at every open that recovered something, so a kill during an open is enough) leaves a torn
//! `.generating` file that the next open reads as the newest snapshot; its checksum fails and
//! sled reports the whole store as corrupt (spacejam/sled #1527, #1533).
//!
//! A `.generating` file is never needed: the snapshot before it is only removed after the
//! rename, and a snapshot only saves replaying sled's own log. So before sled opens the
//! directory, while no process has it open, we remove them.

use crate::error::StoreError;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

const SUFFIX: &str = ".generating";

/// Remove unfinished snapshots from `dir`, if no process has the store open (sled's
/// exclusive `flock` on `{dir}/db`, taken here for the moment of the removal). When another
/// process holds it, nothing is touched: sled's own open then reports the store as locked.
/// Returns how many it removed.
pub(crate) fn clear_unfinished(dir: &Path) -> Result<usize, StoreError> {
    // No `db` yet is a new store; any other failure (permissions, ...) is left to sled's own
    // open, which reports it with its context.
    let Ok(db) = File::options().read(true).write(true).open(dir.join("db")) else {
        return Ok(0);
    };
    // SAFETY: flock on a descriptor we own; released when `db` is closed below.
    if unsafe { libc::flock(db.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(0);
    }
    let unfinished = unfinished_in(dir).map_err(|e| failed(dir, &e))?;
    for path in &unfinished {
        std::fs::remove_file(path).map_err(|e| failed(path, &e))?;
    }
    if !unfinished.is_empty() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| failed(dir, &e))?;
    }
    drop(db);
    Ok(unfinished.len())
}

fn unfinished_in(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(SUFFIX) {
            found.push(entry.path());
        }
    }
    Ok(found)
}

fn failed(path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Open {
        location: path.display().to_string(),
        message: format!("cannot remove an unfinished sled snapshot: {e}"),
    }
}
