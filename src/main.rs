//! `failback`: a thin binary over the libraries; see `failback --help`.

use clap::Parser;
use failback::cli::{Cli, Command, LogFormat};
use failback::commands::{self as cmd, EXIT_FAILED};
use failback::context;

fn init_tracing(cli: &Cli) {
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FAILBACK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
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
    match cli.command {
        Command::Init { ref path, force } => cmd::init::run(path, force),
        Command::Plan {
            ref spec,
            ref run,
            ref run_id,
            offline,
            format,
        } => {
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
        Command::Apply {
            ref spec,
            ref run_id,
            yes,
            output,
        } => cmd::apply::apply(&engine().await?, spec, run_id.clone(), yes, output).await,
        Command::Resume { ref runs, output } => {
            cmd::apply::resume(&engine().await?, runs.clone(), output).await
        }
        Command::Status { ref run, format } => cmd::runs::status(&engine().await?, run, format),
        Command::List { ref state, format } => {
            cmd::runs::list(&engine().await?, state.as_deref(), format)
        }
        Command::History { ref run, format } => cmd::runs::history(&engine().await?, run, format),
        Command::Graph { ref run, format } => cmd::runs::graph(&engine().await?, run, format),
        Command::Cancel { ref run, teardown } => {
            cmd::control::cancel(&engine().await?, run, teardown).await
        }
        Command::Signal {
            ref run,
            ref signal,
        } => cmd::control::signal(&engine().await?, run, signal).await,
        Command::Retry { ref run, ref from } => {
            cmd::control::retry(&engine().await?, run, from.as_deref()).await
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
    drop(rt);
    std::process::exit(code);
}
