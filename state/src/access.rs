//! Before sled opens a store: can this user read and write its files? A store the user may not
//! touch is reported as permission denied, with the path and the user, never as damage (the
//! advice for damage, restore from a backup, would throw a healthy store away).

use crate::failure::permission_denied;
use crate::StoreError;
use std::io::ErrorKind;
use std::path::Path;

/// The files a store open reads and writes (sled's, then ours).
const FILES: [&str; 4] = ["conf", "db", "commit-seq", "owner"];

/// `Err(PermissionDenied)` when the directory or one of its files is out of this user's reach.
/// Anything else (a missing directory, another error) is left to the open that follows.
pub(crate) fn check(dir: &Path) -> Result<(), StoreError> {
    let denied = |path: &Path, e: &std::io::Error| permission_denied(dir, path, e);
    match std::fs::read_dir(dir) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::PermissionDenied => return Err(denied(dir, &e)),
        Err(_) => return Ok(()),
    }
    for name in FILES {
        let path = dir.join(name);
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path);
        match opened {
            Err(e) if e.kind() == ErrorKind::PermissionDenied => return Err(denied(&path, &e)),
            _ => {}
        }
    }
    // Creating files (sled's snapshots, blobs) needs write access to the directory itself.
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(dir.as_os_str()));
    if let Ok(c) = c {
        // SAFETY: `c` is a valid C string for the duration of the call.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == ErrorKind::PermissionDenied {
                return Err(denied(dir, &e));
            }
        }
    }
    Ok(())
}
