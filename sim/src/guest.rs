//! The guest inside a VM: interprets run-command scripts. The process-server registration
//! (parameters ConfigurationServerIp/Port, DataTransferSecurePort, InstallerUri, ProcessServerName,
//! protected Passphrase) registers a process server with the CS of a VMware fabric; other scripts
//! print their Write-Output/Write-Host strings and exit with their `exit N`.

use crate::clock::SimTime;
use crate::world::{key, Event, PsRegistration, Vm, World};

pub struct GuestResult {
    pub exit_code: i64,
    pub output: String,
    pub error: String,
    pub secs: f64,
    /// (vault key, fabric name) to register with after success.
    pub registration: Option<(String, String)>,
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// The VNet name of the VM's primary NIC and its private IP.
pub fn vm_network(w: &World, vm: &Vm) -> (String, String) {
    let nic = vm
        .nics
        .iter()
        .find(|n| n.primary)
        .or(vm.nics.first())
        .and_then(|n| w.nics.get(&n.key));
    let Some(nic) = nic else {
        return (String::new(), String::new());
    };
    let cfg = nic
        .ip_configs
        .iter()
        .find(|c| c.primary)
        .or(nic.ip_configs.first());
    let vnet = cfg
        .and_then(|c| c.subnet_key.split("/virtualnetworks/").nth(1))
        .and_then(|s| s.split('/').next())
        .unwrap_or("")
        .to_string();
    (vnet, cfg.map(|c| c.private_ip.clone()).unwrap_or_default())
}

pub fn evaluate(
    w: &World,
    vm: &Vm,
    script: &str,
    command_id: Option<&str>,
    params: &[(String, String)],
) -> GuestResult {
    let t = w.timings();
    let lscript = script.to_ascii_lowercase();
    let looks_like_registration = param(params, "ConfigurationServerIp").is_some()
        || ["unifiedsetup", "cspsconfigtool", "cdpcli"]
            .iter()
            .any(|s| lscript.contains(s));
    if looks_like_registration {
        return registration(w, vm, params);
    }
    if command_id.is_some_and(|c| c.eq_ignore_ascii_case("ipconfig")) {
        let (_, ip) = vm_network(w, vm);
        return GuestResult { exit_code: 0, output: format!("Windows IP Configuration\n\nEthernet adapter Ethernet:\n   IPv4 Address. . . . . . . . . . . : {ip}\n"), error: String::new(), secs: t.run_command_secs, registration: None };
    }
    generic(script, t.run_command_secs)
}

fn generic(script: &str, secs: f64) -> GuestResult {
    let quoted =
        regex::Regex::new(r#"(?i)^\s*(?:write-output|write-host|echo)\s+["']?([^"'\r\n]*)["']?"#)
            .ok();
    let exit = regex::Regex::new(r"(?i)^\s*exit\s+(-?\d+)").ok();
    let throw = regex::Regex::new(r#"(?i)^\s*throw\s+["']?([^"'\r\n]*)"#).ok();
    let (mut out, mut code, mut err) = (String::new(), 0i64, String::new());
    for line in script.lines() {
        if let Some(c) = quoted.as_ref().and_then(|r| r.captures(line)) {
            out.push_str(&c[1]);
            out.push('\n');
        } else if let Some(c) = exit.as_ref().and_then(|r| r.captures(line)) {
            code = c[1].parse().unwrap_or(1);
            break;
        } else if let Some(c) = throw.as_ref().and_then(|r| r.captures(line)) {
            err = c[1].to_string();
            code = 1;
            break;
        }
    }
    if code != 0 && err.is_empty() {
        err = format!("Script exited with code {code}.");
    }
    GuestResult {
        exit_code: code,
        output: out,
        error: err,
        secs,
        registration: None,
    }
}

fn registration(w: &World, vm: &Vm, params: &[(String, String)]) -> GuestResult {
    let t = w.timings();
    let secs = t.registration_run_secs;
    let fail = |code: i64, out: String, err: String| GuestResult {
        exit_code: code,
        output: out,
        error: err,
        secs,
        registration: None,
    };
    let Some(cs_ip) = param(params, "ConfigurationServerIp").filter(|s| !s.is_empty()) else {
        return fail(
            1,
            String::new(),
            "Parameter ConfigurationServerIp is required.".into(),
        );
    };
    let port: u16 = param(params, "ConfigurationServerPort")
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or(443);
    let passphrase = param(params, "Passphrase").unwrap_or("");
    let mut out = String::from("Extracting MicrosoftAzureSiteRecoveryUnifiedSetup.exe...\nInstalling Process Server (servermode PS, EnvType VMWare)...\n");
    out.push_str(&format!(
        "Connecting to configuration server {cs_ip}:{port}...\n"
    ));
    let (vnet, _ip) = vm_network(w, vm);
    let found = w
        .vaults
        .iter()
        .filter(|(_, v)| v.sub.eq_ignore_ascii_case(&vm.sub))
        .find_map(|(vk, v)| {
            v.fabrics
                .iter()
                .find(|f| f.kind.eq_ignore_ascii_case("VMware") && f.cs_ip == cs_ip.trim())
                .map(|f| (vk.clone(), f.clone()))
        });
    let unreachable = |out: String| {
        fail(4, out, format!("Unable to connect to the configuration server at {cs_ip}:{port}: the connection timed out. Check the VPN/ExpressRoute and that port {port} is open from this virtual network."))
    };
    let Some((vault_key, fabric)) = found else {
        return unreachable(out);
    };
    if port != fabric.cs_port || fabric.cs_disconnected {
        return unreachable(out);
    }
    if !fabric.reachable_vnets.is_empty()
        && !fabric
            .reachable_vnets
            .iter()
            .any(|v| v.eq_ignore_ascii_case(&vnet))
    {
        return unreachable(out);
    }
    if passphrase != fabric.passphrase {
        out.push_str("Registering with the configuration server...\n");
        return fail(3, out, "Registration with the configuration server failed: the connection passphrase is not valid. Get the passphrase on the configuration server (genpassphrase.exe -v) and retry.".into());
    }
    out.push_str(&format!("Registering with the configuration server...\nProcess server '{}' registered with configuration server {} ({cs_ip}:{port}).\nREGISTRATION_SUCCEEDED\n", vm.computer_name, fabric.cs_host_name));
    GuestResult {
        exit_code: 0,
        output: out,
        error: String::new(),
        secs,
        registration: Some((vault_key, fabric.name.clone())),
    }
}

pub fn schedule_registration(
    w: &mut World,
    vault: &str,
    fabric: &str,
    rc_key: &str,
    vm: &Vm,
    exec_end: SimTime,
) {
    let (_, ip) = vm_network(w, vm);
    let delay = (w.timings().registration_delay_secs * 1000.0) as i64;
    w.schedule(
        exec_end + delay,
        Event::PsRegister(PsRegistration {
            vault: vault.into(),
            fabric: fabric.into(),
            rc: rc_key.into(),
            ip,
            name: vm.computer_name.clone(),
            vm: key(&vm.id),
            exec_end,
        }),
    );
}

/// A script canceled before it finished never registers.
pub fn cancel_registrations_for_rc(w: &mut World, rc_key: &str, now: SimTime) {
    w.events
        .retain(|_, e| !matches!(e, Event::PsRegister(r) if r.rc == rc_key && r.exec_end > now));
}

pub fn cancel_registrations_for_vm(w: &mut World, vm_key: &str, now: SimTime) {
    w.events
        .retain(|_, e| !matches!(e, Event::PsRegister(r) if r.vm == vm_key && r.exec_end > now));
}

pub fn register_ps(w: &mut World, registration: &PsRegistration, at: SimTime) {
    let r = registration;
    let (vault, fabric, ip, name, vm) = (&r.vault, &r.fabric, r.ip.as_str(), &r.name, &r.vm);
    let gone = (!w.vms.contains_key(vm)).then_some(at);
    let Some(v) = w.vaults.get_mut(vault) else {
        return;
    };
    let Some(f) = v
        .fabrics
        .iter_mut()
        .find(|f| f.name.eq_ignore_ascii_case(fabric))
    else {
        return;
    };
    // Re-registration from the same machine updates its entry; another machine at the same
    // address installs a new agent (a new host id): a new entry, while the old one stays until
    // it is unregistered on the configuration server.
    if let Some(ps) = f
        .process_servers
        .iter_mut()
        .find(|p| !p.on_prem && p.ip == ip && p.vm_key.as_deref() == Some(vm))
    {
        ps.friendly_name = name.to_string();
        ps.registered_at = at;
        ps.vm_key = Some(vm.to_string());
        ps.vm_gone_at = gone;
        return;
    }
    f.process_servers.push(crate::asr::Ps {
        id: uuid::Uuid::new_v4().to_string().to_uppercase(),
        friendly_name: name.to_string(),
        ip: ip.to_string(),
        host_id: uuid::Uuid::new_v4().to_string().to_uppercase(),
        registered_at: at,
        vm_key: Some(vm.to_string()),
        vm_gone_at: gone,
        on_prem: false,
    });
}
