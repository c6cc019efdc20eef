//! The Azure context shared by every step of every run in a process: one ARM client per
//! subscription (and so one rate limiter), plus resource paths.

use crate::arm::ArmClient;
use crate::model::{NetworkTarget, SiteRecoveryTarget};
use std::sync::Arc;

pub struct Azure {
    pub arm: ArmClient,
}

impl Azure {
    pub fn new(arm: ArmClient) -> Arc<Self> {
        Arc::new(Self { arm })
    }

    fn rg(&self, rg: &str) -> String {
        self.arm.sub_path(&format!("/resourceGroups/{rg}"))
    }
    pub fn subnet_path(&self, n: &NetworkTarget) -> String {
        format!(
            "{}/providers/Microsoft.Network/virtualNetworks/{}/subnets/{}",
            self.rg(&n.resource_group),
            n.vnet,
            n.subnet
        )
    }
    pub fn vnet_path(&self, n: &NetworkTarget) -> String {
        format!(
            "{}/providers/Microsoft.Network/virtualNetworks/{}",
            self.rg(&n.resource_group),
            n.vnet
        )
    }
    pub fn nic_path(&self, n: &NetworkTarget) -> String {
        format!(
            "{}/providers/Microsoft.Network/networkInterfaces/{}",
            self.rg(&n.resource_group),
            n.names.nic
        )
    }
    pub fn vm_path(&self, n: &NetworkTarget) -> String {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{}",
            self.rg(&n.resource_group),
            n.names.vm
        )
    }
    pub fn disk_path(&self, n: &NetworkTarget, disk: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/disks/{disk}",
            self.rg(&n.resource_group)
        )
    }
    pub fn vault_path(&self, t: &SiteRecoveryTarget) -> String {
        format!(
            "{}/providers/Microsoft.RecoveryServices/vaults/{}",
            self.rg(&t.resource_group),
            t.vault
        )
    }
}
