//! Replication protected items as the steps judge them (REFERENCE.md §8.2, §8.5): which spec
//! name names which item, whether a failback can start from it, and whether it is done. Judged
//! from `activeLocation`, `allowedOperations` and the provider, never from `protectionState`.

use super::common::str_at;
use serde_json::Value;

/// The item's ARM name and its friendly name.
pub fn names(item: &Value) -> [&str; 2] {
    [
        str_at(item, "/name").unwrap_or(""),
        str_at(item, "/properties/friendlyName").unwrap_or(""),
    ]
}

/// A spec entry names the item by its name or friendly name; ARM names compare
/// case-insensitively, and so does this.
pub fn named(item: &Value, wanted: &str) -> bool {
    names(item)
        .iter()
        .any(|n| !n.is_empty() && n.eq_ignore_ascii_case(wanted))
}

fn allowed(item: &Value) -> Vec<&str> {
    item.pointer("/properties/allowedOperations")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn provider(item: &Value) -> &str {
    str_at(item, "/properties/providerSpecificDetails/instanceType").unwrap_or("")
}

fn active(item: &Value) -> &str {
    str_at(item, "/properties/activeLocation").unwrap_or("")
}

/// Back on-premises and committed, with no job running on it — after a failback (the
/// `InMage` provider of an Azure → VMware reprotect), not an item that never left.
pub fn failed_back(item: &Value) -> bool {
    let scenario = str_at(item, "/properties/currentScenario/scenarioName").unwrap_or("None");
    active(item).eq_ignore_ascii_case("Primary")
        && !provider(item).eq_ignore_ascii_case("InMageAzureV2")
        && !allowed(item).contains(&"Commit")
        && scenario == "None"
}

/// Why a failback cannot start from this item (called `name` in the message), with the fix;
/// `None` when it can (failed over and committed, reprotected, or failing back already).
pub fn not_eligible(item: &Value, name: &str) -> Option<(&'static str, String, String)> {
    let from_azure_side = provider(item).eq_ignore_ascii_case("InMageAzureV2");
    if from_azure_side && active(item).eq_ignore_ascii_case("Primary") {
        return Some((
            "ProtectedItemNotFailedOver",
            format!(
                "protected item {name} is not failed over: it runs on-premises and replicates to \
                 Azure (activeLocation Primary), so there is nothing to fail back"
            ),
            format!("remove {name} from [failback] protected_items"),
        ));
    }
    if from_azure_side && allowed(item).contains(&"Commit") {
        return Some((
            "ProtectedItemFailoverNotCommitted",
            format!(
                "protected item {name} failed over to Azure but the failover is not committed; \
                 reprotect (the start of failback) needs a committed failover"
            ),
            format!("commit the failover of {name} in Site Recovery (Commit), then plan again"),
        ));
    }
    None
}
