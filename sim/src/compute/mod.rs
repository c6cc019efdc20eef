//! Microsoft.Compute: SKUs, usages, virtual machines, instance view, disks, run commands.

pub mod disks;
pub mod instance_view;
pub mod run_command_put;
pub mod run_commands;
pub mod skus;
pub mod usages;
pub mod vm_disks;
pub mod vm_profile;
pub mod vm_put;
pub mod vms;
