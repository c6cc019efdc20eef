//! Azure clouds: where to get tokens and where ARM lives.

use url::Url;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloud {
    pub name: String,
    pub authority_host: Url,
    pub resource_manager: Url,
}

fn url(s: &str) -> Url {
    // Constant, known-good URLs.
    Url::parse(s).expect("built-in cloud URL")
}

impl Cloud {
    pub fn public() -> Self {
        Self {
            name: "AzureCloud".into(),
            authority_host: url("https://login.microsoftonline.com"),
            resource_manager: url("https://management.azure.com"),
        }
    }
    pub fn china() -> Self {
        Self {
            name: "AzureChinaCloud".into(),
            authority_host: url("https://login.chinacloudapi.cn"),
            resource_manager: url("https://management.chinacloudapi.cn"),
        }
    }
    pub fn us_gov() -> Self {
        Self {
            name: "AzureUSGovernment".into(),
            authority_host: url("https://login.microsoftonline.us"),
            resource_manager: url("https://management.usgovcloudapi.net"),
        }
    }
    pub fn custom(authority_host: Url, resource_manager: Url) -> Self {
        Self {
            name: "Custom".into(),
            authority_host,
            resource_manager,
        }
    }
    /// The token scope for ARM in this cloud.
    pub fn arm_scope(&self) -> String {
        let mut s = self
            .resource_manager
            .as_str()
            .trim_end_matches('/')
            .to_owned();
        s.push_str("/.default");
        s
    }
}
