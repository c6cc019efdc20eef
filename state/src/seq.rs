//! Detecting lost commits. sled 0.34.7 recovers its log up to the first message that fails its
//! checksum and zeroes everything after it, without an error: a flipped byte or a cut file
//! silently brings back an older state. So every group commit also writes a commit sequence
//! (`commit_seq`, 8 bytes big-endian) into the store, and the committer mirrors the last
//! durable one into a sidecar file `{dir}/commit-seq` outside sled's log:
//!
//! - after each durable group: overwritten in place (one small `pwrite`, no sync: it reaches
//!   the disk with the page cache, and it survives `kill -9`);
//! - at most once a second, and at a clean close: `fdatasync`ed.
//!
//! The sidecar is only ever written after the group it names is durable, so a store whose
//! sequence is behind its sidecar has lost acknowledged commits: open refuses it.

use crate::StoreError;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) const SIDECAR: &str = "commit-seq";
const MAGIC: &str = "failback-commit-seq";
/// How stale the synced sidecar may get (power loss may lose the unsynced rest; that only
/// weakens the check, it never makes it fire wrongly).
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// One fixed-length line, so an in-place overwrite always covers the previous content.
fn encode(seq: u64) -> String {
    format!("{MAGIC} {seq:020} {:016x}\n", !seq)
}

fn decode(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let mut words = text.strip_suffix('\n')?.split(' ');
    if words.next()? != MAGIC {
        return None;
    }
    let seq: u64 = words.next()?.parse().ok()?;
    let check = u64::from_str_radix(words.next()?, 16).ok()?;
    (check == !seq && words.next().is_none()).then_some(seq)
}

/// The store's own sequence (0 when no group has been committed since it was added).
pub(crate) fn stored_seq(value: Option<&[u8]>) -> Result<u64, String> {
    match value {
        None => Ok(0),
        Some(v) => v
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| format!("its commit_seq record is {} bytes, not 8", v.len())),
    }
}

pub(crate) struct SeqMirror {
    path: PathBuf,
    file: File,
    last_sync: Instant,
    /// A failed write is logged once and stops the mirroring: a stale sidecar is safe.
    failed: bool,
}

impl SeqMirror {
    /// Check the store's sequence `store_seq` against the sidecar in `dir` and take the
    /// sidecar over (creating it, durably, when missing).
    pub fn open(dir: &Path, store_seq: u64) -> Result<Self, StoreError> {
        let path = dir.join(SIDECAR);
        let damaged = |message: String| StoreError::Corrupt {
            location: dir.display().to_string(),
            message,
        };
        let io_err = |e: io::Error| StoreError::Open {
            location: dir.display().to_string(),
            message: format!("{}: {e}", path.display()),
        };
        let mirrored = match std::fs::read(&path) {
            // Empty: a crash between creating and first writing it.
            Ok(bytes) if bytes.is_empty() => None,
            Ok(bytes) => Some(decode(&bytes).ok_or_else(|| {
                damaged(format!(
                    "{} is unreadable, so lost commits cannot be ruled out \
                     (if the store is known to be intact, delete that file to skip this check once)",
                    path.display()
                ))
            })?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(e)),
        };
        if let Some(mirrored) = mirrored.filter(|m| *m > store_seq) {
            return Err(damaged(format!(
                "it lost acknowledged commits: its sled and write-ahead logs end at commit {store_seq} but {} \
                 records commit {mirrored} as durable (sled recovers a damaged log only up to \
                 the damage)",
                path.display()
            )));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        let mut this = Self {
            path: path.clone(),
            file,
            last_sync: Instant::now(),
            failed: false,
        };
        this.write(store_seq, true).map_err(io_err)?;
        Ok(this)
    }

    fn write(&mut self, seq: u64, sync: bool) -> io::Result<()> {
        self.file.write_all_at(encode(seq).as_bytes(), 0)?;
        if sync {
            self.file.sync_data()?;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Group `seq` is durable in the store.
    pub fn advance(&mut self, seq: u64) {
        let sync = self.last_sync.elapsed() >= SYNC_EVERY;
        self.write_or_stop(seq, sync);
    }

    /// Clean close: the last durable group, synced.
    pub fn finish(&mut self, seq: u64) {
        self.write_or_stop(seq, true);
    }

    fn write_or_stop(&mut self, seq: u64, sync: bool) {
        if self.failed {
            return;
        }
        if let Err(e) = self.write(seq, sync) {
            self.failed = true;
            tracing::warn!(path = %self.path.display(), error = %e,
                "cannot update the commit sequence sidecar; lost commits may go undetected");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidecar_line() {
        for seq in [0, 1, 41, u64::MAX] {
            let line = encode(seq);
            assert_eq!(line.len(), encode(0).len());
            assert_eq!(decode(line.as_bytes()), Some(seq));
        }
        let mut torn = encode(12).into_bytes();
        torn[25] = b'9';
        assert_eq!(decode(&torn), None);
        assert_eq!(decode(b"garbage\n"), None);
        assert_eq!(stored_seq(None), Ok(0));
        assert_eq!(stored_seq(Some(&7u64.to_be_bytes())), Ok(7));
        assert!(stored_seq(Some(b"abc")).is_err());
    }
}
