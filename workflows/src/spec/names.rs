//! Names of what a run creates in Azure.
//!
//! Every name is a pure function of (run id, network), so a step re-executed after a crash PUTs
//! the same resource again instead of creating a second one (ARM PUT is idempotent by name), and
//! two runs of the same spec never collide. The run id enters as a short stable hash (FNV-1a,
//! fixed here so that names do not change between releases or platforms).
//!
//! Shapes (`{prefix}-{net}` is at most 15 characters, validated as the computer name):
//! - VM: `{prefix}-{net}-{hash8}` (≤ 24 of the 64 Azure allows)
//! - NIC: `{prefix}-{net}-{hash8}-nic` (≤ 28 of 80)
//! - OS disk: `{vm}-os`; cache data disk: `{vm}-cache` (≤ 30 of 80)
//! - Windows computer name: `{prefix}-{net}` (≤ 15)

use super::model::{Network, Spec};

/// The 8 lowercase hex digits that stand for a run id in resource names.
pub fn run_hash(run_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in run_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{:08x}", (h >> 32) as u32 ^ h as u32)
}

impl Spec {
    /// The Windows computer name of the process server for `net` (validated ≤ 15 chars).
    pub fn computer_name(&self, net: &Network) -> String {
        format!("{}-{}", self.process_server.name_prefix, net.name)
    }

    /// The VM resource name.
    pub fn vm_name(&self, run_id: &str, net: &Network) -> String {
        format!("{}-{}", self.computer_name(net), run_hash(run_id))
    }

    /// The NIC resource name.
    pub fn nic_name(&self, run_id: &str, net: &Network) -> String {
        format!("{}-nic", self.vm_name(run_id, net))
    }

    /// The managed OS disk name.
    pub fn os_disk_name(&self, run_id: &str, net: &Network) -> String {
        format!("{}-os", self.vm_name(run_id, net))
    }

    /// The managed data disk for the process-server cache (absent when `cache_disk_gb` is 0).
    pub fn cache_disk_name(&self, run_id: &str, net: &Network) -> String {
        format!("{}-cache", self.vm_name(run_id, net))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable() {
        // Pinned: changing these values would orphan resources of runs started earlier.
        assert_eq!(run_hash(""), "4fd0bfc1");
        assert_eq!(run_hash("run-1"), "498b7836");
        assert_ne!(run_hash("run-1"), run_hash("run-2"));
        assert_eq!(run_hash("01JABCDEF").len(), 8);
    }
}
