//! The reliability suite: the real `failback` binary against the emulator, killed, stormed,
//! fed bad input and scanned for secrets. Prints one summary line per family and
//! `N passed, N failed`; exits non-zero on any failure.
//!
//! Quick (CI, part of `cargo test`): `cargo test --test reliability`
//! Full counts: `cargo test --release --test reliability -- --full`
//! One family: `... -- crash-matrix` (names as in the summary); `--verbose` lists every case;
//! `--seed N` fixes the random-kill instants; `--storm-seed N` the fault storms' emulator seeds
//! (fixed by default, printed with every storm failure).

#[path = "../daemon_support/mod.rs"]
mod daemon_support;

mod bad_input;
mod crash;
mod exclusion;
mod faults;
mod report;
mod secrets;
mod starvation;
mod takeover;
mod upgrade;
mod world;

use report::Family;
use std::process::ExitCode;

type Runner = fn(&Ctx, &mut Family);

pub struct Ctx {
    pub rt: tokio::runtime::Runtime,
    pub full: bool,
    pub seed: u64,
    /// The emulator fault seed of the first fault storm.
    pub storm_seed: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full =
        args.iter().any(|a| a == "--full") || std::env::var("FB_SUITE").as_deref() == Ok("full");
    let verbose = args.iter().any(|a| a == "--verbose");
    let seed = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::random::<u64>() % 1_000_000);
    let storm_seed = args
        .iter()
        .position(|a| a == "--storm-seed")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(faults::STORM_SEED);
    // `cargo test` passes its own flags (`--quiet`, a filter…): keep only family names.
    let only: Vec<&String> = args
        .iter()
        .filter(|a| !a.starts_with('-') && a.parse::<u64>().is_err())
        .collect();
    let ctx = Ctx {
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime"),
        full,
        seed,
        storm_seed,
    };
    let families: [(&'static str, Runner); 9] = [
        ("crash-matrix", |c, f| crash::matrix(&c.rt, c.full, f)),
        ("random-kill", |c, f| crash::soak(&c.rt, c.full, c.seed, f)),
        ("fault-storm", |c, f| faults::run(&c.rt, c.storm_seed, f)),
        ("bad-input", |c, f| bad_input::run(&c.rt, f)),
        ("secrets", |c, f| secrets::run(&c.rt, f)),
        ("two-process", |c, f| exclusion::run(&c.rt, f)),
        ("upgrade", |c, f| upgrade::run(&c.rt, f)),
        ("starvation", |c, f| starvation::run(&c.rt, c.full, f)),
        ("takeover", |c, f| takeover::run(c.full, c.seed, f)),
    ];
    if args.iter().any(|a| a == "--write-golden") {
        upgrade::write_golden(&ctx.rt);
        return ExitCode::SUCCESS;
    }
    println!(
        "reliability suite ({}; seed {seed})",
        if full {
            "full counts"
        } else {
            "quick; --full for the full counts"
        }
    );
    let mut lines = Vec::new();
    let (mut passed, mut failed) = (0, 0);
    for (name, runner) in families {
        if !only.is_empty() && !only.iter().any(|o| name.contains(o.as_str())) {
            continue;
        }
        let mut fam = Family::new(name, verbose);
        runner(&ctx, &mut fam);
        println!("{}", fam.line());
        passed += fam.passed();
        failed += fam.failed();
        lines.push(fam.line());
    }
    println!("\nsummary:");
    for l in &lines {
        println!("{l}");
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
