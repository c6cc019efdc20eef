//! Microsoft.Network: virtual networks, subnets, IP availability, network interfaces.

pub mod ip;
pub mod nic_put;
pub mod nics;
pub mod vnets;
