//! Hand-computable scenarios through the simulation core.
use capplan::simulate::engine::{self, RunOptions, SimulationResult, WorkerCapacity, Workload};
use capplan::simulate::latency::LatencyModel;
use capplan::simulate::policy::{Metric, Policy};
use capplan::simulate::queueing::erlang_c;
use capplan::simulate::scaler::{Action, Reason};

/// One worker per instance, 10 rps sustainable, 50 ms service time (mu = 20 rps).
const CAPACITY: WorkerCapacity = WorkerCapacity {
    rps_per_worker: 10.0,
    service_time_seconds: 0.05,
};

fn small_policy() -> Policy {
    let mut p = Policy::default();
    p.fleet.min_instances = 1;
    p.fleet.max_instances = 100;
    p.fleet.workers_per_instance = 1;
    p.fleet.boot_seconds = 120.0;
    p.fleet.warmup_seconds = 0.0;
    p.fleet.max_queue_per_instance = 1e9;
    p.scale_up.min_step = 3;
    p.scale_up.cooldown_seconds = 600.0;
    p.limits.freeze_p95_ms = 1e12;
    p
}

fn simulate(demand: &[f64], prewarm: Option<&[f64]>, policy: &Policy) -> SimulationResult {
    let workload = Workload {
        demand,
        prewarm_rps: prewarm,
        step_seconds: 60.0,
        normal_peak_rps: engine::normal_peak_rps(demand, 60.0),
        excused: None,
        burst_rps: None,
    };
    let table = LatencyModel::new(policy.fleet.workers_per_instance, 20.0, None);
    let options = RunOptions {
        record_timeline: true,
        ..RunOptions::default()
    };
    engine::run(&workload, policy, &CAPACITY, &table, options)
}

/// 5 rps for 30 minutes, then 30 rps for 30 minutes.
fn step_traffic() -> Vec<f64> {
    (0..60).map(|m| if m < 30 { 5.0 } else { 30.0 }).collect()
}

#[test]
fn step_of_traffic_breaches_for_decision_lag_plus_boot_plus_drain() {
    let _machine = crate::common::machine::shared();
    // One instance (mu 20 rps) gets 30 rps from minute 30: 600 requests queue per minute.
    // The scaler sees minute 30 at its end and launches 3 (min_step); they boot for
    // 2 minutes and serve from minute 33, when 4 x 20 = 80 rps drains the 1800 queued
    // in 36 s. p95 is over 300 ms in minutes 30, 31, 32 and 33: 4 minutes.
    let result = simulate(&step_traffic(), None, &small_policy());
    let t = &result.timeline;
    assert_eq!(result.totals.breach_minutes, 4.0);
    let breached: Vec<u32> = t
        .iter()
        .filter(|r| r.p95_ms > 300.0)
        .map(|r| r.step)
        .collect();
    assert_eq!(breached, vec![30, 31, 32, 33]);
    // The fluid backlog (1800) plus the stochastic queue of the saturated instance
    // (docs/simulate.md, *The latency model*), a few dozen requests after 3 minutes.
    assert!(
        t[32].queue_depth >= 1800.0 && t[32].queue_depth < 1900.0,
        "{}",
        t[32].queue_depth
    );
    assert_eq!((t[32].booting, t[33].in_service), (3, 4));
    // After the drain: M/M/1 at rho = 30/80, p95 = ln 20 / (mu (1 - rho)) = 239.7 ms.
    let expected = 20f64.ln() / (20.0 * (1.0 - 0.375)) * 1000.0;
    assert!((t[40].p95_ms - expected).abs() < 0.1, "{}", t[40].p95_ms);
    assert_eq!(result.totals.dropped_requests, 0.0);
}

