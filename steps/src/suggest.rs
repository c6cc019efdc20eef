//! "Did you mean …?": the closest known name to a misspelt one.

/// The candidate closest to `wanted` (case-insensitive edit distance), if it is close enough
/// to be a likely typo: at most a third of the name's length, and at least one edit.
pub fn closest<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let w = wanted.to_lowercase();
    let limit = (w.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(|c| (strsim::levenshtein(&w, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// ` (did you mean X?)`, or nothing.
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(wanted, candidates)
        .map(|c| format!(" (did you mean {c}?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        let names = ["vm-app1", "vm-app2", "vm-db1"];
        assert_eq!(closest("vm-ap2", names), Some("vm-app2"));
        assert_eq!(closest("VM-APP2", names), Some("vm-app2"));
        assert_eq!(closest("fileserver", names), None);
        assert_eq!(did_you_mean("vm-db", names), " (did you mean vm-db1?)");
        assert_eq!(did_you_mean("x", names), "");
    }
}
