//! A spec whose credential gets its token from the authority host (client-secret,
//! client-certificate, workload-identity) but names an `http://` one is refused at spec check,
//! at the field, with the fix — not later by azure_identity's "authority host doesn't use HTTPS
//! scheme" under "invalid workflow definition".

use assert_cmd::Command;
use std::path::Path;

const HTTP_CLIENT_SECRET: &str =
    "workflows/tests/spec-corpus/bad/custom-cloud-http-client-secret.toml";

fn base() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(HTTP_CLIENT_SECRET);
    std::fs::read_to_string(path).expect("corpus spec")
}

/// `failback plan --offline` on `text` written to a file: (success, stderr, file name).
fn plan(dir: &Path, name: &str, text: &str) -> (bool, String) {
    let spec = dir.join(name);
    std::fs::write(&spec, text).expect("write spec");
    let out = Command::cargo_bin("failback")
        .expect("binary")
        .args(["plan", "--offline", "--spec"])
        .arg(&spec)
        .env("FAILBACK_STATE_DIR", dir.join("state"))
        .env("FAILBACK_TEST_PS_PASSWORD", "Fb-Test-Passw0rd!")
        .env("FAILBACK_TEST_CS_PASSPHRASE", "corpus-passphrase")
        .env_remove("FAILBACK_CRASH_AT")
        .output()
        .expect("run failback");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn http_authority_with_a_client_secret_gets_the_https_hint_at_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, stderr) = plan(dir.path(), "http.toml", &base());
    assert!(!ok, "accepted: {stderr}");
    assert!(
        stderr
            .contains("http.toml:5:18: azure.authority_host: \"http://127.0.0.1:1\" is plain http"),
        "{stderr}"
    );
    for hint in [
        "use https://",
        "`failback sim` without --no-tls",
        "FAILBACK_CA_FILE",
    ] {
        assert!(stderr.contains(hint), "no {hint:?} in: {stderr}");
    }
    assert!(!stderr.contains("invalid workflow definition"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // The same credential kinds with an https authority pass the check.
    let https = base().replace("authority_host = \"http://", "authority_host = \"https://");
    let (ok, stderr) = plan(dir.path(), "https.toml", &https);
    assert!(ok, "{stderr}");
}

#[test]
fn credentials_that_do_not_use_the_authority_host_may_name_an_http_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret_lines = [
        "kind = \"client-secret\"",
        "client_id = \"11111111-2222-3333-4444-555555555555\"",
        "client_secret = { env = \"FAILBACK_TEST_CS_PASSPHRASE\" }",
    ];
    let text = base().replace(&secret_lines.join("\n"), "kind = \"managed-identity\"");
    assert_ne!(text, base());
    let (ok, stderr) = plan(dir.path(), "mi.toml", &text);
    assert!(ok, "{stderr}");
    assert!(!stderr.contains("is plain http"), "{stderr}");
}
