//! The write-ahead log's on-disk record: `[magic u32][kind u8][len u32][seq u64][crc u32]`
//! then `len` payload bytes, all integers big-endian. The CRC-32 covers kind, len, seq and
//! the payload, so a torn or flipped record, zeroes, or another file's bytes never decode.
//!
//! A file starts with a `Header` record whose `seq` is the checkpoint: every group up to it
//! is durable in sled. `Group` records follow with consecutive sequences from checkpoint + 1;
//! the payload is the group's operations (`[op u8][klen u32][key]` and for a put
//! `[vlen u32][value]`), in the order sled applies them.

use crate::store::BatchOp;

const MAGIC: u32 = 0x4642_574c; // "FBWL"
pub(crate) const HEAD_LEN: usize = 4 + 1 + 4 + 8 + 4;
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Header = 1,
    Group = 2,
}

/// One record, as read back.
#[derive(Debug)]
pub(crate) struct Record<'a> {
    pub kind: Kind,
    pub seq: u64,
    pub payload: &'a [u8],
}

fn crc(kind: u8, len: u32, seq: u64, payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[kind]);
    h.update(&len.to_be_bytes());
    h.update(&seq.to_be_bytes());
    h.update(payload);
    h.finalize()
}

/// Append one record to `out`.
pub(crate) fn encode(out: &mut Vec<u8>, kind: Kind, seq: u64, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&crc(kind as u8, len, seq, payload).to_be_bytes());
    out.extend_from_slice(payload);
}

fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// The record at the start of `bytes`, and its length; `None` when there is none (zeroes,
/// the end, a torn or damaged record, or anything else).
pub(crate) fn decode(bytes: &[u8]) -> Option<(Record<'_>, usize)> {
    let head = bytes.get(..HEAD_LEN)?;
    if be_u32(head)? != MAGIC {
        return None;
    }
    let kind = match head[4] {
        1 => Kind::Header,
        2 => Kind::Group,
        _ => return None,
    };
    let len = be_u32(&head[5..])?;
    let seq = u64::from_be_bytes(head[9..17].try_into().ok()?);
    let stored = be_u32(&head[17..])?;
    let payload = bytes.get(HEAD_LEN..HEAD_LEN.checked_add(len as usize)?)?;
    (crc(head[4], len, seq, payload) == stored)
        .then_some((Record { kind, seq, payload }, HEAD_LEN + len as usize))
}

/// A group's operations as a record payload.
pub(crate) fn encode_ops<'a>(ops: impl Iterator<Item = &'a BatchOp>, out: &mut Vec<u8>) {
    let put_len = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&u32::try_from(b.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(b);
    };
    for op in ops {
        match op {
            BatchOp::Put(k, v) => {
                out.push(OP_PUT);
                put_len(out, k);
                put_len(out, v);
            }
            BatchOp::Delete(k) => {
                out.push(OP_DELETE);
                put_len(out, k);
            }
        }
    }
}

/// The operations of a payload written by [`encode_ops`]; `None` if it is malformed (which a
/// record that passed its CRC never is, unless written by a different build).
pub(crate) fn decode_ops(mut p: &[u8]) -> Option<Vec<BatchOp>> {
    fn take<'a>(p: &mut &'a [u8]) -> Option<&'a [u8]> {
        let len = be_u32(p)? as usize;
        let out = p.get(4..4usize.checked_add(len)?)?;
        *p = &p[4 + len..];
        Some(out)
    }
    let mut ops = Vec::new();
    while let Some((&op, rest)) = p.split_first() {
        p = rest;
        let key = take(&mut p)?.to_vec();
        ops.push(match op {
            OP_PUT => BatchOp::Put(key, take(&mut p)?.to_vec()),
            OP_DELETE => BatchOp::Delete(key),
            _ => return None,
        });
    }
    Some(ops)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_refuse_damage() {
        let ops = vec![
            BatchOp::Put(b"k1".to_vec(), b"v1".to_vec()),
            BatchOp::Delete(b"k2".to_vec()),
            BatchOp::Put(b"k3".to_vec(), Vec::new()),
        ];
        let mut payload = Vec::new();
        encode_ops(ops.iter(), &mut payload);
        let mut buf = Vec::new();
        encode(&mut buf, Kind::Group, 42, &payload);
        let (rec, len) = decode(&buf).unwrap();
        assert_eq!((rec.kind, rec.seq, len), (Kind::Group, 42, buf.len()));
        assert_eq!(decode_ops(rec.payload).unwrap(), ops);
        for at in 0..buf.len() {
            let mut bad = buf.clone();
            bad[at] ^= 0x40;
            assert!(decode(&bad).is_none(), "flipped byte {at} still decodes");
        }
        for cut in 0..buf.len() {
            assert!(decode(&buf[..cut]).is_none(), "cut at {cut} still decodes");
        }
        assert!(decode(&[0u8; 64]).is_none());
    }
}
