//! `failback demo`: a whole two-network failback against the embedded emulator, with a real
//! crash of the `apply` process in the middle and a `resume` in a new process, then the
//! timeline and what is left in "Azure" (nothing).

use anyhow::{anyhow, bail, Context, Result};
use failback_sim::{Scenario, Sim, SimConfig, SimHandle};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const RUN: &str = "demo-run";
/// Where the apply process is made to die: after the VM PUT of the second network, before
/// the checkpoint that records it.
const CRASH_AT: &str = "vnet-b/create-vm:after-put";

/// The built-in two-network scenario, with long-lived tokens and a 30-minute scripted failback.
pub fn scenario() -> Scenario {
    let mut s = Scenario::default_two_networks();
    // azure_identity caches tokens on the wall clock: keep them valid in accelerated time.
    s.auth.token_lifetime_secs = 60 * 24 * 3600;
    for v in s.subscriptions.iter_mut().flat_map(|s| s.vaults.iter_mut()) {
        for f in &mut v.failback_scripts {
            f.complete_after_secs = 1800.0;
        }
    }
    s
}

/// A two-network spec for `sim`; secrets come from the `FAILBACK_DEMO_*` variables.
pub fn spec_text(sim: &SimHandle) -> Result<String> {
    let (tenant, client, _) = sim
        .credentials()
        .ok_or_else(|| anyhow!("emulator has no principal"))?;
    let sub = sim
        .subscription_id()
        .ok_or_else(|| anyhow!("emulator has no subscription"))?;
    let url = sim.base_url();
    Ok(format!(
        r#"# Written by `failback demo` for the embedded emulator at {url}.
[azure]
cloud = "custom"
authority_host = "{url}"
resource_manager = "{url}"
subscription_id = "{sub}"
tenant_id = "{tenant}"

[azure.credential]
kind = "client-secret"
client_id = "{client}"
client_secret = {{ env = "FAILBACK_DEMO_CLIENT_SECRET" }}

[site_recovery]
resource_group = "rg-asr"
vault = "vault-failback"
fabric = "cs-fabric"

[process_server]
name_prefix = "ps"
admin_username = "failbackadmin"
admin_password = {{ env = "FAILBACK_DEMO_PS_PASSWORD" }}

[configuration_server]
ip = "10.0.0.10"
passphrase = {{ env = "FAILBACK_DEMO_CS_PASSPHRASE" }}

[[network]]
name = "vnet-a"
resource_group = "rg-network"
vnet = "vnet-a"
subnet = "default"
region = "westeurope"
private_ip = "10.1.0.10"
subnet_prefix = "10.1.0.0/24"

[[network]]
name = "vnet-b"
resource_group = "rg-network"
vnet = "vnet-b"
subnet = "default"
region = "westeurope"
private_ip = "10.2.0.10"
subnet_prefix = "10.2.0.0/24"

[failback]
protected_items = ["vm-app1", "vm-app2"]
poll_interval = "5m"
deadline = "7d"
"#
    ))
}

fn random_password() -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("Demo-{n:016x}-Pw!")
}

struct Child<'a> {
    exe: PathBuf,
    env: Vec<(String, String)>,
    dir: &'a Path,
}

impl Child<'_> {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.exe);
        c.args(args)
            .current_dir(self.dir)
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
}

fn banner(t0: Instant, text: &str) {
    println!("\n=== [{:>5.1}s] {text}", t0.elapsed().as_secs_f64());
}

