//! `PUT …/virtualMachines/{name}`: create or update a VM. Each check ARM makes is one function,
//! in ARM's order: preconditions, the request's required fields, immutable properties, size and
//! its restrictions, OS profile, disks, generation, NICs, quota; then the managed disks and the
//! operation that provisions the VM.

use super::usages;
use super::vm_disks::{self, DiskPlan};
use super::vm_profile::check_os_profile;
use super::vms::{etag, render};
use crate::envelope::{fingerprint, get_ci, path, path_str, str_ci, ArmError, ArmResult, Resp};
use crate::lro::{self, Spec};
use crate::router::Ctx;
use crate::scenario::SkuDef;
use crate::world::{key, new_guid, normalize_region, OpKind, Vm, VmDiskRef, VmNicRef, World};
use serde_json::Value;

/// What a VM PUT asks for, read from its path and body.
pub struct VmPutRequest {
    pub id: String,
    pub key: String,
    pub name: String,
    pub sub: String,
    /// `/subscriptions/{s}/resourceGroups/{rg}` as the caller spelled it.
    pub resource_group_id: String,
    pub resource_group: String,
    pub body: Value,
    pub props: Value,
    /// Normalized (`westeurope`).
    pub location: String,
    pub size: String,
    pub hash: String,
    pub windows: bool,
    pub image: Option<Value>,
    pub at: i64,
}

fn invalid(target: &str, msg: impl Into<String>) -> ArmError {
    ArmError::bad_request("InvalidParameter", msg).target(target)
}

impl VmPutRequest {
    fn read(ctx: &Ctx, body: Value) -> Result<VmPutRequest, ArmError> {
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
        let id = ctx.prefix(8);
        Ok(VmPutRequest {
            key: key(&id),
            id,
            name: ctx.name_of("virtualmachines").to_string(),
            sub: ctx.subscription().to_string(),
            resource_group_id: ctx.prefix(4),
            resource_group: ctx.resource_group().to_string(),
            hash: fingerprint(&body),
            windows: path(&props, &["osProfile", "linuxConfiguration"]).is_none(),
            image: path(&props, &["storageProfile", "imageReference"]).cloned(),
            location,
            size,
            props,
            body,
            at: ctx.now,
        })
    }

    pub fn gen2_image(&self) -> bool {
        let sku = self
            .image
            .as_ref()
            .and_then(|i| str_ci(i, "sku"))
            .unwrap_or("")
            .to_ascii_lowercase();
        sku.contains("gensecond")
            || sku.ends_with("-g2")
            || sku.ends_with("gen2")
            || sku.contains("-gen2")
    }
}

pub fn put(w: &mut World, ctx: &Ctx) -> ArmResult {
    let body = ctx.json_body()?;
    let existing = w.vms.get(&key(&ctx.prefix(8))).cloned();
    check_preconditions(ctx, existing.as_ref())?;
    let req = VmPutRequest::read(ctx, body)?;
    if let Some(ex) = &existing {
        if let Some(answer) = compare_with_existing(w, ctx, &req, ex)? {
            return Ok(answer);
        }
    }
    let sku = check_size(w, &req)?;
    let computer_name = match (&existing, check_os_profile(&req.props, req.windows)) {
        (_, Ok(name)) => name,
        // osProfile may be omitted on update.
        (Some(ex), Err(_)) if get_ci(&req.props, "osProfile").is_none() => ex.computer_name.clone(),
        (_, Err(e)) => return Err(e),
    };
    let specs = vm_disks::specs(&req.props)?;
    vm_disks::check_storage_types(&specs, &sku)?;
    check_generation(&req, &sku)?;
    let nics = attach_nics(w, ctx, &req)?;
    check_quota(w, &req, &sku, existing.as_ref())?;
    let plan = match &existing {
        Some(ex) => DiskPlan::keep(ex),
        None => vm_disks::plan(w, &req, &specs)?,
    };
    let parts = VmParts {
        props: vm_disks::echo(w, &req, &plan),
        computer_name,
        nics,
        disks: plan.refs.clone(),
    };
    let vm = new_vm(&req, &sku, existing.as_ref(), parts);
    Ok(commit(w, ctx, vm, plan, existing.is_some()))
}

