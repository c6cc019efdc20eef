//! Several `failback daemon`s sharing runs on Azure Blob Storage (Azurite, a real process)
//! against the emulator: runs applied through one daemon spread over the three (fair share);
//! that daemon is SIGKILLed, the other two share its runs once its leases lapse, and every run
//! completes with each VM PUT once and nothing left behind. (The reliability suite's full mode
//! kills owners 20 times.)

#[path = "../azblob/tests/support/mod.rs"]
mod azurite;
mod daemon_support;

use daemon_support::proxy::Proxy;
use daemon_support::shared::*;
use daemon_support::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const RUNS: usize = 6;
/// Azure's shortest lease: takeover within 15 s plus a scan (5 s) plus a refresh.
const LEASE: &str = "15s";

/// Azurite, the emulator and 3 daemons sharing a container, `RUNS` held runs (ids
/// `{prefix}-N`) applied through the first (`owner`); by fair share each daemon drives some
/// of them once they wait.
struct Cluster {
    r: Rehearsal,
    _azurite: azurite::Azurite,
    /// Between the daemons and Azurite.
    proxy: Proxy,
    store: String,
    dirs: Vec<PathBuf>,
    owner: Daemon,
    others: [Daemon; 2],
    ids: Vec<String>,
    /// The `apply` processes following the runs.
    applies: Vec<std::process::Child>,
}

impl Cluster {
    fn start(prefix: &str, poll: &str) -> Cluster {
        // vm-db1's failback completes 60 s (real) after the emulator starts: the runs hold in
        // await-failback across what the test does to their owner.
        let r = Rehearsal::start_with_db1_failback_after(60.0 * SPEED);
        let az = azurite::Azurite::start();
        let proxy = Proxy::start(az.port());
        let store = format!(
            "azblob+http://127.0.0.1:{}/devstoreaccount1/runs",
            proxy.port()
        );
        let dirs: Vec<PathBuf> = (0..3).map(|i| r.path(&format!("state-{i}"))).collect();
        let args = ["--store", store.as_str(), "--lease", LEASE];
        let mut daemons: Vec<Daemon> = dirs.iter().map(|d| r.daemon_at(d, &args)).collect();
        // The first daemon decides which runs it drives by the membership it has listed.
        wait_until(Duration::from_secs(30), "3 live daemons seen", || {
            live_daemons(&daemons[0].socket) == 3
        });
        let ids: Vec<String> = (0..RUNS).map(|i| format!("{prefix}-{i}")).collect();
        let applies = ids
            .iter()
            .enumerate()
            .map(|(n, id)| apply_held(&r, &dirs[0], n, id, poll))
            .collect();
        wait_until(
            Duration::from_secs(60),
            "every run waiting on its failback, and owned",
            || {
                ids.iter()
                    .all(|id| waiting_on_failback(&daemons[0].socket, id))
                    && daemons.iter().map(|d| owned(&d.socket)).sum::<usize>() == RUNS
            },
        );
        let split: Vec<usize> = daemons.iter().map(|d| owned(&d.socket)).collect();
        eprintln!("{RUNS} runs applied through one daemon, driven {split:?}");
        // New runs spread: no daemon has more than its share and a run of its lost share.
        assert!(
            split.iter().all(|&n| (1..=RUNS / 3 + 1).contains(&n)),
            "runs not spread over the daemons: {split:?}"
        );
        let owner = daemons.remove(0);
        let others: [Daemon; 2] = match daemons.try_into() {
            Ok(others) => others,
            Err(_) => unreachable!("3 daemons started"),
        };
        Cluster {
            r,
            _azurite: az,
            proxy,
            store,
            dirs,
            owner,
            others,
            ids,
            applies,
        }
    }
}

#[test]
fn a_killed_owners_runs_are_taken_over_and_complete_once() {
    let Cluster {
        r,
        _azurite,
        proxy: _proxy,
        dirs,
        store,
        owner,
        others,
        ids,
        applies,
    } = Cluster::start("s", "5m");
    let lost = owned(&owner.socket);
    // One daemon per state directory (and socket), even when the runs are elsewhere.
    let state = dirs[1].to_string_lossy();
    let second = r.run(&["--state-dir", &state, "daemon", "--store", &store]);
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success() && err.contains("another daemon uses the state directory"),
        "{err}"
    );

    let killed = Instant::now();
    owner.kill();
    for child in applies {
        wait_output(child, Duration::from_secs(30), &["apply"]);
    }
    wait_until(Duration::from_secs(60), "the runs taken over", || {
        owned(&others[0].socket) + owned(&others[1].socket) == RUNS
    });
    let takeover = killed.elapsed();
    let split = [owned(&others[0].socket), owned(&others[1].socket)];
    eprintln!(
        "takeover of the {lost} runs of a SIGKILLed daemon: {takeover:?} (lease {LEASE}); split now {split:?}"
    );
    // The survivors' shares are 3 each: the dead daemon's runs spread over both.
    assert_eq!(split, [RUNS / 2, RUNS / 2], "runs not shared fairly");
    // Renewed every third of the lease, a lease runs out at least two thirds of it (10 s)
    // after the owner's last act: never sooner.
    assert!(
        takeover >= Duration::from_secs(10),
        "taken over before the lease lapsed: {takeover:?}"
    );

    wait_succeeded(&ids, &others, Duration::from_secs(120));
    assert_each_vm_put_once(&r, RUNS);
    // Read-only verbs read the container directly, without a daemon.
    let out = r.run(&[
        "--state-dir",
        &r.path("reader").to_string_lossy(),
        "--store",
        &store,
        "list",
        "--output",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.matches("\"succeeded\"").count(), RUNS, "{listed}");
}

