//! `--recommend`: the cheapest policy that meets the SLO with zero drops.
//!
//! Candidates vary `min_instances`, `max_instances`, `workers_per_instance`
//! (Gunicorn's 2–4 workers per core), `scale_up.step_percent` and
//! `scale_down.window_seconds`; everything else stays the user's. Runs are
//! parallel (rayon), cheapest-looking first, reuse identical runs, and stop early at the first breach or drop, or once they cost
//! more than the cheapest passing candidate found so far (instance-hours only grow,
//! so such a run can never win; ties are broken by candidate order, so the answer
//! does not depend on thread timing).
//!
//! With a database connection limit, candidates whose `max_instances` would hold
//! more connections than it accepts are excluded (never run, never picked), and
//! the largest fleet that fits is added as one more `max_instances` value.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use serde::Serialize;

use super::engine::{self, RunOptions, SimulationTotals, WorkerCapacity, Workload};
use super::latency::{LatencyModel, MeasuredCurve};
use super::policy::Policy;
use super::whatif::{fleet_cap, DbLimit};

/// The chosen policy and its figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// Fewest instances, instances.
    pub min_instances: u32,
    /// Most instances, instances.
    pub max_instances: u32,
    /// Gunicorn workers per instance, workers.
    pub workers_per_instance: u32,
    /// Scale-up step, percent of capacity.
    pub step_percent: f64,
    /// Scale-down window, seconds.
    pub window_seconds: f64,
    /// Instance time, instance-hours.
    pub instance_hours: f64,
    /// Cost at `--instance-cost` (0 without it), currency.
    pub cost: f64,
    /// Time with p95 above the SLO, minutes (0 by construction).
    pub breach_minutes: f64,
    /// Worst step p95, ms.
    pub max_p95_ms: f64,
    /// Requests dropped (0 by construction), requests.
    pub dropped_requests: f64,
    /// Connections held at the fleet's peak (null without a database limit), connections.
    pub peak_connections: Option<u64>,
}

/// The search and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Search {
    /// Policies evaluated, policies.
    pub candidates: usize,
    /// Simulations run (the rest reused an identical run with a larger max), runs.
    pub simulated: usize,
    /// Policies left out because `max_instances × workers × pool` exceeds the
    /// database's connections (not counted in `candidates`), policies.
    pub excluded_db_connections: usize,
    /// The cheapest passing policy, if any passed.
    pub best: Option<Recommendation>,
}

/// One point of the grid.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    min: u32,
    max: u32,
    workers: u32,
    step_percent: f64,
    window: f64,
}

/// The grid for `cores` cores (see the module comment), and how many of its
/// policies the database limit excluded.
fn candidates(
    base: &Policy,
    capacity: &WorkerCapacity,
    peak_rps: f64,
    cores: u32,
    db_limit: Option<DbLimit>,
) -> (Vec<Candidate>, usize) {
    let mut steps = vec![10.0, 20.0, 50.0, 100.0, base.scale_up.step_percent];
    steps.sort_by(f64::total_cmp);
    steps.dedup();
    let mut windows = vec![60.0, 300.0, 900.0, base.scale_down.window_seconds];
    windows.sort_by(f64::total_cmp);
    windows.dedup();
    windows.retain(|w| *w <= base.scale_down.max_window_seconds);

    let mut out = Vec::new();
    let mut excluded = 0;
    for workers in 2 * cores..=4 * cores {
        let db_cap = fleet_cap(db_limit, workers);
        let per_instance = f64::from(workers) * capacity.rps_per_worker;
        let peak = ((peak_rps / per_instance).ceil() as u32).max(1);
        let mut mins: Vec<u32> = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0]
            .iter()
            .map(|f| ((f64::from(peak) * f).round() as u32).max(1))
            .collect();
        mins.dedup();
        let mut maxes: Vec<u32> = [1.0, 1.25, 1.5, 2.0, 3.0]
            .iter()
            .map(|f| ((f64::from(peak) * f).ceil() as u32).max(1))
            .collect();
        // The largest fleet the database allows, when it cuts into the range.
        if (1..*maxes.last().unwrap_or(&0)).contains(&db_cap) {
            maxes.push(db_cap);
            maxes.sort_unstable();
        }
        // Small peaks round several factors to the same max: one candidate each.
        maxes.dedup();
        for &min in &mins {
            for &max in maxes.iter().filter(|&&m| m >= min) {
                if max > db_cap {
                    excluded += steps.len() * windows.len();
                    continue;
                }
                for &step_percent in &steps {
                    for &window in &windows {
                        out.push(Candidate {
                            min,
                            max,
                            workers,
                            step_percent,
                            window,
                        });
                    }
                }
            }
        }
    }
    (out, excluded)
}

