//! `failback`: a thin binary over the libraries; see `failback --help`.

use clap::Parser;
use failback::cli::{Cli, Command, LogFormat};
use failback::commands::{self as cmd, remote, EXIT_FAILED};
use failback::context;
use failback::daemon::client::DaemonClient;
use failback::daemon::DaemonOptions;

fn init_tracing(cli: &Cli) {
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    // sled's own log lines repeat, in its words, what the store's errors already say (a full
    // disk gives three); `FAILBACK_LOG=sled=debug` brings them back.
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAILBACK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{level},sled=off")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    let state = || context::state_dir(cli.state_dir.as_deref());
    let engine = || async { context::engine(context::open_store(&state()?)?).await };
    // While a daemon owns the store, commands that need it go through the daemon's socket.
    let daemon = || async {
        match state() {
            Ok(dir) => DaemonClient::connect(&dir).await,
            Err(_) => None,
        }
    };
    match cli.command {
        Command::Init { ref path, force } => cmd::init::run(path, force),
        Command::Plan {
            ref spec,
            ref run,
            ref run_id,
            offline,
            format,
        } => match daemon().await {
            Some(c) => {
                remote::plan(&c, spec, run.as_deref(), run_id.clone(), offline, format).await
            }
            None => {
                cmd::plan::run(
                    &engine().await?,
                    spec,
                    run.as_deref(),
                    run_id.clone(),
                    offline,
                    format,
                )
                .await
            }
        },
        Command::Apply {
            ref spec,
            ref run_id,
            yes,
            output,
        } => match daemon().await {
            Some(c) => remote::apply(&c, spec, run_id.clone(), yes, output).await,
            None => cmd::apply::apply(&engine().await?, spec, run_id.clone(), yes, output).await,
        },
        Command::Resume { ref runs, output } => match daemon().await {
            Some(c) => remote::resume(&c, runs.clone(), output).await,
            None => cmd::apply::resume(&engine().await?, runs.clone(), output).await,
        },
        Command::Status { ref run, format } => match daemon().await {
            Some(c) => remote::status(&c, run, format).await,
            None => cmd::runs::status(&engine().await?, run, format),
        },
        Command::List { ref state, format } => match daemon().await {
            Some(c) => remote::list(&c, state.as_deref(), format).await,
            None => cmd::runs::list(&engine().await?, state.as_deref(), format),
        },
        Command::History { ref run, format } => match daemon().await {
            Some(c) => remote::history(&c, run, format).await,
            None => cmd::runs::history(&engine().await?, run, format),
        },
        Command::Graph { ref run, format } => match daemon().await {
            Some(c) => remote::graph(&c, run, format).await,
            None => cmd::runs::graph(&engine().await?, run, format),
        },
        Command::Cancel { ref run, teardown } => match daemon().await {
            Some(c) => remote::cancel(&c, run, teardown).await,
            None => cmd::control::cancel(&engine().await?, run, teardown).await,
        },
        Command::Signal {
            ref run,
            ref signal,
        } => match daemon().await {
            Some(c) => remote::signal(&c, run, signal).await,
            None => cmd::control::signal(&engine().await?, run, signal).await,
        },
        Command::Retry {
            ref run,
            ref from,
            ref spec,
        } => match daemon().await {
            Some(c) => remote::retry(&c, run, from.as_deref(), spec.as_deref()).await,
            None => {
                cmd::control::retry(&engine().await?, run, from.as_deref(), spec.as_deref()).await
            }
        },
        Command::Sweep {
            ref spec,
            delete,
            yes,
            output,
        } => cmd::sweep::run(&state()?, spec, delete, yes, output).await,
        Command::Daemon {
            paused,
            listen_tcp,
            ref token_file,
            grace,
            max_steps,
        } => {
            failback::daemon::run(DaemonOptions {
                state_dir: state()?,
                paused,
                listen_tcp,
                token_file: token_file.clone(),
                grace,
                max_steps: max_steps.into(),
            })
            .await
        }
        Command::Sim {
            listen,
            ref scenario,
            clock_speed,
            ref state_file,
            no_tls,
        } => {
            cmd::sim::run(
                listen,
                scenario.clone(),
                clock_speed,
                state_file.clone(),
                !no_tls,
            )
            .await
        }
        Command::Demo { speed, ref dir } => cmd::demo::run(speed, dir.clone()).await,
        Command::Completions { shell } => Ok(cmd::completions::run(shell)),
    }
}

fn main() {
    let cli = Cli::parse();
    init_tracing(&cli);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            std::process::exit(EXIT_FAILED);
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            EXIT_FAILED
        }
    };
    // Tasks still running (a step's HTTP call after a fatal store error) are not waited for
    // long: everything they did is checkpointed or will run again on resume.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    std::process::exit(code);
}
