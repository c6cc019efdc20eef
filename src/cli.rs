//! Command-line flags, parsed by clap; `commands` validates them into typed actions.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

#[derive(Debug, Parser)]
#[command(
    name = "failback",
    version,
    about = "Durable failback of Azure Site Recovery process servers",
    after_help = examples::TOP,
    max_term_width = 100
)]
pub struct Cli {
    /// Where runs are kept (default: $XDG_STATE_HOME/failback or ~/.local/state/failback).
    #[arg(long, global = true, env = "FAILBACK_STATE_DIR", help_heading = GLOBAL)]
    pub state_dir: Option<PathBuf>,
    /// Where runs are kept, when not in the state directory: azblob://ACCOUNT/CONTAINER (runs
    /// shared by several daemons), azblob+http(s)://HOST/..., or sled:///DIR. Credentials
    /// come from the environment (FAILBACK_STORE_SAS, FAILBACK_STORE_KEY_FILE or
    /// FAILBACK_STORE_CREDENTIAL).
    #[arg(long, global = true, env = "FAILBACK_STORE", help_heading = GLOBAL)]
    pub store: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value = "text", help_heading = GLOBAL)]
    pub log_format: LogFormat,
    /// More logging (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, help_heading = GLOBAL)]
    pub verbose: u8,
    /// Colour in text output: auto (a terminal, and NO_COLOR unset), always or never.
    #[arg(long, global = true, value_enum, default_value = "auto", help_heading = GLOBAL)]
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

