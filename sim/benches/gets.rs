//! Acceptance 4: simple authenticated ARM GETs per second over loopback with N concurrent
//! keep-alive clients (bounded: ~3 s). Prints the figure; exits non-zero below 5,000/s.
//! Run: `cargo bench -p failback-sim --bench gets` (env GETS_CLIENTS, GETS_SECS to tune).

use failback_sim::{Scenario, Sim, SimConfig};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A bearer token for the scenario's principal.
async fn token(http: &reqwest::Client, sim: &failback_sim::SimHandle) -> String {
    let base = sim.base_url();
    let (tenant, client, secret) = sim.credentials().expect("principal");
    let tok: serde_json::Value = http
        .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&client_id={client}&client_secret={secret}&scope={base}/.default"))
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("token json");
    tok["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

/// `clients` tasks GET `url` until `deadline`; returns (successes, errors).
async fn hammer(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    clients: usize,
    deadline: Instant,
) -> (u64, u64) {
    let count = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = vec![];
    for _ in 0..clients {
        let (http, url, token, count, errors) = (
            http.clone(),
            url.to_string(),
            token.to_string(),
            count.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match http.get(&url).bearer_auth(&token).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (
        count.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
    )
}

#[tokio::main]
async fn main() {
    let clients: usize = env_or("GETS_CLIENTS", 16);
    let secs: f64 = env_or("GETS_SECS", 3.0);
    let mut scenario = Scenario::default_two_networks();
    scenario.throttle.enabled = false;
    let sim = Sim::start(SimConfig {
        scenario,
        ..Default::default()
    })
    .await
    .expect("sim");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let token = token(&http, &sim).await;
    let sub = sim.subscription_id().expect("subscription");
    let url = format!("{}/subscriptions/{sub}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-a?api-version=2024-05-01", sim.base_url());
    // Warm-up, then measure.
    for _ in 0..50 {
        let _ = http.get(&url).bearer_auth(&token).send().await;
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let (n, errors) = hammer(&http, &url, &token, clients, deadline).await;
    let elapsed = start.elapsed().as_secs_f64();
    let rate = n as f64 / elapsed;
    println!("failback-sim: {n} GETs in {elapsed:.2}s with {clients} concurrent clients = {rate:.0} GETs/s ({errors} errors)");
    sim.shutdown().await;
    if rate < 5000.0 {
        eprintln!("below the 5,000 GETs/s target");
        std::process::exit(1);
    }
}
