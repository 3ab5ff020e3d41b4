//! `--recommend`: the cheapest policy that holds the SLO's error budget, with
//! the redundancy and headroom an SRE would sign (docs/simulate.md, *`--recommend`*).
//!
//! 1. **Incidents.** Stretches of at most `incident_max_seconds` where demand is
//!    above [`INCIDENT_FACTOR`] × the 99th percentile of demand are short
//!    incidents: reported, not planned for. Their steps (plus a recovery tail of
//!    their own length and one instance's boot and warm-up) are excused from the
//!    error budget, and the grid is sized by the peak outside them.
//! 2. **Grid.** `workers_per_instance` in 2–4 per core (and the profile's measured
//!    count when it is more); `min_instances` fractions of the peak fleet, at least
//!    2 unless `allow_single_instance`; `max_instances` multiples of it, never below
//!    what the policy's own scale-up threshold needs at the peak (headroom);
//!    `scale_up.step_percent` and `scale_down.window_seconds`.
//! 3. **Refinement.** Coordinate descent from the grid's best over every knob,
//!    one at a time: min, max, step, window, both thresholds, the scale-up
//!    cooldown and the removal percent, until no single change is cheaper.
//! 4. **How close to optimal.** On a sample (the busiest week), steps 2–3 are
//!    compared with [`FINE_SAMPLE`] policies drawn from a finer grid of every knob.
//!
//! A candidate passes when its run stays within the SLO's error budget
//! (`slo.max_breach_minutes`, `slo.max_drop_rate`) outside excused steps. The
//! cheapest passing policy wins; at equal cost the larger `min_instances`, then
//! the larger `max_instances` (the safer one; the count of ties is reported).
//!
//! Runs are parallel (rayon), cheapest-looking first, reuse identical runs, and
//! stop early once over the error budget or more expensive than the cheapest
//! passing candidate found so far (instance-hours only grow). The answer does not
//! depend on thread timing.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::Serialize;

use super::engine::{self, RunOptions, SimulationTotals, WorkerCapacity, Workload};
use super::latency::{LatencyModel, MeasuredCurve};
use super::policy::{Metric, Policy};
use super::whatif::{fleet_cap, DbLimit};

/// Demand above this multiple of its 99th percentile is an incident candidate.
pub const INCIDENT_FACTOR: f64 = 1.5;
/// Policies drawn from the finer grid for the optimality estimate.
pub const FINE_SAMPLE: usize = 600;
/// Length of the optimality sample, seconds (one week).
const SAMPLE_SECONDS: f64 = 7.0 * 86_400.0;
/// Rounds of coordinate descent at most.
const DESCENT_ROUNDS: usize = 4;

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
    /// Scale-up threshold, the policy metric's unit.
    pub scale_up_threshold: f64,
    /// Scale-down threshold, the policy metric's unit.
    pub scale_down_threshold: f64,
    /// Scale-up cooldown, seconds.
    pub cooldown_seconds: f64,
    /// Most removed per scale-down window, percent of the fleet.
    pub max_remove_percent: f64,
    /// How far ahead the pre-warm acts (`predictive.lead_seconds`, or
    /// `scheduling_buffer_seconds` when the policy gives that), seconds; null without
    /// `--forecast` (it changes nothing then).
    pub lead_seconds: Option<f64>,
    /// Instance time, instance-hours.
    pub instance_hours: f64,
    /// Cost at `--instance-cost` (0 without it), currency.
    pub cost: f64,
    /// Time with p95 above the SLO, minutes (within the budget outside incidents).
    pub breach_minutes: f64,
    /// Of those, during the short incidents (not planned for), minutes.
    pub incident_breach_minutes: f64,
    /// Worst step p95, ms.
    pub max_p95_ms: f64,
    /// Requests dropped, requests.
    pub dropped_requests: f64,
    /// Of those, during the short incidents, requests.
    pub incident_dropped_requests: f64,
    /// Connections held at the fleet's peak (null without a database limit), connections.
    pub peak_connections: Option<u64>,
    /// Instances the scale-up threshold needs at the peak, incidents included
    /// (`max_instances` is at least this, or the database's limit), instances.
    pub peak_needs_instances: u32,
    /// Other passing policies at exactly this cost (this one has the largest min, then max), policies.
    pub tied_at_best_cost: usize,
}

/// A short incident: reported, not planned for.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Incident {
    /// Start, seconds from the first step.
    pub start_seconds: f64,
    /// Length, minutes.
    pub minutes: f64,
    /// Highest demand in it, rps.
    pub peak_rps: f64,
}

/// The optimality estimate on a sample of the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Optimality {
    /// Sample start, seconds from the first step.
    pub sample_start_seconds: f64,
    /// Sample length, steps.
    pub sample_steps: usize,
    /// This search's answer on the sample, instance-hours (null: none passed).
    pub search_hours: Option<f64>,
    /// Policies drawn from the finer grid, policies.
    pub finer_candidates: usize,
    /// The best of them on the sample, instance-hours (null: none passed).
    pub finer_hours: Option<f64>,
    /// `(search − finer) / finer`, percent (negative: the search beat every sampled policy).
    pub gap_percent: Option<f64>,
    /// The finer grid's winner also passed on the whole traffic and is the recommendation.
    pub adopted: bool,
}

