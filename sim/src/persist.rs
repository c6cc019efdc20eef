//! Optional persistence: the world as JSON, written atomically (temp + fsync + rename) before an
//! ARM write or an issued token is answered (so an operation whose status URL a client holds, and
//! the client's token, survive a crash), shortly after other mutations (time-driven changes) and
//! on shutdown; loaded at start if the file exists.

use crate::shared::Shared;
use crate::world::World;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

const FORMAT: u32 = 1;

#[derive(Serialize)]
struct SavedRef<'a> {
    format: u32,
    sim_now: i64,
    world: &'a World,
}

#[derive(Deserialize)]
struct Saved {
    format: u32,
    sim_now: i64,
    world: World,
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

pub fn save_now(sh: &Shared) -> std::io::Result<()> {
    let Some(path) = &sh.state_file else {
        return Ok(());
    };
    let _order = sh.save_lock.lock();
    let now = sh.clock.now();
    let bytes = {
        let w = sh.world.lock();
        serde_json::to_vec(&SavedRef {
            format: FORMAT,
            sim_now: now,
            world: &w,
        })
        .map_err(std::io::Error::other)?
    };
    write_atomic(path, &bytes)
}

/// Returns the saved world and its sim time, or None if the file does not exist.
pub fn load(path: &Path) -> Result<Option<(World, i64)>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read state file {}: {e}", path.display())),
    };
    let s: Saved = serde_json::from_slice(&bytes)
        .map_err(|e| format!("state file {} is corrupt: {e}", path.display()))?;
    if s.format != FORMAT {
        return Err(format!(
            "state file {} has format {}, expected {FORMAT}",
            path.display(),
            s.format
        ));
    }
    Ok(Some((s.world, s.sim_now)))
}

/// Debounced writer: saves when the world version changed, at most every 200 ms (real time).
pub async fn run(sh: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut last = u64::MAX;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            _ = stop.changed() => break,
        }
        let v = sh.world.lock().version;
        if v != last {
            if let Err(e) = save_now(&sh) {
                tracing::warn!("persisting sim state failed: {e}");
            } else {
                last = v;
            }
        }
    }
}
