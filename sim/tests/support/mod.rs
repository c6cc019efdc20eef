//! Test support: start a sim, get a token, call ARM (plain HTTP, or HTTPS trusting the sim CA),
//! drive the sim clock.
#![allow(dead_code)]

use failback_sim::{Scenario, Sim, SimConfig, SimHandle};
use serde_json::{json, Value};

pub const NET: &str = "2024-05-01";
pub const COMPUTE: &str = "2025-04-01";
pub const DISKS: &str = "2025-01-02";
pub const SKUS: &str = "2021-07-01";
pub const ASR: &str = "2025-08-01";

pub struct R {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl R {
    pub fn h(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.to_string())
    }
    pub fn code(&self) -> String {
        self.body["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub struct T {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub token: String,
    pub base: String,
    pub sub: String,
}

/// Default demo scenario, throttling off (tests that need it turn it on).
pub fn scenario() -> Scenario {
    let mut s = Scenario::default_two_networks();
    s.throttle.enabled = false;
    s.vaults_mut_scripts_clear();
    s
}

pub trait ScenarioExt {
    fn vaults_mut_scripts_clear(&mut self);
}
impl ScenarioExt for Scenario {
    /// Tests drive failback explicitly unless they ask for the script.
    fn vaults_mut_scripts_clear(&mut self) {
        for s in self.subscriptions.iter_mut() {
            for v in s.vaults.iter_mut() {
                v.failback_scripts.clear();
            }
        }
    }
}

impl T {
    pub async fn new() -> T {
        Self::with(scenario()).await
    }

    pub async fn with(s: Scenario) -> T {
        let sim = Sim::start(SimConfig {
            scenario: s,
            ..Default::default()
        })
        .await
        .expect("sim starts");
        Self::attach(sim).await
    }

    /// Same as `with`, serving HTTPS; `t.http` trusts the sim's CA.
    pub async fn with_tls(s: Scenario) -> T {
        let sim = Sim::start(SimConfig {
            scenario: s,
            tls: true,
            ..Default::default()
        })
        .await
        .expect("sim starts");
        Self::attach(sim).await
    }

    pub async fn attach(sim: SimHandle) -> T {
        let http = match sim.ca_pem() {
            Some(ca) => https_client(&ca),
            None => reqwest::Client::builder()
                .pool_max_idle_per_host(8)
                .build()
                .expect("client"),
        };
        let base = sim.base_url();
        let sub = sim.subscription_id().unwrap_or_default();
        let mut t = T {
            sim,
            http,
            token: String::new(),
            base,
            sub,
        };
        t.token = t.fetch_token().await;
        t
    }

    pub async fn fetch_token(&self) -> String {
        let (tenant, client, secret) = self.sim.credentials().expect("principal");
        let r = self
            .token_request(
                &tenant,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", &client),
                    ("client_secret", &secret),
                    ("scope", &format!("{}/.default", self.base)),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "token: {}", r.text);
        r.body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    pub async fn token_request(&self, tenant: &str, form: &[(&str, &str)]) -> R {
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", urlenc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let resp = self
            .http
            .post(format!("{}/{tenant}/oauth2/v2.0/token", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("send");
        to_r(resp).await
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> R {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(m, self.url(path))
            .bearer_auth(&self.token);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        to_r(rb.send().await.expect("send")).await
    }
    pub async fn get(&self, path: &str) -> R {
        self.req("GET", path, None, &[]).await
    }
    pub async fn put(&self, path: &str, body: Value) -> R {
        self.req("PUT", path, Some(body), &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> R {
        self.req("POST", path, Some(body), &[]).await
    }
    pub async fn delete(&self, path: &str) -> R {
        self.req("DELETE", path, None, &[]).await
    }
    pub fn advance(&self, secs: f64) {
        self.sim.advance(secs);
    }

    pub fn rg(&self, rg: &str) -> String {
        format!("/subscriptions/{}/resourceGroups/{rg}", self.sub)
    }
    pub fn subnet_id(&self, vnet: &str) -> String {
        format!(
            "{}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/default",
            self.rg("rg-network")
        )
    }
    pub fn vnet(&self, vnet: &str) -> String {
        format!(
            "{}/providers/Microsoft.Network/virtualNetworks/{vnet}",
            self.rg("rg-network")
        )
    }
    pub fn nic(&self, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Network/networkInterfaces/{name}",
            self.rg("rg-failback")
        )
    }
    pub fn vm(&self, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/virtualMachines/{name}",
            self.rg("rg-failback")
        )
    }
    pub fn disk(&self, name: &str) -> String {
        format!(
            "{}/providers/Microsoft.Compute/disks/{name}",
            self.rg("rg-failback")
        )
    }
    pub fn vault(&self) -> String {
        format!("/subscriptions/{}/resourceGroups/rg-asr/providers/Microsoft.RecoveryServices/vaults/vault-failback", self.sub)
    }
    pub fn item(&self, name: &str) -> String {
        format!("{}/replicationFabrics/cs-fabric/replicationProtectionContainers/cloud_cs-fabric/replicationProtectedItems/{name}", self.vault())
    }

    pub fn nic_body(&self, vnet: &str, ip: &str) -> Value {
        json!({"location": "westeurope", "tags": {"failback-run": "r1"}, "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
            "primary": true, "privateIPAllocationMethod": "Static", "privateIPAddress": ip, "privateIPAddressVersion": "IPv4",
            "subnet": {"id": self.subnet_id(vnet)}}}], "enableAcceleratedNetworking": false}})
    }

    /// PUT a NIC and let it finish provisioning.
    pub async fn create_nic(&self, name: &str, vnet: &str, ip: &str) -> R {
        let r = self
            .put(
                &format!("{}?api-version={NET}", self.nic(name)),
                self.nic_body(vnet, ip),
            )
            .await;
        assert_eq!(r.status, 201, "nic put: {}", r.text);
        self.advance(6.0);
        r
    }

    pub fn vm_body(&self, nic: &str, size: &str, computer: &str, image_sku: &str) -> Value {
        json!({"location": "westeurope", "tags": {"failback-run": "r1"}, "properties": {
            "hardwareProfile": {"vmSize": size},
            "storageProfile": {
                "imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": image_sku, "version": "latest"},
                "osDisk": {"name": format!("{computer}-os"), "createOption": "FromImage", "caching": "ReadWrite", "managedDisk": {"storageAccountType": "StandardSSD_LRS"}, "deleteOption": "Delete"},
                "dataDisks": [{"lun": 0, "name": format!("{computer}-cache"), "createOption": "Empty", "diskSizeGB": 600, "managedDisk": {"storageAccountType": "StandardSSD_LRS"}, "deleteOption": "Delete"}]},
            "osProfile": {"computerName": computer, "adminUsername": "psadmin", "adminPassword": "Sim-Passw0rd!x", "windowsConfiguration": {"provisionVMAgent": true, "enableAutomaticUpdates": true}},
            "networkProfile": {"networkInterfaces": [{"id": self.nic(nic), "properties": {"primary": true, "deleteOption": "Detach"}}]},
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": true}}}})
    }

    /// NIC + VM, booted with the agent Ready.
    pub async fn create_vm(&self, name: &str, vnet: &str, ip: &str) -> R {
        self.create_nic(&format!("{name}-nic"), vnet, ip).await;
        let r = self
            .put(
                &format!("{}?api-version={COMPUTE}", self.vm(name)),
                self.vm_body(
                    &format!("{name}-nic"),
                    "Standard_A8_v2",
                    name,
                    "2016-Datacenter",
                ),
            )
            .await;
        assert_eq!(r.status, 201, "vm put: {}", r.text);
        self.advance(90.0 + 61.0);
        r
    }

    pub fn registration_body(&self, cs_ip: &str, port: &str, passphrase: &str) -> Value {
        json!({"location": "westeurope", "properties": {
            "source": {"script": "param($ConfigurationServerIp,$ConfigurationServerPort,$DataTransferSecurePort,$InstallerUri,$ProcessServerName,$Passphrase)\n.\\UnifiedSetup.exe /servermode PS /CSIP $ConfigurationServerIp"},
            "parameters": [{"name": "ConfigurationServerIp", "value": cs_ip}, {"name": "ConfigurationServerPort", "value": port}, {"name": "DataTransferSecurePort", "value": "9443"}, {"name": "InstallerUri", "value": ""}, {"name": "ProcessServerName", "value": "ps"}],
            "protectedParameters": [{"name": "Passphrase", "value": passphrase}],
            "asyncExecution": false, "treatFailureAsDeploymentFailure": true, "timeoutInSeconds": 3600}})
    }

    pub fn passphrase(&self) -> String {
        self.sim.scenario().subscriptions[0].vaults[0].fabrics[0]
            .passphrase
            .clone()
    }

    pub async fn fabric(&self) -> Value {
        let r = self
            .get(&format!(
                "{}/replicationFabrics/cs-fabric?api-version={ASR}",
                self.vault()
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    }

    pub async fn azure_process_servers(&self) -> Vec<Value> {
        let f = self.fabric().await;
        f["properties"]["customDetails"]["processServers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|p| p["ipAddress"] != "10.0.0.10")
            .collect()
    }

    /// VM + registration run command with the right passphrase, PS registered and healthy.
    pub async fn deploy_registered_ps(&self, name: &str, vnet: &str, ip: &str) -> Value {
        self.create_vm(name, vnet, ip).await;
        let r = self
            .put(
                &format!(
                    "{}/runCommands/register?api-version={COMPUTE}",
                    self.vm(name)
                ),
                self.registration_body("10.0.0.10", "443", &self.passphrase()),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        self.advance(130.0 + 181.0);
        let ps = self.azure_process_servers().await;
        ps.into_iter()
            .find(|p| p["ipAddress"] == ip)
            .expect("process server registered")
    }
}

/// A client that trusts exactly this CA (PEM).
pub fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(8)
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA PEM")])
        .build()
        .expect("https client")
}

pub async fn to_r(resp: reqwest::Response) -> R {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    R {
        status,
        headers,
        body,
        text,
    }
}

pub fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The official example for an operation (fixtures/azure-examples).
pub fn example(name: &str) -> Value {
    let p = format!(
        "{}/../fixtures/azure-examples/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&p).expect("example file")).expect("example json")
}

/// Every key of the example body (recursively, first array element) must exist in ours,
/// except keys in `ignore` (features the sim does not model, listed per test).
pub fn assert_shape(example: &Value, ours: &Value, ignore: &[&str]) {
    fn walk(e: &Value, o: &Value, path: &str, ignore: &[&str], missing: &mut Vec<String>) {
        match (e, o) {
            (Value::Object(em), Value::Object(om)) => {
                for (k, ev) in em {
                    if ignore.contains(&k.as_str()) {
                        continue;
                    }
                    match om.get(k) {
                        Some(ov) => walk(ev, ov, &format!("{path}.{k}"), ignore, missing),
                        None => missing.push(format!("{path}.{k}")),
                    }
                }
            }
            (Value::Array(ea), Value::Array(oa)) => {
                if let (Some(e0), Some(o0)) = (ea.first(), oa.first()) {
                    walk(e0, o0, &format!("{path}[0]"), ignore, missing);
                }
            }
            _ => {}
        }
    }
    let mut missing = vec![];
    walk(example, ours, "", ignore, &mut missing);
    assert!(
        missing.is_empty(),
        "fields of the official example missing from the sim's response: {missing:?}\nours: {ours}"
    );
}

/// Statuses the example documents for an operation.
pub fn example_statuses(name: &str) -> Vec<u16> {
    example(name)["responses"]
        .as_object()
        .map(|m| m.keys().filter_map(|k| k.parse().ok()).collect())
        .unwrap_or_default()
}
