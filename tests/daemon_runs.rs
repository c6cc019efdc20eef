//! Runs through a real `failback daemon` against the emulator: 50 runs submitted with
//! `failback apply`, the daemon SIGKILLed with runs in every state, restarted, SIGTERMed
//! (exits within its grace period), restarted again: every run succeeds, each network's VM
//! was PUT once, nothing is left in the emulator, and /metrics parses (with ARM request counts).

mod daemon_support;

use daemon_support::*;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

const RUNS: usize = 50;

fn count(states: &BTreeMap<String, String>, state: &str) -> usize {
    states.values().filter(|s| *s == state).count()
}

/// Runs 0..HELD wait in await-failback for a signal; the others run straight through.
const HELD: usize = 10;

fn apply(r: &Rehearsal, n: usize, id: &str) -> std::process::Child {
    let spec = r.spec_with(n, n < HELD);
    r.failback(&[
        "apply", "--yes", "--spec", &spec, "--run-id", id, "--output", "json",
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("spawn apply")
}

#[test]
fn fifty_runs_survive_sigkill_and_sigterm_of_the_daemon() {
    let r = Rehearsal::start();
    let ids: Vec<String> = (0..RUNS).map(|i| format!("d-{i:02}")).collect();
    let d1 = r.daemon(&[]);

    // Held runs and half of the others first; the rest once some have finished, so that
    // the SIGKILL finds runs succeeded, waiting, pending or running, and paused.
    let first = HELD + (RUNS - HELD) / 2;
    let mut applies: Vec<_> = (0..first).map(|n| apply(&r, n, &ids[n])).collect();
    wait_until(Duration::from_secs(30), "first runs done or held", || {
        let s = run_states(&d1.socket);
        count(&s, "succeeded") > 0
            && ids[..HELD]
                .iter()
                .all(|id| s.get(id).is_some_and(|st| st == "waiting"))
    });
    applies.extend((first..RUNS).map(|n| apply(&r, n, &ids[n])));
    let mut paused = None;
    wait_until(
        Duration::from_secs(30),
        "all runs submitted, one paused",
        || {
            let s = run_states(&d1.socket);
            if paused.is_none() {
                let candidate = ids[first..].iter().find(|id| {
                    s.get(*id)
                        .is_some_and(|st| st == "pending" || st == "running")
                });
                if let Some(id) = candidate {
                    let path = format!("/v1/runs/{id}/pause");
                    if request(&d1.socket, "POST", &path, b"").is_ok_and(|(st, _)| st == 200) {
                        paused = Some(id.clone());
                    }
                }
            }
            paused.is_some() && s.len() == RUNS
        },
    );
    let paused = paused.expect("a paused run");
    let before = run_states(&d1.socket);
    let mut summary: BTreeMap<&str, usize> = BTreeMap::new();
    for st in before.values() {
        *summary.entry(st).or_default() += 1;
    }
    for st in ["succeeded", "waiting", "paused"] {
        assert!(summary.contains_key(st), "no {st} run: {summary:?}");
    }
    d1.kill();
    for child in applies {
        // Followers of unfinished runs fail once the daemon is gone; all of them end.
        wait_output(child, Duration::from_secs(30), &["apply"]);
    }

    let mut d2 = r.daemon(&[]);
    assert_eq!(run_states(&d2.socket)[&paused], "paused");
    let t0 = Instant::now();
    d2.signal(libc::SIGTERM);
    let st = d2.wait_exit(Duration::from_secs(8));
    let stop = t0.elapsed();
    assert_eq!(st.code(), Some(0), "{}", d2.log_text());
    assert!(stop < Duration::from_millis(5500), "{stop:?}");
    assert!(!r.socket().exists());

    let d3 = r.daemon(&[]);
    let signals: Vec<_> = ids[..HELD]
        .iter()
        .map(|id| {
            r.failback(&["signal", id, "failback-complete", "--yes"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn signal")
        })
        .collect();
    let mut args = vec!["resume"];
    args.extend(ids.iter().map(String::as_str));
    let resume = r
        .failback(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn resume");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let s = run_states(&d3.socket);
        if count(&s, "succeeded") == RUNS {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all succeeded: {s:?}\n{}",
            d3.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = wait_output(resume, Duration::from_secs(30), &["resume"]);
    assert!(
        out.status.success(),
        "{}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        d3.log_text()
    );
    for child in signals {
        let out = wait_output(child, Duration::from_secs(30), &["signal"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let states = run_states(&d3.socket);
    assert_eq!(count(&states, "succeeded"), RUNS, "{states:?}");

    let puts = r.vm_puts();
    let distinct: BTreeSet<&String> = puts.iter().collect();
    assert_eq!(puts.len(), 2 * RUNS, "one VM PUT per network per run");
    assert_eq!(distinct.len(), 2 * RUNS);
    assert!(r.left_behind().is_empty(), "{:?}", r.left_behind());

    let (status, text) = get(&d3.socket, "/metrics").expect("metrics");
    assert_eq!(status, 200);
    let samples = parse_prometheus(&text);
    let runs = |state: &str| {
        samples
            .iter()
            .find(|s| {
                s.name == "failback_runs"
                    && s.labels.get("state").map(String::as_str) == Some(state)
            })
            .map(|s| s.value)
    };
    assert_eq!(runs("succeeded"), Some(RUNS as f64));
    assert_eq!(runs("paused"), Some(0.0));
    assert!(samples
        .iter()
        .any(|s| s.name == "failback_checkpoint_commits_total" && s.value > 0.0));
    assert!(samples
        .iter()
        .any(|s| s.name == "failback_step_duration_seconds_count" && s.value > 0.0));
    assert!(
        samples
            .iter()
            .any(|s| s.name == "failback_arm_requests_total"
                && s.labels.get("code").map(String::as_str) == Some("2xx")
                && s.labels.get("operation").map(String::as_str) == Some("PUT virtualMachines")
                && s.value > 0.0),
        "{text}"
    );
    for family in [
        "failback_arm_throttle_wait_seconds_total",
        "failback_arm_retries_total",
    ] {
        assert!(
            samples
                .iter()
                .any(|s| s.name == family && s.labels.contains_key("subscription")),
            "no {family}: {text}"
        );
    }
    eprintln!("states at the SIGKILL: {summary:?}; SIGTERM to exit: {stop:?}");
}

#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A strict reader of the Prometheus text format (0.0.4): every sample belongs to a family
/// declared by `# TYPE` (histograms and summaries through their suffixes), declared once,
/// with well-formed labels and a float value; histogram buckets never decrease.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            match (parts.next(), parts.next(), parts.next()) {
                (Some("TYPE"), Some(name), Some(kind)) => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.into(), kind.into()).is_none(),
                        "twice: {line}"
                    );
                }
                (Some("HELP"), Some(_), _) => {}
                _ => panic!("bad comment line: {line}"),
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                (name, parse_labels(body, line))
            }
        };
        assert!(
            name.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic()
                    || c == '_'
                    || c == ':'
                    || (i > 0 && c.is_ascii_digit())),
            "bad name: {line}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suf| {
                name.strip_suffix(suf).filter(|base| {
                    matches!(
                        types.get(*base).map(String::as_str),
                        Some("histogram" | "summary")
                    )
                })
            })
            .unwrap_or(name);
        assert!(types.contains_key(family), "undeclared family: {line}");
        samples.push(Sample {
            name: name.into(),
            labels,
            value,
        });
    }
    // Buckets of one series are cumulative.
    let mut last: BTreeMap<String, f64> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name.ends_with("_bucket")) {
        let mut key = s.labels.clone();
        key.remove("le");
        let key = format!("{}{key:?}", s.name);
        let prev = last.insert(key, s.value).unwrap_or(0.0);
        assert!(s.value >= prev, "bucket decreased: {s:?}");
    }
    samples
}

fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c @ ('\\' | '"')) => value.push(c),
                    _ => panic!("bad escape: {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated label: {line}"),
            }
        }
        assert!(labels.insert(name, value).is_none(), "{line}");
        match chars.next() {
            Some(',') | None => {}
            Some(c) => panic!("unexpected {c:?}: {line}"),
        }
    }
    labels
}
