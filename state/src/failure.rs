//! A write the store could not make, and what the operator does about it. After one the
//! store's on-disk state is unknown (a failed fsync may have dropped dirty pages), so the
//! process stops driving and exits: a restart reopens the store and recovers from what is
//! durable (crash-only, docs/operations.md).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// One failed store write, kept as text so every waiter gets its own copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteFailure {
    /// The store directory.
    pub path: PathBuf,
    /// The OS error's symbolic name (`ENOSPC`, `EIO`, …) when the write failed in the OS.
    pub errno: Option<&'static str>,
    /// What failed, as the OS or the backend said it.
    pub message: String,
}

impl WriteFailure {
    /// sled hands some OS errors back re-wrapped as text (`Custom { kind: StorageFull, error:
    /// "Os { code: 28, … }" }`): the code is recovered from the text, else from the kind.
    pub fn from_io(path: &Path, e: &io::Error) -> Self {
        let text = e.to_string();
        let code = e.raw_os_error().or_else(|| os_code_in(&text));
        let errno = code
            .and_then(errno_name)
            .or_else(|| errno_of_kind(e.kind()));
        let message = match code {
            Some(c) => io::Error::from_raw_os_error(c).to_string(),
            None => text,
        };
        Self {
            path: path.to_path_buf(),
            errno,
            message,
        }
    }

    pub fn backend(path: &Path, message: String) -> Self {
        Self {
            path: path.to_path_buf(),
            errno: None,
            message,
        }
    }

    /// What to do before `failback resume` (or the daemon's restart) can go on.
    pub fn advice(&self) -> String {
        let dir = self.path.display();
        let fix = match self.errno {
            Some("ENOSPC" | "EDQUOT") => {
                format!("free space on the file system that holds {dir}")
            }
            Some("EROFS") => format!("make the file system that holds {dir} writable again"),
            Some("EIO") => format!(
                "check the disk that holds {dir} (kernel log: `dmesg`); move the state \
                 directory to a healthy disk if it is failing"
            ),
            Some("EACCES" | "EPERM") => format!("give this user write access to {dir}"),
            Some("EMFILE" | "ENFILE") => {
                "raise the open-file limit (LimitNOFILE= in the service unit, `ulimit -n`)".into()
            }
            _ => format!("fix the cause above at {dir}"),
        };
        format!("{fix}, then run `failback resume` (a daemon resumes when it is restarted)")
    }
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "state store {}: a write failed: ", self.path.display())?;
        if let Some(name) = self.errno {
            write!(f, "{name}: ")?;
        }
        write!(
            f,
            "{}; nothing more is written or driven — {}",
            self.message,
            self.advice()
        )
    }
}

/// `N` in a debug-formatted OS error (`Os { code: N, … }`).
fn os_code_in(text: &str) -> Option<i32> {
    // `{` spelt as an escape keeps the braces of this file balanced for line-counting tools.
    const NEEDLE: &str = "Os \u{7b} code: ";
    let rest = &text[text.find(NEEDLE)? + NEEDLE.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn errno_of_kind(kind: io::ErrorKind) -> Option<&'static str> {
    Some(match kind {
        io::ErrorKind::StorageFull => "ENOSPC",
        io::ErrorKind::QuotaExceeded => "EDQUOT",
        io::ErrorKind::ReadOnlyFilesystem => "EROFS",
        io::ErrorKind::PermissionDenied => "EACCES",
        io::ErrorKind::FileTooLarge => "EFBIG",
        _ => return None,
    })
}

/// The symbolic name of the errors a store write can meet.
pub fn errno_name(code: i32) -> Option<&'static str> {
    Some(match code {
        libc::ENOSPC => "ENOSPC",
        libc::EDQUOT => "EDQUOT",
        libc::EIO => "EIO",
        libc::EROFS => "EROFS",
        libc::EACCES => "EACCES",
        libc::EPERM => "EPERM",
        libc::EMFILE => "EMFILE",
        libc::ENFILE => "ENFILE",
        libc::ENOMEM => "ENOMEM",
        libc::EFBIG => "EFBIG",
        libc::ENOENT => "ENOENT",
        libc::EBADF => "EBADF",
        _ => return None,
    })
}

/// The user this process runs as, for permission messages: `name (uid N)`.
pub fn current_user() -> String {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut buf = vec![0 as libc::c_char; 1024];
    let mut pwd = std::mem::MaybeUninit::<libc::passwd>::uninit();
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of pw_name below.
    let rc = unsafe {
        libc::getpwuid_r(
            uid,
            pwd.as_mut_ptr(),
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        )
    };
    if rc != 0 || found.is_null() {
        return format!("uid {uid}");
    }
    // SAFETY: getpwuid_r succeeded and `found` points at `pwd`, whose pw_name is a C string
    // inside `buf`.
    let name = unsafe { std::ffi::CStr::from_ptr((*found).pw_name) };
    format!("{} (uid {uid})", name.to_string_lossy())
}

/// Permission denied on `path` while opening the store: never called damage.
pub(crate) fn permission_denied(store: &Path, path: &Path, e: &io::Error) -> crate::StoreError {
    crate::StoreError::PermissionDenied {
        location: store.display().to_string(),
        what: format!("{}: {e}", path.display()),
        user: current_user(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_os_error_rewrapped_as_text_keeps_its_name() {
        let os = io::Error::from_raw_os_error(libc::ENOSPC);
        let wrapped = io::Error::new(io::ErrorKind::StorageFull, format!("{os:?}"));
        let f = WriteFailure::from_io(Path::new("/s"), &wrapped);
        assert_eq!(f.errno, Some("ENOSPC"));
        assert_eq!(f.message, os.to_string());
        let msg = f.to_string();
        assert!(
            msg.starts_with("state store /s: a write failed: ENOSPC: No space left"),
            "{msg}"
        );
        assert!(
            msg.contains("free space on the file system that holds /s"),
            "{msg}"
        );
        let bare = io::Error::new(io::ErrorKind::ReadOnlyFilesystem, "read-only");
        assert_eq!(
            WriteFailure::from_io(Path::new("/s"), &bare).errno,
            Some("EROFS")
        );
        let eio = io::Error::from_raw_os_error(libc::EIO);
        assert_eq!(
            WriteFailure::from_io(Path::new("/s"), &eio).errno,
            Some("EIO")
        );
    }
}
