//! Acceptance 1 of the console: headless Chromium (Debian's, installed by `.ci/run`) driven
//! over the DevTools protocol opens the daemon's one-time login link, lands on the runs list,
//! opens a run, finds one SVG edge per DAG dependency, signals one run and cancels another from
//! the page (confirming the page's dialog), and sees each state change without a reload.
//! Screenshots are kept in `target/console-screenshots/`.

mod daemon_support;

use daemon_support::*;
use serde_json::{json, Value};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A minimal WebSocket client (RFC 6455: one connection, text frames) for the DevTools
/// protocol, and the protocol's request/answer by id.
struct Cdp {
    s: TcpStream,
    next_id: u64,
}

impl Cdp {
    fn connect(ws_url: &str) -> Self {
        let rest = ws_url.strip_prefix("ws://").expect("a ws:// url");
        let (host, path) = rest.split_at(rest.find('/').expect("a path"));
        let mut s = TcpStream::connect(host).expect("connect to DevTools");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).expect("handshake");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).expect("handshake answer");
            head.push(b[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        Self { s, next_id: 1 }
    }

    fn send_text(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut frame = vec![0x81u8];
        // Client frames are masked; a zero mask leaves the payload as it is.
        match bytes.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n < 65536 => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(bytes);
        self.s.write_all(&frame).expect("send frame");
    }

    fn read_message(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let mut h = [0u8; 2];
            self.s.read_exact(&mut h).expect("frame header");
            let (fin, opcode) = (h[0] & 0x80 != 0, h[0] & 0x0f);
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.s.read_exact(&mut b).expect("length");
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.s.read_exact(&mut b).expect("length");
                len = u64::from_be_bytes(b);
            }
            let mut payload = vec![0u8; len as usize];
            self.s.read_exact(&mut payload).expect("payload");
            match opcode {
                0x0..=0x2 => message.extend_from_slice(&payload),
                0x8 => panic!("DevTools closed the connection"),
                _ => continue, // ping/pong
            }
            if fin {
                return String::from_utf8_lossy(&message).into_owned();
            }
        }
    }

    /// One command's answer, `Err` with the protocol's error (events in between are skipped).
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        let id = self.next_id;
        self.next_id += 1;
        self.send_text(&json!({ "id": id, "method": method, "params": params }).to_string());
        loop {
            let v: Value = serde_json::from_str(&self.read_message()).expect("DevTools JSON");
            if v["id"] == id {
                return match v.get("error") {
                    Some(e) => Err(e.clone()),
                    None => Ok(v["result"].clone()),
                };
            }
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.try_call(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// A JavaScript expression's value in the page; `Err` while the page navigates.
    fn try_eval(&mut self, expr: &str) -> Result<Value, Value> {
        let params = json!({ "expression": expr, "returnByValue": true });
        let r = self.try_call("Runtime.evaluate", params)?;
        match r.get("exceptionDetails") {
            Some(e) => Err(e.clone()),
            None => Ok(r["result"]["value"].clone()),
        }
    }

    fn eval(&mut self, expr: &str) -> Value {
        self.try_eval(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    fn wait_for(&mut self, what: &str, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if self.try_eval(expr) == Ok(json!(true)) {
                return;
            }
            let now = self.try_eval(
                "document.location.href + ' ' + (document.querySelector('#run-state')||{}).textContent",
            );
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} (at {now:?})"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&mut self, path: &Path) {
        let r = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let data = r["data"].as_str().expect("png data");
        std::fs::write(path, base64_decode(data)).expect("write screenshot");
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = A.iter().position(|a| *a == c).expect("base64") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Headless Chromium with DevTools on a free port; the page target's WebSocket URL.
fn chromium(profile: &Path) -> (Browser, String) {
    let child = daemon_support::chromium()
        .args([
            "--window-size=1200,1000",
            "--remote-debugging-port=0",
            &format!("--user-data-dir={}", profile.display()),
            "about:blank",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn chromium");
    let browser = Browser(child);
    let port_file = profile.join("DevToolsActivePort");
    let mut port = String::new();
    wait_until(Duration::from_secs(60), "Chromium's DevTools port", || {
        port = std::fs::read_to_string(&port_file)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_owned))
            .unwrap_or_default();
        !port.is_empty()
    });
    let mut ws = String::new();
    wait_until(Duration::from_secs(30), "a page target", || {
        let targets = json_list(&port).unwrap_or(Value::Null);
        ws = targets
            .as_array()
            .and_then(|ts| ts.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .unwrap_or_default()
            .to_owned();
        !ws.is_empty()
    });
    (browser, ws)
}

/// `GET /json/list` of DevTools (which keeps the connection open: read by Content-Length).
fn json_list(port: &str) -> std::io::Result<Value> {
    let mut s = TcpStream::connect(format!("127.0.0.1:{port}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let req = format!("GET /json/list HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    s.write_all(req.as_bytes())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        let Some((head, body)) = text.split_once("\r\n\r\n") else {
            continue;
        };
        let len = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse::<usize>().ok())
            .unwrap_or(usize::MAX);
        if body.len() >= len {
            return Ok(serde_json::from_str(body).unwrap_or(Value::Null));
        }
    }
    Ok(Value::Null)
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

fn submit_held(r: &Rehearsal, d: &Daemon, n: usize, id: &str) {
    let spec = r.path(&r.spec_with(n, true));
    let body = json!({ "spec_path": spec.display().to_string(), "run_id": id });
    let (status, text) =
        request(&d.socket, "POST", "/v1/runs", body.to_string().as_bytes()).expect("submit");
    assert_eq!(status, 201, "{text}");
}

fn edges_of(d: &Daemon, id: &str) -> usize {
    let (_, body) = get(&d.socket, &format!("/v1/runs/{id}")).expect("status");
    json_value(&body)["edges"].as_array().expect("edges").len()
}

fn json_value(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// Open a run's page from the list, then act from the page and see its state change live.
fn act_from_page(cdp: &mut Cdp, run: &str, action: &str, want: &str, shot: &Path) {
    cdp.eval(&format!(
        "document.querySelector('#runs tr[data-run=\"{run}\"] a').click()"
    ));
    cdp.wait_for(
        "the run page, following its events",
        &format!("location.pathname == '/ui/runs/{run}' && document.readyState == 'complete' && document.querySelector('#live').textContent == 'live'"),
    );
    // Marks this document: a reload would lose it.
    cdp.eval("window.__sameDocument = true; window.confirm = function () { return true; }");
    cdp.eval(&format!(
        "document.querySelector('.actions button[data-action={action}]').click()"
    ));
    cdp.wait_for(
        &format!("the run to be {want} without a reload"),
        &format!("window.__sameDocument === true && document.querySelector('#run-state').textContent == '{want}'"),
    );
    // The action's own history row, which only the event stream brings to this page.
    cdp.wait_for(
        "the action's history row (by the console), appended live",
        "window.__sameDocument === true && Array.from(document.querySelectorAll('#history tbody tr'))\
         .some(function (tr) { return tr.textContent.indexOf('(by console: ') >= 0; })",
    );
    cdp.screenshot(shot);
}

/// A daemon on loopback TCP with two runs held in await-failback, and a login link from
/// `failback ui`, as an operator gets one.
fn daemon_with_held_runs(r: &Rehearsal) -> (Daemon, String) {
    let token = "0123456789abcdef-console-browser-token";
    std::fs::write(r.path("token"), token).expect("token");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(r.path("token"), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
    }
    let d = r.daemon(&["--listen-tcp", "127.0.0.1:0", "--token-file", "token"]);
    submit_held(r, &d, 0, "browser-signal");
    submit_held(r, &d, 1, "browser-cancel");
    let out = r.run(&["ui"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let link = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let ok = link.starts_with("http://127.0.0.1:") && link.contains("/login?token=");
    assert!(ok, "{link}");
    for id in ["browser-signal", "browser-cancel"] {
        wait_until(
            Duration::from_secs(90),
            "the run to wait for failback",
            || {
                let (_, body) = get(&d.socket, &format!("/v1/runs/{id}")).expect("status");
                json_value(&body)["steps"].as_array().is_some_and(|s| {
                    s.iter().any(|s| {
                        s["step_id"] == "await-failback" && s["status"]["status"] == "waiting"
                    })
                })
            },
        );
    }
    (d, link)
}

/// The signalled run's page: one SVG edge per dependency, recoloured and re-explained live,
/// and usable at 400 px.
fn check_signalled_page(cdp: &mut Cdp, d: &Daemon, shots: &Path) {
    let edges = edges_of(d, "browser-signal");
    assert!(edges > 0);
    assert_eq!(
        cdp.eval("document.querySelectorAll('svg#dag path.edge').length"),
        json!(edges),
        "one SVG edge per DAG dependency"
    );
    assert_eq!(
        cdp.eval("document.querySelector('svg#dag g.node[data-step=\"await-failback\"]').getAttribute('data-status')"),
        json!("succeeded"),
        "the node was recoloured live"
    );
    assert_eq!(
        cdp.eval("document.querySelector('#guidance').textContent.indexOf('Awaiting') < 0"),
        json!(true),
        "what the run waits on was updated live"
    );
    // Usable at 400 px: nothing wider than the viewport but the scrolling DAG and tables.
    let narrow = json!({ "width": 400, "height": 900, "deviceScaleFactor": 1, "mobile": true });
    cdp.call("Emulation.setDeviceMetricsOverride", narrow);
    assert_eq!(
        cdp.eval("document.documentElement.scrollWidth <= 400"),
        json!(true),
        "the page scrolls sideways at 400 px"
    );
    cdp.screenshot(&shots.join("run-400px.png"));
    cdp.call("Emulation.clearDeviceMetricsOverride", json!({}));
}

#[test]
fn chromium_logs_in_opens_a_run_and_signals_and_cancels_without_a_reload() {
    let r = Rehearsal::start();
    let (d, link) = daemon_with_held_runs(&r);
    let (_browser, ws) = chromium(&r.path("chromium-profile"));
    let mut cdp = Cdp::connect(&ws);
    let shots = screenshots_dir();
    cdp.call("Page.navigate", json!({ "url": link }));
    cdp.wait_for(
        "the runs list after logging in",
        "location.pathname == '/ui/runs' && document.querySelectorAll('#runs tr[data-run]').length == 2",
    );
    cdp.screenshot(&shots.join("runs.png"));

    let signalled = shots.join("run-signalled.png");
    act_from_page(
        &mut cdp,
        "browser-signal",
        "signal",
        "succeeded",
        &signalled,
    );
    check_signalled_page(&mut cdp, &d, &shots);

    let list = link.split("/login").next().map(|b| format!("{b}/ui/runs"));
    cdp.call("Page.navigate", json!({ "url": list }));
    cdp.wait_for(
        "the runs list, following its events",
        "location.pathname == '/ui/runs' && document.readyState == 'complete' \
         && document.querySelector('#live').textContent == 'live'",
    );
    // The list follows every run: a pause (by the API) shows without a reload.
    cdp.eval("window.__sameDocument = true");
    for action in ["pause", "resume"] {
        let path = format!("/v1/runs/browser-cancel/{action}");
        let (status, body) = request(&d.socket, "POST", &path, b"").expect(action);
        assert_eq!(status, 200, "{body}");
        if action == "pause" {
            cdp.wait_for(
                "the list to show the pause without a reload",
                "window.__sameDocument === true && document.querySelector\
                 ('#runs tr[data-run=\"browser-cancel\"]').getAttribute('data-state') == 'paused'",
            );
            cdp.screenshot(&shots.join("runs-live.png"));
        }
    }
    let cancelled = shots.join("run-cancelled.png");
    act_from_page(
        &mut cdp,
        "browser-cancel",
        "cancel",
        "cancelled",
        &cancelled,
    );
    assert_eq!(run_states(&d.socket)["browser-cancel"], "cancelled");
    assert_eq!(run_states(&d.socket)["browser-signal"], "succeeded");
}
