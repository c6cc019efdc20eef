//! Store dumps: every entry of a store in one file, for backups, moving a store between
//! backends, and golden fixtures.
//!
//! Layout: a header line `failback-state-dump 1 entries=N\n`, then N entries, each
//! `[key len u32 BE][key][value len u32 BE][value]`, then end of file. Values keep their codec
//! envelopes, so a dump is as versioned as the store it came from.

use crate::codec::{self, STORE_FORMAT_VERSION};
use crate::records::MetaRecord;
use crate::state_store::StateStore;
use crate::store::Entry;
use crate::{keys, StoreError};
use std::io::Write;
use std::path::Path;

const MAGIC: &str = "failback-state-dump";
/// Version of the dump layout itself (not of the records in it).
pub const DUMP_VERSION: u32 = 1;

pub fn encode_dump(entries: &[Entry]) -> Result<Vec<u8>, StoreError> {
    let mut out = format!("{MAGIC} {DUMP_VERSION} entries={}\n", entries.len()).into_bytes();
    for (k, v) in entries {
        for part in [k, v] {
            let len = u32::try_from(part.len())
                .map_err(|_| StoreError::Backend("an entry exceeds 4 GiB; cannot dump".into()))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    Ok(out)
}

/// Parse a dump; the error says what is wrong and where.
pub fn decode_dump(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let nl = bytes
        .iter()
        .take(128)
        .position(|&b| b == b'\n')
        .ok_or("no header line (not a failback state dump)")?;
    let header = std::str::from_utf8(&bytes[..nl]).map_err(|_| "header is not UTF-8")?;
    let mut words = header.split(' ');
    if words.next() != Some(MAGIC) {
        return Err(format!("header {header:?} does not start with {MAGIC:?}"));
    }
    let version: u32 = words
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("header {header:?} has no dump version"))?;
    if version > DUMP_VERSION {
        return Err(format!(
            "dump version {version} is newer than this build reads ({DUMP_VERSION}); \
             use a newer failback release"
        ));
    }
    let count: usize = words
        .next()
        .and_then(|w| w.strip_prefix("entries="))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("header {header:?} has no entry count"))?;

    let mut rest = &bytes[nl + 1..];
    let mut take = |what: &str, i: usize| -> Result<Vec<u8>, String> {
        let truncated = || format!("truncated in the {what} of entry {i} of {count}");
        let (len, tail) = rest.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = u32::from_be_bytes(*len) as usize;
        if tail.len() < len {
            return Err(truncated());
        }
        let (part, tail) = tail.split_at(len);
        rest = tail;
        Ok(part.to_vec())
    };
    // Cap the preallocation: `count` comes from the file.
    let mut entries = Vec::with_capacity(count.min(1 << 16));
    for i in 0..count {
        let key = take("key", i)?;
        let value = take("value", i)?;
        entries.push((key, value));
    }
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes after the {count} entries the header announces",
            rest.len()
        ));
    }
    Ok(entries)
}

impl StateStore {
    /// Write every entry to `path` (atomically: a temporary file renamed over it, synced).
    /// Returns the number of entries.
    pub fn export_to(&self, path: &Path) -> Result<usize, StoreError> {
        let entries = self.raw().export()?;
        let bytes = encode_dump(&entries)?;
        let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
        tmp_name.push(".tmp");
        let tmp = path.with_file_name(tmp_name);
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::durable::sync_dir(dir)?;
        }
        Ok(entries.len())
    }

    /// Write every entry of the dump at `path` into this store as one durable batch. The
    /// dump's `meta` record is checked (a newer format is refused) but not copied, nor is its
    /// `commit_seq`: the store keeps its own. Returns the number of entries imported.
    pub fn import_from(&self, path: &Path) -> Result<usize, StoreError> {
        let bytes = std::fs::read(path)?;
        let mut entries = decode_dump(&bytes)
            .map_err(|why| StoreError::BadImport(format!("{}: {why}", path.display())))?;
        if let Some(i) = entries.iter().position(|(k, _)| k == keys::META) {
            let (_, meta) = entries.remove(i);
            let meta: MetaRecord = codec::decode(&meta).map_err(|e| {
                StoreError::BadImport(format!("{}: meta record: {e}", path.display()))
            })?;
            if meta.format_version > STORE_FORMAT_VERSION {
                return Err(StoreError::NewerFormat {
                    location: path.display().to_string(),
                    found: meta.format_version,
                    supported: STORE_FORMAT_VERSION,
                });
            }
        }
        // The target's commit sequence is its own (see `seq`).
        entries.retain(|(k, _)| !keys::is_bookkeeping(k));
        let n = entries.len();
        self.raw().import(entries)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_malformed() {
        let entries = vec![
            (b"a".to_vec(), vec![1, 2, 3]),
            (b"b".to_vec(), vec![]),
            (vec![0xff; 300], vec![7; 70_000]),
        ];
        let bytes = encode_dump(&entries).unwrap();
        assert_eq!(decode_dump(&bytes).unwrap(), entries);

        for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_dump(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode_dump(&extra)
            .unwrap_err()
            .contains("after the 3 entries"));
        assert!(decode_dump(b"not-a-dump 1 entries=0\n").is_err());
        assert!(decode_dump(b"failback-state-dump 9 entries=0\n")
            .unwrap_err()
            .contains("newer"));
        assert!(decode_dump(b"failback-state-dump 1 entries=99999999999\n").is_err());
    }
}