#[test]
fn predictive_prewarm_removes_the_breach_of_the_same_spike() {
    let _machine = crate::common::machine::shared();
    let demand = step_traffic();
    let policy = small_policy();
    let reactive = simulate(&demand, None, &policy);
    assert!(reactive.totals.breach_minutes > 0.0);

    // Forecast upper bound = the traffic; lead 10 min + boot 2 min = 12 steps ahead.
    let horizon =
        ((policy.predictive.lead_seconds + policy.fleet.boot_seconds) / 60.0).ceil() as usize;
    let prewarm = engine::forecast_lookahead(&demand, horizon);
    let predictive = simulate(&demand, Some(&prewarm), &policy);
    assert_eq!(predictive.totals.breach_minutes, 0.0);
    let first = predictive.events[0];
    assert_eq!(
        (first.action, first.reason),
        (Action::ScaleUp, Reason::PrewarmForecast)
    );
    // Decided at the end of minute 17 (30 - 12 - 1), in service from minute 20: 10 minutes early.
    assert_eq!(first.at_seconds, 18.0 * 60.0);
    assert_eq!(predictive.timeline[20].in_service, 4);
    // The pre-warmed capacity is not scaled in while the forecast still needs it.
    assert!(predictive.timeline[20..30].iter().all(|r| r.instances == 4));
}

/// 6 minutes at 30 rps, 4 minutes at 60 rps, repeated for 12 hours.
fn sawtooth() -> Vec<f64> {
    (0..720)
        .map(|m| if m % 10 < 6 { 30.0 } else { 60.0 })
        .collect()
}

#[test]
fn sawtooth_flaps_a_naive_policy_and_backoff_damps_it() {
    let _machine = crate::common::machine::shared();
    let mut policy = small_policy();
    policy.fleet.boot_seconds = 0.0;
    policy.scale_up.min_step = 1;
    policy.scale_up.cooldown_seconds = 60.0;
    // 60 rps needs 8 instances at 0.75; at 30 rps those 8 sit at 0.375 < 0.40, so
    // after the 5-minute window one is removed, and the next high phase brings it back.
    let mut naive = policy.clone();
    naive.scale_down.backoff_multiplier = 1.0;
    let naive = simulate(&sawtooth(), None, &naive);
    let damped = simulate(&sawtooth(), None, &policy);

    assert!(
        naive.totals.flaps >= 60,
        "naive flaps {}",
        naive.totals.flaps
    );
    // With backoff the window doubles to 10 minutes (longer than the 6-minute trough)
    // and only resets after an hour without a flap: about one flap per hour.
    assert!(
        damped.totals.flaps <= 13,
        "damped flaps {}",
        damped.totals.flaps
    );
    assert!(damped.totals.scale_downs * 4 < naive.totals.scale_downs);
    let backoffs = damped
        .events
        .iter()
        .filter(|e| e.reason == Reason::BackoffExtended)
        .count();
    assert_eq!(backoffs as u32, damped.totals.flaps);
    // Without backoff nothing is extended, so nothing is logged as such.
    assert!(naive
        .events
        .iter()
        .all(|e| e.reason != Reason::BackoffExtended));
}

#[test]
fn a_fleet_of_two_or_four_reaches_min_with_twenty_percent() {
    let _machine = crate::common::machine::shared();
    // Starts at 2 instances (12 rps at 0.75 x 10), then idles for 3 hours with min 1:
    // AWS rounding makes -0.4 a removal of one (the strict ceil((1 - p) x fleet) rule
    // of before kept 2 forever).
    let mut demand = vec![1.0; 180];
    demand[0] = 12.0;
    let result = simulate(&demand, None, &small_policy());
    let downs: Vec<(u32, u32)> = result
        .events
        .iter()
        .filter(|e| e.action == Action::ScaleDown)
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(downs, vec![(2, 1)]);
    // From 4 with min 2: 4 -> 3 -> 2 (-0.8 and -0.6 each become -1).
    let mut policy = small_policy();
    policy.fleet.min_instances = 2;
    demand[0] = 28.0; // ceil(28 / 7.5) = 4 instances
    let result = simulate(&demand, None, &policy);
    let downs: Vec<(u32, u32)> = result
        .events
        .iter()
        .filter(|e| e.action == Action::ScaleDown)
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(downs, vec![(4, 3), (3, 2)]);
    assert_eq!(result.timeline.last().unwrap().instances, 2);
}

