//! Conditional writes against a real Azurite over HTTP: create-only, If-Match, deletes.

mod support;

use failback_azblob::{BlobError, Condition};
use support::Azurite;

#[tokio::test]
async fn create_only_refuses_an_existing_blob() {
    let azurite = Azurite::start();
    let c = azurite.container("cond").await;
    let etag = c
        .put_blob("runs/r1/state", b"v1".to_vec(), &Condition::create_only())
        .await
        .expect("first create");
    let err = c
        .put_blob("runs/r1/state", b"v2".to_vec(), &Condition::create_only())
        .await
        .expect_err("second create must fail");
    // Azure answers 409 BlobAlreadyExists to If-None-Match: * on a PUT of an existing blob.
    assert!(err.is_fenced(), "{err}");
    assert_eq!(err.code(), Some("BlobAlreadyExists"), "{err:?}");
    let blob = c.get_blob("runs/r1/state").await.unwrap().expect("blob");
    assert_eq!((blob.data.as_slice(), &blob.etag), (&b"v1"[..], &etag));
}

#[tokio::test]
async fn if_match_with_a_stale_etag_is_412() {
    let azurite = Azurite::start();
    let c = azurite.container("cond").await;
    let e1 = c
        .put_blob("b", b"1".to_vec(), &Condition::none())
        .await
        .unwrap();
    let e2 = c
        .put_blob("b", b"2".to_vec(), &Condition::if_match(&e1))
        .await
        .expect("write under the current ETag");
    assert_ne!(e1, e2);
    let err = c
        .put_blob("b", b"3".to_vec(), &Condition::if_match(&e1))
        .await
        .expect_err("stale ETag");
    assert!(
        matches!(&err, BlobError::PreconditionFailed { code, .. } if code == "ConditionNotMet"),
        "{err:?}"
    );
    let blob = c.get_blob("b").await.unwrap().expect("blob");
    assert_eq!((blob.data, blob.etag), (b"2".to_vec(), e2.clone()));
    // If-Match on a missing blob: 404 on Azure for a PUT with If-Match... or 412; either way
    // it must not create the blob.
    let err = c
        .put_blob("missing", b"x".to_vec(), &Condition::if_match(&e2))
        .await
        .expect_err("If-Match on a missing blob");
    assert!(matches!(err.status(), Some(404 | 412)), "{err:?}");
    assert!(c.get_blob("missing").await.unwrap().is_none());
}

#[tokio::test]
async fn get_of_a_missing_blob_is_none_and_empty_blobs_read_back() {
    let azurite = Azurite::start();
    let c = azurite.container("cond").await;
    assert!(c.get_blob("nothing").await.unwrap().is_none());
    let e = c
        .put_blob("empty", Vec::new(), &Condition::none())
        .await
        .unwrap();
    let blob = c.get_blob("empty").await.unwrap().expect("empty blob");
    assert_eq!((blob.data.len(), blob.etag), (0, e));
}

#[tokio::test]
async fn delete_is_conditional_too() {
    let azurite = Azurite::start();
    let c = azurite.container("cond").await;
    let e1 = c
        .put_blob("d", b"1".to_vec(), &Condition::none())
        .await
        .unwrap();
    let _e2 = c
        .put_blob("d", b"2".to_vec(), &Condition::none())
        .await
        .unwrap();
    let err = c
        .delete_blob("d", &Condition::if_match(&e1))
        .await
        .expect_err("stale ETag");
    assert_eq!(err.status(), Some(412), "{err:?}");
    c.delete_blob("d", &Condition::none())
        .await
        .expect("delete");
    let err = c
        .delete_blob("d", &Condition::none())
        .await
        .expect_err("gone");
    assert!(matches!(err, BlobError::NotFound { .. }), "{err:?}");
}

