//! Durations and UTC timestamps, hand-written to keep the binary free of a date crate.
//! Every function takes the instants it needs; nothing here reads the clock.

/// A short human duration: `850ms`, `42s`, `4m 10s`, `3h 5m`, `2d 3h`. Only the two most
/// significant units are shown, and a zero second unit is dropped (`4m`, not `4m 0s`).
pub fn fmt_duration(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let s = ms / 1_000;
    let (big, small, big_unit, small_unit) = if s < 60 {
        return format!("{s}s");
    } else if s < 3_600 {
        (s / 60, s % 60, "m", "s")
    } else if s < 86_400 {
        (s / 3_600, (s % 3_600) / 60, "h", "m")
    } else {
        (s / 86_400, (s % 86_400) / 3_600, "d", "h")
    };
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit} {small}{small_unit}")
    }
}

/// RFC 3339 UTC with second precision: `2026-11-24T12:04:05Z`.
pub fn fmt_utc(ms: u64) -> String {
    let (y, mo, d) = civil_from_days(ms / 86_400_000);
    format!("{y:04}-{mo:02}-{d:02}T{}Z", fmt_clock(ms))
}

/// Time of day in UTC: `12:04:05`.
pub fn fmt_clock(ms: u64) -> String {
    let s = (ms / 1_000) % 86_400;
    format!("{:02}:{:02}:{:02}", s / 3_600, (s % 3_600) / 60, s % 60)
}

/// `at` as a time of day when it falls on the same UTC day as `reference`, else in full.
pub fn fmt_utc_near(at: u64, reference: u64) -> String {
    if at / 86_400_000 == reference / 86_400_000 {
        fmt_clock(at)
    } else {
        fmt_utc(at)
    }
}

/// `at` relative to `now`: `in 4m 10s`, `5m ago`, or `now` within a second.
pub fn fmt_relative(at: u64, now: u64) -> String {
    if at.abs_diff(now) < 1_000 {
        "now".to_owned()
    } else if at > now {
        format!("in {}", fmt_duration(at - now))
    } else {
        format!("{} ago", fmt_duration(now - at))
    }
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's `civil_from_days`, restricted to non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(0), "0ms");
        assert_eq!(fmt_duration(850), "850ms");
        assert_eq!(fmt_duration(1_000), "1s");
        assert_eq!(fmt_duration(59_999), "59s");
        assert_eq!(fmt_duration(250_000), "4m 10s");
        assert_eq!(fmt_duration(240_000), "4m");
        assert_eq!(fmt_duration(3_600_000 + 5 * 60_000 + 7_000), "1h 5m");
        assert_eq!(fmt_duration((2 * 86_400 + 3 * 3_600 + 59) * 1_000), "2d 3h");
        assert_eq!(fmt_duration(86_400_000), "1d");
        // Must not overflow or panic at the extreme.
        assert!(fmt_duration(u64::MAX).ends_with('h'));
    }

    #[test]
    fn utc() {
        assert_eq!(fmt_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(fmt_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(fmt_utc(1_795_867_445_999), "2026-11-28T12:04:05Z");
        assert_eq!(fmt_utc(4_107_542_399_000), "2100-02-28T23:59:59Z");
        assert_eq!(fmt_utc(4_107_542_400_000), "2100-03-01T00:00:00Z");
        assert!(fmt_utc(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn utc_matches_day_arithmetic() {
        // Walk 1970..2400 a day at a time: dates advance by exactly one day.
        let mut prev = civil_from_days(0);
        for day in 1..157_000u64 {
            let cur = civil_from_days(day);
            let next_in_month = (prev.0, prev.1, prev.2 + 1);
            let next_month = if prev.1 == 12 {
                (prev.0 + 1, 1, 1)
            } else {
                (prev.0, prev.1 + 1, 1)
            };
            assert!(
                cur == next_in_month || cur == next_month,
                "{prev:?} -> {cur:?}"
            );
            prev = cur;
        }
    }

    #[test]
    fn relative() {
        assert_eq!(fmt_relative(10_500, 10_000), "now");
        assert_eq!(fmt_relative(260_000, 10_000), "in 4m 10s");
        assert_eq!(fmt_relative(10_000, 310_000), "5m ago");
        assert_eq!(fmt_utc_near(3_600_000, 0), "01:00:00");
        assert_eq!(fmt_utc_near(86_400_000, 0), "1970-01-02T00:00:00Z");
    }
}
