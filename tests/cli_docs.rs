//! docs/cli.md against the code: every ```json example parses and is the CLI's current JSON
//! (`schema_version`, RFC 3339 times, the keys a real run prints), the exit-code table lists
//! exactly the `EXIT_*` constants, and the page's own links point at its headings.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn read(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// (first line number, text) of every fenced block whose info string is `lang`.
fn fenced(doc: &str, lang: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, line) in doc.lines().enumerate() {
        let t = line.trim_start();
        match &mut open {
            None if t.starts_with("```") && t[3..].trim() == lang => {
                open = Some((i + 2, String::new()));
            }
            None => {}
            Some(_) if t.starts_with("```") => blocks.extend(open.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    assert!(open.is_none(), "a ```{lang} block is not closed");
    blocks
}

/// A block as JSON: one document, or one per line (what following prints).
fn documents(line: usize, text: &str) -> Vec<Value> {
    if let Ok(v) = serde_json::from_str(text) {
        return vec![v];
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).unwrap_or_else(|e| {
                panic!(
                    "docs/cli.md:{}: neither a JSON document nor JSON lines: {e}",
                    line + i
                )
            })
        })
        .collect()
}

fn is_time_key(k: &str) -> bool {
    k == "at" || k == "now" || k == "deadline" || k.ends_with("_at")
}

/// `2026-12-05T14:01:15.199Z`: RFC 3339, UTC, milliseconds.
fn is_rfc3339_ms_utc(s: &str) -> bool {
    let frac = s
        .strip_suffix('Z')
        .and_then(|t| t.rsplit_once('.'))
        .map(|(_, f)| f);
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        && frac.is_some_and(|f| f.len() == 3 && f.chars().all(|c| c.is_ascii_digit()))
}

/// Every time (by key, at any depth) that is not null or RFC 3339: (path, value). A run's
/// `input` is the spec as written (its `failback.deadline` is a duration, `"7d"`): not looked in.
fn bad_times(v: &Value, path: &str, bad: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}.{k}");
                match x {
                    Value::Null => {}
                    _ if k == "input" => {}
                    Value::String(s) if is_time_key(k) && is_rfc3339_ms_utc(s) => {}
                    _ if is_time_key(k) => bad.push(format!("{p} = {x}")),
                    _ => bad_times(x, &p, bad),
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                bad_times(x, &format!("{path}[{i}]"), bad);
            }
        }
        _ => {}
    }
}

#[test]
fn every_json_example_parses_and_is_the_current_schema() {
    let doc = read("docs/cli.md");
    let blocks = fenced(&doc, "json");
    assert!(
        blocks.len() >= 5,
        "expected the JSON examples, found {blocks:?}"
    );
    let mut seen = BTreeSet::new();
    for (line, text) in &blocks {
        for v in documents(*line, text) {
            let m = v
                .as_object()
                .unwrap_or_else(|| panic!("docs/cli.md:{line}: not a JSON object"));
            assert_eq!(
                m.get("schema_version"),
                Some(&Value::from(failback::service::json::SCHEMA_VERSION)),
                "docs/cli.md:{line}: every printed document carries schema_version"
            );
            let mut bad = Vec::new();
            bad_times(&v, "", &mut bad);
            assert!(
                bad.is_empty(),
                "docs/cli.md:{line}: times not RFC 3339 UTC with ms: {bad:?}"
            );
            seen.extend(m.keys().cloned());
        }
    }
    // The documents the page promises an example of: status, list, history, follow lines, plan.
    for key in [
        "run",
        "steps",
        "edges",
        "runs",
        "events",
        "description",
        "summary",
    ] {
        assert!(seen.contains(key), "no JSON example has top-level {key:?}");
    }
}

#[test]
fn the_rfc3339_check_can_fail() {
    assert!(is_rfc3339_ms_utc("2026-12-05T14:01:15.199Z"));
    assert!(!is_rfc3339_ms_utc("2026-12-05T14:01:15Z"));
    assert!(!is_rfc3339_ms_utc("1795527050291"));
    let mut bad = Vec::new();
    bad_times(
        &serde_json::json!({"at": 1795527050291u64, "kind": {"wake_at": "2026-12-05T14:01:37.906Z"}}),
        "",
        &mut bad,
    );
    assert_eq!(bad, vec![".at = 1795527050291"]);
}

/// `pub const EXIT_…: i32 = N;` in a source file: (name, N).
fn exit_constants(src: &str) -> BTreeSet<(String, i32)> {
    src.lines()
        .filter_map(|l| l.trim().strip_prefix("pub const EXIT_"))
        .filter_map(|rest| {
            let (name, value) = rest.split_once(": i32 =")?;
            let value = value.trim().trim_end_matches(';').parse().ok()?;
            Some((format!("EXIT_{name}"), value))
        })
        .collect()
}

