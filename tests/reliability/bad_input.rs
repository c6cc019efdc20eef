//! Bad input: every spec of the corpus through the binary, malformed requests to a running
//! daemon, and damaged store files. Each must give a clear error and never a panic, a crash
//! of the daemon, or a silently different state.

use crate::daemon_support::{exchange, get};
use crate::report::Family;
use crate::world::{panicked, text, Case};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub fn run(rt: &tokio::runtime::Runtime, fam: &mut Family) {
    let specs = spec_corpus(fam);
    let api = api_requests(rt, fam);
    let store = store_damage(rt, fam);
    let records = damaged_record(rt, fam);
    fam.summary(format!(
        "{} inputs ({specs} specs, {api} API requests, {store} damaged stores, {records} damaged run and step records), {} panics",
        specs + api + store + records,
        PANICS.load(std::sync::atomic::Ordering::Relaxed)
    ));
}

static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn note_panic() {
    PANICS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workflows/tests/spec-corpus/bad")
}

/// Each bad spec: non-zero exit, `file:line:col: field` from its `.expect`, no run created.
fn spec_corpus(fam: &mut Family) -> usize {
    let state = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    for (i, f) in files.iter().enumerate() {
        let expect = std::fs::read_to_string(f.with_extension("expect")).unwrap_or_default();
        let mut lines = expect.lines();
        let (at, field) = (lines.next().unwrap_or(""), lines.next().unwrap_or(""));
        let args: &[&str] = if i % 2 == 0 {
            &["plan", "--offline"]
        } else {
            &["apply", "--yes"]
        };
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_failback"))
            .args(args)
            .arg("--spec")
            .arg(f)
            .env("FAILBACK_STATE_DIR", state.path())
            .env("FAILBACK_TEST_PS_PASSWORD", "Fb-Test-Passw0rd!")
            .env("FAILBACK_TEST_CS_PASSPHRASE", "corpus-passphrase")
            .env_remove("FAILBACK_CRASH_AT")
            .output();
        let result = match out {
            Err(e) => Err(e.to_string()),
            Ok(out) => {
                let name = f
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                let stderr = text(&out.stderr);
                if panicked(&out) {
                    note_panic();
                    Err(format!("panic: {stderr}"))
                } else if out.status.success() {
                    Err("accepted".into())
                } else if !stderr.contains(&format!("{name}:{at}: {field}")) {
                    Err(format!("expected `{name}:{at}: {field}` in: {stderr}"))
                } else {
                    Ok(())
                }
            }
        };
        fam.case(&format!("spec {}", f.display()), result);
    }
    files.len()
}

/// A raw exchange on the daemon's socket: (status, body), or None when it hung up.
fn raw(socket: &Path, bytes: &[u8]) -> Option<(u16, String)> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    exchange(&mut s, bytes).ok()
}

