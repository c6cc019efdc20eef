//! One module per group of verbs, each written once against [`crate::service::Runs`]; each
//! returns the process exit code. [`session`] decides who serves the verbs: this process, or
//! the process that holds the store.

pub mod amend;
pub mod apply;
pub mod completions;
pub mod confirm;
pub mod control;
pub mod demo;
pub mod follow;
pub mod init;
pub mod live;
pub mod plan;
pub mod runs;
pub mod session;
pub mod sim;
pub mod sweep;
pub mod ui;

use crate::cli::ColorChoice;
use std::sync::OnceLock;

/// Exit codes: 0 ok, 1 error or failed run, 2 plan blocked (or a usage error, from clap),
/// 130 interrupted (resumable), 141 stdout closed early ([`crate::out::EXIT_PIPE`]).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BLOCKED: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;
pub use crate::out::EXIT_PIPE;

static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// `--color`, set once by `main`.
pub fn set_color(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// Colour on stdout: `--color always|never`, or with `auto` only for a terminal and never
/// when NO_COLOR is set (non-empty).
pub fn color_stdout() -> bool {
    use std::io::IsTerminal;
    match COLOR.get().copied().unwrap_or(ColorChoice::Auto) {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    }
}
