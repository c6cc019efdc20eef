//! One module per group of subcommands. Each returns the process exit code.

pub mod amend;
pub mod apply;
pub mod completions;
pub mod control;
pub mod demo;
pub mod follow;
pub mod init;
pub mod live;
pub mod plan;
pub mod remote;
pub mod runs;
pub mod sim;
pub mod sweep;

/// Exit codes: 0 ok, 1 error or failed run, 2 plan blocked, 130 interrupted (resumable).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BLOCKED: i32 = 2;
pub const EXIT_INTERRUPTED: i32 = 130;

/// Colour only for a terminal, and never when NO_COLOR is set.
pub fn color_stdout() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
