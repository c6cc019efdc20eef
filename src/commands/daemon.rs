//! `failback daemon`: see `crate::daemon`.

use crate::daemon::{self, DaemonOptions};
use anyhow::Result;

pub async fn run(opts: DaemonOptions) -> Result<i32> {
    daemon::run(opts).await
}
