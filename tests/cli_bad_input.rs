//! Every spec of the bad-input corpus (workflows/tests/spec-corpus/bad) through the binary:
//! a clear `file:line:column: field: message` error, a non-zero exit, and no run created.

mod support;

use assert_cmd::Command;
use std::path::PathBuf;

fn corpus() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workflows/tests/spec-corpus/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bad_spec_is_refused_with_its_position_and_creates_nothing() {
    let state = tempfile::tempdir().unwrap();
    let files = corpus();
    assert!(files.len() >= 30, "corpus has {} files", files.len());
    for (i, f) in files.iter().enumerate() {
        let expect = std::fs::read_to_string(f.with_extension("expect")).unwrap();
        let mut lines = expect.lines();
        let at = lines.next().unwrap_or_default();
        let field = lines.next().unwrap_or_default();
        // Alternate plan and apply: neither may get past the spec.
        let args: Vec<&str> = if i % 2 == 0 {
            vec!["plan", "--offline"]
        } else {
            vec!["apply", "--yes"]
        };
        let out = Command::cargo_bin("failback")
            .unwrap()
            .args(&args)
            .arg("--spec")
            .arg(f)
            .env("FAILBACK_STATE_DIR", state.path())
            .env("FAILBACK_TEST_PS_PASSWORD", "Fb-Test-Passw0rd!")
            .env("FAILBACK_TEST_CS_PASSPHRASE", "corpus-passphrase")
            .env_remove("FAILBACK_CRASH_AT")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{}: accepted", f.display());
        assert!(
            !stderr.contains("panicked"),
            "{}: panic: {stderr}",
            f.display()
        );
        let name = f.file_name().unwrap().to_string_lossy();
        assert!(
            stderr.contains(&format!("{name}:{at}: {field}")),
            "{}: expected `{name}:{at}: {field}` in:\n{stderr}",
            f.display()
        );
        assert!(stderr.contains("nothing was created"), "{stderr}");
    }
    let list = Command::cargo_bin("failback")
        .unwrap()
        .args(["list", "--format", "json"])
        .env("FAILBACK_STATE_DIR", state.path())
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).expect("list json");
    assert_eq!(listed["runs"], serde_json::json!([]), "no run was created");
}
