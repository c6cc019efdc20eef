//! Azurite restarted (same port, same data) under a live client: blobs and leases survive, the
//! client's requests fail as transport errors while it is down and work again once it is back.

mod support;

use failback_azblob::{BlobError, Condition, LeaseDuration, LeaseId};
use std::time::{Duration, Instant};
use support::Azurite;

#[tokio::test]
async fn blobs_and_leases_survive_a_restart_and_the_client_reconnects() {
    let mut azurite = Azurite::start();
    let c = azurite.container("restart").await;
    let etag = c
        .put_blob("run", b"state".to_vec(), &Condition::create_only())
        .await
        .unwrap();
    let lease = LeaseId("1b4e28ba-2fa1-11d2-883f-0016d3cca427".into());
    c.acquire_lease("run", LeaseDuration::Infinite, Some(&lease))
        .await
        .unwrap();

    azurite.stop();
    let err = c.get_blob("run").await.expect_err("Azurite is down");
    assert!(matches!(err, BlobError::Transport { .. }), "{err:?}");
    azurite.restart();

    // The first request after the restart may still meet a pooled connection that died:
    // retry transport errors only, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    let blob = loop {
        match c.get_blob("run").await {
            Ok(b) => break b.expect("blob survived"),
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("after restart: {e:?}"),
        }
    };
    assert_eq!((blob.data.as_slice(), &blob.etag), (&b"state"[..], &etag));
    let err = c
        .put_blob("run", b"x".to_vec(), &Condition::none())
        .await
        .expect_err("the lease survived the restart");
    assert_eq!(err.status(), Some(412), "{err:?}");
    c.put_blob(
        "run",
        b"v2".to_vec(),
        &Condition::if_match(&etag).with_lease(&lease),
    )
    .await
    .expect("holder writes after the restart");
}
