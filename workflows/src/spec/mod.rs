//! The spec file (`failback.toml`): parsing, validation and the typed [`Spec`].
//!
//! [`load`] / [`parse`] report every defect at once as [`SpecErrors`], each line
//! `file:line:column: field: message` (field paths are 0-based: `network[1].private_ip`). A
//! valid spec has resolvable secrets; their values are never kept. docs/spec.md is the
//! operator's reference.

mod azure;
mod duration;
mod error;
mod example;
mod model;
mod names;
mod net;
mod network;
mod process_server;
mod raw;
mod regions;
mod rules;
mod secret;
mod validate;

use std::path::Path;

pub use duration::{format as format_duration, parse as parse_duration};
pub use error::{ErrorKind, SnapshotError, SpecError, SpecErrors};
pub use example::example;
pub use failback_steps::secrets::SecretRef;
pub use model::*;
pub use names::run_hash;
pub use net::{CidrError, Ipv4Cidr};
pub use regions::{CHINA as CHINA_REGIONS, PUBLIC as PUBLIC_REGIONS, USGOV as USGOV_REGIONS};
pub use rules::RESERVED_USERNAMES;

use raw::Cx;

/// Specs are a few KiB; the daemon takes them in request bodies of at most 1 MiB too.
pub const MAX_SPEC_FILE: u64 = failback_steps::bounded::MAX_TEXT_FILE;

/// Reads and validates the spec at `path`. Relative secret `file` paths are taken from the
/// spec file's folder, and stored absolute.
pub fn load(path: &Path) -> Result<Spec, SpecErrors> {
    let origin = path.display().to_string();
    let one = |kind, line, column, field: &str, message: String| {
        SpecErrors::new(vec![SpecError {
            kind,
            file: origin.clone(),
            line,
            column,
            field: field.to_owned(),
            message,
        }])
    };
    let bytes = failback_steps::bounded::read_bounded(path, MAX_SPEC_FILE, "spec file")
        .map_err(|e| one(ErrorKind::Io, 1, 1, "(file)", e.to_string()))?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let prefix = String::from_utf8_lossy(valid);
            let (line, column) = error::Locator::new(&prefix).position(prefix.len());
            return Err(one(
                ErrorKind::Syntax,
                line,
                column,
                "(syntax)",
                "the file is not UTF-8 text".into(),
            ));
        }
    };
    let base = match path.parent() {
        Some(p) if p.as_os_str().is_empty() => std::env::current_dir().ok(),
        Some(p) => std::path::absolute(p).ok(),
        None => None,
    };
    parse_in(&text, &origin, base)
}

/// Validates spec text; `origin` is the file name used in messages. Relative secret `file`
/// paths stay relative (to the working directory).
pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecErrors> {
    parse_in(text, origin, None)
}

fn parse_in(
    text: &str,
    origin: &str,
    base_dir: Option<std::path::PathBuf>,
) -> Result<Spec, SpecErrors> {
    let mut cx = Cx::new(text, origin);
    cx.base_dir = base_dir;
    let root = match toml::de::DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let message = format!("invalid TOML: {}", e.message().trim_end());
            cx.err(ErrorKind::Syntax, &span, "(syntax)", message);
            return Err(SpecErrors::new(cx.errors));
        }
    };
    match validate::build(&mut cx, &root) {
        Some(spec) if cx.errors.is_empty() => Ok(spec),
        _ if cx.errors.is_empty() => {
            // A section returned nothing without saying why: a bug, but still not a panic.
            cx.err(
                ErrorKind::Invalid,
                &(0..0),
                "(spec)",
                "the spec is invalid (internal: no error recorded)",
            );
            Err(SpecErrors::new(cx.errors))
        }
        _ => Err(SpecErrors::new(cx.errors)),
    }
}
