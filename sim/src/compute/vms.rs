//! Virtual machines: PUT (validation, quota, NIC attach, managed disks), GET, list, DELETE with
//! deleteOption cascades and forceDeletion.

use super::{instance_view, usages};
use crate::clock::{rfc3339, SimTime};
use crate::envelope::{fingerprint, get_ci, path, path_str, str_ci, ArmError, ArmResult, Resp};
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::world::{
    key, new_guid, normalize_region, Disk, OpKind, Operation, Outcome, Vm, VmDiskRef, VmNicRef,
    World,
};
use serde_json::{json, Value};

const BAD_USERNAMES: &[&str] = &[
    "administrator",
    "admin",
    "user",
    "user1",
    "user2",
    "user3",
    "user4",
    "user5",
    "test",
    "test1",
    "test2",
    "test3",
    "admin1",
    "admin2",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
];
const BAD_PASSWORDS: &[&str] = &[
    "abc@123",
    "P@$$w0rd",
    "P@ssw0rd",
    "P@ssword123",
    "Pa$$word",
    "pass@word1",
    "Password!",
    "Password1",
    "Password22",
    "iloveyou!",
];

pub fn etag(vm: &Vm) -> String {
    format!("\"{}\"", vm.etag)
}

pub fn render(w: &World, vm: &Vm, now: SimTime, expand_iv: bool) -> Value {
    let mut props = vm.props.clone();
    props["vmId"] = json!(vm.vm_id);
    props["provisioningState"] = json!(vm.provisioning);
    props["timeCreated"] = json!(rfc3339(vm.time_created));
    if let Some(Value::Object(os)) = props.get_mut("osProfile") {
        os.entry("secrets").or_insert(json!([]));
        os.entry("allowExtensionOperations").or_insert(json!(true));
        os.entry("requireGuestProvisionSignal")
            .or_insert(json!(true));
    }
    if expand_iv {
        props["instanceView"] = instance_view::render(w, vm, now);
    }
    let mut v = json!({"name": vm.name, "id": vm.id, "type": "Microsoft.Compute/virtualMachines", "location": vm.location, "etag": etag(vm), "properties": props});
    if !vm.tags.is_null() {
        v["tags"] = vm.tags.clone();
    }
    v
}

pub fn render_key(w: &World, k: &str, now: SimTime) -> Option<Value> {
    w.vms.get(k).map(|vm| render(w, vm, now, false))
}

pub fn agent_ready(vm: &Vm, now: SimTime) -> bool {
    vm.provisioning == "Succeeded" && vm.agent_ready_at.is_some_and(|t| t <= now)
}

pub fn get(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let vm = w
        .vms
        .get(&key(&id))
        .ok_or_else(|| ArmError::not_found("Microsoft.Compute/virtualMachines", &id))?;
    let expand = ctx
        .q("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"));
    Ok(Resp::json(200, &render(w, vm, ctx.now, expand)))
}

pub fn list(w: &mut World, ctx: &Ctx) -> ArmResult {
    let prefix = format!("{}/", ctx.list_scope());
    let items: Vec<Value> = w
        .vms
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, vm)| render(w, vm, ctx.now, false))
        .collect();
    Ok(lro::page(w, ctx, items))
}

fn invalid(target: &str, msg: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidParameter", msg).target(target)
}

