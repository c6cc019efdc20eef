//! Results: cases per family, one summary line per family, and the final tally.

use std::time::Instant;

/// Run one case; a panic in the suite's own code fails that case, not the whole suite.
pub fn catch(f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(format!(
            "the case panicked: {}",
            p.downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("?")
        )),
    }
}

pub struct Family {
    pub name: &'static str,
    passed: usize,
    failed: Vec<(String, String)>,
    summary: String,
    started: Instant,
    verbose: bool,
}

impl Family {
    pub fn new(name: &'static str, verbose: bool) -> Family {
        Family {
            name,
            passed: 0,
            failed: Vec::new(),
            summary: String::new(),
            started: Instant::now(),
            verbose,
        }
    }

    /// Record one case; failures are printed at once with their reason.
    pub fn case(&mut self, name: &str, result: Result<(), String>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                if self.verbose {
                    println!("  ok   {}: {name}", self.name);
                }
            }
            Err(why) => {
                println!("  FAIL {}: {name}: {why}", self.name);
                self.failed.push((name.to_owned(), why));
            }
        }
    }

    pub fn summary(&mut self, line: String) {
        self.summary = line;
    }

    /// A family-level count that must be zero (duplicates, orphans, leaks…).
    pub fn require_zero(&mut self, n: usize) {
        if n > 0 && self.failed.is_empty() {
            self.failed
                .push(("totals".into(), format!("{n} violations")));
        }
    }

    pub fn line(&self) -> String {
        format!(
            "{}: {} ({} passed, {} failed, {:.0} s)",
            self.name,
            self.summary,
            self.passed,
            self.failed.len(),
            self.started.elapsed().as_secs_f64()
        )
    }

    pub fn passed(&self) -> usize {
        self.passed
    }
    pub fn failed(&self) -> usize {
        self.failed.len()
    }
}
