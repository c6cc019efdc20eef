//! Response type, ARM error envelopes and the common ARM headers.

use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// ARM error code when this is an error response (for the journal).
    pub error_code: Option<String>,
}

impl Resp {
    pub fn json(status: u16, v: &Value) -> Resp {
        Resp {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: Some(serde_json::to_vec(v).unwrap_or_default()),
            error_code: None,
        }
    }
    pub fn empty(status: u16) -> Resp {
        Resp {
            status,
            headers: vec![],
            body: None,
            error_code: None,
        }
    }
    pub fn text(status: u16, s: &str) -> Resp {
        Resp {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: Some(s.as_bytes().to_vec()),
            error_code: None,
        }
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Resp {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn get_header(&self, k: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.as_str())
    }
}

/// An ARM-style error: `{"error": {code, message, target?, details[], additionalInfo[]}}`.
#[derive(Debug, Clone)]
pub struct ArmError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub target: Option<String>,
    pub details: Vec<Value>,
    pub additional_info: Vec<Value>,
    pub headers: Vec<(String, String)>,
    /// Extra fields merged into `error` (ASR's richer format).
    pub extra: Option<Value>,
}

impl ArmError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ArmError {
        ArmError {
            status,
            code: code.to_string(),
            message: message.into(),
            target: None,
            details: vec![],
            additional_info: vec![],
            headers: vec![],
            extra: None,
        }
    }
    pub fn target(mut self, t: &str) -> Self {
        self.target = Some(t.to_string());
        self
    }
    pub fn detail(mut self, code: &str, message: &str) -> Self {
        self.details.push(json!({"code": code, "message": message}));
        self
    }
    pub fn header(mut self, k: &str, v: impl Into<String>) -> Self {
        self.headers.push((k.to_string(), v.into()));
        self
    }
    pub fn extra(mut self, v: Value) -> Self {
        self.extra = Some(v);
        self
    }
    pub fn body(&self) -> Value {
        let mut e = json!({
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "additionalInfo": self.additional_info,
        });
        if let Some(t) = &self.target {
            e["target"] = json!(t);
        }
        if let (Some(Value::Object(x)), Value::Object(m)) = (&self.extra, &mut e) {
            for (k, v) in x {
                m.insert(k.clone(), v.clone());
            }
        }
        json!({ "error": e })
    }
    pub fn into_resp(self) -> Resp {
        let mut r = Resp::json(self.status, &self.body());
        r.headers.extend(self.headers.iter().cloned());
        r.error_code = Some(self.code);
        r
    }

    // Common shapes.
    pub fn bad_request(code: &str, msg: impl Into<String>) -> Self {
        Self::new(400, code, msg)
    }
    pub fn invalid_body(msg: impl Into<String>) -> Self {
        Self::new(400, "InvalidRequestContent", msg)
    }
    /// ARM's `ResourceNotFound` for resource `id` of type `kind`: "The Resource
    /// 'Microsoft.Compute/virtualMachines/vm1/runCommands/rc1' under resource group 'rg1' was
    /// not found. …" (the path after `providers/`, every parent's name included).
    pub fn not_found(kind: &str, id: &str) -> Self {
        let segs: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
        let at = |name: &str| segs.iter().position(|s| s.eq_ignore_ascii_case(name));
        let rg = at("resourceGroups").and_then(|i| segs.get(i + 1)).copied();
        let resource = match at("providers") {
            Some(i) if i + 1 < segs.len() => segs[i + 1..].join("/"),
            _ => format!("{kind}/{}", segs.last().copied().unwrap_or(id)),
        };
        Self::new(
            404,
            "ResourceNotFound",
            format!(
                "The Resource '{resource}' under resource group '{}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
                rg.unwrap_or("")
            ),
        )
    }
    pub fn conflict(code: &str, msg: impl Into<String>) -> Self {
        Self::new(409, code, msg)
    }
}

impl From<ArmError> for Resp {
    fn from(e: ArmError) -> Resp {
        e.into_resp()
    }
}

pub type ArmResult = Result<Resp, ArmError>;

/// OAuth (Entra ID) error body.
pub fn oauth_error(
    status: u16,
    error: &str,
    aadsts: u32,
    description: &str,
    now_rfc: &str,
) -> Resp {
    let trace = uuid::Uuid::new_v4().to_string();
    let corr = uuid::Uuid::new_v4().to_string();
    let r = Resp::json(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{aadsts}: {description} Trace ID: {trace} Correlation ID: {corr} Timestamp: {now_rfc}"),
            "error_codes": [aadsts],
            "timestamp": now_rfc,
            "trace_id": trace,
            "correlation_id": corr,
            "error_uri": "https://login.microsoftonline.com/error?code=".to_string() + &aadsts.to_string(),
        }),
    );
    Resp {
        error_code: Some(error.to_string()),
        ..r
    }
}

/// Canonical JSON string (sorted keys) for comparing request bodies.
pub fn canonical(v: &Value) -> String {
    fn canon(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<_> = m.keys().cloned().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    if let Some(x) = m.get(&k) {
                        out.insert(k, canon(x));
                    }
                }
                Value::Object(out)
            }
            Value::Array(a) => Value::Array(a.iter().map(canon).collect()),
            x => x.clone(),
        }
    }
    canon(v).to_string()
}

/// Case-insensitive lookup of a JSON object field.
pub fn get_ci<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

pub fn str_ci<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    get_ci(v, key)?.as_str()
}

/// Walk a dotted path case-insensitively: `path(v, &["properties","hardwareProfile","vmSize"])`.
pub fn path<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for k in keys {
        cur = get_ci(cur, k)?;
    }
    Some(cur)
}

pub fn path_str<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    path(v, keys)?.as_str()
}

/// Short, secret-free fingerprint of a request body (FNV-1a over its canonical JSON); bodies can
/// carry passwords and passphrases, which must never be stored or persisted.
pub fn fingerprint(v: &Value) -> String {
    let h = canonical(v).bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_names_the_resource_group_and_every_parent() {
        let e = ArmError::not_found(
            "Microsoft.Compute/virtualMachines/runCommands",
            "/subscriptions/s/resourceGroups/rg-1/providers/Microsoft.Compute/virtualMachines/vm-1/runCommands/rc",
        );
        assert_eq!(e.message, "The Resource 'Microsoft.Compute/virtualMachines/vm-1/runCommands/rc' under resource group 'rg-1' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix");
    }
}
