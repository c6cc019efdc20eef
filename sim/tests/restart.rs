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
            .args(["--listen", addr, "--no-tls", "--state-file"])
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

async fn advance(http: &reqwest::Client, url: &str, secs: f64) {
    let r = http
        .post(format!("{url}/_sim/clock/advance"))
        .json(&json!({"seconds": secs}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

async fn send(rb: reqwest::RequestBuilder) -> reqwest::Response {
    rb.send().await.expect("request")
}

/// Compute's operation, seen through its Location URL (`…&monitor=true`): a VM being deleted when
/// the emulator dies is still being deleted after the restart, and then gone.
#[tokio::test]
async fn a_vm_delete_in_flight_survives_sigkill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (state, scenario_file) = (dir.path().join("s.json"), dir.path().join("sc.json"));
    let mut s = Scenario::default_two_networks();
    (s.timings.nic_put_secs, s.timings.vm_create_secs) = (1.0, 1.0);
    s.timings.vm_delete_secs = 3600.0;
    std::fs::write(&scenario_file, serde_json::to_vec(&s).unwrap()).unwrap();
    let (http, addr) = (reqwest::Client::new(), free_addr());
    let sim = Emulator::start(&addr, &state, &scenario_file);
    let bearer = token(&http, &sim.url, &s).await;
    let rg = format!(
        "{}/subscriptions/{}/resourceGroups/rg-failback/providers",
        sim.url, s.subscriptions[0].id
    );
    let (nic, vm) = (
        format!("{rg}/Microsoft.Network/networkInterfaces/vm-1-nic"),
        format!("{rg}/Microsoft.Compute/virtualMachines/vm-1?api-version=2026-04-01"),
    );
    let subnet = format!("/subscriptions/{}/resourceGroups/rg-network/providers/Microsoft.Network/virtualNetworks/vnet-a/subnets/default", s.subscriptions[0].id);
    let nic_body = json!({"location": "westeurope", "properties": {"ipConfigurations": [{"name": "c",
        "properties": {"subnet": {"id": subnet}}}]}});
    let put = http
        .put(format!("{nic}?api-version={NET}"))
        .bearer_auth(&bearer);
    assert_eq!(send(put.json(&nic_body)).await.status(), 201);
    advance(&http, &sim.url, 2.0).await;
    let nic_id = nic.trim_start_matches(&sim.url).to_string();
    let vm_body = json!({"location": "westeurope", "properties": {
        "hardwareProfile": {"vmSize": "Standard_A8_v2"},
        "storageProfile": {"imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2016-Datacenter", "version": "latest"},
            "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "StandardSSD_LRS"}}},
        "osProfile": {"computerName": "vm-1", "adminUsername": "psadmin", "adminPassword": "Sim-Passw0rd!x"},
        "networkProfile": {"networkInterfaces": [{"id": nic_id}]}}});
    let created = send(http.put(&vm).bearer_auth(&bearer).json(&vm_body)).await;
    assert_eq!(created.status(), 201);
    advance(&http, &sim.url, 2.0).await;
    let deleted = send(http.delete(&vm).bearer_auth(&bearer)).await;
    assert_eq!(deleted.status(), 202);
    let location = deleted.headers()["location"].to_str().unwrap().to_string();
    assert!(location.contains("&monitor=true"), "{location}");
    sim.kill();

    let http = reqwest::Client::new();
    let sim = Emulator::start(&addr, &state, &scenario_file);
    let polled = send(http.get(&location).bearer_auth(&bearer)).await;
    assert_eq!(
        polled.status(),
        202,
        "Location after restart: still deleting"
    );
    let (code, body) = get(&http, &vm, &bearer).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["properties"]["provisioningState"], "Deleting");
    advance(&http, &sim.url, 3700.0).await;
    let bearer = token(&http, &sim.url, &s).await;
    let done = send(http.get(&location).bearer_auth(&bearer)).await;
    assert_eq!(done.status(), 200);
    assert_eq!(get(&http, &vm, &bearer).await.0, 404);
}
