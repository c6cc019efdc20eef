//! Bounded names for metrics: an ARM request's operation (method and resource type, never a
//! resource name) and its status class.

use reqwest::Method;
use url::Url;

/// The `operation` of an LRO status or result read, whichever provider serves it.
pub const OPERATION_STATUS: &str = "operationStatus";

/// Path segments naming an operation record (`…/operations/{id}`, `…/operationResults/{id}`).
const STATUS_SEGMENTS: [&str; 4] = [
    "operations",
    "operationresults",
    "operationstatuses",
    "asyncoperations",
];

/// `METHOD type`: the method and the last resource type of the URL's path, with a trailing
/// action or child collection (`virtualMachines/instanceView`, `skus`), so that one label
/// value stands for one kind of call whatever resource it touched. Names (odd positions
/// after each type) are dropped; a trailing segment that is not plain letters (a Key Vault
/// secret version, an id) is dropped too.
pub fn operation_name(method: &Method, url: &Url) -> String {
    let segments: Vec<&str> = url
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| s.split('&').next().unwrap_or(s))
        .collect();
    if segments
        .iter()
        .any(|s| STATUS_SEGMENTS.contains(&s.to_ascii_lowercase().as_str()))
    {
        return format!("{method} {OPERATION_STATUS}");
    }
    format!("{method} {}", resource_type(&segments))
}

/// The last `type` of `type/name` pairs (after `providers/{namespace}`), plus a trailing
/// plain-word segment.
fn resource_type(segments: &[&str]) -> String {
    let mut last_type: Option<&str> = None;
    let mut i = 0;
    while i < segments.len() {
        if segments[i].eq_ignore_ascii_case("providers") {
            // A collection right after the namespace is a type of its own
            // (`…/Microsoft.Compute/skus`).
            last_type = None;
            i += 2;
            continue;
        }
        if i + 1 < segments.len() {
            last_type = Some(segments[i]);
            i += 2;
        } else {
            let tail = segments[i];
            let plain = !tail.is_empty() && tail.chars().all(|c| c.is_ascii_alphabetic());
            return match (last_type, plain) {
                (Some(t), true) => format!("{t}/{tail}"),
                (None, true) => tail.to_owned(),
                (Some(t), false) => t.to_owned(),
                (None, false) => "other".to_owned(),
            };
        }
    }
    last_type.unwrap_or("other").to_owned()
}

/// `2xx`, `4xx`, `5xx` (any hundred), with 429 apart: throttling is not a client error to
/// alert on like the others.
pub fn code_class(status: u16) -> String {
    if status == 429 {
        "429".to_owned()
    } else {
        format!("{}xx", status / 100)
    }
}

/// The `code` of a request that got no HTTP response.
pub const NO_RESPONSE: &str = "error";

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: Method, url: &str) -> String {
        operation_name(&method, &Url::parse(url).expect("url"))
    }

    #[test]
    fn names_are_bounded_by_resource_type() {
        let base = "https://arm.test/subscriptions/s1/resourceGroups/rg";
        let vm = format!("{base}/providers/Microsoft.Compute/virtualMachines/vm-a?api-version=1");
        assert_eq!(op(Method::PUT, &vm), "PUT virtualMachines");
        let other = vm.replace("vm-a", "vm-b");
        assert_eq!(op(Method::PUT, &other), op(Method::PUT, &vm));
        let iv = format!("{base}/providers/Microsoft.Compute/virtualMachines/vm-a/instanceView");
        assert_eq!(op(Method::GET, &iv), "GET virtualMachines/instanceView");
        let subnet = format!(
            "{base}/providers/Microsoft.Network/virtualNetworks/v/subnets/default?api-version=1"
        );
        assert_eq!(op(Method::GET, &subnet), "GET subnets");
        let skus = "https://arm.test/subscriptions/s1/providers/Microsoft.Compute/skus?x=1";
        assert_eq!(op(Method::GET, skus), "GET skus");
        assert_eq!(
            op(
                Method::GET,
                "https://arm.test/subscriptions/s1/resourceGroups/rg"
            ),
            "GET resourceGroups"
        );
        let secret = "https://kv.vault.test/secrets/cs-pass/0123abcd";
        assert_eq!(op(Method::GET, secret), "GET secrets");
    }

    #[test]
    fn operation_records_are_one_name() {
        for url in [
            "https://arm.test/subscriptions/s/providers/Microsoft.Network/locations/we/operations/abc?api-version=1",
            "https://arm.test/subscriptions/s/providers/Microsoft.Compute/locations/we/operations/abc&monitor=true&api-version=1",
            "https://arm.test/subscriptions/s/resourceGroups/r/providers/Microsoft.Network/networkInterfaces/n/operationResults/x",
        ] {
            assert_eq!(op(Method::GET, url), "GET operationStatus", "{url}");
        }
    }

    #[test]
    fn classes() {
        assert_eq!(code_class(200), "2xx");
        assert_eq!(code_class(204), "2xx");
        assert_eq!(code_class(404), "4xx");
        assert_eq!(code_class(429), "429");
        assert_eq!(code_class(503), "5xx");
    }
}
