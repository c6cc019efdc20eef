//! Plan is a promise: every way the spec or Azure's state would make `apply` fail is shown by
//! `plan` first — blocked, exit 2, naming the problem and the fix — and `apply --yes` on the same
//! spec refuses with nothing created (no write in the emulator's journal, nothing in its
//! inventory). One test per row of the table in docs/operations.md ("What plan checks").

mod support;

use failback_sim::Scenario;
use support::*;

fn scenario() -> Scenario {
    failback::commands::demo::scenario()
}

/// Edit the rehearsal's spec: replace `from` by `to` (which must be there).
fn edit_spec(r: &Rehearsal, from: &str, to: &str) {
    let path = r.path("failback.toml");
    let spec = std::fs::read_to_string(&path).expect("spec");
    assert!(spec.contains(from), "the spec has no {from:?}");
    std::fs::write(&path, spec.replacen(from, to, 1)).expect("write spec");
}

/// Writes in the journal (PUT, POST, PATCH, DELETE on ARM paths).
fn writes(r: &Rehearsal) -> Vec<String> {
    r.sim
        .journal()
        .iter()
        .filter(|e| e.method != "GET" && e.path.starts_with("/subscriptions/"))
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// `plan` exits 2 and its text names every one of `words` (the problem and the fix); `apply
/// --yes` exits 2 too and writes nothing.
fn assert_blocked(r: &Rehearsal, words: &[&str]) {
    let before = writes(r);
    let inventory = r.left_behind();
    let out = r
        .failback(&["plan", "--run-id", "p1"])
        .output()
        .expect("plan");
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "plan must block:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for w in words.iter().chain(&["blocked", "fix:"]) {
        assert!(text.contains(w), "plan does not say {w:?}:\n{text}");
    }
    let out = r
        .failback(&["apply", "--yes", "--run-id", "a1"])
        .output()
        .expect("apply");
    assert_eq!(out.status.code(), Some(2), "apply must refuse: {out:?}");
    assert_eq!(writes(r), before, "apply wrote to Azure");
    assert_eq!(r.left_behind(), inventory, "apply changed the inventory");
}

#[test]
fn size_restricted_in_the_region() {
    let mut s = scenario();
    let mut skus = failback_sim::scenario::builtin_skus();
    for sku in skus.iter_mut().filter(|k| k.name == "Standard_A8_v2") {
        sku.restrictions
            .push(failback_sim::scenario::RestrictionDef {
                kind: "Location".into(),
                reason_code: "NotAvailableForSubscription".into(),
                zones: vec![],
            });
    }
    s.subscriptions[0].regions[0].skus = skus;
    assert_blocked(
        &Rehearsal::with(s),
        &["restricted", "NotAvailableForSubscription"],
    );
}

#[test]
fn vcpu_quota_short() {
    let mut s = scenario();
    s.subscriptions[0].regions[0]
        .quota
        .insert("standardAv2Family".into(), 8);
    assert_blocked(&Rehearsal::with(s), &["need 16 vCPUs", "quota increase"]);
}

#[test]
fn subnet_missing() {
    let r = Rehearsal::start();
    edit_spec(&r, "subnet = \"default\"", "subnet = \"apps\"");
    assert_blocked(&r, &["subnet apps", "does not exist"]);
}

#[test]
fn static_ip_outside_the_subnet() {
    let r = Rehearsal::start();
    // Without subnet_prefix in the spec (with it, the spec check refuses this at its line).
    edit_spec(&r, "subnet_prefix = \"10.1.0.0/24\"\n", "");
    edit_spec(&r, "\"10.1.0.10\"", "\"10.9.0.10\"");
    assert_blocked(
        &r,
        &[
            "10.9.0.10 is not inside subnet default",
            "choose a private_ip",
        ],
    );
}

