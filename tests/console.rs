//! The browser console (`/login`, `/ui/...`) of a real daemon over loopback TCP: a one-time
//! login link for an HttpOnly, SameSite=Strict cookie; without it every page is 401 and every
//! action 403; a wrong CSRF token is 403 and changes nothing; the run page draws one SVG edge
//! per DAG dependency and streams live updates; actions with the right token act.
//! `failback ui` forwards the console of a daemon that serves only its socket.

mod daemon_support;

use daemon_support::*;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const TOKEN: &str = "0123456789abcdef-console-test-token";
const ACTIONS: [&str; 5] = ["signal", "cancel", "retry", "pause", "resume"];

/// A raw HTTP/1.1 answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

fn token_file(r: &Rehearsal) {
    std::fs::write(r.path("token"), format!("{TOKEN}\n")).expect("token file");
    std::fs::set_permissions(r.path("token"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod 600");
}

/// The login link the daemon printed at start (`--ui`): (address, path).
fn printed_link(d: &Daemon) -> (String, String) {
    let mut line = String::new();
    wait_until(Duration::from_secs(20), "the login link in the log", || {
        line = d
            .log_text()
            .lines()
            .find(|l| l.contains("console login"))
            .unwrap_or_default()
            .to_owned();
        !line.is_empty()
    });
    split_link(&line)
}

fn split_link(text: &str) -> (String, String) {
    let url = text
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no link in {text:?}"));
    let rest = &url["http://".len()..];
    let (addr, path) = rest.split_at(rest.find('/').expect("a path"));
    (addr.to_owned(), path.to_owned())
}

/// Log in with a link: the session cookie (`name=value`).
fn log_in(addr: &str, path: &str) -> String {
    let a = http(addr, "GET", path, &[], "");
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.header("location"), Some("/ui/runs"));
    let cookie = a.header("set-cookie").expect("a cookie").to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let again = http(addr, "GET", path, &[], "");
    assert_eq!(again.status, 403, "a login link works once");
    cookie.split(';').next().expect("name=value").to_owned()
}

fn submit_held(r: &Rehearsal, d: &Daemon, n: usize, id: &str) {
    let spec = r.path(&r.spec_with(n, true));
    let body = serde_json::json!({ "spec_path": spec.display().to_string(), "run_id": id });
    let (status, text) =
        request(&d.socket, "POST", "/v1/runs", body.to_string().as_bytes()).expect("submit");
    assert_eq!(status, 201, "{text}");
}

fn run_json(d: &Daemon, id: &str) -> serde_json::Value {
    let (status, body) = get(&d.socket, &format!("/v1/runs/{id}")).expect("status");
    assert_eq!(status, 200, "{body}");
    json(&body)
}

fn wait_held(d: &Daemon, id: &str) {
    wait_until(
        Duration::from_secs(90),
        "the run to wait in await-failback",
        || {
            run_json(d, id)["steps"]
                .as_array()
                .expect("steps")
                .iter()
                .any(|s| s["step_id"] == "await-failback" && s["status"]["status"] == "waiting")
        },
    );
}

fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[at..at + 64].to_owned()
}

/// The run's history texts, as the API gives them.
fn history_len(d: &Daemon, id: &str) -> usize {
    let (status, body) = get(&d.socket, &format!("/v1/runs/{id}/history")).expect("history");
    assert_eq!(status, 200, "{body}");
    json(&body)["events"].as_array().expect("events").len()
}

fn assert_untouched(d: &Daemon, id: &str, events_before: usize) {
    let v = run_json(d, id);
    let state = v["run"]["state"].as_str().unwrap_or_default().to_owned();
    assert!(
        ["running", "waiting"].contains(&state.as_str()),
        "the run was changed: {state}"
    );
    let (_, body) = get(&d.socket, &format!("/v1/runs/{id}/history")).expect("history");
    let events = json(&body)["events"].as_array().expect("events").clone();
    let kinds: Vec<String> = events[events_before.min(events.len())..]
        .iter()
        .map(|e| e["kind"].to_string())
        .collect();
    for k in &kinds {
        for word in ["cancel", "signal", "pause", "retry", "reset"] {
            assert!(
                !k.to_lowercase().contains(word),
                "an action was recorded: {k}"
            );
        }
    }
}