#[test]
fn ten_instances_shrink_by_at_most_twenty_percent_per_window() {
    let _machine = crate::common::machine::shared();
    let mut demand = vec![1.0; 40];
    demand[0] = 75.0; // 10 instances
    let result = simulate(&demand, None, &small_policy());
    let downs: Vec<(u32, u32)> = result
        .events
        .iter()
        .filter(|e| e.action == Action::ScaleDown)
        .map(|e| (e.from, e.to))
        .collect();
    // -2, then -1.6, -1.4, -1.2 round toward zero, -1, -0.8, -0.6, -0.4 become -1:
    // one per 5-minute window down to min (1) in 40 minutes.
    assert_eq!(
        downs,
        vec![(10, 8), (8, 7), (7, 6), (6, 5), (5, 4), (4, 3), (3, 2)]
    );
    assert!(result
        .events
        .windows(2)
        .all(|w| w[1].at_seconds - w[0].at_seconds >= 300.0));
}

#[test]
fn a_rule_holding_the_fleet_above_min_is_logged() {
    let _machine = crate::common::machine::shared();
    // 10 instances idle: with max_remove_percent = 0 nothing is ever removed, and
    // that is logged once (SCALE_IN_DISABLED), not silently.
    let mut demand = vec![1.0; 40];
    demand[0] = 75.0;
    let mut policy = small_policy();
    policy.scale_down.max_remove_percent = 0.0;
    let result = simulate(&demand, None, &policy);
    let holds: Vec<(f64, u32, Reason)> = result
        .events
        .iter()
        .map(|e| (e.at_seconds, e.to, e.reason))
        .collect();
    assert_eq!(holds, vec![(360.0, 10, Reason::ScaleInDisabled)]);
    assert_eq!(Reason::ScaleInDisabled.code(), "SCALE_IN_DISABLED");

    // Low demand while launched instances warm up: scale-in waits (AWS), logged.
    let mut demand = vec![5.0, 5.0, 30.0];
    demand.extend(vec![1.0; 40]);
    let mut policy = small_policy();
    policy.fleet.boot_seconds = 60.0;
    policy.fleet.warmup_seconds = 900.0;
    policy.fleet.min_instances = 2;
    let result = simulate(&demand, None, &policy);
    assert!(
        result
            .events
            .iter()
            .any(|e| e.action == Action::Hold && e.reason == Reason::HeldWarmup),
        "{:?}",
        result.events
    );
    assert_eq!(Reason::HeldWarmup.code(), "SCALE_IN_HELD_WARMUP");
}

#[test]
fn erlang_c_published_value() {
    let _machine = crate::common::machine::shared();
    assert!((erlang_c(14, 10.0) - 0.1741319).abs() < 5e-7);
}

#[test]
fn warming_instances_serve_at_reduced_capacity() {
    let _machine = crate::common::machine::shared();
    // Boot 1 min, warm-up 2 min at half capacity. Launched at the end of minute 30:
    // booting in minute 31, warming in 32-33, in service from 34.
    let mut policy = small_policy();
    policy.fleet.boot_seconds = 60.0;
    policy.fleet.warmup_seconds = 120.0;
    policy.fleet.warmup_capacity = 0.5;
    let result = simulate(&step_traffic(), None, &policy);
    let t = &result.timeline;
    assert_eq!(
        (
            t[31].booting,
            t[32].warming,
            t[33].warming,
            t[34].in_service
        ),
        (3, 3, 3, 4)
    );
    // Minute 32: 1 + 0.5 x 3 = 2.5 instances x 20 rps = 50 rps clear the 1200 queued
    // plus 1800 arriving in exactly 60 s.
    assert!((t[32].served_rps - 50.0).abs() < 1e-9);
    // The backlog is gone; what waits is M/M/1's Lq = rho^2 / (1 - rho) = 0.9 on each of 4 instances.
    assert!(
        (t[32].queue_depth - 3.6).abs() < 4e-3,
        "{}",
        t[32].queue_depth
    );
    // Minute 33: rho = 30/50 = 0.6 per worker, M/M/1 p95 = ln 20 / (20 x 0.4) = 374 ms, still a breach;
    // minute 34 at full capacity: 240 ms.
    assert!((t[33].p95_ms - 20f64.ln() / 8.0 * 1000.0).abs() < 0.1);
    assert_eq!(result.totals.breach_minutes, 4.0);
}

