//! The scaling decision made at the end of every step, from what monitoring saw.
//!
//! Where each rule comes from is documented in docs/simulate.md: step size,
//! window, backoff, limits and freeze are the seeds'; rounding, in-flight
//! accounting, the cooldown difference rule and scale-out cancelling the scale-in
//! cooldown are AWS step scaling; the stabilization-window idea is Kubernetes HPA
//! `behavior`; scale-in rounding is AWS's `PercentChangeInCapacity` rounding.
use serde::Serialize;

use super::fleet::FleetCounts;
use super::policy::{Metric, Policy};

/// What a scaling decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    ScaleUp,
    ScaleDown,
    Hold,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::ScaleUp => "scale_up",
            Action::ScaleDown => "scale_down",
            Action::Hold => "hold",
        }
    }
}

/// Why a scaling decision was made (the reason codes of DESIGN.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Reason {
    /// The metric crossed `scale_up.threshold`.
    StepUp(Metric),
    /// The metric stayed below `scale_down.threshold` for the window.
    ScaleDownWindow,
    /// Capacity for the forecast upper bound (or a scale-down stopped at it).
    PrewarmForecast,
    /// A flap: the scale-down window grew.
    BackoffExtended,
    /// Limited by `fleet.max_instances`.
    CappedMax,
    /// Limited by `limits.safety_cap_multiple` × normal peak (clamped to it).
    CappedSafety,
    /// Limited by `--db-max-connections` (the tighter limit than `max_instances`).
    CappedDbConnections,
    /// p95 above `limits.freeze_p95_ms`: scale-in held (scale-out still allowed).
    FrozenPanic,
    /// A scale-down stopped at `fleet.min_instances`.
    FloorMin,
    /// The metric says scale in, but instances are booting or warming (AWS: no
    /// scale-in while instances warm up): the fleet is held above min.
    HeldWarmup,
    /// The metric says scale in, but the policy removes nothing
    /// (`scale_down.max_remove_percent = 0`): the fleet is held above min.
    ScaleInDisabled,
}

impl Reason {
    /// The code written to events CSV and JSON.
    pub fn code(self) -> String {
        match self {
            Reason::StepUp(metric) => format!("STEP_UP_{}", metric.code()),
            Reason::ScaleDownWindow => "SCALE_DOWN_WINDOW".into(),
            Reason::PrewarmForecast => "PREWARM_FORECAST".into(),
            Reason::BackoffExtended => "BACKOFF_EXTENDED".into(),
            Reason::CappedMax => "CAPPED_MAX".into(),
            Reason::CappedSafety => "CAPPED_SAFETY".into(),
            Reason::CappedDbConnections => "CAPPED_DB_CONNECTIONS".into(),
            Reason::FrozenPanic => "FROZEN_PANIC".into(),
            Reason::FloorMin => "FLOOR_MIN".into(),
            Reason::HeldWarmup => "SCALE_IN_HELD_WARMUP".into(),
            Reason::ScaleInDisabled => "SCALE_IN_DISABLED".into(),
        }
    }
}

/// One scaling decision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// When it was made, seconds from the start of the simulation.
    pub at_seconds: f64,
    pub action: Action,
    /// Desired capacity before, instances.
    pub from: u32,
    /// Desired capacity after, instances.
    pub to: u32,
    pub reason: Reason,
}

/// The policy's numbers the scaler needs, resolved once (caps in instances).
#[derive(Debug, Clone)]
pub struct ScalerConfig {
    pub metric: Metric,
    pub up_threshold: f64,
    pub down_threshold: f64,
    pub step_percent: f64,
    pub min_step: u32,
    pub cooldown_seconds: f64,
    pub window_seconds: f64,
    pub max_remove_percent: f64,
    pub backoff_multiplier: f64,
    pub max_window_seconds: f64,
    pub min_instances: u32,
    pub max_instances: u32,
    /// `safety_cap_multiple` × normal peak, instances.
    pub safety_cap: u32,
    pub freeze_p95_ms: f64,
    /// Simulation step, seconds.
    pub step_seconds: f64,
    /// Largest fleet the database connections allow (`u32::MAX` without the check), instances.
    pub db_cap: u32,
}

