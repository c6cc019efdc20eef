//! `[[network]]` tables (one process server per virtual network), the checks across them, and
//! `failback.protected_items`.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use toml::de::DeValue;

use super::error::ErrorKind;
use super::model::{Cloud, Network, ProtectedItems};
use super::net::{parse_ipv4, Ipv4Cidr};
use super::raw::{describe, Cx, Got, Tbl, Val};
use super::regions;
use super::rules;
use super::validate::req_checked;

const KEYS: &[&str] = &[
    "name",
    "resource_group",
    "vnet",
    "subnet",
    "region",
    "private_ip",
    "subnet_prefix",
];

/// A network that passed its own checks, with the spans the cross checks point at.
struct Checked {
    net: Network,
    name_span: std::ops::Range<usize>,
    vnet_span: std::ops::Range<usize>,
    ip_span: std::ops::Range<usize>,
}

pub(crate) fn networks(
    cx: &mut Cx<'_>,
    root: &Tbl<'_, '_>,
    cloud: Option<Cloud>,
    prefix: Option<&str>,
) -> Option<Vec<Network>> {
    const HINT: &str =
        "add one [[network]] table per Azure virtual network that failed-over VMs use";
    let Some(raw) = root.raw("network") else {
        cx.err(
            ErrorKind::Missing,
            &root.span,
            "network",
            format!("no networks; {HINT}"),
        );
        return None;
    };
    let array = match raw.get_ref() {
        DeValue::Array(a) => a,
        other => {
            let msg = format!(
                "expected an array of tables ([[network]]), found {}",
                describe(other)
            );
            cx.err(ErrorKind::WrongType, &raw.span(), "network", msg);
            return None;
        }
    };
    if array.is_empty() {
        cx.invalid(&raw.span(), "network", format!("no networks; {HINT}"));
        return None;
    }
    let mut all_ok = true;
    let mut checked: Vec<Checked> = Vec::new();
    for (i, item) in array.iter().enumerate() {
        let path = format!("network[{i}]");
        let DeValue::Table(table) = item.get_ref() else {
            let msg = format!("expected a table, found {}", describe(item.get_ref()));
            cx.err(ErrorKind::WrongType, &item.span(), path, msg);
            all_ok = false;
            continue;
        };
        let t = Tbl::new(cx, path, item.span(), table, KEYS);
        match one(cx, &t, cloud, prefix) {
            Some(c) => checked.push(c),
            None => all_ok = false,
        }
    }
    all_ok &= cross(cx, &checked);
    all_ok.then(|| checked.into_iter().map(|c| c.net).collect())
}

