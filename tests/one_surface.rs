//! One operator surface: every verb run both ways — in-process (this process holds the store)
//! and through a running daemon — prints the same text and the same JSON, exits the same, and
//! fails with the same words. Two emulators play the same script, one per way; outputs are
//! compared after times, durations and generated ids are masked (events of the two networks'
//! branches interleave by timing, so the lines of a followed run are compared as sets).
//! Along the way, a foreground `apply` answers `status`, `list`, `history` and follow from
//! another process (it serves the socket), and the deleting verbs refuse without `--yes`.

mod daemon_support;

use daemon_support::*;
use serde_json::Value;
use std::process::{Child, Stdio};
use std::time::Duration;

/// One command's outcome, masked.
#[derive(Debug, PartialEq)]
struct Outcome {
    label: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A word with its digits masked, or `<dur>`/`<uuid>` for durations and generated ids.
fn mask_word(w: &str) -> String {
    let hex = |c: char| c.is_ascii_hexdigit();
    let trimmed = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-');
    let dashes = trimmed.chars().filter(|c| *c == '-').count();
    if trimmed.len() == 36 && dashes == 4 && trimmed.chars().all(|c| hex(c) || c == '-') {
        return w.replace(trimmed, "<uuid>");
    }
    let digits: String = w
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect();
    let mut out = String::new();
    for c in digits.chars() {
        if !(c == '#' && out.ends_with('#')) {
            out.push(c);
        }
    }
    let core = out.trim_matches(|c: char| "(),;".contains(c));
    let unit = core.trim_start_matches('#');
    if core.starts_with('#') && ["ms", "s", "m", "h", "d"].contains(&unit) {
        return out.replace(core, "<dur>");
    }
    out
}

/// A line with masked words, one space between them, runs of durations as one. A process
/// server's health (by its heartbeat's age on the emulator's clock) is a time too.
fn mask_line(line: &str) -> String {
    let line = ["Normal", "Warning", "Critical"]
        .iter()
        .fold(line.to_owned(), |l, h| {
            l.replace(&format!("health {h}"), "health <h>")
        });
    let mut words: Vec<String> = Vec::new();
    for w in line.split_whitespace().map(mask_word) {
        let dur_after_dur =
            w.starts_with("<dur>") && words.last().is_some_and(|l| l.ends_with("<dur>"));
        if dur_after_dur {
            if let Some(l) = words.last_mut() {
                *l = l.replace("<dur>", &w);
            }
        } else {
            words.push(w);
        }
    }
    words.join(" ")
}

/// Whether a step or the run waits (and how often) depends on timing — a VM that booted before
/// its first poll never waits — so waits are left out of followed runs' comparisons; what
/// each step ended with is not.
fn is_wait(line: &str) -> bool {
    [
        " waiting ",
        " waiting; ",
        "run waiting",
        " retrying in ",
        " will retry at ",
    ]
    .iter()
    .any(|w| line.contains(w))
}

const WAIT_EVENTS: [&str; 3] = ["step_waiting", "run_waiting", "step_retry_scheduled"];

fn is_wait_event(e: &Value) -> bool {
    WAIT_EVENTS.iter().any(|k| e["kind"]["event"] == *k)
}

fn mask(text: &str, sort: bool) -> String {
    let mut lines: Vec<String> = text.lines().map(mask_line).collect();
    if sort {
        lines.retain(|l| !is_wait(l));
        lines.sort();
        lines.dedup();
    }
    lines.join("\n")
}

/// JSON without timing fields (times, poll counts), masked, keys sorted.
fn mask_json(text: &str, sort_lines: bool) -> String {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| {
                    !(k == "at"
                        || k == "now"
                        || k == "deadline"
                        || k.ends_with("_at")
                        || k == "polls")
                });
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            Value::String(s) => *s = mask_line(s),
            _ => {}
        }
    }
    let docs: Vec<String> = if sort_lines {
        text.lines().map(str::to_owned).collect()
    } else {
        vec![text.to_owned()]
    };
    let mut out: Vec<String> = docs
        .iter()
        .filter(|d| !d.trim().is_empty())
        .filter_map(|d| {
            let mut v: Value =
                serde_json::from_str(d).unwrap_or_else(|e| panic!("not JSON ({e}): {d}"));
            if sort_lines && is_wait_event(&v) {
                return None;
            }
            strip(&mut v);
            if let Some(events) = v.get_mut("events").and_then(Value::as_array_mut) {
                // Sequence numbers follow the branches' interleaving.
                events.iter_mut().for_each(|e| {
                    e.as_object_mut().map(|m| m.remove("seq"));
                });
                events.retain(|e| !is_wait_event(e));
                events.sort_by_key(|e| e.to_string());
                events.dedup();
            }
            if let Some(m) = v.as_object_mut() {
                m.remove("seq");
            }
            Some(mask_line(&v.to_string()))
        })
        .collect();
    if sort_lines {
        out.sort();
        out.dedup();
    }
    out.join("\n")
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// Compare line by line.
    Exact,
    /// A listing taken while a run is held in await-failback: between polls it is `waiting`,
    /// during one `running` (polls come every 0.3 s at the emulator's speed).
    Listing,
    /// The lines of a followed run: compare as a set.
    Lines,
    Json,
    JsonLines,
}

