//! Single-value rules. Each returns `Err(message)` saying what is allowed; the caller adds the
//! position and field path. Azure rules are the ones ARM would reject with 400 after a run had
//! already created resources, so they are checked up front.

/// Windows `adminUsername` values Azure refuses (REFERENCE.md §5).
pub const RESERVED_USERNAMES: &[&str] = &[
    "administrator",
    "admin",
    "user",
    "user1",
    "user2",
    "user3",
    "user4",
    "user5",
    "test",
    "test1",
    "test2",
    "test3",
    "admin1",
    "admin2",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
];

/// Windows `adminPassword` values Azure refuses (REFERENCE.md §5).
const REFUSED_PASSWORDS: &[&str] = &[
    "abc@123",
    "P@$$w0rd",
    "P@ssw0rd",
    "P@ssword123",
    "Pa$$word",
    "pass@word1",
    "Password!",
    "Password1",
    "Password22",
    "iloveyou!",
];

/// The closest candidate within a small edit distance, for "did you mean" hints.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).clamp(1, 3);
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, hex digits.
pub fn guid(s: &str) -> Result<(), String> {
    let groups: Vec<&str> = s.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not a GUID (expected 8-4-4-4-12 hex digits, like 00000000-0000-0000-0000-000000000000)"))
    }
}

/// An absolute `http` or `https` URL with a host.
pub fn http_url(s: &str) -> Result<url::Url, String> {
    let u = url::Url::parse(s)
        .map_err(|e| format!("{s:?} is not a URL ({e}); expected http(s)://host[:port]"))?;
    // Before anything echoes the URL: a password in it must not reach the store or output.
    if !u.username().is_empty() || u.password().is_some() {
        return Err(format!(
            "{}://…@{}: a URL must not carry a user name or password; credentials belong in \
             [azure.credential]",
            u.scheme(),
            u.host_str().unwrap_or("")
        ));
    }
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} must be an http or https URL with a host"));
    }
    Ok(u)
}

/// A branch id / name prefix: lowercase letters, digits and '-', no leading or trailing '-'.
pub fn slug(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty; use lowercase letters, digits and '-'".into());
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "{s:?} contains {c:?}; allowed: lowercase letters a-z, digits and '-'"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("{s:?} must not start or end with '-'"));
    }
    Ok(())
}

/// Windows computer name (OSProfile.computerName): ≤ 15 chars, not all digits.
pub fn computer_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if n > 15 {
        return Err(format!(
            "computer name {name:?} (\"{{name_prefix}}-{{network name}}\") is {n} characters; Windows allows at most 15: shorten process_server.name_prefix or the network name"
        ));
    }
    if name.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return Err(format!("computer name {name:?} must contain a letter"));
    }
    Ok(())
}

/// Windows `adminUsername` (REFERENCE.md §5).
pub fn admin_username(s: &str) -> Result<(), String> {
    if s.is_empty() || s.chars().count() > 20 {
        return Err(format!("{s:?} must be 1 to 20 characters"));
    }
    if s.ends_with('.') {
        return Err(format!("{s:?} must not end with '.'"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| r#"\/"[]:|<>+=;,?*@ "#.contains(*c) || c.is_control())
    {
        return Err(format!(
            "{s:?} contains {c:?}, which Windows user names cannot contain"
        ));
    }
    if RESERVED_USERNAMES.iter().any(|r| r.eq_ignore_ascii_case(s)) {
        return Err(format!("{s:?} is a user name Azure refuses for Windows VMs (reserved: administrator, admin, user, test, guest, root, …); choose another"));
    }
    Ok(())
}

/// Windows `adminPassword`: 12–123 chars (the portal's minimum; Azure's is 8), 3 of 4 classes,
/// not a refused value. The message never contains the password.
pub fn admin_password(p: &str) -> Result<(), String> {
    let n = p.chars().count();
    if !(12..=123).contains(&n) {
        return Err(format!(
            "the admin password is {n} characters; it must be 12 to 123"
        ));
    }
    let classes = [
        p.chars().any(|c| c.is_lowercase()),
        p.chars().any(|c| c.is_uppercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|b| **b).count() < 3 {
        return Err("the admin password needs 3 of: a lowercase letter, an uppercase letter, a digit, a special character".into());
    }
    if REFUSED_PASSWORDS.contains(&p) {
        return Err("the admin password is on Azure's list of refused passwords".into());
    }
    Ok(())
}

/// Resource group: 1–90 of letters, digits, '_', '-', '.', '(' and ')'; not ending in '.'.
pub fn resource_group(s: &str) -> Result<(), String> {
    let ok_chars = s
        .chars()
        .all(|c| c.is_alphanumeric() || "_-.()".contains(c));
    if s.is_empty() || s.chars().count() > 90 || !ok_chars || s.ends_with('.') {
        return Err(format!(
            "{s:?} is not a resource group name: 1 to 90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'"
        ));
    }
    Ok(())
}

/// Names of networking resources (VNet ≤ 64, subnet ≤ 80): letters, digits, '_', '.', '-';
/// start with a letter or digit; end with a letter, digit or '_'.
pub fn network_resource(s: &str, max: usize) -> Result<(), String> {
    let first_ok = s.chars().next().is_some_and(char::is_alphanumeric);
    let last_ok = s
        .chars()
        .last()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    let chars_ok = s.chars().all(|c| c.is_alphanumeric() || "_.-".contains(c));
    if s.chars().count() > max || !first_ok || !last_ok || !chars_ok {
        return Err(format!(
            "{s:?} is not a valid name: 1 to {max} letters, digits, '_', '.' or '-', starting with a letter or digit and ending with a letter, digit or '_'"
        ));
    }
    Ok(())
}

/// Recovery Services vault: 2–50 letters, digits and '-', starting with a letter.
pub fn vault(s: &str) -> Result<(), String> {
    let ok = (2..=50).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a vault name: 2 to 50 letters, digits and '-', starting with a letter"
        ))
    }
}

/// A name used as one ARM path segment (fabric, image parts, VM size).
pub fn segment(s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.chars().any(|c| "/?#%\\".contains(c) || c.is_control()) {
        return Err(format!(
            "{s:?} must be non-empty and must not contain '/', '?', '#', '%' or '\\'"
        ));
    }
    Ok(())
}

/// An environment variable name.
pub fn env_name(s: &str) -> Result<(), String> {
    let ok = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("{s:?} is not an environment variable name (letters, digits and '_', not starting with a digit)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(guid("0f4c2e5a-1b2c-4d3e-8f9a-0b1c2d3e4f5a").is_ok());
        assert!(guid("0f4c2e5a-1b2c-4d3e-8f9a-0b1c2d3e4f5").is_err());
        assert!(guid("not-a-guid").is_err());
        assert!(admin_username("Admin").is_err());
        assert!(admin_username("failbackadmin").is_ok());
        assert!(admin_username("a.").is_err());
        assert!(admin_password("Fb-Test-Passw0rd!").is_ok());
        assert!(admin_password("alllowercaseletters").is_err());
        assert!(computer_name("ps-0123456789abc").is_err());
        assert!(computer_name("ps-vnet-a").is_ok());
        assert!(slug("-a").is_err() && slug("A").is_err() && slug("vnet-a").is_ok());
        assert_eq!(
            closest("westeurop", ["westeurope", "eastus"]),
            Some("westeurope")
        );
        assert_eq!(closest("zzz", ["westeurope"]), None);
        assert!(http_url("http://127.0.0.1:1").is_ok());
        assert!(http_url("ftp://x").is_err() && http_url("nope").is_err());
    }
}
