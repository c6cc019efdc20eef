//! `failback sim`: the emulator on loopback for rehearsals.

use anyhow::{anyhow, Result};
use failback_sim::{Scenario, Sim, SimConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

pub async fn run(
    listen: SocketAddr,
    scenario: Option<PathBuf>,
    clock_speed: f64,
    state_file: Option<PathBuf>,
    tls: bool,
) -> Result<i32> {
    let scenario = match scenario {
        Some(p) => Scenario::from_toml_file(&p).map_err(|e| anyhow!("{}: {e}", p.display()))?,
        None => Scenario::default_two_networks(),
    };
    let ca_out = state_file
        .as_ref()
        .map(|p| p.with_extension("ca.pem"))
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("failback-sim-ca-{}.pem", std::process::id()))
        });
    let sim = Sim::start(SimConfig {
        listen,
        scenario,
        clock_speed,
        state_file,
        tls,
    })
    .await
    .map_err(|e| anyhow!("{e}"))?;
    if tls {
        sim.write_ca(&ca_out)
            .map_err(|e| anyhow!("writing {}: {e}", ca_out.display()))?;
    }
    println!("failback-sim listening on {}", sim.base_url());
    println!("# environment for failback (custom cloud: authority_host and resource_manager = the URL above):");
    for (k, v) in sim.env() {
        println!("export {k}={v}");
    }
    if tls {
        println!("export FAILBACK_CA_FILE={}", ca_out.display());
    }
    println!("export FAILBACK_SIM_CLOCK={}", sim.base_url());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    sim.shutdown().await;
    Ok(super::EXIT_OK)
}
