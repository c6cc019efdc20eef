//! Known Azure region short names (the `location` values ARM uses), per cloud. A typo in a
//! region would otherwise surface only when the first ARM call fails, after a run exists.
//! Add new regions here as Azure opens them.

use super::model::Cloud;

/// Public cloud (AzureCloud), including EUAP canary regions.
pub const PUBLIC: &[&str] = &[
    "australiacentral",
    "australiacentral2",
    "australiaeast",
    "australiasoutheast",
    "austriaeast",
    "belgiumcentral",
    "brazilsouth",
    "brazilsoutheast",
    "canadacentral",
    "canadaeast",
    "centralindia",
    "centralus",
    "centraluseuap",
    "chilecentral",
    "denmarkeast",
    "eastasia",
    "eastus",
    "eastus2",
    "eastus2euap",
    "francecentral",
    "francesouth",
    "germanynorth",
    "germanywestcentral",
    "indonesiacentral",
    "israelcentral",
    "italynorth",
    "japaneast",
    "japanwest",
    "jioindiacentral",
    "jioindiawest",
    "koreacentral",
    "koreasouth",
    "malaysiawest",
    "mexicocentral",
    "newzealandnorth",
    "northcentralus",
    "northeurope",
    "norwayeast",
    "norwaywest",
    "polandcentral",
    "qatarcentral",
    "southafricanorth",
    "southafricawest",
    "southcentralus",
    "southeastasia",
    "southindia",
    "spaincentral",
    "swedencentral",
    "swedensouth",
    "switzerlandnorth",
    "switzerlandwest",
    "taiwannorth",
    "taiwannorthwest",
    "uaecentral",
    "uaenorth",
    "uksouth",
    "ukwest",
    "westcentralus",
    "westeurope",
    "westindia",
    "westus",
    "westus2",
    "westus3",
];

/// Azure operated by 21Vianet (AzureChinaCloud).
pub const CHINA: &[&str] = &[
    "chinaeast",
    "chinaeast2",
    "chinaeast3",
    "chinanorth",
    "chinanorth2",
    "chinanorth3",
];

/// Azure Government (AzureUSGovernment), including DoD regions.
pub const USGOV: &[&str] = &[
    "usdodcentral",
    "usdodeast",
    "usgovarizona",
    "usgoviowa",
    "usgovtexas",
    "usgovvirginia",
];

/// The cloud a region belongs to, if the name is known.
pub fn cloud_of(region: &str) -> Option<Cloud> {
    if PUBLIC.contains(&region) {
        Some(Cloud::Public)
    } else if CHINA.contains(&region) {
        Some(Cloud::China)
    } else if USGOV.contains(&region) {
        Some(Cloud::UsGov)
    } else {
        None
    }
}

/// Checks `region` for `cloud`; a custom cloud (an emulator or a private stack) accepts any
/// known region. The error says what is allowed.
pub fn check(region: &str, cloud: Cloud) -> Result<(), String> {
    let lower = region.to_ascii_lowercase();
    if lower != region || region.contains(' ') {
        let fixed: String = lower.chars().filter(|c| *c != ' ').collect();
        if cloud_of(&fixed).is_some() {
            return Err(format!(
                "{region:?}: use the short lowercase region name {fixed:?}"
            ));
        }
    }
    match (cloud_of(region), cloud) {
        (Some(_), Cloud::Custom) => Ok(()),
        (Some(found), wanted) if found == wanted => Ok(()),
        (Some(found), wanted) => Err(format!(
            "region {region:?} belongs to the {} cloud, but azure.cloud is {:?}",
            name(found),
            name(wanted)
        )),
        (None, _) => {
            let all = PUBLIC.iter().chain(CHINA).chain(USGOV).copied();
            let hint = super::rules::closest(region, all)
                .map(|c| format!(" (did you mean {c:?}?)"))
                .unwrap_or_default();
            Err(format!(
                "unknown Azure region {region:?}{hint}; expected a short region name such as \"westeurope\" (see docs/spec.md for the list)"
            ))
        }
    }
}

fn name(c: Cloud) -> &'static str {
    match c {
        Cloud::Public => "public",
        Cloud::China => "china",
        Cloud::UsGov => "usgov",
        Cloud::Custom => "custom",
    }
}
