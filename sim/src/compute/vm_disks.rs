//! A VM PUT's managed disks: the disks its storage profile asks for, the checks on them, the
//! disks created with the VM (`managedBy` = the VM) or attached to it, and the storage profile
//! echoed back with disk ids and sizes filled in.

use super::vm_put::VmPutRequest;
use crate::envelope::{get_ci, path, path_str, str_ci, ArmError};
use crate::scenario::SkuDef;
use crate::world::{key, new_guid, Disk, Vm, VmDiskRef, World};
use serde_json::{json, Value};

/// One disk of the storage profile: its JSON and whether it is the OS disk.
pub struct DiskSpec {
    pub json: Value,
    pub os: bool,
}

/// The VM's disk references, and the disks to create with it.
pub struct DiskPlan {
    pub refs: Vec<VmDiskRef>,
    pub new: Vec<Disk>,
}

impl DiskPlan {
    /// An update keeps the disks the VM has.
    pub fn keep(vm: &Vm) -> DiskPlan {
        DiskPlan {
            refs: vm.disks.clone(),
            new: vec![],
        }
    }
}

fn invalid(target: &str, msg: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidParameter", msg).target(target)
}

/// The OS disk then the data disks; unmanaged (VHD) disks are refused.
pub fn specs(props: &Value) -> Result<Vec<DiskSpec>, ArmError> {
    let os_disk = path(props, &["storageProfile", "osDisk"])
        .cloned()
        .unwrap_or(json!({}));
    let data = path(props, &["storageProfile", "dataDisks"])
        .and_then(|d| d.as_array())
        .cloned()
        .unwrap_or_default();
    if get_ci(&os_disk, "vhd").is_some() || data.iter().any(|d| get_ci(d, "vhd").is_some()) {
        return Err(invalid("storageProfile.osDisk.vhd", "Creating virtual machines with unmanaged (VHD blob) disks is no longer supported: unmanaged disks were retired. Use managedDisk instead."));
    }
    let mut out = vec![DiskSpec {
        json: os_disk,
        os: true,
    }];
    out.extend(data.into_iter().map(|json| DiskSpec { json, os: false }));
    Ok(out)
}

fn is_premium(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    t.starts_with("premium") || t.starts_with("ultrassd")
}

/// Premium storage needs a size with premium IO.
pub fn check_storage_types(specs: &[DiskSpec], sku: &SkuDef) -> Result<(), ArmError> {
    for d in specs {
        let t = path_str(&d.json, &["managedDisk", "storageAccountType"]).unwrap_or("Standard_LRS");
        if is_premium(t) && !sku.premium_io {
            return Err(invalid("storageProfile.osDisk.managedDisk.storageAccountType", format!("Requested operation cannot be performed because the VM size {} does not support the storage account type {t} of disk '{}'. Consider updating the VM to a size that supports Premium storage.", sku.name, str_ci(&d.json, "name").unwrap_or(""))));
        }
    }
    Ok(())
}

/// A new VM's disks: `Attach` references an existing free disk; anything else creates one.
pub fn plan(w: &World, req: &VmPutRequest, specs: &[DiskSpec]) -> Result<DiskPlan, ArmError> {
    let mut plan = DiskPlan {
        refs: vec![],
        new: vec![],
    };
    for (idx, spec) in specs.iter().enumerate() {
        let d = &spec.json;
        let name = str_ci(d, "name").map(|s| s.to_string()).unwrap_or_else(|| {
            if spec.os {
                format!("{}_OsDisk_1_{}", req.name, new_guid().replace('-', ""))
            } else {
                format!("{}_DataDisk_{idx}", req.name)
            }
        });
        let create =
            str_ci(d, "createOption").unwrap_or(if spec.os { "FromImage" } else { "Empty" });
        let disk_id = format!(
            "{}/providers/Microsoft.Compute/disks/{name}",
            req.resource_group_id
        );
        let reference = |key: String, id: String| VmDiskRef {
            key,
            id,
            name: name.clone(),
            lun: get_ci(d, "lun").and_then(|v| v.as_i64()),
            delete_option: str_ci(d, "deleteOption").unwrap_or("Detach").into(),
            os: spec.os,
        };
        if create.eq_ignore_ascii_case("Attach") {
            let mid = path_str(d, &["managedDisk", "id"])
                .map(key)
                .unwrap_or(key(&disk_id));
            let existing = attachable(w, &mid)?;
            plan.refs.push(reference(mid, existing.id.clone()));
            continue;
        }
        let dk = key(&disk_id);
        if w.disks.contains_key(&dk) || plan.new.iter().any(|x| key(&x.id) == dk) {
            return Err(ArmError::conflict("Conflict", format!("Disk {name} already exists in resource group {}. Only CreateOption.Attach is supported.", req.resource_group)));
        }
        plan.new.push(new_disk(req, spec, &disk_id, &name, create)?);
        plan.refs.push(reference(dk, disk_id));
    }
    Ok(plan)
}

