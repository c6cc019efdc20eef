//! `failback --help` and every `failback VERB --help`, as the real binary prints them, under
//! insta snapshots; every argument has a description, every verb has examples, and every
//! example parses with the real flags.
//!
//! The help does not depend on the machine: clap wraps it at the terminal's width (at most 100
//! columns), and with no terminal — here stdin, stdout and stderr are not — at `COLUMNS`, set
//! to 100 here with the rest of the environment that could show through (colour,
//! `FAILBACK_STATE_DIR`'s value).

use assert_cmd::Command;
use clap::{CommandFactory, Parser};
use failback::cli::Cli;

/// The verbs `failback --help` lists (clap's own `help` aside).
fn verbs() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .filter(|n| n != "help")
        .collect()
}

fn help(args: &[&str]) -> String {
    let out = Command::cargo_bin("failback")
        .expect("binary")
        .args(args)
        .arg("--help")
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("FAILBACK_STATE_DIR")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .expect("failback runs");
    assert!(out.status.success(), "{args:?} --help: {out:?}");
    assert!(out.stderr.is_empty(), "{args:?} --help wrote to stderr");
    String::from_utf8(out.stdout).expect("help is UTF-8")
}

#[test]
fn top_level_help() {
    let text = help(&[]);
    for verb in verbs() {
        assert!(text.contains(&format!("\n  {verb} ")), "{verb} not listed");
    }
    insta::assert_snapshot!("help", text);
}

#[test]
fn every_verb_help() {
    for verb in verbs() {
        let text = help(&[&verb]);
        assert!(
            text.contains(&format!("Usage: failback {verb}")),
            "{verb}: {text}"
        );
        insta::assert_snapshot!(format!("help_{verb}"), text);
    }
}

#[test]
fn every_argument_has_a_description() {
    let cli = Cli::command();
    cli.clone().debug_assert();
    let mut blank = Vec::new();
    let mut commands = vec![&cli];
    commands.extend(cli.get_subcommands().filter(|c| c.get_name() != "help"));
    for c in commands {
        for a in c.get_arguments() {
            let text = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            if text.trim().is_empty() {
                blank.push(format!("{} {}", c.get_name(), a.get_id()));
            }
        }
    }
    assert!(
        blank.is_empty(),
        "arguments without a description: {blank:?}"
    );
}

/// Each example command line of a verb's help: from `failback` up to a pipe, a redirection or
/// `&&` (the examples quote only after those).
fn example_commands(after_help: &str) -> Vec<Vec<String>> {
    after_help
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.find("failback ").map(|i| &l[i..]))
        .filter(|l| !l.starts_with("failback COMMAND"))
        .map(|l| {
            let end = [" | ", " > ", " && "]
                .iter()
                .filter_map(|sep| l.find(sep))
                .min()
                .unwrap_or(l.len());
            l[..end].split_whitespace().map(str::to_owned).collect()
        })
        .collect()
}

#[test]
fn every_verb_has_examples_that_parse() {
    let cli = Cli::command();
    let mut all = Vec::new();
    for c in cli.get_subcommands().filter(|c| c.get_name() != "help") {
        let after = c
            .get_after_help()
            .map(|h| h.to_string())
            .unwrap_or_default();
        assert!(
            after.starts_with("Examples:\n"),
            "{}: {after:?}",
            c.get_name()
        );
        let examples = example_commands(&after);
        assert!(
            examples.iter().filter(|e| e[1] == c.get_name()).count() >= 2,
            "{}: {examples:?}",
            c.get_name()
        );
        all.extend(examples);
    }
    let top = cli
        .get_after_help()
        .map(|h| h.to_string())
        .unwrap_or_default();
    all.extend(example_commands(&top));
    for args in all {
        if let Err(e) = Cli::try_parse_from(&args) {
            panic!("example {args:?} does not parse: {e}");
        }
    }
}
