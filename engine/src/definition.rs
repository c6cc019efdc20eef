//! Workflow definitions: a DAG of steps with stable string ids, validated before use.

use crate::step::Step;
use crate::EngineError;
use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};
use rand::Rng;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// How transient failures are retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Transient failures tolerated before the step fails (0 = never retry).
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub multiplier: f64,
    /// Fraction of the delay randomised (0.0–1.0), so retries of many runs spread out.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            initial_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    pub fn none() -> Self {
        Self {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// Delay before retry number `retry` (1-based). A delay the other side asked for
    /// (Retry-After) wins over the backoff; jitter only ever lengthens it, so a server's
    /// Retry-After is never undercut.
    pub fn delay(&self, retry: u32, requested: Option<Duration>) -> Duration {
        let base = match requested {
            Some(d) => d,
            None => {
                let exp = self.multiplier.powi(retry.saturating_sub(1).min(30) as i32);
                let secs = self.initial_backoff.as_secs_f64() * exp;
                Duration::from_secs_f64(secs.min(self.max_backoff.as_secs_f64()))
            }
        };
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 || base.is_zero() {
            return base;
        }
        let extra = rand::rng().random_range(0.0..=jitter);
        base.mul_f64(1.0 + extra)
    }
}

/// One node of a [`WorkflowDef`].
#[derive(Clone)]
pub struct StepDef {
    pub id: String,
    pub deps: Vec<String>,
    pub step: Arc<dyn Step>,
    pub input: Value,
    pub retry: RetryPolicy,
    /// Bound on one execution (not on a `Wait`, whose bound is its deadline).
    pub timeout: Duration,
    /// Undoes the step on `cancel --teardown`; receives the step's output as input.
    pub compensation: Option<Arc<dyn Step>>,
}

impl StepDef {
    pub fn new(id: impl Into<String>, step: Arc<dyn Step>) -> Self {
        Self {
            id: id.into(),
            deps: Vec::new(),
            step,
            input: Value::Null,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(600),
            compensation: None,
        }
    }
    pub fn after<I, S>(mut self, deps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.deps.extend(deps.into_iter().map(Into::into));
        self
    }
    pub fn input(mut self, input: Value) -> Self {
        self.input = input;
        self
    }
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    pub fn compensate_with(mut self, step: Arc<dyn Step>) -> Self {
        self.compensation = Some(step);
        self
    }
}

/// A validated DAG: ids unique and well-formed, dependencies known, no cycles.
pub struct WorkflowDef {
    pub name: String,
    pub version: u32,
    steps: Vec<StepDef>,
    index: HashMap<String, usize>,
    /// Step indices in a topological order (stable for equal inputs).
    order: Vec<usize>,
    dependents: Vec<Vec<usize>>,
}

/// Step ids: letters, digits, `.`, `_`, `-`, and `/` between parts (`vnet-a/create-nic`).
pub fn valid_step_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('/')
        && !id.ends_with('/')
        && !id.contains("//")
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

impl WorkflowDef {
    pub fn new(
        name: impl Into<String>,
        version: u32,
        steps: Vec<StepDef>,
    ) -> Result<Self, EngineError> {
        let name = name.into();
        let mut index = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            if !valid_step_id(&s.id) {
                return Err(EngineError::InvalidDefinition(format!(
                    "step id {:?} is not valid (letters, digits, '.', '_', '-', '/' between parts)",
                    s.id
                )));
            }
            if index.insert(s.id.clone(), i).is_some() {
                return Err(EngineError::InvalidDefinition(format!(
                    "step id {:?} is defined twice",
                    s.id
                )));
            }
        }
        let mut graph: DiGraph<usize, ()> = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..steps.len()).map(|i| graph.add_node(i)).collect();
        let mut dependents = vec![Vec::new(); steps.len()];
        for (i, s) in steps.iter().enumerate() {
            for d in &s.deps {
                let Some(&j) = index.get(d) else {
                    return Err(EngineError::InvalidDefinition(format!(
                        "step {:?} depends on unknown step {:?}",
                        s.id, d
                    )));
                };
                graph.add_edge(nodes[j], nodes[i], ());
                dependents[j].push(i);
            }
        }
        let order = match toposort(&graph, None) {
            Ok(_) => stable_topo(&steps, &dependents),
            Err(cycle) => {
                let names = find_cycle(&steps, &index, graph[cycle.node_id()]);
                return Err(EngineError::InvalidDefinition(format!(
                    "dependency cycle: {}",
                    names.join(" -> ")
                )));
            }
        };
        Ok(Self {
            name,
            version,
            steps,
            index,
            order,
            dependents,
        })
    }

    pub fn steps(&self) -> &[StepDef] {
        &self.steps
    }
    pub fn get(&self, id: &str) -> Option<&StepDef> {
        self.index.get(id).map(|&i| &self.steps[i])
    }
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
    /// Steps in topological order.
    pub fn topo(&self) -> impl DoubleEndedIterator<Item = &StepDef> {
        self.order.iter().map(|&i| &self.steps[i])
    }
    /// Direct successors of step `i`.
    pub fn dependents_of(&self, i: usize) -> &[usize] {
        &self.dependents[i]
    }
    /// `id` and everything downstream of it.
    pub fn descendants(&self, id: &str) -> Vec<String> {
        let Some(&start) = self.index.get(id) else {
            return Vec::new();
        };
        let mut seen = vec![false; self.steps.len()];
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(&self.dependents[i]);
            }
        }
        self.order
            .iter()
            .filter(|&&i| seen[i])
            .map(|&i| self.steps[i].id.clone())
            .collect()
    }
    /// Edges as (from, to) step ids, for graph rendering.
    pub fn edges(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for s in self.topo() {
            for d in &s.deps {
                out.push((d.clone(), s.id.clone()));
            }
        }
        out
    }
}

/// Kahn's algorithm taking the lowest definition index first, so the order follows the
/// definition (branches in spec order) rather than graph internals.
fn stable_topo(steps: &[StepDef], dependents: &[Vec<usize>]) -> Vec<usize> {
    let mut indegree: Vec<usize> = steps.iter().map(|s| s.deps.len()).collect();
    let mut ready: std::collections::BTreeSet<usize> =
        (0..steps.len()).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &j in &dependents[i] {
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.insert(j);
            }
        }
    }
    order
}

/// The full cycle through `start`, named step by step (petgraph reports only one node).
fn find_cycle(steps: &[StepDef], index: &HashMap<String, usize>, start: usize) -> Vec<String> {
    // Depth-first search along dependency edges back to `start`.
    let mut path = vec![start];
    let mut iters: Vec<usize> = vec![0];
    let mut on_path: HashSet<usize> = HashSet::new();
    on_path.insert(start);
    while let Some(&node) = path.last() {
        let pos = iters.last().copied().unwrap_or(0);
        let deps = &steps[node].deps;
        if pos >= deps.len() {
            path.pop();
            iters.pop();
            on_path.remove(&node);
            continue;
        }
        if let Some(top) = iters.last_mut() {
            *top += 1;
        }
        let Some(&next) = index.get(&deps[pos]) else {
            continue;
        };
        if next == start {
            // `path` follows "depends on" edges; print it in execution order.
            let mut names = vec![steps[start].id.clone()];
            names.extend(path[1..].iter().rev().map(|&i| steps[i].id.clone()));
            names.push(steps[start].id.clone());
            return names;
        }
        if on_path.contains(&next) {
            continue;
        }
        path.push(next);
        iters.push(0);
        on_path.insert(next);
    }
    vec![steps[start].id.clone()]
}
