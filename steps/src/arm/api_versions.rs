//! Api-versions, pinned per operation family in one place (REFERENCE.md section 0).
//! Sovereign clouds lag behind; every value can be overridden.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersions {
    pub skus: String,
    pub compute: String,
    pub disks: String,
    pub network: String,
    pub site_recovery: String,
}

impl Default for ApiVersions {
    fn default() -> Self {
        Self {
            skus: "2021-07-01".into(),
            compute: "2024-11-01".into(),
            disks: "2025-01-02".into(),
            network: "2024-05-01".into(),
            site_recovery: "2025-08-01".into(),
        }
    }
}