fn check_os_profile(props: &Value, windows: bool) -> Result<(String, String), ArmError> {
    let os = get_ci(props, "osProfile").ok_or_else(|| {
        invalid(
            "osProfile",
            "Required parameter 'osProfile' is missing (null).",
        )
    })?;
    let cn = str_ci(os, "computerName").unwrap_or("").to_string();
    let max = if windows { 15 } else { 64 };
    if cn.is_empty() {
        return Err(invalid(
            "computerName",
            "Required parameter 'osProfile.computerName' is missing (null).",
        ));
    }
    if cn.len() > max
        || !cn.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || cn.chars().all(|c| c.is_ascii_digit())
    {
        return Err(invalid("computerName", format!("Computer name '{cn}' is invalid: {} computer names must be 1-{max} characters long, contain only letters, digits and hyphens and not be all digits.", if windows { "Windows" } else { "Linux" })));
    }
    let user = str_ci(os, "adminUsername").unwrap_or("");
    if user.is_empty() {
        return Err(invalid(
            "adminUsername",
            "Required parameter 'osProfile.adminUsername' is missing (null).",
        ));
    }
    if (windows && user.len() > 20)
        || user.ends_with('.')
        || BAD_USERNAMES.iter().any(|b| b.eq_ignore_ascii_case(user))
    {
        return Err(invalid(
            "adminUsername",
            "The Admin Username specified is not allowed.",
        ));
    }
    if windows {
        let pw = str_ci(os, "adminPassword").unwrap_or("");
        let classes = [
            pw.chars().any(|c| c.is_lowercase()),
            pw.chars().any(|c| c.is_uppercase()),
            pw.chars().any(|c| c.is_ascii_digit()),
            pw.chars().any(|c| !c.is_alphanumeric()),
        ];
        let ok = (8..=123).contains(&pw.chars().count())
            && classes.iter().filter(|b| **b).count() >= 3
            && !pw.chars().any(|c| c.is_control())
            && !BAD_PASSWORDS.contains(&pw);
        if !ok {
            return Err(invalid("adminPassword", "The supplied password must be between 8-123 characters long and must satisfy at least 3 of password complexity requirements from the following:\r\n1) Contains an uppercase character\r\n2) Contains a lowercase character\r\n3) Contains a numeric digit\r\n4) Contains a special character\r\n5) Control characters are not allowed"));
        }
    }
    Ok((cn, user.to_string()))
}

fn is_gen2_image(img: Option<&Value>) -> bool {
    let sku = img
        .and_then(|i| str_ci(i, "sku"))
        .unwrap_or("")
        .to_ascii_lowercase();
    sku.contains("gensecond")
        || sku.ends_with("-g2")
        || sku.ends_with("gen2")
        || sku.contains("-gen2")
}

fn is_premium(t: &str) -> bool {
    let t = t.to_ascii_lowercase();
    t.starts_with("premium") || t.starts_with("ultrassd")
}

