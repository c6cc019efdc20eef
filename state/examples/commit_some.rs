//! A few commits, for checking which sync calls a commit makes:
//! `strace -f -e trace=fdatasync,fsync,sync_file_range,pwrite64,write \
//!     target/debug/examples/commit_some 2>&1 | grep -v 'write(1'`
//! Each commit is marked by a `write(2, "commit N...")` line; between two marks there should
//! be one `pwrite64` and one `fdatasync` of the write-ahead log (plus a small `pwrite64` of the
//! `commit-seq` sidecar after the acknowledgement), and no `sync_file_range`: sled is flushed
//! at the checkpoint of the close only.

use failback_state::{Batch, SledStore, SledStoreOptions, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = SledStore::open(dir.path(), SledStoreOptions::default())?;
    eprintln!("opened; commits follow");
    for i in 0..3 {
        eprintln!("commit {i} start");
        let mut b = Batch::new();
        b.put(format!("k/{i}"), vec![i as u8; 100]);
        store.submit(b).wait()?;
        eprintln!("commit {i} acknowledged");
    }
    drop(store);
    eprintln!("closed");
    Ok(())
}