/// The search and its outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Search {
    /// Policies evaluated on the whole traffic (grid and refinement), policies.
    pub candidates: usize,
    /// Of those, from the refinement, policies.
    pub refined: usize,
    /// Simulations run (the rest reused an identical run with a larger max), runs.
    pub simulated: usize,
    /// Policies left out because `max_instances × workers × pool` exceeds the
    /// database's connections (not counted in `candidates`), policies.
    pub excluded_db_connections: usize,
    /// Longest stretch counted as a short incident, minutes.
    pub incident_max_minutes: f64,
    /// The short incidents found (not planned for).
    pub incidents: Vec<Incident>,
    /// Peak demand outside the incidents (sizes `min_instances`), rps.
    pub planned_peak_rps: f64,
    /// Peak demand, incidents included (the headroom of `max_instances`), rps.
    pub peak_rps: f64,
    /// The cheapest passing policy, if any passed.
    pub best: Option<Recommendation>,
    /// How close the answer is to the best of a finer grid, on a sample.
    pub optimality: Option<Optimality>,
}

/// What the search is asked for, besides the workload and the user's policy.
#[derive(Debug, Clone, Copy)]
pub struct SearchSettings<'a> {
    /// What one worker can do.
    pub capacity: &'a WorkerCapacity,
    /// A capacity profile's measured curve: the latency model every candidate is judged by.
    pub curve: Option<&'a MeasuredCurve>,
    /// Workers of the measured profile: tried too when above 4 per core.
    pub workers_measured: Option<u32>,
    /// Cores per instance: 2..4 workers per core.
    pub cores: u32,
    /// Price per instance-hour (0 when unknown: cheapest = fewest instance-hours).
    pub instance_cost: f64,
    /// No candidate whose largest fleet would exceed it is run or picked.
    pub db_limit: Option<DbLimit>,
    /// Allow `min_instances = 1` (no redundancy).
    pub allow_single_instance: bool,
    /// Longest stretch of extreme demand treated as an incident, seconds (0: none).
    pub incident_max_seconds: f64,
    /// Run the optimality estimate.
    pub estimate_optimality: bool,
    /// The forecast's upper bound on the grid (NaN where it has none), before the
    /// lookahead: the search varies how far ahead the pre-warm acts.
    pub forecast_on_grid: Option<&'a [f64]>,
}

/// Pre-warm leads the refinement tries, seconds.
const LEADS: [f64; 4] = [0.0, 300.0, 600.0, 1200.0];
/// Pre-warm leads of the finer grid, seconds.
const FINE_LEADS: [f64; 7] = [0.0, 150.0, 300.0, 600.0, 900.0, 1200.0, 1800.0];

/// One policy tried.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Candidate {
    min: u32,
    max: u32,
    workers: u32,
    step_percent: f64,
    window: f64,
    up: f64,
    down: f64,
    cooldown: f64,
    remove: f64,
    /// The pre-warm's lead or scheduling buffer (whichever the policy uses), seconds.
    lead: f64,
}

impl Candidate {
    fn of(base: &Policy) -> Candidate {
        Candidate {
            min: base.fleet.min_instances,
            max: base.fleet.max_instances,
            workers: base.fleet.workers_per_instance,
            step_percent: base.scale_up.step_percent,
            window: base.scale_down.window_seconds,
            up: base.scale_up.threshold,
            down: base.scale_down.threshold,
            cooldown: base.scale_up.cooldown_seconds,
            remove: base.scale_down.max_remove_percent,
            lead: base
                .predictive
                .scheduling_buffer_seconds
                .unwrap_or(base.predictive.lead_seconds),
        }
    }

