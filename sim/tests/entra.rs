//! Entra's unauthenticated metadata (OIDC discovery, JWKS, instance discovery) and the v1 token
//! endpoint, over TLS, with no bearer token on the metadata requests.

mod support;
use support::*;

async fn get_anonymous(t: &T, path: &str) -> R {
    let resp = t.http.get(t.url(path)).send().await.expect("send");
    to_r(resp).await
}

#[tokio::test]
async fn oidc_discovery_is_served_without_authentication_for_tenants_common_and_organizations() {
    let t = T::with_tls(scenario()).await;
    let (tenant, _, _) = t.sim.credentials().unwrap();
    for who in [tenant.as_str(), "common", "organizations"] {
        let r = get_anonymous(&t, &format!("/{who}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(r.status, 200, "{who}: {}", r.text);
        assert_eq!(
            r.body["token_endpoint"],
            format!("{}/{who}/oauth2/v2.0/token", t.base)
        );
        assert_eq!(
            r.body["jwks_uri"],
            format!("{}/{who}/discovery/v2.0/keys", t.base)
        );
        let v1 = get_anonymous(&t, &format!("/{who}/.well-known/openid-configuration")).await;
        assert_eq!(v1.status, 200);
        assert_eq!(
            v1.body["token_endpoint"],
            format!("{}/{who}/oauth2/token", t.base)
        );
    }
    let r = get_anonymous(
        &t,
        &format!("/{tenant}/v2.0/.well-known/openid-configuration"),
    )
    .await;
    assert_eq!(r.body["issuer"], format!("{}/{tenant}/v2.0", t.base));
    let r = get_anonymous(&t, "/no-such-tenant/v2.0/.well-known/openid-configuration").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.body["error"], "invalid_tenant");
    assert!(r.body["error_description"]
        .as_str()
        .unwrap()
        .starts_with("AADSTS90002:"));
}

#[tokio::test]
async fn tokens_are_rs256_signed_with_the_key_the_jwks_publishes() {
    let t = T::with_tls(scenario()).await;
    let (tenant, _, _) = t.sim.credentials().unwrap();
    let keys = get_anonymous(&t, &format!("/{tenant}/discovery/v2.0/keys")).await;
    assert_eq!(keys.status, 200);
    let jwk = &keys.body["keys"][0];
    assert_eq!(jwk["kty"], "RSA");
    let header: serde_json::Value = serde_json::from_slice(
        &failback_sim::auth::b64url_decode(t.token.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], jwk["kid"]);
}

#[tokio::test]
async fn instance_discovery_knows_the_emulator_host_and_refuses_others() {
    let t = T::with_tls(scenario()).await;
    let (tenant, _, _) = t.sim.credentials().unwrap();
    // MSAL names the instance by host name without the port.
    let ep = format!("https://127.0.0.1/{tenant}/oauth2/v2.0/authorize");
    let r = get_anonymous(
        &t,
        &format!(
            "/common/discovery/instance?api-version=1.0&authorization_endpoint={}",
            urlenc(&ep)
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["tenant_discovery_endpoint"],
        format!("{}/{tenant}/v2.0/.well-known/openid-configuration", t.base)
    );
    let other = urlenc("https://login.example.com/x/oauth2/v2.0/authorize");
    let r = get_anonymous(
        &t,
        &format!("/common/discovery/instance?api-version=1.0&authorization_endpoint={other}"),
    )
    .await;
    assert_eq!(r.body["error"], "invalid_instance");
}

#[tokio::test]
async fn v1_token_endpoint_takes_a_resource_and_answers_strings() {
    let t = T::with_tls(scenario()).await;
    let (tenant, client, secret) = t.sim.credentials().unwrap();
    let body = format!(
        "grant_type=client_credentials&client_id={client}&client_secret={}&resource={}",
        urlenc(&secret),
        urlenc("https://management.azure.com/")
    );
    let resp = t
        .http
        .post(format!("{}/{tenant}/oauth2/token", t.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let r = to_r(resp).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.body["expires_in"].is_string());
    assert_eq!(r.body["resource"], "https://management.azure.com/");
    let token = r.body["access_token"].as_str().unwrap();
    let vm = t.vm("none");
    let arm = t
        .http
        .get(t.url(&format!("{vm}?api-version=2026-04-01")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(arm.status(), 404, "the v1 token is accepted by ARM");
}
