//! The scaling decision made at the end of every step, from what monitoring saw.
//!
//! Where each rule comes from is documented in docs/simulate.md: step size,
//! window, backoff, limits and freeze are the seeds'; rounding, in-flight
//! accounting, the cooldown difference rule and scale-out cancelling the scale-in
//! cooldown are AWS step scaling; the stabilization-window idea is Kubernetes HPA
//! `behavior`; scale-in rounding is AWS's `PercentChangeInCapacity` rounding.
use serde::Serialize;

use super::fleet::FleetCounts;
use super::hpa::{HpaConfig, HpaState, Limit};
use super::policy::{AdjustmentType, Metric, Policy, StepAdjustment, TargetTracking};

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
    /// A step of `[[scale_up.steps]]` (`STEP_UP_<n>`, 1-based in bound order).
    StepUpNumbered(u8),
    /// A step of `[[scale_down.steps]]` (`STEP_DOWN_<n>`, 1-based in bound order from the threshold).
    StepDownNumbered(u8),
    /// `[target_tracking]` moved the fleet toward its target.
    TargetTracking,
    /// `[hpa]` scaled up.
    HpaScaleUp,
    /// `[hpa]` scaled down.
    HpaScaleDown,
    /// `[hpa]`: a `Pods`/`Percent` policy limited the change.
    HpaRateLimited,
    /// `[hpa]`: a stabilization window held the count against the metric.
    Stabilized,
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
            Reason::StepUpNumbered(n) => format!("STEP_UP_{n}"),
            Reason::StepDownNumbered(n) => format!("STEP_DOWN_{n}"),
            Reason::TargetTracking => "TARGET_TRACKING".into(),
            Reason::HpaScaleUp => "HPA_SCALE_UP".into(),
            Reason::HpaScaleDown => "HPA_SCALE_DOWN".into(),
            Reason::HpaRateLimited => "HPA_RATE_LIMITED".into(),
            Reason::Stabilized => "STABILIZED".into(),
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
    /// `[[scale_up.steps]]`, sorted by bound (empty: one step of `step_percent`).
    pub up_steps: Vec<StepAdjustment>,
    pub up_adjustment: AdjustmentType,
    /// `[[scale_down.steps]]`, sorted from the threshold down (empty: `max_remove_percent`).
    pub down_steps: Vec<StepAdjustment>,
    pub down_adjustment: AdjustmentType,
    pub down_min_step: u32,
    /// Time between scale-downs (`None`: the current window), seconds.
    pub down_cooldown_seconds: Option<f64>,
    /// Which controller decides.
    pub controller: Controller,
}