#[test]
fn static_ip_reserved_by_azure() {
    let r = Rehearsal::start();
    // Without subnet_prefix in the spec (with it, the spec check refuses this at its line).
    edit_spec(&r, "subnet_prefix = \"10.1.0.0/24\"\n", "");
    edit_spec(&r, "\"10.1.0.10\"", "\"10.1.0.3\"");
    assert_blocked(
        &r,
        &["10.1.0.3 is reserved by Azure", "choose another private_ip"],
    );
}

#[test]
fn ip_taken_by_a_process_server_that_was_kept() {
    let r = Rehearsal::start();
    edit_spec(
        &r,
        "[failback]",
        "[teardown]\npolicy = \"keep\"\n\n[failback]",
    );
    r.failback(&["apply", "--yes", "--run-id", "kept"])
        .assert()
        .success();
    let kept = writes(&r);
    let out = r
        .failback(&["plan", "--run-id", "p1"])
        .output()
        .expect("plan");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("10.1.0.10 is already in use"), "{text}");
    r.failback(&["apply", "--yes", "--run-id", "a1"])
        .assert()
        .code(2);
    assert_eq!(writes(&r), kept, "the second apply wrote to Azure");
}

#[test]
fn vault_missing() {
    let r = Rehearsal::start();
    edit_spec(
        &r,
        "vault = \"vault-failback\"",
        "vault = \"vault-failbak\"",
    );
    assert_blocked(
        &r,
        &[
            "vault vault-failbak does not exist",
            "[site_recovery] vault",
        ],
    );
}

#[test]
fn fabric_missing_with_a_near_name() {
    let r = Rehearsal::start();
    edit_spec(&r, "fabric = \"cs-fabric\"", "fabric = \"cs-fabrik\"");
    assert_blocked(&r, &["no fabric cs-fabrik", "did you mean cs-fabric?"]);
}

#[test]
fn fabric_not_a_classic_configuration_server() {
    let mut s = scenario();
    s.subscriptions[0].vaults[0].fabrics[0].kind = "InMageRcm".into();
    assert_blocked(
        &Rehearsal::with(s),
        &["of type InMageRcm", "classic VMware fabric"],
    );
}

#[test]
fn configuration_server_not_connected() {
    let mut s = scenario();
    s.subscriptions[0].vaults[0].fabrics[0].cs_disconnected = true;
    assert_blocked(
        &Rehearsal::with(s),
        &[
            "last reported to the vault",
            "restore the configuration server's connection",
        ],
    );
}

#[test]
fn configuration_server_ip_is_not_the_fabrics() {
    let r = Rehearsal::start();
    edit_spec(&r, "ip = \"10.0.0.10\"", "ip = \"10.0.0.99\"");
    assert_blocked(
        &r,
        &[
            "10.0.0.99 is not the configuration server",
            "ip = \"10.0.0.10\"",
        ],
    );
}

#[test]
fn protected_item_misspelt() {
    let r = Rehearsal::start();
    edit_spec(&r, "\"vm-app2\"]", "\"vm-ap2\"]");
    assert_blocked(&r, &["vm-ap2 is not in vault", "did you mean vm-app2?"]);
}

#[test]
fn protected_item_listed_twice_in_another_case() {
    let r = Rehearsal::start();
    edit_spec(&r, "\"vm-app2\"]", "\"VM-APP1\"]");
    assert_blocked(
        &r,
        &["vm-app1 and VM-APP1 name the same protected item", "once"],
    );
}

#[test]
fn protected_item_never_failed_over() {
    let mut s = scenario();
    s.subscriptions[0].vaults[0].protected_items[1].state = "ReplicatingToAzure".into();
    assert_blocked(
        &Rehearsal::with(s),
        &["vm-app2 is not failed over", "remove vm-app2"],
    );
}

#[test]
fn protected_item_failover_not_committed() {
    let mut s = scenario();
    s.subscriptions[0].vaults[0].protected_items[1].state = "FailoverPendingCommit".into();
    assert_blocked(
        &Rehearsal::with(s),
        &[
            "failover is not committed",
            "commit the failover of vm-app2",
        ],
    );
}

