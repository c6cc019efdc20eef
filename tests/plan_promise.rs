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
    let out = r
        .failback(&["plan", "--run-id", "p1"])
        .output()
        .expect("plan");
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "plan must block:\n{text}");
    for w in words.iter().chain(&["blocked", "fix:"]) {
        assert!(text.contains(w), "plan does not say {w:?}:\n{text}");
    }
    let out = r
        .failback(&["apply", "--yes", "--run-id", "a1"])
        .output()
        .expect("apply");
    assert_eq!(out.status.code(), Some(2), "apply must refuse: {out:?}");
    assert_eq!(writes(r), before, "apply wrote to Azure");
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
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
