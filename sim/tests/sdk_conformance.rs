//! The official Azure SDKs for Python (pinned in sim/sdk-conformance/requirements.txt) drive a
//! real `failback-sim` process (HTTPS, its default) at their default api-versions: sim/sdk-conformance/conformance.py.
//! Fails — never skips — when the venv is missing: `sim/sdk-conformance/setup.sh` makes it
//! (`.ci/run` calls it before `cargo test`). The venv is `$FAILBACK_SDK_VENV`, else
//! `sim/sdk-conformance/.venv`.

use failback_sim::Scenario;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

struct Emulator(Child);

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn venv_python() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-conformance");
    let venv = std::env::var_os("FAILBACK_SDK_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| here.join(".venv"));
    let python = venv.join("bin").join("python");
    assert!(
        python.exists(),
        "no SDK venv at {}: run `sim/sdk-conformance/setup.sh` (it installs the pinned official \
         Azure SDKs from PyPI; .ci/run does this before cargo test)",
        venv.display()
    );
    python
}

/// Fast LROs and a 1 s Retry-After, so the SDK pollers finish in seconds.
fn scenario() -> Scenario {
    let mut s = Scenario::default_two_networks();
    let t = &mut s.timings;
    (t.nic_put_secs, t.nic_delete_secs) = (2.0, 2.0);
    (t.vm_create_secs, t.vm_delete_secs, t.vm_force_delete_secs) = (10.0, 10.0, 5.0);
    (t.agent_ready_secs, t.disk_delete_secs) = (5.0, 2.0);
    t.run_command_secs = 5.0;
    (t.compute_retry_after_secs, t.network_retry_after_secs) = (1, 1);
    t.asr_retry_after_secs = 1;
    s.throttle.enabled = false;
    s
}

/// Start the binary with TLS; returns it and the environment it prints (`export K=V` lines).
fn start(dir: &Path) -> (Emulator, Vec<(String, String)>) {
    let scenario_file = dir.join("scenario.json");
    std::fs::write(&scenario_file, serde_json::to_vec(&scenario()).unwrap()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_failback-sim"))
        .args(["--listen", "127.0.0.1:0", "--clock-speed", "10"])
        .arg("--scenario")
        .arg(&scenario_file)
        .arg("--ca-out")
        .arg(dir.join("ca.pem"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn failback-sim");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let emulator = Emulator(child);
    let mut env = vec![];
    let mut line = String::new();
    while out.read_line(&mut line).expect("read stdout") > 0 {
        if let Some((k, v)) = line
            .trim()
            .strip_prefix("export ")
            .and_then(|l| l.split_once('='))
        {
            env.push((k.to_string(), v.to_string()));
            if k == "FAILBACK_CA_FILE" {
                break;
            }
        }
        line.clear();
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    (emulator, env)
}

#[test]
fn official_python_sdks_at_default_api_versions_pass_every_check() {
    let python = venv_python();
    let dir = tempfile::tempdir().unwrap();
    let (_emulator, env) = start(dir.path());
    let ca = dir.path().join("ca.pem");
    let s = scenario();
    let p = s.primary_principal().expect("principal");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-conformance/conformance.py");
    let started = Instant::now();
    let out = Command::new(&python)
        .arg(&script)
        .envs(env)
        .env("AZURE_CLIENT_SECRET", &p.client_secret)
        // The emulator's CA, for requests' sessions (MSAL's) and Python's ssl defaults.
        .env("REQUESTS_CA_BUNDLE", &ca)
        .env("SSL_CERT_FILE", &ca)
        .env_remove("CURL_CA_BUNDLE")
        .stderr(Stdio::inherit())
        .output()
        .expect("run the conformance script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "SDK conformance failed:\n{stdout}");
    assert!(
        stdout.contains("sdk-conformance: 13/13 checks passed"),
        "{stdout}"
    );
    println!("SDK conformance took {:?}", started.elapsed());
}