#[test]
fn all_items_with_one_that_is_not_failing_back() {
    let mut s = scenario();
    s.subscriptions[0].vaults[0].protected_items[2].state = "ReplicatingToAzure".into();
    let r = Rehearsal::with(s);
    edit_spec(
        &r,
        "protected_items = [\"vm-app1\", \"vm-app2\"]",
        "protected_items = \"all\"",
    );
    assert_blocked(&r, &["vm-db1 is not failed over", "instead of \"all\""]);
}

#[test]
fn client_secret_refused() {
    let mut r = Rehearsal::start();
    r.set_env("FAILBACK_DEMO_CLIENT_SECRET", "not-the-secret-at-all");
    assert_blocked(&r, &["AADSTS7000215", "[azure.credential]"]);
}

#[test]
fn read_denied_by_rbac() {
    let mut s = scenario();
    s.auth.principals[0]
        .denied_operations
        .push("GET replicationProtectedItems".into());
    assert_blocked(
        &Rehearsal::with(s),
        &["AuthorizationFailed", "Site Recovery Contributor"],
    );
}

#[test]
fn secret_unreadable() {
    let r = Rehearsal::start();
    let kv = format!(
        "passphrase = {{ key_vault = \"{}/keyvault/fb-vault\", name = \"cs-passphrase\" }}",
        r.sim.base_url()
    );
    edit_spec(
        &r,
        "passphrase = { env = \"FAILBACK_DEMO_CS_PASSPHRASE\" }",
        &kv,
    );
    assert_blocked(
        &r,
        &[
            "configuration_server.passphrase",
            "make the secret readable",
        ],
    );
}

/// Process servers turn Critical this long after their VM went (sim seconds): a day, so a run
/// started "right after" another is inside the heartbeat window even on a loaded machine (86 s
/// of real time at the rehearsal's speed).
const HEARTBEAT_WINDOW: f64 = 24.0 * 3600.0;

fn long_heartbeat_window() -> Scenario {
    let mut s = scenario();
    s.timings.heartbeat_warning_secs = HEARTBEAT_WINDOW / 2.0;
    s.timings.heartbeat_critical_secs = HEARTBEAT_WINDOW;
    s
}

/// Process servers in the fabric at `ip`: (id, health).
fn process_servers(r: &Rehearsal, ip: &str) -> Vec<(String, String)> {
    r.sim
        .inventory()
        .process_servers
        .into_iter()
        .filter(|p| p.ip_address == ip)
        .map(|p| (p.id, p.health))
        .collect()
}

