//! Named crash points at every boundary of the checkpoint protocol, compiled into the normal
//! binary. `FAILBACK_CRASH_AT=<step>:<point>[@N][,...]` aborts the process the Nth time (default
//! first) that `<step>` reaches `<point>`; `*` matches any step. Crash tests and the demo use it to
//! die at exact instants, the way a power cut or `kill -9` would.

use std::sync::atomic::{AtomicU32, Ordering};

/// Engine points, in protocol order for one step.
pub const BEFORE_INTENT: &str = "before-intent";
pub const AFTER_INTENT: &str = "after-intent";
pub const BEFORE_OUTCOME: &str = "before-outcome";
pub const AFTER_OUTCOME: &str = "after-outcome";
pub const ENGINE_POINTS: [&str; 4] = [BEFORE_INTENT, AFTER_INTENT, BEFORE_OUTCOME, AFTER_OUTCOME];

pub const ENV_VAR: &str = "FAILBACK_CRASH_AT";

struct Rule {
    step: String,
    point: String,
    nth: u32,
    hits: AtomicU32,
}

/// The parsed crash rules of this process (usually none).
#[derive(Default)]
pub struct CrashPoints {
    rules: Vec<Rule>,
}

impl CrashPoints {
    pub fn none() -> Self {
        Self::default()
    }

    /// Rules from `FAILBACK_CRASH_AT`; malformed entries are reported and ignored.
    pub fn from_env() -> Self {
        match std::env::var(ENV_VAR) {
            Ok(spec) => Self::parse(&spec),
            Err(_) => Self::none(),
        }
    }

    pub fn parse(spec: &str) -> Self {
        let mut rules = Vec::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (body, nth) = match entry.rsplit_once('@') {
                Some((b, n)) => match n.parse::<u32>() {
                    Ok(n) if n > 0 => (b, n),
                    _ => {
                        tracing::warn!(entry, "ignoring malformed {ENV_VAR} entry");
                        continue;
                    }
                },
                None => (entry, 1),
            };
            // Step ids contain '/', points do not: split at the last ':'.
            match body.rsplit_once(':') {
                Some((step, point)) if !step.is_empty() && !point.is_empty() => rules.push(Rule {
                    step: step.to_owned(),
                    point: point.to_owned(),
                    nth,
                    hits: AtomicU32::new(0),
                }),
                _ => tracing::warn!(entry, "ignoring malformed {ENV_VAR} entry"),
            }
        }
        Self { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Kill the process (SIGKILL, as `kill -9` would) if a rule names this step and point.
    pub fn hit(&self, step: &str, point: &str) {
        for r in &self.rules {
            if r.point == point && (r.step == "*" || r.step == step) {
                let n = r.hits.fetch_add(1, Ordering::SeqCst) + 1;
                if n == r.nth {
                    eprintln!("failback: crash point {step}:{point} reached, killing (test)");
                    kill_self();
                }
            }
        }
    }
}

/// SIGKILL to this process: no destructors, no flush, no signal handler — a power cut as far
/// as the store can tell.
fn kill_self() -> ! {
    // SAFETY: getpid and kill have no preconditions; kill with SIGKILL does not return.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort()
}
