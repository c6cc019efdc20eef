//! Asking before acting: on a terminal the operator types `yes`; without one the command
//! refuses unless `--yes` was given, naming it.

use anyhow::{bail, Result};
use std::io::{BufRead, IsTerminal};

/// True when the operator agreed (or `yes` was given); false when they declined. Without a
/// terminal and without `yes`: an error naming `--yes`.
pub fn ask(question: &str, yes: bool, what: &str) -> Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("not a terminal, so nothing was {what}: pass --yes to go ahead without confirmation");
    }
    crate::out!("{question} Only 'yes' is accepted: ");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}