    /// Everything but `max` (candidates sharing it are run from the largest max down).
    fn group_key(&self) -> [u64; 9] {
        [
            u64::from(self.workers),
            u64::from(self.min),
            self.step_percent.to_bits(),
            self.window.to_bits(),
            self.up.to_bits(),
            self.down.to_bits(),
            self.cooldown.to_bits(),
            self.remove.to_bits(),
            self.lead.to_bits(),
        ]
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
    policy.scale_up.threshold = c.up;
    policy.scale_down.threshold = c.down;
    policy.scale_up.cooldown_seconds = c.cooldown;
    policy.scale_down.max_remove_percent = c.remove;
    match policy.predictive.scheduling_buffer_seconds {
        Some(_) => policy.predictive.scheduling_buffer_seconds = Some(c.lead),
        None => policy.predictive.lead_seconds = c.lead,
    }
    policy
}

/// The pre-warm lookahead of every lead the search may try, on the whole grid.
fn prewarms_by_lead(base: &Policy, on_grid: &[f64], dt: f64) -> Vec<(u64, Vec<f64>)> {
    let mut leads: Vec<f64> = LEADS.iter().chain(&FINE_LEADS).copied().collect();
    leads.push(Candidate::of(base).lead);
    leads.sort_by(f64::total_cmp);
    leads.dedup();
    leads
        .into_iter()
        .map(|lead| {
            let policy = apply(
                base,
                Candidate {
                    lead,
                    ..Candidate::of(base)
                },
            );
            let horizon = policy.predictive.launch_ahead_seconds(&policy.fleet);
            let lookahead = engine::forecast_lookahead(on_grid, (horizon / dt).ceil() as usize);
            (lead.to_bits(), lookahead)
        })
        .collect()
}

/// Nearest-rank 99th percentile of demand: the reference incidents are measured
/// against (the safety cap's normal peak is another, hourly, figure).
pub fn demand_p99(demand: &[f64]) -> f64 {
    if demand.is_empty() {
        return 0.0;
    }
    let mut sorted = demand.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((0.99 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Short incidents in `demand` and the mask of excused steps.
fn find_incidents(
    demand: &[f64],
    dt: f64,
    normal_peak: f64,
    max_seconds: f64,
    recovery_seconds: f64,
) -> (Vec<Incident>, Vec<bool>) {
    let mut incidents = Vec::new();
    let mut excused = vec![false; demand.len()];
    if max_seconds <= 0.0 || normal_peak <= 0.0 {
        return (incidents, excused);
    }
    let limit = INCIDENT_FACTOR * normal_peak;
    let max_steps = (max_seconds / dt).floor() as usize;
    let mut k = 0;
    while k < demand.len() {
        if demand[k] <= limit {
            k += 1;
            continue;
        }
        let start = k;
        while k < demand.len() && demand[k] > limit {
            k += 1;
        }
        let len = k - start;
        if len <= max_steps {
            let peak = demand[start..k].iter().copied().fold(0.0, f64::max);
            incidents.push(Incident {
                start_seconds: start as f64 * dt,
                minutes: len as f64 * dt / 60.0,
                peak_rps: peak,
            });
            let tail = len + (recovery_seconds / dt).ceil() as usize;
            let end = (k + tail).min(demand.len());
            excused[start..end].iter_mut().for_each(|e| *e = true);
        }
    }
    (incidents, excused)
}

/// Instances needed to carry `rps` at `utilization` of sustainable capacity.
fn instances_for(rps: f64, per_instance: f64, utilization: f64) -> u32 {
    if rps <= 0.0 {
        return 1;
    }
    ((rps / (per_instance * utilization) - 1e-9).ceil() as u32).max(1)
}

/// Everything a set of runs shares.
struct Judge<'a> {
    workload: Workload<'a>,
    base: &'a Policy,
    capacity: &'a WorkerCapacity,
    models: BTreeMap<u32, LatencyModel>,
    db_limit: Option<DbLimit>,
    /// Peak demand outside incidents (sizes `min_instances`), rps.
    peak: f64,
    /// Peak demand, incidents included (the headroom of `max_instances`: a
    /// ceiling costs nothing until used, so the fleet may scale into an incident), rps.
    max_peak: f64,
    /// Smallest `min_instances` allowed.
    min_floor: u32,
    breach_budget_steps: u32,
    drop_budget_requests: f64,
    simulated: AtomicU64,
    /// The pre-warm lookahead per lead (bits of the lead, seconds); empty without a forecast.
    prewarms: Vec<(u64, &'a [f64])>,
}

impl<'a> Judge<'a> {
    fn new(
        workload: Workload<'a>,
        base: &'a Policy,
        capacity: &'a WorkerCapacity,
        models: BTreeMap<u32, LatencyModel>,
        db_limit: Option<DbLimit>,
        (peak, max_peak): (f64, f64),
        min_floor: u32,
    ) -> Self {
        // The error budget: breach steps and dropped requests allowed.
        let slo = &base.slo;
        let dt = workload.step_seconds;
        Judge {
            breach_budget_steps: (slo.max_breach_minutes * 60.0 / dt + 1e-9).floor() as u32,
            drop_budget_requests: slo.max_drop_rate * workload.demand.iter().sum::<f64>() * dt,
            workload,
            base,
            capacity,
            models,
            db_limit,
            peak,
            max_peak,
            min_floor,
            simulated: AtomicU64::new(0),
            prewarms: Vec::new(),
        }
    }

    /// Judge with the pre-warm lookahead of each lead (see [`prewarms_by_lead`]).
    fn with_prewarms(self, prewarms: Vec<(u64, &'a [f64])>) -> Self {
        Judge { prewarms, ..self }
    }

    /// Whether the leads make a difference (there is a forecast).
    fn has_forecast(&self) -> bool {
        !self.prewarms.is_empty()
    }

    /// The workload with the pre-warm of `c`'s lead.
    fn workload_of(&self, c: &Candidate) -> Workload<'a> {
        let prewarm = self
            .prewarms
            .iter()
            .find(|(lead, _)| *lead == c.lead.to_bits())
            .map(|(_, p)| *p);
        Workload {
            prewarm_rps: prewarm.or(self.workload.prewarm_rps),
            ..self.workload
        }
    }

    /// What the scale-up threshold of `c` needs at the peak (incidents included), instances.
    fn peak_needs(&self, c: &Candidate) -> u32 {
        let policy = apply(self.base, *c);
        let per_instance = f64::from(c.workers) * self.capacity.rps_per_worker;
        instances_for(
            self.max_peak,
            per_instance,
            engine::sizing_utilization(&policy, self.capacity),
        )
    }

    /// Whether a candidate may be run at all (valid policy, redundancy, headroom,
    /// database). When the database holds fewer instances than the threshold needs
    /// at the peak, the database's limit is the headroom there is.
    fn admissible(&self, c: &Candidate) -> bool {
        let policy = apply(self.base, *c);
        let db_cap = fleet_cap(self.db_limit, c.workers);
        policy.validate().is_ok()
            && c.min >= self.min_floor
            && c.max >= c.min
            && c.max >= self.peak_needs(c).min(db_cap)
            && c.max <= db_cap
    }

    /// Run every candidate (grouped by everything but max, largest max first, the
    /// groups cheapest-looking first) against a shared cost bar; the passing ones.
    fn evaluate(&self, grid: &[Candidate], bar: &AtomicU64) -> Vec<(usize, SimulationTotals)> {
        let mut groups: BTreeMap<[u64; 9], Vec<usize>> = BTreeMap::new();
        for (index, c) in grid.iter().enumerate() {
            groups.entry(c.group_key()).or_default().push(index);
        }
        let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
        for group in &mut groups {
            group.sort_by(|&a, &b| grid[b].max.cmp(&grid[a].max).then(a.cmp(&b)));
        }
        let demand = self.workload.demand;
        let mean_rps = demand.iter().sum::<f64>() / demand.len().max(1) as f64;
        let proxy = |c: &Candidate| {
            let needed = mean_rps / (f64::from(c.workers) * self.capacity.rps_per_worker * 0.75);
            needed.max(f64::from(c.min))
        };
        groups.sort_by(|a, b| {
            proxy(&grid[a[0]])
                .total_cmp(&proxy(&grid[b[0]]))
                .then(a[0].cmp(&b[0]))
        });
        groups
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
                            self.simulated.fetch_add(1, Ordering::Relaxed);
                            let policy = apply(self.base, candidate);
                            let options = RunOptions {
                                record_timeline: false,
                                stop_on_failure: true,
                                breach_budget_steps: self.breach_budget_steps,
                                drop_budget_requests: self.drop_budget_requests,
                                // A hair above the bar: a run tying with it is never
                                // stopped by rounding, so ties do not depend on timing.
                                max_instance_hours: Some(
                                    f64::from_bits(bar.load(Ordering::Relaxed)) * (1.0 + 1e-9),
                                ),
                                db_limit: self.db_limit,
                            };
                            let model = &self.models[&candidate.workers];
                            let workload = self.workload_of(&candidate);
                            engine::run(&workload, &policy, self.capacity, model, options).totals
                        }
                    };
                    previous = Some(totals);
                    if totals.completed {
                        bar.fetch_min_f64(totals.instance_hours);
                        results.push((index, totals));
                    }
                }
                results
            })
            .collect()
    }
}