pub fn put(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let k = key(&id);
    let sub = ctx.seg(1).to_string();
    let body = ctx.json_body()?;
    let existing = w.vms.get(&k).cloned();
    if let Some(im) = ctx.header("if-match") {
        if !existing
            .as_ref()
            .is_some_and(|vm| im == "*" || im.trim() == etag(vm))
        {
            return Err(ArmError::new(
                412,
                "PreconditionFailed",
                format!("The specified precondition 'If-Match = {im}' failed."),
            ));
        }
    }
    if ctx.header("if-none-match").is_some_and(|v| v.trim() == "*") && existing.is_some() {
        return Err(ArmError::new(412, "PreconditionFailed", "The specified precondition 'If-None-Match = *' failed: the virtual machine already exists."));
    }
    let location = str_ci(&body, "location")
        .map(normalize_region)
        .ok_or_else(|| {
            ArmError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?;
    let props = get_ci(&body, "properties").cloned().ok_or_else(|| {
        invalid(
            "properties",
            "Required parameter 'properties' is missing (null).",
        )
    })?;
    let size = path_str(&props, &["hardwareProfile", "vmSize"])
        .ok_or_else(|| {
            invalid(
                "hardwareProfile.vmSize",
                "Required parameter 'hardwareProfile.vmSize' is missing (null).",
            )
        })?
        .to_string();
    let hash = fingerprint(&body);
    let windows = path(&props, &["osProfile", "linuxConfiguration"]).is_none();
    let image = path(&props, &["storageProfile", "imageReference"]).cloned();

    if let Some(ex) = &existing {
        if let Some(op) = ex
            .op
            .as_ref()
            .and_then(|o| w.ops.get(o))
            .filter(|o| !o.finished)
            .cloned()
        {
            if ex.body_hash == hash && op.kind == OpKind::VmPut {
                return Ok(lro::with_headers(
                    Resp::json(200, &render(w, ex, ctx.now, false)),
                    w,
                    ctx,
                    &op.id,
                    false,
                ));
            }
            return Err(ArmError::conflict(
                "OperationNotAllowed",
                format!(
                    "Operation 'PUT' is not allowed on VM '{}' since the VM is {}.",
                    ex.name,
                    ex.provisioning.to_lowercase()
                ),
            ));
        }
        let old_cn = path_str(&ex.props, &["osProfile", "computerName"]);
        let immut = [
            (
                "osProfile.computerName",
                old_cn.map(|s| s.to_string()),
                path_str(&props, &["osProfile", "computerName"]).map(|s| s.to_string()),
            ),
            (
                "osProfile.adminUsername",
                path_str(&ex.props, &["osProfile", "adminUsername"]).map(|s| s.to_string()),
                path_str(&props, &["osProfile", "adminUsername"]).map(|s| s.to_string()),
            ),
            (
                "storageProfile.osDisk.name",
                Some(
                    ex.disks
                        .iter()
                        .find(|d| d.os)
                        .map(|d| d.name.clone())
                        .unwrap_or_default(),
                ),
                path_str(&props, &["storageProfile", "osDisk", "name"]).map(|s| s.to_string()),
            ),
            (
                "storageProfile.imageReference",
                path(&ex.props, &["storageProfile", "imageReference"])
                    .map(crate::envelope::canonical),
                image.as_ref().map(crate::envelope::canonical),
            ),
            (
                "location",
                Some(normalize_region(&ex.location)),
                Some(location.clone()),
            ),
        ];
        for (name, old, new) in immut {
            if let (Some(o), Some(n)) = (old, new) {
                if !o.eq_ignore_ascii_case(&n) {
                    return Err(ArmError::conflict(
                        "PropertyChangeNotAllowed",
                        format!("Changing property '{name}' is not allowed."),
                    )
                    .target(name));
                }
            }
        }
        if ex.body_hash == hash && ex.provisioning == "Succeeded" {
            return Ok(Resp::json(200, &render(w, ex, ctx.now, false)));
        }
    }

    if w.region(&sub, &location).is_none() {
        return Err(ArmError::bad_request("LocationNotAvailableForResourceType", format!("The provided location '{location}' is not available for resource type 'Microsoft.Compute/virtualMachines'.")));
    }
    let sku = w.sku(&sub, &location, &size).ok_or_else(|| invalid("vmSize", format!("The requested VM size {size} is not available in the current region. The sizes available in the current region are: {}.", w.skus(&sub, &location).iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(","))))?;
    let zones: Vec<String> = get_ci(&body, "zones")
        .and_then(|z| z.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(|s| s.to_string()))
                .collect()
        })
        .unwrap_or_default();
    let restricted = sku.restrictions.iter().any(|r| {
        r.kind.eq_ignore_ascii_case("Location")
            || (r.kind.eq_ignore_ascii_case("Zone") && zones.iter().any(|z| r.zones.contains(z)))
    });
    if restricted {
        return Err(ArmError::conflict("SkuNotAvailable", format!("The requested VM size for resource 'Following SKUs have failed for Capacity Restrictions: {}' is currently not available in location '{location}'. Please try another size or deploy to a different location or different zone. See https://aka.ms/azureskunotavailable for details.", sku.name)));
    }
    let (computer_name, _user) = match (&existing, check_os_profile(&props, windows)) {
        (_, Ok(x)) => x,
        // osProfile may be omitted on update.
        (Some(ex), Err(_)) if get_ci(&props, "osProfile").is_none() => {
            (ex.computer_name.clone(), String::new())
        }
        (_, Err(e)) => return Err(e),
    };
    let os_disk = path(&props, &["storageProfile", "osDisk"])
        .cloned()
        .unwrap_or(json!({}));
    if get_ci(&os_disk, "vhd").is_some()
        || path(&props, &["storageProfile", "dataDisks"])
            .and_then(|d| d.as_array())
            .is_some_and(|a| a.iter().any(|d| get_ci(d, "vhd").is_some()))
    {
        return Err(invalid("storageProfile.osDisk.vhd", "Creating virtual machines with unmanaged (VHD blob) disks is no longer supported: unmanaged disks were retired. Use managedDisk instead."));
    }
    let mut disk_specs: Vec<(Value, bool)> = vec![(os_disk.clone(), true)];
    for d in path(&props, &["storageProfile", "dataDisks"])
        .and_then(|d| d.as_array())
        .cloned()
        .unwrap_or_default()
    {
        disk_specs.push((d, false));
    }
    for (d, _) in &disk_specs {
        let t = path_str(d, &["managedDisk", "storageAccountType"]).unwrap_or("Standard_LRS");
        if is_premium(t) && !sku.premium_io {
            return Err(invalid("storageProfile.osDisk.managedDisk.storageAccountType", format!("Requested operation cannot be performed because the VM size {} does not support the storage account type {t} of disk '{}'. Consider updating the VM to a size that supports Premium storage.", sku.name, str_ci(d, "name").unwrap_or(""))));
        }
    }
    if is_gen2_image(image.as_ref()) && !sku.hyperv_generations.to_ascii_uppercase().contains("V2")
    {
        return Err(ArmError::bad_request("BadRequest", format!("The selected VM size '{}' cannot boot Hypervisor Generation '2'. If this was a Create operation please check that the Hypervisor Generation of the Image matches the Hypervisor Generation of the selected VM Size. If this was an Update operation please select a Hypervisor Generation '2' VM Size. For more information, see https://aka.ms/azuregen2vm", sku.name)));
    }
    // NICs.
    if path(
        &props,
        &["networkProfile", "networkInterfaceConfigurations"],
    )
    .is_some()
    {
        return Err(invalid("networkProfile.networkInterfaceConfigurations", "networkInterfaceConfigurations (VM-created NICs) is not supported by failback-sim; create the NIC first and reference it by id."));
    }
    let nic_refs = path(&props, &["networkProfile", "networkInterfaces"])
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    if nic_refs.is_empty() {
        return Err(invalid("networkProfile", "Virtual machine must have at least one network interface (networkProfile.networkInterfaces)."));
    }
    let mut nics = vec![];
    for (i, r) in nic_refs.iter().enumerate() {
        let nic_id = str_ci(r, "id").unwrap_or("");
        let nk = key(nic_id);
        let Some(nic) = w.nics.get(&nk) else {
            return Err(ArmError::bad_request("InvalidResourceReference", format!("Resource {nic_id} referenced by resource {id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.")));
        };
        if normalize_region(&nic.location) != location {
            return Err(ArmError::bad_request("InvalidResourceReference", format!("Network interface {nic_id} is in location '{}' but virtual machine {id} is in '{location}'. Both resources must be in the same region.", nic.location)));
        }
        if let Some(other) = nic
            .vm_id
            .as_ref()
            .filter(|v| key(v) != k && w.vms.contains_key(&key(v)))
        {
            return Err(ArmError::bad_request("NicInUse", format!("Network interface {nic_id} is attached to virtual machine {other}; a network interface cannot be attached to multiple virtual machines.")));
        }
        if nic.vm_id.is_none() && nic.reserved_until.is_some_and(|u| u > ctx.now) {
            return Err(ArmError::bad_request("NicReservedForAnotherVm", format!("Network interface {nic_id} is reserved for another VM for a short while after the VM using it was deleted. Retry later.")));
        }
        if nic.provisioning != "Succeeded" {
            return Err(ArmError::new(
                429,
                "RetryableErrorDueToAnotherOperation",
                format!(
                    "Network interface {nic_id} is {} ; retry after the operation on it completes.",
                    nic.provisioning.to_lowercase()
                ),
            )
            .header("Retry-After", "10"));
        }
        nics.push(VmNicRef {
            key: nk,
            id: nic.id.clone(),
            primary: path(r, &["properties", "primary"])
                .and_then(|v| v.as_bool())
                .unwrap_or(i == 0),
            delete_option: path_str(r, &["properties", "deleteOption"])
                .unwrap_or("Detach")
                .to_string(),
        });
    }
    // Quota (two tiers: family and regional total).
    let prev_vcpus = existing.as_ref().map(|e| e.vcpus).unwrap_or(0);
    let prev_family = existing
        .as_ref()
        .map(|e| e.family.clone())
        .unwrap_or_default();
    for (qname, label) in [
        (sku.family.clone(), sku.family.clone()),
        ("cores".to_string(), "Core".to_string()),
    ] {
        let credit = if qname == "cores" || qname.eq_ignore_ascii_case(&prev_family) {
            prev_vcpus
        } else {
            0
        };
        let cur = usages::current(w, &sub, &location, &qname) - credit;
        let lim = usages::limit(w, &sub, &location, &qname);
        if cur + sku.vcpus > lim {
            return Err(ArmError::conflict("OperationNotAllowed", format!("Operation could not be completed as it results in exceeding approved {label} quota. Operation results in exceeding quota limits of {label}. Maximum allowed: {lim}, Current in use: {cur}, Additional requested: {}. Location: {location}.", sku.vcpus)).target("vmSize"));
        }
    }
    if existing.is_none() {
        let vcount = usages::current(w, &sub, &location, "virtualMachines");
        if vcount + 1 > usages::limit(w, &sub, &location, "virtualMachines") {
            return Err(ArmError::conflict(
                "OperationNotAllowed",
                "Operation results in exceeding quota limits of virtualMachines.",
            ));
        }
    }

    // Managed disks (created with the VM, managedBy = VM).
    let rg_prefix = ctx.prefix(4);
    let mut disks = existing
        .as_ref()
        .map(|e| e.disks.clone())
        .unwrap_or_default();
    let mut new_disks: Vec<Disk> = vec![];
    let mut props_out = props.clone();
    if let Some(Value::Object(os)) = props_out.get_mut("osProfile") {
        os.retain(|k2, _| {
            !k2.eq_ignore_ascii_case("adminPassword") && !k2.eq_ignore_ascii_case("customData")
        });
        if windows {
            let wc = os.entry("windowsConfiguration").or_insert(json!({}));
            if let Value::Object(wc) = wc {
                wc.entry("provisionVMAgent").or_insert(json!(true));
                wc.entry("enableAutomaticUpdates").or_insert(json!(true));
            }
        }
    }
    if existing.is_none() {
        for (idx, (d, os)) in disk_specs.iter().enumerate() {
            let name = str_ci(d, "name").map(|s| s.to_string()).unwrap_or_else(|| {
                if *os {
                    format!("{}_OsDisk_1_{}", ctx.seg(7), new_guid().replace('-', ""))
                } else {
                    format!("{}_DataDisk_{idx}", ctx.seg(7))
                }
            });
            let create = str_ci(d, "createOption")
                .unwrap_or(if *os { "FromImage" } else { "Empty" })
                .to_string();
            let disk_id = format!("{rg_prefix}/providers/Microsoft.Compute/disks/{name}");
            let dk = key(&disk_id);
            if create.eq_ignore_ascii_case("Attach") {
                let mid = path_str(d, &["managedDisk", "id"])
                    .map(key)
                    .unwrap_or(dk.clone());
                match w.disks.get(&mid) {
                    Some(ex) if ex.managed_by.is_none() => {}
                    Some(ex) => {
                        return Err(ArmError::conflict(
                            "OperationNotAllowed",
                            format!(
                                "Disk {} is already attached to {}.",
                                ex.name,
                                ex.managed_by.clone().unwrap_or_default()
                            ),
                        ))
                    }
                    None => {
                        return Err(ArmError::new(
                            404,
                            "NotFound",
                            format!("Disk {mid} was not found."),
                        ))
                    }
                }
                disks.push(VmDiskRef {
                    key: mid.clone(),
                    id: w.disks.get(&mid).map(|x| x.id.clone()).unwrap_or_default(),
                    name,
                    lun: get_ci(d, "lun").and_then(|v| v.as_i64()),
                    delete_option: str_ci(d, "deleteOption").unwrap_or("Detach").into(),
                    os: *os,
                });
                continue;
            }
            if w.disks.contains_key(&dk) || new_disks.iter().any(|x| key(&x.id) == dk) {
                return Err(ArmError::conflict("Conflict", format!("Disk {name} already exists in resource group {}. Only CreateOption.Attach is supported.", ctx.seg(3))));
            }
            let size = get_ci(d, "diskSizeGB")
                .and_then(|v| v.as_i64())
                .unwrap_or(if *os {
                    if windows {
                        127
                    } else {
                        30
                    }
                } else {
                    0
                });
            if !*os && size <= 0 {
                return Err(invalid(
                    "dataDisks.diskSizeGB",
                    "Required parameter 'dataDisk.diskSizeGB' is missing (null).",
                ));
            }
            let sku_name = path_str(d, &["managedDisk", "storageAccountType"])
                .unwrap_or("Standard_LRS")
                .to_string();
            new_disks.push(Disk {
                id: disk_id.clone(),
                name: name.clone(),
                sub: sub.clone(),
                location: location.clone(),
                tags: Value::Null,
                sku: sku_name,
                size_gb: size,
                os_type: os.then(|| {
                    if windows {
                        "Windows".to_string()
                    } else {
                        "Linux".to_string()
                    }
                }),
                hyperv_generation: os.then(|| {
                    if is_gen2_image(image.as_ref()) {
                        "V2".to_string()
                    } else {
                        "V1".to_string()
                    }
                }),
                create_option: create,
                managed_by: Some(id.clone()),
                provisioning: "Succeeded".into(),
                time_created: ctx.now,
                unique_id: new_guid(),
                op: None,
            });
            disks.push(VmDiskRef {
                key: dk,
                id: disk_id,
                name,
                lun: get_ci(d, "lun").and_then(|v| v.as_i64()),
                delete_option: str_ci(d, "deleteOption").unwrap_or("Detach").into(),
                os: *os,
            });
        }
    }
    // Echo the storage profile with disk ids and sizes filled in.
    if let Some(sp) = props_out.get_mut("storageProfile") {
        let fill =
            |d: &mut Value, r: Option<&VmDiskRef>, size: Option<i64>, os_type: Option<&str>| {
                if let Value::Object(m) = d {
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
            };
        let os_ref = disks.iter().find(|d| d.os).cloned();
        let sizes: Vec<(String, i64)> = new_disks
            .iter()
            .map(|d| (key(&d.id), d.size_gb))
            .chain(
                disks
                    .iter()
                    .filter_map(|r| w.disks.get(&r.key).map(|d| (r.key.clone(), d.size_gb))),
            )
            .collect();
        let size_of = |r: &Option<VmDiskRef>| {
            r.as_ref()
                .and_then(|r| sizes.iter().find(|(k2, _)| *k2 == r.key).map(|(_, s)| *s))
        };
        if let Some(od) = sp.get_mut("osDisk") {
            fill(
                od,
                os_ref.as_ref(),
                size_of(&os_ref),
                Some(if windows { "Windows" } else { "Linux" }),
            );
        }
        let data_refs: Vec<VmDiskRef> = disks.iter().filter(|d| !d.os).cloned().collect();
        match sp.get_mut("dataDisks") {
            Some(Value::Array(a)) => {
                for (i, d) in a.iter_mut().enumerate() {
                    let r = data_refs.get(i).cloned();
                    fill(d, r.as_ref(), size_of(&r), None);
                }
            }
            _ => sp["dataDisks"] = json!([]),
        }
    }
    let mut vm = Vm {
        id: existing
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or(id.clone()),
        name: existing
            .as_ref()
            .map(|e| e.name.clone())
            .unwrap_or(ctx.seg(7).to_string()),
        sub: sub.clone(),
        location: location.clone(),
        tags: get_ci(&body, "tags").cloned().unwrap_or(Value::Null),
        etag: existing.as_ref().map(|e| e.etag + 1).unwrap_or(1),
        vm_id: existing
            .as_ref()
            .map(|e| e.vm_id.clone())
            .unwrap_or_else(new_guid),
        size: sku.name.clone(),
        family: sku.family.clone(),
        vcpus: sku.vcpus,
        props: props_out,
        computer_name,
        gen2: is_gen2_image(image.as_ref()),
        nics: nics.clone(),
        disks,
        provisioning: if existing.is_some() {
            "Updating".into()
        } else {
            "Creating".into()
        },
        failure: None,
        time_created: existing.as_ref().map(|e| e.time_created).unwrap_or(ctx.now),
        running_at: existing.as_ref().and_then(|e| e.running_at),
        agent_ready_at: existing.as_ref().and_then(|e| e.agent_ready_at),
        op: None,
        action_run: existing.as_ref().and_then(|e| e.action_run.clone()),
        body_hash: hash,
    };
    for d in new_disks {
        w.disks.insert(key(&d.id), d);
    }
    for n in &nics {
        if let Some(nic) = w.nics.get_mut(&n.key) {
            nic.vm_id = Some(vm.id.clone());
            nic.reserved_until = None;
        }
    }
    let secs = if existing.is_some() {
        w.timings().vm_update_secs
    } else {
        w.timings().vm_create_secs
    };
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Compute",
            kind: OpKind::VmPut,
            sub: &sub,
            location: &location,
            target: &k,
            target_id: &vm.id,
            secs,
        },
    );
    vm.op = Some(op.clone());
    let status = if existing.is_some() { 200 } else { 201 };
    let r = Resp::json(status, &render(w, &vm, ctx.now, false));
    w.vms.insert(k, vm);
    Ok(lro::with_headers(r, w, ctx, &op, false))
}

