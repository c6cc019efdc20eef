//! `failback sweep` against the emulator: the NICs, VMs and disks of a run this store does not
//! hold, and process servers whose VM is gone, are listed (text and JSON); `--delete` deletes
//! nothing without a terminal to ask on unless `--yes` is given, and with it leaves nothing.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use support::*;

/// Kinds → names of the orphans `sweep --output json` lists.
fn sweep_json(r: &Rehearsal) -> BTreeMap<String, Vec<String>> {
    let out = r
        .failback(&["sweep", "--output", "json"])
        .output()
        .expect("sweep");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: Value = serde_json::from_str(&stdout(&out)).expect("json");
    let mut kinds: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for o in v["orphans"].as_array().expect("orphans") {
        kinds
            .entry(o["kind"].as_str().unwrap_or("").to_owned())
            .or_default()
            .push(o["name"].as_str().unwrap_or("").to_owned());
    }
    kinds
}

fn deletes(r: &Rehearsal) -> usize {
    r.sim
        .journal()
        .iter()
        .filter(|e| e.method == "DELETE" && e.path.starts_with("/subscriptions/"))
        .count()
}

/// A run whose teardown keeps its process servers (2 VMs, 2 NICs, 4 disks stay).
fn kept_run() -> Rehearsal {
    let r = Rehearsal::start();
    let path = r.path("failback.toml");
    let spec = std::fs::read_to_string(&path).expect("spec");
    std::fs::write(
        &path,
        spec.replacen(
            "[failback]",
            "[teardown]\npolicy = \"keep\"\n\n[failback]",
            1,
        ),
    )
    .expect("spec");
    r.failback(&["apply", "--yes", "--run-id", "kept"])
        .assert()
        .success();
    r
}

#[test]
fn sweep_finds_each_kind_of_orphan_and_deletes_only_after_confirmation() {
    let mut r = kept_run();
    let kept = r.left_behind();
    let top: Vec<&String> = kept
        .iter()
        .filter(|id| !id.contains("/runCommands/"))
        .collect();
    assert_eq!(top.len(), 8, "2 VMs, 2 NICs, 4 disks: {kept:?}");

    // The store that made them kept them by policy: nothing is an orphan.
    let out = r.failback(&["sweep"]).output().expect("sweep");
    assert!(stdout(&out).contains("No orphans"), "{}", stdout(&out));

    // Another store does not hold run `kept`: its VMs, NICs and (untagged) disks are orphans.
    let other = r.path("other-state");
    r.set_env("FAILBACK_STATE_DIR", &other.display().to_string());
    let kinds = sweep_json(&r);
    assert_eq!(kinds.get("vm").map(Vec::len), Some(2), "{kinds:?}");
    assert_eq!(kinds.get("nic").map(Vec::len), Some(2), "{kinds:?}");
    assert_eq!(kinds.get("disk").map(Vec::len), Some(4), "{kinds:?}");
    assert_eq!(
        kinds.get("process-server"),
        None,
        "their VMs run: {kinds:?}"
    );
    let text = stdout(&r.failback(&["sweep"]).output().expect("sweep"));
    assert!(text.contains("8 orphan(s)"), "{text}");
    assert!(text.contains("run kept is not in this store"), "{text}");

    // --delete without a terminal and without --yes: refused, naming --yes; nothing deleted.
    let before = deletes(&r);
    let out = r.failback(&["sweep", "--delete"]).output().expect("sweep");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--yes"),
        "{out:?}"
    );
    assert_eq!(deletes(&r), before, "deleted without confirmation");
    assert_eq!(r.left_behind(), kept);

    // --yes: every listed resource goes.
    r.failback(&["sweep", "--delete", "--yes"])
        .assert()
        .success();
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());

    // Their process servers now have no VM: listed with the unregister command.
    let kinds = sweep_json(&r);
    let ps = kinds.get("process-server").cloned().unwrap_or_default();
    assert_eq!(ps.len(), 2, "{kinds:?}");
    assert!(ps.iter().any(|n| n.contains("10.1.0.10")), "{ps:?}");
    let text = stdout(&r.failback(&["sweep"]).output().expect("sweep"));
    assert!(
        text.contains("Unregister-ASRComponent.pl -IPAddress 10.2.0.10 -Component PS"),
        "{text}"
    );
    // --delete cannot remove a process server through Azure: it deletes nothing more.
    let before = deletes(&r);
    r.failback(&["sweep", "--delete", "--yes"])
        .assert()
        .success();
    assert_eq!(deletes(&r), before);
}

/// A run torn down as it should be leaves only its process servers in the fabric.
#[test]
fn a_torn_down_runs_process_servers_are_orphans() {
    let r = Rehearsal::start();
    r.failback(&["apply", "--yes", "--run-id", "done"])
        .assert()
        .success();
    let kinds = sweep_json(&r);
    assert_eq!(
        kinds.keys().collect::<Vec<_>>(),
        vec!["process-server"],
        "{kinds:?}"
    );
    assert_eq!(kinds["process-server"].len(), 2, "{kinds:?}");
}

/// `sweep --delete` with its stdin on a pseudo-terminal that receives `answer`: (exit code,
/// stdout).
fn on_a_terminal(r: &Rehearsal, answer: &str) -> (Option<i32>, String) {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, OwnedFd};
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the integers it is given.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just opened for us and are owned by nothing else.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let mut child = r
        .failback_std(&["sweep", "--delete"])
        .stdin(std::process::Stdio::from(slave))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sweep");
    let mut tty = std::fs::File::from(master);
    tty.write_all(answer.as_bytes()).expect("answer");
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let status = child.wait().expect("wait");
    (status.code(), out)
}

/// On a terminal `--delete` lists what it would delete and asks; anything but `yes` deletes
/// nothing, `yes` deletes.
#[test]
fn on_a_terminal_sweep_asks_before_deleting() {
    let mut r = kept_run();
    let other = r.path("other-state");
    r.set_env("FAILBACK_STATE_DIR", &other.display().to_string());
    let kept = r.left_behind();
    let before = deletes(&r);
    let (code, out) = on_a_terminal(&r, "no\n");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("8 orphan(s)"), "it lists them first: {out}");
    assert!(out.contains("Delete these 8 resource(s)?"), "{out}");
    assert_eq!(deletes(&r), before, "deleted after 'no'");
    assert_eq!(r.left_behind(), kept);
    let (code, out) = on_a_terminal(&r, "yes\n");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("(deleted)"), "{out}");
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());
}