/// The cheapest of `passing`; at equal cost the largest min, then max, then the
/// earliest. Returns its index and how many others tie with it.
fn pick(grid: &[Candidate], passing: &[(usize, SimulationTotals)]) -> Option<(usize, usize)> {
    let cheapest = passing
        .iter()
        .map(|(_, t)| t.instance_hours)
        .fold(f64::INFINITY, f64::min);
    let tied: Vec<&(usize, SimulationTotals)> = passing
        .iter()
        .filter(|(_, t)| t.instance_hours <= cheapest * (1.0 + 1e-12))
        .collect();
    tied.iter()
        .max_by(|a, b| {
            let (ca, cb) = (&grid[a.0], &grid[b.0]);
            ca.min
                .cmp(&cb.min)
                .then(ca.max.cmp(&cb.max))
                .then(b.0.cmp(&a.0))
        })
        .map(|(index, _)| (*index, tied.len() - 1))
}

/// Which of the step knobs mean something for `base`: none under `[target_tracking]`
/// or `[hpa]` (their own rules decide; only min, max and workers are searched),
/// and not `step_percent` / `max_remove_percent` when steps replace them.
#[derive(Debug, Clone, Copy)]
struct Knobs {
    step_percent: bool,
    remove: bool,
    rules: bool,
}

impl Knobs {
    fn of(base: &Policy) -> Knobs {
        let rules = base.own_rules().is_none();
        Knobs {
            step_percent: rules && base.scale_up.steps.is_empty(),
            remove: rules && base.scale_down.steps.is_empty(),
            rules,
        }
    }
}

/// Grid values of the first stage for `workers`.
fn stage_one(judge: &Judge, workers_range: &[u32]) -> Vec<Candidate> {
    let base = judge.base;
    let knobs = Knobs::of(base);
    let mut steps = if knobs.step_percent {
        vec![10.0, 20.0, 50.0, 100.0, base.scale_up.step_percent]
    } else {
        vec![base.scale_up.step_percent]
    };
    steps.sort_by(f64::total_cmp);
    steps.dedup();
    let mut windows = if knobs.rules {
        vec![60.0, 300.0, 900.0, base.scale_down.window_seconds]
    } else {
        vec![base.scale_down.window_seconds]
    };
    windows.sort_by(f64::total_cmp);
    windows.dedup();
    windows.retain(|w| *w <= base.scale_down.max_window_seconds);
    let mut out = Vec::new();
    for &workers in workers_range {
        let per_instance = f64::from(workers) * judge.capacity.rps_per_worker;
        let peak = ((judge.peak / per_instance).ceil() as u32).max(1);
        let template = Candidate {
            workers,
            ..Candidate::of(base)
        };
        let needs = judge.peak_needs(&template);
        let mut mins: Vec<u32> = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0]
            .iter()
            .map(|f| ((f64::from(peak) * f).round() as u32).max(judge.min_floor))
            .collect();
        mins.dedup();
        let mut maxes: Vec<u32> = [1.0, 1.25, 1.5, 2.0, 3.0]
            .iter()
            .map(|f| ((f64::from(needs) * f).ceil() as u32).max(1))
            .collect();
        let db_cap = fleet_cap(judge.db_limit, workers);
        if (1..*maxes.last().unwrap_or(&0)).contains(&db_cap) {
            maxes.push(db_cap);
        }
        maxes.sort_unstable();
        maxes.dedup();
        for &min in &mins {
            for &max in &maxes {
                for &step_percent in &steps {
                    for &window in &windows {
                        out.push(Candidate {
                            min,
                            max,
                            step_percent,
                            window,
                            ..template
                        });
                    }
                }
            }
        }
    }
    out
}

/// Scale-up threshold values to try around the user's.
fn up_thresholds(base: &Policy, fine: bool) -> Vec<f64> {
    let t = base.scale_up.threshold;
    let mut v: Vec<f64> = match base.scale_up.metric {
        Metric::Utilization if fine => vec![0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9],
        Metric::Utilization => vec![0.6, 0.7, 0.8, 0.9],
        _ if fine => [0.6, 0.7, 0.8, 0.9, 1.1, 1.2, 1.35, 1.5]
            .iter()
            .map(|f| t * f)
            .collect(),
        _ => [0.75, 0.9, 1.1, 1.25].iter().map(|f| t * f).collect(),
    };
    v.push(t);
    v
}

