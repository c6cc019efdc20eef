//! One test (at least) per point of REFERENCE.md §11 "What a faithful local emulator must do".

mod support;
use failback_sim::{FaultAction, FaultMatch, FaultRule, FaultTrigger, Scenario};
use serde_json::json;
use support::*;

fn rule(m: FaultMatch, a: FaultAction, t: FaultTrigger) -> FaultRule {
    FaultRule::new(m, a, t)
}

/// A client-credentials token request with a secret.
fn secret_form<'a>(client: &'a str, secret: &'a str, scope: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_secret", secret),
        ("scope", scope),
    ]
}

#[tokio::test]
async fn p01_token_endpoint_client_credentials_errors_and_expiry() {
    let mut s = scenario();
    s.auth.token_lifetime_secs = 60;
    let t = T::with(s).await;
    let (tenant, client, secret) = t.sim.credentials().unwrap();
    let scope = format!("{}/.default", t.base);
    let ok = t
        .token_request(&tenant, &secret_form(&client, &secret, &scope))
        .await;
    for k in ["token_type", "expires_in", "ext_expires_in", "access_token"] {
        assert!(ok.body.get(k).is_some(), "{k}");
    }
    assert_eq!(ok.body["expires_in"], 60);
    let bad = t
        .token_request(&tenant, &secret_form(&client, "wrong", &scope))
        .await;
    assert_eq!(bad.status, 401);
    assert_eq!(bad.body["error"], "invalid_client");
    assert!(bad.body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS7000215:"));
    assert_eq!(bad.body["error_codes"], json!([7000215]));
    assert!(
        bad.body["trace_id"].is_string()
            && bad.body["correlation_id"].is_string()
            && bad.body["timestamp"].is_string()
    );
    let bad_scope = t
        .token_request(
            &tenant,
            &secret_form(&client, &secret, "https://graph.microsoft.com/User.Read"),
        )
        .await;
    assert_eq!(bad_scope.status, 400);
    assert_eq!(bad_scope.body["error"], "invalid_scope");
    // JWT client assertion (claims checked, signature not).
    let now = t.sim.now_ms() / 1000;
    let enc = |v: serde_json::Value| failback_sim::auth::b64url(v.to_string().as_bytes());
    let jwt = format!(
        "{}.{}.sig",
        enc(json!({"alg": "RS256", "typ": "JWT"})),
        enc(json!({"iss": client, "sub": client, "aud": "x", "exp": now + 600, "jti": "1"}))
    );
    let a = t
        .token_request(
            &tenant,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &jwt),
                ("scope", &scope),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.text);
    // Tokens expire in sim time.
    t.advance(61.0);
    let r = t
        .get(&format!("{}?api-version={NET}", t.vnet("vnet-a")))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "ExpiredAuthenticationToken");
}

#[tokio::test]
async fn p02_arm_rejects_missing_and_expired_tokens_and_rbac_gaps() {
    let mut s = scenario();
    s.auth.principals[0].denied_operations = vec!["DELETE virtualMachines".into()];
    let t = T::with(s).await;
    let url = t.url(&format!("{}?api-version={NET}", t.vnet("vnet-a")));
    let r = to_r(t.http.get(&url).send().await.unwrap()).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "AuthenticationFailed");
    assert!(r
        .h("www-authenticate")
        .unwrap()
        .starts_with("Bearer authorization_uri="));
    let r = to_r(
        t.http
            .get(&url)
            .bearer_auth("not-a-token")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.code(), "InvalidAuthenticationToken");
    let d = t
        .delete(&format!("{}?api-version={COMPUTE}", t.vm("x")))
        .await;
    assert_eq!(d.status, 403);
    assert_eq!(d.code(), "AuthorizationFailed");
    to_r(
        t.http
            .post(t.url("/_sim/tokens/expire"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let r = t
        .get(&format!("{}?api-version={NET}", t.vnet("vnet-a")))
        .await;
    assert_eq!(r.code(), "ExpiredAuthenticationToken");
}

#[tokio::test]
async fn p03_api_version_required_unknown_lists_supported_and_per_cloud_sets() {
    let t = T::new().await;
    let r = t.get(&t.vnet("vnet-a")).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "MissingApiVersionParameter");
    let r = t
        .get(&format!("{}?api-version=2099-01-01", t.vnet("vnet-a")))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "NoRegisteredProviderFound");
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("2024-05-01"));
    let mut s = scenario();
    s.cloud = "china".into();
    let c = T::with(s).await;
    assert_eq!(
        c.get(&format!("{}?api-version=2025-04-01", c.vm("x")))
            .await
            .code(),
        "NoRegisteredProviderFound"
    );
    assert_eq!(
        c.get(&format!("{}?api-version=2024-11-01", c.vm("x")))
            .await
            .code(),
        "ResourceNotFound"
    );
}

#[tokio::test]
async fn p04_case_insensitive_paths_casing_preserved_and_404_shapes() {
    let t = T::new().await;
    t.create_nic("MyNic", "vnet-a", "10.1.0.10").await;
    let lower = t
        .nic("MyNic")
        .to_lowercase()
        .replace("/subscriptions/", "/Subscriptions/");
    let r = t.get(&format!("{lower}?api-version={NET}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["name"], "MyNic");
    assert!(r.body["id"].as_str().unwrap().contains(
        "/resourceGroups/rg-failback/providers/Microsoft.Network/networkInterfaces/MyNic"
    ));
    let r = t.get(&format!("/subscriptions/00000000-0000-0000-0000-000000000bad/resourceGroups/x/providers/Microsoft.Network/networkInterfaces/n?api-version={NET}")).await;
    assert_eq!((r.status, r.code().as_str()), (404, "SubscriptionNotFound"));
    let r = t
        .get(&format!(
            "{}/providers/Microsoft.Network/networkInterfaces/n?api-version={NET}",
            t.rg("nope")
        ))
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "ResourceGroupNotFound")
    );
    let r = t
        .get(&format!("{}?api-version={NET}", t.nic("missing")))
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "ResourceNotFound"));
    let r = t
        .get(&format!(
            "{}/replicationFabrics/nope?api-version={ASR}",
            t.vault().replace("/subscriptions/", "/Subscriptions/")
        ))
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "NotFound"));
}