fn http(method: &str, path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "{method} {path} HTTP/1.1\r\nHost: failback\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

/// Malformed requests: each gets a 4xx (or the connection is refused at the HTTP layer), and
/// the daemon answers its health check afterwards.
fn api_requests(rt: &tokio::runtime::Runtime, fam: &mut Family) -> usize {
    let case = Case::start(rt, crate::world::scenario());
    let mut d = case.daemon(1, None);
    if !case.daemon_ready(&mut d) {
        fam.case("daemon starts", Err(d.log_text()));
        return 0;
    }
    let big = vec![b'x'; 8 << 20];
    let spec_bad =
        serde_json::json!({"spec_toml": "[azure]\nsubscription_id = 7\n", "run_id": "bad-1"})
            .to_string();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("invalid JSON body", http("POST", "/v1/runs", "", b"{not json")),
        ("JSON of the wrong type", http("POST", "/v1/runs", "", b"[1,2,3]")),
        ("unknown field", http("POST", "/v1/runs", "", br#"{"spec_tomll": "x"}"#)),
        ("invalid spec inside", http("POST", "/v1/runs", "", spec_bad.as_bytes())),
        ("non-UTF-8 body", http("POST", "/v1/runs", "", &[0xff, 0xfe, 0x00, 0x9f])),
        ("oversized body (8 MiB)", http("POST", "/v1/runs", "", &big)),
        ("bad run id", http("GET", "/v1/runs/..%2F..%2Fetc", "", b"")),
        ("unknown run", http("GET", "/v1/runs/no-such-run", "", b"")),
        ("unknown path", http("GET", "/v1/nothing", "", b"")),
        ("wrong method", http("DELETE", "/v1/runs", "", b"")),
        ("bad query value", http("GET", "/v1/runs?state=bogus", "", b"")),
        ("unknown action", http("POST", "/v1/runs/no-such-run/explode", "", b"{}")),
        ("signal without a name", http("POST", "/v1/runs/no-such-run/signal", "", b"{}")),
        ("history with a bad number", http("GET", "/v1/runs/no-such-run/history?after=-1", "", b"")),
        ("Content-Length larger than the body", b"POST /v1/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}".to_vec()),
        ("garbage request line", b"\x16\x03\x01 hello\r\n\r\n".to_vec()),
        ("huge header", http("GET", "/v1/health", &format!("X-Pad: {}\r\n", "a".repeat(1 << 20)), b"")),
    ];
    let n = cases.len();
    for (name, bytes) in cases {
        let answer = raw(&case.socket(), &bytes);
        let alive = get(&case.socket(), "/v1/health").is_ok_and(|(s, _)| s == 200);
        let result = match (answer, alive) {
            (_, false) => Err(format!("daemon stopped answering: {}", d.log_text())),
            (Some((st, _)), true) if (400..500).contains(&st) => Ok(()),
            // hyper refuses some malformed HTTP by closing the connection: acceptable.
            (None, true) => Ok(()),
            (Some((st, body)), true) => Err(format!("expected a 4xx, got {st}: {body}")),
        };
        fam.case(&format!("api {name}"), result);
    }
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(30));
    if crate::world::file_panicked(&d.log) {
        note_panic();
    }
    fam.case(
        "api: daemon exits cleanly afterwards",
        if st.code() == Some(0) {
            Ok(())
        } else {
            Err(format!("{st:?}: {}", d.log_text()))
        },
    );
    n
}

/// The listing of a store through the binary: Ok(stdout) or Err(stderr).
fn list(state: &Path) -> Result<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_failback"))
        .args(["list", "--output", "json"])
        .env("FAILBACK_STATE_DIR", state)
        .env_remove("FAILBACK_CRASH_AT")
        .output()
        .map_err(|e| e.to_string())?;
    if panicked(&out) {
        note_panic();
        return Err(format!("PANIC: {}", text(&out.stderr)));
    }
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

/// Damaged copies of a real store: the binary either refuses it with an error that names the
/// store, or lists exactly the runs of the undamaged original. Never a panic, never a
/// different listing.
fn store_damage(rt: &tokio::runtime::Runtime, fam: &mut Family) -> usize {
    let case = Case::start(rt, crate::world::scenario());
    for run in ["good-1", "good-2"] {
        // good-2 runs on good-1's IPs: its process servers are unregistered first.
        case.unregister_process_servers();
        let out = case.run(&["apply", "--yes", "--run-id", run], None);
        if !out.status.success() {
            fam.case("store: setup run", Err(text(&out.stderr)));
            return 0;
        }
    }
    let original = match list(&case.state_dir()) {
        Ok(s) => s,
        Err(e) => {
            fam.case("store: list the original", Err(e));
            return 0;
        }
    };
    let db_len = std::fs::metadata(case.state_dir().join("store/db")).map_or(0, |m| m.len());
    type Damage = Box<dyn Fn(&Path)>;
    let flip = |at: f64| -> Damage {
        Box::new(move |dir: &Path| {
            let p = dir.join("store/db");
            if let Ok(mut b) = std::fs::read(&p) {
                let i = ((b.len() as f64 * at) as usize).min(b.len().saturating_sub(1));
                for j in i..(i + 16).min(b.len()) {
                    b[j] ^= 0x5a;
                }
                let _ = std::fs::write(&p, b);
            }
        })
    };
    let truncate = |to: f64| -> Damage {
        Box::new(move |dir: &Path| {
            if let Ok(f) = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("store/db"))
            {
                let _ = f.set_len((db_len as f64 * to) as u64);
            }
        })
    };
    let damages: Vec<(&str, Damage)> = vec![
        ("db bytes flipped at 1%", flip(0.01)),
        ("db bytes flipped at 30%", flip(0.3)),
        ("db bytes flipped at 60%", flip(0.6)),
        ("db bytes flipped at 95%", flip(0.95)),
        ("db truncated to 0 bytes", truncate(0.0)),
        ("db truncated to 10%", truncate(0.1)),
        ("db truncated to 50%", truncate(0.5)),
        ("db truncated to 99%", truncate(0.99)),
        (
            "conf is garbage",
            Box::new(|d: &Path| {
                let _ = std::fs::write(d.join("store/conf"), b"\x00garbage\xff");
            }),
        ),
        (
            "conf removed",
            Box::new(|d: &Path| {
                let _ = std::fs::remove_file(d.join("store/conf"));
            }),
        ),
        (
            "db removed",
            Box::new(|d: &Path| {
                let _ = std::fs::remove_file(d.join("store/db"));
            }),
        ),
        (
            "db replaced by a directory",
            Box::new(|d: &Path| {
                let _ = std::fs::remove_file(d.join("store/db"));
                let _ = std::fs::create_dir(d.join("store/db"));
            }),
        ),
    ];
    let n = damages.len();
    for (name, damage) in damages {
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join("state");
        if let Err(e) = crate::world::copy_dir(&case.state_dir(), &copy) {
            fam.case(&format!("store {name}"), Err(e.to_string()));
            continue;
        }
        damage(&copy);
        let result = match list(&copy) {
            Ok(s) if s == original => Ok(()),
            Ok(s) => Err(format!("listed a different state without an error:\n{s}")),
            Err(e) if e.starts_with("PANIC") => Err(e),
            Err(e) if e.contains("store") || e.contains(&copy.display().to_string()) => Ok(()),
            Err(e) => Err(format!("error does not name the store: {e}")),
        };
        fam.case(&format!("store {name}"), result);
    }
    n
}