/// Scale-down threshold values to try around the user's.
fn down_thresholds(base: &Policy, fine: bool) -> Vec<f64> {
    let t = base.scale_down.threshold;
    let factors: &[f64] = if fine {
        &[0.5, 0.6, 0.7, 0.8, 0.9, 1.1, 1.25, 1.4]
    } else {
        &[0.75, 1.25]
    };
    let mut v: Vec<f64> = factors.iter().map(|f| t * f).collect();
    v.push(t);
    v
}

/// Single-knob variations of `c` (coordinate descent's neighbourhood).
fn neighbours(judge: &Judge, c: &Candidate) -> Vec<Candidate> {
    let base = judge.base;
    let mut out = Vec::new();
    let mut push = |n: Candidate| {
        if n != *c {
            out.push(n);
        }
    };
    for min in [c.min.saturating_sub(1), c.min + 1, c.min * 2, c.min / 2] {
        push(Candidate { min, ..*c });
    }
    for max in [c.max.saturating_sub(1), c.max + 1, c.max * 2] {
        push(Candidate { max, ..*c });
    }
    let knobs = Knobs::of(base);
    if !knobs.rules {
        return out;
    }
    if knobs.step_percent {
        for step_percent in [10.0, 20.0, 50.0, 100.0, base.scale_up.step_percent] {
            push(Candidate { step_percent, ..*c });
        }
    }
    for window in [60.0, 300.0, 900.0, base.scale_down.window_seconds] {
        push(Candidate { window, ..*c });
    }
    for up in up_thresholds(base, false) {
        push(Candidate { up, ..*c });
    }
    for down in down_thresholds(base, false) {
        push(Candidate { down, ..*c });
    }
    for cooldown in [30.0, 60.0, 120.0, 300.0, base.scale_up.cooldown_seconds] {
        push(Candidate { cooldown, ..*c });
    }
    if knobs.remove {
        for remove in [10.0, 20.0, 34.0, 50.0, base.scale_down.max_remove_percent] {
            push(Candidate { remove, ..*c });
        }
    }
    if judge.has_forecast() {
        for lead in LEADS.into_iter().chain([Candidate::of(base).lead]) {
            push(Candidate { lead, ..*c });
        }
    }
    out
}

/// Stages 2–3 on `judge`'s workload: the grid, then coordinate descent. Returns
/// every candidate tried, the passing ones, and the refinement's count.
fn run_search(
    judge: &Judge,
    workers_range: &[u32],
) -> (Vec<Candidate>, Vec<(usize, SimulationTotals)>, usize) {
    let mut grid = stage_one(judge, workers_range);
    grid.retain(|c| judge.admissible(c));
    let bar = AtomicU64::new(f64::INFINITY.to_bits());
    let mut passing = judge.evaluate(&grid, &bar);
    let first = grid.len();
    let mut seen: std::collections::HashSet<[u64; 10]> = grid.iter().map(full_key).collect();
    for _ in 0..DESCENT_ROUNDS {
        let Some((best, _)) = pick(&grid, &passing) else {
            break;
        };
        let best_hours = passing
            .iter()
            .find(|(i, _)| *i == best)
            .map(|(_, t)| t.instance_hours)
            .unwrap_or(f64::INFINITY);
        let mut round: Vec<Candidate> = neighbours(judge, &grid[best])
            .into_iter()
            .filter(|c| judge.admissible(c) && seen.insert(full_key(c)))
            .collect();
        if round.is_empty() {
            break;
        }
        let offset = grid.len();
        grid.append(&mut round);
        let found = judge.evaluate(&grid[offset..], &bar);
        let improved = found
            .iter()
            .any(|(_, t)| t.instance_hours < best_hours * (1.0 - 1e-12));
        passing.extend(found.into_iter().map(|(i, t)| (i + offset, t)));
        if !improved {
            break;
        }
    }
    let refined = grid.len() - first;
    (grid, passing, refined)
}

fn full_key(c: &Candidate) -> [u64; 10] {
    let k = c.group_key();
    [
        k[0],
        k[1],
        k[2],
        k[3],
        k[4],
        k[5],
        k[6],
        k[7],
        k[8],
        u64::from(c.max),
    ]
}

/// A policy drawn from the finer grid of every knob.
fn draw_fine(judge: &Judge, workers_range: &[u32], rng: &mut SmallRng) -> Candidate {
    let base = judge.base;
    let pick_of = |rng: &mut SmallRng, v: &[f64]| v[rng.gen_range(0..v.len())];
    let workers = workers_range[rng.gen_range(0..workers_range.len())];
    let knobs = Knobs::of(base);
    let mut c = Candidate {
        workers,
        ..Candidate::of(base)
    };
    // Drawn in this order (the seeded draws of a default policy stay the same).
    if knobs.step_percent {
        c.step_percent = pick_of(rng, &[5.0, 10.0, 15.0, 20.0, 30.0, 50.0, 75.0, 100.0]);
    }
    if knobs.rules {
        c.window = pick_of(rng, &[60.0, 120.0, 300.0, 600.0, 900.0, 1800.0]);
        c.up = pick_of(rng, &up_thresholds(base, true));
        c.down = pick_of(rng, &down_thresholds(base, true));
        c.cooldown = pick_of(rng, &[30.0, 60.0, 90.0, 120.0, 180.0, 300.0]);
    }
    if knobs.remove {
        c.remove = pick_of(rng, &[5.0, 10.0, 20.0, 25.0, 34.0, 50.0, 100.0]);
    }
    if judge.has_forecast() {
        c.lead = pick_of(rng, &FINE_LEADS);
    }
    let per_instance = f64::from(workers) * judge.capacity.rps_per_worker;
    let peak = ((judge.peak / per_instance).ceil() as u32).max(1);
    c.min = rng.gen_range(judge.min_floor..=peak.max(judge.min_floor));
    let needs = judge.peak_needs(&c).max(c.min);
    c.max = rng.gen_range(needs..=needs * 3);
    c
}

