//! Supported api-versions per provider area and cloud.

use crate::envelope::ArmError;
use crate::router::Area;
use crate::scenario::Scenario;

const COMPUTE: &[&str] = &[
    "2021-03-01",
    "2021-04-01",
    "2021-07-01",
    "2021-11-01",
    "2022-03-01",
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-03-01",
];
const SKUS: &[&str] = &["2017-09-01", "2019-04-01", "2021-07-01"];
const DISKS: &[&str] = &[
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
    "2025-01-02",
];
const NETWORK: &[&str] = &[
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
    "2024-07-01",
    "2024-10-01",
    "2025-01-01",
    "2025-03-01",
    "2025-05-01",
    "2025-07-01",
    "2025-09-01",
];
const ASR: &[&str] = &[
    "2023-08-01",
    "2024-01-01",
    "2024-02-01",
    "2024-04-01",
    "2024-10-01",
    "2025-01-01",
    "2025-02-01",
    "2025-08-01",
    "2026-01-01",
    "2026-02-01",
    "2026-05-01",
];
const RESOURCES: &[&str] = &[
    "2020-01-01",
    "2021-04-01",
    "2022-09-01",
    "2022-12-01",
    "2024-03-01",
    "2024-07-01",
];

pub fn area_key(a: Area) -> &'static str {
    match a {
        Area::Resources => "resources",
        Area::Skus => "skus",
        Area::Compute => "compute",
        Area::Disks => "disks",
        Area::Network => "network",
        Area::RecoveryServices => "recoveryservices",
    }
}

pub fn supported(s: &Scenario, a: Area) -> Vec<String> {
    if let Some(v) = s.api_versions.get(area_key(a)) {
        return v.clone();
    }
    let base = match a {
        Area::Resources => RESOURCES,
        Area::Skus => SKUS,
        Area::Compute => COMPUTE,
        Area::Disks => DISKS,
        Area::Network => NETWORK,
        Area::RecoveryServices => ASR,
    };
    // Sovereign clouds get new versions late: cut the newest.
    let cutoff = match s.cloud.to_ascii_lowercase().as_str() {
        "china" | "azurechinacloud" | "usgov" | "azureusgovernment" => "2025-01-02",
        _ => "9999",
    };
    base.iter()
        .filter(|v| **v <= cutoff)
        .map(|v| v.to_string())
        .collect()
}

pub fn check(s: &Scenario, a: Area, given: Option<&str>, type_name: &str) -> Result<(), ArmError> {
    let Some(v) = given.filter(|v| !v.is_empty()) else {
        return Err(ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ));
    };
    let list = supported(s, a);
    // Preview suffixes are accepted if their date is known.
    let date = v.split('-').take(3).collect::<Vec<_>>().join("-");
    if list.iter().any(|x| x == v || *x == date) {
        return Ok(());
    }
    Err(ArmError::bad_request(
        "NoRegisteredProviderFound",
        format!(
            "No registered resource provider found for location 'global' and API version '{v}' for type '{type_name}'. The supported api-versions are '{}'.",
            list.join(", ")
        ),
    ))
}