/// Three runs wait for failback; on disk one's run record and another's step record are
/// damaged. `resume` quarantines both (naming the run and the key, exit 1) and drives the
/// third to the end.
fn damaged_record(rt: &tokio::runtime::Runtime, fam: &mut Family) -> usize {
    let result = (|| -> Result<(), String> {
        let case = Case::start(rt, crate::world::held_scenario());
        case.spec_with_host("second.toml", 20)?;
        case.spec_with_host("third.toml", 30)?;
        let mut d = case.daemon(1, None);
        if !case.daemon_ready(&mut d) {
            return Err(d.log_text());
        }
        let runs = [
            ("q-damaged", "failback.toml"),
            ("q-healthy", "second.toml"),
            ("q-step", "third.toml"),
        ];
        for (run, file) in runs {
            let body = serde_json::json!({
                "spec_path": case.path(file).display().to_string(),
                "run_id": run,
            })
            .to_string();
            match crate::daemon_support::request(
                &case.socket(),
                "POST",
                "/v1/runs",
                body.as_bytes(),
            ) {
                Ok((201, _)) => {}
                other => return Err(format!("submit {run}: {other:?}")),
            }
        }
        crate::daemon_support::wait_until(Duration::from_secs(60), "the runs waiting", || {
            let states = crate::daemon_support::run_states(&case.socket());
            runs.iter()
                .all(|(r, _)| states.get(*r).is_some_and(|s| s == "waiting"))
        });
        d.signal(libc::SIGTERM);
        d.wait_exit(Duration::from_secs(30));
        {
            let store = failback_state::StateStore::open(&case.state_dir().join("store"))
                .map_err(|e| e.to_string())?;
            let mut b = failback_state::Batch::new();
            b.put(
                failback_state::keys::run("q-damaged"),
                vec![0x01, 0x00, 0x02, 0xc1, 0xff, 0x00],
            );
            b.put(
                failback_state::keys::step("q-step", "vnet-b/register"),
                vec![0x01, 0x00, 0x01, 0x93, 0xc1],
            );
            store.raw().submit(b).wait().map_err(|e| e.to_string())?;
            store.close().map_err(|e| e.to_string())?;
        }
        let out = case.run(&["signal", "q-healthy", "failback-complete", "--yes"], None);
        if !out.status.success() {
            return Err(format!("signal: {}", text(&out.stderr)));
        }
        let out = case.run(&["resume"], None);
        let err = text(&out.stderr);
        if panicked(&out) {
            note_panic();
            return Err(format!("panic: {err}"));
        }
        for key in ["run/q-damaged", "step/q-step/vnet-b/register"] {
            if !(err.contains(key) && err.contains("quarantin")) {
                return Err(format!("no quarantine warning naming {key}: {err}"));
            }
        }
        if out.status.code() != Some(1) {
            return Err(format!("resume exited {:?}, expected 1", out.status));
        }
        let st = case.status("q-healthy")?;
        if st["run"]["state"] != "succeeded" {
            return Err(format!(
                "the healthy run is {}: {}",
                st["run"]["state"], err
            ));
        }
        let out = case.run(&["list"], None);
        if panicked(&out) || !text(&out.stderr).contains("q-damaged") {
            return Err(format!("list: {}", text(&out.stderr)));
        }
        Ok(())
    })();
    fam.case(
        "damaged run and step records: both runs quarantined, the third completes",
        result,
    );
    2
}