/// The process server id `run`'s `{net}/register` step recorded, from `status --format json`.
fn recorded_process_server(r: &Rehearsal, run: &str, net: &str) -> String {
    let out = r
        .failback(&["status", run, "--format", "json"])
        .output()
        .expect("status");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("status json");
    let step = format!("{net}/register");
    let found = v["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["step_id"] == step.as_str())
        .and_then(|s| s.pointer("/status/output/process_server_id"))
        .and_then(|id| id.as_str())
        .map(str::to_owned);
    found.unwrap_or_else(|| panic!("no process_server_id for {step} in {v}"))
}

/// Run A is torn down; its process servers stay Normal in the fabric (same IPs, same computer
/// names as any run of this spec). A new plan blocks with the unregister command, apply
/// creates nothing, and once they are unregistered the plan is clear.
#[test]
fn stale_process_server_of_a_torn_down_run() {
    let r = Rehearsal::with(long_heartbeat_window());
    r.failback(&["apply", "--yes", "--run-id", "ra"])
        .assert()
        .success();
    r.sim.set_clock_speed(1.0);
    let stale = process_servers(&r, "10.1.0.10");
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_ne!(stale[0].1, "Critical", "inside the heartbeat window");
    assert_blocked(
        &r,
        &[
            "the fabric still lists process server ps-vnet-a (10.1.0.10",
            "Unregister-ASRComponent.pl -IPAddress 10.1.0.10 -Component PS",
            "Critical",
        ],
    );
    assert_eq!(r.sim.unregister_process_server("10.1.0.10"), 1);
    assert_eq!(r.sim.unregister_process_server("10.2.0.10"), 1);
    let out = r
        .failback(&["plan", "--run-id", "p2"])
        .output()
        .expect("plan");
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// Acceptance 2 of issue 11: run B on run A's IPs never records A's process server. Inside the
/// heartbeat window it is blocked (above); after the documented wait (A's entries Critical) B
/// registers its own: its Run Command PUT is in the journal, the fabric holds a second entry
/// at each IP, and B's register steps recorded those, not A's.
#[test]
fn a_later_run_on_the_same_ips_registers_its_own_process_server() {
    let r = Rehearsal::with(long_heartbeat_window());
    r.failback(&["apply", "--yes", "--run-id", "ra"])
        .assert()
        .success();
    let a_id = recorded_process_server(&r, "ra", "vnet-a");
    // The documented wait: the fabric reports A's process servers Critical.
    r.sim.advance(HEARTBEAT_WINDOW + 120.0);
    assert_eq!(
        process_servers(&r, "10.1.0.10"),
        vec![(a_id.clone(), "Critical".to_owned())]
    );
    let puts_before = r.count("PUT", "/runCommands/failback-register");
    r.failback(&["apply", "--yes", "--run-id", "rb"])
        .assert()
        .success();
    assert_eq!(
        r.count("PUT", "/runCommands/failback-register"),
        puts_before + 2,
        "B sent its own registrations"
    );
    let at_ip = process_servers(&r, "10.1.0.10");
    assert_eq!(at_ip.len(), 2, "A's stale entry and B's own: {at_ip:?}");
    let b_id = recorded_process_server(&r, "rb", "vnet-a");
    assert_ne!(b_id, a_id, "B recorded A's process server");
    assert!(
        at_ip.iter().any(|(id, _)| *id == b_id),
        "{b_id} not in {at_ip:?}"
    );
    assert_ne!(
        recorded_process_server(&r, "rb", "vnet-b"),
        recorded_process_server(&r, "ra", "vnet-b")
    );
}

/// A NIC with this run's deterministic name that this run did not make (no `failback-run` tag
/// of this run) is a collision, not "exists".
#[test]
fn resource_with_the_runs_name_made_by_someone_else() {
    let r = Rehearsal::start();
    let sub = r.sim.subscription_id().expect("subscription");
    for run in ["p1", "a1"] {
        let nic = format!("ps-vnet-a-{}-nic", failback_workflows::spec::run_hash(run));
        let rg = format!("/subscriptions/{sub}/resourceGroups/rg-network");
        let body = serde_json::json!({
            "location": "westeurope",
            "tags": { "owner": "another team" },
            "properties": { "ipConfigurations": [{
                "name": "ipconfig1",
                "properties": {
                    "privateIPAllocationMethod": "Static",
                    "privateIPAddress": if run == "p1" { "10.1.0.50" } else { "10.1.0.51" },
                    "subnet": { "id": format!("{rg}/providers/Microsoft.Network/virtualNetworks/vnet-a/subnets/default") }
                }
            }]}
        });
        let (status, answer) = r.arm(
            "PUT",
            &format!(
                "{rg}/providers/Microsoft.Network/networkInterfaces/{nic}?api-version=2024-05-01"
            ),
            Some(body),
        );
        assert!(status == 200 || status == 201, "{status} {answer}");
    }
    assert_blocked(
        &r,
        &[
            "exists already and was made by something else",
            "not by run p1",
            "delete or rename that NIC",
        ],
    );
}
