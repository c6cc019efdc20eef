//! Secrets: after whole runs with distinctive secret values — one through the CLI with text
//! debug logs, one through the daemon with JSON debug logs — none of them appears in the store
//! files, the logs, plan output, history, status, metrics or any daemon API response.

use crate::daemon_support::{get, request};
use crate::report::Family;
use crate::world::{text, Case, PS_PASSWORD};
use std::path::Path;
use std::time::Duration;

const CS_PASSPHRASE: &str = "Suite-CS-Passphrase-K7w3Lq";

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// One raw HTTP exchange over the socket: the whole answer, headers included.
fn raw(socket: &Path, req: &str) -> Vec<u8> {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
        return Vec::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let mut out = Vec::new();
    if s.write_all(req.as_bytes()).is_ok() {
        let _ = s.read_to_end(&mut out);
    }
    out
}

/// The browser console's pages of a finished run (its event stream ends with the run),
/// logged in over the socket as `failback ui` forwards a browser.
fn console_pages(socket: &Path, run: &str) -> Vec<(String, Vec<u8>)> {
    let minted = request(socket, "POST", "/v1/ui/login", b"")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let link = serde_json::from_str::<serde_json::Value>(&minted)
        .ok()
        .and_then(|v| v["path"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let login = text(&raw(
        socket,
        &format!("GET {link} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    ));
    let cookie = login
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie:"))
        .and_then(|l| l.split_once(':'))
        .and_then(|(_, v)| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_owned();
    [
        "/ui/runs".to_owned(),
        format!("/ui/runs/{run}"),
        format!("/ui/runs/{run}/events"),
    ]
    .into_iter()
    .map(|path| {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
        );
        (format!("console GET {path}"), raw(socket, &req))
    })
    .collect()
}

pub fn run(rt: &tokio::runtime::Runtime, fam: &mut Family) {
    let mut scenario = crate::world::scenario();
    for f in scenario
        .subscriptions
        .iter_mut()
        .flat_map(|s| s.vaults.iter_mut())
        .flat_map(|v| v.fabrics.iter_mut())
    {
        f.passphrase = CS_PASSPHRASE.into();
    }
    let case = Case::start(rt, scenario);
    let client_secret = case
        .env_value("FAILBACK_DEMO_CLIENT_SECRET")
        .unwrap_or_default()
        .to_owned();
    let secrets = [PS_PASSWORD, CS_PASSPHRASE, client_secret.as_str()];
    let mut surfaces: Vec<(String, Vec<u8>)> = Vec::new();
    let mut keep = |name: &str, bytes: Vec<u8>| surfaces.push((name.to_owned(), bytes));

    // Through the CLI, debug text logs.
    let out = case.run(&["-vv", "apply", "--yes", "--run-id", "sec-cli"], None);
    fam.case(
        "cli run succeeds",
        if out.status.success() {
            Ok(())
        } else {
            Err(text(&out.stderr))
        },
    );
    keep("cli text log (stderr)", out.stderr.clone());
    keep("cli stdout", out.stdout.clone());
    for (name, args) in [
        ("plan text", vec!["plan"]),
        ("plan json", vec!["plan", "--format", "json"]),
        ("plan of the run", vec!["plan", "--run", "sec-cli"]),
        (
            "history json",
            vec!["history", "sec-cli", "--output", "json"],
        ),
        ("history text", vec!["history", "sec-cli"]),
        ("status json", vec!["status", "sec-cli", "--output", "json"]),
        ("list json", vec!["list", "--output", "json"]),
    ] {
        let out = case.run(&args, None);
        keep(name, [out.stdout, out.stderr].concat());
    }

    // Through the daemon, debug JSON logs.
    let log = case.path("daemon-json.log");
    let mut c = case.command(&["--log-format", "json", "-vv", "daemon"], None);
    c.stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"));
    let child = c.spawn().expect("daemon");
    let mut d = crate::daemon_support::Daemon {
        child,
        log: log.clone(),
        socket: case.socket(),
    };
    if case.daemon_ready(&mut d) {
        // sec-daemon runs on sec-cli's IPs: its process servers are unregistered first.
        case.unregister_process_servers();
        let submitted = case.submit("sec-daemon");
        let t0 = std::time::Instant::now();
        let mut state = String::new();
        while t0.elapsed() < Duration::from_secs(120) {
            state = get(&case.socket(), "/v1/runs/sec-daemon")
                .map(|(_, b)| crate::daemon_support::json(&b)["run"]["state"].to_string())
                .unwrap_or_default();
            if state.contains("succeeded") || state.contains("failed") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        fam.case(
            "daemon run succeeds",
            submitted.and_then(|()| {
                if state.contains("succeeded") {
                    Ok(())
                } else {
                    Err(state)
                }
            }),
        );
        for path in [
            "/v1/runs",
            "/v1/runs/sec-daemon",
            "/v1/runs/sec-daemon/history",
            "/v1/runs/sec-daemon/graph",
            "/v1/runs/sec-daemon/plan",
            "/metrics",
            "/",
        ] {
            let body = get(&case.socket(), path)
                .map(|(_, b)| b)
                .unwrap_or_default();
            keep(&format!("daemon GET {path}"), body.into_bytes());
        }
        let pages = console_pages(&case.socket(), "sec-daemon");
        let served = pages
            .iter()
            .find(|(_, page)| !page.starts_with(b"HTTP/1.1 200"))
            .map_or(Ok(()), |(name, page)| {
                Err(format!("{name}: {}", text(page)))
            });
        fam.case("console pages served to a logged-in browser", served);
        for (name, page) in pages {
            keep(&name, page);
        }
        d.signal(libc::SIGTERM);
        d.wait_exit(Duration::from_secs(30));
    } else {
        fam.case("daemon starts", Err(d.log_text()));
    }
    keep("daemon JSON log", std::fs::read(&log).unwrap_or_default());
    let mut files = Vec::new();
    files_under(&case.state_dir(), &mut files);
    for f in files {
        keep(
            &format!("store file {}", f.display()),
            std::fs::read(&f).unwrap_or_default(),
        );
    }

    let mut leaks = 0;
    for (name, bytes) in &surfaces {
        let found: Vec<&str> = secrets
            .iter()
            .filter(|s| !s.is_empty() && bytes.windows(s.len()).any(|w| w == s.as_bytes()))
            .copied()
            .collect();
        leaks += found.len();
        fam.case(
            &format!("no secret in {name}"),
            if found.is_empty() {
                Ok(())
            } else {
                Err(format!("{} secret(s) found", found.len()))
            },
        );
    }
    // The scan must be able to fail: the secrets did reach the emulator.
    // The scan could have found them: the runs sent them (the password in the VM PUTs, the
    // client secret to the token endpoint).
    let vm_puts = failback::rehearsal::vm_put_paths(&case.sim).len();
    fam.case(
        "the runs used the secrets",
        if vm_puts >= 4 && !client_secret.is_empty() {
            Ok(())
        } else {
            Err(format!("{vm_puts} VM PUTs"))
        },
    );
    fam.summary(format!(
        "{} surfaces scanned for 3 secrets, {leaks} leaks",
        surfaces.len()
    ));
    fam.require_zero(leaks);
}
