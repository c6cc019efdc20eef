//! Membership on one container, as storage tells it: daemons that joined are live while they
//! renew; one that closes is gone at the next listing, one that stops renewing once its lease
//! runs out (and its blob is swept); runs are held while their lease is.

mod common;

use failback_state::{block_on, Membership, Store};
use failback_store_azblob::{AzBlobOptions, AzBlobStore};
use std::time::{Duration, Instant};

fn member(container: &str, name: &str) -> AzBlobStore {
    let opts = AzBlobOptions {
        member: Some(name.to_owned()),
        ..common::options()
    };
    AzBlobStore::open(common::client(container), opts).expect("open as a member")
}

fn seen(store: &AzBlobStore) -> Membership {
    store.refresh_now().expect("refresh");
    store.membership().expect("a blob store has a membership")
}

fn member_blobs(container: &str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listing = rt
        .block_on(common::client(container).list_blobs("daemons/", None))
        .expect("list");
    listing.entries.into_iter().map(|e| e.name).collect()
}

#[test]
fn members_are_live_while_they_renew_and_gone_when_they_close_or_lapse() {
    let c = common::fresh_container();
    let a = member(&c, "a");
    let b = member(&c, "b");
    let reader = common::open(&c);
    assert_eq!(seen(&reader).live, 2, "a reader is no member");
    assert_eq!(seen(&a).live, 2);

    // A run held by b is held as a's listing sees it; a free one is not.
    let fence = block_on(b.acquire("r1")).expect("b acquires r1");
    block_on(b.acquire("r2"))
        .and_then(|f| block_on(b.release(&f)))
        .expect("r2 acquired and released");
    let view = seen(&a);
    assert!(
        view.held.contains("r1") && !view.held.contains("r2"),
        "{view:?}"
    );

    // b stops renewing (its heartbeats stop, as when its process is frozen): its membership
    // and its run's lease run out after the 15 s lease, and its blob is swept.
    let stopped = Instant::now();
    let deadline = stopped + Duration::from_secs(60);
    loop {
        block_on(a.heartbeat()).expect("a renews");
        let view = seen(&a);
        if view.live == 1 {
            assert!(
                !view.held.contains("r1"),
                "b's run lapsed with it: {view:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "b never lapsed: {view:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        stopped.elapsed() >= Duration::from_secs(10),
        "b counted gone before its lease could run out: {:?}",
        stopped.elapsed()
    );
    assert_eq!(member_blobs(&c), vec!["daemons/a".to_owned()]);

    // b's next heartbeat joins it again. Its run's lapsed lease, which nobody took meanwhile,
    // renews (Azure's rule for an expired lease on an unchanged blob): the fence is the run's
    // own, apart from the membership.
    block_on(b.heartbeat()).expect("b joins again");
    assert_eq!(seen(&a).live, 2);
    block_on(b.renew(&fence)).expect("an expired lease nobody took renews");

    // Closing leaves at once.
    b.close().expect("close");
    assert_eq!(seen(&a).live, 1);
    assert_eq!(member_blobs(&c), vec!["daemons/a".to_owned()]);
}
