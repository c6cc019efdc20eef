//! The emulator's command line, shared by the `failback-sim` binary and `failback sim`: the
//! flags and their defaults (HTTPS unless `--no-tls`), where the CA certificate is written, the
//! lines printed for clients, and the wait for SIGINT/SIGTERM. One place, so the two commands
//! cannot drift apart.

use crate::{tls, Scenario, ScenarioError, Sim, SimConfig, SimError, SimHandle};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the emulator listens by default: loopback, a free port.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:0";
/// Simulated seconds per real second by default.
pub const DEFAULT_CLOCK_SPEED: f64 = 1.0;

/// The emulator's flags (a `clap` argument group: `#[command(flatten)]`).
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct SimArgs {
    /// Address to listen on (loopback); port 0 picks a free one.
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Scenario file (TOML, or JSON if it ends in .json). Default: the built-in two-network
    /// scenario.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Simulated seconds per real second.
    #[arg(long, default_value_t = DEFAULT_CLOCK_SPEED)]
    pub clock_speed: f64,
    /// Persist the emulated world (and its CA) to this file; loaded at start if it exists.
    #[arg(long)]
    pub state_file: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS (the default, which the `client-secret` credential
    /// requires).
    #[arg(long)]
    pub no_tls: bool,
    /// Accepted for older scripts: HTTPS is the default.
    #[arg(long, hide = true, conflicts_with = "no_tls")]
    pub tls: bool,
    /// Write the CA certificate (PEM) here; printed as FAILBACK_CA_FILE. Default: the one kept
    /// beside --state-file (`<state file>.ca.pem`), else `<temp dir>/failback-sim-ca-<pid>.pem`.
    #[arg(long, conflicts_with = "no_tls")]
    pub ca_out: Option<PathBuf>,
}

impl Default for SimArgs {
    fn default() -> Self {
        SimArgs {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scenario: None,
            clock_speed: DEFAULT_CLOCK_SPEED,
            state_file: None,
            no_tls: false,
            tls: false,
            ca_out: None,
        }
    }
}

/// Why the emulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Scenario(#[from] ScenarioError),
    #[error("{0}")]
    Start(#[from] SimError),
    #[error("cannot write the CA certificate to {path}: {source}")]
    WriteCa {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl SimArgs {
    /// Whether the emulator serves HTTPS.
    pub fn https(&self) -> bool {
        !self.no_tls
    }

    /// The emulator's configuration, the scenario file read.
    pub fn config(&self) -> Result<SimConfig, ScenarioError> {
        let scenario = match &self.scenario {
            Some(p) => Scenario::from_toml_file(p)?,
            None => Scenario::default_two_networks(),
        };
        Ok(SimConfig {
            listen: self.listen,
            scenario,
            clock_speed: self.clock_speed,
            state_file: self.state_file.clone(),
            tls: self.https(),
        })
    }

    /// Where the CA certificate goes (absolute: it is printed for other processes).
    pub fn ca_path(&self) -> PathBuf {
        let path = match (&self.ca_out, &self.state_file) {
            (Some(p), _) => p.clone(),
            (None, Some(state)) => tls::ca_paths(state).0,
            (None, None) => {
                std::env::temp_dir().join(format!("failback-sim-ca-{}.pem", std::process::id()))
            }
        };
        std::path::absolute(&path).unwrap_or(path)
    }
}

/// Start the emulator as the flags say; with HTTPS, write its CA certificate to
/// [`SimArgs::ca_path`]. Returns the emulator and the lines to print for its clients.
pub async fn start(args: &SimArgs) -> Result<(SimHandle, Vec<String>), CliError> {
    let sim = Sim::start(args.config()?).await?;
    if args.https() {
        let path = args.ca_path();
        if let Err(source) = sim.write_ca(&path) {
            sim.shutdown().await;
            return Err(CliError::WriteCa { path, source });
        }
    }
    let lines = announce(&sim);
    Ok((sim, lines))
}

/// The first line (`failback-sim listening on URL`, which scripts read for the URL), then the
/// client environment as `export K=V` lines, `FAILBACK_CA_FILE` among them with HTTPS, and
/// last `FAILBACK_SIM_CLOCK`.
pub fn announce(sim: &SimHandle) -> Vec<String> {
    let url = sim.base_url();
    let mut lines = vec![
        format!("failback-sim listening on {url}"),
        "# environment for failback (custom cloud: authority_host and resource_manager = the URL above):".to_owned(),
    ];
    lines.extend(
        sim.env()
            .into_iter()
            .map(|(k, v)| format!("export {k}={v}")),
    );
    lines.push(format!("export FAILBACK_SIM_CLOCK={url}"));
    lines
}

/// Wait for SIGINT or SIGTERM (SIGINT only where there is no SIGTERM).
pub async fn until_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn parse(args: &[&str]) -> Result<SimArgs, clap::Error> {
        Cmd::try_parse_from(std::iter::once("failback-sim").chain(args.iter().copied()))
            .map(|c| c.sim)
    }

    #[test]
    fn flag_defaults_are_the_struct_defaults_and_https() {
        let args = parse(&[]).unwrap_or_default();
        assert_eq!(args, SimArgs::default());
        assert!(args.https());
        assert!(parse(&["--tls"]).is_ok_and(|a| a.https()));
        assert!(parse(&["--no-tls"]).is_ok_and(|a| !a.https()));
        assert!(parse(&["--no-tls", "--ca-out", "ca.pem"]).is_err());
        assert!(parse(&["--no-tls", "--tls"]).is_err());
    }

    #[test]
    fn the_ca_goes_beside_the_state_file_or_where_asked() {
        let kept = SimArgs {
            state_file: Some(PathBuf::from("/r/sim.json")),
            ..SimArgs::default()
        };
        assert_eq!(kept.ca_path(), PathBuf::from("/r/sim.json.ca.pem"));
        let asked = SimArgs {
            ca_out: Some(PathBuf::from("/r/ca.pem")),
            ..kept
        };
        assert_eq!(asked.ca_path(), PathBuf::from("/r/ca.pem"));
        let temp = SimArgs::default().ca_path();
        assert!(temp.is_absolute() && temp.starts_with(std::env::temp_dir()));
    }
}
