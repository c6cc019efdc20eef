//! Every file `failback` reads from a path an operator gives (the spec, the CA file, the
//! daemon's token file, secret files) is read here: it must be a regular file under a size
//! limit. A FIFO, a device or a directory is refused at once, without blocking on it (the open
//! is non-blocking and the type is checked on the opened descriptor), and `/dev/zero` cannot
//! be read until memory runs out.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Spec files and CA bundles: far below this.
pub const MAX_TEXT_FILE: u64 = 1 << 20;
/// Tokens and secrets.
pub const MAX_SECRET_FILE: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    #[error("cannot read the {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the {what} {path} is a {kind}, not a regular file")]
    NotRegular {
        what: &'static str,
        path: PathBuf,
        kind: &'static str,
    },
    #[error("the {what} {path} is larger than {limit} bytes")]
    TooLarge {
        what: &'static str,
        path: PathBuf,
        limit: u64,
    },
    #[error(
        "the {what} {path} can be read by group or others (mode {mode:03o}); \
         run `chmod 600 {path}`"
    )]
    TooOpen {
        what: &'static str,
        path: PathBuf,
        mode: u32,
    },
}

fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "directory"
    } else if ft.is_fifo() {
        "FIFO"
    } else if ft.is_char_device() {
        "character device"
    } else if ft.is_block_device() {
        "block device"
    } else if ft.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// The contents of the regular file at `path`, at most `limit` bytes; `what` names it in
/// errors ("spec file", "CA file").
pub fn read_bounded(
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, BoundedReadError> {
    read_checked(path, limit, what, false)
}

/// [`read_bounded`], and the file must not be readable by group or others (as ssh refuses
/// such keys): for tokens.
pub fn read_private(
    path: &Path,
    limit: u64,
    what: &'static str,
) -> Result<Vec<u8>, BoundedReadError> {
    read_checked(path, limit, what, true)
}

fn read_checked(
    path: &Path,
    limit: u64,
    what: &'static str,
    private: bool,
) -> Result<Vec<u8>, BoundedReadError> {
    let io = |source| BoundedReadError::Io {
        what,
        path: path.to_path_buf(),
        source,
    };
    // Non-blocking: opening a FIFO for reading would otherwise wait for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(BoundedReadError::NotRegular {
            what,
            path: path.to_path_buf(),
            kind: kind_of(meta.file_type()),
        });
    }
    let too_large = || BoundedReadError::TooLarge {
        what,
        path: path.to_path_buf(),
        limit,
    };
    if meta.len() > limit {
        return Err(too_large());
    }
    let mode = meta.permissions().mode() & 0o777;
    if private && mode & 0o077 != 0 {
        return Err(BoundedReadError::TooOpen {
            what,
            path: path.to_path_buf(),
            mode,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow between the stat and the read.
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn special_files_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let started = Instant::now();
        for (path, kind) in [
            (fifo.as_path(), "FIFO"),
            (Path::new("/dev/zero"), "character device"),
            (dir.path(), "directory"),
        ] {
            match read_bounded(path, MAX_TEXT_FILE, "spec file") {
                Err(BoundedReadError::NotRegular { kind: k, .. }) => assert_eq!(k, kind),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn size_and_mode_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; 100]).unwrap();
        assert!(matches!(
            read_bounded(&big, 99, "spec file"),
            Err(BoundedReadError::TooLarge { limit: 99, .. })
        ));
        assert_eq!(read_bounded(&big, 100, "spec file").unwrap().len(), 100);

        let token = dir.path().join("token");
        std::fs::write(&token, "secret").unwrap();
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = read_private(&token, 64, "token file").unwrap_err();
        assert!(e.to_string().contains("chmod 600"), "{e}");
        assert!(e.to_string().contains(&token.display().to_string()), "{e}");
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_private(&token, 64, "token file").unwrap(), b"secret");
    }
}
