//! `failback retry RUN --spec FILE`: the difference between a run's stored input (its spec
//! snapshot) and a spec file, as an amendment of what has not succeeded yet. Only the wait for
//! failback may change (which protected items, how often to poll, the deadline); a change to
//! what identifies a resource the run creates (a network's name, vnet, subnet, resource group,
//! region or IP, the VM name prefix) or to anything else is refused, naming the field and why.

use anyhow::{anyhow, bail, Result};
use failback_engine::Amendment;
use failback_state::{RunRecord, RunState};
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

/// How a field absent on one side is shown.
const NONE: &str = "(none)";

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
    let show = |v: Option<&Value>| v.map_or(NONE.to_owned(), Value::to_string);
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
    let whole_network = net
        .is_some_and(|(i, _)| i >= old.networks.len() || change.old == NONE || change.new == NONE);
    Some(match net {
        Some(_) if whole_network => {
            "it adds or removes a network: the run's steps would change; start a new run".to_owned()
        }
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
    if run.state != RunState::Failed {
        bail!(
            "run {} is {}; only a failed run can be retried and amended",
            run.id,
            run.state.as_str()
        );
    }
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
    crate::outln!(
        "Amending run {} with {} ({} change{}):",
        run.id,
        path.display(),
        changes.len(),
        if changes.len() == 1 { "" } else { "s" }
    );
    let mut refused = Vec::new();
    for c in &changes {
        match refusal(c, &old, &run.id) {
            None => crate::outln!("  ~ {c}"),
            Some(why) => {
                crate::outln!("  ! {c}  (refused: {why})");
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

#[cfg(test)]
mod tests {
    use super::*;
    use failback_workflows::spec;

    const SPEC: &str = r#"
[azure]
subscription_id = "00000000-0000-0000-0000-000000000001"
tenant_id = "00000000-0000-0000-0000-000000000002"
[azure.credential]
kind = "cli"
[site_recovery]
resource_group = "rg-asr"
vault = "vault-failback"
fabric = "cs-fabric"
[process_server]
admin_username = "failbackadmin"
admin_password = { env = "FB_AMEND_TEST_PASSWORD" }
[configuration_server]
ip = "10.0.0.10"
passphrase = { env = "FB_AMEND_TEST_PASSPHRASE" }
[[network]]
name = "vnet-a"
resource_group = "rg-network"
vnet = "vnet-a"
subnet = "default"
region = "westeurope"
private_ip = "10.1.0.10"
[failback]
protected_items = ["vm-app1", "vm-ap2"]
"#;

    fn parse(text: &str) -> Spec {
        std::env::set_var("FB_AMEND_TEST_PASSWORD", "Not-a-real-secret-9!");
        std::env::set_var("FB_AMEND_TEST_PASSPHRASE", "not-a-real-passphrase");
        spec::parse(text, "amend test").expect("spec")
    }

    /// The one change `from -> to` makes, and why it is refused (None: allowed).
    fn one(from: &str, to: &str) -> (String, Option<String>) {
        let old = parse(SPEC);
        assert!(SPEC.contains(from), "{from}");
        let new = parse(&SPEC.replace(from, to));
        let changes = diff(&old, &new);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let why = refusal(&changes[0], &old, "r1");
        (changes[0].to_string(), why)
    }

    #[test]
    fn the_failback_wait_may_change() {
        let (c, why) = one(r#""vm-ap2""#, r#""vm-app2""#);
        assert_eq!(
            c,
            r#"failback.protected_items: ["vm-app1","vm-ap2"] -> ["vm-app1","vm-app2"]"#
        );
        assert_eq!(why, None);
        let (c, why) = one("[failback]\n", "[failback]\npoll_interval = \"7m\"\n");
        assert!(c.starts_with("failback.poll_interval: "), "{c}");
        assert_eq!(why, None);
        let (c, why) = one("[failback]\n", "[failback]\ndeadline = \"23d\"\n");
        assert!(c.starts_with("failback.deadline: "), "{c}");
        assert_eq!(why, None);
    }

    #[test]
    fn identity_changes_are_refused_with_the_reason() {
        let (c, why) = one("10.1.0.10", "10.1.0.11");
        assert_eq!(c, r#"network[0].private_ip: "10.1.0.10" -> "10.1.0.11""#);
        let why = why.expect("refused");
        assert!(why.contains("changes the IP of NIC ps-vnet-a-"), "{why}");
        let (_, why) = one(r#"name = "vnet-a""#, r#"name = "vnet-x""#);
        assert!(why.expect("refused").contains("renames VM ps-vnet-a-"));
        let (_, why) = one(r#"subnet = "default""#, r#"subnet = "other""#);
        assert!(why.expect("refused").contains("to another network"));
        let (_, why) = one(
            "[process_server]\n",
            "[process_server]\nname_prefix = \"px\"\n",
        );
        assert!(why.expect("refused").contains("renames every VM and NIC"));
        let (c, why) = one(r#"vault = "vault-failback""#, r#"vault = "vault-other""#);
        assert!(c.starts_with("site_recovery.vault"), "{c}");
        assert!(why
            .expect("refused")
            .contains("cannot change on a started run"));
    }

    #[test]
    fn a_network_added_is_refused() {
        let old = parse(SPEC);
        let extra = SPEC.replace(
            "[failback]",
            "[[network]]\nname = \"vnet-b\"\nresource_group = \"rg-network\"\nvnet = \"vnet-b\"\nsubnet = \"default\"\nregion = \"westeurope\"\nprivate_ip = \"10.2.0.10\"\n[failback]",
        );
        let new = parse(&extra);
        let changes = diff(&old, &new);
        assert!(!changes.is_empty());
        assert!(changes.iter().all(
            |c| refusal(c, &old, "r1").is_some_and(|w| w.contains("adds or removes a network"))
        ));
    }
}
