//! `failback init`: write the commented example spec.

use anyhow::{bail, Context, Result};
use std::path::Path;

pub fn run(path: &Path, force: bool) -> Result<i32> {
    if path.exists() && !force {
        bail!("{} exists; use --force to overwrite it", path.display());
    }
    std::fs::write(path, failback_workflows::spec::example())
        .with_context(|| format!("writing {}", path.display()))?;
    crate::outln!("wrote {}: fill in your subscription, vault, configuration server and networks, then run `failback plan`", path.display());
    Ok(super::EXIT_OK)
}
