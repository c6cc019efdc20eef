//! The sled backend's write-ahead log: one `pwrite` and one `fdatasync` per group commit.
//!
//! sled 0.34.7 makes a flush durable only with two device round trips (its own
//! `sync_file_range`, then our `fdatasync`). So the committer appends each group to this log,
//! syncs it once, and only then applies the group to sled *without* flushing. sled is
//! flushed and synced at a **checkpoint**, when the active log file passes
//! [`CHECKPOINT_BYTES`] and at a clean close.
//!
//! Two files, `wal-a` and `wal-b`, take turns. Each starts with a header naming its
//! checkpoint (every group up to it is durable in sled), followed by the groups after it with
//! consecutive sequences. At a checkpoint the committer flushes and syncs sled, then writes
//! the new header over the start of the *other* file, whose groups are all covered by now, and
//! appends there. Stale records further on in a reused file have older sequences, so a scan
//! stops at them. Files grow by zero-filled [`GROW_BYTES`] steps, so most syncs overwrite
//! allocated blocks and need no metadata update.
//!
//! Recovery at open ([`read`]): the file with the newest valid header gives the checkpoint;
//! its groups are re-applied to sled in order, all of them — whatever sled wrote of them on its
//! own is overwritten with the same values, so it does not matter which of them sled kept.

pub(crate) mod record;

use crate::durable::sync_dir;
use crate::store::BatchOp;
use record::Kind;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// The two log files, in a store directory.
pub(crate) const FILES: [&str; 2] = ["wal-a", "wal-b"];
/// A checkpoint is due once the active file holds this much.
pub(crate) const CHECKPOINT_BYTES: u64 = 4 << 20;
/// Zero-filled growth step of a log file.
const GROW_BYTES: u64 = 1 << 20;

/// What the log holds, read at open.
#[derive(Debug, Default)]
pub(crate) struct Found {
    /// The newest checkpoint; `None` when no log exists yet (a new store, or one written by a
    /// release without the log, which synced sled at every commit).
    pub checkpoint: Option<u64>,
    /// The groups after the checkpoint, in order: `(seq, operations)`.
    pub groups: Vec<(u64, Vec<BatchOp>)>,
    /// Which file holds them, and where its last group ends.
    active: usize,
    end: u64,
}

impl Found {
    /// The sequence of the last group the log holds (the checkpoint when it holds none).
    pub fn last_seq(&self) -> Option<u64> {
        self.groups.last().map(|(s, _)| *s).or(self.checkpoint)
    }
}

/// The header and groups of one file; `Ok(None)` when it has no valid header.
fn scan(bytes: &[u8]) -> Result<Option<Found>, String> {
    let Some((head, mut at)) = record::decode(bytes) else {
        return Ok(None);
    };
    if head.kind != Kind::Header {
        return Ok(None);
    }
    let mut found = Found {
        checkpoint: Some(head.seq),
        ..Found::default()
    };
    let mut next = head.seq + 1;
    while let Some((rec, len)) = bytes.get(at..).and_then(record::decode) {
        if rec.kind != Kind::Group || rec.seq != next {
            break;
        }
        let ops = record::decode_ops(rec.payload)
            .ok_or_else(|| format!("group {} of the write-ahead log does not decode", rec.seq))?;
        found.groups.push((rec.seq, ops));
        at += len;
        next += 1;
    }
    found.end = at as u64;
    Ok(Some(found))
}

/// Read the log in `dir`. A log file that exists but has no valid header, while no other
/// one has, is damage (`Err` with the reason): files are created with their header in place.
pub(crate) fn read(dir: &Path) -> Result<Found, String> {
    let _ = std::fs::remove_file(dir.join(tmp_name(0)));
    let _ = std::fs::remove_file(dir.join(tmp_name(1)));
    let mut best: Option<Found> = None;
    let mut unreadable = Vec::new();
    for (i, name) in FILES.iter().enumerate() {
        let path = dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        match scan(&bytes).map_err(|e| format!("{}: {e}", path.display()))? {
            Some(mut f) => {
                f.active = i;
                if best.as_ref().is_none_or(|b| f.checkpoint > b.checkpoint) {
                    best = Some(f);
                }
            }
            None => unreadable.push(path.display().to_string()),
        }
    }
    match best {
        Some(found) => Ok(found),
        None if unreadable.is_empty() => Ok(Found::default()),
        None => Err(format!(
            "its write-ahead log is damaged: {} has no valid header",
            unreadable.join(" and ")
        )),
    }
}

