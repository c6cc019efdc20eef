//! Test support for end-to-end tests of the real `failback` binary: an emulator (HTTPS,
//! accelerated clock) in this process, a spec and environment for it, and short ways to run
//! the binary against them.
#![allow(dead_code)]

use assert_cmd::Command;
use failback_sim::SimHandle;
use std::path::{Path, PathBuf};

pub const SPEED: f64 = 1000.0;
pub const PS_PASSWORD: &str = "E2e-Unique-Passw0rd!77";

pub struct Rehearsal {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    rt: tokio::runtime::Runtime,
}

impl Rehearsal {
    pub fn start() -> Self {
        Self::with(failback::commands::demo::scenario())
    }

    pub fn with(scenario: failback_sim::Scenario) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let r = rt
            .block_on(failback::rehearsal::Rehearsal::start(
                scenario,
                SPEED,
                dir.path(),
                PS_PASSWORD,
            ))
            .expect("rehearsal");
        Self {
            sim: r.sim,
            dir,
            env: r.env,
            rt,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Override one environment variable for later commands.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.into(), value.into()));
    }

    /// `failback ARGS` in the rehearsal directory with its environment.
    pub fn failback(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("failback").expect("binary");
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("FAILBACK_CRASH_AT")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .timeout(std::time::Duration::from_secs(120));
        c
    }

    /// The same as a plain std command (for killing it).
    pub fn failback_std(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("failback"));
        c.args(args)
            .current_dir(self.dir.path())
            .env_remove("FAILBACK_CRASH_AT")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    }

    pub fn count(&self, method: &str, needle: &str) -> usize {
        failback::rehearsal::count(&self.sim, method, needle)
    }

    /// PUTs of VMs (not of their Run Commands).
    pub fn vm_puts(&self) -> usize {
        failback::rehearsal::vm_put_paths(&self.sim).len()
    }

    pub fn left_behind(&self) -> Vec<String> {
        failback::rehearsal::left_behind(&self.sim)
    }

    /// An ARM request to the emulator as its primary principal (a token from its token
    /// endpoint), as another tool or a person in the portal would make it: (status, body).
    pub fn arm(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let base = self.sim.base_url();
        let (tenant, client, secret) = self.sim.credentials().expect("principal");
        let pem = self.sim.ca_pem().expect("tls");
        self.rt.block_on(async {
            let http = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).expect("ca"))
                .build()
                .expect("client");
            let form: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "client_credentials")
                .append_pair("client_id", &client)
                .append_pair("client_secret", &secret)
                .append_pair("scope", &format!("{base}/.default"))
                .finish();
            let token: serde_json::Value = http
                .post(format!("{base}/{tenant}/oauth2/v2.0/token"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(form)
                .send()
                .await
                .expect("token")
                .json()
                .await
                .expect("token body");
            let bearer = token["access_token"]
                .as_str()
                .expect("access_token")
                .to_owned();
            let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
            let mut req = http
                .request(method, format!("{base}{path}"))
                .bearer_auth(bearer);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.expect("ARM request");
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            (
                status,
                serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
            )
        })
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

pub fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}