/// The rules that turn the metric into a desired count.
#[derive(Debug, Clone)]
pub enum Controller {
    /// The step rules of `[scale_up]` / `[scale_down]` (the seeds' and AWS step scaling).
    Step,
    /// AWS target tracking.
    TargetTracking(TargetTracking),
    /// The Kubernetes HPA.
    Hpa(HpaConfig),
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
            up_steps: sorted_steps(&policy.scale_up.steps, false),
            up_adjustment: policy.scale_up.adjustment_type,
            down_steps: sorted_steps(&policy.scale_down.steps, true),
            down_adjustment: policy.scale_down.adjustment_type,
            down_min_step: policy.scale_down.min_step,
            down_cooldown_seconds: policy.scale_down.cooldown_seconds,
            controller: match (&policy.target_tracking, &policy.hpa) {
                (Some(tt), _) => Controller::TargetTracking(*tt),
                (None, Some(hpa)) => Controller::Hpa(HpaConfig::new(hpa)),
                (None, None) => Controller::Step,
            },
        }
    }

    /// The step a reactive scale-up takes from `base` instances in service when the
    /// metric is `metric` (`None`: no alarm or no step applies), and its reason.
    fn step_up(&self, metric: f64, base: u32) -> Option<(u32, Reason)> {
        if metric <= self.up_threshold {
            return None;
        }
        if self.up_steps.is_empty() {
            let target = base.saturating_add(step_size(base, self.step_percent, self.min_step));
            return Some((target, Reason::StepUp(self.metric)));
        }
        let delta = snap(metric - self.up_threshold);
        let (i, step) = self
            .up_steps
            .iter()
            .enumerate()
            .find(|(_, s)| s.contains(delta, true))?;
        let target = adjust(base, step.adjustment, self.up_adjustment, self.min_step);
        Some((target, Reason::StepUpNumbered(i as u8 + 1)))
    }

    /// What one scale-down keeps of `fleet` when the metric is `metric`, and its reason.
    fn step_down(&self, metric: f64, fleet: u32) -> (u32, Reason) {
        if self.down_steps.is_empty() {
            return (
                keep_after_scale_down(fleet, self.max_remove_percent),
                Reason::ScaleDownWindow,
            );
        }
        let delta = snap(metric - self.down_threshold);
        match self
            .down_steps
            .iter()
            .enumerate()
            .find(|(_, s)| s.contains(delta, false))
        {
            Some((i, step)) => (
                adjust(
                    fleet,
                    step.adjustment,
                    self.down_adjustment,
                    self.down_min_step,
                )
                .min(fleet),
                Reason::StepDownNumbered(i as u8 + 1),
            ),
            None => (fleet, Reason::ScaleDownWindow),
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

/// Steps ordered outward from the threshold (up: by lower bound; down: by upper
/// bound, highest first), so `STEP_UP_1` / `STEP_DOWN_1` is the one at the threshold.
fn sorted_steps(steps: &[StepAdjustment], down: bool) -> Vec<StepAdjustment> {
    let mut sorted = steps.to_vec();
    if down {
        sorted.sort_by(|a, b| {
            b.upper
                .unwrap_or(f64::INFINITY)
                .total_cmp(&a.upper.unwrap_or(f64::INFINITY))
        });
    } else {
        sorted.sort_by(|a, b| {
            a.lower
                .unwrap_or(f64::NEG_INFINITY)
                .total_cmp(&b.lower.unwrap_or(f64::NEG_INFINITY))
        });
    }
    sorted
}

/// A metric difference rounded to 1e-9, so `0.4 − 0.5` is exactly `−0.1` at a step bound.
fn snap(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

/// The capacity after one step adjustment of `base` (AWS adjustment types):
/// `ChangeInCapacity` adds `adjustment` instances, `PercentChangeInCapacity` adds
/// or removes `adjustment` percent with AWS rounding and at least `min_step`
/// (MinAdjustmentMagnitude), `ExactCapacity` sets it.
pub fn adjust(base: u32, adjustment: f64, kind: AdjustmentType, min_step: u32) -> u32 {
    match kind {
        AdjustmentType::ExactCapacity => adjustment.round().clamp(0.0, 1e9) as u32,
        AdjustmentType::ChangeInCapacity => {
            (f64::from(base) + adjustment.round()).clamp(0.0, 1e9) as u32
        }
        AdjustmentType::PercentChangeInCapacity => {
            if adjustment > 0.0 {
                base.saturating_add(step_size(base, adjustment, min_step))
            } else if adjustment < 0.0 {
                base - remove_count(base, -adjustment).max(min_step).min(base)
            } else {
                base
            }
        }
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
    /// Target tracking: since when the metric is above the target.
    high_since: Option<f64>,
    /// The HPA's recommendations and scale events.
    hpa: Option<HpaState>,
    pub counts: ScalerCounts,
}

impl Scaler {
    pub fn new(cfg: ScalerConfig) -> Self {
        let hpa = match &cfg.controller {
            Controller::Hpa(h) => Some(HpaState::new(h.clone())),
            _ => None,
        };
        Scaler {
            window: cfg.window_seconds,
            hpa,
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
            high_since: None,
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
        let desired = obs.counts.total();

        // Backoff resets after a quiet period with no flap.
        if self.window > self.cfg.window_seconds
            && now - self.last_flap >= self.cfg.max_window_seconds - EPS
        {
            self.window = self.cfg.window_seconds;
        }

        // Panic button: while p95 is above the freeze level no instance is removed
        // and no scale-in window runs (no flapping), but a fleet below what it needs
        // still scales out (a freeze never holds a drowning fleet).
        let frozen = obs.p95_ms > self.cfg.freeze_p95_ms;
        if frozen {
            if !self.frozen {
                self.frozen = true;
                log(
                    events,
                    now,
                    Action::Hold,
                    desired,
                    desired,
                    Reason::FrozenPanic,
                );
            }
            self.low_since = None;
        } else {
            self.frozen = false;
        }
        if matches!(self.cfg.controller, Controller::Hpa(_)) {
            return self.decide_hpa(now, obs, prewarm, frozen, events);
        }
        let tracking = match &self.cfg.controller {
            Controller::TargetTracking(tt) => Some(*tt),
            _ => None,
        };
        let cfg = &self.cfg;

        // The scale-in alarm: below the scale-down threshold (target tracking: below
        // 90 % of the target), tracked since it began.
        let low_level = tracking
            .as_ref()
            .map_or(cfg.down_threshold, |tt| TT_LOW_SHARE * tt.target);
        if frozen {
            // Scale-in is off while frozen.
        } else if obs.metric < low_level {
            self.low_since.get_or_insert(now - cfg.step_seconds);
        } else {
            self.low_since = None;
        }
        if tracking.as_ref().is_some_and(|tt| obs.metric > tt.target) {
            self.high_since.get_or_insert(now - cfg.step_seconds);
        } else {
            self.high_since = None;
        }

        // Scale-up: the reactive step and the forecast's need; the larger wins.
        // AWS "current capacity": instances still booting or warming are not
        // counted, so the step is taken from the instances in service and only the
        // difference to a larger target is launched; repeated triggers while
        // instances warm do not compound (issue 13). During a cooldown the base is
        // at most the capacity before the running step.
        let in_cooldown = now < self.up_cooldown_until - EPS;
        let in_service = obs.counts.in_service;
        let base = if in_cooldown {
            in_service.min(self.up_base)
        } else {
            in_service
        };
        let reactive = if in_service == 0 {
            None
        } else if let Some(tt) = &tracking {
            let alarm = self
                .high_since
                .is_some_and(|since| now - since >= TT_HIGH_SECONDS - EPS);
            alarm.then(|| {
                let target = ceil_count(f64::from(base) * obs.metric / tt.target);
                (target, Reason::TargetTracking)
            })
        } else {
            cfg.step_up(obs.metric, base)
        };
        let mut target = desired;
        let mut reason = Reason::StepUp(cfg.metric);
        if let Some((wanted, why)) = reactive {
            if wanted > target {
                target = wanted;
                reason = why;
            }
        }
        if prewarm > target {
            target = prewarm;
            reason = Reason::PrewarmForecast;
        }
        self.counts.max_target = self.counts.max_target.max(target);
        if target > desired {
            let cooldown = tracking
                .as_ref()
                .map_or(cfg.cooldown_seconds, |tt| tt.scale_out_cooldown_seconds);
            return self.scale_up_to(now, desired, target, reason, in_cooldown, cooldown, events);
        }
        self.capped = None;

        // Scale-down: metric low for the window (target tracking: 15 minutes),
        // nothing in flight, one step per scale-in cooldown.
        let needed = if tracking.is_some() {
            TT_LOW_SECONDS
        } else {
            self.window
        };
        let low_long_enough = self
            .low_since
            .is_some_and(|since| now - since >= needed - EPS);
        if !low_long_enough || desired <= cfg.min_instances {
            self.held = None;
            return 0;
        }
        // The metric says scale in and the fleet is above min: scale in, or say which
        // rule holds it (once per episode).
        let held = if tracking.as_ref().is_some_and(|tt| tt.disable_scale_in) {
            Some(Reason::ScaleInDisabled)
        } else if obs.counts.in_flight() > 0 {
            Some(Reason::HeldWarmup)
        } else if now < self.down_cooldown_until - EPS {
            None // one scale-down per cooldown: the next one comes
        } else {
            let (keep, step_reason) = match &tracking {
                Some(tt) => (
                    ceil_count(f64::from(desired) * obs.metric / tt.target).min(desired),
                    Reason::TargetTracking,
                ),
                None => cfg.step_down(obs.metric, desired),
            };
            let (to, why) = if cfg.min_instances.max(prewarm) <= keep {
                (keep, step_reason)
            } else if prewarm > cfg.min_instances {
                (prewarm, Reason::PrewarmForecast)
            } else {
                (cfg.min_instances, Reason::FloorMin)
            };
            if to < desired {
                let cooldown = match &tracking {
                    Some(tt) => tt.scale_in_cooldown_seconds,
                    None => cfg.down_cooldown_seconds.unwrap_or(self.window),
                };
                log(events, now, Action::ScaleDown, desired, to, why);
                self.counts.scale_downs += 1;
                self.last_down = Some(now);
                self.down_cooldown_until = now + cooldown;
                self.held = None;
                return i64::from(to) - i64::from(desired);
            }
            if keep < desired {
                Some(Reason::PrewarmForecast)
            } else if tracking.is_none() && cfg.down_steps.is_empty() {
                Some(Reason::ScaleInDisabled)
            } else {
                None // a step (or the target) that removes nothing at this metric
            }
        };
        self.hold_once(now, desired, held, events);
        0
    }

    /// Log a rule holding the fleet above min, once per episode.
    fn hold_once(&mut self, now: f64, desired: u32, held: Option<Reason>, events: &mut Vec<Event>) {
        if let Some(why) = held {
            if self.held != Some(why) {
                self.held = Some(why);
                log(events, now, Action::Hold, desired, desired, why);
            }
        }
    }

    /// Grow the fleet from `desired` toward `target` within the safety cap, max and
    /// the database cap (clamped, logged once per episode); counts flaps, and in the
    /// step rules extends the scale-down window after one.
    #[allow(clippy::too_many_arguments)]
    fn scale_up_to(
        &mut self,
        now: f64,
        desired: u32,
        target: u32,
        reason: Reason,
        in_cooldown: bool,
        cooldown_seconds: f64,
        events: &mut Vec<Event>,
    ) -> i64 {
        let cfg = &self.cfg;
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
                log(events, now, Action::Hold, desired, desired, why);
            }
            return 0;
        }
        self.capped = clamped.then_some(why);
        if clamped {
            self.counts.count_refusal(why);
        }
        log(events, now, Action::ScaleUp, desired, to, why);
        self.counts.scale_ups += 1;
        if !in_cooldown {
            self.up_base = desired;
            self.up_cooldown_until = now + cooldown_seconds;
        }
        // A scale-out cancels the scale-in cooldown (AWS).
        self.down_cooldown_until = f64::NEG_INFINITY;
        if self
            .last_down
            .is_some_and(|down| now - down <= self.window + EPS)
        {
            self.counts.flaps += 1;
            self.last_flap = now;
            self.last_down = None;
            if matches!(cfg.controller, Controller::Step) {
                let longer = (self.window * cfg.backoff_multiplier).min(cfg.max_window_seconds);
                if longer > self.window {
                    self.window = longer;
                    log(events, now, Action::Hold, to, to, Reason::BackoffExtended);
                }
            }
        }
        i64::from(to) - i64::from(desired)
    }

    /// The HPA's decision at a sync (between syncs only the forecast may scale up).
    fn decide_hpa(
        &mut self,
        now: f64,
        obs: &Observation,
        prewarm: u32,
        frozen: bool,
        events: &mut Vec<Event>,
    ) -> i64 {
        let desired = obs.counts.total();
        let (min, max) = (self.cfg.min_instances, self.cfg.max_instances);
        let ready = obs.counts.in_service + obs.counts.warming;
        let proposal = self.hpa.as_mut().and_then(|hpa| {
            hpa.sync(
                now,
                desired,
                obs.metric,
                ready,
                obs.counts.booting,
                min,
                max,
            )
        });
        let (replicas, raw, limit) = proposal.map_or((desired, desired, Limit::None), |p| {
            (p.replicas, p.raw, p.limit)
        });
        let mut target = replicas;
        let mut reason = if limit == Limit::RateLimited {
            Reason::HpaRateLimited
        } else {
            Reason::HpaScaleUp
        };
        if prewarm > target {
            target = prewarm;
            reason = Reason::PrewarmForecast;
        }
        self.counts.max_target = self.counts.max_target.max(target);
        if target > desired {
            let change = self.scale_up_to(now, desired, target, reason, false, 0.0, events);
            if let Some(hpa) = self.hpa.as_mut() {
                hpa.record(now, change);
            }
            return change;
        }
        self.capped = None;
        if replicas < desired && !frozen {
            // Only instances in service are removed; the forecast's floor holds.
            let floor = prewarm.max(desired - obs.counts.in_service);
            let (to, why) = if replicas >= floor {
                let why = if limit == Limit::RateLimited {
                    Reason::HpaRateLimited
                } else {
                    Reason::HpaScaleDown
                };
                (replicas, why)
            } else if prewarm >= floor {
                (floor, Reason::PrewarmForecast)
            } else {
                (floor, Reason::HeldWarmup) // only instances in service are removed
            };
            if to < desired {
                log(events, now, Action::ScaleDown, desired, to, why);
                self.counts.scale_downs += 1;
                self.last_down = Some(now);
                self.held = None;
                let change = i64::from(to) - i64::from(desired);
                if let Some(hpa) = self.hpa.as_mut() {
                    hpa.record(now, change);
                }
                return change;
            }
        }
        if proposal.is_some() {
            if limit == Limit::Stabilized && replicas == desired && raw < desired {
                // The metric says scale in; the stabilization window holds the count.
                self.hold_once(now, desired, Some(Reason::Stabilized), events);
            } else if raw >= desired {
                self.held = None;
            }
        }
        0
    }
}

/// Target tracking's scale-out alarm: above the target for 3 one-minute datapoints.
const TT_HIGH_SECONDS: f64 = 180.0;
/// Target tracking's scale-in alarm: below 90 % of the target for 15 one-minute datapoints.
const TT_LOW_SECONDS: f64 = 900.0;
const TT_LOW_SHARE: f64 = 0.9;
const EPS: f64 = 1e-6;

fn ceil_count(x: f64) -> u32 {
    if x.is_nan() {
        return 0;
    }
    (x - 1e-9).ceil().clamp(0.0, 1e9) as u32
}

fn log(events: &mut Vec<Event>, now: f64, action: Action, from: u32, to: u32, reason: Reason) {
    events.push(Event {
        at_seconds: now,
        action,
        from,
        to,
        reason,
    });
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

    /// A policy parsed from TOML, as a scaler config (safety cap out of the way).
    fn config_of(toml: &str) -> ScalerConfig {
        let policy = Policy::parse(toml, std::path::Path::new("p.toml")).unwrap();
        ScalerConfig::new(&policy, 1000, 60.0)
    }

    #[test]
    fn aws_worked_step_scaling_example() {
        // AWS EC2 Auto Scaling, "Step and simple scaling policies": capacity 10,
        // both alarms at 50 %, PercentChangeInCapacity; scale-out +10 % at
        // [60, 70), +30 % from 70; scale-in -10 % at (30, 40], -30 % at or below 30.
        let cfg = config_of(
            "[fleet]\nmin_instances = 1\n\
             [scale_up]\nthreshold = 0.5\nadjustment_type = \"percent_change_in_capacity\"\n\
             [[scale_up.steps]]\nlower = 0.0\nupper = 0.1\nadjustment = 0\n\
             [[scale_up.steps]]\nlower = 0.1\nupper = 0.2\nadjustment = 10\n\
             [[scale_up.steps]]\nlower = 0.2\nadjustment = 30\n\
             [scale_down]\nthreshold = 0.5\nwindow_seconds = 60\ncooldown_seconds = 0\n\
             adjustment_type = \"percent_change_in_capacity\"\n\
             [[scale_down.steps]]\nlower = -0.1\nupper = 0.0\nadjustment = 0\n\
             [[scale_down.steps]]\nlower = -0.2\nupper = -0.1\nadjustment = -10\n\
             [[scale_down.steps]]\nupper = -0.2\nadjustment = -30\n",
        );
        let mut s = Scaler::new(cfg);
        let mut ev = Vec::new();
        // 60 % -> 11 (10 % of 10).
        assert_eq!(s.decide(60.0, &obs(0.6, 10, 0), 0, &mut ev), 1);
        // Once the new instance is warm, 70 % -> 14 (30 % of 11 = 3.3, rounded down).
        assert_eq!(s.decide(600.0, &obs(0.7, 11, 0), 0, &mut ev), 3);
        // 40 % -> 13 (10 % of 14 = 1.4, rounded toward zero).
        assert_eq!(s.decide(1200.0, &obs(0.4, 14, 0), 0, &mut ev), -1);
        // 30 % -> 10 (30 % of 13 = 3.9, rounded toward zero).
        assert_eq!(s.decide(1260.0, &obs(0.3, 13, 0), 0, &mut ev), -3);
        let codes: Vec<String> = ev.iter().map(|e| e.reason.code()).collect();
        assert_eq!(
            codes,
            ["STEP_UP_2", "STEP_UP_3", "STEP_DOWN_2", "STEP_DOWN_3"]
        );
        // 55 % and 45 %: the zero steps around the threshold do nothing.
        let mut s = Scaler::new(s.cfg.clone());
        assert_eq!(s.decide(60.0, &obs(0.55, 10, 0), 0, &mut ev), 0);
        assert_eq!(s.decide(600.0, &obs(0.45, 10, 0), 0, &mut ev), 0);
        assert_eq!(s.decide(660.0, &obs(0.45, 10, 0), 0, &mut ev), 0);
    }

    #[test]
    fn adjustment_types_and_min_adjustment_magnitude() {
        use AdjustmentType::*;
        assert_eq!(adjust(10, 3.0, ChangeInCapacity, 1), 13);
        assert_eq!(adjust(10, -4.0, ChangeInCapacity, 1), 6);
        assert_eq!(adjust(10, 25.0, ExactCapacity, 1), 25);
        assert_eq!(adjust(10, 10.0, PercentChangeInCapacity, 1), 11);
        assert_eq!(adjust(10, 10.0, PercentChangeInCapacity, 3), 13); // MinAdjustmentMagnitude
        assert_eq!(adjust(10, -10.0, PercentChangeInCapacity, 2), 8);
        assert_eq!(adjust(10, 0.0, PercentChangeInCapacity, 3), 10);
    }

    #[test]
    fn target_tracking_scales_proportionally_after_its_alarms() {
        let cfg = config_of(
            "[fleet]\nmin_instances = 1\n[target_tracking]\nmetric = \"utilization\"\n\
             target = 0.5\nscale_in_cooldown_seconds = 300\n",
        );
        let mut s = Scaler::new(cfg.clone());
        let mut ev = Vec::new();
        // Above target for 3 minutes: ceil(10 x 0.8 / 0.5) = 16.
        assert_eq!(s.decide(60.0, &obs(0.8, 10, 0), 0, &mut ev), 0);
        assert_eq!(s.decide(120.0, &obs(0.8, 10, 0), 0, &mut ev), 0);
        assert_eq!(s.decide(180.0, &obs(0.8, 10, 0), 0, &mut ev), 6);
        assert_eq!(ev[0].reason.code(), "TARGET_TRACKING");
        // While the 6 warm, the same metric asks 16 again from the 10 in service: nothing.
        assert_eq!(s.decide(240.0, &obs(0.8, 10, 6), 0, &mut ev), 0);
        // Below 90 % of the target for 15 minutes: ceil(16 x 0.2 / 0.5) = 7.
        let mut s = Scaler::new(cfg.clone());
        for minute in 1..15 {
            assert_eq!(
                s.decide(60.0 * f64::from(minute), &obs(0.2, 16, 0), 0, &mut ev),
                0
            );
        }
        assert_eq!(s.decide(900.0, &obs(0.2, 16, 0), 0, &mut ev), -9);
        // Scale-in cooldown 300 s.
        assert_eq!(s.decide(960.0, &obs(0.1, 7, 0), 0, &mut ev), 0);
        assert_eq!(s.decide(1200.0, &obs(0.1, 7, 0), 0, &mut ev), -5);
        // DisableScaleIn: never, and said once.
        let mut cfg = cfg;
        if let Controller::TargetTracking(tt) = &mut cfg.controller {
            tt.disable_scale_in = true;
        }
        let mut s = Scaler::new(cfg);
        let mut ev = Vec::new();
        for minute in 1..40 {
            assert_eq!(
                s.decide(60.0 * f64::from(minute), &obs(0.1, 16, 0), 0, &mut ev),
                0
            );
        }
        let codes: Vec<String> = ev.iter().map(|e| e.reason.code()).collect();
        assert_eq!(codes, ["SCALE_IN_DISABLED"]);
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
