//! `failback VERB … | head -c 10` for every verb that prints: the binary's standard output is
//! a pipe whose reader takes 10 bytes and closes it. The command must end quietly — no panic,
//! no error about writing — with the documented status: 141 when its output did not fit (a
//! process killed by SIGPIPE, as the shell shows it), 0 when all of it was written before the
//! close.
//!
//! The pipe is made small (one page, `F_SETPIPE_SZ`) so that every output longer than a page
//! really meets the closed pipe; for the verbs whose whole output can be measured first (a
//! plain run of the same command), an output longer than the pipe must end with 141.

#![cfg(target_os = "linux")]

mod support;

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::{Duration, Instant};
use support::*;

/// The pipe's capacity asked for: one page (the smallest Linux allows; it rounds up).
const PIPE_BYTES: usize = 4096;
/// An output this much longer than the pipe cannot all be written before the close.
const MARGIN: usize = 1024;
const EXIT_PIPE: i32 = failback::commands::EXIT_PIPE;

/// (read end, write end, capacity) of a pipe holding about [`PIPE_BYTES`].
fn small_pipe() -> (File, OwnedFd, usize) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on an open descriptor with an integer argument.
    let size = unsafe { libc::fcntl(fds[1], libc::F_SETPIPE_SZ, PIPE_BYTES as libc::c_int) };
    assert!(
        size >= PIPE_BYTES as libc::c_int,
        "F_SETPIPE_SZ: {}",
        std::io::Error::last_os_error()
    );
    (File::from(read), write, size as usize)
}

struct Headed {
    capacity: usize,
    code: Option<i32>,
    stderr: String,
    read: Vec<u8>,
}

/// `failback ARGS | head -c 10`, for real: spawn with stdout a small pipe, read up to 10
/// bytes, close the read end, wait (at most two minutes) for the exit.
fn head_c_10(r: &Rehearsal, args: &[&str]) -> Headed {
    head_c(r, args, 10)
}

/// `failback ARGS | head -c N`; with N = 0 the read end is closed before the command starts,
/// so its first write meets a closed pipe whatever the timing.
fn head_c(r: &Rehearsal, args: &[&str], n: usize) -> Headed {
    let (reader, writer, capacity) = small_pipe();
    let mut reader = (n > 0).then_some(reader);
    let err_path = r.path(&format!(
        "stderr-{n}-{}.txt",
        args.join("_").replace('/', "_")
    ));
    let err = File::create(&err_path).expect("stderr file");
    let mut child = {
        let mut c = r.failback_std(args);
        c.stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(err));
        c.spawn().expect("spawn failback")
        // `c` and its copy of the write end are dropped here: only the child writes.
    };
    let mut read = Vec::new();
    let mut buf = vec![0u8; n];
    while let Some(reader) = reader.as_mut().filter(|_| read.len() < n) {
        match reader.read(&mut buf[..n - read.len()]) {
            Ok(0) => break,
            Ok(got) => read.extend_from_slice(&buf[..got]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading {args:?}: {e}"),
        }
    }
    drop(reader);
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} did not exit within 2 minutes of its stdout closing");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    Headed {
        capacity,
        code: status.code(),
        stderr,
        read,
    }
}

/// Nothing panicked or complained about the pipe.
fn quiet(args: &[&str], h: &Headed) {
    assert!(
        !h.stderr.contains("panicked")
            && !h.stderr.contains("Broken pipe")
            && !h.stderr.contains("writing to standard output"),
        "{args:?} stderr: {}",
        h.stderr
    );
}

/// The checks every case shares: something was printed, nothing panicked or complained about
/// the pipe, and the status is 0 or 141.
fn ends_quietly(args: &[&str], h: &Headed) {
    assert!(!h.read.is_empty(), "{args:?} printed nothing: {}", h.stderr);
    quiet(args, h);
    assert!(
        h.code == Some(0) || h.code == Some(EXIT_PIPE),
        "{args:?} exited {:?}; stderr: {}",
        h.code,
        h.stderr
    );
}