#[tokio::test]
async fn p05_common_headers_client_request_id_echo_and_error_envelope() {
    let t = T::new().await;
    let p = format!("{}?api-version={NET}", t.vnet("vnet-a"));
    let r = t
        .req(
            "GET",
            &p,
            None,
            &[
                ("x-ms-client-request-id", "cid-1"),
                ("x-ms-return-client-request-id", "true"),
                ("x-ms-correlation-request-id", "corr-1"),
            ],
        )
        .await;
    assert!(
        r.h("x-ms-request-id").is_some()
            && r.h("x-ms-routing-request-id").is_some()
            && r.h("date").is_some()
    );
    assert_eq!(
        r.h("x-ms-correlation-request-id").as_deref(),
        Some("corr-1")
    );
    assert_eq!(r.h("x-ms-client-request-id").as_deref(), Some("cid-1"));
    let r = t
        .req("GET", &p, None, &[("x-ms-client-request-id", "cid-2")])
        .await;
    assert!(
        r.h("x-ms-client-request-id").is_none(),
        "echoed only when asked"
    );
    assert!(
        r.h("x-ms-correlation-request-id").is_some(),
        "generated when absent"
    );
    let e = t
        .get(&format!("{}?api-version={NET}", t.nic("missing")))
        .await;
    for k in ["code", "message", "details", "additionalInfo"] {
        assert!(e.body["error"].get(k).is_some(), "{k}");
    }
    let j = t.sim.journal();
    let last = j.iter().rev().find(|e| e.status == 404).unwrap();
    assert_eq!(last.operation, "GET networkInterfaces");
    assert_eq!(last.client_request_id, None);
    assert!(j
        .iter()
        .any(|e| e.client_request_id.as_deref() == Some("cid-1")));
}

#[tokio::test]
async fn p06_paging_absolute_next_link_with_empty_first_page() {
    let mut s = scenario();
    s.paging.page_size = 2;
    s.paging.empty_first_page = true;
    let t = T::with(s).await;
    let mut url = t.url(&format!(
        "{}/replicationProtectedItems?api-version={ASR}",
        t.vault()
    ));
    let (mut pages, mut names) = (0, vec![]);
    loop {
        let r = t.get(&url).await;
        assert_eq!(r.status, 200);
        if pages == 0 {
            assert_eq!(r.body["value"], json!([]), "first page empty");
        }
        pages += 1;
        names.extend(
            r.body["value"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_string()),
        );
        match r.body["nextLink"].as_str() {
            Some(n) => {
                assert!(n.starts_with(&t.base), "absolute nextLink");
                url = n.to_string();
            }
            None => break,
        }
        assert!(pages < 10);
    }
    assert_eq!(names.len(), 3);
    assert_eq!(pages, 3);
}

