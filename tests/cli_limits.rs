//! Bad inputs that used to hang, eat memory or mislead: a FIFO or a device as the spec or CA
//! file (refused at once), and a state directory this user may not read (permission denied
//! with the path and the user, never "damaged").

use assert_cmd::Command;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

fn failback(state: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_failback"));
    c.env("FAILBACK_STATE_DIR", state)
        .env_remove("FAILBACK_CRASH_AT")
        .env_remove("FAILBACK_SIM_CLOCK")
        .env_remove("FAILBACK_CA_FILE")
        .stdin(std::process::Stdio::null());
    c
}

/// Run to the end within `limit` (killed and failed otherwise); (success, stderr).
fn run_within(mut c: std::process::Command, limit: Duration) -> (bool, String) {
    let started = Instant::now();
    let mut child = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after {limit:?}: {c:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    (status.success(), err)
}

#[test]
fn a_fifo_or_a_device_as_the_spec_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("spec.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for (spec, kind) in [
        (fifo.as_path(), "is a FIFO, not a regular file"),
        (std::path::Path::new("/dev/zero"), "is a character device"),
        (dir.path(), "is a directory"),
    ] {
        for args in [["plan", "--offline"], ["apply", "--yes"]] {
            let cmd = args[0];
            let mut c = failback(&dir.path().join("state"));
            c.args(args).arg("--spec").arg(spec);
            // The acceptance bound is 1 s; a loaded machine gets a little more to start.
            let (ok, err) = run_within(c, Duration::from_secs(3));
            assert!(!ok, "{cmd} {}: accepted", spec.display());
            assert!(err.contains(kind), "{cmd} {}: {err}", spec.display());
            assert!(err.contains(&spec.display().to_string()), "{err}");
        }
    }
}

#[test]
fn a_device_as_the_ca_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = failback(&dir.path().join("state"));
    c.args(["list"])
        .env("FAILBACK_SIM_CLOCK", "https://127.0.0.1:1")
        .env("FAILBACK_CA_FILE", "/dev/zero");
    let (ok, err) = run_within(c, Duration::from_secs(3));
    assert!(!ok, "{err}");
    assert!(
        err.contains("the CA file /dev/zero is a character device"),
        "{err}"
    );
}

#[test]
fn a_state_directory_this_user_cannot_read_is_permission_denied_not_damage() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run the binary as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let state = dir.path().join("state");
    // A real store, created by its owner (root).
    Command::cargo_bin("failback")
        .unwrap()
        .args(["list"])
        .env("FAILBACK_STATE_DIR", &state)
        .assert()
        .success();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut c = failback(&state);
    c.arg("list").uid(65534).gid(65534);
    let (ok, err) = run_within(c, Duration::from_secs(10));
    assert!(!ok, "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("uid 65534"), "{err}");
    assert!(err.contains(&state.display().to_string()), "{err}");
    assert!(!err.contains("damaged") && !err.contains("backup"), "{err}");
    // The store is untouched: its owner still lists it.
    Command::cargo_bin("failback")
        .unwrap()
        .args(["list"])
        .env("FAILBACK_STATE_DIR", &state)
        .assert()
        .success();
}