struct Side {
    r: Rehearsal,
    /// Held for the side's lifetime (dropping it stops the daemon).
    _daemon: Option<Daemon>,
    seen: Vec<Outcome>,
}

impl Side {
    fn new(with_daemon: bool) -> Self {
        let r = Rehearsal::start();
        for (n, held) in [(0, false), (1, true), (2, true)] {
            r.spec_with(n, held);
        }
        let _daemon = with_daemon.then(|| r.daemon(&[]));
        Self {
            r,
            _daemon,
            seen: Vec::new(),
        }
    }

    fn run(&mut self, shape: Shape, args: &[&str]) -> String {
        let mut all = vec!["--color", "never"];
        all.extend_from_slice(args);
        let out = self.r.run(&all);
        let dir = self.r.dir.path().display().to_string();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).replace(&dir, "<dir>"),
            String::from_utf8_lossy(&out.stderr).replace(&dir, "<dir>"),
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        let masked = match shape {
            Shape::Exact => mask(&stdout, false),
            Shape::Listing => mask(&stdout, false)
                .replace(" running ", " <active> ")
                .replace(" waiting ", " <active> "),
            Shape::Lines => mask(&stdout, true),
            Shape::Json => mask_json(&stdout, false),
            Shape::JsonLines => mask_json(&stdout, true),
        };
        self.seen.push(Outcome {
            label: args.join(" "),
            code: out.status.code(),
            stdout: masked,
            stderr: mask(&stderr, true),
        });
        stdout
    }

    fn state(&self, run: &str) -> Value {
        let out = self.r.run(&["status", run, "-o", "json"]);
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// `apply` of a held run in the background, until it waits for failback; then Ctrl-C.
    /// Meanwhile another process looks at it (through the foreground apply's socket when no
    /// daemon holds the store).
    fn apply_held_then_interrupt(&mut self, spec: &str, run: &str) {
        let mut apply: Child = self
            .r
            .failback(&["apply", "--yes", "--spec", spec, "--run-id", run])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn apply");
        let t0 = std::time::Instant::now();
        wait_until(
            Duration::from_secs(60),
            "the held run to await failback",
            || {
                let out = self.r.run(&["status", run, "-o", "json"]);
                let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
                if t0.elapsed() > Duration::from_secs(20) {
                    eprintln!(
                        "status: {}\n{}",
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    if let Ok(Some(st)) = apply.try_wait() {
                        panic!("apply ended {st}");
                    }
                }
                let steps = v["steps"].as_array().cloned().unwrap_or_default();
                let waiting = |s: &Value| s["status"]["status"] == "waiting";
                let held: Vec<&Value> = steps
                    .iter()
                    .filter(|s| {
                        s["step_id"]
                            .as_str()
                            .is_some_and(|id| id.ends_with("await-failback"))
                    })
                    .collect();
                !held.is_empty() && held.iter().all(|s| waiting(s))
            },
        );
        let follower = self
            .r
            .failback(&["status", run, "--follow", "-o", "json"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn follower");
        self.run(Shape::Listing, &["list"]);
        self.run(Shape::Lines, &["history", run]);
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(apply.id() as i32, libc::SIGINT) };
        let status = apply.wait().expect("apply exit");
        assert_eq!(status.code(), Some(130), "apply after Ctrl-C");
        // The follower saw the run's events up to the wait; it stops with its holder (the
        // foreground apply) or on Ctrl-C (the daemon's run waits on).
        // SAFETY: kill(2) on our own child's pid (gone already is fine).
        unsafe { libc::kill(follower.id() as i32, libc::SIGINT) };
        let seen = wait_output(follower, Duration::from_secs(60), &["follow"]);
        let text = String::from_utf8_lossy(&seen.stdout);
        assert!(text.contains("await-failback"), "follower saw: {text}");
        assert!(
            text.contains("\"schema_version\":1"),
            "follower saw: {text}"
        );
    }
}

/// The same script on one side.
fn script(s: &mut Side) {
    let spec0 = "spec-0.toml";
    s.run(Shape::Exact, &["plan", "--spec", spec0, "--run-id", "one"]);
    s.run(
        Shape::Json,
        &["plan", "--spec", spec0, "--run-id", "one", "-o", "json"],
    );
    s.run(
        Shape::Exact,
        &[
            "plan",
            "--spec",
            spec0,
            "--run-id",
            "one",
            "--offline",
            "-o",
            "dot",
        ],
    );
    s.run(
        Shape::Lines,
        &["apply", "--yes", "--spec", spec0, "--run-id", "one"],
    );
    s.run(Shape::Exact, &["status", "one"]);
    s.run(Shape::Json, &["status", "one", "-o", "json"]);
    s.run(Shape::Exact, &["status"]);
    s.run(Shape::Json, &["list", "-o", "json"]);
    s.run(Shape::Lines, &["history", "one"]);
    s.run(Shape::Json, &["history", "one", "-o", "json"]);
    s.run(Shape::Exact, &["graph", "one"]);
    s.run(Shape::Exact, &["graph", "one", "-o", "mermaid"]);
    s.run(Shape::Exact, &["plan", "--run", "one"]);
    s.run(Shape::Json, &["plan", "--run", "one", "-o", "json"]);
    s.run(Shape::Json, &["sweep", "--spec", spec0, "-o", "json"]);
    s.run(Shape::Exact, &["retry", "one"]);
    s.run(Shape::Exact, &["status", "onf"]);
    s.run(Shape::Exact, &["list", "--state", "runing"]);

    s.apply_held_then_interrupt("spec-1.toml", "two");
    let refused = s.run(Shape::Exact, &["signal", "two", "failback-complete"]);
    assert!(
        refused.contains("DELETE"),
        "no preview of the deletes: {refused}"
    );
    assert_eq!(
        s.state("two")["run"]["state"],
        "waiting",
        "refused, yet signalled"
    );
    s.run(
        Shape::Lines,
        &["signal", "two", "failback-complete", "--yes"],
    );

    s.apply_held_then_interrupt("spec-2.toml", "three");
    s.run(Shape::Exact, &["cancel", "three", "--teardown"]);
    assert_eq!(
        s.state("three")["run"]["state"],
        "waiting",
        "refused, yet cancelled"
    );
    s.run(
        Shape::JsonLines,
        &["cancel", "three", "--teardown", "--yes", "-o", "json"],
    );
    s.run(Shape::Exact, &["resume"]);
    s.run(Shape::Exact, &["list"]);
}

#[test]
fn every_verb_prints_the_same_in_process_and_through_the_daemon() {
    let mut local = Side::new(false);
    script(&mut local);
    let mut remote = Side::new(true);
    script(&mut remote);
    assert_eq!(local.seen.len(), remote.seen.len());
    for (a, b) in local.seen.iter().zip(&remote.seen) {
        if a != b {
            let show = |o: &Outcome| {
                format!(
                    "{:?}\n--- stdout\n{}\n--- stderr\n{}",
                    o.code, o.stdout, o.stderr
                )
            };
            let (l, r) = (show(a), show(b));
            let diff: Vec<String> = l
                .lines()
                .zip(r.lines().chain(std::iter::repeat("<none>")))
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("  in-process:    {x}\n  through daemon: {y}"))
                .collect();
            panic!("`{}` differs in-process and through the daemon:\n{}\n(in-process has {} lines, through the daemon {})",
                a.label, diff.join("\n"), l.lines().count(), r.lines().count());
        }
    }
    // Not vacuous: the script ran, failed and refused where it should.
    let code = |label: &str| local.seen.iter().find(|o| o.label == label).map(|o| o.code);
    assert_eq!(
        code("apply --yes --spec spec-0.toml --run-id one"),
        Some(Some(0))
    );
    assert_eq!(code("retry one"), Some(Some(1)));
    assert_eq!(code("signal two failback-complete"), Some(Some(1)));
    assert_eq!(code("cancel three --teardown --yes -o json"), Some(Some(0)));
    let hint = local
        .seen
        .iter()
        .find(|o| o.label == "status onf")
        .map(|o| o.stderr.clone());
    assert!(hint.is_some_and(|h| h.contains("did you mean one?")));
    for side in [&local, &remote] {
        assert!(
            side.r.left_behind().is_empty(),
            "{:?}",
            side.r.left_behind()
        );
    }
}
