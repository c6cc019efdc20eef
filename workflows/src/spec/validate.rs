//! From the spanned TOML tree to a [`Spec`]: every section is checked even when an earlier one
//! failed, so one pass reports all defects. Networks and cross-network checks are in
//! `network.rs`, `[azure]` in `azure.rs`, `[process_server]` in `process_server.rs`.

use toml::de::DeTable;
use toml::Spanned;

use super::duration;
use super::error::ErrorKind;
use super::model::*;
use super::network;
use super::raw::{Cx, Got, Tbl, Val};
use super::rules;
use super::secret;
use super::{azure, process_server};

const ROOT_KEYS: &[&str] = &[
    "azure",
    "site_recovery",
    "process_server",
    "configuration_server",
    "network",
    "failback",
    "teardown",
];

pub(crate) fn build(cx: &mut Cx<'_>, root: &Spanned<DeTable<'_>>) -> Option<Spec> {
    let root = Tbl::new(cx, String::new(), root.span(), root.get_ref(), ROOT_KEYS);
    let azure = azure::azure(cx, &root);
    let cloud = azure.as_ref().map(|a| a.cloud);
    let site_recovery = site_recovery(cx, &root);
    let process_server = process_server::process_server(cx, &root, cloud);
    let configuration_server = configuration_server(cx, &root, cloud);
    let prefix = process_server.as_ref().map(|p| p.name_prefix.as_str());
    let networks = network::networks(cx, &root, cloud, prefix);
    let failback = failback(cx, &root);
    let teardown = teardown(cx, &root);
    let spec = Spec {
        azure: azure?,
        site_recovery: site_recovery?,
        process_server: process_server?,
        configuration_server: configuration_server?,
        networks: networks?,
        failback: failback?,
        teardown: teardown?,
    };
    cx.errors.is_empty().then_some(spec)
}

/// A required top-level table.
pub(crate) fn section<'a, 'i>(
    cx: &mut Cx<'_>,
    root: &Tbl<'a, 'i>,
    key: &str,
    keys: &[&str],
    hint: &str,
) -> Option<Tbl<'a, 'i>> {
    match root.table(cx, key, keys) {
        Got::Absent => {
            cx.err(
                ErrorKind::Missing,
                &root.span,
                key,
                format!("missing table [{key}]; {hint}"),
            );
            None
        }
        got => got.ok().map(|v| v.v),
    }
}

/// Reads `key` as a string and applies `rule`; `None` if absent, bad or refused.
pub(crate) fn checked(
    cx: &mut Cx<'_>,
    t: &Tbl<'_, '_>,
    key: &str,
    got: Got<String>,
    rule: impl Fn(&str) -> Result<(), String>,
) -> Option<Val<String>> {
    let v = got.ok()?;
    match rule(&v.v) {
        Ok(()) => Some(v),
        Err(m) => {
            cx.invalid(&v.span, t.field(key), m);
            None
        }
    }
}

/// A required string with a rule.
pub(crate) fn req_checked(
    cx: &mut Cx<'_>,
    t: &Tbl<'_, '_>,
    key: &str,
    hint: &str,
    rule: impl Fn(&str) -> Result<(), String>,
) -> Option<String> {
    let got = t.str(cx, key);
    let got = match got {
        Got::Absent => {
            t.missing(cx, key, hint);
            return None;
        }
        g => g,
    };
    checked(cx, t, key, got, rule).map(|v| v.v)
}

/// An optional keyword with a default; the error lists what is allowed.
pub(crate) fn keyword<T>(
    cx: &mut Cx<'_>,
    t: &Tbl<'_, '_>,
    key: &str,
    default: T,
    allowed: &[&str],
    parse: fn(&str) -> Option<T>,
) -> Option<Val<T>> {
    match t.str(cx, key) {
        Got::Absent => Some(Val {
            v: default,
            span: t.span.clone(),
        }),
        Got::Bad => None,
        Got::Ok(v) => match parse(&v.v) {
            Some(p) => Some(Val { v: p, span: v.span }),
            None => {
                let list = allowed
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect::<Vec<_>>()
                    .join(", ");
                cx.invalid(
                    &v.span,
                    t.field(key),
                    format!("{:?} is not allowed; expected one of {list}", v.v),
                );
                None
            }
        },
    }
}

fn site_recovery(cx: &mut Cx<'_>, root: &Tbl<'_, '_>) -> Option<SiteRecovery> {
    let t = section(
        cx,
        root,
        "site_recovery",
        &["resource_group", "vault", "fabric"],
        "it names the Recovery Services vault and the VMware fabric",
    )?;
    let resource_group = req_checked(
        cx,
        &t,
        "resource_group",
        "the resource group of the Recovery Services vault",
        rules::resource_group,
    );
    let vault = req_checked(
        cx,
        &t,
        "vault",
        "the Recovery Services vault name",
        rules::vault,
    );
    let fabric = req_checked(
        cx,
        &t,
        "fabric",
        "the VMware fabric (configuration server) name in the vault",
        rules::segment,
    );
    Some(SiteRecovery {
        resource_group: resource_group?,
        vault: vault?,
        fabric: fabric?,
    })
}