/// A verb whose output is the same each time: measured by a plain run, then headed. Returns
/// the status of the headed run.
fn measured(r: &Rehearsal, args: &[&str]) -> Option<i32> {
    let full = r.failback(args).output().expect("failback runs");
    assert!(full.status.success(), "{args:?}: {full:?}");
    let h = head_c_10(r, args);
    ends_quietly(args, &h);
    assert_eq!(
        Some(&h.read[..]),
        full.stdout.get(..h.read.len()),
        "{args:?}: not its output"
    );
    if full.stdout.len() > h.capacity + MARGIN {
        assert_eq!(
            h.code,
            Some(EXIT_PIPE),
            "{args:?} printed {} bytes into a pipe of {} closed after 10; stderr: {}",
            full.stdout.len(),
            h.capacity,
            h.stderr
        );
    }
    // Its reader gone before it starts: the first write fails, always. (clap prints the help
    // and exits 0 whether or not the write failed.)
    let gone = head_c(r, args, 0);
    quiet(args, &gone);
    let expected = if args.contains(&"--help") {
        0
    } else {
        EXIT_PIPE
    };
    assert_eq!(
        gone.code,
        Some(expected),
        "{args:?} with its reader gone; stderr: {}",
        gone.stderr
    );
    h.code
}

/// Runs each case through [`measured`]; returns those that ended with 141.
fn measure_all(r: &Rehearsal, cases: &[&[&str]]) -> Vec<String> {
    let mut piped = Vec::new();
    for args in cases {
        if measured(r, args) == Some(EXIT_PIPE) {
            piped.push(args.join(" "));
        }
    }
    piped
}

#[test]
fn every_verb_that_prints_a_document_ends_quietly_when_its_reader_goes_away() {
    let r = Rehearsal::start();
    // A new run's plan, before any run holds the IPs and process-server names.
    let mut piped = measure_all(
        &r,
        &[
            &["--help"],
            &["plan", "--help"],
            &["plan", "--run-id", "p9"],
            &["plan", "--run-id", "p9", "-o", "json"],
            &["plan", "--run-id", "p9", "-o", "dot"],
            &["plan", "--run-id", "p9", "-o", "mermaid"],
            &["plan", "--run-id", "p9", "--offline"],
            &["completions", "bash"],
            &["completions", "zsh"],
        ],
    );
    r.failback(&["apply", "--yes", "--run-id", "p1"])
        .assert()
        .success();
    piped.extend(measure_all(
        &r,
        &[
            &["plan", "--run", "p1"],
            &["plan", "--run", "p1", "-o", "json"],
            &["status"],
            &["status", "p1"],
            &["status", "p1", "-o", "json"],
            &["status", "p1", "--follow"],
            &["status", "p1", "--follow", "-o", "json"],
            &["list"],
            &["list", "-o", "json"],
            &["history", "p1"],
            &["history", "p1", "-o", "json"],
            &["graph", "p1"],
            &["graph", "p1", "-o", "mermaid"],
            &["sweep"],
            &["sweep", "-o", "json"],
        ],
    ));
    eprintln!("ended with {EXIT_PIPE}: {piped:?}");
    assert!(
        piped.iter().any(|a| a == "completions bash")
            && piped.iter().any(|a| a == "history p1 -o json"),
        "outputs longer than the pipe must meet it closed: {piped:?}"
    );
}

#[test]
fn every_verb_that_follows_a_run_ends_quietly_and_loses_nothing() {
    let r = Rehearsal::start();
    // Each prints as the run goes; each is headed and leaves the run resumable.
    let followers: &[&[&str]] = &[
        &["apply", "--yes", "--run-id", "p2", "-o", "json"],
        &["resume", "p2"],
        &["signal", "p2", "failback-complete", "--yes"],
        &["cancel", "p2", "--teardown", "--yes", "-o", "json"],
    ];
    for args in followers {
        ends_quietly(args, &head_c_10(&r, args));
    }
    // The closed pipes lost nothing: the run goes on to its end and nothing is left in Azure.
    r.failback(&["resume"]).assert().success();
    let status = r
        .failback(&["status", "p2", "-o", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status JSON");
    assert_eq!(v["run"]["state"], "cancelled", "{v:#}");
    assert_eq!(r.left_behind(), Vec::<String>::new());
}

#[test]
/// `failback sim` is left out on purpose: a server whose log reader went away keeps serving
/// until a signal (as `python3 -m http.server | head` does); it ignores the failed write.
fn demo_ends_quietly_when_its_reader_is_gone() {
    let r = Rehearsal::start();
    let args = &["demo"][..];
    let gone = head_c(&r, args, 0);
    quiet(args, &gone);
    assert_eq!(gone.code, Some(EXIT_PIPE), "{args:?}: {}", gone.stderr);
}