/// What the search is asked for, besides the workload and the user's policy.
#[derive(Debug, Clone, Copy)]
pub struct SearchSettings<'a> {
    /// What one worker can do.
    pub capacity: &'a WorkerCapacity,
    /// A capacity profile's measured curve: the latency model every candidate is judged by.
    pub curve: Option<&'a MeasuredCurve>,
    /// Highest demand (sizes the grid), rps.
    pub peak_rps: f64,
    /// Cores per instance: 2..4 workers per core.
    pub cores: u32,
    /// Price per instance-hour (0 when unknown: cheapest = fewest instance-hours).
    pub instance_cost: f64,
    /// No candidate whose largest fleet would exceed it is run or picked.
    pub db_limit: Option<DbLimit>,
}

/// Search the grid.
pub fn search(workload: &Workload, base: &Policy, settings: &SearchSettings) -> Search {
    let SearchSettings {
        capacity,
        curve,
        peak_rps,
        cores,
        instance_cost,
        db_limit,
    } = *settings;
    let (grid, excluded) = candidates(base, capacity, peak_rps, cores, db_limit);
    let mu = 1.0 / capacity.service_time_seconds;
    let tables: BTreeMap<u32, LatencyModel> = grid
        .iter()
        .map(|c| c.workers)
        .collect::<std::collections::BTreeSet<_>>()
        .into_par_iter()
        .map(|w| (w, LatencyModel::new(w, mu, curve)))
        .collect();
    let best_hours = AtomicU64::new(f64::INFINITY.to_bits());

    // Candidates differing only in max_instances form a group, run from the largest
    // max down: a run that never asked for more than a smaller max is exactly the
    // run with that max, so it is reused instead of simulated again.
    let mut groups: BTreeMap<(u32, u32, u64, u64), Vec<usize>> = BTreeMap::new();
    for (index, c) in grid.iter().enumerate() {
        let key = (
            c.workers,
            c.min,
            c.step_percent.to_bits(),
            c.window.to_bits(),
        );
        groups.entry(key).or_default().push(index);
    }
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    for group in &mut groups {
        group.sort_by(|&a, &b| grid[b].max.cmp(&grid[a].max).then(a.cmp(&b)));
    }
    // Cheapest-looking groups first (par_bridge hands them out in this order), so a
    // low bar is found early and most expensive candidates stop within a few steps.
    let mean_rps = workload.demand.iter().sum::<f64>() / workload.demand.len().max(1) as f64;
    let proxy = |c: &Candidate| {
        let needed = mean_rps / (f64::from(c.workers) * capacity.rps_per_worker * 0.75);
        needed.max(f64::from(c.min))
    };
    groups.sort_by(|a, b| {
        proxy(&grid[a[0]])
            .total_cmp(&proxy(&grid[b[0]]))
            .then(a[0].cmp(&b[0]))
    });
    let simulated = AtomicU64::new(0);

    let passing: Vec<(usize, Candidate, SimulationTotals)> = groups
        .into_iter()
        .par_bridge()
        .flat_map_iter(|group| {
            let mut previous: Option<SimulationTotals> = None;
            let mut results = Vec::new();
            for index in group {
                let candidate = grid[index];
                let totals = match previous {
                    Some(totals) if totals.max_requested <= candidate.max => totals,
                    _ => {
                        simulated.fetch_add(1, Ordering::Relaxed);
                        let policy = apply(base, candidate);
                        let options = RunOptions {
                            record_timeline: false,
                            stop_on_failure: true,
                            max_instance_hours: Some(f64::from_bits(
                                best_hours.load(Ordering::Relaxed),
                            )),
                            db_limit,
                        };
                        let table = &tables[&candidate.workers];
                        engine::run(workload, &policy, capacity, table, options).totals
                    }
                };
                previous = Some(totals);
                if totals.completed {
                    best_hours.fetch_min_f64(totals.instance_hours);
                    results.push((index, candidate, totals));
                }
            }
            results
        })
        .collect();

    let best = passing
        .into_iter()
        .min_by(|a, b| {
            a.2.instance_hours
                .total_cmp(&b.2.instance_hours)
                .then(a.0.cmp(&b.0))
        })
        .map(|(_, c, totals)| Recommendation {
            min_instances: c.min,
            max_instances: c.max,
            workers_per_instance: c.workers,
            step_percent: c.step_percent,
            window_seconds: c.window,
            instance_hours: totals.instance_hours,
            cost: totals.instance_hours * instance_cost,
            breach_minutes: totals.breach_minutes,
            max_p95_ms: totals.max_p95_ms,
            dropped_requests: totals.dropped_requests,
            peak_connections: db_limit.map(|db| db.connections(totals.peak_instances, c.workers)),
        });
    Search {
        candidates: grid.len(),
        simulated: simulated.into_inner() as usize,
        excluded_db_connections: excluded,
        best,
    }
}

