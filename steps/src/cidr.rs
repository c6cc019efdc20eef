//! IPv4 prefixes, just what subnet checks need.

use std::net::Ipv4Addr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub network: Ipv4Addr,
    pub len: u8,
}

impl Prefix {
    pub fn parse(s: &str) -> Option<Prefix> {
        let (ip, len) = s.trim().split_once('/')?;
        let ip: Ipv4Addr = ip.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        if len > 32 {
            return None;
        }
        let p = Prefix { network: ip, len };
        Some(Prefix {
            network: Ipv4Addr::from(u32::from(ip) & p.mask()),
            len,
        })
    }
    fn mask(&self) -> u32 {
        if self.len == 0 {
            0
        } else {
            u32::MAX << (32 - self.len as u32)
        }
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | !self.mask())
    }
    /// Azure reserves the network address, .1 (gateway), .2 and .3 (DNS) and the broadcast.
    pub fn is_azure_reserved(&self, ip: Ipv4Addr) -> bool {
        let off = u32::from(ip).wrapping_sub(u32::from(self.network));
        off <= 3 || ip == self.broadcast()
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn containment_and_reserved() {
        let p = Prefix::parse("10.1.0.0/24").unwrap();
        assert!(p.contains("10.1.0.10".parse().unwrap()));
        assert!(!p.contains("10.2.0.10".parse().unwrap()));
        for r in ["10.1.0.0", "10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.255"] {
            assert!(p.is_azure_reserved(r.parse().unwrap()), "{r}");
        }
        assert!(!p.is_azure_reserved("10.1.0.4".parse().unwrap()));
        assert_eq!(
            Prefix::parse("10.1.0.7/24").unwrap().to_string(),
            "10.1.0.0/24"
        );
        assert!(Prefix::parse("10.1.0.0/33").is_none());
        assert!(Prefix::parse("nope").is_none());
    }
}
