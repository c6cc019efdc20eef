//! Request context and case-insensitive route matching. Paths are matched lowercased; the
//! caller's original segments are kept so ids we mint preserve their casing.

use crate::envelope::ArmError;
use crate::world::Outcome;
use bytes::Bytes;
use serde_json::Value;

/// The typed request context every handler gets: what was asked (method, path, query, headers,
/// body), when (sim time), who (the authenticated principal) and what faults apply to it.
pub struct Ctx {
    /// Uppercase (`GET`).
    pub method: String,
    /// Path segments, percent-decoded, in the caller's casing.
    pub segs: Vec<String>,
    /// The same, lowercased, for matching.
    pub segs_lowercase: Vec<String>,
    pub query: Vec<(String, String)>,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
    /// Sim time (ms since the epoch) the request is served at.
    pub now: i64,
    /// The emulator's base URL (`https://127.0.0.1:PORT`).
    pub base: String,
    /// The client id of a valid bearer token (ARM requests, once authenticated).
    pub principal: Option<String>,
    /// Set by a `fail_operation` fault: the LRO this request starts ends this way.
    pub lro_fault: Option<Outcome>,
    /// Set by a `slow_provisioning` fault.
    pub slow: f64,
}

impl Ctx {
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn api_version(&self) -> &str {
        self.q("api-version").unwrap_or("")
    }
    /// `/seg0/seg1/.../seg{n-1}` in the caller's casing.
    pub fn prefix(&self, n: usize) -> String {
        let n = n.min(self.segs.len());
        format!("/{}", self.segs[..n].join("/"))
    }
    /// The scope a list request names: `/subscriptions/{s}` or `/subscriptions/{s}/resourceGroups/{rg}`
    /// (everything before `providers`), lowercased as world keys are.
    pub fn list_scope(&self) -> String {
        let end = self
            .segs_lowercase
            .iter()
            .position(|s| s == "providers")
            .unwrap_or(self.segs_lowercase.len());
        crate::world::key(&self.prefix(end))
    }
    /// The subscription id of an ARM path (`/subscriptions/{id}/…`), as the caller spelled it.
    pub fn subscription(&self) -> &str {
        self.seg(1)
    }
    /// The resource group of an ARM path (`…/resourceGroups/{name}/…`), or "".
    pub fn resource_group(&self) -> &str {
        match self.segs_lowercase.get(2).map(|s| s.as_str()) {
            Some("resourcegroups") => self.seg(3),
            _ => "",
        }
    }
    /// The name that follows resource type `type_segment` in the path (`virtualMachines` →
    /// the VM's name, `locations` → the region), in the caller's casing; "" if absent.
    /// After `providers/{namespace}` only type positions are searched (types and names
    /// alternate), so a resource named like a type is not mistaken for one.
    pub fn name_of(&self, type_segment: &str) -> &str {
        let (start, step) = match self.segs_lowercase.iter().position(|s| s == "providers") {
            Some(p) => (p + 2, 2),
            None => (0, 1),
        };
        (start..self.segs_lowercase.len())
            .step_by(step)
            .find(|i| self.segs_lowercase[*i].eq_ignore_ascii_case(type_segment))
            .map(|i| self.seg(i + 1))
            .unwrap_or("")
    }
    /// The tenant of an Entra path (`/{tenant}/oauth2/…`).
    pub fn tenant(&self) -> &str {
        self.seg(0)
    }
    /// The `i`th path segment in the caller's casing ("" past the end). Prefer the named
    /// accessors above where one fits.
    pub fn seg(&self, i: usize) -> &str {
        self.segs.get(i).map(|s| s.as_str()).unwrap_or("")
    }
    pub fn json_body(&self) -> Result<Value, ArmError> {
        if self.body.is_empty() {
            return Err(ArmError::invalid_body(
                "The request content was invalid and could not be deserialized: 'Missing request body.'",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            ArmError::invalid_body(format!(
                "The request content was invalid and could not be deserialized: '{e}'."
            ))
        })
    }
    /// Optional JSON body (POST actions may have none).
    pub fn json_body_opt(&self) -> Result<Value, ArmError> {
        if self.body.iter().all(|b| b.is_ascii_whitespace()) {
            Ok(Value::Null)
        } else {
            self.json_body()
        }
    }
    /// Absolute URL of this request's path with a replaced query.
    pub fn url_with_query(&self, query: &[(String, String)]) -> String {
        let path: Vec<String> = self
            .segs
            .iter()
            .map(|s| percent_encoding::utf8_percent_encode(s, SEG).to_string())
            .collect();
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in query {
            ser.append_pair(k, v);
        }
        format!("{}/{}?{}", self.base, path.join("/"), ser.finish())
    }
}

const SEG: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'?')
    .add(b'/')
    .add(b'%');

