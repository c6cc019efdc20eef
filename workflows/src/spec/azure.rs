//! `[azure]` and `[azure.credential]`: cloud endpoints, ids, and the fields each credential
//! kind needs (and no others, so a leftover secret is not silently ignored).

use super::model::*;
use super::raw::{Cx, Got, Tbl};
use super::rules;
use super::secret;
use super::validate::{checked, keyword, req_checked, section};

pub(crate) fn azure(cx: &mut Cx<'_>, root: &Tbl<'_, '_>) -> Option<Azure> {
    let keys = [
        "cloud",
        "subscription_id",
        "tenant_id",
        "authority_host",
        "resource_manager",
        "credential",
    ];
    let t = section(
        cx,
        root,
        "azure",
        &keys,
        "it names the cloud, subscription, tenant and credential",
    )?;
    let cloud = keyword(cx, &t, "cloud", Cloud::Public, &Cloud::ALL, Cloud::parse).map(|v| v.v);
    let subscription_id = req_checked(
        cx,
        &t,
        "subscription_id",
        "the subscription (GUID) the process servers are created in",
        rules::guid,
    );
    let tenant_id = req_checked(
        cx,
        &t,
        "tenant_id",
        "the Entra ID tenant (GUID)",
        rules::guid,
    );
    let url = |cx: &mut Cx<'_>, key: &str| -> Option<Option<String>> {
        let got = t.str(cx, key);
        let bad = matches!(got, Got::Bad);
        match checked(cx, &t, key, got, |s| rules::http_url(s).map(|_| ())) {
            Some(v) => Some(Some(v.v.trim_end_matches('/').to_owned())),
            None if bad || t.has(key) => None,
            None => Some(None),
        }
    };
    let authority = url(cx, "authority_host");
    let arm = url(cx, "resource_manager");
    let credential = credential(cx, &t, cloud);
    if let (Some(Some(host)), Some(cred)) = (&authority, &credential) {
        https_for_credential(cx, &t, host, cred);
    }
    let cloud = cloud?;
    let (authority, arm) = (authority?, arm?);
    let endpoint = |cx: &mut Cx<'_>,
                    given: Option<String>,
                    key: &str,
                    default: Option<&str>|
     -> Option<String> {
        given.or_else(|| default.map(str::to_owned)).or_else(|| {
            t.missing(
                cx,
                key,
                "required when cloud = \"custom\" (an http or https URL)",
            );
            None
        })
    };
    let defaults = cloud.endpoints();
    let authority_host = endpoint(cx, authority, "authority_host", defaults.map(|d| d.0));
    let resource_manager = endpoint(cx, arm, "resource_manager", defaults.map(|d| d.1));
    Some(Azure {
        cloud,
        subscription_id: subscription_id?,
        tenant_id: tenant_id?,
        authority_host: authority_host?,
        resource_manager: resource_manager?,
        credential: credential?,
    })
}

/// The credentials that get their token from the authority host themselves refuse a plain
/// `http://` one (azure_identity's "authority host doesn't use HTTPS scheme", at the first
/// token): say so here, at the field, with the fix.
fn https_for_credential(cx: &mut Cx<'_>, azure: &Tbl<'_, '_>, host: &str, cred: &Credential) {
    let kind = match cred {
        Credential::ClientSecret { .. } => "client-secret",
        Credential::ClientCertificate { .. } => "client-certificate",
        Credential::WorkloadIdentity { .. } => "workload-identity",
        Credential::Cli | Credential::ManagedIdentity { .. } => return,
    };
    let plain = host
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
    if let (true, Some(v)) = (plain, azure.raw("authority_host")) {
        cx.invalid(
            &v.span(),
            azure.field("authority_host"),
            format!(
                "{host:?} is plain http, but the {kind} credential gets its token only from an \
                 https authority host; use https://. For the emulator, run `failback sim` \
                 without --no-tls and export the FAILBACK_CA_FILE it prints"
            ),
        );
    }
}

/// `[azure.credential] kind`.
fn credential_kind(cx: &mut Cx<'_>, t: &Tbl<'_, '_>) -> Option<CredentialKind> {
    match t.raw("kind") {
        None => {
            t.missing(
                cx,
                "kind",
                &format!("expected one of {}", CredentialKind::ALL.join(", ")),
            );
            None
        }
        Some(_) => keyword(
            cx,
            t,
            "kind",
            CredentialKind::Cli,
            &CredentialKind::ALL,
            CredentialKind::parse,
        )
        .map(|v| v.v),
    }
}

