//! `failback daemon`: see `crate::daemon`.

use crate::daemon::{self, DaemonOptions};
use anyhow::Result;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub async fn run(
    state_dir: &Path,
    paused: bool,
    listen_tcp: Option<SocketAddr>,
    token_file: Option<PathBuf>,
    grace: Duration,
) -> Result<i32> {
    daemon::run(DaemonOptions {
        state_dir: state_dir.to_path_buf(),
        paused,
        listen_tcp,
        token_file,
        grace,
    })
    .await
}