pub fn on_put_done(w: &mut World, op: &Operation, at: SimTime) {
    let agent = w.timings().agent_ready_secs;
    let Some(vm) = w.vms.get_mut(&op.target) else {
        return;
    };
    if vm.op.as_deref() != Some(op.id.as_str()) {
        return;
    }
    vm.op = None;
    match &op.outcome {
        Outcome::Succeeded => {
            vm.provisioning = "Succeeded".into();
            if vm.running_at.is_none() {
                vm.running_at = Some(at);
                vm.agent_ready_at = Some(at + (agent * 1000.0) as i64);
            }
        }
        Outcome::Failed { code, message, .. } => {
            vm.provisioning = "Failed".into();
            vm.failure = Some((code.clone(), message.clone()));
            // A guest that never finished provisioning is running but its agent is not.
            if code == "OSProvisioningTimedOut" {
                vm.running_at = Some(at);
            }
        }
        Outcome::Canceled => vm.provisioning = "Canceled".into(),
    }
    vm.etag += 1;
}

pub fn delete(w: &mut World, ctx: &Ctx) -> ArmResult {
    let id = ctx.prefix(8);
    let k = key(&id);
    let Some(vm) = w.vms.get(&k).cloned() else {
        return Ok(Resp::empty(204));
    };
    if let Some(im) = ctx.header("if-match") {
        if im != "*" && im.trim() != etag(&vm) {
            return Err(ArmError::new(
                412,
                "PreconditionFailed",
                format!("The specified precondition 'If-Match = {im}' failed."),
            ));
        }
    }
    if let Some(op) = vm
        .op
        .as_ref()
        .and_then(|o| w.ops.get(o))
        .filter(|o| !o.finished && o.kind == OpKind::VmDelete)
        .cloned()
    {
        return Ok(lro::with_headers(Resp::empty(202), w, ctx, &op.id, true));
    }
    let force = ctx
        .q("forceDeletion")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    for o in [vm.op.clone(), vm.action_run.clone()].into_iter().flatten() {
        lro::cancel(w, &o);
    }
    // Running scripts on the VM stop with it.
    let rc_keys: Vec<String> = w
        .run_commands
        .iter()
        .filter(|(_, rc)| rc.vm_key == k)
        .map(|(rk, _)| rk.clone())
        .collect();
    for rk in rc_keys {
        super::run_commands::cancel_execution(w, &rk, ctx.now);
    }
    crate::guest::cancel_registrations_for_vm(w, &k, ctx.now);
    let secs = if force {
        w.timings().vm_force_delete_secs
    } else {
        w.timings().vm_delete_secs
    };
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Compute",
            kind: OpKind::VmDelete,
            sub: ctx.seg(1),
            location: &vm.location,
            target: &k,
            target_id: &vm.id,
            secs,
        },
    );
    if let Some(v) = w.vms.get_mut(&k) {
        v.provisioning = "Deleting".into();
        v.op = Some(op.clone());
        v.action_run = None;
        v.etag += 1;
    }
    Ok(lro::with_headers(Resp::empty(202), w, ctx, &op, true))
}

pub fn on_delete_done(w: &mut World, op: &Operation, at: SimTime) {
    if op.outcome != Outcome::Succeeded {
        if let Some(vm) = w.vms.get_mut(&op.target) {
            vm.provisioning = "Failed".into();
            vm.op = None;
        }
        return;
    }
    let Some(vm) = w.vms.remove(&op.target) else {
        return;
    };
    let reserve = (w.timings().nic_reservation_secs * 1000.0) as i64;
    for n in &vm.nics {
        if n.delete_option.eq_ignore_ascii_case("Delete") {
            w.nics.remove(&n.key);
        } else if let Some(nic) = w.nics.get_mut(&n.key) {
            nic.vm_id = None;
            nic.reserved_until = Some(at + reserve);
            nic.etag = format!("W/\"{}\"", new_guid());
        }
    }
    for d in &vm.disks {
        if d.delete_option.eq_ignore_ascii_case("Delete") {
            w.disks.remove(&d.key);
        } else if let Some(disk) = w.disks.get_mut(&d.key) {
            disk.managed_by = None;
        }
    }
    w.run_commands.retain(|_, rc| rc.vm_key != op.target);
    crate::asr::fabrics::vm_gone(w, &op.target, at);
}
