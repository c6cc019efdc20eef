//! `failback-sim --listen 127.0.0.1:0 --scenario FILE [--clock-speed F] [--state-file PATH]
//! [--tls [--ca-out PATH]]`

use clap::Parser;
use failback_sim::{Scenario, Sim, SimConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "failback-sim",
    about = "Local Azure emulator (Entra ID + ARM + Site Recovery) for failback rehearsals"
)]
struct Args {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Scenario file (TOML, or JSON if it ends in .json). Default: the built-in two-network scenario.
    #[arg(long)]
    scenario: Option<PathBuf>,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = 1.0)]
    clock_speed: f64,
    /// Persist the emulated world to this file (loaded at start if it exists).
    #[arg(long)]
    state_file: Option<PathBuf>,
    /// Serve HTTPS with a certificate from a local CA (kept beside --state-file if given).
    #[arg(long)]
    tls: bool,
    /// Write the CA certificate (PEM) here; printed as FAILBACK_CA_FILE.
    /// Default: <state file dir or temp dir>/failback-sim-ca.pem.
    #[arg(long, requires = "tls")]
    ca_out: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let scenario = match &args.scenario {
        Some(p) => match Scenario::from_toml_file(p) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("failback-sim: {e}");
                std::process::exit(2);
            }
        },
        None => Scenario::default_two_networks(),
    };
    let cfg = SimConfig {
        listen: args.listen,
        scenario,
        clock_speed: args.clock_speed,
        state_file: args.state_file.clone(),
        tls: args.tls,
    };
    let sim = match Sim::start(cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("failback-sim: {e}");
            std::process::exit(1);
        }
    };
    if args.tls {
        let ca_out = args.ca_out.clone().unwrap_or_else(|| {
            let dir = args
                .state_file
                .as_ref()
                .and_then(|p| p.parent())
                .map(|d| {
                    if d.as_os_str().is_empty() {
                        PathBuf::from(".")
                    } else {
                        d.to_path_buf()
                    }
                })
                .unwrap_or_else(std::env::temp_dir);
            dir.join("failback-sim-ca.pem")
        });
        // Printed for other processes: make it independent of this one's working directory.
        let ca_out = std::path::absolute(&ca_out).unwrap_or(ca_out);
        if let Err(e) = sim.write_ca(&ca_out) {
            eprintln!("failback-sim: cannot write {}: {e}", ca_out.display());
            sim.shutdown().await;
            std::process::exit(1);
        }
    }
    println!("failback-sim listening on {}", sim.base_url());
    for (k, v) in sim.env() {
        println!("export {k}={v}");
    }
    wait_for_signal().await;
    eprintln!("failback-sim: shutting down");
    sim.shutdown().await;
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
