//! What exists in the emulated world, for tests and the control plane (`GET /_sim/inventory`):
//! resources (seeded or created through the API), process servers, protected items.

use crate::clock::rfc3339;
use crate::world::World;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InventoryResource {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub location: String,
    pub tags: Value,
    pub provisioning_state: String,
    /// Part of the scenario (not created through the API).
    pub seeded: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InventoryProcessServer {
    pub vault: String,
    pub fabric: String,
    pub id: String,
    pub friendly_name: String,
    pub ip_address: String,
    pub health: String,
    pub last_heartbeat: String,
    pub on_prem: bool,
    pub vm_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InventoryItem {
    pub id: String,
    pub name: String,
    pub friendly_name: String,
    pub state: String,
    pub job: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inventory {
    pub sim_time: String,
    pub resources: Vec<InventoryResource>,
    pub process_servers: Vec<InventoryProcessServer>,
    pub protected_items: Vec<InventoryItem>,
    /// LROs still running.
    pub operations_in_flight: usize,
}

impl Inventory {
    /// Resources created through the API (not seeded) that still exist.
    pub fn created(&self) -> Vec<&InventoryResource> {
        self.resources.iter().filter(|r| !r.seeded).collect()
    }
}

pub fn inventory(w: &World, now: i64) -> Inventory {
    Inventory {
        sim_time: rfc3339(now),
        resources: resources(w),
        process_servers: process_servers(w, now),
        protected_items: protected_items(w),
        operations_in_flight: w.ops.values().filter(|o| !o.finished).count(),
    }
}

fn resource(
    (id, kind, name, location): (&str, &str, &str, &str),
    tags: &Value,
    provisioning_state: &str,
    seeded: bool,
) -> InventoryResource {
    InventoryResource {
        id: id.into(),
        kind: kind.into(),
        name: name.into(),
        location: location.into(),
        tags: tags.clone(),
        provisioning_state: provisioning_state.into(),
        seeded,
    }
}

fn resources(w: &World) -> Vec<InventoryResource> {
    let vnets = w.vnets.values().map(|v| {
        let what = (
            v.id.as_str(),
            "Microsoft.Network/virtualNetworks",
            v.name.as_str(),
            v.location.as_str(),
        );
        resource(what, &Value::Null, "Succeeded", true)
    });
    let nics = w.nics.values().map(|n| {
        let what = (
            n.id.as_str(),
            "Microsoft.Network/networkInterfaces",
            n.name.as_str(),
            n.location.as_str(),
        );
        resource(what, &n.tags, &n.provisioning, false)
    });
    let vms = w.vms.values().map(|vm| {
        let what = (
            vm.id.as_str(),
            "Microsoft.Compute/virtualMachines",
            vm.name.as_str(),
            vm.location.as_str(),
        );
        resource(what, &vm.tags, &vm.provisioning, false)
    });
    let disks = w.disks.values().map(|d| {
        let what = (
            d.id.as_str(),
            "Microsoft.Compute/disks",
            d.name.as_str(),
            d.location.as_str(),
        );
        resource(what, &d.tags, &d.provisioning, false)
    });
    let run_commands = w.run_commands.values().map(|rc| {
        let what = (
            rc.id.as_str(),
            "Microsoft.Compute/virtualMachines/runCommands",
            rc.name.as_str(),
            rc.location.as_str(),
        );
        resource(what, &rc.tags, &rc.provisioning, false)
    });
    vnets
        .chain(nics)
        .chain(vms)
        .chain(disks)
        .chain(run_commands)
        .collect()
}

fn process_servers(w: &World, now: i64) -> Vec<InventoryProcessServer> {
    let tm = w.timings();
    let mut out = vec![];
    for v in w.vaults.values() {
        for f in &v.fabrics {
            for p in &f.process_servers {
                out.push(InventoryProcessServer {
                    vault: v.name.clone(),
                    fabric: f.name.clone(),
                    id: p.id.clone(),
                    friendly_name: p.friendly_name.clone(),
                    ip_address: p.ip.clone(),
                    health: p.health(now, tm).into(),
                    last_heartbeat: rfc3339(
                        p.last_heartbeat(now, (tm.heartbeat_interval_secs * 1000.0) as i64),
                    ),
                    on_prem: p.on_prem,
                    vm_id: p.vm_key.clone(),
                });
            }
        }
    }
    out
}

fn protected_items(w: &World) -> Vec<InventoryItem> {
    w.vaults
        .values()
        .flat_map(|v| &v.items)
        .map(|i| InventoryItem {
            id: i.id.clone(),
            name: i.name.clone(),
            friendly_name: i.friendly_name.clone(),
            state: format!("{:?}", i.state),
            job: i.job.clone(),
        })
        .collect()
}
