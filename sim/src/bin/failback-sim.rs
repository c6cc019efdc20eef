//! `failback-sim [--listen 127.0.0.1:0] [--scenario FILE] [--clock-speed F] [--state-file PATH]
//! [--no-tls | --ca-out PATH]`: the emulator alone, with the flags and defaults of
//! `failback sim` (both use `failback_sim::cli`).

use clap::Parser;
use failback_sim::cli::{self, SimArgs};

#[derive(Parser, Debug)]
#[command(
    name = "failback-sim",
    about = "Local Azure emulator (Entra ID + ARM + Site Recovery) for failback rehearsals"
)]
struct Args {
    #[command(flatten)]
    sim: SimArgs,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let (sim, lines) = match cli::start(&args.sim).await {
        Ok(s) => s,
        Err(e @ cli::CliError::Scenario(_)) => {
            eprintln!("failback-sim: {e}");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("failback-sim: {e}");
            std::process::exit(1);
        }
    };
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for l in lines {
            // A closed stdout does not stop the emulator: it serves until a signal.
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }
    cli::until_signal().await;
    eprintln!("failback-sim: shutting down");
    sim.shutdown().await;
}
