//! Blob leases against a real Azurite over HTTP: the probes issue 17 relies on for
//! storage-enforced fencing.

mod support;

use failback_azblob::{BlobError, Condition, ContainerClient, LeaseDuration, LeaseId};
use std::time::{Duration, Instant};
use support::Azurite;

const ID_A: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";
const ID_B: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

async fn leased_blob(c: &ContainerClient, name: &str) -> LeaseId {
    c.put_blob(name, b"v0".to_vec(), &Condition::create_only())
        .await
        .expect("create");
    // Infinite: a test slowed past 15 s on a loaded machine must not see the lease expire.
    let lease = c
        .acquire_lease(name, LeaseDuration::Infinite, Some(&LeaseId(ID_A.into())))
        .await
        .expect("acquire");
    assert_eq!(lease.0, ID_A);
    lease
}

fn assert_code(err: &BlobError, status: u16, code: &str) {
    assert_eq!(
        (err.status(), err.code()),
        (Some(status), Some(code)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_second_acquirer_gets_409_and_the_holder_reacquires_idempotently() {
    let azurite = Azurite::start();
    let c = azurite.container("leases").await;
    let a = leased_blob(&c, "run").await;
    let err = c
        .acquire_lease("run", LeaseDuration::Infinite, Some(&LeaseId(ID_B.into())))
        .await
        .expect_err("held by A");
    assert!(matches!(err, BlobError::Conflict { .. }), "{err:?}");
    assert_code(&err, 409, "LeaseAlreadyPresent");
    // Acquiring again with the holder's own id succeeds (a lost answer can be retried).
    let again = c
        .acquire_lease("run", LeaseDuration::seconds(15).unwrap(), Some(&a))
        .await
        .expect("same id re-acquires");
    assert_eq!(again, a);
}

#[tokio::test]
async fn writes_on_a_leased_blob_need_the_lease_id() {
    let azurite = Azurite::start();
    let c = azurite.container("leases").await;
    let a = leased_blob(&c, "run").await;
    let err = c
        .put_blob("run", b"intruder".to_vec(), &Condition::none())
        .await
        .expect_err("no lease id");
    assert_code(&err, 412, "LeaseIdMissing");
    let wrong = Condition::none().with_lease(&LeaseId(ID_B.into()));
    let err = c
        .put_blob("run", b"x".to_vec(), &wrong)
        .await
        .expect_err("wrong id");
    assert!(
        matches!(err, BlobError::PreconditionFailed { .. }),
        "{err:?}"
    );
    assert_code(&err, 412, "LeaseIdMismatchWithBlobOperation");
    let err = c
        .delete_blob("run", &Condition::none())
        .await
        .expect_err("delete without lease");
    assert_eq!(err.status(), Some(412), "{err:?}");
    // The holder writes, conditional on both its lease and the ETag it last saw.
    let current = c.get_blob("run").await.unwrap().expect("blob").etag;
    let e = c
        .put_blob(
            "run",
            b"v1".to_vec(),
            &Condition::if_match(&current).with_lease(&a),
        )
        .await
        .expect("holder writes");
    let stale = Condition::if_match(&current).with_lease(&a);
    let err = c
        .put_blob("run", b"v2".to_vec(), &stale)
        .await
        .expect_err("stale ETag");
    assert_code(&err, 412, "ConditionNotMet");
    assert_eq!(c.get_blob("run").await.unwrap().expect("blob").etag, e);
}

#[tokio::test]
async fn after_a_forced_break_the_old_holder_gets_412_on_write_and_409_on_renew() {
    let azurite = Azurite::start();
    let c = azurite.container("leases").await;
    let a = leased_blob(&c, "run").await;
    let left = c
        .break_lease("run", Some(Duration::ZERO))
        .await
        .expect("break");
    assert_eq!(left, Duration::ZERO);
    let err = c
        .put_blob("run", b"late".to_vec(), &Condition::none().with_lease(&a))
        .await
        .expect_err("old holder writes after the break");
    assert_code(&err, 412, "LeaseNotPresentWithBlobOperation");
    assert_eq!(err.status(), Some(412), "{err:?}");
    assert!(err.is_fenced());
    let err = c
        .renew_lease("run", &a)
        .await
        .expect_err("renew after the break");
    assert!(matches!(err, BlobError::Conflict { .. }), "{err:?}");
    assert_code(&err, 409, "LeaseIsBrokenAndCannotBeRenewed");
    // A new owner takes it; the old id stays refused.
    let b = c
        .acquire_lease("run", LeaseDuration::Infinite, Some(&LeaseId(ID_B.into())))
        .await
        .expect("new owner");
    let err = c
        .put_blob("run", b"late".to_vec(), &Condition::none().with_lease(&a))
        .await
        .expect_err("old holder after takeover");
    assert_code(&err, 412, "LeaseIdMismatchWithBlobOperation");
    assert_eq!(err.status(), Some(412), "{err:?}");
    c.put_blob("run", b"new".to_vec(), &Condition::none().with_lease(&b))
        .await
        .expect("new owner writes");
    assert_eq!(c.get_blob("run").await.unwrap().expect("blob").data, b"new");
}

#[tokio::test]
async fn a_break_period_holds_acquirers_off_until_it_ends() {
    let azurite = Azurite::start();
    let c = azurite.container("leases").await;
    let _a = leased_blob(&c, "run").await;
    let period = Duration::from_secs(3);
    let before_break = Instant::now();
    let left = c.break_lease("run", Some(period)).await.expect("break");
    assert!(left > Duration::ZERO && left <= period, "{left:?}");
    let b = LeaseId(ID_B.into());
    // Free only once the period is over: an acquire that succeeds earlier is a failure; on a
    // machine so loaded that the period is over already, there is nothing left to check here.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = c
            .acquire_lease("run", LeaseDuration::Infinite, Some(&b))
            .await;
        match attempt {
            Ok(id) => {
                assert_eq!(id, b);
                // Slack of 1 s for the emulator's clock granularity.
                let waited = before_break.elapsed();
                assert!(
                    waited >= period - Duration::from_secs(1),
                    "free after {waited:?}"
                );
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert_code(&e, 409, "LeaseAlreadyPresent");
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("lease not free after the break period: {e:?}"),
        }
    }
}

#[tokio::test]
async fn renew_release_and_change_go_by_lease_id() {
    let azurite = Azurite::start();
    let c = azurite.container("leases").await;
    let a = leased_blob(&c, "run").await;
    c.renew_lease("run", &a).await.expect("holder renews");
    let b = LeaseId(ID_B.into());
    let err = c
        .renew_lease("run", &b)
        .await
        .expect_err("renew with another id");
    assert_code(&err, 409, "LeaseIdMismatchWithLeaseOperation");
    let err = c
        .release_lease("run", &b)
        .await
        .expect_err("release with another id");
    assert_code(&err, 409, "LeaseIdMismatchWithLeaseOperation");
    // Change: same lease, new id; the old id no longer writes.
    let changed = c.change_lease("run", &a, &b).await.expect("change");
    assert_eq!(changed, b);
    let err = c
        .put_blob("run", b"x".to_vec(), &Condition::none().with_lease(&a))
        .await
        .expect_err("old id after change");
    assert_code(&err, 412, "LeaseIdMismatchWithBlobOperation");
    assert_eq!(err.status(), Some(412), "{err:?}");
    // Release: another acquirer gets it at once.
    c.release_lease("run", &b).await.expect("release");
    let again = c
        .acquire_lease("run", LeaseDuration::seconds(60).unwrap(), Some(&a))
        .await
        .expect("free after release");
    assert_eq!(again, a);
    let err = c
        .acquire_lease("missing", LeaseDuration::Infinite, None)
        .await
        .expect_err("no blob");
    assert!(matches!(err, BlobError::NotFound { .. }), "{err:?}");
}

#[test]
fn lease_durations_outside_15_to_60_seconds_are_refused_before_any_request() {
    for secs in [0, 14, 61] {
        let err = LeaseDuration::seconds(secs).unwrap_err();
        assert!(err.to_string().contains("lease duration"), "{err}");
    }
    assert_eq!(
        LeaseDuration::seconds(15).unwrap(),
        LeaseDuration::Seconds(15)
    );
}
