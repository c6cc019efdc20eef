//! `failback retry RUN --spec FILE`: the difference between a run's stored input (its spec
//! snapshot) and a spec file, as an amendment of what has not succeeded yet. Only the wait for
//! failback may change (which protected items, how often to poll, the deadline); a change to
//! what identifies a resource the run creates (a network's name, vnet, subnet, resource group,
//! region or IP, the VM name prefix) or to anything else is refused, naming the field and why.

use anyhow::{anyhow, bail, Result};
use failback_engine::Amendment;
use failback_state::RunRecord;
use failback_workflows::failback::{run_input, spec_of};
use failback_workflows::spec::Spec;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Fields an amendment may change.
pub const AMENDABLE: [&str; 3] = [
    "failback.protected_items",
    "failback.poll_interval",
    "failback.deadline",
];

/// One changed field of the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: String,
    pub new: String,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} -> {}", self.path, self.old, self.new)
    }
}

/// Leaves of a JSON tree by path (`networks[0].private_ip`); arrays of plain values are leaves.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| flatten(&join(k), v, out)),
        Value::Array(a) if a.iter().any(|x| x.is_object() || x.is_array()) => {
            for (i, x) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), x, out);
            }
        }
        _ => {
            out.insert(prefix.to_owned(), v.clone());
        }
    }
}

/// The fields that differ between two specs, in path order.
pub fn diff(old: &Spec, new: &Spec) -> Vec<Change> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", &old.snapshot()["spec"], &mut a);
    flatten("", &new.snapshot()["spec"], &mut b);
    let show = |v: Option<&Value>| v.map_or("(none)".to_owned(), Value::to_string);
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| a.get(*p) != b.get(*p))
        .map(|p| Change {
            path: p.clone(),
            old: show(a.get(p)),
            new: show(b.get(p)),
        })
        .collect()
}

/// Why `change` may not be applied to run `run_id` of `old`, or None if it may.
pub fn refusal(change: &Change, old: &Spec, run_id: &str) -> Option<String> {
    if AMENDABLE.iter().any(|a| change.path == *a) {
        return None;
    }
    let net = change
        .path
        .strip_prefix("network[")
        .and_then(|r| r.split_once(']'))
        .and_then(|(i, rest)| Some((i.parse::<usize>().ok()?, rest.trim_start_matches('.'))));
    let vm = |i: usize| old.networks.get(i).map(|n| old.vm_name(run_id, n));
    let nic = |i: usize| old.networks.get(i).map(|n| old.nic_name(run_id, n));
    Some(match net {
        Some((i, "private_ip")) => format!(
            "it changes the IP of NIC {} that this run creates; start a new run",
            nic(i).unwrap_or_default()
        ),
        Some((i, "name")) => format!(
            "it renames VM {} and NIC {} that this run creates; start a new run",
            vm(i).unwrap_or_default(),
            nic(i).unwrap_or_default()
        ),
        Some((i, "resource_group" | "vnet" | "subnet" | "region" | "subnet_prefix")) => format!(
            "it moves VM {} and NIC {} that this run creates to another network; start a new run",
            vm(i).unwrap_or_default(),
            nic(i).unwrap_or_default()
        ),
        Some(_) => {
            "it adds or removes a network: the run's steps would change; start a new run".to_owned()
        }
        None if change.path == "process_server.name_prefix" => {
            "it renames every VM and NIC this run creates; start a new run".to_owned()
        }
        None => format!(
            "it cannot change on a started run (only {} can); start a new run",
            AMENDABLE.join(", ")
        ),
    })
}

/// The amendment of `run` by the spec in `path`, after printing the difference; an error
/// (nothing changed) if there is none or a change is refused.
pub fn amendment(run: &RunRecord, new: &Spec, path: &Path) -> Result<Amendment> {
    let old = spec_of(&run.input).map_err(|e| anyhow!("run {}: {e}", run.id))?;
    let changes = diff(&old, new);
    if changes.is_empty() {
        bail!(
            "{} does not differ from the input of run {}; nothing to amend (use `failback retry {}` without --spec)",
            path.display(),
            run.id,
            run.id
        );
    }
    println!(
        "Amending run {} with {} ({} change{}):",
        run.id,
        path.display(),
        changes.len(),
        if changes.len() == 1 { "" } else { "s" }
    );
    let mut refused = Vec::new();
    for c in &changes {
        match refusal(c, &old, &run.id) {
            None => println!("  ~ {c}"),
            Some(why) => {
                println!("  ! {c}  (refused: {why})");
                refused.push(format!("{}: {why}", c.path));
            }
        }
    }
    if !refused.is_empty() {
        bail!(
            "run {} not amended, nothing changed: {}",
            run.id,
            refused.join("; ")
        );
    }
    Ok(Amendment {
        input: run_input(new),
        changes: changes.iter().map(Change::to_string).collect(),
    })
}