/// Search (see the module comment).
pub fn search(workload: &Workload, base: &Policy, settings: &SearchSettings) -> Search {
    let SearchSettings {
        capacity,
        curve,
        workers_measured,
        cores,
        instance_cost,
        db_limit,
        allow_single_instance,
        incident_max_seconds,
        estimate_optimality,
        forecast_on_grid,
    } = *settings;
    let dt = workload.step_seconds;
    let recovery = base.fleet.boot_seconds + base.fleet.warmup_seconds;
    let (incidents, excused) = find_incidents(
        workload.demand,
        dt,
        demand_p99(workload.demand),
        incident_max_seconds,
        recovery,
    );
    let peak = workload.demand.iter().copied().fold(0.0, f64::max);
    let planned_peak = workload
        .demand
        .iter()
        .zip(&excused)
        .filter(|(_, &e)| !e)
        .map(|(&d, _)| d)
        .fold(0.0, f64::max);
    let mut workers_range: Vec<u32> = (2 * cores..=4 * cores).collect();
    if let Some(measured) = workers_measured.filter(|&w| w > 4 * cores) {
        workers_range.push(measured);
    }
    let mu = 1.0 / capacity.service_time_seconds;
    let models: BTreeMap<u32, LatencyModel> = workers_range
        .par_iter()
        .map(|&w| (w, LatencyModel::new(w, mu, curve)))
        .collect();
    let any_excused = !incidents.is_empty();
    let min_floor = if allow_single_instance { 1 } else { 2 };
    let prewarms =
        forecast_on_grid.map_or_else(Vec::new, |on_grid| prewarms_by_lead(base, on_grid, dt));
    let judge_of = |workload, models, range: std::ops::Range<usize>| {
        let prewarms = prewarms
            .iter()
            .map(|(lead, p)| (*lead, &p[range.clone()]))
            .collect();
        Judge::new(
            workload,
            base,
            capacity,
            models,
            db_limit,
            (planned_peak, peak),
            min_floor,
        )
        .with_prewarms(prewarms)
    };
    // The search judges verdicts; hidden bursts are the user's run's warning.
    let full = Workload {
        excused: any_excused.then_some(excused.as_slice()),
        burst_rps: None,
        ..*workload
    };
    let judge = judge_of(full, models.clone(), 0..workload.demand.len());
    let excluded = stage_one(&judge, &workers_range)
        .iter()
        .filter(|c| c.max > fleet_cap(db_limit, c.workers))
        .count();
    let (mut grid, mut passing, refined) = run_search(&judge, &workers_range);
    let mut finer_index = None;
    let mut optimality = estimate_optimality.then(|| {
        // The busiest week (by requests outside incidents), or all of a shorter trace.
        let n = workload.demand.len();
        let len = ((SAMPLE_SECONDS / dt) as usize).clamp(1, n.max(1)).min(n);
        let mut start = 0;
        if len < n {
            let weight = |k: usize| if excused[k] { 0.0 } else { workload.demand[k] };
            let mut sum: f64 = (0..len).map(weight).sum();
            let mut best_sum = sum;
            for k in len..n {
                sum += weight(k) - weight(k - len);
                if sum > best_sum {
                    best_sum = sum;
                    start = k + 1 - len;
                }
            }
        }
        let range = start..start + len;
        let sample = Workload {
            demand: &workload.demand[range.clone()],
            prewarm_rps: workload.prewarm_rps.map(|p| &p[range.clone()]),
            excused: any_excused.then(|| &excused[range.clone()]),
            burst_rps: None,
            ..*workload
        };
        let sample_judge = judge_of(sample, models.clone(), range);
        let (sample_grid, sample_passing, _) = run_search(&sample_judge, &workers_range);
        let ours = pick(&sample_grid, &sample_passing).map(|(i, _)| {
            sample_passing
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, t)| t.instance_hours)
                .expect("picked from passing")
        });
        let mut rng = SmallRng::seed_from_u64(13);
        let fine: Vec<Candidate> = (0..FINE_SAMPLE * 4)
            .map(|_| draw_fine(&sample_judge, &workers_range, &mut rng))
            .filter(|c| sample_judge.admissible(c))
            .take(FINE_SAMPLE)
            .collect();
        let bar = AtomicU64::new(f64::INFINITY.to_bits());
        let found = sample_judge.evaluate(&fine, &bar);
        let finer_best = pick(&fine, &found).map(|(i, _)| i);
        let finer = finer_best.map(|i| {
            found
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, t)| t.instance_hours)
                .expect("picked from found")
        });
        // The finer grid's winner is tried on the whole traffic too: when it passes
        // there and is cheaper, it is the answer.
        if let Some(i) = finer_best {
            let bar = AtomicU64::new(
                pick(&grid, &passing)
                    .and_then(|(b, _)| passing.iter().find(|(j, _)| *j == b))
                    .map_or(f64::INFINITY, |(_, t)| t.instance_hours)
                    .to_bits(),
            );
            let offset = grid.len();
            finer_index = Some(offset);
            grid.push(fine[i]);
            let tried = judge.evaluate(&grid[offset..], &bar);
            passing.extend(tried.into_iter().map(|(j, t)| (j + offset, t)));
        }
        Optimality {
            sample_start_seconds: start as f64 * dt,
            sample_steps: len,
            search_hours: ours,
            finer_candidates: fine.len(),
            finer_hours: finer,
            gap_percent: match (ours, finer) {
                (Some(o), Some(f)) if f > 0.0 => Some(100.0 * (o - f) / f),
                _ => None,
            },
            adopted: false,
        }
    });

    let picked = pick(&grid, &passing);
    if let (Some(o), Some((index, _))) = (optimality.as_mut(), picked) {
        o.adopted = finer_index == Some(index);
    }
    let best = picked.map(|(index, ties)| {
        let c = grid[index];
        let totals = passing
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, t)| *t)
            .expect("picked from passing");
        Recommendation {
            min_instances: c.min,
            max_instances: c.max,
            workers_per_instance: c.workers,
            step_percent: c.step_percent,
            window_seconds: c.window,
            scale_up_threshold: c.up,
            scale_down_threshold: c.down,
            cooldown_seconds: c.cooldown,
            max_remove_percent: c.remove,
            lead_seconds: judge.has_forecast().then_some(c.lead),
            instance_hours: totals.instance_hours,
            cost: totals.instance_hours * instance_cost,
            breach_minutes: totals.breach_minutes,
            incident_breach_minutes: f64::from(totals.excused_breach_steps) * dt / 60.0,
            max_p95_ms: totals.max_p95_ms,
            dropped_requests: totals.dropped_requests,
            incident_dropped_requests: totals.excused_dropped,
            peak_connections: db_limit.map(|db| db.connections(totals.peak_instances, c.workers)),
            peak_needs_instances: judge.peak_needs(&c),
            tied_at_best_cost: ties,
        }
    });

    Search {
        candidates: grid.len(),
        refined,
        simulated: judge.simulated.into_inner() as usize,
        excluded_db_connections: excluded,
        incident_max_minutes: incident_max_seconds / 60.0,
        incidents,
        planned_peak_rps: planned_peak,
        peak_rps: peak,
        best,
        optimality,
    }
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

    const CAPACITY: WorkerCapacity = WorkerCapacity {
        rps_per_worker: 10.0,
        service_time_seconds: 0.05,
    };

    fn settings(cores: u32) -> SearchSettings<'static> {
        SearchSettings {
            capacity: &CAPACITY,
            curve: None,
            workers_measured: None,
            cores,
            instance_cost: 1.0,
            db_limit: None,
            allow_single_instance: false,
            incident_max_seconds: 1800.0,
            estimate_optimality: false,
            forecast_on_grid: None,
        }
    }

    fn workload(demand: &[f64]) -> Workload<'_> {
        Workload {
            demand,
            prewarm_rps: None,
            step_seconds: 60.0,
            normal_peak_rps: engine::normal_peak_rps(demand, 60.0),
            excused: None,
            burst_rps: None,
        }
    }

    /// A day with a morning jump: some candidates breach, some hit their max.
    fn day() -> Vec<f64> {
        (0..1440)
            .map(|m| {
                if (540..720).contains(&m) {
                    300.0
                } else {
                    60.0 + (m % 97) as f64
                }
            })
            .collect()
    }

    #[test]
    fn with_a_forecast_the_pre_warm_lead_is_a_knob() {
        // The morning jump is forecast exactly; a 30-minute lead keeps capacity up
        // for half an hour before it for nothing.
        let demand = day();
        let forecast: Vec<f64> = demand.clone();
        let mut base = Policy::default();
        base.predictive.lead_seconds = 1800.0;
        let horizon = base.predictive.launch_ahead_seconds(&base.fleet);
        let prewarm = engine::forecast_lookahead(&forecast, (horizon / 60.0).ceil() as usize);
        let w = Workload {
            prewarm_rps: Some(&prewarm),
            ..workload(&demand)
        };
        let with_forecast = SearchSettings {
            forecast_on_grid: Some(&forecast),
            ..settings(1)
        };
        let found = search(&w, &base, &with_forecast);
        let best = found.best.expect("a passing policy");
        let lead = best.lead_seconds.expect("a lead with a forecast");
        assert!(lead < 1800.0, "lead {lead}");
        // The same search with the lead fixed at 1800 s costs more.
        let fixed = Judge::new(
            w,
            &base,
            &CAPACITY,
            (2..=4)
                .map(|c| (c, LatencyModel::new(c, 20.0, None)))
                .collect(),
            None,
            (300.0, 300.0),
            2,
        );
        let (grid, passing, _) = run_search(&fixed, &[2, 3, 4]);
        let (i, _) = pick(&grid, &passing).expect("a passing policy at 1800 s");
        let fixed_hours = passing
            .iter()
            .find(|(j, _)| *j == i)
            .unwrap()
            .1
            .instance_hours;
        assert!(
            best.instance_hours < fixed_hours,
            "{} vs {fixed_hours}",
            best.instance_hours
        );
        // Without a forecast the lead is not reported (it changes nothing).
        let found = search(&workload(&demand), &base, &settings(1));
        assert_eq!(found.best.unwrap().lead_seconds, None);
    }

    #[test]
    fn the_answer_is_the_brute_force_best_of_everything_it_tried() {
        let demand = day();
        let w = workload(&demand);
        let base = Policy::default();
        let found = search(&w, &base, &settings(1));
        let best = found.best.clone().expect("a passing policy");
        assert!(found.refined > 0);
        // Rerun every admissible stage-one candidate without pruning: none passing is cheaper.
        let judge = Judge {
            workload: w,
            base: &base,
            capacity: &CAPACITY,
            models: (2..=4)
                .map(|c| (c, LatencyModel::new(c, 20.0, None)))
                .collect(),
            db_limit: None,
            peak: 300.0,
            max_peak: 300.0,
            min_floor: 2,
            breach_budget_steps: 0,
            drop_budget_requests: 0.0,
            simulated: AtomicU64::new(0),
            prewarms: Vec::new(),
        };
        let mut grid = stage_one(&judge, &[2, 3, 4]);
        grid.retain(|c| judge.admissible(c));
        let mut cheapest = f64::INFINITY;
        for c in &grid {
            let t = engine::run(
                &w,
                &apply(&base, *c),
                &CAPACITY,
                &judge.models[&c.workers],
                RunOptions::default(),
            )
            .totals;
            if t.breach_steps == 0 && t.dropped_requests == 0.0 {
                cheapest = cheapest.min(t.instance_hours);
            }
        }
        assert!(
            best.instance_hours <= cheapest,
            "{} > {cheapest}",
            best.instance_hours
        );
        assert!(best.min_instances >= 2);
        assert!(best.max_instances >= best.peak_needs_instances);
    }

    #[test]
    fn min_is_at_least_two_unless_allowed() {
        // Flat 15 rps: one instance of 2 workers carries it.
        let demand = vec![15.0; 600];
        let w = workload(&demand);
        let two = search(&w, &Policy::default(), &settings(1)).best.unwrap();
        assert!(two.min_instances >= 2, "{two:?}");
        let one = search(
            &w,
            &Policy::default(),
            &SearchSettings {
                allow_single_instance: true,
                ..settings(1)
            },
        )
        .best
        .unwrap();
        assert_eq!(one.min_instances, 1);
        assert!(one.instance_hours < two.instance_hours);
    }

    #[test]
    fn equal_cost_prefers_the_larger_min_and_says_how_many_tied() {
        // Flat 300 rps: the fleet never goes below what it needs, so every min up to
        // that costs the same; the search picks the largest of them.
        let demand = vec![300.0; 600];
        let w = workload(&demand);
        let best = search(&w, &Policy::default(), &settings(1)).best.unwrap();
        assert!(best.tied_at_best_cost > 0, "{best:?}");
        let per_instance = f64::from(best.workers_per_instance) * 10.0;
        let carried = (300.0 / per_instance).ceil() as u32;
        assert!(best.min_instances * 2 >= carried, "{best:?}");
    }

    #[test]
    fn a_short_incident_is_reported_not_planned_for() {
        // A week at 100-200 rps with one 15-minute 20x spike.
        let mut demand: Vec<f64> = (0..7 * 1440)
            .map(|m| {
                100.0
                    + 100.0
                        * ((m % 1440) as f64 / 1440.0 * std::f64::consts::TAU)
                            .sin()
                            .abs()
            })
            .collect();
        demand[5000..5015].iter_mut().for_each(|d| *d = 4000.0);
        let w = workload(&demand);
        let found = search(&w, &Policy::default(), &settings(1));
        assert_eq!(found.incidents.len(), 1);
        assert_eq!(found.incidents[0].minutes, 15.0);
        assert!(found.planned_peak_rps <= 200.0 + 1e-9);
        let best = found.best.expect("passes outside the incident");
        // Sized for 200 rps, not 4000: min well below the spike's 100 instances.
        assert!(best.min_instances < 10, "{best:?}");
        assert!(best.incident_breach_minutes > 0.0);
        // Without the allowance the spike sets the floor.
        let planned = search(
            &w,
            &Policy::default(),
            &SearchSettings {
                incident_max_seconds: 0.0,
                ..settings(1)
            },
        );
        assert!(planned.incidents.is_empty());
        if let Some(b) = planned.best {
            assert!(b.instance_hours > best.instance_hours);
        }
    }

    #[test]
    fn the_error_budget_admits_cheaper_policies() {
        let demand = day();
        let w = workload(&demand);
        let strict = search(&w, &Policy::default(), &settings(1)).best.unwrap();
        let mut budget = Policy::default();
        budget.slo.max_breach_minutes = 10.0;
        let loose = search(&w, &budget, &settings(1)).best.unwrap();
        assert!(loose.instance_hours <= strict.instance_hours);
        assert!(loose.breach_minutes <= 10.0);
    }

    #[test]
    fn optimality_is_estimated_on_a_sample() {
        let demand = day();
        let w = workload(&demand);
        let found = search(
            &w,
            &Policy::default(),
            &SearchSettings {
                estimate_optimality: true,
                ..settings(1)
            },
        );
        let o = found.optimality.expect("asked for");
        assert_eq!(o.sample_steps, 1440);
        assert!(o.finer_candidates > 100);
        let gap = o.gap_percent.expect("both passed");
        assert!(gap < 25.0, "{o:?}");
    }

    #[test]
    fn database_limit_is_never_exceeded() {
        let demand = day();
        let w = workload(&demand);
        let db = DbLimit {
            max_connections: 120,
            pool_per_worker: 2,
        };
        let found = search(
            &w,
            &Policy::default(),
            &SearchSettings {
                db_limit: Some(db),
                ..settings(1)
            },
        );
        assert!(found.excluded_db_connections > 0);
        let best = found.best.unwrap();
        assert!(db.connections(best.max_instances, best.workers_per_instance) <= 120);
        assert!(best.peak_connections.unwrap() <= 120);
    }
}
