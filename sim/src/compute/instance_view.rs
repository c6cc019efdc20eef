//! Instance view: provisioning and power states, VM agent Not Ready → Ready, disks.

use crate::clock::{rfc3339, SimTime};
use crate::envelope::{path_str, ArmError, ArmResult, Resp};
use crate::router::Ctx;
use crate::world::{key, Vm, World};
use serde_json::{json, Value};

fn os_name(vm: &Vm) -> String {
    let sku = path_str(&vm.props, &["storageProfile", "imageReference", "sku"])
        .unwrap_or("2016-Datacenter");
    let year = sku.split('-').next().unwrap_or("2016");
    format!("Windows Server {year} Datacenter")
}

pub fn render(w: &World, vm: &Vm, now: SimTime) -> Value {
    let running = vm.running_at.is_some_and(|t| t <= now);
    let prov = match (vm.provisioning.as_str(), &vm.failure) {
        ("Failed", Some((code, msg))) => {
            json!({"code": format!("ProvisioningState/failed/{code}"), "level": "Error", "displayStatus": "Provisioning failed", "message": msg, "time": rfc3339(now)})
        }
        ("Succeeded", _) => {
            json!({"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "time": rfc3339(vm.running_at.unwrap_or(now))})
        }
        (s, _) => {
            json!({"code": format!("ProvisioningState/{}", s.to_lowercase()), "level": "Info", "displayStatus": s})
        }
    };
    let power = if vm.provisioning == "Deleting" {
        json!({"code": "PowerState/stopping", "level": "Info", "displayStatus": "VM stopping"})
    } else if running {
        json!({"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"})
    } else if vm.provisioning == "Failed" {
        json!({"code": "PowerState/deallocated", "level": "Info", "displayStatus": "VM deallocated"})
    } else {
        json!({"code": "PowerState/starting", "level": "Info", "displayStatus": "VM starting"})
    };
    let disks: Vec<Value> = vm
        .disks
        .iter()
        .map(|d| json!({"name": d.name, "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "time": rfc3339(vm.time_created)}]}))
        .collect();
    let mut v = json!({
        "platformUpdateDomain": 0, "platformFaultDomain": 0, "isVMInStandbyPool": false,
        "hyperVGeneration": if vm.gen2 { "V2" } else { "V1" },
        "disks": disks, "statuses": [prov, power],
    });
    if running {
        let ready = super::vms::agent_ready(vm, now);
        v["vmAgent"] = if ready {
            v["computerName"] = json!(vm.computer_name);
            v["osName"] = json!(os_name(vm));
            v["osVersion"] = json!("Microsoft Windows NT 10.0.14393.0");
            json!({"vmAgentVersion": "2.7.41491.1102", "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Ready", "message": "GuestAgent is running and accepting new configurations.", "time": rfc3339(now)}], "extensionHandlers": []})
        } else {
            json!({"vmAgentVersion": "Unknown", "statuses": [{"code": "ProvisioningState/Unavailable", "level": "Warning", "displayStatus": "Not Ready", "message": "VM status blob is found but not yet populated.", "time": rfc3339(now)}]})
        };
    }
    if path_str(
        &vm.props,
        &["diagnosticsProfile", "bootDiagnostics", "enabled"],
    )
    .is_some()
        || vm
            .props
            .pointer("/diagnosticsProfile/bootDiagnostics/enabled")
            == Some(&json!(true))
    {
        v["bootDiagnostics"] = json!({});
    }
    let _ = w;
    v
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let vm = w
        .vms
        .get(&key(&id))
        .ok_or_else(|| ArmError::not_found("Microsoft.Compute/virtualMachines", &id))?;
    Ok(Resp::json(200, &render(w, vm, ctx.now)))
}
