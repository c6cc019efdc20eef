//! Fair share: on a store several daemons share, each takes no more than its share of the
//! unfinished runs — `ceil(unfinished / live daemons)` — so that new runs, and the runs of a
//! daemon that died, spread over the daemons that are left instead of going all to whichever
//! looked first. A run this process already drives stays; a run another process holds is not
//! touched; a free run is taken while this process is under its share, oldest first.
//!
//! Views differ between daemons (each read the store at another instant), so shares may add
//! up to fewer than the free runs for a scan or two. A free run that stays free for
//! [`STARVED_AFTER`] scans is taken regardless of share: no run waits on the daemons agreeing.

use failback_state::Membership;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

/// Scans a run may stay free, skipped by this process for its share, before it is taken anyway.
pub const STARVED_AFTER: u32 = 3;

/// One daemon's share of `unfinished` runs among `live` daemons (at least one: this one).
pub fn share_of(unfinished: usize, live: usize) -> usize {
    unfinished.div_ceil(live.max(1))
}

/// What the scans skipped: how many times in a row each free run was left to others.
#[derive(Default)]
pub(crate) struct Skipped {
    counts: Mutex<HashMap<String, u32>>,
}

/// The runs of a scan, split by who has them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Split {
    /// Runs this process drives or holds: it goes on with them.
    pub mine: Vec<String>,
    /// Free runs it takes now.
    pub take: Vec<String>,
}

impl Skipped {
    /// Split `unfinished` (oldest first) for this process, which drives or holds `mine`,
    /// given who holds what (`membership`), and remember the free runs it left.
    pub(crate) fn split(
        &self,
        unfinished: &[String],
        mine: &HashSet<String>,
        membership: &Membership,
    ) -> Split {
        let share = share_of(unfinished.len(), membership.live);
        let mut out = Split::default();
        let mut free = Vec::new();
        for id in unfinished {
            if mine.contains(id) {
                out.mine.push(id.clone());
            } else if !membership.held.contains(id) {
                free.push(id.clone());
            }
        }
        let mut room = share.saturating_sub(out.mine.len());
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let free_now: BTreeSet<&String> = free.iter().collect();
        counts.retain(|id, _| free_now.contains(id));
        for id in free {
            let skipped = counts.get(&id).copied().unwrap_or(0);
            if room > 0 || skipped >= STARVED_AFTER {
                room = room.saturating_sub(1);
                counts.remove(&id);
                out.take.push(id);
            } else {
                counts.insert(id, skipped + 1);
            }
        }
        out
    }
}

/// Whether a process that drives or holds `mine` of `unfinished` runs (a new one included)
/// should drive a new run itself, or leave it free for a daemon with fewer.
pub fn drives_new(unfinished: usize, mine: usize, live: usize) -> bool {
    mine < share_of(unfinished, live)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn membership(live: usize, held: &[&str]) -> Membership {
        Membership {
            live,
            held: held.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_share_is_the_unfinished_runs_over_the_live_daemons_rounded_up() {
        assert_eq!(share_of(6, 3), 2);
        assert_eq!(share_of(7, 3), 3);
        assert_eq!(share_of(1, 3), 1);
        assert_eq!(share_of(0, 3), 0);
        assert_eq!(share_of(5, 0), 5, "no member seen yet: this one alone");
    }

    #[test]
    fn the_survivors_of_a_dead_daemon_split_its_runs() {
        // 6 runs, all free (their owner died); 2 live daemons; each scan takes 3.
        let all = ids(&["a", "b", "c", "d", "e", "f"]);
        let first = Skipped::default().split(&all, &HashSet::new(), &membership(2, &[]));
        assert_eq!(first.take, ids(&["a", "b", "c"]));
        // The second daemon reads after the first took its three.
        let second =
            Skipped::default().split(&all, &HashSet::new(), &membership(2, &["a", "b", "c"]));
        assert_eq!(second.take, ids(&["d", "e", "f"]));
    }

    #[test]
    fn runs_held_here_count_against_the_share_and_stay() {
        let all = ids(&["a", "b", "c", "d", "e", "f"]);
        let mine: HashSet<String> = ids(&["a", "b"]).into_iter().collect();
        let split = Skipped::default().split(&all, &mine, &membership(3, &["a", "b", "c"]));
        assert_eq!(split.mine, ids(&["a", "b"]));
        assert!(split.take.is_empty(), "a share of 2 is full: {split:?}");
    }

    #[test]
    fn a_run_left_free_by_every_daemon_is_taken_after_some_scans() {
        // Views that disagree: this daemon is full, and the run stays free.
        let all = ids(&["a", "b"]);
        let mine: HashSet<String> = ids(&["a"]).into_iter().collect();
        let skipped = Skipped::default();
        let view = membership(2, &["a"]);
        for _ in 0..STARVED_AFTER {
            assert!(skipped.split(&all, &mine, &view).take.is_empty());
        }
        assert_eq!(skipped.split(&all, &mine, &view).take, ids(&["b"]));
    }

    #[test]
    fn a_new_run_goes_to_a_daemon_under_its_share() {
        assert!(drives_new(1, 0, 3));
        assert!(!drives_new(2, 1, 3), "share of 2 runs over 3 daemons is 1");
        assert!(drives_new(4, 1, 3));
        assert!(drives_new(10, 9, 1), "alone: every run");
    }
}
