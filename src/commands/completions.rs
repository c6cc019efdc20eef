//! `failback completions <shell>`.

use clap::CommandFactory;

pub fn run(shell: clap_complete::Shell) -> i32 {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(shell, &mut cmd, "failback", &mut std::io::stdout());
    super::EXIT_OK
}
