//! Supported api-versions per provider area and cloud: the one place they are listed.
//!
//! Each list holds stable versions ARM serves for the operations the emulator emulates, including
//! the version today's official SDKs send by default. Checked 2026-12-05 against
//! azure-mgmt-compute 39.0.0 (virtual machines, run commands, usages: 2026-04-01; disks:
//! 2026-03-02; resource SKUs: 2021-07-01), azure-mgmt-network 33.1.0 (network interfaces, virtual
//! networks, subnets: 2026-03-01) and azure-mgmt-recoveryservicessiterecovery 2.0.0 (2025-08-01).
//!
//! To refresh: bump the pins in `sim/sdk-conformance/requirements.txt` to the current SDK releases,
//! run `sim/sdk-conformance/setup.sh` (the venv is `sim/sdk-conformance/.venv`), and print each
//! operation group's default:
//!
//! ```text
//! cd "$VENV"/lib/python3*/site-packages/azure/mgmt
//! for p in compute network; do
//!   awk '/^class .*Operations/{c=$2} /_params.pop\("api-version", "/{match($0,/"[0-9][0-9a-z-]*"\)/);
//!        print c, substr($0,RSTART,RLENGTH)}' $p/operations/_operations.py | sort -u
//! done
//! grep -m1 'kwargs.pop("api_version"' recoveryservicessiterecovery/_configuration.py  # one for all
//! ```
//!
//! and add, for the groups emulated (VirtualMachines, VirtualMachineRunCommands, Usage, Disks,
//! ResourceSkus, NetworkInterfaces, VirtualNetworks, Subnets, Replication*), any version not
//! listed. A version not in a list (unknown, or future) gets ARM's `NoRegisteredProviderFound`.

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
    "2026-04-01",
];
const SKUS: &[&str] = &["2017-09-01", "2019-04-01", "2021-07-01"];
const DISKS: &[&str] = &[
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
    "2025-01-02",
    "2026-03-02",
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
    "2026-03-01",
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults of the SDKs named in the module docs, per area.
    const SDK_DEFAULTS: &[(Area, &str)] = &[
        (Area::Compute, "2026-04-01"),
        (Area::Disks, "2026-03-02"),
        (Area::Skus, "2021-07-01"),
        (Area::Network, "2026-03-01"),
        (Area::RecoveryServices, "2025-08-01"),
    ];

    #[test]
    fn current_sdk_defaults_are_accepted_and_future_versions_are_not() {
        let s = Scenario::default_two_networks();
        for (area, v) in SDK_DEFAULTS {
            assert!(check(&s, *area, Some(v), "t").is_ok(), "{area:?} {v}");
            let e = check(&s, *area, Some("2099-01-01"), "t").unwrap_err();
            assert_eq!(e.code, "NoRegisteredProviderFound");
        }
    }
}