#[test]
fn freeze_holds_scale_in_but_never_a_drowning_fleet_below_its_need() {
    let _machine = crate::common::machine::shared();
    // 60 rps on one instance (20 rps): 2400 queue per minute, p95 about 114 s at the end
    // of minute 30, above a 10 s freeze level. The freeze is logged once, but the
    // fleet still scales out (before issue 13 it stayed at 1 instance for the whole
    // overload), and the breach minutes spent above the freeze level are counted.
    let demand: Vec<f64> = (0..60).map(|m| if m < 30 { 5.0 } else { 60.0 }).collect();
    let mut policy = small_policy();
    policy.limits.freeze_p95_ms = 10_000.0;
    let frozen = simulate(&demand, None, &policy);
    let first: Vec<(Action, Reason)> = frozen
        .events
        .iter()
        .take(2)
        .map(|e| (e.action, e.reason))
        .collect();
    assert_eq!(
        first,
        vec![
            (Action::Hold, Reason::FrozenPanic),
            (Action::ScaleUp, Reason::StepUp(Metric::Utilization)),
        ]
    );
    assert_eq!(frozen.events[0].at_seconds, 31.0 * 60.0);
    assert_eq!(frozen.events[1].at_seconds, 31.0 * 60.0);
    // 60 rps needs 8 instances at 0.75 x 10 rps: the fleet gets there.
    assert!(frozen.totals.peak_instances >= 8, "{:?}", frozen.totals);
    assert!(frozen.totals.frozen_breach_steps > 0);
    assert!(frozen.totals.frozen_breach_steps <= frozen.totals.breach_steps);
    // No scale-in while frozen: every scale-down comes after the last frozen step.
    assert_eq!(frozen.totals.scale_downs, 0);

    policy.limits.freeze_p95_ms = 1e12;
    let unfrozen = simulate(&demand, None, &policy);
    assert_eq!(unfrozen.totals.frozen_breach_steps, 0);
    // The freeze changes nothing about scale-out.
    assert_eq!(unfrozen.totals.peak_instances, frozen.totals.peak_instances);
    assert_eq!(unfrozen.totals.breach_steps, frozen.totals.breach_steps);
}

#[test]
fn a_spike_of_a_hundred_times_scales_out_through_the_freeze() {
    let _machine = crate::common::machine::shared();
    // The case: 5 instances (max 50) and a 100x spike of 5 minutes; with the
    // default freeze level (30 s) the fleet stayed at 5.
    let mut demand = vec![30.0; 60];
    for d in &mut demand[20..25] {
        *d = 3000.0;
    }
    let mut policy = small_policy();
    policy.fleet.min_instances = 5;
    policy.fleet.max_instances = 50;
    policy.fleet.max_queue_per_instance = 2048.0;
    policy.limits.freeze_p95_ms = 30_000.0;
    policy.limits.safety_cap_multiple = 100.0;
    let result = simulate(&demand, None, &policy);
    assert!(result
        .events
        .iter()
        .any(|e| e.reason == Reason::FrozenPanic));
    assert!(result.totals.peak_instances > 5, "{:?}", result.events);
    assert!(result.totals.frozen_breach_steps > 0);
}

#[test]
fn warming_instances_count_toward_capacity_so_triggers_do_not_compound() {
    let _machine = crate::common::machine::shared();
    // The case: a need of 12 from 10 (90 rps at 0.75 x 10 rps per instance),
    // boot + warm-up 300 s, cooldown 60 s. The metric stays above the threshold until
    // the new instances are warm, but the step is taken from the instances in service
    // (AWS current capacity), so 10 -> 12 once; before it went 10 -> 12 -> 14 -> 16 -> 19.
    let mut demand = vec![75.0];
    demand.extend(vec![90.0; 30]);
    let mut policy = small_policy();
    policy.scale_up.min_step = 1;
    policy.scale_up.cooldown_seconds = 60.0;
    policy.fleet.boot_seconds = 120.0;
    policy.fleet.warmup_seconds = 180.0;
    policy.limits.safety_cap_multiple = 100.0;
    let result = simulate(&demand, None, &policy);
    let ups: Vec<(u32, u32)> = result
        .events
        .iter()
        .filter(|e| e.action == Action::ScaleUp)
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(ups, vec![(10, 12)], "{:?}", result.events);
    assert_eq!(result.totals.peak_instances, 12);
    assert_eq!(result.timeline.last().unwrap().in_service, 12);
}