fn one(
    cx: &mut Cx<'_>,
    t: &Tbl<'_, '_>,
    cloud: Option<Cloud>,
    prefix: Option<&str>,
) -> Option<Checked> {
    let resource_group = req_checked(
        cx,
        t,
        "resource_group",
        "the resource group of the virtual network",
        rules::resource_group,
    );
    let vnet = t
        .req_str(cx, "vnet", "the virtual network name")
        .and_then(|v| match rules::network_resource(&v.v, 64) {
            Ok(()) => Some(v),
            Err(m) => {
                cx.invalid(&v.span, t.field("vnet"), m);
                None
            }
        });
    let subnet = req_checked(
        cx,
        t,
        "subnet",
        "the subnet the process server's NIC joins",
        |s| rules::network_resource(s, 80),
    );
    let region = req_checked(
        cx,
        t,
        "region",
        "the Azure region of the virtual network, e.g. \"westeurope\"",
        |r| regions::check(r, cloud.unwrap_or(Cloud::Custom)),
    );
    let name = match t.str(cx, "name") {
        Got::Ok(v) => match rules::slug(&v.v) {
            Ok(()) => Some(v),
            Err(m) => {
                cx.invalid(&v.span, t.field("name"), m);
                None
            }
        },
        Got::Bad => None,
        Got::Absent => vnet.clone().and_then(|v| match rules::slug(&v.v) {
            Ok(()) => Some(v),
            Err(m) => {
                let msg = format!("defaults to the vnet name, which is not a valid branch id: {m}; set name explicitly");
                cx.invalid(&v.span, t.field("name"), msg);
                None
            }
        }),
    };
    let mut ok = true;
    if let (Some(n), Some(p)) = (&name, prefix) {
        if let Err(m) = rules::computer_name(&format!("{p}-{}", n.v)) {
            cx.invalid(&n.span, t.field("name"), m);
            ok = false;
        }
    }
    let ip = t
        .req_str(
            cx,
            "private_ip",
            "the static private IPv4 address of the process server",
        )
        .and_then(|v| match parse_ipv4(&v.v) {
            Ok(ip) => Some(Val {
                v: ip,
                span: v.span,
            }),
            Err(m) => {
                cx.invalid(&v.span, t.field("private_ip"), m);
                None
            }
        });
    let prefix_got = t.str(cx, "subnet_prefix");
    let subnet_prefix = match prefix_got {
        Got::Absent => Some(None),
        Got::Bad => None,
        Got::Ok(v) => match v.v.parse::<Ipv4Cidr>() {
            Ok(c) if c.prefix_len() > 29 => {
                cx.invalid(
                    &v.span,
                    t.field("subnet_prefix"),
                    format!("{c} is smaller than the smallest Azure subnet (/29)"),
                );
                None
            }
            Ok(c) => Some(Some(c)),
            Err(e) => {
                cx.invalid(&v.span, t.field("subnet_prefix"), e.to_string());
                None
            }
        },
    };
    if let (Some(ip), Some(Some(cidr))) = (&ip, &subnet_prefix) {
        if !cidr.contains(ip.v) {
            cx.invalid(
                &ip.span,
                t.field("private_ip"),
                format!("{} is not inside subnet {cidr}", ip.v),
            );
            ok = false;
        }
        if let Some(why) = cidr.azure_reserved(ip.v) {
            let first = Ipv4Addr::from(u32::from(cidr.network()) + 4);
            let msg = format!("{} is {why} of subnet {cidr}; Azure reserves the first four and the last address (first usable: {first})", ip.v);
            cx.invalid(&ip.span, t.field("private_ip"), msg);
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    let (name, vnet, ip) = (name?, vnet?, ip?);
    Some(Checked {
        name_span: name.span,
        vnet_span: vnet.span,
        ip_span: ip.span,
        net: Network {
            name: name.v,
            resource_group: resource_group?,
            vnet: vnet.v,
            subnet: subnet?,
            region: region?,
            private_ip: ip.v,
            subnet_prefix: subnet_prefix?,
        },
    })
}

/// Uniqueness across networks; the later duplicate is the one reported. `true` if all unique.
fn cross(cx: &mut Cx<'_>, nets: &[Checked]) -> bool {
    let mut ok = true;
    let mut names = HashMap::new();
    let mut vnets = HashMap::new();
    let mut ips = HashMap::new();
    for (i, c) in nets.iter().enumerate() {
        let n = &c.net;
        if let Some(j) = names.insert(n.name.clone(), i) {
            let msg = format!("network name {:?} is already used by network[{j}]; names must be unique (they are step ids)", n.name);
            cx.invalid(&c.name_span, format!("network[{i}].name"), msg);
            ok = false;
        }
        // ARM names are case-insensitive.
        let key = (
            n.resource_group.to_ascii_lowercase(),
            n.vnet.to_ascii_lowercase(),
        );
        if let Some(j) = vnets.insert(key, i) {
            let msg = format!("network[{j}] already uses vnet {:?} in resource group {:?}; one process server per virtual network", n.vnet, n.resource_group);
            cx.invalid(&c.vnet_span, format!("network[{i}].vnet"), msg);
            ok = false;
        }
        if let Some(j) = ips.insert(n.private_ip, i) {
            let msg = format!("{} is already the private_ip of network[{j}]; each process server needs its own address", n.private_ip);
            cx.invalid(&c.ip_span, format!("network[{i}].private_ip"), msg);
            ok = false;
        }
    }
    ok
}

pub(crate) fn protected_items(cx: &mut Cx<'_>, t: &Tbl<'_, '_>) -> Option<ProtectedItems> {
    const ALLOWED: &str =
        "expected \"all\" or a list of replication protected item names, like [\"vm-1\", \"vm-2\"]";
    let field = t.field("protected_items");
    let Some(raw) = t.raw("protected_items") else {
        t.missing(cx, "protected_items", ALLOWED);
        return None;
    };
    let array = match raw.get_ref() {
        DeValue::String(s) if s == "all" => return Some(ProtectedItems::All),
        DeValue::String(s) => {
            cx.invalid(
                &raw.span(),
                field,
                format!("{s:?} is not allowed; {ALLOWED}"),
            );
            return None;
        }
        DeValue::Array(a) => a,
        other => {
            cx.err(
                ErrorKind::WrongType,
                &raw.span(),
                field,
                format!("{ALLOWED}, found {}", describe(other)),
            );
            return None;
        }
    };
    if array.is_empty() {
        cx.invalid(&raw.span(), field, format!("the list is empty; {ALLOWED}"));
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, item) in array.iter().enumerate() {
        let f = format!("{field}[{i}]");
        match item.get_ref() {
            DeValue::String(s) if s.trim().is_empty() => {
                cx.invalid(&item.span(), f, "a protected item name must not be empty");
                ok = false;
            }
            DeValue::String(s) if names.iter().any(|n| n == s.as_ref()) => {
                cx.invalid(&item.span(), f, format!("{s:?} is listed twice"));
                ok = false;
            }
            DeValue::String(s) => names.push(s.to_string()),
            other => {
                cx.err(
                    ErrorKind::WrongType,
                    &item.span(),
                    f,
                    format!("expected a string, found {}", describe(other)),
                );
                ok = false;
            }
        }
    }
    ok.then_some(ProtectedItems::Named(names))
}
