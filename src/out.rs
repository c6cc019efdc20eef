//! Standard output for the CLI. A closed pipe (`failback history RUN | head -c 10`) ends the
//! process quietly with [`EXIT_PIPE`] — what a shell reports for a process killed by SIGPIPE —
//! instead of a panic; any other write error is one line on stderr and exit 1.

use std::io::Write;

/// Exit status when stdout's reader went away: 128 + SIGPIPE.
pub const EXIT_PIPE: i32 = 141;

fn closed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_PIPE);
    }
    eprintln!("error: writing to standard output: {e}");
    std::process::exit(crate::commands::EXIT_FAILED);
}

/// Write `args` and a newline to stdout (see the module's contract on errors).
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = writeln!(out, "{args}").and_then(|()| out.flush()) {
        closed(&e);
    }
}

/// Write `args` without a newline, flushed (a prompt).
pub fn part(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(e) = write!(out, "{args}").and_then(|()| out.flush()) {
        closed(&e);
    }
}

/// `println!` for the CLI's standard output.
#[macro_export]
macro_rules! outln {
    () => { $crate::out::line(format_args!("")) };
    ($($t:tt)*) => { $crate::out::line(format_args!($($t)*)) };
}

/// `print!` (flushed) for the CLI's standard output.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => { $crate::out::part(format_args!($($t)*)) };
}
