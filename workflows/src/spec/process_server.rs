//! `[process_server]`: the VM. Size-dependent rules (Gen1-only image, no Premium disks for
//! Standard_A8_v2) are checked here because ARM would refuse them only at VM create, after the
//! NIC exists.

use super::model::*;
use super::raw::{Cx, Got, Tbl, Val};
use super::rules;
use super::secret;
use super::validate::{checked, keyword, req_checked, section};

/// Sizes that are Generation 1 only and have no Premium storage: the Av2 family.
fn is_av2(size: &str) -> bool {
    let s = size.to_ascii_lowercase();
    s.starts_with("standard_a") && s.ends_with("_v2")
}

fn is_gen2_sku(sku: &str) -> bool {
    let s = sku.to_ascii_lowercase();
    s.ends_with("-gensecond") || s.ends_with("-g2") || s.ends_with("-gen2") || s.ends_with("gen2")
}

pub(crate) fn process_server(
    cx: &mut Cx<'_>,
    root: &Tbl<'_, '_>,
    cloud: Option<Cloud>,
) -> Option<ProcessServer> {
    let keys = [
        "name_prefix",
        "size",
        "image",
        "os_disk_type",
        "cache_disk_gb",
        "admin_username",
        "admin_password",
        "installer_uri",
    ];
    let t = section(
        cx,
        root,
        "process_server",
        &keys,
        "it describes the process-server VM",
    )?;
    let name_prefix = optional_str(cx, &t, "name_prefix", "ps", rules::slug);
    let size = optional_str(cx, &t, "size", DEFAULT_SIZE, |s| {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            Ok(())
        } else {
            Err(format!(
                "{s:?} is not a VM size name (like \"Standard_A8_v2\")"
            ))
        }
    });
    let av2 = size.as_deref().is_some_and(is_av2);
    let size_name = size.clone().unwrap_or_default();
    let image = match t.table(cx, "image", &["publisher", "offer", "sku", "version"]) {
        Got::Absent => Some(ImageRef::default()),
        Got::Bad => None,
        Got::Ok(Val { v: it, .. }) => {
            let hint = "an image is { publisher, offer, sku, version }";
            let publisher = req_checked(cx, &it, "publisher", hint, rules::segment);
            let offer = req_checked(cx, &it, "offer", hint, rules::segment);
            let sku = req_checked(cx, &it, "sku", hint, |s| {
                rules::segment(s)?;
                if av2 && is_gen2_sku(s) {
                    return Err(format!("{s:?} is a Generation 2 image; {size_name} supports Generation 1 only (use a Gen1 sku such as \"2016-Datacenter\")"));
                }
                Ok(())
            });
            let version = optional_str(cx, &it, "version", "latest", rules::segment);
            Some(ImageRef {
                publisher: publisher?,
                offer: offer?,
                sku: sku?,
                version: version?,
            })
        }
    };
    let os_disk_type = keyword(cx, &t, "os_disk_type", DiskType::StandardSsdLrs, &DiskType::ALL, DiskType::parse).and_then(|d| {
        if av2 && d.v == DiskType::PremiumLrs {
            let msg = format!("Premium_LRS needs a size with Premium storage and {size_name} has none; use \"StandardSSD_LRS\" or \"Standard_LRS\"");
            cx.invalid(&d.span, t.field("os_disk_type"), msg);
            return None;
        }
        Some(d.v)
    });
    let cache_disk_gb = match t.int(cx, "cache_disk_gb") {
        Got::Absent => Some(600),
        Got::Bad => None,
        Got::Ok(v) => match u32::try_from(v.v) {
            Ok(n) if n <= 32_767 => Some(n),
            _ => {
                cx.invalid(
                    &v.span,
                    t.field("cache_disk_gb"),
                    format!(
                        "{} is out of range; allowed 0 (no cache disk) to 32767 GiB",
                        v.v
                    ),
                );
                None
            }
        },
    };
    let admin_username = req_checked(
        cx,
        &t,
        "admin_username",
        "the VM's local administrator name",
        rules::admin_username,
    );
    let admin_password =
        match secret::read(cx, &t, "admin_password", cloud, Some(rules::admin_password)) {
            Got::Absent => {
                t.missing(
                    cx,
                    "admin_password",
                    &format!("a secret reference: {}", secret::SHAPES),
                );
                None
            }
            got => got.ok().map(|v| v.v),
        };
    let installer_uri = match t.str(cx, "installer_uri") {
        Got::Absent => Some(None),
        got => checked(cx, &t, "installer_uri", got, |s| {
            rules::http_url(s).map(|_| ())
        })
        .map(|v| Some(v.v)),
    };
    Some(ProcessServer {
        name_prefix: name_prefix?,
        size: size?,
        image: image?,
        os_disk_type: os_disk_type?,
        cache_disk_gb: cache_disk_gb?,
        admin_username: admin_username?,
        admin_password: admin_password?,
        installer_uri: installer_uri?,
    })
}

/// An optional string with a default and a rule.
pub(crate) fn optional_str(
    cx: &mut Cx<'_>,
    t: &Tbl<'_, '_>,
    key: &str,
    default: &str,
    rule: impl Fn(&str) -> Result<(), String>,
) -> Option<String> {
    match t.str(cx, key) {
        Got::Absent => Some(default.to_owned()),
        got => checked(cx, t, key, got, rule).map(|v| v.v),
    }
}
