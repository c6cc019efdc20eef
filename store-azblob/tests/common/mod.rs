//! One Azurite for a whole test binary, and stores in fresh containers of it.
#![allow(dead_code)]

#[path = "../../../azblob/tests/support/mod.rs"]
pub mod support;

use failback_azblob::{AccountKey, Auth, ContainerClient, Endpoint, DEV_ACCOUNT_KEY};
use failback_store_azblob::{AzBlobOptions, AzBlobStore};
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::OnceLock;

/// Azurite's port. Started once, from a thread that lives as long as the test binary (Azurite
/// is killed when the thread that started it ends).
pub fn azurite_port() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let azurite = support::Azurite::start();
            tx.send(azurite.port()).expect("send the port");
            // Hold Azurite (and this thread) for the rest of the run.
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("Azurite started")
    })
}

/// A container name no other test of this binary uses.
pub fn fresh_container() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("t{}-{}", std::process::id(), N.fetch_add(1, SeqCst))
}

pub fn client(container: &str) -> ContainerClient {
    let url = format!(
        "http://127.0.0.1:{}/devstoreaccount1/{container}",
        azurite_port()
    );
    let endpoint = Endpoint::parse(&url).expect("container URL");
    let key = AccountKey::from_base64(DEV_ACCOUNT_KEY).expect("development key");
    ContainerClient::new(endpoint, Some(Auth::AccountKey(key))).expect("client")
}

/// Tests' options: the shortest lease Azure allows, no background refresh (tests refresh
/// when they mean to).
pub fn options() -> AzBlobOptions {
    AzBlobOptions {
        lease: std::time::Duration::from_secs(15),
        refresh: None,
        ..AzBlobOptions::default()
    }
}

pub fn open(container: &str) -> AzBlobStore {
    AzBlobStore::open(client(container), options()).expect("open the blob store")
}
