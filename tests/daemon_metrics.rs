//! `/metrics` of a real daemon driving real runs against the emulator: `promtool check
//! metrics` (Debian's prometheus package, which `.ci/run` installs) finds nothing to say about
//! it, and the gauges an on-call engineer alerts on move: a run past its await-failback
//! deadline, runs waiting on an operator, seconds since a step last progressed.

mod daemon_support;

use daemon_support::*;
use failback_sim::{FaultAction, FaultMatch, FaultRule, FaultTrigger};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PROMTOOL: &str = "/usr/bin/promtool";

/// One sample of the text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Samples of the text format (label values here hold no `,` or `"`).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|p| !p.is_empty())
                .filter_map(|p| p.split_once("=\""))
                .map(|(k, v)| (k.to_owned(), v.trim_end_matches('"').to_owned()))
                .collect();
            let value = value.parse().unwrap_or_else(|_| panic!("value of {l}"));
            Sample {
                name: name.to_owned(),
                labels,
                value,
            }
        })
        .collect()
}

fn scrape(socket: &Path) -> String {
    let (status, text) = get(socket, "/metrics").expect("GET /metrics");
    assert_eq!(status, 200, "{text}");
    text
}

/// The sum of family `name`'s samples whose labels include `with`.
fn value(socket: &Path, name: &str, with: &[(&str, &str)]) -> f64 {
    samples(&scrape(socket))
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
        .map(|s| s.value)
        .sum()
}

fn submit(r: &Rehearsal, d: &Daemon, spec: &str, run_id: &str) {
    let req = serde_json::json!({
        "spec_path": r.path(spec).display().to_string(),
        "run_id": run_id,
    });
    let (status, text) =
        request(&d.socket, "POST", "/v1/runs", req.to_string().as_bytes()).expect("submit");
    assert_eq!(status, 201, "{text}");
}

fn state(d: &Daemon, run_id: &str) -> String {
    run_states(&d.socket)
        .get(run_id)
        .cloned()
        .unwrap_or_default()
}