impl ScalerConfig {
    pub fn new(policy: &Policy, safety_cap: u32, step_seconds: f64) -> Self {
        ScalerConfig {
            metric: policy.scale_up.metric,
            up_threshold: policy.scale_up.threshold,
            down_threshold: policy.scale_down.threshold,
            step_percent: policy.scale_up.step_percent,
            min_step: policy.scale_up.min_step,
            cooldown_seconds: policy.scale_up.cooldown_seconds,
            window_seconds: policy.scale_down.window_seconds,
            max_remove_percent: policy.scale_down.max_remove_percent,
            backoff_multiplier: policy.scale_down.backoff_multiplier,
            max_window_seconds: policy.scale_down.max_window_seconds,
            min_instances: policy.fleet.min_instances,
            max_instances: policy.fleet.max_instances,
            safety_cap,
            freeze_p95_ms: policy.limits.freeze_p95_ms,
            step_seconds,
            db_cap: u32::MAX,
        }
    }

    /// The largest fleet allowed and the reason that names it: the tighter of
    /// `max_instances` and the database cap (at a tie, the policy's max).
    fn ceiling(&self) -> (u32, Reason) {
        if self.db_cap < self.max_instances {
            (self.db_cap, Reason::CappedDbConnections)
        } else {
            (self.max_instances, Reason::CappedMax)
        }
    }
}

/// What monitoring saw during the step just ended.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    /// The policy metric over in-service instances, metric units.
    pub metric: f64,
    /// p95 response time, milliseconds.
    pub p95_ms: f64,
    pub counts: FleetCounts,
}

/// Counters kept by the scaler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScalerCounts {
    pub scale_ups: u32,
    pub scale_downs: u32,
    pub flaps: u32,
    /// Refused or capped decisions (one per episode), decisions.
    pub refused: u32,
    /// Of those, capped by the database connection limit, decisions.
    pub db_capped: u32,
    /// Largest capacity any decision asked for, before limits, instances.
    pub max_target: u32,
}

impl ScalerCounts {
    fn count_refusal(&mut self, why: Reason) {
        self.refused += 1;
        if why == Reason::CappedDbConnections {
            self.db_capped += 1;
        }
    }
}

/// AWS step adjustment of `percent` of `base`: above 1 it rounds down, between
/// 0 and 1 it becomes 1; never below `min_step` (MinAdjustmentMagnitude).
pub fn step_size(base: u32, percent: f64, min_step: u32) -> u32 {
    let adjustment = f64::from(base) * percent / 100.0;
    let rounded = if adjustment > 1.0 {
        adjustment.floor() as u32
    } else if adjustment > 0.0 {
        1
    } else {
        0
    };
    rounded.max(min_step)
}

/// Instances kept by one scale-down removing at most `max_remove_percent` of
/// `fleet`, rounded as AWS rounds a negative `PercentChangeInCapacity`: a removal
/// between 0 and 1 instance becomes 1, above 1 it rounds toward zero (−0.8 → −1,
/// −1.4 → −1, −3.9 → −3). So 3 or 4 instances at 20 % lose one, and any fleet can
/// reach `min_instances`; 0 % never removes.
pub fn keep_after_scale_down(fleet: u32, max_remove_percent: f64) -> u32 {
    fleet - remove_count(fleet, max_remove_percent).min(fleet)
}

/// Instances removed by a negative percent adjustment of `percent` of `base` (AWS rounding).
pub fn remove_count(base: u32, percent: f64) -> u32 {
    let adjustment = f64::from(base) * percent / 100.0;
    if adjustment >= 1.0 {
        (adjustment + 1e-9).floor() as u32
    } else if adjustment > 0.0 {
        1
    } else {
        0
    }
}

