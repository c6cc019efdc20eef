//! The live view of a followed run on a terminal: one line per step (indicatif), with its
//! state, how long it has been at it, and what it waits for. Pipes and logs get plain lines.

use super::follow::describe;
use crate::render::time::fmt_utc;
use failback_state::{EventKind, EventRecord};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::time::Duration;

pub struct Live {
    mp: MultiProgress,
    bars: HashMap<(String, String), ProgressBar>,
    style: ProgressStyle,
    many: bool,
}

impl Live {
    pub fn new(many: bool) -> Self {
        let style = ProgressStyle::with_template("{spinner} {prefix:<30} {elapsed:>5}  {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        Self {
            mp: MultiProgress::new(),
            bars: HashMap::new(),
            style,
            many,
        }
    }

    pub fn event(&mut self, ev: &EventRecord) {
        let Some(step) = &ev.step_id else {
            let run = if self.many {
                format!("{} ", ev.run_id)
            } else {
                String::new()
            };
            let _ = self
                .mp
                .println(format!("{} {run}{}", fmt_utc(ev.at), describe(ev)));
            return;
        };
        let key = (ev.run_id.clone(), step.clone());
        let bar = self.bars.entry(key).or_insert_with(|| {
            let b = self.mp.add(ProgressBar::new_spinner());
            b.set_style(self.style.clone());
            b.set_prefix(if self.many {
                format!("{} {step}", ev.run_id)
            } else {
                step.clone()
            });
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        let text = describe(ev);
        match &ev.kind {
            EventKind::StepSucceeded { .. }
            | EventKind::StepCompensated
            | EventKind::StepSkipped => bar.finish_with_message(text),
            EventKind::StepFailed { .. } => bar.abandon_with_message(text),
            _ => bar.set_message(text),
        }
    }

    /// Stop the spinners of steps still in progress (interrupt, or a run left waiting).
    pub fn finish(self) {
        for b in self.bars.values() {
            if !b.is_finished() {
                b.abandon();
            }
        }
    }
}
