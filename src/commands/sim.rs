//! `failback sim`: the emulator on loopback for rehearsals — the `failback-sim` binary's
//! flags, defaults and output (`failback_sim::cli`), started from the main binary.

use anyhow::{Context, Result};
use failback_sim::cli::{self, SimArgs};
use std::io::Write;

pub async fn run(args: SimArgs) -> Result<i32> {
    let what = args.scenario.as_ref().map(|p| p.display().to_string());
    let (sim, lines) = cli::start(&args).await.with_context(|| match what {
        Some(p) => format!("starting the emulator with scenario {p}"),
        None => "starting the emulator".to_owned(),
    })?;
    {
        let mut out = std::io::stdout().lock();
        for l in lines {
            // A closed stdout does not stop the emulator: it serves until a signal.
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }
    cli::until_signal().await;
    sim.shutdown().await;
    Ok(super::EXIT_OK)
}