fn attachable<'a>(w: &'a World, disk_key: &str) -> Result<&'a Disk, ArmError> {
    match w.disks.get(disk_key) {
        Some(ex) if ex.managed_by.is_none() => Ok(ex),
        Some(ex) => Err(ArmError::conflict(
            "OperationNotAllowed",
            format!(
                "Disk {} is already attached to {}.",
                ex.name,
                ex.managed_by.clone().unwrap_or_default()
            ),
        )),
        None => Err(ArmError::new(
            404,
            "NotFound",
            format!("Disk {disk_key} was not found."),
        )),
    }
}

fn new_disk(
    req: &VmPutRequest,
    spec: &DiskSpec,
    disk_id: &str,
    name: &str,
    create: &str,
) -> Result<Disk, ArmError> {
    let default_size = match (spec.os, req.windows) {
        (true, true) => 127,
        (true, false) => 30,
        (false, _) => 0,
    };
    let size = get_ci(&spec.json, "diskSizeGB")
        .and_then(|v| v.as_i64())
        .unwrap_or(default_size);
    if !spec.os && size <= 0 {
        return Err(invalid(
            "dataDisks.diskSizeGB",
            "Required parameter 'dataDisk.diskSizeGB' is missing (null).",
        ));
    }
    let os_type = if req.windows { "Windows" } else { "Linux" };
    let generation = if req.gen2_image() { "V2" } else { "V1" };
    Ok(Disk {
        id: disk_id.to_string(),
        name: name.to_string(),
        sub: req.sub.clone(),
        location: req.location.clone(),
        tags: Value::Null,
        sku: path_str(&spec.json, &["managedDisk", "storageAccountType"])
            .unwrap_or("Standard_LRS")
            .to_string(),
        size_gb: size,
        os_type: spec.os.then(|| os_type.to_string()),
        hyperv_generation: spec.os.then(|| generation.to_string()),
        create_option: create.to_string(),
        managed_by: Some(req.id.clone()),
        provisioning: "Succeeded".into(),
        time_created: req.at,
        unique_id: new_guid(),
        op: None,
    })
}

/// `properties` as stored and echoed: the admin password and custom data dropped, Windows
/// defaults filled in, the storage profile with disk ids and sizes.
pub fn echo(w: &World, req: &VmPutRequest, plan: &DiskPlan) -> Value {
    let mut props = req.props.clone();
    if let Some(Value::Object(os)) = props.get_mut("osProfile") {
        os.retain(|k, _| {
            !k.eq_ignore_ascii_case("adminPassword") && !k.eq_ignore_ascii_case("customData")
        });
        if req.windows {
            if let Value::Object(wc) = os.entry("windowsConfiguration").or_insert(json!({})) {
                wc.entry("provisionVMAgent").or_insert(json!(true));
                wc.entry("enableAutomaticUpdates").or_insert(json!(true));
            }
        }
    }
    if let Some(sp) = props.get_mut("storageProfile") {
        fill_storage_profile(w, sp, plan, req.windows);
    }
    props
}

fn fill_storage_profile(w: &World, sp: &mut Value, plan: &DiskPlan, windows: bool) {
    let size_of = |r: Option<&VmDiskRef>| {
        let r = r?;
        plan.new
            .iter()
            .find(|d| key(&d.id) == r.key)
            .or_else(|| w.disks.get(&r.key))
            .map(|d| d.size_gb)
    };
    let os_ref = plan.refs.iter().find(|d| d.os);
    if let Some(od) = sp.get_mut("osDisk") {
        let os_type = if windows { "Windows" } else { "Linux" };
        fill_disk(od, os_ref, size_of(os_ref), Some(os_type));
    }
    let data_refs: Vec<&VmDiskRef> = plan.refs.iter().filter(|d| !d.os).collect();
    match sp.get_mut("dataDisks") {
        Some(Value::Array(a)) => {
            for (i, d) in a.iter_mut().enumerate() {
                let r = data_refs.get(i).copied();
                fill_disk(d, r, size_of(r), None);
            }
        }
        _ => sp["dataDisks"] = json!([]),
    }
}

fn fill_disk(d: &mut Value, r: Option<&VmDiskRef>, size: Option<i64>, os_type: Option<&str>) {
    let Value::Object(m) = d else {
        return;
    };
    if let Some(r) = r {
        let md = m
            .entry("managedDisk")
            .or_insert(json!({"storageAccountType": "Standard_LRS"}));
        md["id"] = json!(r.id);
        m.insert("name".into(), json!(r.name));
        m.entry("deleteOption").or_insert(json!("Detach"));
    }
    if let Some(s) = size {
        m.entry("diskSizeGB").or_insert(json!(s));
    }
    if let Some(t) = os_type {
        m.entry("osType").or_insert(json!(t));
    }
    m.entry("caching").or_insert(json!("ReadWrite"));
}