/// No cookie: every page 401, every action 403, nothing changed; the bearer token still
/// guards /v1/ and does not open /ui/.
fn refused_without_a_session(addr: &str, d: &Daemon, run: &str) {
    for path in [
        "/ui/runs".to_owned(),
        "/ui/runs/events".to_owned(),
        format!("/ui/runs/{run}"),
        format!("/ui/runs/{run}/events"),
    ] {
        let a = http(addr, "GET", &path, &[], "");
        assert_eq!(a.status, 401, "GET {path}: {}", a.body);
    }
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    assert_eq!(http(addr, "GET", "/ui/runs", &auth, "").status, 401);
    // The assets are static and public: the login page is styled too.
    assert_eq!(http(addr, "GET", "/ui/assets/ui.css", &[], "").status, 200);
    let before = history_len(d, run);
    for action in ACTIONS {
        let path = format!("/ui/runs/{run}/{action}");
        let a = http(
            addr,
            "POST",
            &path,
            &auth,
            "csrf=x&signal=failback-complete",
        );
        assert_eq!(a.status, 403, "{action} without a session: {}", a.body);
    }
    assert_untouched(d, run, before);
    assert_eq!(http(addr, "GET", "/v1/runs", &[], "").status, 401);
    assert_eq!(http(addr, "GET", "/v1/runs", &auth, "").status, 200);
}

/// The runs list: the run, flagged as needing the operator; the state filter.
fn check_list(addr: &str, cookie: &str, run: &str) {
    let with = [("Cookie", cookie)];
    // The cookie is the console's only: the API still wants the bearer token.
    assert_eq!(http(addr, "GET", "/v1/runs", &with, "").status, 401);
    let list = http(addr, "GET", "/ui/runs", &with, "");
    assert_eq!(list.status, 200, "{}", list.body);
    let row = format!("data-run=\"{run}\"");
    assert!(list.body.contains(&row), "{}", list.body);
    assert!(
        list.body.contains("class=\"attention\""),
        "a held run needs the operator"
    );
    let filtered = http(addr, "GET", "/ui/runs?state=failed", &with, "");
    assert_eq!(filtered.status, 200, "{}", filtered.body);
    assert!(!filtered.body.contains(&row));
    let searched = http(addr, "GET", "/ui/runs?q=no-such-text", &with, "");
    assert!(!searched.body.contains(&row));
}

/// The run page: one SVG edge per DAG dependency, one node per step, the next action. Its
/// CSRF token.
fn check_run_page(addr: &str, cookie: &str, d: &Daemon, run: &str) -> String {
    let page = http(
        addr,
        "GET",
        &format!("/ui/runs/{run}"),
        &[("Cookie", cookie)],
        "",
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.header("content-security-policy").is_some());
    let v = run_json(d, run);
    let edges = v["edges"].as_array().expect("edges");
    assert!(!edges.is_empty());
    assert_eq!(page.body.matches("class=\"edge\"").count(), edges.len());
    for e in edges {
        let (from, to) = (e[0].as_str().unwrap_or(""), e[1].as_str().unwrap_or(""));
        let needle = format!("data-from=\"{from}\" data-to=\"{to}\"");
        assert!(page.body.contains(&needle), "no SVG edge {needle}");
    }
    let steps = v["steps"].as_array().expect("steps").len();
    assert_eq!(page.body.matches("<g class=\"node ").count(), steps);
    let next = format!("failback signal {run} failback-complete");
    assert!(page.body.contains(&next), "the next action");
    csrf_of(&page.body)
}

fn form(cookie: &str) -> [(&str, &str); 2] {
    [
        ("Cookie", cookie),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]
}

/// A wrong or missing CSRF token, or another session's: 403, nothing changed.
fn refused_with_a_wrong_csrf(addr: &str, cookie: &str, others: &str, d: &Daemon, run: &str) {
    let before = history_len(d, run);
    let wrong = format!("csrf={others}&signal=failback-complete");
    for action in ACTIONS {
        for body in [
            "csrf=0000",
            "",
            "signal=failback-complete",
            "csrf=0000&typo=1",
            wrong.as_str(),
        ] {
            let path = format!("/ui/runs/{run}/{action}");
            let a = http(addr, "POST", &path, &form(cookie), body);
            assert_eq!(a.status, 403, "{action} with {body:?}: {}", a.body);
        }
    }
    assert_untouched(d, run, before);
}

