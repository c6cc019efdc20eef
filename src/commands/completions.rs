//! `failback completions <shell>`.

use clap::CommandFactory;

pub fn run(shell: clap_complete::Shell) -> i32 {
    let mut cmd = crate::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "failback", &mut script);
    crate::outln!("{}", String::from_utf8_lossy(&script).trim_end());
    super::EXIT_OK
}