/// The request costs azblob/README.md states, counted by the client's pipeline.
#[tokio::test]
async fn each_small_blob_operation_is_one_request() {
    let azurite = Azurite::start();
    let c = azurite.container("cost").await;
    let lease = failback_azblob::LeaseId("4a0d5a1e-6f40-4e7b-9d1e-5b2f7a1c3e55".into());
    let mut before = c.requests_sent();
    let mut cost = |what: &str, c: &failback_azblob::ContainerClient| {
        let now = c.requests_sent();
        assert_eq!(now - before, 1, "{what}");
        before = now;
    };
    let e = c
        .put_blob("b", vec![7; 64 * 1024], &Condition::create_only())
        .await
        .unwrap();
    cost("put_blob", &c);
    c.get_blob("b").await.unwrap().expect("blob");
    cost("get_blob", &c);
    assert!(c.get_blob("missing").await.unwrap().is_none());
    cost("get_blob of a missing blob", &c);
    let infinite = failback_azblob::LeaseDuration::Infinite;
    c.acquire_lease("b", infinite, Some(&lease)).await.unwrap();
    cost("acquire_lease", &c);
    c.renew_lease("b", &lease).await.unwrap();
    cost("renew_lease", &c);
    c.put_blob("b", vec![1], &Condition::if_match(&e).with_lease(&lease))
        .await
        .unwrap();
    cost("conditional put_blob under a lease", &c);
    c.release_lease("b", &lease).await.unwrap();
    cost("release_lease", &c);
    c.delete_blob("b", &Condition::none()).await.unwrap();
    cost("delete_blob", &c);
}

/// Concurrent writers: storage, not the client, picks exactly one winner.
#[tokio::test]
async fn racing_writers_get_exactly_one_winner() {
    let azurite = Azurite::start();
    let c = azurite.container("race").await;
    let creates = (0..8u8).map(|i| {
        let c = c.clone();
        tokio::spawn(async move { c.put_blob("r", vec![i], &Condition::create_only()).await })
    });
    let results: Vec<_> = futures_util::future::join_all(creates).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(won, 1, "{results:?}");
    for r in &results {
        if let Ok(Err(e)) = r {
            assert_eq!(e.code(), Some("BlobAlreadyExists"), "{e:?}");
        }
    }
    let etag = c.get_blob("r").await.unwrap().expect("blob").etag;
    let updates = (0..8u8).map(|i| {
        let (c, etag) = (c.clone(), etag.clone());
        tokio::spawn(async move { c.put_blob("r", vec![i], &Condition::if_match(&etag)).await })
    });
    let results: Vec<_> = futures_util::future::join_all(updates).await;
    let won = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    assert_eq!(won, 1, "{results:?}");
    for r in &results {
        if let Ok(Err(e)) = r {
            assert_eq!(e.status(), Some(412), "{e:?}");
        }
    }
}

/// Over 4 MiB the SDK stages blocks and commits them under the condition.
#[tokio::test]
async fn large_blobs_are_written_in_blocks_under_the_same_condition() {
    let azurite = Azurite::start();
    let c = azurite.container("large").await;
    let data: Vec<u8> = (0..5 * 1024 * 1024 + 1).map(|i| (i % 251) as u8).collect();
    let before = c.requests_sent();
    let etag = c
        .put_blob("big", data.clone(), &Condition::create_only())
        .await
        .expect("large create");
    assert_eq!(c.requests_sent() - before, 3, "two blocks and a commit");
    let before = c.requests_sent();
    let blob = c.get_blob("big").await.unwrap().expect("blob");
    assert_eq!(c.requests_sent() - before, 2, "two 4 MiB ranges");
    assert!(blob.data == data && blob.etag == etag);
    c.put_blob("big", b"small".to_vec(), &Condition::if_match(&etag))
        .await
        .expect("overwrite");
    let err = c
        .put_blob("big", data.clone(), &Condition::if_match(&etag))
        .await
        .expect_err("stale ETag on a large write");
    assert_eq!(err.status(), Some(412), "{err:?}");
    assert_eq!(
        c.get_blob("big").await.unwrap().expect("blob").data,
        b"small"
    );
}
