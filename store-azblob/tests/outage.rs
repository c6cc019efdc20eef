//! Blob storage out of reach for a while (Azurite stopped, then started again on the same
//! port and data): a commit made meanwhile keeps retrying within its deadline and lands once,
//! and nothing acknowledged is lost. Azurite runs in this test's own thread, which stops and
//! restarts it.

mod common;

use common::support::Azurite;
use failback_azblob::{AccountKey, Auth, ContainerClient, Endpoint, DEV_ACCOUNT_KEY};
use failback_state::conformance::{get, put};
use failback_state::Store;
use failback_store_azblob::AzBlobStore;
use std::time::{Duration, Instant};

fn open(azurite: &Azurite, container: &str) -> AzBlobStore {
    let endpoint = Endpoint::parse(&azurite.container_url(container)).expect("URL");
    let key = AccountKey::from_base64(DEV_ACCOUNT_KEY).expect("key");
    // A short per-request timeout: an unanswered request fails fast and is retried.
    let client = ContainerClient::new(endpoint, Some(Auth::AccountKey(key)))
        .expect("client")
        .with_timeout(Duration::from_secs(2));
    AzBlobStore::open(client, common::options()).expect("open")
}

#[test]
fn a_commit_during_an_outage_lands_once_storage_is_back() {
    let mut azurite = Azurite::start();
    let store = open(&azurite, "outage");
    store.submit(put("run/r", "before")).wait().expect("commit");

    azurite.stop();
    let stopped = Instant::now();
    let during = store.submit(put("run/r", "during"));
    // Storage is gone for a few seconds, as in a short network partition.
    std::thread::sleep(Duration::from_secs(3));
    azurite.restart();
    during
        .wait()
        .expect("the commit lands once storage is back");
    let took = stopped.elapsed();
    assert!(took < common::options().commit_deadline, "{took:?}");
    assert!(store.requests_sent() > 3, "it retried");
    drop(store);

    let again = open(&azurite, "outage");
    assert_eq!(get(&again, "run/r").as_deref(), Some("during"));
    eprintln!(
        "commit during a {:?} outage acknowledged after {took:?}",
        Duration::from_secs(3)
    );
}
