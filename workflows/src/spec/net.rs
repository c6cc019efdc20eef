//! IPv4 addresses and CIDR prefixes, with the Azure subnet rules (REFERENCE.md §3.3).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An IPv4 network prefix such as `10.1.0.0/24` (host bits zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Cidr {
    network: Ipv4Addr,
    prefix_len: u8,
}

/// Why a CIDR string was refused; Display is the operator-facing explanation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error(
        "{0:?} is not a CIDR prefix: expected an IPv4 address, '/', and a length, like 10.1.0.0/24"
    )]
    Format(String),
    #[error("{0:?} is not a CIDR prefix: {1:?} is not an IPv4 address")]
    Address(String, String),
    #[error("{0:?} is not a CIDR prefix: the length must be a number from 0 to 32")]
    Length(String),
    #[error("{text} has host bits set; the subnet prefix is {fixed}")]
    HostBits { text: String, fixed: Ipv4Cidr },
}

impl Ipv4Cidr {
    pub fn new(network: Ipv4Addr, prefix_len: u8) -> Option<Self> {
        let c = Self {
            network,
            prefix_len,
        };
        (prefix_len <= 32 && c.network_u32() == u32::from(network)).then_some(c)
    }

    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    fn mask(&self) -> u32 {
        mask(self.prefix_len)
    }

    fn network_u32(&self) -> u32 {
        u32::from(self.network) & self.mask()
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.network_u32() | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.network_u32()
    }

    /// Why Azure reserves `ip` in this subnet, if it does: the network address, `.1` (default
    /// gateway), `.2` and `.3` (Azure DNS), and the last address (broadcast).
    pub fn azure_reserved(&self, ip: Ipv4Addr) -> Option<&'static str> {
        if !self.contains(ip) {
            return None;
        }
        let offset = u32::from(ip) - self.network_u32();
        match offset {
            0 => Some("the network address"),
            1 => Some("the default gateway (first address + 1)"),
            2 | 3 => Some("reserved by Azure for DNS (first address + 2 and + 3)"),
            _ if ip == self.broadcast() => Some("the broadcast (last) address"),
            _ => None,
        }
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| CidrError::Format(s.into()))?;
        let ip = Ipv4Addr::from_str(addr).map_err(|_| CidrError::Address(s.into(), addr.into()))?;
        // Digits only: u8::from_str would accept "+24".
        if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CidrError::Length(s.into()));
        }
        let len: u8 = len.parse().map_err(|_| CidrError::Length(s.into()))?;
        if len > 32 {
            return Err(CidrError::Length(s.into()));
        }
        Ipv4Cidr::new(ip, len).ok_or_else(|| CidrError::HostBits {
            text: s.into(),
            fixed: Ipv4Cidr {
                network: Ipv4Addr::from(u32::from(ip) & mask(len)),
                prefix_len: len,
            },
        })
    }
}

impl fmt::Display for Ipv4Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl Serialize for Ipv4Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses a dotted-quad IPv4 address with an operator-facing error.
pub fn parse_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    Ipv4Addr::from_str(s).map_err(|_| {
        format!("{s:?} is not an IPv4 address (expected four numbers 0-255, like 10.1.0.10)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Ipv4Cidr {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_checks() {
        assert_eq!(c("10.1.0.0/24").to_string(), "10.1.0.0/24");
        assert_eq!(c("0.0.0.0/0").broadcast(), Ipv4Addr::BROADCAST);
        assert!(matches!(
            "10.1.0.5/24".parse::<Ipv4Cidr>(),
            Err(CidrError::HostBits { .. })
        ));
        for bad in [
            "10.1.0.0",
            "10.1.0.0/33",
            "10.1.0/24",
            "10.1.0.0/+4",
            "10.1.0.0/",
            "/24",
            "10.1.0.0/024",
        ] {
            assert!(bad.parse::<Ipv4Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn reserved_addresses() {
        let n = c("10.1.0.0/24");
        for (ip, reserved) in [
            ("10.1.0.0", true),
            ("10.1.0.1", true),
            ("10.1.0.3", true),
            ("10.1.0.4", false),
            ("10.1.0.254", false),
            ("10.1.0.255", true),
        ] {
            assert_eq!(
                n.azure_reserved(ip.parse().unwrap()).is_some(),
                reserved,
                "{ip}"
            );
        }
        assert!(!n.contains("10.2.0.3".parse().unwrap()));
    }
}
