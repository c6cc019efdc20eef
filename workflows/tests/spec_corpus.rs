//! The spec corpus: every `good/*.toml` loads; every `bad/*.toml` fails with exactly the one
//! error its `.expect` sidecar names (line 1: `line:column`, line 2: field path, line 3: a
//! substring of the message).

use std::path::{Path, PathBuf};
use std::sync::Once;

use failback_workflows::spec::{self, Spec};

/// Distinctive values, so the snapshot test can prove they never leak.
const PS_PASSWORD: &str = "Fb-Test-Passw0rd!-q7Zx";
const CS_PASSPHRASE: &str = "cs-passphrase-K3y-w9Vt";

fn env() {
    static ONCE: Once = Once::new();
    // Process-global: set once, never removed, so parallel tests agree.
    ONCE.call_once(|| {
        std::env::set_var("FAILBACK_TEST_PS_PASSWORD", PS_PASSWORD);
        std::env::set_var("FAILBACK_TEST_CS_PASSPHRASE", CS_PASSPHRASE);
        std::env::set_var("FAILBACK_PS_ADMIN_PASSWORD", PS_PASSWORD);
        std::env::set_var("FAILBACK_CS_PASSPHRASE", CS_PASSPHRASE);
    });
}

fn corpus(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/spec-corpus")
        .join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn good_specs_load() {
    env();
    let files = corpus("good");
    assert!(files.len() >= 3);
    for f in files {
        if let Err(e) = spec::load(&f) {
            panic!("{} should load:\n{e}", f.display());
        }
    }
}

#[test]
fn bad_specs_fail_with_the_expected_error() {
    env();
    let files = corpus("bad");
    assert!(files.len() >= 35, "only {} bad specs", files.len());
    let mut failures = Vec::new();
    for f in &files {
        let expect_path = f.with_extension("expect");
        let expect = std::fs::read_to_string(&expect_path)
            .unwrap_or_else(|_| panic!("{} has no .expect", f.display()));
        let mut lines = expect.lines();
        let (at, field, msg) = (
            lines.next().unwrap_or(""),
            lines.next().unwrap_or(""),
            lines.next().unwrap_or(""),
        );
        let errs = match spec::load(f) {
            Ok(_) => {
                failures.push(format!(
                    "{}: loaded, expected {at} {field}: {msg}",
                    f.display()
                ));
                continue;
            }
            Err(e) => e,
        };
        let all = errs.to_string();
        // Secret values written by mistake (inline, or in a weak-password file) are never echoed.
        for leaked in ["Secr3t-Passw0rd", "passwordpassword"] {
            assert!(
                !all.contains(leaked),
                "{} echoes a secret: {all}",
                f.display()
            );
        }
        let ok = errs.len() == 1
            && errs.errors().iter().all(|e| {
                format!("{}:{}", e.line, e.column) == at
                    && e.field == field
                    && e.message.contains(msg)
                    && e.file == f.display().to_string()
                    && e.to_string()
                        == format!(
                            "{}:{}:{}: {}: {}",
                            e.file, e.line, e.column, e.field, e.message
                        )
            });
        if !ok {
            failures.push(format!(
                "{}:\n  expected {at} {field}: …{msg}…\n  got {} error(s):\n  {}",
                f.display(),
                errs.len(),
                all.replace('\n', "\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn all_semantic_errors_are_reported_together() {
    env();
    let text = spec::example()
        .replace("\"10.1.0.10\"", "\"10.2.0.3\"")
        .replace("\"ps\"", "\"a-very-long-prefix\"")
        .replace("\"5m\"", "\"5w\"")
        .replace("kind = \"cli\"", "kind = \"cli\"\nbogus = 1");
    let errs = spec::parse(&text, "multi.toml").unwrap_err();
    let fields: Vec<&str> = errs.errors().iter().map(|e| e.field.as_str()).collect();
    for want in [
        "azure.credential.bogus",
        "network[0].name",
        "network[0].private_ip",
        "failback.poll_interval",
    ] {
        assert!(fields.contains(&want), "{want} missing from:\n{errs}");
    }
    let lines: Vec<usize> = errs.errors().iter().map(|e| e.line).collect();
    assert!(
        lines.windows(2).all(|w| w[0] <= w[1]),
        "errors not in file order:\n{errs}"
    );
    assert!(errs.to_string().contains("multi.toml:"), "{errs}");
}

#[test]
fn example_parses() {
    env();
    let spec = spec::parse(spec::example(), "failback.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.process_server.size, "Standard_A8_v2");
    assert_eq!(spec.networks.len(), 1);
    assert_eq!(spec.computer_name(&spec.networks[0]), "ps-vnet-a");
}

#[test]
fn snapshot_round_trips_without_secret_values() {
    env();
    for f in corpus("good") {
        let spec = spec::load(&f).unwrap();
        let snap = spec.snapshot();
        let text = serde_json::to_string(&snap).unwrap();
        for secret in [PS_PASSWORD, CS_PASSPHRASE, "Fb-Test-Passw0rd-From-File"] {
            assert!(
                !text.contains(secret),
                "{} snapshot leaks a secret: {text}",
                f.display()
            );
        }
        let back = Spec::from_snapshot(&snap).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert_eq!(back, spec, "{}", f.display());
    }
}

#[test]
fn snapshot_versions() {
    env();
    let spec = spec::parse(spec::example(), "failback.toml").unwrap();
    let mut snap = spec.snapshot();
    assert_eq!(snap["spec_schema"], spec::SPEC_SCHEMA_VERSION);
    assert_eq!(snap["spec"]["failback"]["deadline"], "21d");
    snap["spec_schema"] = (spec::SPEC_SCHEMA_VERSION + 1).into();
    assert!(matches!(
        Spec::from_snapshot(&snap),
        Err(spec::SnapshotError::TooNew { .. })
    ));
    assert!(matches!(
        Spec::from_snapshot(&serde_json::json!({})),
        Err(spec::SnapshotError::NoVersion)
    ));
    let bad = serde_json::json!({ "spec_schema": 1, "spec": { "azure": 1 } });
    assert!(matches!(
        Spec::from_snapshot(&bad),
        Err(spec::SnapshotError::Malformed(_))
    ));
}

#[test]
fn names_are_deterministic_and_fit_azure() {
    env();
    let spec = spec::load(
        &corpus("good")
            .into_iter()
            .find(|p| p.ends_with("two-networks.toml"))
            .unwrap(),
    )
    .unwrap();
    let net = &spec.networks[0];
    assert_eq!(spec.computer_name(net), "fbps-weu");
    let vm = spec.vm_name("run-1", net);
    assert_eq!(vm, format!("fbps-weu-{}", spec::run_hash("run-1")));
    assert_eq!(spec.nic_name("run-1", net), format!("{vm}-nic"));
    assert_eq!(spec.os_disk_name("run-1", net), format!("{vm}-os"));
    assert_eq!(spec.cache_disk_name("run-1", net), format!("{vm}-cache"));
    assert_ne!(spec.vm_name("run-2", net), vm);
    assert_ne!(spec.vm_name("run-1", &spec.networks[1]), vm);
    assert!(spec.nic_name("r", net).len() <= 80 && vm.len() <= 64);
}

#[test]
fn unreadable_and_non_utf8_files_are_errors() {
    let errs = spec::load(Path::new("/nonexistent/failback.toml")).unwrap_err();
    assert!(
        errs.to_string()
            .starts_with("/nonexistent/failback.toml:1:1: (file): cannot read"),
        "{errs}"
    );
    let dir = std::env::temp_dir().join(format!("failback-spec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("latin1.toml");
    std::fs::write(&f, b"[azure]\ncloud = \"caf\xe9\"\n").unwrap();
    let errs = spec::load(&f).unwrap_err();
    assert_eq!(errs.errors()[0].line, 2, "{errs}");
    assert_eq!(errs.errors()[0].column, 13, "{errs}");
    let _ = std::fs::remove_dir_all(&dir);
}
