//! IPv4 helpers: CIDR parsing, Azure's five reserved addresses per subnet.

pub fn parse_ip(s: &str) -> Option<u32> {
    let parts: Vec<&str> = s.trim().split('.').collect();
    if parts.len() != 4 {
        return None;
    }
    let mut v = 0u32;
    for p in parts {
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        v = v << 8 | p.parse::<u8>().ok()? as u32;
    }
    Some(v)
}

pub fn fmt_ip(v: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        v >> 24,
        (v >> 16) & 255,
        (v >> 8) & 255,
        v & 255
    )
}

/// `10.1.0.0/24` -> (network, prefix length). Host bits are cleared.
pub fn parse_cidr(s: &str) -> Option<(u32, u8)> {
    let (a, l) = s.trim().split_once('/')?;
    let len: u8 = l.parse().ok()?;
    if len > 32 {
        return None;
    }
    let ip = parse_ip(a)?;
    Some((ip & mask(len), len))
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

pub fn contains(c: (u32, u8), ip: u32) -> bool {
    ip & mask(c.1) == c.0
}

pub fn broadcast(c: (u32, u8)) -> u32 {
    c.0 | !mask(c.1)
}

/// Network address, .1 (gateway), .2/.3 (DNS) and the broadcast address.
pub fn is_reserved(c: (u32, u8), ip: u32) -> bool {
    ip.wrapping_sub(c.0) <= 3 || ip == broadcast(c)
}

/// Usable host addresses in order.
pub fn usable(c: (u32, u8)) -> impl Iterator<Item = u32> {
    let first = c.0.saturating_add(4);
    let last = broadcast(c).saturating_sub(1);
    first..=last
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn reserved_and_contains() {
        let c = parse_cidr("10.1.0.0/24").unwrap();
        assert!(contains(c, parse_ip("10.1.0.200").unwrap()));
        assert!(!contains(c, parse_ip("10.1.1.1").unwrap()));
        for r in ["10.1.0.0", "10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.255"] {
            assert!(is_reserved(c, parse_ip(r).unwrap()), "{r}");
        }
        assert!(!is_reserved(c, parse_ip("10.1.0.4").unwrap()));
        assert_eq!(usable(c).count(), 251);
        assert!(parse_ip("10.1.0.256").is_none());
    }
}