fn port(cx: &mut Cx<'_>, t: &Tbl<'_, '_>, key: &str, default: u16) -> Option<u16> {
    match t.int(cx, key) {
        Got::Absent => Some(default),
        Got::Bad => None,
        Got::Ok(v) => match u16::try_from(v.v) {
            Ok(p) if p > 0 => Some(p),
            _ => {
                cx.invalid(
                    &v.span,
                    t.field(key),
                    format!("{} is not a TCP port; allowed 1 to 65535", v.v),
                );
                None
            }
        },
    }
}

fn configuration_server(
    cx: &mut Cx<'_>,
    root: &Tbl<'_, '_>,
    cloud: Option<Cloud>,
) -> Option<ConfigurationServer> {
    let t = section(
        cx,
        root,
        "configuration_server",
        &["ip", "port", "data_port", "passphrase"],
        "it says how the process server reaches the on-premises configuration server",
    )?;
    let ip = t.str(cx, "ip");
    let ip = match ip {
        Got::Absent => {
            t.missing(cx, "ip", "the configuration server's IPv4 address");
            None
        }
        got => got.ok().and_then(|v| match super::net::parse_ipv4(&v.v) {
            Ok(ip) => Some(ip),
            Err(m) => {
                cx.invalid(&v.span, t.field("ip"), m);
                None
            }
        }),
    };
    let port_ = port(cx, &t, "port", 443);
    let data_port = port(cx, &t, "data_port", 9443);
    let passphrase = match secret::read(cx, &t, "passphrase", cloud, None) {
        Got::Absent => {
            t.missing(
                cx,
                "passphrase",
                &format!(
                    "the configuration server connection passphrase, as a secret reference: {}",
                    secret::SHAPES
                ),
            );
            None
        }
        got => got.ok().map(|v| v.v),
    };
    Some(ConfigurationServer {
        ip: ip?,
        port: port_?,
        data_port: data_port?,
        passphrase: passphrase?,
    })
}

fn duration_field(
    cx: &mut Cx<'_>,
    t: &Tbl<'_, '_>,
    key: &str,
    default: &str,
) -> Option<Val<std::time::Duration>> {
    let Some(raw) = t.raw(key) else {
        return duration::parse(default).ok().map(|v| Val {
            v,
            span: t.span.clone(),
        });
    };
    let Some(text) = raw.get_ref().as_str() else {
        let msg = format!(
            "expected a duration string such as \"5m\" or \"1h30m\", found {}",
            super::raw::describe(raw.get_ref())
        );
        cx.err(ErrorKind::WrongType, &raw.span(), t.field(key), msg);
        return None;
    };
    match duration::parse(text) {
        Ok(v) => Some(Val {
            v,
            span: raw.span(),
        }),
        Err(m) => {
            cx.invalid(&raw.span(), t.field(key), m);
            None
        }
    }
}

fn failback(cx: &mut Cx<'_>, root: &Tbl<'_, '_>) -> Option<Failback> {
    let t = section(
        cx,
        root,
        "failback",
        &["protected_items", "poll_interval", "deadline"],
        "it names the protected items to wait for",
    )?;
    let protected_items = network::protected_items(cx, &t);
    let poll = duration_field(cx, &t, "poll_interval", "5m").and_then(|p| {
        if p.v.as_secs() < 10 {
            cx.invalid(
                &p.span,
                t.field("poll_interval"),
                format!("{} is below the minimum 10s", duration::format(p.v)),
            );
            return None;
        }
        Some(p.v)
    });
    let deadline = duration_field(cx, &t, "deadline", "30d").and_then(|d| {
        let text = duration::format(d.v);
        if d.v.as_secs() > 365 * 86_400 {
            cx.invalid(
                &d.span,
                t.field("deadline"),
                format!("{text} is longer than the maximum 365d"),
            );
            return None;
        }
        if let Some(p) = poll.filter(|p| d.v <= *p) {
            let msg = format!(
                "{text} must be longer than poll_interval {}",
                duration::format(p)
            );
            cx.invalid(&d.span, t.field("deadline"), msg);
            return None;
        }
        Some(d.v)
    });
    Some(Failback {
        protected_items: protected_items?,
        poll_interval: poll?,
        deadline: deadline?,
    })
}

fn teardown(cx: &mut Cx<'_>, root: &Tbl<'_, '_>) -> Option<Teardown> {
    let t = match root.table(cx, "teardown", &["policy", "force_deletion"]) {
        Got::Absent => {
            return Some(Teardown {
                policy: TeardownPolicy::Delete,
                force_deletion: true,
            })
        }
        got => got.ok()?.v,
    };
    let parse = |s: &str| match s {
        "delete" => Some(TeardownPolicy::Delete),
        "keep" => Some(TeardownPolicy::Keep),
        _ => None,
    };
    let policy = keyword(
        cx,
        &t,
        "policy",
        TeardownPolicy::Delete,
        &["delete", "keep"],
        parse,
    );
    let force = match t.bool(cx, "force_deletion") {
        Got::Absent => Some(true),
        got => got.ok().map(|v| v.v),
    };
    Some(Teardown {
        policy: policy?.v,
        force_deletion: force?,
    })
}
