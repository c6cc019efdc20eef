//! Who holds a store. sled 0.34.7 takes an exclusive `flock` on `{dir}/db` at open and fails
//! with an `io::Error` "could not acquire lock on ..."; the holder writes an `owner` file
//! next to it so the one locked out can say who holds it.

use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const OWNER_FILE: &str = "owner";

/// The contents of `{dir}/owner`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    pub pid: u32,
    pub host: String,
    pub program: String,
    /// Seconds since the UNIX epoch at which the store was opened.
    pub since: u64,
}

impl Owner {
    pub fn current() -> Self {
        Self {
            pid: std::process::id(),
            host: hostname(),
            program: std::env::args().next().unwrap_or_default(),
            since: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }

    /// For error messages: `pid 42 on host h (/usr/bin/failback), since 2024-05-01T10:00:00Z`.
    pub fn describe(&self) -> String {
        format!(
            "pid {} on host {} ({}), since {}",
            self.pid,
            self.host,
            self.program,
            utc_rfc3339(self.since)
        )
    }
}

/// Is this sled open error the lock being held elsewhere?
pub(crate) fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::Other
                && io.to_string().starts_with("could not acquire lock")
        }
        _ => false,
    }
}

/// Best effort: the store works without it, only messages get poorer.
pub(crate) fn write_owner(dir: &Path) {
    let path = dir.join(OWNER_FILE);
    let result = serde_json::to_vec_pretty(&Owner::current())
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&path, bytes));
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "could not write the store owner file");
    }
}

pub(crate) fn read_owner(dir: &Path) -> Option<Owner> {
    let bytes = std::fs::read(dir.join(OWNER_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub(crate) fn remove_owner(dir: &Path) {
    // Only ours to remove while we still hold the lock; a stale file is merely misleading.
    let _ = std::fs::remove_file(dir.join(OWNER_FILE));
}

/// This host's name (`unknown` if the system will not say).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// `YYYY-MM-DDTHH:MM:SSZ` without a date crate (Howard Hinnant's civil_from_days).
fn utc_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