/// The provider area a route belongs to (selects its api-version set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Resources,
    Skus,
    Compute,
    Disks,
    Network,
    RecoveryServices,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Subscription,
    ResourceGroup,
    Skus,
    Usages,
    ComputeOperation,
    NetworkOperation,
    VnetList,
    Vnet,
    SubnetList,
    Subnet,
    CheckIp,
    NicList,
    /// `Microsoft.Network/networkInterfaces` at subscription scope.
    SubscriptionNicList,
    Nic,
    NicOperationResult,
    VmList,
    /// `Microsoft.Compute/virtualMachines` at subscription scope.
    SubscriptionVmList,
    Vm,
    InstanceView,
    RunCommandAction,
    RunCommandList,
    RunCommand,
    DiskList,
    Disk,
    FabricList,
    Fabric,
    ReassociateGateway,
    ContainerItemList,
    ProtectedItem,
    ItemAction,
    ItemOperationResult,
    VaultItemList,
    JobList,
    Job,
    JobCancel,
    AsrOperationStatus,
}

impl Route {
    pub fn area(self) -> Area {
        use Route::*;
        match self {
            Subscription | ResourceGroup => Area::Resources,
            Skus => Area::Skus,
            Usages | ComputeOperation | VmList | SubscriptionVmList | Vm | InstanceView
            | RunCommandAction | RunCommandList | RunCommand => Area::Compute,
            DiskList | Disk => Area::Disks,
            NetworkOperation | VnetList | Vnet | SubnetList | Subnet | CheckIp | NicList
            | SubscriptionNicList | Nic | NicOperationResult => Area::Network,
            _ => Area::RecoveryServices,
        }
    }

    /// Whether the route lies inside a resource group (which must then exist).
    pub fn in_resource_group(self) -> bool {
        use Route::*;
        !matches!(
            self,
            Subscription
                | Skus
                | Usages
                | ComputeOperation
                | NetworkOperation
                | SubscriptionNicList
                | SubscriptionVmList
        )
    }

    /// Coarse resource-type name for the journal (`PUT networkInterfaces`).
    pub fn type_name(self) -> &'static str {
        use Route::*;
        match self {
            Subscription => "subscriptions",
            ResourceGroup => "resourceGroups",
            Skus => "skus",
            Usages => "usages",
            ComputeOperation | NetworkOperation => "operations",
            VnetList | Vnet => "virtualNetworks",
            SubnetList | Subnet => "subnets",
            CheckIp => "CheckIPAddressAvailability",
            NicList | SubscriptionNicList | Nic => "networkInterfaces",
            NicOperationResult => "networkInterfaces/operationResults",
            VmList | SubscriptionVmList | Vm => "virtualMachines",
            InstanceView => "instanceView",
            RunCommandAction => "runCommand",
            RunCommandList | RunCommand => "runCommands",
            DiskList | Disk => "disks",
            FabricList | Fabric => "replicationFabrics",
            ReassociateGateway => "reassociateGateway",
            ContainerItemList | ProtectedItem | VaultItemList => "replicationProtectedItems",
            ItemAction => "replicationProtectedItems/action",
            ItemOperationResult => "operationresults",
            JobList | Job => "replicationJobs",
            JobCancel => "replicationJobs/cancel",
            AsrOperationStatus => "replicationOperationStatus",
        }
    }
}