/// Step `step_id` of run `run_id`, as the daemon shows it.
fn step(d: &Daemon, run_id: &str, step_id: &str) -> serde_json::Value {
    let (_, body) = get(&d.socket, &format!("/v1/runs/{run_id}")).expect("GET run");
    json(&body)["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["step_id"] == step_id))
        .cloned()
        .unwrap_or_default()
}

/// A held run's spec (waits in await-failback) with its own `[failback]` timing.
fn held_spec(r: &Rehearsal, n: usize, poll_interval: &str, deadline: &str) -> String {
    let name = r.spec_with(n, true);
    let text = std::fs::read_to_string(r.path(&name)).expect("spec");
    let timed = text
        .replace(
            "poll_interval = \"5m\"",
            &format!("poll_interval = \"{poll_interval}\""),
        )
        .replace("deadline = \"7d\"", &format!("deadline = \"{deadline}\""));
    assert_ne!(timed, text, "the spec has the demo's [failback] timing");
    std::fs::write(r.path(&name), timed).expect("write spec");
    name
}

#[test]
fn promtool_finds_nothing_in_a_live_daemons_metrics() {
    let r = Rehearsal::start();
    // The first VM PUT is throttled: the 429 shows in its operation's series and the throttles.
    r.sim
        .add_fault(FaultRule::new(
            FaultMatch {
                operation: Some("PUT virtualMachines".into()),
                ..Default::default()
            },
            FaultAction::Status {
                status: 429,
                retry_after: Some(1),
                code: None,
                message: None,
            },
            FaultTrigger {
                nth: Some(1),
                count: Some(1),
                ..Default::default()
            },
        ))
        .expect("fault");
    let d = r.daemon(&[]);
    submit(&r, &d, &r.spec_for(1), "done");
    submit(&r, &d, &r.spec_with(2, true), "held");
    let polls = [("workflow", "failback"), ("step", "await-failback")];
    wait_until(
        Duration::from_secs(120),
        "one run to succeed and the held one to poll its wait",
        || {
            state(&d, "done") == "succeeded"
                && value(&d.socket, "failback_step_polls_total", &polls) >= 2.0
        },
    );
    let text = scrape(&d.socket);
    assert!(
        Path::new(PROMTOOL).exists(),
        "{PROMTOOL} is missing: .ci/run installs it from Debian's prometheus package"
    );
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = wait_output(child, Duration::from_secs(60), &["promtool"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{text}"
    );

    // Families and series are unique (promtool checks that each has HELP and TYPE).
    let mut seen = std::collections::BTreeSet::new();
    for l in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        assert!(
            seen.insert(l.split_whitespace().nth(2)),
            "family twice: {l}"
        );
    }
    let mut series = std::collections::BTreeSet::new();
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let key = l.rsplit_once(' ').map_or(l, |(k, _)| k);
        assert!(series.insert(key), "series twice: {key}");
    }

    // The families the dashboard and alert rules use, with series a real run made.
    let all = samples(&text);
    let has = |name: &str, with: &[(&str, &str)]| {
        all.iter().any(|s| {
            s.name == name
                && with
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(v))
        })
    };
    for (name, with) in [
        ("failback_build_info", vec![]),
        ("failback_runs", vec![("state", "succeeded")]),
        ("failback_runs_past_deadline", vec![]),
        (
            "failback_runs_awaiting_operator",
            vec![("reason", "failed")],
        ),
        ("failback_step_seconds_since_progress", vec![]),
        ("failback_engine_healthy", vec![]),
        (
            "failback_step_duration_seconds_bucket",
            vec![
                ("workflow", "failback"),
                ("step", "create-vm"),
                ("outcome", "succeeded"),
            ],
        ),
        (
            "failback_arm_requests_total",
            vec![("operation", "PUT virtualMachines"), ("code", "2xx")],
        ),
        (
            "failback_arm_requests_total",
            vec![("operation", "GET operationStatus"), ("code", "2xx")],
        ),
        (
            "failback_arm_requests_total",
            vec![("operation", "PUT virtualMachines"), ("code", "429")],
        ),
        ("failback_arm_throttled_total", vec![]),
        ("failback_arm_retries_total", vec![]),
        (
            "failback_checkpoint_commit_latency_seconds_bucket",
            vec![("le", "+Inf")],
        ),
        ("process_resident_memory_bytes", vec![]),
        ("process_cpu_seconds_total", vec![]),
        ("process_open_fds", vec![]),
        ("process_max_fds", vec![]),
        ("process_start_time_seconds", vec![]),
    ] {
        assert!(has(name, &with), "no {name} {with:?}:\n{text}");
    }
    let throttled: f64 = all
        .iter()
        .filter(|s| s.name == "failback_arm_throttled_total")
        .map(|s| s.value)
        .sum();
    assert!(throttled >= 1.0, "the injected 429 is counted: {text}");
    contrib_names_exist(&text);
    // Bounded labels: no network name in a step label, no resource name in an operation.
    for s in &all {
        for key in ["step", "operation"] {
            if let Some(v) = s.labels.get(key) {
                assert!(!v.contains("vnet-"), "{} has {key}={v}", s.name);
            }
        }
    }
}