/// `-o` of the verbs that follow a run (`apply`, `resume`, `cancel`, `signal`, `retry`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct FollowOutput {
    /// Output format: text or json (one JSON event per line while following).
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value = "text",
        visible_alias = "format"
    )]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum GraphFormat {
    Dot,
    Mermaid,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented example spec.
    #[command(after_help = examples::INIT)]
    Init {
        /// Where to write the spec.
        #[arg(default_value = "failback.toml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Show what a run would do (dry run), or what an existing run has left to do.
    #[command(after_help = examples::PLAN)]
    Plan {
        /// The spec to plan (not read with --run: a run keeps its own copy).
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
        /// Output format: text, json, dot (Graphviz) or mermaid.
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
    #[command(after_help = examples::APPLY)]
    Apply {
        /// The spec to apply (the run keeps a copy; secrets as references only).
        #[arg(long, default_value = "failback.toml")]
        spec: PathBuf,
        /// Run id (default: generated, fb- and 8 hex digits); resource names derive from it.
        #[arg(long)]
        run_id: Option<String>,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        out: FollowOutput,
    },
    /// Drive unfinished runs (after a crash, reboot or Ctrl-C) until they finish.
    #[command(after_help = examples::RESUME)]
    Resume {
        /// Wait for these runs (default: every unfinished run).
        runs: Vec<String>,
        #[command(flatten)]
        out: FollowOutput,
    },
    /// One run: its state, every step's in DAG order and the next action; without RUN, all runs.
    #[command(after_help = examples::STATUS)]
    Status {
        /// The run's id (see `failback list`); without it, the list of runs.
        run: Option<String>,
        /// Keep printing the run's events until it finishes (Ctrl-C stops watching only).
        #[arg(short, long, requires = "run")]
        follow: bool,
        /// Output format: text or json (with --follow: one JSON event per line).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// All runs, with their state and next wake.
    #[command(after_help = examples::LIST)]
    List {
        /// Only runs in this state: pending, running, waiting, paused, succeeded, failed,
        /// cancelling or cancelled.
        #[arg(long)]
        state: Option<String>,
        /// Output format: text (a table) or json (one document).
        #[arg(
            short = 'o',
            long = "output",
            value_enum,
            default_value = "text",
            visible_alias = "format"
        )]
        output: OutputFormat,
    },
    /// A run's event log, oldest first.
    #[command(after_help = examples::HISTORY)]
    History {
        /// The run's id (see `failback list`).
        run: String,
        /// Output format: text or json (one document with every event).
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
    #[command(after_help = examples::GRAPH)]
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
    #[command(after_help = examples::CANCEL)]
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
        #[command(flatten)]
        out: FollowOutput,
    },
    /// Send a signal to a run (`failback-complete` ends the wait for failback and starts
    /// teardown, so it shows what will be deleted and asks first).
    #[command(after_help = examples::SIGNAL)]
    Signal {
        /// The run's id (see `failback list`).
        run: String,
        /// The signal's name; the only one is failback-complete (the servers failed back:
        /// stop waiting and tear down).
        signal: String,
        /// Do not ask (needed without a terminal when something would be deleted).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        out: FollowOutput,
    },
    /// Continue a failed run from its failed step, or from --from STEP; with --spec FILE,
    /// first amend what has not succeeded (protected items, poll interval, deadline).
    #[command(after_help = examples::RETRY)]
    Retry {
        /// The run's id (see `failback list`).
        run: String,
        /// Reset this step (an id from `failback status RUN`, e.g. vnet-a/create-vm) and every
        /// step after it, instead of only the failed ones.
        #[arg(long)]
        from: Option<String>,
        /// Amend the run with this spec: shows the difference from the run's input and
        /// applies it to the steps that have not succeeded.
        #[arg(long)]
        spec: Option<std::path::PathBuf>,
        #[command(flatten)]
        out: FollowOutput,
    },
    /// List what no run should still have: failback's NICs, VMs and disks whose run this store
    /// does not hold or that a finished run should have deleted, and process servers whose VM
    /// is gone; --delete removes the Azure resources after a confirmation.
    #[command(after_help = examples::SWEEP)]
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
        /// Output format: text or json (one document: the orphans and what was deleted).
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
    #[command(after_help = examples::DAEMON)]
    Daemon {
        /// Start with every unfinished run paused (resume them one by one after an incident); on a
        /// shared --store, the runs this daemon can take.
        #[arg(long)]
        paused: bool,
        /// Also serve on this loopback TCP address (bearer token required).
        #[arg(long, requires = "token_file")]
        listen_tcp: Option<std::net::SocketAddr>,
        /// File holding the bearer token for --listen-tcp.
        #[arg(long, requires = "listen_tcp")]
        token_file: Option<PathBuf>,
        /// Print a one-time login link for the browser console at start (needs --listen-tcp;
        /// `failback ui` prints more later).
        #[arg(long, requires = "listen_tcp")]
        ui: bool,
        /// How long in-flight steps get to reach a checkpoint at shutdown.
        #[arg(long, default_value = "30s", value_parser = parse_grace)]
        grace: std::time::Duration,
        /// Step executions in flight at once, across all runs.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
        max_steps: u16,
        /// With a shared --store: how long a run stays this daemon's without renewal (15s to
        /// 60s). Another daemon takes a run over within this plus a third of it.
        #[arg(long, default_value = "30s", value_parser = parse_lease)]
        lease: std::time::Duration,
    },
    /// A one-time login link for the browser console of the running daemon. If the daemon
    /// serves only its socket, listen on loopback TCP and forward the console to it.
    #[command(after_help = examples::UI)]
    Ui {
        /// The forwarder's loopback port (default: any free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Forward even if the daemon listens on TCP itself.
        #[arg(long)]
        forward: bool,
    },
    /// Run the local Azure emulator for rehearsals.
    #[command(after_help = examples::SIM)]
    Sim {
        /// The same flags and defaults as the `failback-sim` binary (HTTPS unless --no-tls).
        #[command(flatten)]
        args: failback_sim::cli::SimArgs,
    },
    /// A whole failback against the embedded emulator, with a crash and a resume.
    #[command(after_help = examples::DEMO)]
    Demo {
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 400.0)]
        speed: f64,
        /// Keep the demo's files here (default: a temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print a shell completion script.
    #[command(after_help = examples::COMPLETIONS)]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// The examples at the end of each `--help`.
mod examples {
    pub const UI: &str = "\
Examples:
  # A login link for a daemon started with --listen-tcp (or a forwarder for one without)
  failback ui
  # Always forward, on a fixed port
  failback ui --forward --port 8765";
    pub const TOP: &str = "\
Examples:
  # Write a spec, check it against Azure, then run it in the foreground
  failback init && $EDITOR failback.toml
  failback plan
  failback apply

  # From another shell: every run, then one followed until it ends
  failback status
  failback status fb-1a2b3c4d --follow

Run `failback COMMAND --help` for a command's options and examples.
Exit codes: 0 ok, 1 error or failed run, 2 blocked plan or usage error, 130 Ctrl-C,
141 standard output closed early (docs/cli.md).";

    pub const INIT: &str = "\
Examples:
  failback init
  failback init prod.toml --force";

    pub const PLAN: &str = "\
Examples:
  # Dry run of failback.toml: what would be created, what is already there, what blocks
  failback plan

  # Check the spec without Azure reads; names as `apply --run-id fb-1a2b3c4d` will make them
  failback plan --offline --run-id fb-1a2b3c4d

  # What an existing run has left to do, and what drifted
  failback plan --run fb-1a2b3c4d

  # Machine-readable, or drawn
  failback plan -o json | jq '.steps[] | select(.change == \"blocked\") | .reason'
  failback plan -o dot | dot -Tsvg > plan.svg";

    pub const APPLY: &str = "\
Examples:
  # Plan, ask, then drive the run here until it ends (Ctrl-C: stop, `failback resume` later)
  failback apply

  # Without a terminal: no question, one JSON event per line
  failback apply --spec prod.toml --run-id fb-1a2b3c4d --yes -o json | jq -r .description";

    pub const RESUME: &str = "\
Examples:
  # Every unfinished run (after a crash, a reboot or Ctrl-C)
  failback resume

  # One run (unpauses it if paused)
  failback resume fb-1a2b3c4d";

    pub const STATUS: &str = "\
Examples:
  # Every run
  failback status

  # One run: its steps in DAG order, the next operator action, what is awaited
  failback status fb-1a2b3c4d

  # Follow the run until it ends (Ctrl-C stops watching, not the run)
  failback status fb-1a2b3c4d --follow

  failback status fb-1a2b3c4d -o json | jq '.steps[] | {step_id, status: .status.status}'";

    pub const LIST: &str = "\
Examples:
  failback list
  failback list --state failed
  failback list -o json | jq -r '.runs[].id'";

    pub const HISTORY: &str = "\
Examples:
  failback history fb-1a2b3c4d | less
  failback history fb-1a2b3c4d -o json | jq -r '.events[] | \"\\(.at) \\(.description)\"'";

    pub const GRAPH: &str = "\
Examples:
  failback graph fb-1a2b3c4d | dot -Tsvg > run.svg
  failback graph fb-1a2b3c4d -o mermaid";

    pub const CANCEL: &str = "\
Examples:
  # Stop the run; nothing in Azure is deleted
  failback cancel fb-1a2b3c4d

  # Show what the run created, ask, delete it, then stop
  failback cancel fb-1a2b3c4d --teardown

  # The same in a script (no terminal to ask on)
  failback cancel fb-1a2b3c4d --teardown --yes";

    pub const SIGNAL: &str = "\
Examples:
  # The servers failed back: stop waiting, show what teardown deletes, ask, tear down
  failback signal fb-1a2b3c4d failback-complete

  # The same in a script
  failback signal fb-1a2b3c4d failback-complete --yes -o json";

    pub const RETRY: &str = "\
Examples:
  # Run the failed steps again
  failback retry fb-1a2b3c4d

  # Start again from a step and everything after it
  failback retry fb-1a2b3c4d --from vnet-a/create-vm

  # Fix a protected item's name in the spec, then retry with it
  failback retry fb-1a2b3c4d --spec failback.toml";

    pub const SWEEP: &str = "\
Examples:
  failback sweep
  failback sweep -o json | jq -r '.orphans[].id'

  # Delete the orphaned NICs, VMs and disks (asks first; --yes in scripts)
  failback sweep --delete
  failback sweep --delete --yes";

    pub const DAEMON: &str = "\
Examples:
  failback daemon

  # After an incident: start with every run paused, then `failback resume RUN` one by one
  failback daemon --paused

  # Also serve the API, /metrics and the status page on loopback TCP (bearer token)
  failback daemon --listen-tcp 127.0.0.1:9464 --token-file /etc/failback/token";

    pub const SIM: &str = "\
Examples:
  # An emulator whose clock runs 100 times faster; paste the printed exports into your shell
  failback sim --clock-speed 100

  # A fixed port and a world that survives restarts
  failback sim --listen 127.0.0.1:8443 --state-file /tmp/reh/sim.json";

    pub const DEMO: &str = "\
Examples:
  failback demo

  # Keep the spec, the CA and the store to look at afterwards
  failback demo --dir /tmp/fb-demo
  FAILBACK_STATE_DIR=/tmp/fb-demo/state failback history demo-run";

    pub const COMPLETIONS: &str = "\
Examples:
  failback completions bash > /etc/bash_completion.d/failback
  failback completions zsh > \"${fpath[1]}/_failback\"
  failback completions fish > ~/.config/fish/completions/failback.fish";
}

fn parse_lease(s: &str) -> Result<std::time::Duration, String> {
    let d = failback_workflows::spec::parse_duration(s)?;
    if !(15..=60).contains(&d.as_secs()) || d.subsec_nanos() != 0 {
        return Err(format!(
            "{s}: a lease is whole seconds from 15s to 60s (Azure's limits)"
        ));
    }
    Ok(d)
}

fn parse_grace(s: &str) -> Result<std::time::Duration, String> {
    failback_workflows::spec::parse_duration(s)
}
