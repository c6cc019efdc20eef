//! Fault injection: rules matched against each ARM/token request, fired by rate (seeded RNG),
//! on the Nth match, or for a count of matches.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FaultMatch {
    /// HTTP method, case-insensitive.
    pub method: Option<String>,
    /// Case-insensitive substring of path + query.
    pub path: Option<String>,
    /// Regex on path + query.
    pub path_regex: Option<String>,
    /// Coarse operation name, e.g. `PUT virtualMachines` (case-insensitive).
    pub operation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status and an ARM error body (429/500/503/504/404…).
    Status {
        status: u16,
        #[serde(default)]
        retry_after: Option<u64>,
        #[serde(default)]
        code: Option<String>,
        #[serde(default)]
        message: Option<String>,
    },
    /// Close the connection without a response.
    Drop,
    /// Hold the request this many real milliseconds before handling it.
    Delay { ms: u64 },
    /// The LRO this request starts ends Failed with this code (or Canceled).
    FailOperation {
        code: String,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        canceled: bool,
    },
    /// The LRO this request starts takes `factor` times longer.
    SlowProvisioning { factor: f64 },
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct FaultTrigger {
    /// Probability per matching request (0.0–1.0), from the scenario-seeded RNG.
    pub rate: Option<f64>,
    /// Fire on the Nth matching request (1-based); with `count`, from the Nth on.
    pub nth: Option<u64>,
    /// Fire at most this many times.
    pub count: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(default)]
    pub id: u64,
    #[serde(rename = "match", default)]
    pub matcher: FaultMatch,
    pub action: FaultAction,
    #[serde(default)]
    pub trigger: FaultTrigger,
    #[serde(default)]
    pub matched: u64,
    #[serde(default)]
    pub fired: u64,
}

impl FaultRule {
    pub fn new(matcher: FaultMatch, action: FaultAction, trigger: FaultTrigger) -> FaultRule {
        FaultRule {
            id: 0,
            matcher,
            action,
            trigger,
            matched: 0,
            fired: 0,
        }
    }
}

pub struct Faults {
    rules: Vec<(FaultRule, Option<regex::Regex>)>,
    rng: StdRng,
    next_id: u64,
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults {
            rules: vec![],
            rng: StdRng::seed_from_u64(seed),
            next_id: 1,
        }
    }

    pub fn add(&mut self, mut rule: FaultRule) -> Result<u64, String> {
        let re = match &rule.matcher.path_regex {
            Some(p) => Some(regex::Regex::new(p).map_err(|e| format!("bad path_regex: {e}"))?),
            None => None,
        };
        if let Some(r) = rule.trigger.rate {
            if !(0.0..=1.0).contains(&r) {
                return Err("rate must be within 0.0..=1.0".into());
            }
        }
        rule.id = self.next_id;
        rule.matched = 0;
        rule.fired = 0;
        self.next_id += 1;
        self.rules.push((rule, re));
        Ok(self.next_id - 1)
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn remove(&mut self, id: u64) -> bool {
        let n = self.rules.len();
        self.rules.retain(|(r, _)| r.id != id);
        n != self.rules.len()
    }

    pub fn list(&self) -> Vec<FaultRule> {
        self.rules.iter().map(|(r, _)| r.clone()).collect()
    }

    pub fn reseed(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }

    /// Actions of every rule that fires for this request.
    pub fn evaluate(
        &mut self,
        method: &str,
        path_query: &str,
        operation: &str,
    ) -> Vec<(u64, FaultAction)> {
        let mut out = vec![];
        let lpath = path_query.to_ascii_lowercase();
        for (rule, re) in self.rules.iter_mut() {
            let m = &rule.matcher;
            if m.method
                .as_ref()
                .is_some_and(|x| !x.eq_ignore_ascii_case(method))
            {
                continue;
            }
            if m.path
                .as_ref()
                .is_some_and(|p| !lpath.contains(&p.to_ascii_lowercase()))
            {
                continue;
            }
            if re.as_ref().is_some_and(|r| !r.is_match(path_query)) {
                continue;
            }
            if m.operation
                .as_ref()
                .is_some_and(|o| !o.eq_ignore_ascii_case(operation))
            {
                continue;
            }
            rule.matched += 1;
            let t = &rule.trigger;
            let fire = match (t.nth, t.count) {
                (Some(n), None) => rule.matched == n,
                (Some(n), Some(c)) => rule.matched >= n && rule.fired < c,
                (None, Some(c)) => rule.fired < c,
                (None, None) => true,
            };
            let fire = fire && t.rate.is_none_or(|r| self.rng.random::<f64>() < r);
            if fire {
                rule.fired += 1;
                out.push((rule.id, rule.action.clone()));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn nth_and_count() {
        let mut f = Faults::new(1);
        let m = FaultMatch {
            method: Some("get".into()),
            ..Default::default()
        };
        f.add(FaultRule::new(
            m,
            FaultAction::Drop,
            FaultTrigger {
                nth: Some(2),
                ..Default::default()
            },
        ))
        .unwrap();
        let fired: Vec<bool> = (0..4)
            .map(|_| !f.evaluate("GET", "/x", "GET x").is_empty())
            .collect();
        assert_eq!(fired, vec![false, true, false, false]);
    }
}
