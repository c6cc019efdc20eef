//! Listing with continuation markers, against a real Azurite over HTTP.

mod support;

use failback_azblob::Condition;
use support::Azurite;

#[tokio::test]
async fn listing_follows_continuation_markers_across_pages() {
    let azurite = Azurite::start();
    let c = azurite.container("list").await;
    let mut want = Vec::new();
    for i in 0..7 {
        let name = format!("runs/r{i}/state");
        let etag = c
            .put_blob(&name, vec![i], &Condition::none())
            .await
            .unwrap();
        want.push((name, Some(etag)));
    }
    for other in ["meta", "runz/x"] {
        c.put_blob(other, Vec::new(), &Condition::none())
            .await
            .unwrap();
    }
    let before = c.requests_sent();
    let listing = c.list_blobs("runs/", Some(2)).await.expect("list");
    assert_eq!(c.requests_sent() - before, 4, "one request per page");
    let got: Vec<_> = listing
        .entries
        .iter()
        .map(|e| (e.name.clone(), e.etag.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(listing.pages, 4, "7 names at 2 a page");
    // A listed ETag is good for a conditional write.
    let (name, etag) = &got[0];
    let etag = etag.as_ref().expect("listed ETag");
    c.put_blob(name, b"next".to_vec(), &Condition::if_match(etag))
        .await
        .expect("If-Match with a listed ETag");

    let all = c.list_blobs("", None).await.expect("list all");
    assert_eq!((all.entries.len(), all.pages), (9, 1));
    let none = c.list_blobs("nothing/", Some(2)).await.expect("empty list");
    assert_eq!((none.entries.len(), none.pages), (0, 1));
}

#[tokio::test]
async fn names_with_spaces_and_unicode_round_trip() {
    let azurite = Azurite::start();
    let c = azurite.container("list").await;
    let names = ["runs/a b/state", "runs/é€/state", "runs/q?x=1&y/state"];
    for n in names {
        c.put_blob(n, n.as_bytes().to_vec(), &Condition::create_only())
            .await
            .unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    let listed: Vec<String> = c
        .list_blobs("runs/", Some(1))
        .await
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.name)
        .collect();
    let mut sorted: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    sorted.sort();
    assert_eq!(listed, sorted);
    for n in names {
        assert_eq!(c.get_blob(n).await.unwrap().expect(n).data, n.as_bytes());
    }
}

/// What fair share reads: a listing says which blobs a lease holds, and stops saying so once
/// the lease is released or has run out without renewal.
#[tokio::test]
async fn a_listing_says_which_blobs_are_leased_until_their_lease_ends() {
    use failback_azblob::LeaseDuration;
    let azurite = Azurite::start();
    let c = azurite.container("leasedlist").await;
    for name in ["held", "lapsing", "released", "free"] {
        c.put_blob(name, Vec::new(), &Condition::none())
            .await
            .unwrap();
    }
    let infinite = c
        .acquire_lease("held", LeaseDuration::Infinite, None)
        .await
        .unwrap();
    let fifteen = LeaseDuration::seconds(15).unwrap();
    c.acquire_lease("lapsing", fifteen, None).await.unwrap();
    let released = c.acquire_lease("released", fifteen, None).await.unwrap();
    c.release_lease("released", &released).await.unwrap();
    let leased = |l: &failback_azblob::Listing| -> Vec<(String, bool)> {
        l.entries
            .iter()
            .map(|e| (e.name.clone(), e.leased))
            .collect()
    };
    let now = c.list_blobs("", None).await.unwrap();
    let want = |lapsing| {
        vec![
            ("free".to_owned(), false),
            ("held".to_owned(), true),
            ("lapsing".to_owned(), lapsing),
            ("released".to_owned(), false),
        ]
    };
    assert_eq!(leased(&now), want(true));
    // Wait for the 15 s lease to run out (polled, with a generous bound).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let later = c.list_blobs("", None).await.unwrap();
        if leased(&later) == want(false) {
            break;
        }
        assert_eq!(
            leased(&later),
            want(true),
            "only the lapsing lease may change"
        );
        assert!(std::time::Instant::now() < deadline, "lease never ran out");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    c.release_lease("held", &infinite).await.unwrap();
}
