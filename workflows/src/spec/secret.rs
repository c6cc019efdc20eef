//! Secret references in the spec. The table shape is read here (not through `SecretRef`'s
//! untagged serde, whose errors cannot say which key is wrong), then `env` and `file`
//! references are resolved once to prove they work on this machine; the value is dropped.

use failback_steps::secrets::SecretRef;
use toml::de::DeValue;

use super::error::ErrorKind;
use super::model::Cloud;
use super::raw::{describe, Cx, Got, Tbl, Val};
use super::rules;

pub(crate) const SHAPES: &str = "{ env = \"VAR\" }, { file = \"/path\" } or { key_vault = \"https://<vault>.vault.azure.net\", name = \"<secret>\" }";

/// Extra check on the resolved value (the admin password's complexity). Must not put the
/// value in its message.
pub(crate) type ValueCheck = fn(&str) -> Result<(), String>;

/// Reads the secret reference at `key` of `t`. `cloud` is `None` when it is unknown (bad).
pub(crate) fn read(
    cx: &mut Cx<'_>,
    t: &Tbl<'_, '_>,
    key: &str,
    cloud: Option<Cloud>,
    check: Option<ValueCheck>,
) -> Got<SecretRef> {
    let field = t.field(key);
    let Some(raw) = t.raw(key) else {
        return Got::Absent;
    };
    let DeValue::Table(table) = raw.get_ref() else {
        // Never echo a string here: it is likely the secret itself.
        let found = match raw.get_ref() {
            DeValue::String(_) => "a string".to_owned(),
            other => describe(other),
        };
        let msg = format!("expected a secret reference ({SHAPES}), found {found}; the secret itself never goes in the spec");
        cx.err(ErrorKind::WrongType, &raw.span(), field, msg);
        return Got::Bad;
    };
    let span = raw.span();
    let st = Tbl::new(
        cx,
        field.clone(),
        span.clone(),
        table,
        &["env", "file", "key_vault", "name", "version"],
    );
    let env = st.str(cx, "env");
    let file = st.str(cx, "file");
    let kv = st.str(cx, "key_vault");
    let name = st.str(cx, "name");
    let version = st.str(cx, "version");
    let given: Vec<&str> = ["env", "file", "key_vault"]
        .into_iter()
        .filter(|k| st.has(k))
        .collect();
    if given.len() != 1 {
        let msg = if given.is_empty() {
            format!("a secret reference needs exactly one of env, file, key_vault: {SHAPES}")
        } else {
            format!(
                "gives {}; a secret reference needs exactly one of env, file, key_vault",
                given.join(" and ")
            )
        };
        cx.invalid(&span, field, msg);
        return Got::Bad;
    }
    if given[0] != "key_vault" {
        for extra in ["name", "version"] {
            if let Some(v) = st.raw(extra) {
                cx.invalid(
                    &v.span(),
                    st.field(extra),
                    format!("`{extra}` is only used with key_vault"),
                );
            }
        }
    }
    let reference = match (env, file, kv) {
        (Got::Ok(Val { v, span: s }), _, _) => {
            if let Err(m) = rules::env_name(&v) {
                cx.invalid(&s, st.field("env"), m);
                return Got::Bad;
            }
            SecretRef::Env { env: v }
        }
        (_, Got::Ok(Val { v, span: s }), _) => {
            if v.trim().is_empty() {
                cx.invalid(
                    &s,
                    st.field("file"),
                    "must be a path to a file holding the secret",
                );
                return Got::Bad;
            }
            let mut path = std::path::PathBuf::from(v);
            if let (true, Some(base)) = (path.is_relative(), cx.base_dir.as_ref()) {
                path = base.join(path);
            }
            SecretRef::File { file: path }
        }
        (_, _, Got::Ok(Val { v, span: s })) => {
            match rules::http_url(&v) {
                Err(m) => {
                    cx.invalid(&s, st.field("key_vault"), m);
                    return Got::Bad;
                }
                Ok(u) if u.scheme() != "https" && cloud != Some(Cloud::Custom) => {
                    cx.invalid(
                        &s,
                        st.field("key_vault"),
                        format!("{v:?} must be https (http only with cloud = \"custom\")"),
                    );
                    return Got::Bad;
                }
                Ok(_) => {}
            }
            let Some(name) = st.required(
                cx,
                "name",
                name,
                "a Key Vault reference names the secret: name = \"<secret>\"",
            ) else {
                return Got::Bad;
            };
            if !kv_name(&name.v) {
                cx.invalid(
                    &name.span,
                    st.field("name"),
                    format!(
                        "{:?} is not a Key Vault secret name: 1 to 127 letters, digits and '-'",
                        name.v
                    ),
                );
                return Got::Bad;
            }
            let version = match version {
                Got::Ok(ver)
                    if ver.v.is_empty() || !ver.v.chars().all(|c| c.is_ascii_alphanumeric()) =>
                {
                    cx.invalid(
                        &ver.span,
                        st.field("version"),
                        format!(
                            "{:?} is not a Key Vault secret version (letters and digits)",
                            ver.v
                        ),
                    );
                    return Got::Bad;
                }
                Got::Ok(ver) => Some(ver.v),
                Got::Bad => return Got::Bad,
                Got::Absent => None,
            };
            // The credential's own secret is what reaches Key Vault: it cannot live there.
            if field.contains("credential") {
                cx.invalid(
                    &s,
                    st.field("key_vault"),
                    "the credential's own secret cannot come from Key Vault (it is what reaches Key Vault); use env or file"
                        .to_owned(),
                );
                return Got::Bad;
            }
            SecretRef::KeyVault {
                key_vault: v.trim_end_matches('/').to_owned(),
                name: name.v,
                version,
            }
        }
        _ => return Got::Bad,
    };
    if !matches!(reference, SecretRef::KeyVault { .. }) {
        // Resolve now so "missing secret" stops the run before anything is created.
        match reference.resolve_local() {
            Err(e) => {
                cx.err(
                    ErrorKind::Secret,
                    &span,
                    field,
                    format!("{e}; set it before running failback"),
                );
                return Got::Bad;
            }
            Ok(secret) => {
                if let Some(Err(m)) = check.map(|c| c(secret.expose())) {
                    cx.err(
                        ErrorKind::Secret,
                        &span,
                        field,
                        format!("{m} (value from {reference})"),
                    );
                    return Got::Bad;
                }
            }
        }
    }
    Got::Ok(Val { v: reference, span })
}

fn kv_name(s: &str) -> bool {
    (1..=127).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}
