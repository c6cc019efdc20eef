//! What makes a sled 0.34.7 flush durable. Read from sled's source (config.rs, iobuf.rs,
//! blob_io.rs, snapshot.rs):
//! - `db`: the single log/segment file; `flush()` pwrites it and calls `sync_file_range`
//!   only, so the page cache is written but neither the disk cache nor the file size is
//!   made durable. We `fdatasync` our own fd on it after each flush.
//! - `blobs/{lsn}`: values too large for a segment (> ~128 KiB page) go to their own file,
//!   written with no sync at all; new ones are `fdatasync`ed here, then the directory.
//! - `conf`: written once at creation without sync; synced at open.
//! - `snap.*`: written and `sync_all`ed by sled, renamed without a directory sync; a changed
//!   directory listing triggers a directory fsync here.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

pub(crate) struct DurableFiles {
    dir: PathBuf,
    db: File,
    dir_names: BTreeSet<OsString>,
    blob_names: BTreeSet<OsString>,
}

fn names(dir: &Path) -> io::Result<BTreeSet<OsString>> {
    std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect()
}

/// `fsync` a directory, making the names in it (creations, renames) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl DurableFiles {
    /// Open our own fd on sled's files and make everything sled wrote so far durable.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let db = File::open(dir.join("db"))?;
        let conf = dir.join("conf");
        if conf.exists() {
            File::open(conf)?.sync_all()?;
        }
        let mut this = Self {
            dir: dir.to_path_buf(),
            db,
            dir_names: BTreeSet::new(),
            blob_names: BTreeSet::new(),
        };
        this.sync()?;
        // The store directory itself may be new.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            sync_dir(parent)?;
        }
        Ok(this)
    }

    /// Called after every `flush()`: one fdatasync in the common case.
    pub fn sync(&mut self) -> io::Result<()> {
        self.db.sync_data()?;

        let blobs_dir = self.dir.join("blobs");
        let blobs = if blobs_dir.exists() {
            names(&blobs_dir)?
        } else {
            BTreeSet::new()
        };
        if blobs != self.blob_names {
            for new in blobs.difference(&self.blob_names) {
                match File::open(blobs_dir.join(new)) {
                    Ok(f) => f.sync_data()?,
                    // Collected by sled between the listing and the open.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            sync_dir(&blobs_dir)?;
            self.blob_names = blobs;
        }

        let top = names(&self.dir)?;
        if top != self.dir_names {
            sync_dir(&self.dir)?;
            self.dir_names = top;
        }
        Ok(())
    }
}