/// Rows of the table under `## Exit codes`: (`constant`, code).
fn documented_exit_codes(doc: &str) -> BTreeSet<(String, i32)> {
    let section = doc
        .split("\n## Exit codes\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/cli.md has an Exit codes section");
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let code = cells.get(1)?.parse().ok()?;
            let name = cells.get(2)?.trim_matches('`').to_owned();
            Some((name, code))
        })
        .collect()
}

#[test]
fn the_exit_code_table_lists_every_exit_constant() {
    let mut code = exit_constants(&read("src/commands/mod.rs"));
    code.extend(exit_constants(&read("src/out.rs")));
    // The parse reads what the binary uses.
    use failback::commands::*;
    let compiled: BTreeSet<(String, i32)> = [
        ("EXIT_OK", EXIT_OK),
        ("EXIT_FAILED", EXIT_FAILED),
        ("EXIT_BLOCKED", EXIT_BLOCKED),
        ("EXIT_INTERRUPTED", EXIT_INTERRUPTED),
        ("EXIT_PIPE", EXIT_PIPE),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect();
    assert!(compiled.is_subset(&code), "{compiled:?} vs parsed {code:?}");
    assert_eq!(documented_exit_codes(&read("docs/cli.md")), code);
}

/// GitHub's anchor for a heading: lower case, punctuation other than `-` and `_` dropped,
/// spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn links_within_the_page_point_at_its_headings() {
    let doc = read("docs/cli.md");
    let mut in_code = false;
    let mut anchors = BTreeSet::new();
    for line in doc.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && line.starts_with('#') {
            anchors.insert(slug(line.trim_start_matches('#')));
        }
    }
    let missing: Vec<&str> = doc
        .split("](#")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|a| !anchors.contains(*a))
        .collect();
    assert!(missing.is_empty(), "links to no heading: {missing:?}");
}

/// Key paths of a JSON value down to `depth` levels (array elements merged): its shape, not its
/// data. Below keys whose content varies by case (a spec, a status or event variant, labels,
/// outputs) it does not look.
fn shape(v: &Value, prefix: &str, depth: usize, out: &mut BTreeSet<String>) {
    const OPAQUE: [&str; 6] = ["input", "status", "kind", "labels", "details", "output"];
    if depth == 0 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}.{k}");
                out.insert(p.clone());
                if !OPAQUE.contains(&k.as_str()) {
                    shape(x, &p, depth - 1, out);
                }
            }
        }
        Value::Array(a) => a
            .iter()
            .for_each(|x| shape(x, &format!("{prefix}[]"), depth, out)),
        _ => {}
    }
}

fn shape_of(v: &Value) -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    shape(v, "", 3, &mut s);
    s
}

/// The documented examples have the shape the binary prints today: the same keys in each
/// document (status, list, history, a follow line, plan), compared with a real run's.
#[test]
fn the_documented_json_has_the_shape_the_binary_prints() {
    let r = support::Rehearsal::start();
    r.failback(&["apply", "--yes", "--run-id", "d1"])
        .assert()
        .success();
    let run = |args: &[&str]| -> String {
        let out = r.failback(args).output().expect("failback runs");
        assert!(out.status.success(), "{args:?}: {out:?}");
        support::stdout(&out)
    };
    let doc_of = |text: &str| serde_json::from_str::<Value>(text).expect("JSON");
    let follow = run(&["status", "d1", "--follow", "-o", "json"]);
    let real: Vec<(&str, Value)> = vec![
        ("edges", doc_of(&run(&["status", "d1", "-o", "json"]))),
        ("runs", doc_of(&run(&["list", "-o", "json"]))),
        ("events", doc_of(&run(&["history", "d1", "-o", "json"]))),
        (
            "description",
            doc_of(follow.lines().last().expect("a follow line")),
        ),
        (
            "summary",
            doc_of(&run(&["plan", "--offline", "--run-id", "d2", "-o", "json"])),
        ),
    ];
    let doc = read("docs/cli.md");
    let mut checked = BTreeSet::new();
    for (line, text) in fenced(&doc, "json") {
        for example in documents(line, &text) {
            let Some((key, printed)) = real.iter().find(|(k, _)| example.get(*k).is_some()) else {
                panic!("docs/cli.md:{line}: an example of no known document");
            };
            assert_eq!(
                shape_of(&example),
                shape_of(printed),
                "docs/cli.md:{line}: the example's keys are not what `{key}`'s command prints"
            );
            checked.insert(*key);
        }
    }
    assert_eq!(checked.len(), real.len(), "examples of every document");
}
