//! A container's address, parsed from a URL:
//! - path style (Azurite, or any IP/`localhost` host): `http://127.0.0.1:10000/devstoreaccount1/CONTAINER`
//! - host style (Azure): `https://ACCOUNT.blob.core.windows.net/CONTAINER` (any cloud's suffix)
//!
//! A query string, if any, is taken as a SAS token and kept apart from the URL, so that
//! printing an [`Endpoint`] never shows it.

use crate::error::BlobError;
use std::fmt;
use std::net::IpAddr;
use url::Url;

#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    account: String,
    container: String,
    /// `scheme://host[:port]/[account/]container`, no query, no trailing slash.
    container_url: Url,
    sas: Option<String>,
}

impl Endpoint {
    /// Parses a container URL (see the module docs). Errors name what is wrong.
    pub fn parse(text: &str) -> Result<Endpoint, BlobError> {
        let invalid = |reason: String| BlobError::Invalid {
            field: "storage URL",
            reason,
        };
        let mut url = Url::parse(text).map_err(|e| invalid(format!("{e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "scheme {:?}: expected http or https",
                url.scheme()
            )));
        }
        let host = url
            .host_str()
            .ok_or_else(|| invalid("no host".into()))?
            .to_owned();
        let sas = url.query().filter(|q| !q.is_empty()).map(str::to_owned);
        url.set_query(None);
        url.set_fragment(None);
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect())
            .unwrap_or_default();
        let (account, container) = if path_style(&host) {
            match segments.as_slice() {
                [account, container] => (account.clone(), container.clone()),
                _ => {
                    return Err(invalid(format!(
                        "path {:?}: expected /ACCOUNT/CONTAINER for host {host}",
                        url.path()
                    )))
                }
            }
        } else {
            let account = host.split('.').next().unwrap_or_default().to_owned();
            match segments.as_slice() {
                [container] => (account, container.clone()),
                _ => {
                    return Err(invalid(format!(
                        "path {:?}: expected /CONTAINER for host {host}",
                        url.path()
                    )))
                }
            }
        };
        check_container_name(&container)?;
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(Endpoint {
            account,
            container,
            container_url: url,
            sas,
        })
    }

    pub fn account(&self) -> &str {
        &self.account
    }

    pub fn container(&self) -> &str {
        &self.container
    }

    /// The container's URL, without any SAS.
    pub fn container_url(&self) -> &Url {
        &self.container_url
    }

    /// The SAS given in the URL's query, if any.
    pub(crate) fn sas(&self) -> Option<&str> {
        self.sas.as_deref()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.container_url)?;
        if self.sas.is_some() {
            f.write_str("?<SAS>")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({self})")
    }
}

fn path_style(host: &str) -> bool {
    host == "localhost" || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok()
}

/// Azure's container naming rules: 3–63 characters, lowercase letters, digits and single
/// hyphens, starting and ending with a letter or digit.
fn check_container_name(name: &str) -> Result<(), BlobError> {
    let ok = (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(BlobError::Invalid {
            field: "container name",
            reason: format!(
                "{name:?}: 3-63 lowercase letters, digits and single hyphens, not at either end"
            ),
        })
    }
}

/// Azure's blob naming rules that matter here: 1–1024 characters, no control characters.
pub(crate) fn check_blob_name(name: &str) -> Result<(), BlobError> {
    if name.is_empty() || name.len() > 1024 || name.chars().any(char::is_control) {
        return Err(BlobError::Invalid {
            field: "blob name",
            reason: format!("{name:?}: 1-1024 characters, no control characters"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azurite_urls_are_path_style() {
        let e = Endpoint::parse("http://127.0.0.1:10000/devstoreaccount1/runs").unwrap();
        assert_eq!((e.account(), e.container()), ("devstoreaccount1", "runs"));
        assert_eq!(
            e.container_url().as_str(),
            "http://127.0.0.1:10000/devstoreaccount1/runs"
        );
        let e = Endpoint::parse("http://localhost:1/devstoreaccount1/runs/").unwrap();
        assert_eq!(e.container(), "runs");
    }

    #[test]
    fn azure_urls_are_host_style_and_keep_the_sas_apart() {
        let e = Endpoint::parse("https://acct.blob.core.windows.net/runs?sv=1&sig=SECRET").unwrap();
        assert_eq!((e.account(), e.container()), ("acct", "runs"));
        assert_eq!(e.sas(), Some("sv=1&sig=SECRET"));
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(
            shown.contains("https://acct.blob.core.windows.net/runs?<SAS>"),
            "{shown}"
        );
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, needle) in [
            ("ftp://a/b/c", "scheme"),
            ("https://acct.blob.core.windows.net/", "expected /CONTAINER"),
            (
                "http://127.0.0.1:1/onlyaccount",
                "expected /ACCOUNT/CONTAINER",
            ),
            (
                "https://acct.blob.core.windows.net/Bad_Name",
                "container name",
            ),
            ("not a url", "storage URL"),
        ] {
            let err = Endpoint::parse(url).unwrap_err().to_string();
            assert!(err.contains(needle), "{url}: {err}");
        }
    }

    #[test]
    fn blob_names_are_checked() {
        assert!(check_blob_name("runs/r-1/state").is_ok());
        assert!(check_blob_name("").is_err());
        assert!(check_blob_name("a\nb").is_err());
        assert!(check_blob_name(&"x".repeat(1025)).is_err());
    }
}
