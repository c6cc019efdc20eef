//! `validate` fails permanently, with a clear message, on everything it can know up front —
//! and the emulator's journal shows it wrote nothing.

mod support;

use failback_engine::{Step, StepContext, StepOutcome};
use failback_sim::Scenario;
use failback_steps::model::NetworkTarget;
use support::*;

async fn validate(scenario: Scenario, nets: Vec<NetworkTarget>) -> (StepOutcome, TestEnv) {
    let env = start(scenario).await;
    let step = validate_step(&env, nets, vec![]);
    let ctx = StepContext::for_test("validate", serde_json::Value::Null, env.clock.clone());
    let out = step.execute(&ctx).await;
    (out, env)
}

fn expect_fail(out: &StepOutcome, code: &str, words: &str) {
    match out {
        StepOutcome::Fail(f) => {
            assert_eq!(f.code, code, "{f}");
            assert!(f.message.contains(words), "{f}");
        }
        other => panic!("expected {code}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_valid_setup_passes() {
    let (out, env) = validate(fast_scenario(), vec![net_a(), net_b()]).await;
    assert!(matches!(out, StepOutcome::Done(_)), "{out:?}");
    assert!(writes(&env.sim).is_empty());
}

#[tokio::test]
async fn restricted_sku_is_blocked() {
    let mut s = fast_scenario();
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
    let (out, env) = validate(s, vec![net_a()]).await;
    expect_fail(&out, "SkuNotAvailable", "restricted");
    assert!(writes(&env.sim).is_empty());
}

#[tokio::test]
async fn short_quota_is_blocked() {
    let mut s = fast_scenario();
    s.subscriptions[0].regions[0]
        .quota
        .insert("standardAv2Family".into(), 8);
    let (out, env) = validate(s, vec![net_a(), net_b()]).await;
    expect_fail(&out, "QuotaExceeded", "need 16 vCPUs");
    assert!(writes(&env.sim).is_empty());
}

#[tokio::test]
async fn missing_subnet_is_blocked() {
    let mut n = net_a();
    n.subnet = "nope".into();
    let (out, env) = validate(fast_scenario(), vec![n]).await;
    expect_fail(&out, "SubnetNotFound", "nope");
    assert!(writes(&env.sim).is_empty());
}

#[tokio::test]
async fn ip_outside_reserved_or_taken_is_blocked() {
    let outside = network("vnet-a", "vnet-a", "10.9.0.10");
    let (out, _) = validate(fast_scenario(), vec![outside]).await;
    expect_fail(&out, "PrivateIPAddressNotInSubnet", "10.9.0.10");
    let reserved = network("vnet-a", "vnet-a", "10.1.0.1");
    let (out, _) = validate(fast_scenario(), vec![reserved]).await;
    expect_fail(&out, "PrivateIPAddressReserved", "10.1.0.1");
    // Taken: a NIC of someone else holds the address.
    let env = start(fast_scenario()).await;
    let mut other = net_a();
    other.names.nic = "someone-elses-nic".into();
    let nic = failback_steps::steps::CreateNic {
        azure: env.azure.clone(),
        net: other,
    };
    let mut ctx = StepContext::for_test("x", serde_json::Value::Null, env.clock.clone());
    loop {
        match nic.execute(&ctx).await {
            StepOutcome::Done(_) => break,
            StepOutcome::Wait { until, state, .. } => {
                env.clock.sleep_until(until).await;
                ctx.poll_state = Some(state);
            }
            o => panic!("{o:?}"),
        }
    }
    let before = writes(&env.sim).len();
    let step = validate_step(&env, vec![net_a()], vec![]);
    let out = step
        .execute(&StepContext::for_test(
            "validate",
            serde_json::Value::Null,
            env.clock.clone(),
        ))
        .await;
    expect_fail(&out, "PrivateIPAddressInUse", "already in use");
    assert_eq!(writes(&env.sim).len(), before, "validate wrote nothing");
}

#[tokio::test]
async fn key_vault_secrets_are_read_and_a_missing_one_blocks_before_any_write() {
    let mut s = fast_scenario();
    s.key_vault_secrets
        .push(failback_sim::scenario::KeyVaultSecretDef {
            vault: "fb-vault".into(),
            name: "cs-passphrase".into(),
            value: CS_PASSPHRASE.into(),
            version: String::new(),
        });
    let env = start(s).await;
    let kv = |name: &str| failback_steps::secrets::SecretRef::KeyVault {
        key_vault: format!("{}/keyvault/fb-vault", env.sim.base_url()),
        name: name.into(),
        version: None,
    };
    let got = env.azure.secret(&kv("cs-passphrase")).await.unwrap();
    assert_eq!(got.expose(), CS_PASSPHRASE);
    assert!(format!("{got:?}").contains("***"), "a secret never prints");
    let step = validate_step(
        &env,
        vec![net_a()],
        vec![("configuration_server.passphrase".into(), kv("nope"))],
    );
    let out = step
        .execute(&StepContext::for_test(
            "validate",
            serde_json::Value::Null,
            env.clock.clone(),
        ))
        .await;
    expect_fail(&out, "SecretUnavailable", "SecretNotFound");
    assert!(writes(&env.sim).is_empty());
}
