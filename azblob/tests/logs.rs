//! The SDK's own logs at TRACE level, captured: they show requests but never a SAS signature.
//! Alone in its binary: a `tracing` subscriber set for one thread while other tests' threads
//! log races with tracing's per-callsite interest cache (it missed events once in 3 runs).

#[path = "support/sas.rs"]
mod sas_support;
mod support;

use failback_azblob::{Condition, ContainerClient, Endpoint};
use std::sync::Arc;
use support::Azurite;

use sas_support::{sas, sig_of};

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_level_logs_show_requests_but_never_the_signature() {
    let azurite = Azurite::start();
    azurite.container("logs").await;
    let sas = sas();
    let sig = sig_of(&sas);
    let url = format!("{}?{sas}", azurite.container_url("logs"));
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let c = ContainerClient::new(Endpoint::parse(&url).unwrap(), None).unwrap();
    c.put_blob("b", b"1".to_vec(), &Condition::none())
        .await
        .unwrap();
    let _ = c.get_blob("missing").await.unwrap();
    let forged = sas.replace(&sig, "Zm9yZ2VkLXNpZw%3D%3D");
    let url = format!("{}?{forged}", azurite.container_url("logs"));
    let c = ContainerClient::new(Endpoint::parse(&url).unwrap(), None).unwrap();
    let _ = c.get_blob("b").await.expect_err("forged");
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("/devstoreaccount1/logs/b"),
        "requests are logged: {logs}"
    );
    assert!(!logs.contains(&sig), "{logs}");
    assert!(!logs.contains("Zm9yZ2VkLXNpZw"), "{logs}");
}
