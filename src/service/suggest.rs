//! "Did you mean …?" for run ids, step ids, states and signals: the nearest candidate by
//! edit distance, when it is near enough to be a typo.

/// The candidate nearest to `input`, if it is within a typo's reach (Jaro-Winkler ≥ 0.8, as
/// clap uses for subcommands).
pub fn did_you_mean(input: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.clone())
}

/// `; did you mean X?` or `; see `LIST``, for a "not found" message.
pub fn not_found_hint(input: &str, candidates: &[String], list_command: &str) -> String {
    match did_you_mean(input, candidates) {
        Some(c) => format!("; did you mean {c}?"),
        None if candidates.is_empty() => String::new(),
        None => format!("; see `{list_command}`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_typo_finds_its_run() {
        let runs = ids(&["fb-1a2b3c4d", "fb-99887766", "e1"]);
        assert_eq!(
            did_you_mean("fb-1a2b3c4e", &runs).as_deref(),
            Some("fb-1a2b3c4d")
        );
        assert_eq!(did_you_mean("zzzz", &runs), None);
    }

    #[test]
    fn states_and_steps() {
        let states = ids(&["pending", "running", "waiting", "failed", "succeeded"]);
        assert_eq!(did_you_mean("runing", &states).as_deref(), Some("running"));
        let steps = ids(&["validate", "vnet-a/create-nic", "vnet-a/create-vm"]);
        assert_eq!(
            did_you_mean("vnet-a/create-mv", &steps).as_deref(),
            Some("vnet-a/create-vm")
        );
        assert_eq!(
            not_found_hint("x", &states, "failback list"),
            "; see `failback list`"
        );
        assert_eq!(not_found_hint("x", &[], "failback list"), "");
    }
}
