//! Several daemons on one blob container (Azurite, a real process), the daemon that owns the
//! in-flight runs SIGKILLed again and again at random instants, and restarted as a service
//! manager would: every run completes, each VM is PUT once, nothing is left behind, and the
//! time until every run is owned again is measured per kill (p50 and max printed).
//!
//! Quick: 6 runs, 2 kills, `--lease 15s` (tests/shared_store.rs has more quick cases). Full: 20
//! runs, 20 kills, the default lease (30 s).

use crate::daemon_support::shared::{apply_held, live_daemons, owned, stop_all, wait_succeeded};
use crate::daemon_support::{Daemon, Rehearsal, SPEED};
use crate::report::Family;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "../../azblob/tests/support/mod.rs"]
mod azurite;

struct Plan {
    runs: usize,
    kills: usize,
    lease: Option<&'static str>,
}

pub fn run(full: bool, seed: u64, fam: &mut Family) {
    let plan = if full {
        Plan {
            runs: 20,
            kills: 20,
            lease: None,
        }
    } else {
        Plan {
            runs: 6,
            kills: 2,
            lease: Some("15s"),
        }
    };
    let result = crate::report::catch(|| soak(&plan, seed, fam));
    fam.case("every run completes once", result);
}

fn soak(plan: &Plan, seed: u64, fam: &mut Family) -> Result<(), String> {
    let lease_secs = plan.lease.map_or(30.0, |_| 15.0);
    // The runs hold in await-failback until well after the last kill's takeover.
    let hold = 30.0 + plan.kills as f64 * (lease_secs * 1.3 + 8.0);
    let r = Rehearsal::start_with_db1_failback_after(hold * SPEED);
    let az = azurite::Azurite::start();
    let store = format!("azblob+{}", az.container_url("runs"));
    let dirs: Vec<PathBuf> = (0..3).map(|i| r.path(&format!("state-{i}"))).collect();
    let mut args = vec!["--store".to_owned(), store];
    if let Some(l) = plan.lease {
        args.extend(["--lease".to_owned(), l.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut daemons: Vec<Daemon> = dirs.iter().map(|d| r.daemon_at(d, &args)).collect();
    let ids: Vec<String> = (0..plan.runs).map(|i| format!("t-{i:02}")).collect();
    let mut applies: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| apply_held(&r, &dirs[0], n, id, "5m"))
        .collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut takeovers = Vec::new();
    for kill in 0..plan.kills {
        // The owner of the most runs, once every run is owned (the first time: all applied).
        crate::daemon_support::wait_until(Duration::from_secs(120), "every run owned", || {
            daemons.iter().map(|d| owned(&d.socket)).sum::<usize>() == plan.runs
        });
        let victim = (0..daemons.len())
            .max_by_key(|&i| owned(&daemons[i].socket))
            .unwrap_or(0);
        std::thread::sleep(Duration::from_millis(rng.random_range(0..3000)));
        let killed = Instant::now();
        let dead = daemons.remove(victim);
        dead.kill();
        let deadline = Instant::now() + Duration::from_secs(120);
        while daemons.iter().map(|d| owned(&d.socket)).sum::<usize>() != plan.runs {
            if Instant::now() > deadline {
                return Err(format!(
                    "kill {}: the runs were not taken over within 120 s:\n{}",
                    kill + 1,
                    seen_by(&daemons)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        takeovers.push(killed.elapsed());
        if plan.kills > 1 {
            println!(
                "  takeover: kill {}: owned again after {:?}",
                kill + 1,
                killed.elapsed()
            );
        }
        // Its service manager starts it again.
        daemons.insert(victim, r.daemon_at(&dirs[victim], &args));
    }
    wait_succeeded(&ids, &daemons, Duration::from_secs(hold as u64 + 120));
    stop_all(&mut applies);
    let puts = r.vm_puts();
    let distinct: BTreeSet<&String> = puts.iter().collect();
    let duplicates = puts.len() - distinct.len();
    let orphans = r.left_behind().len();
    takeovers.sort();
    let p50 = takeovers[takeovers.len() / 2];
    let max = takeovers[takeovers.len() - 1];
    fam.summary(format!(
        "{} runs on 3 daemons, {} SIGKILLs of the owner, lease {}s: takeover p50 {:.1} s, max {:.1} s; {duplicates} duplicate VMs, {orphans} orphans",
        plan.runs,
        plan.kills,
        lease_secs,
        p50.as_secs_f64(),
        max.as_secs_f64()
    ));
    fam.require_zero(duplicates + orphans);
    if puts.len() != 2 * plan.runs {
        return Err(format!("{} VM PUTs for {} runs", puts.len(), plan.runs));
    }
    Ok(())
}

/// What each daemon says: the runs it owns, the daemons it counts live, and its log's end.
fn seen_by(daemons: &[Daemon]) -> String {
    let mut out = String::new();
    for d in daemons {
        let log = d.log_text();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        out += &format!(
            "daemon pid {}: owns {}, counts {} live; log ends:\n{}\n",
            d.child.id(),
            owned(&d.socket),
            live_daemons(&d.socket),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    out
}