/// Match lowercased segments against the ARM routes we serve.
pub fn route(l: &[String]) -> Option<Route> {
    let v: Vec<&str> = l.iter().map(|s| s.as_str()).collect();
    use Route::*;
    let r = match v.as_slice() {
        ["subscriptions", _] => Subscription,
        ["subscriptions", _, "resourcegroups", _] => ResourceGroup,
        ["subscriptions", _, "providers", "microsoft.compute", "skus"] => Skus,
        ["subscriptions", _, "providers", "microsoft.compute", "locations", _, "usages"] => Usages,
        ["subscriptions", _, "providers", "microsoft.compute", "virtualmachines"] => {
            SubscriptionVmList
        }
        ["subscriptions", _, "providers", "microsoft.network", "networkinterfaces"] => {
            SubscriptionNicList
        }
        ["subscriptions", _, "providers", "microsoft.compute", "locations", _, "operations", _] => {
            ComputeOperation
        }
        ["subscriptions", _, "providers", "microsoft.network", "locations", _, "operations" | "operationresults", _] => {
            NetworkOperation
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.network", rest @ ..] => {
            match rest {
                ["virtualnetworks"] => VnetList,
                ["virtualnetworks", _] => Vnet,
                ["virtualnetworks", _, "subnets"] => SubnetList,
                ["virtualnetworks", _, "subnets", _] => Subnet,
                ["virtualnetworks", _, "checkipaddressavailability"] => CheckIp,
                ["networkinterfaces"] => NicList,
                ["networkinterfaces", _] => Nic,
                ["networkinterfaces", _, "operationresults", _] => NicOperationResult,
                _ => return None,
            }
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.compute", rest @ ..] => {
            match rest {
                ["virtualmachines"] => VmList,
                ["virtualmachines", _] => Vm,
                ["virtualmachines", _, "instanceview"] => InstanceView,
                ["virtualmachines", _, "runcommand"] => RunCommandAction,
                ["virtualmachines", _, "runcommands"] => RunCommandList,
                ["virtualmachines", _, "runcommands", _] => RunCommand,
                ["disks"] => DiskList,
                ["disks", _] => Disk,
                _ => return None,
            }
        }
        ["subscriptions", _, "resourcegroups", _, "providers", "microsoft.recoveryservices", "vaults", _, rest @ ..] => {
            match rest {
                ["replicationfabrics"] => FabricList,
                ["replicationfabrics", _] => Fabric,
                ["replicationfabrics", _, "reassociategateway"] => ReassociateGateway,
                ["replicationfabrics", _, "replicationprotectioncontainers", _, "replicationprotecteditems"] => {
                    ContainerItemList
                }
                ["replicationfabrics", _, "replicationprotectioncontainers", _, "replicationprotecteditems", _] => {
                    ProtectedItem
                }
                ["replicationfabrics", _, "replicationprotectioncontainers", _, "replicationprotecteditems", _, "reprotect" | "unplannedfailover" | "failovercommit"] => {
                    ItemAction
                }
                ["replicationfabrics", _, "replicationprotectioncontainers", _, "replicationprotecteditems", _, "operationresults", _] => {
                    ItemOperationResult
                }
                ["replicationprotecteditems"] => VaultItemList,
                ["replicationjobs"] => JobList,
                ["replicationjobs", _] => Job,
                ["replicationjobs", _, "cancel"] => JobCancel,
                ["replicationoperationstatus", _] => AsrOperationStatus,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    fn r(p: &str) -> Option<Route> {
        let l: Vec<String> = p
            .trim_matches('/')
            .split('/')
            .map(|s| s.to_ascii_lowercase())
            .collect();
        route(&l)
    }
    #[test]
    fn name_of_reads_type_positions_only() {
        let path = "/subscriptions/s/resourceGroups/virtualMachines/providers/Microsoft.Compute/virtualMachines/runCommands/runCommands/rc";
        let segs: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let ctx = Ctx {
            method: "GET".into(),
            segs_lowercase: segs.iter().map(|s| s.to_ascii_lowercase()).collect(),
            segs,
            query: vec![],
            headers: hyper::HeaderMap::new(),
            body: Bytes::new(),
            now: 0,
            base: String::new(),
            principal: None,
            lro_fault: None,
            slow: 1.0,
        };
        assert_eq!(ctx.name_of("virtualmachines"), "runCommands");
        assert_eq!(ctx.name_of("runcommands"), "rc");
        assert_eq!(ctx.resource_group(), "virtualMachines");
    }

    #[test]
    fn routes_case_insensitively() {
        assert_eq!(
            r("/Subscriptions/x/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"),
            Some(Route::Vm)
        );
        assert_eq!(r("/subscriptions/x/resourcegroups/rg/providers/microsoft.network/virtualNetworks/v/CheckIPAddressAvailability"), Some(Route::CheckIp));
        assert_eq!(r("/subscriptions/x/providers/Microsoft.Compute/nope"), None);
    }
}
