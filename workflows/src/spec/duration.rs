//! Durations in the spec: `30s`, `5m`, `1h30m`, `2d` — whole numbers with units d, h, m, s,
//! largest unit first, each unit at most once.

use std::time::Duration;

const UNITS: [(char, u64); 4] = [('d', 86_400), ('h', 3_600), ('m', 60), ('s', 1)];

/// Parses a duration; the error says what is allowed.
pub fn parse(text: &str) -> Result<Duration, String> {
    const ALLOWED: &str =
        "expected a duration such as \"30s\", \"5m\", \"1h30m\" or \"2d\" (units d, h, m, s)";
    if text.is_empty() {
        return Err(format!("empty duration; {ALLOWED}"));
    }
    let mut total: u64 = 0;
    let mut last_rank: Option<usize> = None;
    let mut digits = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        let Some(rank) = UNITS.iter().position(|(u, _)| *u == ch) else {
            return Err(if ch.is_alphabetic() {
                format!("{text:?} has unknown unit '{ch}'; {ALLOWED}")
            } else {
                format!("{text:?} has unexpected character {ch:?}; {ALLOWED}")
            });
        };
        if digits.is_empty() {
            return Err(format!(
                "{text:?}: unit '{ch}' has no number before it; {ALLOWED}"
            ));
        }
        if last_rank.is_some_and(|r| rank <= r) {
            return Err(format!(
                "{text:?}: units must appear once each, largest first (d, h, m, s)"
            ));
        }
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("{text:?} is too large"))?;
        total = n
            .checked_mul(UNITS[rank].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("{text:?} is too large"))?;
        digits.clear();
        last_rank = Some(rank);
    }
    if !digits.is_empty() {
        return Err(format!("{text:?} has a number without a unit; {ALLOWED}"));
    }
    Ok(Duration::from_secs(total))
}

/// The canonical text of a whole-second duration: `parse(format(d)) == d`.
pub fn format(d: Duration) -> String {
    let mut secs = d.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in UNITS {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Serde as the canonical text, so snapshots stay readable.
pub(crate) mod serde_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_examples() {
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse("1d2h3m4s"), Ok(Duration::from_secs(93_784)));
    }

    #[test]
    fn refuses_bad_text() {
        for bad in [
            "",
            "5",
            "m",
            "5w",
            "5 m",
            "-5m",
            "30m1h",
            "1m1m",
            "1.5h",
            "99999999999999999999s",
            "18446744073709551615d",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn format_round_trips() {
        for s in [0u64, 1, 59, 60, 3_600, 5_400, 86_400, 93_784, 31_536_000] {
            let d = Duration::from_secs(s);
            assert_eq!(parse(&format(d)), Ok(d));
        }
    }
}
