//! Snapshots of `failback plan` for a two-network spec in every format, live against the
//! emulator (its state is the same every time) and offline (no Azure reads).

mod support;

use support::*;

fn plan(r: &Rehearsal, extra: &[&str]) -> String {
    let mut args = vec!["plan", "--run-id", "snap"];
    args.extend_from_slice(extra);
    let out = r.failback(&args).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    stdout(&out)
}

#[test]
fn plan_in_text_json_dot_and_mermaid() {
    let r = Rehearsal::start();
    insta::assert_snapshot!("plan_text", plan(&r, &["--format", "text"]));
    insta::assert_snapshot!("plan_json", plan(&r, &["--format", "json"]));
    insta::assert_snapshot!("plan_dot", plan(&r, &["--format", "dot"]));
    insta::assert_snapshot!("plan_mermaid", plan(&r, &["--format", "mermaid"]));
    insta::assert_snapshot!("plan_text_offline", plan(&r, &["--offline"]));
    assert_eq!(r.count("PUT", "/subscriptions/"), 0, "plans create nothing");
}

#[test]
fn a_blocked_plan_exits_2_and_says_why() {
    let mut scenario = failback::commands::demo::scenario();
    scenario.subscriptions[0].regions[0]
        .quota
        .insert("standardAv2Family".into(), 8);
    let r = Rehearsal::with(scenario);
    let out = r.failback(&["plan", "--run-id", "snap"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains("blocked") && text.contains("need 16 vCPUs"),
        "{text}"
    );
    r.failback(&["apply", "--yes", "--run-id", "b1"])
        .assert()
        .code(2);
    assert_eq!(r.count("PUT", "/subscriptions/"), 0);
}