/// Each of `keys` present only where `kind` uses it, and each it requires present; every
/// defect reported. True when all is well.
fn credential_keys_fit(
    cx: &mut Cx<'_>,
    t: &Tbl<'_, '_>,
    kind: CredentialKind,
    keys: &[&str],
) -> bool {
    let kind_name = kind.as_str();
    let (required, optional): (&[&str], &[&str]) = match kind {
        CredentialKind::Cli => (&[], &[]),
        CredentialKind::ClientSecret => (&["client_id", "client_secret"], &[]),
        CredentialKind::ClientCertificate => (&["client_id", "certificate"], &[]),
        CredentialKind::ManagedIdentity => (&[], &["client_id"]),
        CredentialKind::WorkloadIdentity => (&["client_id"], &["token_file"]),
    };
    let mut ok = true;
    for key in keys {
        let wanted = required.contains(key) || optional.contains(key);
        match t.raw(key) {
            Some(v) if !wanted => {
                let used: Vec<&str> = required.iter().chain(optional).copied().collect();
                let used = if used.is_empty() {
                    "none".to_owned()
                } else {
                    used.join(", ")
                };
                cx.invalid(&v.span(), t.field(key), format!("not used with kind = \"{kind_name}\" (keys for this kind: {used}); remove it"));
                ok = false;
            }
            None if required.contains(key) => {
                t.missing(cx, key, &format!("required with kind = \"{kind_name}\""));
                ok = false;
            }
            _ => {}
        }
    }
    ok
}

fn credential(cx: &mut Cx<'_>, azure: &Tbl<'_, '_>, cloud: Option<Cloud>) -> Option<Credential> {
    let keys = [
        "kind",
        "client_id",
        "client_secret",
        "certificate",
        "token_file",
    ];
    let t = match azure.table(cx, "credential", &keys) {
        Got::Absent => {
            azure.missing(cx, "credential", "add [azure.credential] with kind = one of cli, client-secret, client-certificate, managed-identity, workload-identity");
            return None;
        }
        got => got.ok()?.v,
    };
    let kind = credential_kind(cx, &t)?;
    let ok = credential_keys_fit(cx, &t, kind, &keys[1..]);
    // Read every field before combining, so each defect is reported.
    let client_id = match t.str(cx, "client_id") {
        Got::Absent => Some(None),
        got => checked(cx, &t, "client_id", got, rules::guid).map(|v| Some(v.v)),
    };
    let secret = |cx: &mut Cx<'_>, key: &str, wanted: bool| {
        if wanted {
            secret::read(cx, &t, key, cloud, None).ok().map(|v| v.v)
        } else {
            None
        }
    };
    let client_secret = secret(cx, "client_secret", kind == CredentialKind::ClientSecret);
    let certificate = secret(cx, "certificate", kind == CredentialKind::ClientCertificate);
    let token_file = match t.str(cx, "token_file") {
        Got::Absent => Some(None),
        got => checked(cx, &t, "token_file", got, |s| {
            if s.trim().is_empty() {
                Err("must be a path to the federated token file".into())
            } else {
                Ok(())
            }
        })
        .map(|v| Some(std::path::PathBuf::from(v.v))),
    };
    let token_file = token_file.map(|o| {
        o.map(|p| match &cx.base_dir {
            Some(base) if p.is_relative() => base.join(p),
            _ => p,
        })
    });
    let client_id = client_id?;
    let cred = match kind {
        CredentialKind::Cli => Credential::Cli,
        CredentialKind::ClientSecret => Credential::ClientSecret {
            client_id: client_id?,
            client_secret: client_secret?,
        },
        CredentialKind::ClientCertificate => Credential::ClientCertificate {
            client_id: client_id?,
            certificate: certificate?,
        },
        CredentialKind::ManagedIdentity => Credential::ManagedIdentity { client_id },
        CredentialKind::WorkloadIdentity => Credential::WorkloadIdentity {
            client_id: client_id?,
            token_file: token_file?,
        },
    };
    ok.then_some(cred)
}