fn check_preconditions(ctx: &Ctx, existing: Option<&Vm>) -> Result<(), ArmError> {
    if let Some(im) = ctx.header("if-match") {
        if !existing.is_some_and(|vm| im == "*" || im.trim() == etag(vm)) {
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
    Ok(())
}

/// An update of an existing VM: the same body again answers at once (200, with the operation
/// still in flight if there is one); another PUT during an operation, or a change of an
/// immutable property, is refused.
fn compare_with_existing(
    w: &World,
    ctx: &Ctx,
    req: &VmPutRequest,
    ex: &Vm,
) -> Result<Option<Resp>, ArmError> {
    let in_flight = ex
        .op
        .as_ref()
        .and_then(|o| w.ops.get(o))
        .filter(|o| !o.finished);
    if let Some(op) = in_flight {
        if ex.body_hash == req.hash && op.kind == OpKind::VmPut {
            let r = Resp::json(200, &render(w, ex, ctx.now, false));
            return Ok(Some(lro::with_headers(r, w, ctx, &op.id, false)));
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
    check_immutable(req, ex)?;
    if ex.body_hash == req.hash && ex.provisioning == "Succeeded" {
        return Ok(Some(Resp::json(200, &render(w, ex, ctx.now, false))));
    }
    Ok(None)
}

fn check_immutable(req: &VmPutRequest, ex: &Vm) -> Result<(), ArmError> {
    let text = |v: &Value, p: &[&str]| path_str(v, p).map(|s| s.to_string());
    let image =
        |v: &Value| path(v, &["storageProfile", "imageReference"]).map(crate::envelope::canonical);
    let os_disk = ex.disks.iter().find(|d| d.os).map(|d| d.name.clone());
    let immutable = [
        (
            "osProfile.computerName",
            text(&ex.props, &["osProfile", "computerName"]),
            text(&req.props, &["osProfile", "computerName"]),
        ),
        (
            "osProfile.adminUsername",
            text(&ex.props, &["osProfile", "adminUsername"]),
            text(&req.props, &["osProfile", "adminUsername"]),
        ),
        (
            "storageProfile.osDisk.name",
            Some(os_disk.unwrap_or_default()),
            text(&req.props, &["storageProfile", "osDisk", "name"]),
        ),
        (
            "storageProfile.imageReference",
            image(&ex.props),
            image(&req.props),
        ),
        (
            "location",
            Some(normalize_region(&ex.location)),
            Some(req.location.clone()),
        ),
    ];
    for (name, old, new) in immutable {
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
    Ok(())
}

/// The region serves the resource type, the size exists there, and no restriction covers it.
fn check_size(w: &World, req: &VmPutRequest) -> Result<SkuDef, ArmError> {
    let (sub, location) = (&req.sub, &req.location);
    if w.region(sub, location).is_none() {
        return Err(ArmError::bad_request("LocationNotAvailableForResourceType", format!("The provided location '{location}' is not available for resource type 'Microsoft.Compute/virtualMachines'.")));
    }
    let sku = w.sku(sub, location, &req.size).ok_or_else(|| {
        let names: Vec<String> = w.skus(sub, location).into_iter().map(|s| s.name).collect();
        invalid("vmSize", format!("The requested VM size {} is not available in the current region. The sizes available in the current region are: {}.", req.size, names.join(",")))
    })?;
    let zones: Vec<String> = get_ci(&req.body, "zones")
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
    Ok(sku)
}

fn check_generation(req: &VmPutRequest, sku: &SkuDef) -> Result<(), ArmError> {
    if req.gen2_image() && !sku.hyperv_generations.to_ascii_uppercase().contains("V2") {
        return Err(ArmError::bad_request("BadRequest", format!("The selected VM size '{}' cannot boot Hypervisor Generation '2'. If this was a Create operation please check that the Hypervisor Generation of the Image matches the Hypervisor Generation of the selected VM Size. If this was an Update operation please select a Hypervisor Generation '2' VM Size. For more information, see https://aka.ms/azuregen2vm", sku.name)));
    }
    Ok(())
}

/// Every referenced NIC exists in the VM's region, is free (not attached elsewhere, not reserved
/// after a VM delete) and not mid-change.
fn attach_nics(w: &World, ctx: &Ctx, req: &VmPutRequest) -> Result<Vec<VmNicRef>, ArmError> {
    if path(
        &req.props,
        &["networkProfile", "networkInterfaceConfigurations"],
    )
    .is_some()
    {
        return Err(invalid("networkProfile.networkInterfaceConfigurations", "networkInterfaceConfigurations (VM-created NICs) is not supported by failback-sim; create the NIC first and reference it by id."));
    }
    let refs = path(&req.props, &["networkProfile", "networkInterfaces"])
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    if refs.is_empty() {
        return Err(invalid("networkProfile", "Virtual machine must have at least one network interface (networkProfile.networkInterfaces)."));
    }
    refs.iter()
        .enumerate()
        .map(|(i, r)| attach_nic(w, ctx, req, r, i == 0))
        .collect()
}

fn attach_nic(
    w: &World,
    ctx: &Ctx,
    req: &VmPutRequest,
    r: &Value,
    first: bool,
) -> Result<VmNicRef, ArmError> {
    let (id, location) = (&req.id, &req.location);
    let nic_id = str_ci(r, "id").unwrap_or("");
    let nk = key(nic_id);
    let Some(nic) = w.nics.get(&nk) else {
        return Err(ArmError::bad_request("InvalidResourceReference", format!("Resource {nic_id} referenced by resource {id} was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.")));
    };
    if normalize_region(&nic.location) != *location {
        return Err(ArmError::bad_request("InvalidResourceReference", format!("Network interface {nic_id} is in location '{}' but virtual machine {id} is in '{location}'. Both resources must be in the same region.", nic.location)));
    }
    if let Some(other) = nic
        .vm_id
        .as_ref()
        .filter(|v| key(v) != req.key && w.vms.contains_key(&key(v)))
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
    Ok(VmNicRef {
        key: nk,
        id: nic.id.clone(),
        primary: path(r, &["properties", "primary"])
            .and_then(|v| v.as_bool())
            .unwrap_or(first),
        delete_option: path_str(r, &["properties", "deleteOption"])
            .unwrap_or("Detach")
            .to_string(),
    })
}

/// Two tiers, as ARM checks them: the size's family, then the regional total; and the VM count.
fn check_quota(
    w: &World,
    req: &VmPutRequest,
    sku: &SkuDef,
    existing: Option<&Vm>,
) -> Result<(), ArmError> {
    let (sub, location) = (&req.sub, &req.location);
    let prev_vcpus = existing.map(|e| e.vcpus).unwrap_or(0);
    let prev_family = existing.map(|e| e.family.clone()).unwrap_or_default();
    for (quota, label) in [
        (sku.family.as_str(), sku.family.as_str()),
        ("cores", "Core"),
    ] {
        let credit = if quota == "cores" || quota.eq_ignore_ascii_case(&prev_family) {
            prev_vcpus
        } else {
            0
        };
        let cur = usages::current(w, sub, location, quota) - credit;
        let lim = usages::limit(w, sub, location, quota);
        if cur + sku.vcpus > lim {
            return Err(ArmError::conflict("OperationNotAllowed", format!("Operation could not be completed as it results in exceeding approved {label} quota. Operation results in exceeding quota limits of {label}. Maximum allowed: {lim}, Current in use: {cur}, Additional requested: {}. Location: {location}.", sku.vcpus)).target("vmSize"));
        }
    }
    if existing.is_none() {
        let count = usages::current(w, sub, location, "virtualMachines");
        if count + 1 > usages::limit(w, sub, location, "virtualMachines") {
            return Err(ArmError::conflict(
                "OperationNotAllowed",
                "Operation results in exceeding quota limits of virtualMachines.",
            ));
        }
    }
    Ok(())
}

/// What the checks produced that the stored VM is made of.
struct VmParts {
    /// `properties` as stored: secrets removed, disk ids and sizes filled in.
    props: Value,
    computer_name: String,
    nics: Vec<VmNicRef>,
    disks: Vec<VmDiskRef>,
}

fn new_vm(req: &VmPutRequest, sku: &SkuDef, existing: Option<&Vm>, parts: VmParts) -> Vm {
    let VmParts {
        props,
        computer_name,
        nics,
        disks,
    } = parts;
    Vm {
        id: existing.map(|e| e.id.clone()).unwrap_or(req.id.clone()),
        name: existing.map(|e| e.name.clone()).unwrap_or(req.name.clone()),
        sub: req.sub.clone(),
        location: req.location.clone(),
        tags: get_ci(&req.body, "tags").cloned().unwrap_or(Value::Null),
        etag: existing.map(|e| e.etag + 1).unwrap_or(1),
        vm_id: existing.map(|e| e.vm_id.clone()).unwrap_or_else(new_guid),
        size: sku.name.clone(),
        family: sku.family.clone(),
        vcpus: sku.vcpus,
        props,
        computer_name,
        gen2: req.gen2_image(),
        nics,
        disks,
        provisioning: if existing.is_some() {
            "Updating"
        } else {
            "Creating"
        }
        .into(),
        failure: None,
        time_created: existing.map(|e| e.time_created).unwrap_or(req.at),
        running_at: existing.and_then(|e| e.running_at),
        agent_ready_at: existing.and_then(|e| e.agent_ready_at),
        op: None,
        action_run: existing.and_then(|e| e.action_run.clone()),
        body_hash: req.hash.clone(),
    }
}

/// Store the new disks, attach the NICs, start the operation and answer 201 (200 for an update).
fn commit(w: &mut World, ctx: &Ctx, mut vm: Vm, plan: DiskPlan, update: bool) -> Resp {
    for d in plan.new {
        w.disks.insert(key(&d.id), d);
    }
    for n in &vm.nics {
        if let Some(nic) = w.nics.get_mut(&n.key) {
            nic.vm_id = Some(vm.id.clone());
            nic.reserved_until = None;
        }
    }
    let secs = if update {
        w.timings().vm_update_secs
    } else {
        w.timings().vm_create_secs
    };
    let k = key(&vm.id);
    let location = vm.location.clone();
    let op = lro::start(
        w,
        ctx,
        Spec {
            provider: "Microsoft.Compute",
            kind: OpKind::VmPut,
            sub: &vm.sub.clone(),
            location: &location,
            target: &k,
            target_id: &vm.id.clone(),
            secs,
        },
    );
    vm.op = Some(op.clone());
    let r = Resp::json(
        if update { 200 } else { 201 },
        &render(w, &vm, ctx.now, false),
    );
    w.vms.insert(k, vm);
    lro::with_headers(r, w, ctx, &op, false)
}
