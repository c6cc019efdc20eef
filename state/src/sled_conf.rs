//! sled 0.34.7 keeps its settings in `{dir}/conf`: text lines, then a CRC-32 (IEEE, little
//! endian) of them. sled only logs a checksum mismatch and goes on parsing, so a flipped digit
//! could open the log with wrong settings; we check the checksum before sled reads it.

use std::path::Path;

/// CRC-32/ISO-HDLC, as `crc32fast` computes it (bitwise: the file is 62 bytes, read once).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// `Err(why)` when `conf` exists with content that fails its checksum. A missing or empty
/// `conf` (at most 8 bytes, as sled itself reads it) is sled's "no settings yet".
pub(crate) fn check(dir: &Path) -> Result<(), String> {
    let path = dir.join("conf");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if bytes.len() <= 8 {
        return Ok(());
    }
    let (body, sum) = bytes.split_at(bytes.len() - 4);
    let stored = u32::from_le_bytes([sum[0], sum[1], sum[2], sum[3]]);
    if crc32(body) == stored {
        Ok(())
    } else {
        Err(format!("{} fails its checksum", path.display()))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_check_value() {
        assert_eq!(super::crc32(b"123456789"), 0xcbf4_3926);
    }
}