/// The scaler's memory between steps.
#[derive(Debug, Clone)]
pub struct Scaler {
    cfg: ScalerConfig,
    /// Current scale-down window (grows by backoff), seconds.
    window: f64,
    low_since: Option<f64>,
    up_cooldown_until: f64,
    /// Desired capacity when the running scale-up cooldown began.
    up_base: u32,
    down_cooldown_until: f64,
    last_down: Option<f64>,
    last_flap: f64,
    frozen: bool,
    /// A capped or refused episode in progress (logged once).
    capped: Option<Reason>,
    /// A rule holding the fleet above min against a low metric (logged once).
    held: Option<Reason>,
    pub counts: ScalerCounts,
}

impl Scaler {
    pub fn new(cfg: ScalerConfig) -> Self {
        Scaler {
            window: cfg.window_seconds,
            cfg,
            low_since: None,
            up_cooldown_until: f64::NEG_INFINITY,
            up_base: 0,
            down_cooldown_until: f64::NEG_INFINITY,
            last_down: None,
            last_flap: f64::NEG_INFINITY,
            frozen: false,
            capped: None,
            held: None,
            counts: ScalerCounts::default(),
        }
    }

    /// Current scale-down window, seconds.
    pub fn window_seconds(&self) -> f64 {
        self.window
    }

    /// The fleet to start with when the first step wants `wanted`: within
    /// `min_instances` and the ceiling. A start cut by the database limit is logged
    /// at time 0 and opens a capped episode (like a capped decision).
    pub fn initial_fleet(&mut self, wanted: u32, events: &mut Vec<Event>) -> u32 {
        let (ceiling, capped_by) = self.cfg.ceiling();
        let min = self.cfg.min_instances;
        let initial = wanted.clamp(min, ceiling.max(min));
        if wanted > initial && initial == ceiling && capped_by == Reason::CappedDbConnections {
            self.capped = Some(capped_by);
            self.counts.count_refusal(capped_by);
            events.push(Event {
                at_seconds: 0.0,
                action: Action::Hold,
                from: initial,
                to: initial,
                reason: capped_by,
            });
        }
        initial
    }