fn tmp_name(i: usize) -> String {
    format!("{}.tmp", FILES[i])
}

/// The open log, appended to by the committer only.
pub(crate) struct Wal {
    dir: PathBuf,
    files: [Option<File>; 2],
    active: usize,
    /// Where the next record goes in the active file.
    pos: u64,
    /// The active file's length (zero-filled past `pos`).
    allocated: u64,
    buf: Vec<u8>,
}

impl Wal {
    /// Continue the log as found (`found.groups` must already be in sled, or about to be
    /// checkpointed: call [`Wal::checkpoint`] after re-applying them).
    pub fn open(dir: &Path, found: &Found) -> io::Result<Self> {
        let mut files = [None, None];
        for (i, name) in FILES.iter().enumerate() {
            match OpenOptions::new()
                .read(true)
                .write(true)
                .open(dir.join(name))
            {
                Ok(f) => files[i] = Some(f),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let allocated = match &files[found.active] {
            Some(f) => f.metadata()?.len(),
            None => 0,
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            files,
            active: found.active,
            pos: found.end,
            allocated,
            buf: Vec::with_capacity(64 << 10),
        })
    }

    /// Is a checkpoint due?
    pub fn full(&self) -> bool {
        self.pos >= CHECKPOINT_BYTES
    }

    /// Append group `seq` with `payload` (see [`record::encode_ops`]); durable once
    /// [`Wal::sync`] returns.
    pub fn append(&mut self, seq: u64, payload: &[u8]) -> io::Result<()> {
        self.buf.clear();
        record::encode(&mut self.buf, Kind::Group, seq, payload);
        let end = self.pos + self.buf.len() as u64;
        let file = self.files[self.active]
            .as_ref()
            .ok_or_else(|| io::Error::other("the write-ahead log has no active file"))?;
        if end > self.allocated {
            let to = end.div_ceil(GROW_BYTES) * GROW_BYTES;
            zero_fill(file, self.allocated, to)?;
            self.allocated = to;
        }
        file.write_all_at(&self.buf, self.pos)?;
        self.pos = end;
        Ok(())
    }

    /// `fdatasync` the active file.
    pub fn sync(&self) -> io::Result<()> {
        match &self.files[self.active] {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }

    /// Everything up to `seq` is durable in sled now: start the other file with a header
    /// naming `seq`, durably, and append there from now on.
    pub fn checkpoint(&mut self, seq: u64) -> io::Result<()> {
        let next = 1 - self.active;
        self.buf.clear();
        record::encode(&mut self.buf, Kind::Header, seq, &[]);
        match &self.files[next] {
            Some(f) => {
                f.write_all_at(&self.buf, 0)?;
                f.sync_data()?;
            }
            None => self.files[next] = Some(self.create(next)?),
        }
        self.allocated = self.files[next]
            .as_ref()
            .map_or(Ok(0), |f| f.metadata().map(|m| m.len()))?;
        self.active = next;
        self.pos = self.buf.len() as u64;
        Ok(())
    }

    /// Create file `i` holding only the header in `self.buf`: written and synced under a
    /// temporary name, then renamed, so a log file never exists without its header.
    fn create(&self, i: usize) -> io::Result<File> {
        let tmp = self.dir.join(tmp_name(i));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all_at(&self.buf, 0)?;
        zero_fill(&f, self.buf.len() as u64, GROW_BYTES)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(FILES[i]))?;
        sync_dir(&self.dir)?;
        Ok(f)
    }
}

/// Write zeroes over `from..to` (real blocks, not a hole: a later overwrite needs no
/// allocation, so its `fdatasync` writes data only).
fn zero_fill(f: &File, from: u64, to: u64) -> io::Result<()> {
    const CHUNK: usize = 64 << 10;
    let zeros = [0u8; CHUNK];
    let mut at = from;
    while at < to {
        let n = CHUNK.min((to - at) as usize);
        f.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}
