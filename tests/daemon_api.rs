//! `failback daemon` as a real process: its socket, its answers to bad requests, the TCP
//! listener's bearer token, one daemon per store, a stale socket after a crash, /metrics.

mod daemon_support;

use daemon_support::*;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

#[test]
fn socket_is_owner_only_and_bad_requests_are_refused_without_harm() {
    let r = Rehearsal::start();
    let token = "0123456789abcdef-daemon-test-token";
    std::fs::write(r.path("token"), format!("{token}\n")).expect("token file");
    std::fs::set_permissions(r.path("token"), std::fs::Permissions::from_mode(0o600))
        .expect("chmod 600");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        l.local_addr().expect("addr").port()
    };
    let addr = format!("127.0.0.1:{port}");
    let d = r.daemon(&["--listen-tcp", &addr, "--token-file", "token"]);

    let mode = std::fs::metadata(&d.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    let cases: [(&str, &str, Vec<u8>, u16); 9] = [
        ("POST", "/v1/runs", b"{not json".to_vec(), 400),
        ("POST", "/v1/runs", b"{}".to_vec(), 400),
        (
            "POST",
            "/v1/runs",
            br#"{"spec_toml": "[azure", "run_id": "x"}"#.to_vec(),
            400,
        ),
        ("POST", "/v1/runs", vec![b' '; 2 << 20], 413),
        ("POST", "/v1/runs/no-such-run/pause", b"".to_vec(), 404),
        ("POST", "/v1/runs/no-such-run/explode", b"".to_vec(), 404),
        ("GET", "/v1/runs/bad%2Fid", b"".to_vec(), 400),
        ("DELETE", "/v1/runs", b"".to_vec(), 405),
        ("GET", "/v1/runs?state=sleepy", b"".to_vec(), 400),
    ];
    for (method, path, body, want) in &cases {
        let (status, text) = request(&d.socket, method, path, body).expect("request");
        assert_eq!(status, *want, "{method} {path}: {text}");
        assert!(json(&text)["error"].is_string(), "{method} {path}: {text}");
    }
    // A body that claims more than the limit is refused before it is read.
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).expect("connect");
    let (status, _) = exchange(
        &mut s,
        b"POST /v1/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 99999999\r\n\r\n{}",
    )
    .expect("exchange");
    assert_eq!(status, 413);
    // Garbage that is not HTTP at all.
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).expect("connect");
    let _ = exchange(&mut s, b"\x00\x01garbage\r\n\r\n");

    let tcp = |auth: Option<&str>| {
        let mut s = std::net::TcpStream::connect(&addr).expect("tcp connect");
        let header = auth
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let req = format!("GET /v1/runs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{header}\r\n");
        exchange(&mut s, req.as_bytes()).expect("tcp exchange")
    };
    assert_eq!(tcp(None).0, 401);
    assert_eq!(tcp(Some("0123456789abcdef-wrong-token-xxxxx")).0, 401);
    let (status, body) = tcp(Some(token));
    assert_eq!(status, 200, "{body}");

    // Still serving after all that.
    let (status, body) = get(&d.socket, "/v1/health").expect("health");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn one_daemon_per_store_and_a_stale_socket_is_replaced() {
    let r = Rehearsal::start();
    let d = r.daemon(&[]);
    let second = r.run(&["daemon"]);
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by"), "{err}");

    // The CLI goes through the daemon while it runs.
    let out = r.run(&["list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let socket = d.socket.clone();
    d.kill();
    assert!(
        socket.exists(),
        "a SIGKILLed daemon leaves its socket behind"
    );
    // Without a daemon, the CLI opens the store directly despite the stale socket.
    let out = r.run(&["list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut d = r.daemon(&[]);
    d.signal(libc::SIGTERM);
    let st = d.wait_exit(Duration::from_secs(10));
    assert_eq!(st.code(), Some(0), "{}", d.log_text());
    assert!(!socket.exists(), "a clean exit removes the socket");
}