/// The user's policy with a candidate's values.
fn apply(base: &Policy, c: Candidate) -> Policy {
    let mut policy = base.clone();
    policy.fleet.min_instances = c.min;
    policy.fleet.max_instances = c.max;
    policy.fleet.workers_per_instance = c.workers;
    policy.scale_up.step_percent = c.step_percent;
    policy.scale_down.window_seconds = c.window;
    policy
}

/// `fetch_min` for an f64 stored as bits (non-negative values order like their bits).
trait FetchMinF64 {
    fn fetch_min_f64(&self, value: f64);
}

impl FetchMinF64 for AtomicU64 {
    fn fetch_min_f64(&self, value: f64) {
        debug_assert!(value >= 0.0);
        self.fetch_min(value.to_bits(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_uses_two_to_four_workers_per_core_and_keeps_min_below_max() {
        let capacity = WorkerCapacity {
            rps_per_worker: 10.0,
            service_time_seconds: 0.05,
        };
        let (grid, _) = candidates(&Policy::default(), &capacity, 4000.0, 2, None);
        let workers: std::collections::BTreeSet<u32> = grid.iter().map(|c| c.workers).collect();
        assert_eq!(workers.into_iter().collect::<Vec<_>>(), vec![4, 5, 6, 7, 8]);
        assert!(grid.iter().all(|c| c.min <= c.max));
        assert!(grid.len() >= 1000, "{}", grid.len());
    }

    /// The search's answer against a brute-force run of every candidate.
    fn check_against_brute_force(db_limit: Option<DbLimit>) -> Search {
        // A day with a morning jump: some candidates breach, some hit their max.
        let demand: Vec<f64> = (0..1440)
            .map(|m| {
                if (540..720).contains(&m) {
                    300.0
                } else {
                    60.0 + (m % 97) as f64
                }
            })
            .collect();
        let capacity = WorkerCapacity {
            rps_per_worker: 10.0,
            service_time_seconds: 0.05,
        };
        let workload = Workload {
            demand: &demand,
            prewarm_rps: None,
            step_seconds: 60.0,
            normal_peak_rps: engine::normal_peak_rps(&demand),
        };
        let base = Policy::default();
        let found = search(
            &workload,
            &base,
            &SearchSettings {
                capacity: &capacity,
                curve: None,
                peak_rps: 300.0,
                cores: 1,
                instance_cost: 1.0,
                db_limit,
            },
        );
        assert!(found.simulated < found.candidates);

        let (grid, _) = candidates(&base, &capacity, 300.0, 1, db_limit);
        let tables: BTreeMap<u32, LatencyModel> = (2..=4)
            .map(|w| (w, LatencyModel::new(w, 20.0, None)))
            .collect();
        let options = RunOptions {
            db_limit,
            ..RunOptions::default()
        };
        let runs: Vec<(usize, Candidate, SimulationTotals)> = grid
            .iter()
            .enumerate()
            .map(|(index, &c)| {
                let policy = apply(&base, c);
                let table = &tables[&c.workers];
                let totals = engine::run(&workload, &policy, &capacity, table, options).totals;
                (index, c, totals)
            })
            .collect();
        let passes = |t: &SimulationTotals| t.breach_steps == 0 && t.dropped_requests == 0.0;
        // Both kinds exist, so the comparison is not vacuous.
        assert!(runs.iter().any(|r| !passes(&r.2)) && runs.iter().any(|r| passes(&r.2)));
        let brute = runs
            .into_iter()
            .filter(|r| passes(&r.2))
            .min_by(|a, b| {
                a.2.instance_hours
                    .total_cmp(&b.2.instance_hours)
                    .then(a.0.cmp(&b.0))
            })
            .unwrap();
        let best = found.best.clone().expect("search finds it too");
        assert_eq!(
            (
                best.min_instances,
                best.max_instances,
                best.workers_per_instance,
                best.step_percent,
                best.window_seconds
            ),
            (
                brute.1.min,
                brute.1.max,
                brute.1.workers,
                brute.1.step_percent,
                brute.1.window
            )
        );
        assert_eq!(best.instance_hours, brute.2.instance_hours);
        found
    }

    #[test]
    fn pruning_and_reuse_give_the_brute_force_answer() {
        let found = check_against_brute_force(None);
        assert_eq!(found.excluded_db_connections, 0);
        assert_eq!(found.best.unwrap().peak_connections, None);
    }

    #[test]
    fn database_limit_excludes_candidates_and_is_never_exceeded() {
        // 120 connections, 2 per worker: at most 30 instances of 2 workers, 20 of 3, 15 of 4.
        let db = DbLimit {
            max_connections: 120,
            pool_per_worker: 2,
        };
        let capacity = WorkerCapacity {
            rps_per_worker: 10.0,
            service_time_seconds: 0.05,
        };
        let base = Policy::default();
        let (free, none_excluded) = candidates(&base, &capacity, 300.0, 1, None);
        let (limited, excluded) = candidates(&base, &capacity, 300.0, 1, Some(db));
        assert_eq!(none_excluded, 0);
        // Peak 300 rps: P_w = 15, 10, 8; max values 15..45, 10..30, 8..24.
        // Excluded: w=2 max 45; w=3 max 30; w=4 max 16 and 24.
        let over = |c: &Candidate| db.connections(c.max, c.workers) > 120;
        assert_eq!(excluded, free.iter().filter(|c| over(c)).count());
        assert!(excluded > 0);
        assert!(!limited.iter().any(over));
        // The largest fleet that fits (15 of 4 workers) became a candidate max.
        assert!(limited.iter().any(|c| c.workers == 4 && c.max == 15));
        assert!(!free.iter().any(|c| c.workers == 4 && c.max == 15));

        let found = check_against_brute_force(Some(db));
        assert_eq!(found.excluded_db_connections, excluded);
        assert_eq!(found.candidates, limited.len());
        let best = found.best.unwrap();
        let peak = best.peak_connections.expect("reported with a limit");
        assert!(peak <= 120, "{peak}");
        assert!(db.connections(best.max_instances, best.workers_per_instance) <= 120);
    }

    #[test]
    fn small_peaks_give_no_duplicate_candidates() {
        // Peak 1 instance of 2 workers: max factors 1, 1.25, 1.5, 2, 3 round to 1, 2, 2, 2, 3.
        let capacity = WorkerCapacity {
            rps_per_worker: 10.0,
            service_time_seconds: 0.05,
        };
        let (grid, _) = candidates(&Policy::default(), &capacity, 15.0, 1, None);
        let mut keys: Vec<_> = grid
            .iter()
            .map(|c| {
                (
                    c.workers,
                    c.min,
                    c.max,
                    c.step_percent.to_bits(),
                    c.window.to_bits(),
                )
            })
            .collect();
        let all = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), all);
    }

    #[test]
    fn recommends_the_cheapest_passing_policy() {
        // Flat 100 rps, 10 rps per worker: 10 workers needed at 100 %.
        let demand = vec![100.0; 600];
        let capacity = WorkerCapacity {
            rps_per_worker: 10.0,
            service_time_seconds: 0.05,
        };
        let workload = Workload {
            demand: &demand,
            prewarm_rps: None,
            step_seconds: 60.0,
            normal_peak_rps: 100.0,
        };
        let found = search(
            &workload,
            &Policy::default(),
            &SearchSettings {
                capacity: &capacity,
                curve: None,
                peak_rps: 100.0,
                cores: 1,
                instance_cost: 2.0,
                db_limit: None,
            },
        );
        let best = found.best.expect("a flat load has a passing policy");
        assert_eq!(best.breach_minutes, 0.0);
        assert_eq!(best.dropped_requests, 0.0);
        // 4 workers per instance is the cheapest way to carry it.
        assert_eq!(best.workers_per_instance, 4);
        assert!((best.cost - 2.0 * best.instance_hours).abs() < 1e-9);
    }
}