fn metric(socket: &Path, name: &str) -> f64 {
    let (_, text) = get(socket, "/metrics").expect("metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

/// ARM writes (not GET) the process `pid` sent, from the emulator's journal.
fn arm_writes_by(r: &Rehearsal, pid: u32) -> Vec<String> {
    let agent = format!("(pid {pid})");
    r.sim
        .journal()
        .into_iter()
        .filter(|e| {
            e.method != "GET" && e.user_agent.as_deref().is_some_and(|a| a.contains(&agent))
        })
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

#[test]
fn an_owner_frozen_past_its_lease_acts_no_more_when_it_wakes() {
    let Cluster {
        r,
        _azurite,
        proxy: _proxy,
        dirs: _,
        store: _,
        owner,
        others,
        ids,
        mut applies,
    } = Cluster::start("f", "12h");
    let pid = owner.child.id();
    let writes_before = arm_writes_by(&r, pid);
    assert!(
        !writes_before.is_empty(),
        "the owner created the NICs and VMs"
    );
    // Every run waits 12 h (43 s real) for its next poll: the owner has nothing to commit
    // now. Checked over half a second, then it is frozen.
    let commits = metric(&owner.socket, "failback_checkpoint_commits_total");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        metric(&owner.socket, "failback_checkpoint_commits_total"),
        commits,
        "the owner is idle before the freeze"
    );
    owner.signal(libc::SIGSTOP);
    let frozen = Instant::now();
    wait_until(Duration::from_secs(90), "the runs taken over", || {
        owned(&others[0].socket) + owned(&others[1].socket) == RUNS
    });
    eprintln!(
        "taken over {:?} after the SIGSTOP (at their next poll)",
        frozen.elapsed()
    );
    owner.signal(libc::SIGCONT);
    wait_until(
        Duration::from_secs(30),
        "the woken owner to let its runs go",
        || {
            assert!(
                owner.socket.exists(),
                "the woken owner exited:\n{}",
                owner.log_text()
            );
            owned(&owner.socket) == 0
        },
    );
    wait_succeeded(&ids, &others, Duration::from_secs(120));
    assert!(
        owner.socket.exists(),
        "the woken owner exited:\n{}",
        owner.log_text()
    );
    let after = metric(&owner.socket, "failback_checkpoint_commits_total");
    assert_eq!(
        after, commits,
        "the woken owner committed after losing its runs"
    );
    assert_eq!(
        arm_writes_by(&r, pid),
        writes_before,
        "the woken owner wrote to Azure"
    );
    let (status, body) = get(&owner.socket, "/v1/health").expect("health");
    assert_eq!(
        status, 200,
        "a daemon that lost its runs still drives (others): {body}"
    );
    assert_each_vm_put_once(&r, RUNS);
    stop_all(&mut applies);
}

/// Keep every slot's daemon running, as a service manager would: a daemon that exited (it
/// could not reach storage) is started again. Returns how many restarts it made.
fn supervise(r: &Rehearsal, c: &mut [Daemon], dirs: &[PathBuf], args: &[&str]) -> usize {
    let mut restarts = 0;
    for (slot, d) in c.iter_mut().enumerate() {
        if let Ok(Some(_)) = d.child.try_wait() {
            *d = r.spawn_daemon_at(&dirs[slot], args);
            restarts += 1;
        }
    }
    restarts
}

#[test]
fn runs_ride_out_an_azurite_restart_and_a_60s_partition() {
    let Cluster {
        r,
        mut _azurite,
        proxy,
        dirs,
        store,
        owner,
        others,
        ids,
        mut applies,
    } = Cluster::start("o", "5m");
    let args = ["--store", store.as_str(), "--lease", LEASE];
    let [b, c] = others;
    let mut daemons = vec![owner, b, c];
    // Azurite restarted under the daemons: a few seconds of refused connections.
    _azurite.restart();
    // Then 60 s in which every connection to storage is reset: leases lapse, the daemons
    // stop acting and exit (crash-only); their service manager keeps restarting them.
    proxy.cut();
    let cut = Instant::now();
    let mut restarts = 0;
    while cut.elapsed() < Duration::from_secs(60) {
        restarts += supervise(&r, &mut daemons, &dirs, &args);
        // A service manager's restart delay (systemd's RestartSec).
        std::thread::sleep(Duration::from_secs(2));
    }
    proxy.heal();
    let mut serving = false;
    let healed = Instant::now();
    while !serving {
        assert!(
            healed.elapsed() < Duration::from_secs(90),
            "the daemons did not come back"
        );
        restarts += supervise(&r, &mut daemons, &dirs, &args);
        serving = daemons.iter().all(|d| d.serves(d.child.id()));
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("storage cut for 60 s: {restarts} daemon restarts by the test's service manager");
    wait_succeeded(&ids, &daemons, Duration::from_secs(120));
    assert_each_vm_put_once(&r, RUNS);
    stop_all(&mut applies);
}

/// `failback signal ID failback-complete --yes` (`-o json` with `json`) through the daemon of
/// `dir`; it follows the run until it ends.
fn signal_through(r: &Rehearsal, dir: &Path, id: &str, json: bool) -> std::process::Child {
    let state = dir.to_string_lossy();
    let mut args = vec![
        "--state-dir",
        &*state,
        "signal",
        id,
        "failback-complete",
        "--yes",
    ];
    if json {
        args.extend(["--output", "json"]);
    }
    r.failback(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn failback signal")
}

fn finished_ok(child: std::process::Child, what: &str) -> String {
    let out = wait_output(child, Duration::from_secs(120), &[what]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{what}: {stdout}\n{stderr}");
    eprintln!("--- {what}:\n{stdout}");
    stdout
}

/// A line's shape: the run id and every digit masked.
fn shape(line: &str, id: &str) -> String {
    line.replace(id, "RUN")
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

/// Field names of a JSON line, but `request`: what only a forwarded command's events carry.
fn fields(line: &str) -> Vec<String> {
    let v = json(line);
    let mut keys: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {line}"))
        .keys()
        .filter(|k| *k != "request")
        .cloned()
        .collect();
    keys.sort();
    keys
}

/// Runs driven by one daemon; `failback signal` through a second daemon, which does not drive
/// them, is forwarded to the first through the store's inbox: it succeeds, is applied once,
/// and prints what it prints through the owner (text and JSON).
#[test]
fn a_signal_through_a_daemon_that_does_not_drive_the_run_is_forwarded_to_its_owner() {
    let r = Rehearsal::start_with_db1_failback_after(600.0 * SPEED);
    let az = azurite::Azurite::start();
    let store = format!(
        "azblob+http://127.0.0.1:{}/devstoreaccount1/runs",
        az.port()
    );
    let dirs: Vec<PathBuf> = (0..2).map(|i| r.path(&format!("state-{i}"))).collect();
    let args = ["--store", store.as_str(), "--lease", LEASE];
    let owner = r.daemon_at(&dirs[0], &args);
    let ids: Vec<String> = (0..4).map(|i| format!("i-{i}")).collect();
    let mut applies: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| apply_held(&r, &dirs[0], n, id, "5m"))
        .collect();
    wait_until(Duration::from_secs(60), "every run held", || {
        ids.iter().all(|id| waiting_on_failback(&owner.socket, id))
    });
    // Started once the first one holds every run: it drives none of them.
    let other = r.daemon_at(&dirs[1], &args);
    assert_eq!(owned(&owner.socket), ids.len());
    assert_eq!(owned(&other.socket), 0);

    let asked = Instant::now();
    let children = [
        (
            signal_through(&r, &dirs[1], &ids[0], false),
            "text, forwarded",
        ),
        (signal_through(&r, &dirs[0], &ids[1], false), "text, owner"),
        (
            signal_through(&r, &dirs[1], &ids[2], true),
            "json, forwarded",
        ),
        (signal_through(&r, &dirs[0], &ids[3], true), "json, owner"),
    ];
    let outs: Vec<String> = children
        .into_iter()
        .map(|(child, what)| finished_ok(child, what))
        .collect();
    eprintln!("4 signals and their runs' teardowns: {:?}", asked.elapsed());

    // Text: the same lines, as far as their shapes go.
    let text = |n: usize| -> Vec<String> { outs[n].lines().map(|l| shape(l, &ids[n])).collect() };
    let (fwd, own) = (text(0), text(1));
    assert_eq!(fwd.first(), own.first(), "{fwd:?}\n{own:?}");
    assert_eq!(fwd.last(), own.last(), "{fwd:?}\n{own:?}");
    // JSON: one object per line with the same fields, the signal's event first.
    let lines = |n: usize| -> Vec<&str> { outs[n].lines().collect() };
    let (fwd, own) = (lines(2), lines(3));
    assert_eq!(fields(fwd[0]), fields(own[0]));
    assert_eq!(fields(fwd[fwd.len() - 1]), fields(own[own.len() - 1]));
    let first = json(fwd[0]);
    assert_eq!(first["kind"]["event"], "signal", "{first}");
    assert!(first["request"].is_string(), "forwarded: {first}");

    // Applied once each, by the owner: one signal event per run.
    for id in &ids {
        let (status, body) =
            get(&owner.socket, &format!("/v1/runs/{id}/history")).expect("history");
        assert_eq!(status, 200, "{body}");
        let signals = json(&body)["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["kind"]["event"] == "signal")
            .count();
        assert_eq!(signals, 1, "{id}: {body}");
    }
    assert_eq!(owned(&other.socket), 0, "the other daemon took a run");
    assert_each_vm_put_once(&r, ids.len());
    stop_all(&mut applies);
}
