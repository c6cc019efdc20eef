//! The Prometheus text format (0.0.4): family headers, samples, label escaping, histograms.

use std::fmt::Write as _;

/// Step duration buckets, seconds of the engine's clock (accelerated in rehearsals).
pub const BUCKETS: [f64; 10] = [
    0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21600.0,
];

#[derive(Default)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    /// The `_bucket`, `_sum` and `_count` samples of one series of family `name`; `labels`
    /// is the series' label list without braces (`a="x",b="y"`).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (b, n) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// `a="x",b="y"` with the values escaped.
pub fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A label value in the text format.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// One sample; `labels` as from [`labels`] (empty: none).
pub fn sample(out: &mut String, name: &str, labels: &str, v: f64) {
    if labels.is_empty() {
        let _ = writeln!(out, "{name} {v}");
    } else {
        let _ = writeln!(out, "{name}{{{labels}}} {v}");
    }
}

pub fn gauge(out: &mut String, name: &str, help: &str, v: f64) {
    header(out, name, "gauge", help);
    sample(out, name, "", v);
}

pub fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    header(out, name, "counter", help);
    sample(out, name, "", v as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let mut h = Histogram::default();
        h.observe(0.2);
        h.observe(7.0);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", &labels(&[("step", "a\"b")]));
        assert!(
            out.contains("x_seconds_bucket{step=\"a\\\"b\",le=\"0.1\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{step=\"a\\\"b\",le=\"0.5\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{step=\"a\\\"b\",le=\"15\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_bucket{step=\"a\\\"b\",le=\"+Inf\"} 2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_sum{step=\"a\\\"b\"} 7.2\n"),
            "{out}"
        );
        assert!(
            out.contains("x_seconds_count{step=\"a\\\"b\"} 2\n"),
            "{out}"
        );
    }
}
