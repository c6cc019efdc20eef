//! A real `failback-sim` process SIGKILLed right after it accepted a write, restarted from its
//! state file on the same address: the operation's status URL answers as ARM's would (in progress,
//! then succeeded), never 404, and the resource is still there mid-change.

use failback_sim::Scenario;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NET: &str = "2026-03-01";

struct Emulator {
    child: Child,
    url: String,
}

impl Emulator {
    fn start(addr: &str, state: &Path, scenario: &Path) -> Emulator {
        let mut child = Command::new(env!("CARGO_BIN_EXE_failback-sim"))
            .args(["--listen", addr, "--state-file"])
            .arg(state)
            .arg("--scenario")
            .arg(scenario)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn failback-sim");
        let stdout = child.stdout.take().expect("stdout");
        let mut out = BufReader::new(stdout);
        let mut first = String::new();
        out.read_line(&mut first).expect("first line");
        // Keep draining: a closed pipe would kill the emulator at its next line of output.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        let url = first
            .trim()
            .strip_prefix("failback-sim listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_string();
        Emulator { child, url }
    }

    /// SIGKILL (what `Child::kill` sends on Unix) and reap.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn token(http: &reqwest::Client, url: &str, s: &Scenario) -> String {
    let p = s.primary_principal().expect("principal");
    let form = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", &p.client_id)
        .append_pair("client_secret", &p.client_secret)
        .append_pair("scope", "https://management.azure.com/.default")
        .finish();
    let r: Value = http
        .post(format!("{url}/{}/oauth2/v2.0/token", p.tenant_id))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("token request")
        .json()
        .await
        .expect("token json");
    r["access_token"]
        .as_str()
        .expect("access_token")
        .to_string()
}

async fn get(http: &reqwest::Client, url: &str, bearer: &str) -> (u16, Value) {
    let r = http.get(url).bearer_auth(bearer).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Bind port 0, note the port, release it: the emulator binds it next (SO_REUSEADDR).
fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

#[tokio::test]
async fn an_operation_in_flight_survives_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (state, scenario_file) = (
        dir.path().join("sim.json"),
        dir.path().join("scenario.json"),
    );
    let mut s = Scenario::default_two_networks();
    s.timings.nic_put_secs = 3600.0; // mid-change across the restart
    std::fs::write(&scenario_file, serde_json::to_vec(&s).unwrap()).unwrap();
    let http = reqwest::Client::new();
    let addr = free_addr();
    let sim = Emulator::start(&addr, &state, &scenario_file);
    let bearer = token(&http, &sim.url, &s).await;
    let sub = &s.subscriptions[0].id;
    let nic = format!("{}/subscriptions/{sub}/resourceGroups/rg-failback/providers/Microsoft.Network/networkInterfaces/nic-1", sim.url);
    let subnet = format!("/subscriptions/{sub}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-a/subnets/default");
    let body = json!({"location": "westeurope", "properties": {"ipConfigurations": [{"name": "ipconfig1",
        "properties": {"privateIPAllocationMethod": "Static", "privateIPAddress": "10.1.0.10", "subnet": {"id": subnet}}}]}});
    let r = http
        .put(format!("{nic}?api-version={NET}"))
        .bearer_auth(&bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let status_url = r.headers()["azure-asyncoperation"]
        .to_str()
        .unwrap()
        .to_string();
    let url = sim.url.clone();
    sim.kill(); // at once: no debounce, no graceful shutdown

    // A new client: the old one's pooled connection died with the process.
    let http = reqwest::Client::new();
    let sim = Emulator::start(&addr, &state, &scenario_file);
    assert_eq!(
        sim.url, url,
        "same address, so the status URL still points at it"
    );
    let (code, op) = get(&http, &status_url, &bearer).await;
    assert_eq!(code, 200, "status URL after restart: {op}");
    assert_eq!(op["status"], "InProgress");
    let (code, n) = get(&http, &format!("{nic}?api-version={NET}"), &bearer).await;
    assert_eq!(code, 200, "{n}");
    assert_ne!(n["properties"]["provisioningState"], "Succeeded");

    let advanced = http
        .post(format!("{}/_sim/clock/advance", sim.url))
        .json(&json!({"seconds": 3700}))
        .send()
        .await
        .unwrap();
    assert_eq!(advanced.status(), 200);
    let bearer = token(&http, &sim.url, &s).await; // the old one expired in the hour
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, op) = get(&http, &status_url, &bearer).await;
        assert_eq!(code, 200, "{op}");
        if op["status"] == "Succeeded" {
            break;
        }
        assert!(Instant::now() < deadline, "never completed: {op}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, n) = get(&http, &format!("{nic}?api-version={NET}"), &bearer).await;
    assert_eq!(n["properties"]["provisioningState"], "Succeeded");
}
