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
