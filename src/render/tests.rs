//! Snapshot tests over a hand-built two-network plan and fabricated runs. No wall clock: every
//! instant derives from `T0`.

use super::*;
use failback_engine::planner::{Plan, PlannedStep};
use failback_engine::{PlanChange, StepPlan};
use failback_state::{
    EventKind, EventRecord, RunRecord, RunState, StepErrorRecord, StepRecord, StepStatus,
    WaitReason,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// 2026-11-24T12:00:00Z.
const T0: u64 = 1_795_521_600_000;
const MIN: u64 = 60_000;
const SUB: &str = "/subscriptions/0000-1111/resourceGroups/rg-failback/providers";

fn step(id: &str, deps: &[&str], change: PlanChange, action: &str, calls: &[&str]) -> PlannedStep {
    let mut plan = StepPlan::new(action, change);
    for c in calls {
        plan = plan.call(c.replace("{SUB}", SUB));
    }
    PlannedStep {
        id: id.into(),
        deps: deps.iter().map(|d| d.to_string()).collect(),
        status: None,
        plan,
    }
}

fn branch_steps(net: &str, nic: PlanChange, ip: &str) -> Vec<PlannedStep> {
    let id = |s: &str| format!("{net}/{s}");
    let nic_step = step(
        &id("create-nic"),
        &["validate"],
        nic,
        &format!("Create NIC ps-{net}-nic in {net}/snet-ps with static IP {ip}"),
        &[&format!(
            "PUT {{SUB}}/Microsoft.Network/networkInterfaces/ps-{net}-nic"
        )],
    );
    let mut nic_step = nic_step;
    nic_step.plan = nic_step.plan.detail("private_ip", ip);
    vec![
        nic_step,
        step(
            &id("create-vm"),
            &[&id("create-nic")],
            PlanChange::Create,
            &format!("Create VM ps-{net} (Standard_D4s_v3, Windows Server 2019)"),
            &[&format!(
                "PUT {{SUB}}/Microsoft.Compute/virtualMachines/ps-{net}"
            )],
        ),
        step(
            &id("await-boot"),
            &[&id("create-vm")],
            PlanChange::NoOp,
            "Wait until the VM reports PowerState/running and the guest agent is ready",
            &[&format!(
                "GET {{SUB}}/Microsoft.Compute/virtualMachines/ps-{net}/instanceView"
            )],
        ),
        step(
            &id("register"),
            &[&id("await-boot")],
            PlanChange::Create,
            "Install the process server and register it with configuration server cs-onprem-01",
            &[
                "GET {SUB}/Microsoft.RecoveryServices/vaults/rsv-dr/replicationFabrics",
                &format!("POST {{SUB}}/Microsoft.Compute/virtualMachines/ps-{net}/runCommand"),
            ],
        ),
    ]
}

fn teardown(net: &str) -> PlannedStep {
    step(
        &format!("{net}/teardown"),
        &["await-failback"],
        PlanChange::Create,
        &format!("Delete VM ps-{net}, its OS disk and NIC"),
        &[
            &format!("DELETE {{SUB}}/Microsoft.Compute/virtualMachines/ps-{net}"),
            &format!("DELETE {{SUB}}/Microsoft.Network/networkInterfaces/ps-{net}-nic"),
        ],
    )
}

/// Two networks; steps in an interleaved topological order as a toposort may give them.
fn two_network_plan() -> Plan {
    let mut validate = step(
        "validate",
        &[],
        PlanChange::NoOp,
        "Check VM size, quota, subnets and IP addresses in westeurope for 2 networks",
        &[
            "GET {SUB}/Microsoft.Compute/skus?$filter=location eq 'westeurope'",
            "GET {SUB}/Microsoft.Compute/locations/westeurope/usages",
        ],
    );
    validate.plan = validate
        .plan
        .detail("region", "westeurope")
        .detail("vm_size", "Standard_D4s_v3");
    let a = branch_steps("vnet-a", PlanChange::Exists, "10.1.0.10");
    let b = branch_steps(
        "vnet-b",
        PlanChange::Blocked {
            reason: "IP 10.2.0.10 is taken by nic-legacy-db".into(),
        },
        "10.2.0.10",
    );
    let mut steps = vec![validate];
    for (x, y) in a.into_iter().zip(b) {
        steps.push(x);
        steps.push(y);
    }
    steps.push(step(
        "await-failback",
        &["vnet-a/register", "vnet-b/register"],
        PlanChange::NoOp,
        "Wait until every protected item has failed back (or signal failback-complete)",
        &["GET {SUB}/Microsoft.RecoveryServices/vaults/rsv-dr/replicationProtectedItems"],
    ));
    steps.push(teardown("vnet-a"));
    steps.push(teardown("vnet-b"));
    Plan {
        workflow: "failback".into(),
        version: 1,
        run_id: None,
        steps,
    }
}

fn finished_plan() -> Plan {
    let mut plan = two_network_plan();
    plan.run_id = Some("fb-20261124-a".into());
    for s in &mut plan.steps {
        s.plan.change = match s.plan.change {
            PlanChange::NoOp => PlanChange::NoOp,
            PlanChange::Blocked { .. } => PlanChange::Exists,
            _ => PlanChange::Done,
        };
        s.status = Some("succeeded".into());
    }
    plan
}

/// Balanced braces outside quoted strings, and every edge endpoint declared as a node.
fn assert_dot_well_formed(dot: &str) {
    assert!(dot.starts_with("digraph \""), "{dot}");
    let (mut depth, mut in_str, mut esc) = (0i32, false, false);
    for c in dot.chars() {
        match (in_str, esc, c) {
            (true, true, _) => esc = false,
            (true, false, '\\') => esc = true,
            (_, false, '"') => in_str = !in_str,
            (false, _, '{') => depth += 1,
            (false, _, '}') => depth -= 1,
            _ => {}
        }
        assert!(depth >= 0, "unbalanced braces:\n{dot}");
    }
    assert!(depth == 0 && !in_str, "unbalanced:\n{dot}");
    // The leading quoted string of `s`, escapes kept.
    let quoted = |s: &str| -> Option<String> {
        let s = s.trim().strip_prefix('"')?;
        let mut esc = false;
        let end = s.char_indices().find_map(|(i, c)| match (esc, c) {
            (true, _) => {
                esc = false;
                None
            }
            (false, '\\') => {
                esc = true;
                None
            }
            (false, '"') => Some(i),
            _ => None,
        })?;
        Some(s[..end].to_owned())
    };
    let mut declared = BTreeSet::new();
    let mut edges = Vec::new();
    for line in dot.lines() {
        if let Some((a, b)) = line.split_once(" -> ") {
            edges.push((quoted(a), quoted(b)));
        } else if line.contains(" [label=") {
            declared.insert(quoted(line));
        }
    }
    assert!(!edges.is_empty());
    for (a, b) in edges {
        assert!(a.is_some() && declared.contains(&a), "{a:?} undeclared");
        assert!(b.is_some() && declared.contains(&b), "{b:?} undeclared");
    }
}

fn assert_mermaid_well_formed(m: &str) {
    assert!(m.starts_with("flowchart TD\n"));
    let opens = m
        .lines()
        .filter(|l| l.trim_start().starts_with("subgraph "))
        .count();
    let ends = m.lines().filter(|l| l.trim() == "end").count();
    assert_eq!(opens, ends, "{m}");
    let mut declared = BTreeSet::new();
    let mut classes = BTreeSet::new();
    let mut defined = BTreeSet::new();
    let mut edges = Vec::new();
    for line in m.lines().map(str::trim) {
        if let Some((a, b)) = line.split_once(" --> ") {
            edges.push((a.to_owned(), b.to_owned()));
        } else if let Some((id, rest)) = line.split_once("[\"") {
            if !id.starts_with("subgraph") {
                assert!(id.starts_with('n') && id[1..].bytes().all(|c| c.is_ascii_digit()));
                declared.insert(id.to_owned());
                classes.insert(rest.rsplit(":::").next().unwrap_or_default().to_owned());
                assert!(!rest.contains("\"]\""), "stray quote: {line}");
            }
        } else if let Some(def) = line.strip_prefix("classDef ") {
            defined.insert(def.split(' ').next().unwrap_or_default().to_owned());
        }
    }
    assert!(!edges.is_empty());
    for (a, b) in &edges {
        assert!(declared.contains(a) && declared.contains(b), "{a} --> {b}");
    }
    assert_eq!(classes, defined);
}

#[test]
fn plan_two_networks() {
    let plan = two_network_plan();
    assert!(plan.blocked());
    let text = plan_text(&plan, false);
    assert!(text.contains("Plan: 6 to create, 1 existing, 1 blocked."));
    assert!(text
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .starts_with("Nothing was created"));
    insta::assert_snapshot!("plan_text", text);
    assert!(plan_text(&plan, true).contains("\x1b["));

    let js = plan_json(&plan);
    let v: Value = serde_json::from_str(&js).unwrap_or(Value::Null);
    assert_eq!(v["summary"]["create"], json!(6));
    assert_eq!(v["summary"]["blocked"], json!(1));
    assert_eq!(v["steps"][0]["id"], json!("validate"));
    insta::assert_snapshot!("plan_json", js);

    let dot = plan_dot(&plan);
    assert_dot_well_formed(&dot);
    insta::assert_snapshot!("plan_dot", dot);

    let mermaid = plan_mermaid(&plan);
    assert_mermaid_well_formed(&mermaid);
    insta::assert_snapshot!("plan_mermaid", mermaid);
}

#[test]
fn plan_no_changes() {
    let plan = finished_plan();
    assert!(plan.no_changes());
    let text = plan_text(&plan, false);
    assert!(text.contains("No changes."));
    assert!(!text.contains("Nothing was created"));
    insta::assert_snapshot!("plan_text_no_changes", text);
}

#[test]
fn plan_hostile_strings() {
    let mut plan = two_network_plan();
    plan.steps.push(step(
        "odd\"id\\/x",
        &["validate", "not-in-plan"],
        PlanChange::Drifted {
            reason: "tag \"owner\" <changed> #1 & \x1b[31mred".into(),
        },
        "line one\nline two",
        &[],
    ));
    let text = plan_text(&plan, false);
    assert!(!text.contains('\x1b'));
    assert!(text.contains("~ drifted: tag \"owner\""));
    assert_dot_well_formed(&plan_dot(&plan));
    assert_mermaid_well_formed(&plan_mermaid(&plan));
    assert!(serde_json::from_str::<Value>(&plan_json(&plan)).is_ok());
    // An empty plan renders without panicking.
    let empty = Plan {
        steps: Vec::new(),
        ..plan
    };
    assert!(plan_text(&empty, true).contains("No changes."));
}

fn rec(id: &str, status: StepStatus, attempt: u32, started: Option<u64>) -> StepRecord {
    StepRecord {
        run_id: "fb-20261124-a".into(),
        step_id: id.into(),
        status,
        attempt,
        retries: 0,
        started_at: started,
        updated_at: T0 + 30 * MIN,
        polls: 0,
        last_poll_at: None,
    }
}

fn ok() -> StepStatus {
    StepStatus::Succeeded { output: json!({}) }
}

/// A run mid-flight: vnet-a polling its registration, vnet-b retrying its VM after throttling.
fn live_run() -> (RunRecord, Vec<StepRecord>) {
    let run = RunRecord {
        id: "fb-20261124-a".into(),
        workflow: "failback".into(),
        definition_version: 1,
        input: json!({ "networks": ["vnet-a", "vnet-b"] }),
        state: RunState::Running,
        created_at: T0,
        updated_at: T0 + 31 * MIN,
        next_event_seq: 15,
        error: None,
        labels: BTreeMap::from([("spec".into(), "failback.toml".into())]),
        signals: vec![],
        wake_at: None,
    };
    let poll = StepStatus::Waiting {
        wake_at: T0 + 36 * MIN + 10_000,
        deadline: Some(T0 + 80 * MIN),
        poll_state: json!({ "operation": "https://management.azure.com/op/1" }),
        reason: WaitReason::Timer,
    };
    let retry = StepStatus::Waiting {
        wake_at: T0 + 33 * MIN,
        deadline: None,
        poll_state: json!({}),
        reason: WaitReason::Retry {
            reason: "429 TooManyRequests".into(),
        },
    };
    let steps = vec![
        rec("validate", ok(), 1, Some(T0)),
        rec("vnet-a/create-nic", ok(), 1, Some(T0 + MIN)),
        rec("vnet-a/create-vm", ok(), 1, Some(T0 + 2 * MIN)),
        rec("vnet-a/await-boot", ok(), 2, Some(T0 + 9 * MIN)),
        StepRecord {
            polls: 9,
            last_poll_at: Some(T0 + 31 * MIN + 10_000),
            ..rec("vnet-a/register", poll, 1, Some(T0 + 20 * MIN))
        },
        rec("vnet-b/create-nic", ok(), 1, Some(T0 + MIN)),
        rec("vnet-b/create-vm", retry, 2, Some(T0 + 2 * MIN)),
        rec("vnet-b/await-boot", StepStatus::Pending, 0, None),
        rec("vnet-b/register", StepStatus::Pending, 0, None),
        rec("await-failback", StepStatus::Pending, 0, None),
        rec("vnet-a/teardown", StepStatus::Pending, 0, None),
        rec("vnet-b/teardown", StepStatus::Pending, 0, None),
    ];
    (run, steps)
}

/// A run being cancelled with teardown after vnet-b's VM failed for good.
fn cancelled_run() -> (RunRecord, Vec<StepRecord>) {
    let (mut run, mut steps) = live_run();
    run.id = "fb-20261124-b".into();
    run.state = RunState::Cancelling;
    run.error = Some("vnet-b/create-vm: QuotaExceeded".into());
    run.signals = vec!["cancel".into()];
    let failed = StepStatus::Failed {
        error: StepErrorRecord {
            code: "QuotaExceeded".into(),
            message: "Operation could not be completed as it results in exceeding approved standardDSv3Family Cores quota.".into(),
            permanent: true,
        },
    };
    for s in &mut steps {
        s.run_id = run.id.clone();
        s.status = match s.step_id.as_str() {
            "vnet-a/create-vm" => StepStatus::Compensating { attempt: 1 },
            "vnet-a/create-nic" => StepStatus::Compensated,
            "vnet-b/create-nic" => StepStatus::Running {
                attempt: 2,
                poll_state: None,
                deadline: None,
            },
            "vnet-b/create-vm" => failed.clone(),
            "validate" => ok(),
            _ => StepStatus::Skipped,
        };
    }
    (run, steps)
}

#[test]
fn status_text_and_json() {
    let now = T0 + 32 * MIN;
    let (run, steps) = live_run();
    let text = run_status_text(&run, &steps, now, false);
    assert!(text.contains("wakes in 4m 10s (at 2026-11-24T12:36:10Z)"));
    assert!(text.contains("retries in 1m (at 2026-11-24T12:33:00Z) after: 429"));
    // A polled wait shows its polls, not an attempt per poll.
    assert!(
        text.contains("waiting       polling (9)  wakes in 4m 10s"),
        "{text}"
    );
    assert!(text.contains("last poll 50s ago"), "{text}");
    assert!(text.contains("vnet-a/await-boot  succeeded     attempt 2\n"));
    insta::assert_snapshot!("status_live", text);
    let (crun, csteps) = cancelled_run();
    insta::assert_snapshot!(
        "status_cancelled",
        run_status_text(&crun, &csteps, now, false)
    );

    let mut waiting = run.clone();
    waiting.state = RunState::Waiting;
    waiting.wake_at = Some(T0 + 36 * MIN + 10_000);
    let table = runs_table(&[(&run).into(), (&waiting).into(), (&crun).into()], now);
    insta::assert_snapshot!("runs_table", table);

    let js = run_status_json(&crun, &csteps);
    assert!(serde_json::from_str::<Value>(&js).is_ok());
    insta::assert_snapshot!("status_json", js);
    assert!(serde_json::from_str::<Value>(&runs_json(&[(&run).into(), (&crun).into()])).is_ok());
}

fn events() -> Vec<EventRecord> {
    let ev = |seq: u64, at: u64, step: Option<&str>, kind: EventKind| EventRecord {
        run_id: "fb-20261124-a".into(),
        seq,
        at,
        step_id: step.map(String::from),
        kind,
        by: None,
        request: None,
    };
    let a = Some("vnet-a/create-vm");
    vec![
        ev(0, T0, None, EventKind::RunCreated),
        ev(
            1,
            T0,
            Some("validate"),
            EventKind::StepStarted { attempt: 1 },
        ),
        ev(
            2,
            T0 + 20_000,
            Some("validate"),
            EventKind::StepSucceeded { attempt: 1 },
        ),
        ev(3, T0 + MIN, a, EventKind::StepStarted { attempt: 1 }),
        ev(
            4,
            T0 + MIN + 900,
            a,
            EventKind::StepRetryScheduled {
                attempt: 1,
                wake_at: T0 + 2 * MIN,
                reason: "429 TooManyRequests (Retry-After: 59)".into(),
            },
        ),
        ev(5, T0 + 2 * MIN, a, EventKind::StepStarted { attempt: 2 }),
        ev(
            6,
            T0 + 2 * MIN + 500,
            a,
            EventKind::StepWaiting {
                attempt: 2,
                wake_at: T0 + 4 * MIN + 5_000,
            },
        ),
        ev(
            7,
            T0 + 2 * MIN + 500,
            None,
            EventKind::RunWaiting {
                wake_at: T0 + 4 * MIN + 5_000,
            },
        ),
        ev(
            8,
            T0 + 4 * MIN + 5_000,
            a,
            EventKind::StepFailed {
                attempt: 3,
                code: "QuotaExceeded".into(),
                message: "exceeding approved\nstandardDSv3Family Cores quota".into(),
            },
        ),
        ev(
            9,
            T0 + 4 * MIN + 5_000,
            None,
            EventKind::RunFailed {
                step_id: "vnet-a/create-vm".into(),
                message: "QuotaExceeded".into(),
            },
        ),
        ev(
            10,
            T0 + 30 * MIN,
            None,
            EventKind::RunRetried {
                from: Some("vnet-a/create-vm".into()),
            },
        ),
        ev(11, T0 + 30 * MIN, a, EventKind::StepReset),
        ev(
            12,
            T0 + 40 * MIN,
            None,
            EventKind::Signal {
                name: "failback-complete".into(),
            },
        ),
        ev(
            13,
            T0 + 41 * MIN,
            None,
            EventKind::RunCancelRequested { compensate: true },
        ),
        ev(
            14,
            T0 + 41 * MIN,
            a,
            EventKind::StepCompensating { attempt: 1 },
        ),
        ev(15, T0 + 42 * MIN, a, EventKind::StepCompensated),
        ev(
            16,
            T0 + 42 * MIN,
            Some("vnet-a/await-boot"),
            EventKind::StepSkipped,
        ),
        ev(
            17,
            T0 + 86_400_000,
            None,
            EventKind::RunWaiting {
                wake_at: T0 + 2 * 86_400_000,
            },
        ),
        ev(18, T0 + 86_400_000, None, EventKind::RunPaused),
        ev(19, T0 + 86_400_000, None, EventKind::RunResumed),
        ev(20, T0 + 86_400_000, None, EventKind::RunCancelled),
        ev(21, T0 + 86_400_000, None, EventKind::RunSucceeded),
    ]
}

#[test]
fn history() {
    let evs = events();
    let text = history_text(&evs);
    assert!(text.contains("step vnet-a/create-vm waiting until 12:04:05 (attempt 2)"));
    insta::assert_snapshot!("history_text", text);
    let js = history_json(&evs[..6]);
    assert!(serde_json::from_str::<Value>(&js).is_ok());
    insta::assert_snapshot!("history_json", js);
    assert_eq!(history_text(&[]), "No events.\n");
}

#[test]
fn live_graph() {
    let plan = two_network_plan();
    let edges = plan_edges(&plan);
    let (_, steps) = live_run();
    let dot = graph_dot(&steps, &edges);
    assert_dot_well_formed(&dot);
    insta::assert_snapshot!("graph_live_dot", dot);
    let (_, csteps) = cancelled_run();
    let mermaid = graph_mermaid(&csteps, &edges);
    assert_mermaid_well_formed(&mermaid);
    insta::assert_snapshot!("graph_cancelled_mermaid", mermaid);
    // Edges naming steps without records still yield declared nodes.
    let partial = graph_mermaid(&csteps[..3], &edges);
    assert_mermaid_well_formed(&partial);
    assert_dot_well_formed(&graph_dot(&csteps[..3], &edges));
}

/// A DOT graph's layout: its groups in drawing order (cluster label, or `None` for top-level
/// nodes) with their node ids, and its edges.
type Layout = (
    Vec<(Option<String>, Vec<String>)>,
    BTreeSet<(String, String)>,
);

fn first_quoted(s: &str) -> String {
    s.trim()
        .trim_start_matches('"')
        .split('"')
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn dot_layout(dot: &str) -> Layout {
    let (mut groups, mut edges) = (Vec::new(), BTreeSet::new());
    let mut cluster: Option<(Option<String>, Vec<String>)> = None;
    for line in dot.lines() {
        let t = line.trim();
        if t.starts_with("subgraph ") {
            cluster = Some((None, Vec::new()));
        } else if let Some(label) = t.strip_prefix("label=") {
            if let Some(c) = cluster.as_mut() {
                c.0 = Some(first_quoted(label));
            }
        } else if t == "}" {
            groups.extend(cluster.take());
        } else if let Some((a, b)) = t.split_once(" -> ") {
            edges.insert((first_quoted(a), first_quoted(b)));
        } else if t.contains(" [label=") {
            let id = first_quoted(t);
            match cluster.as_mut() {
                Some(c) => c.1.push(id),
                None => groups.push((None, vec![id])),
            }
        }
    }
    (groups, edges)
}

/// The same for Mermaid, with node ids mapped back to step ids (a label's first line).
fn mermaid_layout(m: &str) -> Layout {
    let mut names = BTreeMap::new();
    let (mut groups, mut edges) = (Vec::new(), Vec::new());
    let mut sub: Option<(Option<String>, Vec<String>)> = None;
    for line in m.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("subgraph ") {
            let label = rest
                .split_once("[\"")
                .map(|(_, l)| l.trim_end_matches("\"]"));
            sub = Some((label.map(String::from), Vec::new()));
        } else if line == "end" {
            groups.extend(sub.take());
        } else if let Some((a, b)) = line.split_once(" --> ") {
            edges.push((a.to_owned(), b.to_owned()));
        } else if let Some((id, rest)) = line.split_once("[\"") {
            let step = rest.split("<br/>").next().unwrap_or_default().to_owned();
            names.insert(id.to_owned(), step.clone());
            match sub.as_mut() {
                Some(s) => s.1.push(step),
                None => groups.push((None, vec![step])),
            }
        }
    }
    let name = |n: &String| names.get(n).cloned().unwrap_or_default();
    let edges = edges.iter().map(|(a, b)| (name(a), name(b))).collect();
    (groups, edges)
}

/// Every edge runs from an earlier drawn node to a later one, and no teardown sits in a
/// cluster with a create step.
fn assert_layered(layout: &Layout) {
    let (groups, edges) = layout;
    let order: Vec<&String> = groups.iter().flat_map(|(_, ids)| ids).collect();
    let pos = |id: &String| order.iter().position(|o| *o == id);
    for (a, b) in edges {
        assert!(pos(a) < pos(b), "edge {a} -> {b} runs upward: {order:?}");
    }
    for (_, ids) in groups {
        let teardown = ids.iter().any(|i| i.ends_with("/teardown"));
        let create = ids.iter().any(|i| i.contains("/create-"));
        assert!(
            !(teardown && create),
            "teardown drawn with creates: {ids:?}"
        );
    }
}

/// A run's records come from the store sorted by step id; the run graph still draws like the
/// plan's: same groups, same nodes in the same order, same edges, teardown below
/// `await-failback`.
#[test]
fn run_graph_has_the_plan_layout() {
    let plan = two_network_plan();
    let edges = plan_edges(&plan);
    let (_, mut steps) = live_run();
    steps.sort_by(|a, b| a.step_id.cmp(&b.step_id));
    let dot = graph_dot(&steps, &edges);
    assert_dot_well_formed(&dot);
    let run_dot = dot_layout(&dot);
    assert_layered(&run_dot);
    assert_eq!(run_dot, dot_layout(&plan_dot(&plan)));
    let last: Vec<&Option<String>> = run_dot.0.iter().rev().take(3).map(|g| &g.0).collect();
    assert_eq!(
        last,
        [
            &Some("vnet-b".to_owned()),
            &Some("vnet-a".to_owned()),
            &None
        ],
        "{dot}"
    );
    insta::assert_snapshot!("graph_run_dot_store_order", dot);

    let mermaid = graph_mermaid(&steps, &edges);
    assert_mermaid_well_formed(&mermaid);
    let run_mermaid = mermaid_layout(&mermaid);
    assert_layered(&run_mermaid);
    assert_eq!(run_mermaid, mermaid_layout(&plan_mermaid(&plan)));
    assert_eq!(run_mermaid, run_dot);
    insta::assert_snapshot!("graph_run_mermaid_store_order", mermaid);
    // Node ids agree with the plan's: n0 is `validate` in both.
    let ids = |m: &str| -> Vec<String> {
        m.lines()
            .filter_map(|l| {
                l.trim()
                    .split_once("[\"")
                    .map(|(i, r)| format!("{i} {}", &r[..r.find("<br/>").unwrap_or(0)]))
            })
            .filter(|l| !l.starts_with("subgraph"))
            .collect()
    };
    assert_eq!(ids(&mermaid), ids(&plan_mermaid(&plan)));
}

/// The step ids of a status view's step lines, in order.
fn listed_steps(text: &str) -> Vec<String> {
    text.split_once("\nSteps (")
        .map(|(_, steps)| steps)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

/// Attempts as a driven run has them: none for a pending step, at least one otherwise.
fn settle_attempts(steps: &mut [StepRecord]) {
    for s in steps {
        s.attempt = match s.status {
            StepStatus::Pending => 0,
            _ => s.attempt.max(1),
        };
    }
}

/// The steps as the store returns them (sorted by id), for `run_status_view` to reorder.
fn store_order(mut steps: Vec<StepRecord>) -> Vec<StepRecord> {
    steps.sort_by(|a, b| a.step_id.cmp(&b.step_id));
    steps
}

fn waiting_on_failback() -> (RunRecord, Vec<StepRecord>) {
    let (mut run, mut steps) = live_run();
    run.state = RunState::Waiting;
    run.wake_at = Some(T0 + 95 * MIN);
    for s in &mut steps {
        s.polls = 0;
        s.last_poll_at = None;
        s.status = match s.step_id.as_str() {
            "await-failback" => StepStatus::Waiting {
                wake_at: T0 + 95 * MIN,
                deadline: Some(T0 + 14 * 24 * 60 * MIN),
                poll_state: json!({ "pending": ["vm-app-01", "vm-db-01"] }),
                reason: WaitReason::Timer,
            },
            id if id.ends_with("/teardown") => StepStatus::Pending,
            _ => ok(),
        };
    }
    settle_attempts(&mut steps);
    (run, steps)
}

fn failed_run() -> (RunRecord, Vec<StepRecord>) {
    let (mut run, mut steps) = cancelled_run();
    run.state = RunState::Failed;
    run.signals = vec![];
    for s in &mut steps {
        s.status = match (s.step_id.as_str(), &s.status) {
            ("vnet-b/create-vm", st) => st.clone(),
            ("validate" | "vnet-a/create-nic" | "vnet-b/create-nic", _) => ok(),
            ("vnet-a/create-vm", _) => ok(),
            _ => StepStatus::Pending,
        };
    }
    settle_attempts(&mut steps);
    (run, steps)
}

fn succeeded_run() -> (RunRecord, Vec<StepRecord>) {
    let (mut run, mut steps) = live_run();
    run.state = RunState::Succeeded;
    run.signals = vec!["failback-complete".into()];
    for s in &mut steps {
        s.polls = 0;
        s.last_poll_at = None;
        s.status = match s.step_id.split_once('/') {
            Some((net, "teardown")) => StepStatus::Succeeded {
                output: json!({
                    "deleted": [format!("vm ps-{net}")],
                    "note": format!("remove process server PS-{net} from the configuration server"),
                }),
            },
            _ => ok(),
        };
    }
    settle_attempts(&mut steps);
    (run, steps)
}

/// The text status view lists steps in dependency order (whatever order the store gave) and
/// says what the operator should do next and what the run waits on.
#[test]
fn status_view_in_dag_order_with_next_action() {
    let now = T0 + 32 * MIN;
    let edges = plan_edges(&two_network_plan());
    let expected: Vec<String> = live_run().1.into_iter().map(|s| s.step_id).collect();
    let view = |(run, steps): (RunRecord, Vec<StepRecord>)| {
        let steps = store_order(steps);
        let text = run_status_view(&run, &steps, &edges, now, false);
        assert_eq!(listed_steps(&text), expected, "{text}");
        assert!(run_status_view(&run, &steps, &edges, now, true).contains("\x1b["));
        text
    };

    let running = view(live_run());
    assert!(
        running.contains("Next      nothing: the run is in progress; if no"),
        "{running}"
    );
    assert!(
        running.contains("`failback resume fb-20261124-a`"),
        "{running}"
    );
    assert!(!running.contains("Awaiting"), "{running}");
    insta::assert_snapshot!("status_view_running", running);

    let waiting = view(waiting_on_failback());
    assert!(waiting.contains("Next      wait for failback"), "{waiting}");
    assert!(
        waiting.contains("run `failback signal fb-20261124-a failback-complete`"),
        "{waiting}"
    );
    assert!(
        waiting.contains("Awaiting  2 protected items to fail back: vm-app-01, vm-db-01 (next check in 1h 3m, deadline in 13d 23h)"),
        "{waiting}"
    );
    insta::assert_snapshot!("status_view_waiting_on_failback", waiting);
    let (run, steps) = waiting_on_failback();
    let overdue = run_status_view(&run, &steps, &edges, T0 + 96 * MIN, false);
    assert!(
        overdue.contains("vm-db-01 (next check due now, deadline in"),
        "{overdue}"
    );

    let failed = view(failed_run());
    assert!(
        failed
            .contains("Next      fix the cause (Error above), then `failback retry fb-20261124-b`"),
        "{failed}"
    );
    insta::assert_snapshot!("status_view_failed", failed);

    let succeeded = view(succeeded_run());
    assert!(
        succeeded.contains("Next      do the manual steps below; then nothing: the run succeeded")
    );
    assert!(succeeded.contains(
        "Manual    vnet-a/teardown: remove process server PS-vnet-a from the configuration server\n"
    ));
    insta::assert_snapshot!("status_view_succeeded", succeeded);
}
