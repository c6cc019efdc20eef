//! Free space of the store's file system. The write-ahead log overwrites blocks it allocated
//! ahead, so a full disk no longer fails the next commit: it would fail only at the next log
//! growth or checkpoint, possibly days later and halfway through a checkpoint. So before a
//! group is written the committer looks at the free space (at most every [`EVERY`]) and fails
//! the commit as `ENOSPC` once less than [`MIN_FREE`] is left: room for a checkpoint, which
//! writes up to a log file's worth of sled data. The process stops at a clean point, naming
//! the cause (crash-only), and `failback resume` goes on once space is freed.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Free space below which commits fail as `ENOSPC`.
pub(crate) const MIN_FREE: u64 = crate::wal::CHECKPOINT_BYTES + (4 << 20);
/// How often the free space is looked at.
const EVERY: Duration = Duration::from_millis(100);

pub(crate) struct SpaceCheck {
    dir: File,
    last: Option<Instant>,
}

impl SpaceCheck {
    pub fn open(dir: &Path) -> io::Result<Self> {
        Ok(Self {
            dir: File::open(dir)?,
            last: None,
        })
    }

    /// `Err(ENOSPC)` when the file system has less than [`MIN_FREE`] left.
    pub fn check(&mut self) -> io::Result<()> {
        if self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        if free_bytes(&self.dir)? < MIN_FREE {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        Ok(())
    }
}

/// Bytes this process may still write on `dir`'s file system (root may use the reserve).
fn free_bytes(dir: &File) -> io::Result<u64> {
    // SAFETY: `st` is plain data that fstatvfs fills; the fd is open for the call's duration.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatvfs(dir.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: geteuid has no preconditions.
    let blocks = if unsafe { libc::geteuid() } == 0 {
        st.f_bfree
    } else {
        st.f_bavail
    };
    Ok((blocks as u64).saturating_mul(st.f_frsize as u64))
}
