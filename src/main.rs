//! `failback`: a thin binary over the libraries; see `failback --help`.

use clap::Parser;
use failback::cli::{Cli, Command, LogFormat};
use failback::commands::session::{Need, Session};
use failback::commands::{self as cmd, EXIT_FAILED};
use failback::context;
use failback::daemon::DaemonOptions;
use failback::service::Runs;
use failback::store_location::StoreLocation;
use std::sync::Arc;

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

/// The session a verb runs in: another process's, or this one's (driving when `need` says).
async fn session(cli: &Cli, need: Need) -> anyhow::Result<Session> {
    let store = store_location(cli)?;
    Session::open(
        &context::state_dir(cli.state_dir.as_deref())?,
        store.as_ref(),
        need,
    )
    .await
}

fn store_location(cli: &Cli) -> anyhow::Result<Option<StoreLocation>> {
    cli.store.as_deref().map(StoreLocation::parse).transpose()
}

/// Verbs written against the service interface: opened, run, closed the same way.
async fn run_verb(cli: &Cli) -> anyhow::Result<i32> {
    let need = match cli.command {
        Command::Apply { .. }
        | Command::Resume { .. }
        | Command::Cancel { .. }
        | Command::Signal { .. }
        | Command::Retry { .. } => Need::Drive,
        _ => Need::Read,
    };
    let s = session(cli, need).await?;
    if matches!(
        cli.command,
        Command::Cancel { .. } | Command::Signal { .. } | Command::Retry { .. }
    ) {
        s.drive_unfinished()?;
    }
    let code = verb(cli, s.runs()).await;
    s.close().await;
    code
}

async fn verb(cli: &Cli, svc: Arc<dyn Runs>) -> anyhow::Result<i32> {
    match &cli.command {
        Command::Plan {
            spec,
            run,
            run_id,
            offline,
            output,
        } => {
            let (run, id) = (run.as_deref(), run_id.clone());
            cmd::plan::run(svc.as_ref(), spec, run, id, *offline, *output).await
        }
        Command::Apply {
            spec,
            run_id,
            yes,
            out,
        } => cmd::apply::apply(svc, spec, run_id.clone(), *yes, out.output).await,
        Command::Resume { runs, out } => cmd::apply::resume(svc, runs.clone(), out.output).await,
        Command::Status {
            run,
            follow,
            output,
        } => cmd::runs::status(svc, run.as_deref(), *follow, *output).await,
        Command::List { state, output } => {
            cmd::runs::list(svc.as_ref(), state.as_deref(), *output).await
        }
        Command::History { run, output } => cmd::runs::history(svc.as_ref(), run, *output).await,
        Command::Graph { run, output } => cmd::runs::graph(svc.as_ref(), run, *output).await,
        Command::Cancel {
            run,
            teardown,
            yes,
            out,
        } => cmd::control::cancel(svc, run, *teardown, *yes, out.output).await,
        Command::Signal {
            run,
            signal,
            yes,
            out,
        } => cmd::control::signal(svc, run, signal, *yes, out.output).await,
        Command::Retry {
            run,
            from,
            spec,
            out,
        } => cmd::control::retry(svc, run, from.as_deref(), spec.as_deref(), out.output).await,
        Command::Sweep {
            spec,
            delete,
            yes,
            output,
        } => cmd::sweep::run(svc.as_ref(), spec, *delete, *yes, *output).await,
        _ => unreachable!("not a service verb"),
    }
}

async fn run(cli: Cli) -> anyhow::Result<i32> {
    let state = || context::state_dir(cli.state_dir.as_deref());
    match cli.command {
        Command::Init { ref path, force } => cmd::init::run(path, force),
        Command::Daemon {
            paused,
            listen_tcp,
            ref token_file,
            grace,
            max_steps,
            ui,
            lease,
        } => {
            failback::daemon::run(DaemonOptions {
                state_dir: state()?,
                store: store_location(&cli)?,
                paused,
                listen_tcp,
                token_file: token_file.clone(),
                grace,
                max_steps: max_steps.into(),
                ui,
                lease,
            })
            .await
        }
        Command::Ui { port, forward } => {
            cmd::ui::run(cmd::ui::UiOptions {
                state_dir: state()?,
                port,
                forward,
            })
            .await
        }
        Command::Sim { ref args } => cmd::sim::run(args.clone()).await,
        Command::Demo { speed, ref dir } => cmd::demo::run(speed, dir.clone()).await,
        Command::Completions { shell } => Ok(cmd::completions::run(shell)),
        _ => run_verb(&cli).await,
    }
}

fn main() {
    let cli = Cli::parse();
    init_tracing(&cli);
    cmd::set_color(cli.color);
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