pub async fn run(speed: f64, dir: Option<PathBuf>) -> Result<i32> {
    let t0 = Instant::now();
    let tmp;
    let dir = match dir {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            tmp = tempfile::tempdir().context("temporary directory")?;
            tmp.path().to_path_buf()
        }
    };
    banner(
        t0,
        &format!("starting the Azure emulator (HTTPS, clock x{speed})"),
    );
    let sim = Sim::start(SimConfig {
        scenario: scenario(),
        clock_speed: speed,
        tls: true,
        ..SimConfig::default()
    })
    .await
    .map_err(|e| anyhow!("{e}"))?;
    let ca = dir.join("emulator-ca.pem");
    sim.write_ca(&ca).context("writing the emulator CA")?;
    let spec_path = dir.join("failback.toml");
    std::fs::write(&spec_path, spec_text(&sim)?).context("writing the demo spec")?;
    let (_, _, client_secret) = sim.credentials().ok_or_else(|| anyhow!("no principal"))?;
    let passphrase = sim
        .scenario()
        .subscriptions
        .iter()
        .flat_map(|s| s.vaults.iter())
        .flat_map(|v| v.fabrics.iter())
        .map(|f| f.passphrase.clone())
        .next()
        .ok_or_else(|| anyhow!("no fabric"))?;
    let child = Child {
        exe: std::env::current_exe().context("locating the failback binary")?,
        env: vec![
            (
                "FAILBACK_STATE_DIR".into(),
                dir.join("state").display().to_string(),
            ),
            ("FAILBACK_CA_FILE".into(), ca.display().to_string()),
            ("FAILBACK_SIM_CLOCK".into(), sim.base_url()),
            ("FAILBACK_DEMO_CLIENT_SECRET".into(), client_secret),
            ("FAILBACK_DEMO_PS_PASSWORD".into(), random_password()),
            ("FAILBACK_DEMO_CS_PASSPHRASE".into(), passphrase),
            ("NO_COLOR".into(), "1".into()),
        ],
        dir: &dir,
    };
    println!(
        "emulator at {}; spec written to {}",
        sim.base_url(),
        spec_path.display()
    );

    banner(t0, "failback plan (dry run: nothing is created)");
    let status = child
        .cmd(&["plan", "--spec", "failback.toml", "--run-id", RUN])
        .status()?;
    if !status.success() {
        bail!("plan failed: {status}");
    }

    banner(
        t0,
        &format!("failback apply — this process will be killed at {CRASH_AT}"),
    );
    let status = child
        .cmd(&["apply", "--yes", "--spec", "failback.toml", "--run-id", RUN])
        .env("FAILBACK_CRASH_AT", CRASH_AT)
        .status()?;
    match status.signal() {
        Some(sig) => {
            println!("apply process died (signal {sig}) — the run is checkpointed on disk")
        }
        None => bail!("apply was expected to crash at {CRASH_AT}, but exited with {status}"),
    }
    let vm_puts = sim
        .journal()
        .iter()
        .filter(|e| {
            e.method == "PUT"
                && e.path.contains("/virtualMachines/")
                && !e.path.contains("/runCommands/")
        })
        .count();
    println!("VM PUTs sent so far: {vm_puts}");

    banner(t0, "failback status after the crash");
    child.cmd(&["status", RUN]).status()?;

    banner(
        t0,
        "failback resume (a new process picks the run up where it stopped)",
    );
    let status = child.cmd(&["resume", RUN]).status()?;
    if !status.success() {
        bail!("resume did not complete the run: {status}");
    }

    banner(t0, "timeline (failback history)");
    child.cmd(&["history", RUN]).status()?;

    banner(
        t0,
        "failback plan --run (the finished run: nothing left to do)",
    );
    let status = child.cmd(&["plan", "--run", RUN]).status()?;
    if !status.success() {
        bail!("plan of the finished run failed: {status}");
    }

    banner(t0, "what is left in the emulator");
    let inv = sim.inventory();
    let left = inv.created();
    let journal = sim.journal();
    let count = |m: &str, needle: &str| {
        journal
            .iter()
            .filter(|e| e.method == m && e.path.contains(needle))
            .count()
    };
    println!(
        "NIC PUTs: {}, VM PUTs: {} (one per network; the crashed PUT was not sent again), run-command PUTs: {}",
        count("PUT", "/networkInterfaces/"),
        journal
            .iter()
            .filter(|e| e.method == "PUT" && e.path.contains("/virtualMachines/") && !e.path.contains("/runCommands/"))
            .count(),
        count("PUT", "/runCommands/")
    );
    println!("ARM requests in all: {}", journal.len());
    if left.is_empty() {
        println!("resources left behind: none");
    } else {
        for r in &left {
            println!("left behind: {} ({})", r.id, r.kind);
        }
    }
    sim.shutdown().await;
    banner(t0, "demo finished");
    Ok(if left.is_empty() {
        super::EXIT_OK
    } else {
        super::EXIT_FAILED
    })
}