#[test]
fn login_link_cookie_csrf_and_the_run_page() {
    let r = Rehearsal::start();
    token_file(&r);
    let args = [
        "--listen-tcp",
        "127.0.0.1:0",
        "--token-file",
        "token",
        "--ui",
    ];
    let d = r.daemon(&args);
    let (addr, link) = printed_link(&d);
    const RUN: &str = "console-run";
    submit_held(&r, &d, 0, RUN);
    wait_held(&d, RUN);
    refused_without_a_session(&addr, &d, RUN);

    let cookie = log_in(&addr, &link);
    check_list(&addr, &cookie, RUN);
    let csrf = check_run_page(&addr, &cookie, &d, RUN);
    // A second browser, with a link minted over the socket as `failback ui` does.
    let (status, body) = request(&d.socket, "POST", "/v1/ui/login", b"").expect("mint");
    assert_eq!(status, 200, "{body}");
    let other = log_in(&addr, json(&body)["path"].as_str().expect("path"));
    let other_csrf = check_run_page(&addr, &other, &d, RUN);
    assert_ne!(csrf, other_csrf, "a CSRF token per session");
    refused_with_a_wrong_csrf(&addr, &cookie, &other_csrf, &d, RUN);

    // The event stream: history rows and the state, live.
    let seen = stream_events(&addr, &cookie, RUN, |t| t.contains("event: state"));
    assert!(seen.contains("event: history"), "{seen}");

    // The right token: the signal acts (the page's script asks for JSON).
    let mut json_form = form(&cookie).to_vec();
    json_form.push(("Accept", "application/json"));
    let body = format!("csrf={csrf}&signal=failback-complete");
    let a = http(
        &addr,
        "POST",
        &format!("/ui/runs/{RUN}/signal"),
        &json_form,
        &body,
    );
    assert_eq!(a.status, 200, "{}", a.body);
    wait_until(
        Duration::from_secs(90),
        "the signalled run to succeed",
        || run_states(&d.socket)[RUN] == "succeeded",
    );
    // The history says who signalled: the console, and its user.
    let (_, body) = get(&d.socket, &format!("/v1/runs/{RUN}/history")).expect("history");
    let signal = json(&body)["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["kind"]["event"] == "signal")
        .cloned()
        .unwrap_or_else(|| panic!("no signal event: {body}"));
    let by = signal["by"].as_str().unwrap_or_default();
    assert!(by.starts_with("console: "), "{signal}");

    // A plain form post (no script): cancel, redirected back to the run's page.
    const OTHER: &str = "console-run-2";
    submit_held(&r, &d, 1, OTHER);
    wait_held(&d, OTHER);
    let path = format!("/ui/runs/{OTHER}/cancel");
    let a = http(
        &addr,
        "POST",
        &path,
        &form(&cookie),
        &format!("csrf={csrf}"),
    );
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(
        a.header("location"),
        Some(format!("/ui/runs/{OTHER}").as_str())
    );
    wait_until(Duration::from_secs(60), "the cancelled run to end", || {
        run_states(&d.socket)[OTHER] == "cancelled"
    });
    stops_cleanly_with_an_open_stream(&r, d, &addr, &cookie);
}

/// A browser still following a run does not hold up the daemon's clean stop.
fn stops_cleanly_with_an_open_stream(r: &Rehearsal, mut d: Daemon, addr: &str, cookie: &str) {
    const HELD: &str = "console-run-3";
    submit_held(r, &d, 2, HELD);
    wait_held(&d, HELD);
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let req =
        format!("GET /ui/runs/{HELD}/events HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let mut first = String::new();
    BufReader::new(&s)
        .read_line(&mut first)
        .expect("status line");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    d.signal(libc::SIGTERM);
    let code = d.wait_exit(Duration::from_secs(30)).code();
    assert_eq!(code, Some(0), "{}", d.log_text());
}

/// Read a run's event stream until `done` holds for what came so far (bounded).
fn stream_events(addr: &str, cookie: &str, id: &str, done: impl Fn(&str) -> bool) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let req = format!(
        "GET /ui/runs/{id}/events?after=0 HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("write");
    let mut reader = BufReader::new(s);
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(&seen) {
        assert!(Instant::now() < deadline, "no such events in time:\n{seen}");
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read") == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.to_lowercase()
            .contains("content-type: text/event-stream"),
        "{seen}"
    );
    seen
}

#[test]
fn failback_ui_forwards_the_console_of_a_socket_only_daemon() {
    let r = Rehearsal::start();
    let d = r.daemon(&[]);
    let mut ui = r
        .failback(&["ui"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn failback ui");
    // Its first line, read in a thread so a silent `failback ui` fails the test in time.
    let stdout = ui.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("failback ui prints its link");
    let (addr, link) = split_link(&line);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    assert_eq!(http(&addr, "GET", "/ui/runs", &[], "").status, 401);
    // Only the console is forwarded: the socket's API is not opened to TCP.
    assert_eq!(http(&addr, "GET", "/v1/runs", &[], "").status, 404);
    assert_eq!(http(&addr, "GET", "/metrics", &[], "").status, 404);
    let cookie = log_in(&addr, &link);
    let a = http(&addr, "GET", "/ui/runs", &[("Cookie", &cookie)], "");
    assert_eq!(a.status, 200, "{}", a.body);
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(ui.id() as i32, libc::SIGINT) };
    let out = wait_output(ui, Duration::from_secs(30), &["ui"]);
    assert!(
        out.status.success(),
        "failback ui stops on Ctrl-C: {}",
        out.status
    );
    drop(d);
}
