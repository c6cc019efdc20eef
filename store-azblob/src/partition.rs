//! Which blob holds a key, and a blob's bytes. Every key of a run (`keys::run_of`) lives in
//! the run's blob `runs/{run}`, which is what the run's lease fences; every other key (the
//! format record) in the blob `store`. A blob holds its keys in order:
//! `[magic "FBP1"][count u32]` then per key `[klen u32][key][vlen u32][value]`, then a CRC-32
//! of everything before it (big-endian integers), so a damaged blob is refused, not misread.

use failback_state::{keys, Batch};
use std::collections::BTreeMap;

const MAGIC: &[u8; 4] = b"FBP1";
/// The blob of the keys that belong to no run.
pub const STORE_BLOB: &str = "store";
/// Run blobs are named `runs/{run}`.
pub const RUN_PREFIX: &str = "runs/";

/// A partition's keys and values.
pub type Contents = BTreeMap<Vec<u8>, Vec<u8>>;

/// The blob that holds `key`.
pub fn of_key(key: &[u8]) -> String {
    match keys::run_of(key) {
        Some(run) => format!("{RUN_PREFIX}{run}"),
        None => STORE_BLOB.to_owned(),
    }
}

/// The blob of run `run`.
pub fn of_run(run: &str) -> String {
    format!("{RUN_PREFIX}{run}")
}

/// The one blob every key of `batch` belongs to, or the first two it spans.
pub fn of_batch(batch: &Batch) -> Result<String, (String, String)> {
    let mut keys = batch.keys();
    let first = keys
        .next()
        .map(of_key)
        .unwrap_or_else(|| STORE_BLOB.to_owned());
    for key in keys {
        let other = of_key(key);
        if other != first {
            return Err((first, other));
        }
    }
    Ok(first)
}

pub fn encode(contents: &Contents) -> Vec<u8> {
    let size: usize = contents.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
    let mut out = Vec::with_capacity(12 + size);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(contents.len() as u32).to_be_bytes());
    for (k, v) in contents {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k);
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// The contents of a blob written by [`encode`]; `Err` says what is wrong with it. An empty
/// blob (a run's blob created to be leased before its first commit) holds nothing.
pub fn decode(bytes: &[u8]) -> Result<Contents, String> {
    if bytes.is_empty() {
        return Ok(Contents::new());
    }
    let (body, crc) = bytes
        .split_last_chunk::<4>()
        .ok_or_else(|| format!("{} bytes: too short", bytes.len()))?;
    if crc32fast::hash(body) != u32::from_be_bytes(*crc) {
        return Err("fails its checksum".into());
    }
    let rest = body.strip_prefix(MAGIC).ok_or("no FBP1 header")?;
    let (count, mut rest) = take_u32(rest).ok_or("truncated header")?;
    let mut contents = Contents::new();
    for i in 0..count {
        let (key, r) = take_bytes(rest).ok_or_else(|| format!("entry {i}: truncated key"))?;
        let (value, r) = take_bytes(r).ok_or_else(|| format!("entry {i}: truncated value"))?;
        contents.insert(key.to_vec(), value.to_vec());
        rest = r;
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last entry", rest.len()));
    }
    Ok(contents)
}

fn take_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (n, rest) = b.split_first_chunk::<4>()?;
    Some((u32::from_be_bytes(*n), rest))
}

fn take_bytes(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = take_u32(b)?;
    let len = len as usize;
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_go_to_their_runs_blob() {
        assert_eq!(of_key(b"run/r1"), "runs/r1");
        assert_eq!(of_key(b"step/r1/vnet-a/create-vm"), "runs/r1");
        assert_eq!(of_key(b"ev/r1/0000000000000001"), "runs/r1");
        assert_eq!(of_key(b"meta"), "store");
        let mut b = Batch::new();
        b.put("run/r1", vec![]);
        b.require_absent("step/r1/x");
        assert_eq!(of_batch(&b), Ok("runs/r1".to_owned()));
        b.put("meta", vec![]);
        assert_eq!(of_batch(&b), Err(("runs/r1".into(), "store".into())));
    }

    #[test]
    fn blobs_round_trip_and_refuse_damage() {
        let mut c = Contents::new();
        c.insert(b"run/r1".to_vec(), b"v1".to_vec());
        c.insert(b"step/r1/a".to_vec(), Vec::new());
        let bytes = encode(&c);
        assert_eq!(decode(&bytes).unwrap(), c);
        assert_eq!(decode(&[]).unwrap(), Contents::new());
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x20;
            assert!(decode(&bad).is_err(), "flipped byte {at}");
        }
        for cut in 1..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
}
