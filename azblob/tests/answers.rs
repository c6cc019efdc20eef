//! Answers Azurite never gives (throttling, server errors), from a canned HTTP server on
//! 127.0.0.1: the error mapping, no retries, and no SAS in what an error shows.

use failback_azblob::{BlobError, Condition, ContainerClient, Endpoint};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const SIG: &str = "c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ%3D%3D";

/// Serves `answer` to every request; counts requests. Returns the container URL (with a SAS).
async fn canned(answer: String) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answer = answer.clone();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let mut seen = Vec::new();
                // Read the request head (bodies here are small and sent with it or after).
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = sock.write_all(answer.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    let url = format!("http://127.0.0.1:{port}/devstoreaccount1/canned?sv=2025-11-05&ss=b&srt=sco&sp=rwdlac&se=2099-01-01T00%3A00%3A00Z&sig={SIG}");
    (url, count)
}

fn answer(status: &str, code: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nx-ms-error-code: {code}\r\n{extra}Content-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn client(url: &str) -> ContainerClient {
    ContainerClient::new(Endpoint::parse(url).expect("url"), None).expect("client")
}

#[tokio::test]
async fn server_busy_is_throttled_with_retry_after_and_not_retried() {
    let (url, count) = canned(answer(
        "503 Server Busy",
        "ServerBusy",
        "Retry-After: 3\r\n",
        "",
    ))
    .await;
    let err = client(&url)
        .put_blob("b", b"x".to_vec(), &Condition::none())
        .await
        .expect_err("503");
    assert!(
        matches!(&err, BlobError::Throttled { status: 503, retry_after: Some(d), .. } if *d == Duration::from_secs(3)),
        "{err:?}"
    );
    assert_eq!(err.code(), Some("ServerBusy"));
    assert!(err.is_transient() && !err.is_fenced());
    assert_eq!(count.load(Ordering::SeqCst), 1, "the client does not retry");
}

#[tokio::test]
async fn operation_timed_out_is_throttled_and_other_500s_are_http_errors() {
    let (url, _) = canned(answer(
        "500 Internal Server Error",
        "OperationTimedOut",
        "",
        "",
    ))
    .await;
    let err = client(&url).get_blob("b").await.expect_err("500");
    assert!(
        matches!(
            err,
            BlobError::Throttled {
                status: 500,
                retry_after: None,
                ..
            }
        ),
        "{err:?}"
    );
    let (url, _) = canned(answer("500 Internal Server Error", "InternalError", "", "")).await;
    let err = client(&url).get_blob("b").await.expect_err("500");
    assert!(
        matches!(err, BlobError::Http { status: 500, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_sas_echoed_by_the_server_is_redacted_from_the_error() {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate GET /devstoreaccount1/canned/b?sv=2025-11-05&sig={SIG}\nRequestId:1</Message></Error>"
    );
    let (url, _) = canned(answer("403 Forbidden", "AuthenticationFailed", "", &body)).await;
    let err = client(&url).get_blob("b").await.expect_err("403");
    let shown = format!("{err} {err:?}");
    assert!(
        matches!(err, BlobError::Auth { status: 403, .. }),
        "{shown}"
    );
    assert!(shown.contains("Server failed to authenticate"), "{shown}");
    assert!(
        !shown.contains(SIG) && !shown.contains("c2VjcmV0"),
        "{shown}"
    );
}

/// A server that accepts connections and reads requests but never answers (a partition that
/// drops packets): every operation ends with a transport error after the client's timeout.
#[tokio::test]
async fn a_silent_server_gives_a_transport_error_after_the_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await;
            held.push(sock); // keep it open, say nothing
        }
    });
    let url = format!("http://127.0.0.1:{port}/devstoreaccount1/silent?sv=2025-11-05&sig={SIG}");
    let c = client(&url).with_timeout(Duration::from_millis(300));
    let lease = failback_azblob::LeaseId("0f8fad5b-d9cb-469f-a165-70867728950e".into());
    let guard = Duration::from_secs(30); // the test fails instead of hanging
    let err = tokio::time::timeout(guard, c.renew_lease("run", &lease))
        .await
        .expect("renew returned")
        .expect_err("no answer");
    assert!(
        matches!(err, BlobError::Transport { .. }) && err.is_transient(),
        "{err:?}"
    );
    assert!(err.to_string().contains("no answer within 300ms"), "{err}");
    let err = tokio::time::timeout(guard, c.list_blobs("", None))
        .await
        .expect("list returned")
        .expect_err("no answer");
    assert!(matches!(err, BlobError::Transport { .. }), "{err:?}");
    let err = tokio::time::timeout(guard, c.put_blob("b", vec![1], &Condition::none()))
        .await
        .expect("put returned")
        .expect_err("no answer");
    assert!(matches!(err, BlobError::Transport { .. }), "{err:?}");
}