#[test]
fn the_alerting_gauges_move() {
    let r = Rehearsal::start();
    // Deadline 12 h of emulator time (about 43 s here), polled every 5 min (0.3 s).
    let late = held_spec(&r, 3, "5m", "12h");
    // Polls every 30 d (about 43 min here): between polls nothing progresses.
    let slow = held_spec(&r, 4, "30d", "60d");
    let d = r.daemon(&[]);
    let past = |d: &Daemon| value(&d.socket, "failback_runs_past_deadline", &[]);
    let awaiting = |d: &Daemon, reason: &str| {
        value(
            &d.socket,
            "failback_runs_awaiting_operator",
            &[("reason", reason)],
        )
    };
    let since = |d: &Daemon| value(&d.socket, "failback_step_seconds_since_progress", &[]);
    assert_eq!(past(&d), 0.0);
    assert_eq!(awaiting(&d, "failed") + awaiting(&d, "paused"), 0.0);

    submit(&r, &d, &late, "late");
    submit(&r, &d, &slow, "slow");
    wait_until(
        Duration::from_secs(120),
        "both runs to wait in await-failback",
        || {
            step(&d, "late", "await-failback")["status"]["status"] == "waiting"
                && step(&d, "slow", "await-failback")["status"]["status"] == "waiting"
        },
    );
    // The deadline is fixed now, about 43 s ahead: far more than this scrape takes.
    assert_eq!(past(&d), 0.0, "late is waiting within its deadline");

    wait_until(
        Duration::from_secs(180),
        "late to pass its deadline and fail",
        || state(&d, "late") == "failed",
    );
    let failed = step(&d, "late", "await-failback");
    assert_eq!(
        failed["status"]["error"]["code"], "DeadlineExceeded",
        "{failed}"
    );
    assert_eq!(past(&d), 1.0, "late failed with DeadlineExceeded");
    assert_eq!(awaiting(&d, "failed"), 1.0);
    let age = value(
        &d.socket,
        "failback_runs_awaiting_operator_max_age_seconds",
        &[],
    );
    wait_until(
        Duration::from_secs(60),
        "the operator's wait to age",
        || {
            value(
                &d.socket,
                "failback_runs_awaiting_operator_max_age_seconds",
                &[],
            ) > age + 500.0
        },
    );

    // slow is the only unfinished run; its next poll is weeks away (emulator time).
    let first = since(&d);
    assert!(first > 0.0, "{first}");
    wait_until(
        Duration::from_secs(60),
        "seconds since progress to grow",
        || since(&d) > first + 1000.0,
    );

    let (status, body) = request(&d.socket, "POST", "/v1/runs/slow/pause", b"").expect("pause");
    assert_eq!(status, 200, "{body}");
    wait_until(
        Duration::from_secs(60),
        "a paused run to await the operator",
        || awaiting(&d, "paused") == 1.0,
    );
    assert_eq!(since(&d), 0.0, "no unfinished run is left");
}

/// Every metric the Grafana dashboard and the alert rules name is a family the daemon serves.
fn contrib_names_exist(text: &str) {
    let families: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    for file in ["grafana/failback.json", "prometheus/alerts.yml"] {
        let body = std::fs::read_to_string(root.join(file)).expect("contrib file");
        let mut used = 0;
        for (i, _) in body
            .match_indices("failback_")
            .chain(body.match_indices("process_"))
        {
            if i > 0 && body.as_bytes()[i - 1].is_ascii_alphanumeric() {
                continue;
            }
            let name: String = body[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let family = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| families.contains(base))
                .unwrap_or(&name);
            assert!(
                families.contains(&family),
                "{file} uses {name}, which /metrics lacks"
            );
            used += 1;
        }
        assert!(used > 5, "{file} names only {used} metrics");
    }
}

#[test]
fn the_example_alert_rules_and_dashboard_queries_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib");
    // The dashboard's queries as recording rules, with Grafana's variables filled in.
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("grafana/failback.json")).expect("dashboard"),
    )
    .expect("the dashboard is JSON");
    let exprs: Vec<String> = dash["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .map(|e| {
            e.replace("$__rate_interval", "5m")
                .replace("$instance", ".*")
        })
        .collect();
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, e) in exprs.iter().enumerate() {
        let quoted = serde_json::to_string(e).expect("quote");
        rules.push_str(&format!(
            "      - record: dashboard:q{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let dash_rules = dir.path().join("dashboard.yml");
    std::fs::write(&dash_rules, rules).expect("write");
    for file in [root.join("prometheus/alerts.yml"), dash_rules] {
        let out = Command::new(PROMTOOL)
            .args(["check", "rules"])
            .arg(&file)
            .output()
            .unwrap_or_else(|e| panic!("{PROMTOOL} (.ci/run installs it): {e}"));
        assert!(
            out.status.success(),
            "{}: {}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
