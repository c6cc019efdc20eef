//! Command-line flags, parsed by clap; `commands` validates them into typed actions.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "failback",
    version,
    about = "Durable failback of Azure Site Recovery process servers"
)]
pub struct Cli {
    /// Where runs are kept (default: $XDG_STATE_HOME/failback or ~/.local/state/failback).
    #[arg(long, global = true, env = "FAILBACK_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour in text output: auto (a terminal, and NO_COLOR unset), always or never.
    #[arg(long, global = true, value_enum, default_value = "auto")]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PlanFormat {
    Text,
    Json,
    Dot,
    Mermaid,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented example spec.
    Init {
        #[arg(default_value = "failback.toml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Show what a run would do (dry run), or what an existing run has left to do.
    Plan {
        #[arg(long, default_value = "failback.toml")]
        spec: PathBuf,
        /// Plan an existing run instead of a new one.
        #[arg(long)]
        run: Option<String>,
        /// The id the new run will get (resource names derive from it); default: generated.
        #[arg(long, conflicts_with = "run")]
        run_id: Option<String>,
        /// Make no Azure reads.
        #[arg(long)]
        offline: bool,
        /// Output format.
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: PlanFormat,
    },
    /// Create a run from the spec and drive it in the foreground.
    Apply {
        #[arg(long, default_value = "failback.toml")]
        spec: PathBuf,
        /// Run id (default: generated).
        #[arg(long)]
        run_id: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// Drive unfinished runs (after a crash, reboot or Ctrl-C) until they finish.
    Resume {
        /// Wait for these runs (default: every unfinished run).
        runs: Vec<String>,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// One run: its state, every step's in DAG order and the next action; without RUN, all runs.
    Status {
        /// The run's id (see `failback list`); without it, the list of runs.
        run: Option<String>,
        /// Keep printing the run's events until it finishes (Ctrl-C stops watching only).
        #[arg(short, long, requires = "run")]
        follow: bool,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// All runs.
    List {
        /// Only runs in this state (pending, running, waiting, paused, succeeded, failed, ...).
        #[arg(long)]
        state: Option<String>,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// A run's event log.
    History {
        /// The run's id (see `failback list`).
        run: String,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// A run's DAG with live status.
    Graph {
        /// The run's id (see `failback list`).
        run: String,
        /// Output format: Graphviz DOT or Mermaid.
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "dot",
            visible_alias = "format"
        )]
        output: GraphFormat,
    },
    /// Stop a run; with --teardown, delete what it created first.
    Cancel {
        /// The run's id (see `failback list`).
        run: String,
        /// Delete what the run created (NICs, VMs, disks, process-server registrations) before
        /// it stops; shows what will be deleted and asks first.
        #[arg(long)]
        teardown: bool,
        /// Do not ask (needed without a terminal when something would be deleted).
        #[arg(long)]
        yes: bool,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// Send a signal to a run (`failback-complete` ends the wait for failback and starts
    /// teardown, so it shows what will be deleted and asks first).
    Signal {
        /// The run's id (see `failback list`).
        run: String,
        /// The signal: failback-complete.
        signal: String,
        /// Do not ask (needed without a terminal when something would be deleted).
        #[arg(long)]
        yes: bool,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// Continue a failed run from its failed step, or from --from STEP; with --spec FILE,
    /// first amend what has not succeeded (protected items, poll interval, deadline).
    Retry {
        /// The run's id (see `failback list`).
        run: String,
        /// Reset this step and every step after it, instead of only the failed ones.
        #[arg(long)]
        from: Option<String>,
        /// Amend the run with this spec: shows the difference from the run's input and
        /// applies it to the steps that have not succeeded.
        #[arg(long)]
        spec: Option<std::path::PathBuf>,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// List what no run should still have: failback's NICs, VMs and disks whose run this store
    /// does not hold or that a finished run should have deleted, and process servers whose VM
    /// is gone; --delete removes the Azure resources after a confirmation.
    Sweep {
        /// The spec naming the subscription, the networks' resource groups and the fabric.
        #[arg(long, default_value = "failback.toml")]
        spec: PathBuf,
        /// Delete the orphaned NICs, VMs and disks (asks first).
        #[arg(long)]
        delete: bool,
        /// With --delete: do not ask (scripts).
        #[arg(long, requires = "delete")]
        yes: bool,
        /// Output format: text or json (one JSON event per line while following).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// Drive every run in the background and serve the local API (Unix socket
    /// `<state dir>/failback.sock`), `/metrics` and a status page, until SIGTERM or SIGINT.
    Daemon {
        /// Start with every unfinished run paused (resume them one by one after an incident).
        #[arg(long)]
        paused: bool,
        /// Also serve on this loopback TCP address (bearer token required).
        #[arg(long, requires = "token_file")]
        listen_tcp: Option<std::net::SocketAddr>,
        /// File holding the bearer token for --listen-tcp.
        #[arg(long, requires = "listen_tcp")]
        token_file: Option<PathBuf>,
        /// How long in-flight steps get to reach a checkpoint at shutdown.
        #[arg(long, default_value = "30s", value_parser = parse_grace)]
        grace: std::time::Duration,
        /// Step executions in flight at once, across all runs.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
        max_steps: u16,
    },
    /// Run the local Azure emulator for rehearsals.
    Sim {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: std::net::SocketAddr,
        /// Scenario file (default: the built-in two-network scenario).
        #[arg(long)]
        scenario: Option<PathBuf>,
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 1.0)]
        clock_speed: f64,
        /// Persist the emulator's state here (restartable rehearsals).
        #[arg(long)]
        state_file: Option<PathBuf>,
        /// Serve plain HTTP instead of HTTPS.
        #[arg(long)]
        no_tls: bool,
    },
    /// A whole failback against the embedded emulator, with a crash and a resume.
    Demo {
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 400.0)]
        speed: f64,
        /// Keep the demo's files here (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn parse_grace(s: &str) -> Result<std::time::Duration, String> {
    failback_workflows::spec::parse_duration(s)
}