#[tokio::test]
async fn p07_put_returns_201_with_async_operation_and_delete_202_location() {
    let t = T::new().await;
    let r = t
        .put(
            &format!("{}?api-version={NET}", t.nic("n1")),
            t.nic_body("vnet-a", "10.1.0.10"),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.body["properties"]["provisioningState"], "Updating");
    assert!(r.h("azure-asyncoperation").is_some() && r.h("retry-after").is_some());
    t.advance(6.0);
    let again = t
        .put(
            &format!("{}?api-version={NET}", t.nic("n1")),
            t.nic_body("vnet-a", "10.1.0.10"),
        )
        .await;
    assert_eq!(again.status, 200, "synchronous 200 for an unchanged PUT");
    let d = t
        .delete(&format!("{}?api-version={NET}", t.nic("n1")))
        .await;
    assert_eq!(d.status, 202);
    assert!(
        d.h("location").is_some()
            && d.h("azure-asyncoperation").is_some()
            && d.h("retry-after").is_some()
    );
    t.advance(6.0);
    assert_eq!(
        t.delete(&format!("{}?api-version={NET}", t.nic("n1")))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn p08_status_url_in_progress_then_succeeded_and_location_202_then_final() {
    let t = T::new().await;
    t.create_nic("ps1-nic", "vnet-a", "10.1.0.10").await;
    let r = t
        .put(
            &format!("{}?api-version={COMPUTE}", t.vm("ps1")),
            t.vm_body("ps1-nic", "Standard_A8_v2", "ps1", "2016-Datacenter"),
        )
        .await;
    let aso = r.h("azure-asyncoperation").unwrap();
    assert!(aso.starts_with(&t.base) && aso.contains("?p="));
    for _ in 0..3 {
        let s = t.get(&aso).await;
        assert_eq!(s.status, 200);
        assert_eq!(s.body["status"], "InProgress");
        assert!(s.h("retry-after").is_some());
        t.advance(10.0);
    }
    t.advance(61.0);
    let s = t.get(&aso).await;
    assert_eq!(s.body["status"], "Succeeded");
    assert!(s.body["endTime"].is_string());
    let d = t
        .delete(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
        .await;
    let loc = d.h("location").unwrap();
    assert!(
        loc.contains("/operations/") && loc.contains("&monitor=true&api-version="),
        "odd Compute form: {loc}"
    );
    assert_eq!(t.get(&loc).await.status, 202);
    t.advance(61.0);
    assert_eq!(t.get(&loc).await.status, 200);
}

#[tokio::test]
async fn p09_resource_get_reflects_in_flight_state_and_404_after_delete() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let d = t
        .delete(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
        .await;
    let aso = d.h("azure-asyncoperation").unwrap();
    assert_eq!(
        t.get(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
            .await
            .body["properties"]["provisioningState"],
        "Deleting"
    );
    assert_eq!(t.get(&aso).await.body["status"], "InProgress");
    t.advance(61.0);
    assert_eq!(t.get(&aso).await.body["status"], "Succeeded");
    assert_eq!(
        t.get(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn p10_faults_failed_operation_transient_5xx_status_404_and_dropped_connection() {
    let t = T::new().await;
    let aso = p10_failed_operation(&t).await;
    let p = format!("{}?api-version={NET}", t.vnet("vnet-a"));
    p10_transient_503(&t, &p).await;
    p10_404_on_a_status_url(&t, &aso).await;
    p10_dropped_connection(&t, &p).await;
    p10_control_plane(&t, &p).await;
}

/// A VM PUT whose operation fails with AllocationFailed; returns its status URL.
async fn p10_failed_operation(t: &T) -> String {
    t.create_nic("ps1-nic", "vnet-a", "10.1.0.10").await;
    t.sim
        .add_fault(rule(
            FaultMatch {
                operation: Some("PUT virtualMachines".into()),
                ..Default::default()
            },
            FaultAction::FailOperation {
                code: "AllocationFailed".into(),
                message: None,
                canceled: false,
            },
            FaultTrigger {
                nth: Some(1),
                ..Default::default()
            },
        ))
        .unwrap();
    let r = t
        .put(
            &format!("{}?api-version={COMPUTE}", t.vm("ps1")),
            t.vm_body("ps1-nic", "Standard_A8_v2", "ps1", "2016-Datacenter"),
        )
        .await;
    let aso = r.h("azure-asyncoperation").unwrap();
    t.advance(91.0);
    let s = t.get(&aso).await;
    assert_eq!(s.body["status"], "Failed");
    assert_eq!(s.body["error"]["code"], "AllocationFailed");
    assert_eq!(
        t.get(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
            .await
            .body["properties"]["provisioningState"],
        "Failed"
    );
    aso
}

async fn p10_transient_503(t: &T, p: &str) {
    t.sim
        .add_fault(rule(
            FaultMatch {
                method: Some("GET".into()),
                path: Some("/virtualNetworks/".into()),
                ..Default::default()
            },
            FaultAction::Status {
                status: 503,
                retry_after: Some(7),
                code: None,
                message: None,
            },
            FaultTrigger {
                count: Some(2),
                ..Default::default()
            },
        ))
        .unwrap();
    let a = t.get(p).await;
    assert_eq!(
        (a.status, a.code().as_str(), a.h("retry-after").as_deref()),
        (503, "ServiceUnavailable", Some("7"))
    );
    assert_eq!(t.get(p).await.status, 503);
    assert_eq!(t.get(p).await.status, 200, "transient: count exhausted");
}

async fn p10_404_on_a_status_url(t: &T, aso: &str) {
    t.sim
        .add_fault(rule(
            FaultMatch {
                path: Some("/operations/".into()),
                ..Default::default()
            },
            FaultAction::Status {
                status: 404,
                retry_after: None,
                code: None,
                message: None,
            },
            FaultTrigger {
                nth: Some(1),
                ..Default::default()
            },
        ))
        .unwrap();
    assert_eq!(t.get(aso).await.status, 404);
    assert_eq!(t.get(aso).await.status, 200);
}

async fn p10_dropped_connection(t: &T, p: &str) {
    t.sim
        .add_fault(rule(
            FaultMatch {
                operation: Some("GET virtualNetworks".into()),
                ..Default::default()
            },
            FaultAction::Drop,
            FaultTrigger {
                nth: Some(1),
                ..Default::default()
            },
        ))
        .unwrap();
    let dropped = t.http.get(t.url(p)).bearer_auth(&t.token).send().await;
    assert!(dropped.is_err(), "connection dropped");
    assert_eq!(t.get(p).await.status, 200);
    assert!(t
        .sim
        .journal()
        .iter()
        .any(|e| e.status == 0 && e.fault.as_deref().is_some_and(|f| f.contains("drop"))));
}

/// The control-plane API works the same way.
async fn p10_control_plane(t: &T, p: &str) {
    let c = to_r(t.http.post(t.url("/_sim/faults")).body(r#"{"match":{"method":"GET","path":"virtualNetworks"},"action":{"kind":"status","status":504},"trigger":{"rate":1.0,"count":1}}"#).send().await.unwrap()).await;
    assert_eq!(c.status, 201);
    assert_eq!(t.get(p).await.status, 504);
    to_r(t.http.delete(t.url("/_sim/faults")).send().await.unwrap()).await;
    assert!(t.sim.faults().is_empty());
}

#[tokio::test]
async fn p11_simulated_clock_advance_and_speed() {
    let t = T::new().await;
    let c0 = to_r(t.http.get(t.url("/_sim/clock")).send().await.unwrap())
        .await
        .body["now_ms"]
        .as_i64()
        .unwrap();
    let c1 = to_r(
        t.http
            .post(t.url("/_sim/clock/advance"))
            .body(r#"{"seconds": 5400}"#)
            .send()
            .await
            .unwrap(),
    )
    .await
    .body["now_ms"]
        .as_i64()
        .unwrap();
    assert!(c1 - c0 >= 5_400_000);
    let s = to_r(
        t.http
            .post(t.url("/_sim/clock/speed"))
            .body(r#"{"speed": 600}"#)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s.body["speed"], 600.0);
    let start = t.sim.now_ms();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while t.sim.now_ms() - start < 60_000 {
        assert!(std::time::Instant::now() < deadline, "fast clock runs");
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn p12_throttle_token_bucket_counts_down_then_429() {
    let mut s = scenario();
    s.throttle.enabled = true;
    s.throttle.reads_capacity = 5.0;
    s.throttle.reads_per_sec = 1.0;
    s.throttle.compute_high_cost_get_per_3min = 2.0;
    let t = T::with(s).await;
    let p = format!("{}?api-version={NET}", t.vnet("vnet-a"));
    let mut remaining = vec![];
    for _ in 0..5 {
        let r = t.get(&p).await;
        assert_eq!(r.status, 200);
        remaining.push(
            r.h("x-ms-ratelimit-remaining-subscription-reads")
                .unwrap()
                .parse::<u32>()
                .unwrap(),
        );
    }
    assert_eq!(remaining, vec![4, 3, 2, 1, 0]);
    let r = t.get(&p).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (429, "SubscriptionRequestsThrottled")
    );
    assert_eq!(r.h("retry-after").as_deref(), Some("1"));
    t.advance(5.0);
    assert_eq!(t.get(&p).await.status, 200);
    let w = t
        .put(
            &format!("{}?api-version={NET}", t.nic("n1")),
            t.nic_body("vnet-a", "10.1.0.10"),
        )
        .await;
    assert_eq!(
        w.h("x-ms-ratelimit-remaining-subscription-writes")
            .as_deref(),
        Some("199")
    );
    // Compute's HighCostGet bucket on instanceView.
    t.advance(60.0);
    let iv = format!("{}/instanceView?api-version={COMPUTE}", t.vm("none"));
    assert!(t
        .get(&iv)
        .await
        .h("x-ms-ratelimit-remaining-resource")
        .unwrap()
        .starts_with("Microsoft.Compute/HighCostGet3Min;"));
    t.get(&iv).await;
    let th = t.get(&iv).await;
    assert_eq!(
        (th.status, th.code().as_str()),
        (409, "OperationNotAllowed")
    );
    assert_eq!(th.body["error"]["details"][0]["code"], "TooManyRequests");
}

#[tokio::test]
async fn p13_nic_conflicts_etags_if_match_and_vm_if_none_match() {
    let t = T::new().await;
    let p = format!("{}?api-version={NET}", t.nic("n1"));
    let first = t.put(&p, t.nic_body("vnet-a", "10.1.0.10")).await;
    let conflict = t.put(&p, t.nic_body("vnet-a", "10.1.0.11")).await;
    assert_eq!(
        (conflict.status, conflict.code().as_str()),
        (429, "RetryableErrorDueToAnotherOperation")
    );
    let del = t.delete(&p).await;
    assert_eq!(
        (del.status, del.code().as_str()),
        (409, "AnotherOperationInProgress")
    );
    t.advance(6.0);
    let e1 = t.get(&p).await.body["etag"].as_str().unwrap().to_string();
    assert_ne!(e1, "");
    let upd = t.put(&p, t.nic_body("vnet-a", "10.1.0.12")).await;
    assert_eq!(upd.status, 200);
    assert_ne!(
        upd.body["etag"].as_str().unwrap(),
        e1,
        "etag changes on every write"
    );
    t.advance(6.0);
    let stale = t
        .req(
            "PUT",
            &p,
            Some(t.nic_body("vnet-a", "10.1.0.13")),
            &[("If-Match", &e1)],
        )
        .await;
    assert_eq!(
        (stale.status, stale.code().as_str()),
        (412, "PreconditionFailed")
    );
    let _ = first;
    t.create_vm("ps1", "vnet-b", "10.2.0.10").await;
    let r = t
        .req(
            "PUT",
            &format!("{}?api-version={COMPUTE}", t.vm("ps1")),
            Some(t.vm_body("ps1-nic", "Standard_A8_v2", "ps1", "2016-Datacenter")),
            &[("If-None-Match", "*")],
        )
        .await;
    assert_eq!(r.status, 412);
}

#[tokio::test]
async fn p14_idempotent_put_property_change_delete_missing_and_post_not_deduplicated() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let body = t.vm_body("ps1-nic", "Standard_A8_v2", "ps1", "2016-Datacenter");
    let again = t
        .put(
            &format!("{}?api-version={COMPUTE}", t.vm("ps1")),
            body.clone(),
        )
        .await;
    assert_eq!(again.status, 200);
    let inv = t.sim.inventory();
    assert_eq!(
        inv.created()
            .iter()
            .filter(|r| r.kind == "Microsoft.Compute/virtualMachines")
            .count(),
        1
    );
    assert_eq!(
        inv.created()
            .iter()
            .filter(|r| r.kind == "Microsoft.Compute/disks")
            .count(),
        2
    );
    let mut changed = body.clone();
    changed["properties"]["osProfile"]["computerName"] = json!("other");
    let r = t
        .put(&format!("{}?api-version={COMPUTE}", t.vm("ps1")), changed)
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "PropertyChangeNotAllowed")
    );
    assert_eq!(
        t.delete(&format!("{}?api-version={COMPUTE}", t.vm("nope")))
            .await
            .status,
        204
    );
    let a = t
        .post(
            &format!("{}/runCommand?api-version={COMPUTE}", t.vm("ps1")),
            json!({"commandId": "RunPowerShellScript", "script": ["Write-Output 1"]}),
        )
        .await;
    assert_eq!(a.status, 202);
    t.advance(31.0);
    let b = t
        .post(
            &format!("{}/runCommand?api-version={COMPUTE}", t.vm("ps1")),
            json!({"commandId": "RunPowerShellScript", "script": ["Write-Output 1"]}),
        )
        .await;
    assert_eq!(b.status, 202);
    assert_ne!(
        a.h("location"),
        b.h("location"),
        "each POST starts new work"
    );
}

#[tokio::test]
async fn p15_sku_catalogue_restrictions_filter_and_absence() {
    let mut s = scenario();
    let mut skus = failback_sim::scenario::builtin_skus();
    skus.retain(|k| k.name != "Standard_D8s_v3");
    if let Some(a8) = skus.iter_mut().find(|k| k.name == "Standard_A8_v2") {
        a8.restrictions
            .push(failback_sim::scenario::RestrictionDef {
                kind: "Location".into(),
                reason_code: "NotAvailableForSubscription".into(),
                zones: vec![],
            });
    }
    if let Some(d2) = skus.iter_mut().find(|k| k.name == "Standard_D2s_v3") {
        d2.restrictions
            .push(failback_sim::scenario::RestrictionDef {
                kind: "Zone".into(),
                reason_code: "NotAvailableForSubscription".into(),
                zones: vec!["3".into()],
            });
    }
    s.subscriptions[0].regions[0].skus = skus;
    let t = T::with(s).await;
    let r = t
        .get(&format!(
            "/subscriptions/{}/providers/Microsoft.Compute/skus?api-version={SKUS}&$filter={}",
            t.sub,
            urlenc("location eq 'westeurope'")
        ))
        .await;
    let v = r.body["value"].as_array().unwrap();
    let a8 = v.iter().find(|k| k["name"] == "Standard_A8_v2").unwrap();
    assert_eq!(a8["restrictions"][0]["type"], "Location");
    assert_eq!(
        a8["restrictions"][0]["reasonCode"],
        "NotAvailableForSubscription"
    );
    assert_eq!(
        a8["restrictions"][0]["restrictionInfo"]["locations"],
        json!(["westeurope"])
    );
    let d2 = v.iter().find(|k| k["name"] == "Standard_D2s_v3").unwrap();
    assert_eq!(
        d2["restrictions"][0]["restrictionInfo"]["zones"],
        json!(["3"])
    );
    assert!(
        !v.iter().any(|k| k["name"] == "Standard_D8s_v3"),
        "absent SKU"
    );
    let other = t
        .get(&format!(
            "/subscriptions/{}/providers/Microsoft.Compute/skus?api-version={SKUS}&$filter={}",
            t.sub,
            urlenc("location eq 'eastus'")
        ))
        .await;
    assert_eq!(other.body["value"], json!([]));
    let bad = t
        .get(&format!(
            "/subscriptions/{}/providers/Microsoft.Compute/skus?api-version={SKUS}&$filter={}",
            t.sub,
            urlenc("name eq 'x'")
        ))
        .await;
    assert_eq!(bad.status, 400);
}

async fn usage(t: &T) -> (i64, i64) {
    let r = t.get(&format!("/subscriptions/{}/providers/Microsoft.Compute/locations/westeurope/usages?api-version={COMPUTE}", t.sub)).await;
    let v = r.body["value"].as_array().unwrap().clone();
    let get = |n: &str| {
        v.iter().find(|u| u["name"]["value"] == n).unwrap()["currentValue"]
            .as_i64()
            .unwrap()
    };
    (get("cores"), get("standardAv2Family"))
}

#[tokio::test]
async fn p16_usages_consumed_and_freed_quota_exceeded_and_sku_restricted() {
    let t = T::new().await;
    assert_eq!(usage(&t).await, (0, 0));
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    t.create_vm("ps2", "vnet-b", "10.2.0.10").await;
    assert_eq!(usage(&t).await, (16, 16));
    t.create_nic("ps3-nic", "vnet-a", "10.1.0.11").await;
    let r = t
        .put(
            &format!("{}?api-version={COMPUTE}", t.vm("ps3")),
            t.vm_body("ps3-nic", "Standard_A8_v2", "ps3", "2016-Datacenter"),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "OperationNotAllowed"));
    let m = r.body["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("Maximum allowed: 16, Current in use: 16, Additional requested: 8"),
        "{m}"
    );
    t.delete(&format!("{}?api-version={COMPUTE}", t.vm("ps2")))
        .await;
    t.advance(61.0);
    assert_eq!(usage(&t).await, (8, 8), "delete frees quota");
    let mut s = scenario();
    for k in s.subscriptions[0].regions[0].skus.iter_mut() {
        k.restrictions.clear();
    }
    let mut skus = failback_sim::scenario::builtin_skus();
    for k in skus.iter_mut().filter(|k| k.name == "Standard_A8_v2") {
        k.restrictions.push(failback_sim::scenario::RestrictionDef {
            kind: "Location".into(),
            reason_code: "NotAvailableForSubscription".into(),
            zones: vec![],
        });
    }
    s.subscriptions[0].regions[0].skus = skus;
    let t2 = T::with(s).await;
    t2.create_nic("n", "vnet-a", "10.1.0.10").await;
    let r = t2
        .put(
            &format!("{}?api-version={COMPUTE}", t2.vm("ps1")),
            t2.vm_body("n", "Standard_A8_v2", "ps1", "2016-Datacenter"),
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (409, "SkuNotAvailable"));
}

#[tokio::test]
async fn p17_subnet_prefix_variants_reserved_ips_and_nic_ip_validation() {
    let mut s = scenario();
    s.subscriptions[0].vnets[1].subnets[0].address_prefix = None;
    s.subscriptions[0].vnets[1].subnets[0].address_prefixes = vec!["10.2.0.0/24".into()];
    let t = T::with(s).await;
    let sb = t
        .get(&format!("{}?api-version={NET}", t.subnet_id("vnet-b")))
        .await;
    assert_eq!(
        sb.body["properties"]["addressPrefixes"],
        json!(["10.2.0.0/24"])
    );
    assert!(sb.body["properties"].get("addressPrefix").is_none());
    for (ip, code) in [
        ("10.1.1.10", "PrivateIPAddressNotInSubnet"),
        ("10.1.0.1", "PrivateIPAddressInReservedRange"),
        ("10.1.0.255", "PrivateIPAddressInReservedRange"),
        ("10.1.0.300", "PrivateIPAddressInvalid"),
    ] {
        let r = t
            .put(
                &format!("{}?api-version={NET}", t.nic("bad")),
                t.nic_body("vnet-a", ip),
            )
            .await;
        assert_eq!((r.status, r.code().as_str()), (400, code), "{ip}");
    }
    t.create_nic("a", "vnet-a", "10.1.0.10").await;
    let r = t
        .put(
            &format!("{}?api-version={NET}", t.nic("b")),
            t.nic_body("vnet-a", "10.1.0.10"),
        )
        .await;
    assert_eq!(r.code(), "PrivateIPAddressInUse");
    let reserved = t
        .get(&format!(
            "{}/CheckIPAddressAvailability?ipAddress=10.1.0.3&api-version={NET}",
            t.vnet("vnet-a")
        ))
        .await;
    assert_eq!(reserved.body["available"], false);
    assert_eq!(reserved.body["isPlatformReserved"], true);
    let mut body = t.nic_body("vnet-a", "10.1.0.20");
    body["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] =
        json!(format!("{}/subnets/missing", t.vnet("vnet-a")));
    assert_eq!(
        t.put(&format!("{}?api-version={NET}", t.nic("c")), body)
            .await
            .code(),
        "InvalidResourceReference"
    );
    let mut body = t.nic_body("vnet-a", "10.1.0.20");
    body["location"] = json!("northeurope");
    assert_eq!(
        t.put(&format!("{}?api-version={NET}", t.nic("c")), body)
            .await
            .code(),
        "InvalidResourceReference",
        "region mismatch"
    );
    let vm_ref = t.vnet("vnet-a");
    let _ = vm_ref;
    let g = t
        .get(&format!("{}?api-version={NET}", t.vnet("vnet-a")))
        .await;
    assert!(
        g.text
            .contains("/networkInterfaces/a/ipConfigurations/ipconfig1"),
        "IP occupancy shows in the subnet"
    );
}

#[tokio::test]
async fn p18_vm_put_validation() {
    let t = T::new().await;
    t.create_nic("n", "vnet-a", "10.1.0.10").await;
    let p = format!("{}?api-version={COMPUTE}", t.vm("ps1"));
    let mut b = t.vm_body(
        "n",
        "Standard_A8_v2",
        "averyveryverylongname",
        "2016-Datacenter",
    );
    let r = t.put(&p, b.clone()).await;
    assert_eq!(
        (
            r.status,
            r.code().as_str(),
            r.body["error"]["target"].as_str()
        ),
        (400, "InvalidParameter", Some("computerName"))
    );
    b = t.vm_body("n", "Standard_A8_v2", "ps1", "2019-datacenter-gensecond");
    let r = t.put(&p, b).await;
    assert_eq!(r.status, 400);
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Hypervisor Generation '2'"));
    b = t.vm_body("n", "Standard_A8_v2", "ps1", "2016-Datacenter");
    b["properties"]["storageProfile"]["osDisk"]["managedDisk"]["storageAccountType"] =
        json!("Premium_LRS");
    assert_eq!(t.put(&p, b).await.code(), "InvalidParameter");
    b = t.vm_body("n", "Standard_A8_v2", "ps1", "2016-Datacenter");
    b["properties"]["storageProfile"]["osDisk"]["vhd"] =
        json!({"uri": "https://acct.blob.core.windows.net/vhds/os.vhd"});
    assert_eq!(t.put(&p, b).await.code(), "InvalidParameter");
    b = t.vm_body("n", "Standard_A8_v2", "ps1", "2016-Datacenter");
    b["properties"]["osProfile"]["adminPassword"] = json!("password");
    assert_eq!(t.put(&p, b).await.body["error"]["target"], "adminPassword");
    b = t.vm_body("n", "Standard_A8_v2", "ps1", "2016-Datacenter");
    b["properties"]["osProfile"]["adminUsername"] = json!("admin");
    assert_eq!(t.put(&p, b).await.body["error"]["target"], "adminUsername");
    b = t.vm_body("missing-nic", "Standard_A8_v2", "ps1", "2016-Datacenter");
    assert_eq!(t.put(&p, b).await.code(), "InvalidResourceReference");
    assert_eq!(
        t.put(&p, t.vm_body("n", "Standard_Z99", "ps1", "2016-Datacenter"))
            .await
            .code(),
        "InvalidParameter"
    );
    let ok = t
        .put(
            &p,
            t.vm_body("n", "Standard_A8_v2", "ps1", "2016-Datacenter"),
        )
        .await;
    assert_eq!(ok.status, 201);
    let nic = t.get(&format!("{}?api-version={NET}", t.nic("n"))).await;
    assert_eq!(nic.body["properties"]["virtualMachine"]["id"], t.vm("ps1"));
    let other = t
        .put(
            &format!("{}?api-version={COMPUTE}", t.vm("ps2")),
            t.vm_body("n", "Standard_A2_v2", "ps2", "2016-Datacenter"),
        )
        .await;
    assert_eq!(other.code(), "NicInUse");
    let disk = t
        .get(&format!("{}?api-version={DISKS}", t.disk("ps1-cache")))
        .await;
    assert_eq!(disk.body["managedBy"], t.vm("ps1"));
    assert_eq!(disk.body["properties"]["diskSizeGB"], 600);
}

#[tokio::test]
async fn p19_instance_view_boot_progression_and_agent_ready() {
    let t = T::new().await;
    t.create_nic("n", "vnet-a", "10.1.0.10").await;
    t.put(
        &format!("{}?api-version={COMPUTE}", t.vm("ps1")),
        t.vm_body("n", "Standard_A8_v2", "ps1", "2016-Datacenter"),
    )
    .await;
    let iv = format!("{}/instanceView?api-version={COMPUTE}", t.vm("ps1"));
    let r = t.get(&iv).await;
    assert_eq!(r.body["statuses"][0]["code"], "ProvisioningState/creating");
    assert_eq!(r.body["statuses"][1]["code"], "PowerState/starting");
    assert!(r.body.get("vmAgent").is_none());
    t.advance(91.0);
    let r = t.get(&iv).await;
    assert_eq!(r.body["statuses"][0]["code"], "ProvisioningState/succeeded");
    assert_eq!(r.body["statuses"][1]["code"], "PowerState/running");
    assert_eq!(
        r.body["vmAgent"]["statuses"][0]["displayStatus"],
        "Not Ready"
    );
    t.advance(60.0);
    let r = t
        .get(&format!(
            "{}?$expand=instanceView&api-version={COMPUTE}",
            t.vm("ps1")
        ))
        .await;
    assert_eq!(
        r.body["properties"]["instanceView"]["vmAgent"]["statuses"][0]["displayStatus"],
        "Ready"
    );
    // Boot failure via fault: OSProvisioningTimedOut leaves the agent never Ready.
    t.create_nic("n2", "vnet-b", "10.2.0.10").await;
    t.sim
        .add_fault(FaultRule::new(
            FaultMatch {
                operation: Some("PUT virtualMachines".into()),
                ..Default::default()
            },
            FaultAction::FailOperation {
                code: "OSProvisioningTimedOut".into(),
                message: None,
                canceled: false,
            },
            FaultTrigger::default(),
        ))
        .unwrap();
    t.put(
        &format!("{}?api-version={COMPUTE}", t.vm("ps2")),
        t.vm_body("n2", "Standard_A2_v2", "ps2", "2016-Datacenter"),
    )
    .await;
    t.advance(300.0);
    let r = t
        .get(&format!(
            "{}/instanceView?api-version={COMPUTE}",
            t.vm("ps2")
        ))
        .await;
    assert_eq!(
        r.body["statuses"][0]["code"],
        "ProvisioningState/failed/OSProvisioningTimedOut"
    );
    assert_eq!(
        r.body["vmAgent"]["statuses"][0]["displayStatus"],
        "Not Ready"
    );
}

#[tokio::test]
async fn p20_action_run_command_rules() {
    let t = T::new().await;
    t.create_nic("n", "vnet-a", "10.1.0.10").await;
    t.put(
        &format!("{}?api-version={COMPUTE}", t.vm("ps1")),
        t.vm_body("n", "Standard_A8_v2", "ps1", "2016-Datacenter"),
    )
    .await;
    let p = format!("{}/runCommand?api-version={COMPUTE}", t.vm("ps1"));
    let early = t
        .post(
            &p,
            json!({"commandId": "RunPowerShellScript", "script": ["Write-Output x"]}),
        )
        .await;
    assert_eq!(early.status, 409, "agent not ready yet");
    t.advance(151.0);
    assert_eq!(
        t.post(&p, json!({"script": ["x"]})).await.code(),
        "InvalidParameter"
    );
    let long: Vec<String> = (0..600)
        .map(|i| format!("Write-Output 'line {i:04} of a long output'"))
        .collect();
    let a = t
        .post(
            &p,
            json!({"commandId": "RunPowerShellScript", "script": long}),
        )
        .await;
    assert_eq!(a.status, 202);
    let overlap = t
        .post(
            &p,
            json!({"commandId": "RunPowerShellScript", "script": ["Write-Output y"]}),
        )
        .await;
    assert_eq!(overlap.status, 409, "one at a time");
    let loc = a.h("location").unwrap();
    t.advance(19.0);
    assert_eq!(t.get(&loc).await.status, 202, "at least 20 s");
    t.advance(12.0);
    let done = t.get(&loc).await;
    let out = done.body["value"][0]["message"].as_str().unwrap();
    assert_eq!(out.len(), 4096, "last 4096 bytes only");
    assert!(out.ends_with("line 0599 of a long output\n"));
    assert!(done.text.find("exitCode").is_none(), "no exit code");
}

#[tokio::test]
async fn p21_managed_run_command_lifecycle() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let p = format!("{}/runCommands/fail?api-version={COMPUTE}", t.vm("ps1"));
    let body = json!({"location": "westeurope", "properties": {"source": {"script": "Write-Output 'about to fail'\nexit 7"}, "protectedParameters": [{"name": "Secret", "value": "s3cr3t-value"}], "treatFailureAsDeploymentFailure": true}});
    let r = t.put(&p, body).await;
    assert_eq!(r.status, 201);
    assert!(!r.text.contains("s3cr3t-value"));
    let ex = format!(
        "{}/runCommands/fail?$expand=instanceView&api-version={COMPUTE}",
        t.vm("ps1")
    );
    t.advance(1.0);
    assert_eq!(
        t.get(&ex).await.body["properties"]["instanceView"]["executionState"],
        "Pending"
    );
    t.advance(2.0);
    assert_eq!(
        t.get(&ex).await.body["properties"]["instanceView"]["executionState"],
        "Running"
    );
    t.advance(30.0);
    let g = t.get(&ex).await;
    let iv = &g.body["properties"]["instanceView"];
    assert_eq!(
        (iv["executionState"].as_str(), iv["exitCode"].as_i64()),
        (Some("Failed"), Some(7))
    );
    assert_eq!(iv["output"], "about to fail\n");
    assert_eq!(
        g.body["properties"]["provisioningState"], "Failed",
        "treatFailureAsDeploymentFailure"
    );
    assert!(!g.text.contains("s3cr3t-value"));
    // Timeout and DELETE-cancels.
    let slow = format!("{}/runCommands/slow?api-version={COMPUTE}", t.vm("ps1"));
    t.put(&slow, json!({"location": "westeurope", "properties": {"source": {"script": "Write-Output 'x'"}, "timeoutInSeconds": 10}})).await;
    t.advance(20.0);
    assert_eq!(
        t.get(&format!(
            "{}/runCommands/slow?$expand=instanceView&api-version={COMPUTE}",
            t.vm("ps1")
        ))
        .await
        .body["properties"]["instanceView"]["executionState"],
        "TimedOut"
    );
    let c = format!("{}/runCommands/cancelme?api-version={COMPUTE}", t.vm("ps1"));
    t.put(
        &c,
        json!({"location": "westeurope", "properties": {"source": {"script": "Write-Output 'x'"}}}),
    )
    .await;
    t.advance(5.0);
    let d = t.delete(&c).await;
    assert_eq!(d.status, 202);
    let g = t
        .get(&format!(
            "{}/runCommands/cancelme?$expand=instanceView&api-version={COMPUTE}",
            t.vm("ps1")
        ))
        .await;
    assert_eq!(
        g.body["properties"]["instanceView"]["executionState"],
        "Canceled"
    );
    t.advance(6.0);
    assert_eq!(t.get(&c).await.status, 404);
}

#[tokio::test]
async fn p22_guest_registration_success_wrong_passphrase_unreachable_cs() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let rc = |n: &str| {
        format!(
            "{}/runCommands/{n}?$expand=instanceView&api-version={COMPUTE}",
            t.vm("ps1")
        )
    };
    t.put(
        &rc("bad"),
        t.registration_body("10.0.0.10", "443", "wrong-passphrase"),
    )
    .await;
    t.put(
        &rc("unreach"),
        t.registration_body("10.9.9.9", "443", &t.passphrase()),
    )
    .await;
    t.advance(125.0);
    let bad = t.get(&rc("bad")).await;
    assert_eq!(bad.body["properties"]["instanceView"]["exitCode"], 3);
    assert!(bad.body["properties"]["instanceView"]["error"]
        .as_str()
        .unwrap()
        .contains("passphrase"));
    assert_eq!(
        t.get(&rc("unreach")).await.body["properties"]["instanceView"]["exitCode"],
        4
    );
    t.advance(400.0);
    assert!(
        t.azure_process_servers().await.is_empty(),
        "no PS on failure"
    );
    t.put(
        &rc("good"),
        t.registration_body("10.0.0.10", "443", &t.passphrase()),
    )
    .await;
    t.advance(125.0);
    assert_eq!(
        t.get(&rc("good")).await.body["properties"]["instanceView"]["executionState"],
        "Succeeded"
    );
    assert!(
        t.azure_process_servers().await.is_empty(),
        "appears only after the registration delay"
    );
    t.advance(181.0);
    let ps = t.azure_process_servers().await;
    assert_eq!(ps.len(), 1);
    assert_eq!(
        (
            ps[0]["ipAddress"].as_str(),
            ps[0]["friendlyName"].as_str(),
            ps[0]["health"].as_str()
        ),
        (Some("10.1.0.10"), Some("ps1"), Some("Normal"))
    );
    let hb1 = ps[0]["lastHeartbeat"].as_str().unwrap().to_string();
    t.advance(120.0);
    let hb2 = t.azure_process_servers().await[0]["lastHeartbeat"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(hb2 > hb1, "heartbeats advance");
}

#[tokio::test]
async fn p23_teardown_rules() {
    let t = T::new().await;
    t.create_vm("ps1", "vnet-a", "10.1.0.10").await;
    let n = t
        .delete(&format!("{}?api-version={NET}", t.nic("ps1-nic")))
        .await;
    assert_eq!((n.status, n.code().as_str()), (400, "NicInUse"));
    let d = t
        .delete(&format!("{}?api-version={DISKS}", t.disk("ps1-cache")))
        .await;
    assert_eq!(d.status, 409);
    t.delete(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
        .await;
    t.advance(61.0);
    let nic = t
        .get(&format!("{}?api-version={NET}", t.nic("ps1-nic")))
        .await;
    assert_eq!(nic.status, 200, "Detach keeps the NIC");
    assert!(nic.body["properties"].get("virtualMachine").is_none());
    assert_eq!(
        t.delete(&format!("{}?api-version={NET}", t.nic("ps1-nic")))
            .await
            .code(),
        "NicReservedForAnotherVm"
    );
    t.advance(180.0);
    assert_eq!(
        t.delete(&format!("{}?api-version={NET}", t.nic("ps1-nic")))
            .await
            .status,
        202
    );
    t.advance(6.0);
    for p in [t.nic("ps1-nic"), t.disk("ps1-os"), t.disk("ps1-cache")] {
        let v = if p.contains("Network") { NET } else { DISKS };
        assert_eq!(
            t.get(&format!("{p}?api-version={v}")).await.status,
            404,
            "{p}"
        );
    }
    assert!(t.sim.inventory().created().is_empty());
}

#[tokio::test]
async fn p24_fabrics_list_get_with_vmware_details() {
    let t = T::new().await;
    let f = t.fabric().await;
    let cd = &f["properties"]["customDetails"];
    assert_eq!(cd["instanceType"], "VMware");
    for k in [
        "processServers",
        "masterTargetServers",
        "runAsAccounts",
        "processServerCount",
        "agentCount",
        "hostName",
        "ipAddress",
        "lastHeartbeat",
        "csServiceStatus",
    ] {
        assert!(cd.get(k).is_some(), "{k}");
    }
    assert_eq!(
        cd["masterTargetServers"][0]["retentionVolumes"][0]["volumeName"],
        "R:"
    );
    let l = t
        .get(&format!(
            "{}/replicationFabrics?api-version={ASR}",
            t.vault()
        ))
        .await;
    assert_eq!(l.body["value"][0]["name"], "cs-fabric");
}

#[tokio::test]
async fn p25_protected_item_state_machine() {
    let t = T::new().await;
    let item = t.item("item-vm-app2");
    let wrong = t
        .post(
            &format!("{item}/failoverCommit?api-version={ASR}"),
            json!(null),
        )
        .await;
    assert_eq!(wrong.status, 400);
    assert!(
        wrong.body["error"]["recommendedAction"].is_string(),
        "ASR-style error"
    );
    p25_reprotect_to_an_unknown_process_server_fails(&t, &item).await;
    p25_reprotect_failover_and_commit(&t, &item).await;
}

fn p25_reprotect_body(ps: &str) -> serde_json::Value {
    json!({"properties": {"failoverDirection": "RecoveryToPrimary", "providerSpecificDetails": {"instanceType": "InMage", "processServerId": ps, "masterTargetId": "5D3ED340-85AE-C646-B338641E015DA405", "retentionDrive": "R:", "datastoreName": "datastore1", "profileId": "p"}}})
}

/// The item is busy while the job runs; the job fails with ProcessServerNotFound.
async fn p25_reprotect_to_an_unknown_process_server_fails(t: &T, item: &str) {
    let r = t
        .post(
            &format!("{item}/reProtect?api-version={ASR}"),
            p25_reprotect_body("NOPE"),
        )
        .await;
    assert_eq!(r.status, 202);
    let during = t.get(&format!("{item}?api-version={ASR}")).await;
    assert_ne!(
        during.body["properties"]["currentScenario"]["scenarioName"],
        "None"
    );
    assert_eq!(during.body["properties"]["allowedOperations"], json!([]));
    let busy = t
        .post(
            &format!("{item}/reProtect?api-version={ASR}"),
            p25_reprotect_body("NOPE"),
        )
        .await;
    assert_eq!(busy.status, 409);
    t.advance(61.0);
    let aso = r.h("azure-asyncoperation").unwrap();
    let st = t.get(&aso).await;
    assert_eq!(
        (
            st.body["status"].as_str(),
            st.body["error"]["code"].as_str()
        ),
        (Some("Failed"), Some("ProcessServerNotFound"))
    );
}

/// To a registered process server: Protected; then failover and commit back on primary.
async fn p25_reprotect_failover_and_commit(t: &T, item: &str) {
    let ps = t.deploy_registered_ps("ps1", "vnet-a", "10.1.0.10").await;
    let r = t
        .post(
            &format!("{item}/reProtect?api-version={ASR}"),
            p25_reprotect_body(ps["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(r.status, 202);
    t.advance(901.0);
    let g = t.get(&format!("{item}?api-version={ASR}")).await;
    assert_eq!(g.body["properties"]["protectionState"], "Protected");
    assert_eq!(
        g.body["properties"]["providerSpecificDetails"]["processServerId"],
        ps["id"]
    );
    assert_eq!(
        g.body["properties"]["currentScenario"]["scenarioName"],
        "None"
    );
    let uf = json!({"properties": {"failoverDirection": "RecoveryToPrimary", "providerSpecificDetails": {"instanceType": "InMage"}}});
    t.post(&format!("{item}/unplannedFailover?api-version={ASR}"), uf)
        .await;
    t.advance(601.0);
    t.post(
        &format!("{item}/failoverCommit?api-version={ASR}"),
        json!(null),
    )
    .await;
    t.advance(301.0);
    let g = t.get(&format!("{item}?api-version={ASR}")).await;
    assert_eq!(g.body["properties"]["activeLocation"], "Primary");
    assert!(g.body["properties"]["allowedOperations"]
        .as_array()
        .unwrap()
        .contains(&json!("ReverseReplicate")));
}

#[tokio::test]
async fn p26_jobs_filter_cancelled_and_agent_not_ready_failure() {
    let mut s = scenario();
    s.subscriptions[0].vaults[0].protected_items[0].agent_ready_after_secs = 3600.0;
    let t = T::with(s).await;
    let ps = t.deploy_registered_ps("ps1", "vnet-a", "10.1.0.10").await;
    let body = json!({"properties": {"failoverDirection": "RecoveryToPrimary", "providerSpecificDetails": {"instanceType": "InMage", "processServerId": ps["id"], "masterTargetId": "5D3ED340-85AE-C646-B338641E015DA405", "retentionDrive": "R:", "datastoreName": "datastore1", "profileId": "p"}}});
    let a = t
        .post(
            &format!("{}/reProtect?api-version={ASR}", t.item("item-vm-app1")),
            body.clone(),
        )
        .await;
    let b = t
        .post(
            &format!("{}/reProtect?api-version={ASR}", t.item("item-vm-app2")),
            body,
        )
        .await;
    let job_of = |r: &R| {
        r.h("location")
            .unwrap()
            .split("/operationresults/")
            .nth(1)
            .unwrap()
            .split('?')
            .next()
            .unwrap()
            .to_string()
    };
    let (ja, jb) = (job_of(&a), job_of(&b));
    let c = to_r(
        t.http
            .post(t.url(&format!(
                "{}/replicationJobs/{jb}/cancel?api-version={ASR}",
                t.vault()
            )))
            .bearer_auth(&t.token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(c.body["properties"]["state"], "Cancelled", "two l's");
    t.advance(61.0);
    let j = t
        .get(&format!(
            "{}/replicationJobs/{ja}?api-version={ASR}",
            t.vault()
        ))
        .await;
    assert_eq!(j.body["properties"]["state"], "Failed");
    assert_eq!(
        j.body["properties"]["errors"][0]["serviceErrorDetails"]["code"],
        "MobilityServiceNotRegistered"
    );
    let f = t
        .get(&format!(
            "{}/replicationJobs?api-version={ASR}&$filter={}",
            t.vault(),
            urlenc("jobStatus eq 'Cancelled'")
        ))
        .await;
    let v = f.body["value"].as_array().unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["name"], jb.as_str());
    assert_eq!(v[0]["properties"]["stateDescription"], "Cancelled");
    let st = t
        .get(&format!(
            "{}/replicationOperationStatus/{jb}?api-version={ASR}",
            t.vault()
        ))
        .await;
    assert_eq!(
        st.body["status"], "Canceled",
        "ARM async status keeps one l"
    );
}

#[tokio::test]
async fn p27_deleted_ps_vm_heartbeat_goes_stale_and_critical() {
    let t = T::new().await;
    t.deploy_registered_ps("ps1", "vnet-a", "10.1.0.10").await;
    t.delete(&format!("{}?api-version={COMPUTE}", t.vm("ps1")))
        .await;
    t.advance(61.0);
    let hb = t.azure_process_servers().await[0]["lastHeartbeat"]
        .as_str()
        .unwrap()
        .to_string();
    t.advance(1000.0);
    let ps = t.azure_process_servers().await;
    assert_eq!(ps[0]["lastHeartbeat"].as_str().unwrap(), hb, "stale");
    assert_eq!(ps[0]["health"], "Warning");
    t.advance(1000.0);
    let ps = t.azure_process_servers().await;
    assert_eq!(ps[0]["health"], "Critical");
    assert!(!ps[0]["healthErrors"].as_array().unwrap().is_empty());
    assert_eq!(ps.len(), 1, "still in the fabric until unregistered");
}

#[tokio::test]
async fn scripted_failback_completes_after_simulated_time_once_ps_is_healthy() {
    let mut s = Scenario::default_two_networks();
    s.throttle.enabled = false;
    let mut t = T::with(s).await;
    t.advance(7300.0);
    t.token = t.fetch_token().await; // the first one expired in sim time
    let g = t
        .get(&format!("{}?api-version={ASR}", t.item("item-vm-app1")))
        .await;
    assert_eq!(
        g.body["properties"]["activeLocation"], "Recovery",
        "waits for an Azure process server"
    );
    t.deploy_registered_ps("ps1", "vnet-a", "10.1.0.10").await;
    t.advance(60.0 + 900.0 + 600.0 + 300.0 + 5.0);
    for n in ["item-vm-app1", "item-vm-app2", "item-vm-db1"] {
        let g = t.get(&format!("{}?api-version={ASR}", t.item(n))).await;
        assert_eq!(g.body["properties"]["activeLocation"], "Primary", "{n}");
        assert!(g.body["properties"]["allowedOperations"]
            .as_array()
            .unwrap()
            .contains(&json!("ReverseReplicate")));
    }
    let jobs = t
        .get(&format!("{}/replicationJobs?api-version={ASR}", t.vault()))
        .await;
    assert_eq!(jobs.body["value"].as_array().unwrap().len(), 9);
}