    /// Decide at time `now` (end of a step). `prewarm` is the instance count the
    /// forecast asks to have in place (0 without a forecast). Returns the change of
    /// desired capacity: positive launches, negative removes in-service instances.
    pub fn decide(
        &mut self,
        now: f64,
        obs: &Observation,
        prewarm: u32,
        events: &mut Vec<Event>,
    ) -> i64 {
        const EPS: f64 = 1e-6;
        let cfg = &self.cfg;
        let desired = obs.counts.total();
        let mut log = |action, from, to, reason| {
            events.push(Event {
                at_seconds: now,
                action,
                from,
                to,
                reason,
            });
        };

        // Backoff resets after a quiet period with no flap.
        if self.window > cfg.window_seconds && now - self.last_flap >= cfg.max_window_seconds - EPS
        {
            self.window = cfg.window_seconds;
        }

        // Panic button: while p95 is above the freeze level no instance is removed
        // and no scale-in window runs (no flapping), but a fleet below what it needs
        // still scales out (a freeze never holds a drowning fleet).
        let frozen = obs.p95_ms > cfg.freeze_p95_ms;
        if frozen {
            if !self.frozen {
                self.frozen = true;
                log(Action::Hold, desired, desired, Reason::FrozenPanic);
            }
            self.low_since = None;
        } else {
            self.frozen = false;
        }

        if frozen {
            // Scale-in is off while frozen.
        } else if obs.metric < cfg.down_threshold {
            self.low_since.get_or_insert(now - cfg.step_seconds);
        } else {
            self.low_since = None;
        }

        // Scale-up: the reactive step and the forecast's need; the larger wins.
        let in_cooldown = now < self.up_cooldown_until - EPS;
        let mut target = desired;
        let mut reason = Reason::StepUp(cfg.metric);
        if obs.metric > cfg.up_threshold && obs.counts.in_service > 0 {
            // AWS "current capacity": instances still booting or warming are not
            // counted, so the step is taken from the instances in service and only
            // the difference to a larger target is launched; repeated triggers
            // while instances warm do not compound (issue 13). During a cooldown the
            // base is at most the capacity before the running step.
            let in_service = obs.counts.in_service;
            let base = if in_cooldown {
                in_service.min(self.up_base)
            } else {
                in_service
            };
            target = target.max(base + step_size(base, cfg.step_percent, cfg.min_step));
        }
        if prewarm > target {
            target = prewarm;
            reason = Reason::PrewarmForecast;
        }
        self.counts.max_target = self.counts.max_target.max(target);
        if target > desired {
            let (ceiling, capped_by) = cfg.ceiling();
            // A target above the safety cap is clamped to it, like max (not refused).
            let (to, why) = if target > cfg.safety_cap && cfg.safety_cap < ceiling {
                (cfg.safety_cap.max(desired), Reason::CappedSafety)
            } else if target > ceiling {
                (ceiling.max(desired), capped_by)
            } else {
                (target, reason)
            };
            let clamped = matches!(
                why,
                Reason::CappedMax | Reason::CappedDbConnections | Reason::CappedSafety
            );
            if to == desired {
                if self.capped != Some(why) {
                    self.capped = Some(why);
                    self.counts.count_refusal(why);
                    log(Action::Hold, desired, desired, why);
                }
                return 0;
            }
            self.capped = clamped.then_some(why);
            if clamped {
                self.counts.count_refusal(why);
            }
            log(Action::ScaleUp, desired, to, why);
            self.counts.scale_ups += 1;
            if !in_cooldown {
                self.up_base = desired;
                self.up_cooldown_until = now + cfg.cooldown_seconds;
            }
            // A scale-out cancels the scale-in cooldown (AWS).
            self.down_cooldown_until = f64::NEG_INFINITY;
            if self
                .last_down
                .is_some_and(|down| now - down <= self.window + EPS)
            {
                self.counts.flaps += 1;
                let longer = (self.window * cfg.backoff_multiplier).min(cfg.max_window_seconds);
                self.last_flap = now;
                self.last_down = None;
                if longer > self.window {
                    self.window = longer;
                    log(Action::Hold, to, to, Reason::BackoffExtended);
                }
            }
            return i64::from(to) - i64::from(desired);
        }
        self.capped = None;

        // Scale-down: metric low for a whole window, nothing in flight, one step per window.
        let low_long_enough = self
            .low_since
            .is_some_and(|since| now - since >= self.window - EPS);
        if !low_long_enough || desired <= cfg.min_instances {
            self.held = None;
            return 0;
        }
        // The metric says scale in and the fleet is above min: scale in, or say which
        // rule holds it (once per episode).
        let held = if obs.counts.in_flight() > 0 {
            Some(Reason::HeldWarmup)
        } else if now < self.down_cooldown_until - EPS {
            None // one scale-down per window: the next one comes
        } else {
            let keep = keep_after_scale_down(desired, cfg.max_remove_percent);
            let (to, why) = if cfg.min_instances.max(prewarm) <= keep {
                (keep, Reason::ScaleDownWindow)
            } else if prewarm > cfg.min_instances {
                (prewarm, Reason::PrewarmForecast)
            } else {
                (cfg.min_instances, Reason::FloorMin)
            };
            if to < desired {
                log(Action::ScaleDown, desired, to, why);
                self.counts.scale_downs += 1;
                self.last_down = Some(now);
                self.down_cooldown_until = now + self.window;
                self.held = None;
                return i64::from(to) - i64::from(desired);
            }
            Some(if keep == desired {
                Reason::ScaleInDisabled
            } else {
                Reason::PrewarmForecast
            })
        };
        if let Some(why) = held {
            if self.held != Some(why) {
                self.held = Some(why);
                log(Action::Hold, desired, desired, why);
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ScalerConfig {
        let mut cfg = ScalerConfig::new(&Policy::default(), 1000, 60.0);
        cfg.min_instances = 1;
        cfg
    }

    fn obs(metric: f64, in_service: u32, in_flight: u32) -> Observation {
        Observation {
            metric,
            p95_ms: 50.0,
            counts: FleetCounts {
                booting: in_flight,
                warming: 0,
                in_service,
            },
        }
    }

    #[test]
    fn aws_step_rounding() {
        assert_eq!(step_size(10, 20.0, 1), 2); // 2.0 stays 2
        assert_eq!(step_size(14, 20.0, 1), 2); // 2.8 rounds down
        assert_eq!(step_size(3, 20.0, 1), 1); // 0.6 becomes 1
        assert_eq!(step_size(3, 20.0, 0), 1);
        assert_eq!(step_size(10, 20.0, 5), 5); // min_step
    }

    #[test]
    fn aws_scale_in_rounding() {
        // Between -1 and 0 becomes -1: 2, 3 and 4 instances at 20 % lose one.
        assert_eq!(keep_after_scale_down(2, 20.0), 1);
        assert_eq!(keep_after_scale_down(3, 20.0), 2);
        assert_eq!(keep_after_scale_down(4, 20.0), 3);
        // Below -1 rounds toward zero: -1.4 -> -1, -3.9 -> -3.
        assert_eq!(keep_after_scale_down(7, 20.0), 6);
        assert_eq!(remove_count(13, 30.0), 3);
        assert_eq!(keep_after_scale_down(5, 20.0), 4);
        assert_eq!(keep_after_scale_down(10, 20.0), 8);
        assert_eq!(keep_after_scale_down(10, 100.0), 0);
        assert_eq!(keep_after_scale_down(10, 0.0), 10);
    }

    #[test]
    fn second_trigger_in_cooldown_adds_only_the_difference() {
        let mut cfg = config();
        cfg.cooldown_seconds = 300.0;
        let mut s = Scaler::new(cfg);
        let mut ev = Vec::new();
        assert_eq!(s.decide(60.0, &obs(0.9, 10, 0), 0, &mut ev), 2); // 10 -> 12
                                                                     // Still hot one step later, 2 in flight: same step from the same base, nothing added.
        assert_eq!(s.decide(120.0, &obs(0.9, 10, 2), 0, &mut ev), 0);
        // A larger target (the forecast asks 15) adds only the difference 12 -> 15.
        assert_eq!(s.decide(180.0, &obs(0.9, 10, 2), 15, &mut ev), 3);
        // After the cooldown the step is taken from the whole desired capacity (15 -> 18).
        assert_eq!(s.decide(400.0, &obs(0.9, 15, 0), 0, &mut ev), 3);
        assert_eq!(s.counts.scale_ups, 3);
    }

    #[test]
    fn scale_in_waits_for_window_and_for_warming_instances() {
        let mut s = Scaler::new(config());
        let mut ev = Vec::new();
        for minute in 1..5 {
            assert_eq!(
                s.decide(60.0 * minute as f64, &obs(0.1, 10, 0), 0, &mut ev),
                0
            );
        }
        // Five minutes low, but an instance is still warming: blocked.
        assert_eq!(s.decide(300.0, &obs(0.1, 10, 1), 0, &mut ev), 0);
        assert_eq!(s.decide(360.0, &obs(0.1, 11, 0), 0, &mut ev), -2); // 2.2 rounds to 2
        assert_eq!(ev.last().unwrap().reason, Reason::ScaleDownWindow);
        // One scale-down per window.
        assert_eq!(s.decide(420.0, &obs(0.1, 9, 0), 0, &mut ev), 0);
        assert_eq!(s.decide(660.0, &obs(0.1, 9, 0), 0, &mut ev), -1);
    }

    #[test]
    fn flap_extends_the_window_and_scale_out_cancels_scale_in_cooldown() {
        let mut s = Scaler::new(config());
        let mut ev = Vec::new();
        for minute in 1..=5 {
            s.decide(60.0 * minute as f64, &obs(0.1, 10, 0), 0, &mut ev);
        }
        assert_eq!(s.counts.scale_downs, 1);
        // A scale-up within the window: a flap.
        assert_eq!(s.decide(360.0, &obs(0.9, 8, 0), 0, &mut ev), 1);
        assert_eq!(s.counts.flaps, 1);
        assert_eq!(s.window_seconds(), 600.0);
        assert_eq!(ev.last().unwrap().reason, Reason::BackoffExtended);
        // The scale-in cooldown was cancelled, but the metric must now stay low for the longer window.
        for minute in 7..16 {
            assert_eq!(
                s.decide(60.0 * minute as f64, &obs(0.1, 9, 0), 0, &mut ev),
                0
            );
        }
        assert_eq!(s.decide(960.0, &obs(0.1, 9, 0), 0, &mut ev), -1);
    }

    #[test]
    fn scale_out_cancels_the_scale_in_cooldown() {
        let mut cfg = config();
        cfg.backoff_multiplier = 1.0; // keep the window at 300 s through the flap
        let mut s = Scaler::new(cfg);
        let mut ev = Vec::new();
        for minute in 1..=5 {
            s.decide(60.0 * f64::from(minute), &obs(0.1, 10, 0), 0, &mut ev);
        }
        assert_eq!(s.counts.scale_downs, 1); // at 300 s; next one not before 600 s
        assert_eq!(s.decide(360.0, &obs(0.1, 8, 0), 0, &mut ev), 0);
        // The forecast asks for 9 while the metric is still low: a scale-out...
        assert_eq!(s.decide(420.0, &obs(0.1, 8, 0), 9, &mut ev), 1);
        // ...which cancels the scale-in cooldown: the still-low metric scales in at once.
        assert_eq!(s.decide(480.0, &obs(0.1, 9, 0), 0, &mut ev), -1);
    }

    #[test]
    fn freeze_holds_scale_in_not_scale_out_and_logs_once() {
        let mut s = Scaler::new(config());
        let mut ev = Vec::new();
        let mut o = obs(5.0, 10, 0);
        o.p95_ms = 40_000.0;
        // Drowning: the freeze is logged, and the step up still happens.
        assert_eq!(s.decide(60.0, &o, 0, &mut ev), 2);
        o.counts.booting = 2;
        assert_eq!(s.decide(90.0, &o, 0, &mut ev), 0); // in cooldown, 2 booting: nothing more
        let reasons: Vec<Reason> = ev.iter().map(|e| e.reason).collect();
        assert_eq!(
            reasons,
            vec![Reason::FrozenPanic, Reason::StepUp(Metric::Utilization)]
        );
        assert_eq!(ev[0].action, Action::Hold);
        assert_eq!(s.counts.refused, 0);
        // Frozen with a low metric for longer than the window: never a scale-in.
        let mut low = obs(0.1, 12, 0);
        low.p95_ms = 40_000.0;
        for minute in 3..20 {
            assert_eq!(s.decide(60.0 * f64::from(minute), &low, 0, &mut ev), 0);
        }
    }

    #[test]
    fn max_and_safety_cap_clamp_and_are_logged() {
        let mut cfg = config();
        cfg.max_instances = 11;
        let mut s = Scaler::new(cfg.clone());
        let mut ev = Vec::new();
        assert_eq!(s.decide(60.0, &obs(0.9, 10, 0), 0, &mut ev), 1);
        assert_eq!(ev[0].reason, Reason::CappedMax);
        cfg.max_instances = 100;
        cfg.safety_cap = 11;
        let mut s = Scaler::new(cfg);
        // 10 -> 12 wanted, clamped to the cap of 11 (not refused).
        assert_eq!(s.decide(60.0, &obs(0.9, 10, 0), 0, &mut ev), 1);
        assert_eq!(
            (ev[1].action, ev[1].to, ev[1].reason),
            (Action::ScaleUp, 11, Reason::CappedSafety)
        );
        assert_eq!(s.counts.refused, 1);
        // At the cap: a hold, logged once per episode.
        assert_eq!(s.decide(400.0, &obs(0.9, 11, 0), 0, &mut ev), 0);
        assert_eq!(s.decide(460.0, &obs(0.9, 11, 0), 0, &mut ev), 0);
        assert_eq!(ev.len(), 2);
    }

    #[test]
    fn database_limit_caps_like_max_and_is_logged_once_per_episode() {
        let mut cfg = config();
        cfg.step_percent = 100.0;
        cfg.db_cap = 13; // tighter than max_instances (50)
        let mut s = Scaler::new(cfg.clone());
        let mut ev = Vec::new();
        // 10 -> 20 wanted, 13 allowed.
        assert_eq!(s.decide(60.0, &obs(0.9, 10, 0), 0, &mut ev), 3);
        assert_eq!(
            (ev[0].action, ev[0].from, ev[0].to, ev[0].reason),
            (Action::ScaleUp, 10, 13, Reason::CappedDbConnections)
        );
        assert_eq!(ev[0].reason.code(), "CAPPED_DB_CONNECTIONS");
        // Still hot at the cap: same episode, nothing more logged or launched.
        assert_eq!(s.decide(120.0, &obs(0.9, 10, 3), 0, &mut ev), 0);
        assert_eq!(s.decide(180.0, &obs(0.9, 13, 0), 0, &mut ev), 0);
        assert_eq!(ev.len(), 1);
        // The load eases, then comes back: a new episode, logged as a hold.
        assert_eq!(s.decide(240.0, &obs(0.5, 13, 0), 0, &mut ev), 0);
        assert_eq!(s.decide(300.0, &obs(0.9, 13, 0), 0, &mut ev), 0);
        assert_eq!(
            (ev[1].action, ev[1].from, ev[1].to, ev[1].reason),
            (Action::Hold, 13, 13, Reason::CappedDbConnections)
        );
        assert_eq!((s.counts.refused, s.counts.db_capped), (2, 2));
        // A forecast asking for more is capped the same way.
        let mut s = Scaler::new(cfg.clone());
        assert_eq!(s.decide(60.0, &obs(0.5, 10, 0), 40, &mut ev), 3);
        assert_eq!(ev.last().unwrap().reason, Reason::CappedDbConnections);
        // At a tie with max_instances, the policy's max names the cap.
        cfg.max_instances = 13;
        let mut s = Scaler::new(cfg);
        assert_eq!(s.decide(60.0, &obs(0.9, 10, 0), 0, &mut ev), 3);
        assert_eq!(ev.last().unwrap().reason, Reason::CappedMax);
        assert_eq!(s.counts.db_capped, 0);
    }

    #[test]
    fn initial_fleet_cut_by_the_database_is_logged() {
        let mut cfg = config();
        cfg.db_cap = 6;
        let mut s = Scaler::new(cfg);
        let mut ev = Vec::new();
        assert_eq!(s.initial_fleet(5, &mut ev), 5); // fits: nothing
        assert!(ev.is_empty());
        assert_eq!(s.initial_fleet(9, &mut ev), 6);
        assert_eq!(
            (ev[0].at_seconds, ev[0].action, ev[0].to, ev[0].reason),
            (0.0, Action::Hold, 6, Reason::CappedDbConnections)
        );
        // The episode continues into the first decision: not logged twice.
        assert_eq!(s.decide(60.0, &obs(0.9, 6, 0), 0, &mut ev), 0);
        assert_eq!(ev.len(), 1);
        assert_eq!(s.counts.db_capped, 1);
    }
}
