//! The autoscaling policy (TOML): every key optional with the DESIGN.md default,
//! unknown keys rejected, values validated with the field's dotted name.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::InputError;
use crate::formats::located::Source;
use crate::slo::LatencySlo;

/// Largest `fleet.max_instances` accepted (keeps instance arithmetic far from overflow).
pub const MAX_INSTANCES: u32 = 1_000_000;

/// A whole policy file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub fleet: FleetPolicy,
    pub scale_up: ScaleUp,
    pub scale_down: ScaleDown,
    pub limits: Limits,
    pub predictive: Predictive,
    pub slo: Slo,
    /// `[target_tracking]`: an AWS target tracking policy instead of the step rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_tracking: Option<TargetTracking>,
    /// `[hpa]`: a Kubernetes HorizontalPodAutoscaler (autoscaling/v2) instead of the step rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hpa: Option<Hpa>,
}

/// `[fleet]`: size limits and the life of a new instance.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetPolicy {
    /// Fewest instances, instances.
    pub min_instances: u32,
    /// Most instances, instances.
    pub max_instances: u32,
    /// Gunicorn workers per instance, workers.
    pub workers_per_instance: u32,
    /// Time a new instance serves nothing, seconds.
    pub boot_seconds: f64,
    /// Time after boot at reduced capacity (cold caches), seconds.
    pub warmup_seconds: f64,
    /// Capacity while warming, fraction of full (0..1).
    pub warmup_capacity: f64,
    /// Requests one instance holds waiting (listen backlog) before dropping, requests.
    pub max_queue_per_instance: f64,
}

impl Default for FleetPolicy {
    fn default() -> Self {
        FleetPolicy {
            min_instances: 2,
            max_instances: 50,
            workers_per_instance: 4,
            boot_seconds: 120.0,
            warmup_seconds: 180.0,
            warmup_capacity: 0.5,
            max_queue_per_instance: 2048.0,
        }
    }
}

/// The metric that drives both scale-up and scale-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Demand over sustainable capacity (rps per worker x workers), fraction.
    Utilization,
    /// Requests waiting per serving instance, requests.
    QueueDepth,
    /// p95 response time, milliseconds.
    P95Ms,
    /// Demand per serving worker, rps.
    RpsPerWorker,
    /// Demand per accepting (in-service or warming) instance, rps: ALB's
    /// `RequestCountPerTarget` per minute / 60.
    RpsPerInstance,
}

impl Metric {
    /// Upper-case name used in reason codes (`STEP_UP_<METRIC>`).
    pub fn code(self) -> &'static str {
        match self {
            Metric::Utilization => "UTILIZATION",
            Metric::QueueDepth => "QUEUE_DEPTH",
            Metric::P95Ms => "P95_MS",
            Metric::RpsPerWorker => "RPS_PER_WORKER",
            Metric::RpsPerInstance => "RPS_PER_INSTANCE",
        }
    }
}

/// How a step's `adjustment` changes the capacity (AWS `AdjustmentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentType {
    /// Add (or remove) `adjustment` instances (`ChangeInCapacity`).
    ChangeInCapacity,
    /// Add (or remove) `adjustment` percent of current capacity, AWS rounding
    /// (`PercentChangeInCapacity`).
    #[default]
    PercentChangeInCapacity,
    /// Set the capacity to `adjustment` instances (`ExactCapacity`).
    ExactCapacity,
}

/// One step adjustment (AWS `StepAdjustment`): applies while `lower <= metric −
/// threshold < upper` above the threshold (`lower < … <= upper` below it); an
/// omitted bound is unbounded.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StepAdjustment {
    /// Lower bound relative to the threshold, metric units (omitted: −infinity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    /// Upper bound relative to the threshold, metric units (omitted: +infinity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    /// Instances, percent or exact capacity (per `adjustment_type`); negative removes.
    pub adjustment: f64,
}

impl StepAdjustment {
    /// Whether `delta` (metric − threshold) falls in this step; `above` says which
    /// side of the threshold the alarm is on (AWS: inclusive lower bound above the
    /// threshold, inclusive upper bound below it).
    pub fn contains(&self, delta: f64, above: bool) -> bool {
        let lower = self.lower.unwrap_or(f64::NEG_INFINITY);
        let upper = self.upper.unwrap_or(f64::INFINITY);
        if above {
            lower <= delta && delta < upper
        } else {
            lower < delta && delta <= upper
        }
    }
}

/// `[scale_up]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScaleUp {
    /// Leading metric (also used by scale-down).
    pub metric: Metric,
    /// Scale up when the metric is above this, metric units.
    pub threshold: f64,
    /// Step size, percent of current capacity (the one step when `steps` is empty).
    pub step_percent: f64,
    /// Smallest step, instances (MinAdjustmentMagnitude; percent adjustments only
    /// when `steps` are given).
    pub min_step: u32,
    /// Time after a scale-up during which the step's base stays the capacity before it, seconds.
    pub cooldown_seconds: f64,
    /// How the steps' adjustments apply (`steps` only; `step_percent` is a percent).
    pub adjustment_type: AdjustmentType,
    /// AWS-shaped step adjustments, bounds relative to `threshold` (empty: one step of `step_percent`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepAdjustment>,
}

impl Default for ScaleUp {
    fn default() -> Self {
        ScaleUp {
            metric: Metric::Utilization,
            threshold: 0.75,
            step_percent: 20.0,
            min_step: 1,
            cooldown_seconds: 60.0,
            adjustment_type: AdjustmentType::PercentChangeInCapacity,
            steps: Vec::new(),
        }
    }
}

/// `[scale_down]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScaleDown {
    /// Scale down when the metric stayed below this, metric units.
    pub threshold: f64,
    /// How long the metric must stay low, seconds.
    pub window_seconds: f64,
    /// Most removed per window, percent of the fleet.
    pub max_remove_percent: f64,
    /// Window growth factor after a flap.
    pub backoff_multiplier: f64,
    /// Largest window after backoff, seconds.
    pub max_window_seconds: f64,
    /// Time after a scale-down before the next one, seconds (omitted: the window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_seconds: Option<f64>,
    /// How the steps' adjustments apply (`steps` only).
    pub adjustment_type: AdjustmentType,
    /// Smallest removal of a percent step, instances (MinAdjustmentMagnitude; `steps` only).
    pub min_step: u32,
    /// AWS-shaped step adjustments, bounds relative to `threshold`, adjustments
    /// negative (empty: one step of `max_remove_percent`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepAdjustment>,
}

impl Default for ScaleDown {
    fn default() -> Self {
        ScaleDown {
            threshold: 0.40,
            window_seconds: 300.0,
            max_remove_percent: 20.0,
            backoff_multiplier: 2.0,
            max_window_seconds: 3600.0,
            cooldown_seconds: None,
            adjustment_type: AdjustmentType::PercentChangeInCapacity,
            min_step: 1,
            steps: Vec::new(),
        }
    }
}

/// The metric a target tracking policy or an HPA holds at its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackedMetric {
    /// Demand over sustainable capacity (fraction; AWS `ASGAverageCPUUtilization` / 100,
    /// HPA CPU `averageUtilization` / 100).
    Utilization,
    /// Demand per accepting instance, rps (ALB `RequestCountPerTarget` / 60, an HPA
    /// Pods metric of requests per second).
    RpsPerInstance,
}

impl TrackedMetric {
    pub fn metric(self) -> Metric {
        match self {
            TrackedMetric::Utilization => Metric::Utilization,
            TrackedMetric::RpsPerInstance => Metric::RpsPerInstance,
        }
    }
}

/// `[target_tracking]`: AWS target tracking scaling.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTracking {
    /// The metric held at `target`.
    pub metric: TrackedMetric,
    /// Target value, metric units (utilization as a fraction, rps per instance).
    pub target: f64,
    /// Never scale in (`DisableScaleIn`).
    #[serde(default)]
    pub disable_scale_in: bool,
    /// Time after a scale-out before the next one is taken from a larger base, seconds.
    #[serde(default)]
    pub scale_out_cooldown_seconds: f64,
    /// Time after a scale-in before the next one, seconds (AWS default 300).
    #[serde(default = "default_scale_in_cooldown")]
    pub scale_in_cooldown_seconds: f64,
}

fn default_scale_in_cooldown() -> f64 {
    300.0
}

/// `[hpa]`: a Kubernetes HorizontalPodAutoscaler (autoscaling/v2), one metric.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Hpa {
    /// `utilization` (Resource cpu, target `averageUtilization`) or `rps_per_instance`
    /// (a Pods metric, target `averageValue`).
    pub metric: TrackedMetric,
    /// Target: percent for `utilization` (`averageUtilization`), rps per pod for `rps_per_instance`.
    pub target: f64,
    /// No change while `|metric / target − 1| <= tolerance` (kube-controller-manager default 0.1).
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Controller sync period, seconds (default 15).
    #[serde(default = "default_sync")]
    pub sync_period_seconds: f64,
    /// `behavior` (absent parts take the Kubernetes defaults).
    #[serde(default)]
    pub behavior: HpaBehavior,
}

fn default_tolerance() -> f64 {
    0.1
}

fn default_sync() -> f64 {
    15.0
}

/// `behavior`: one set of rules per direction.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HpaBehavior {
    #[serde(default = "HpaRules::default_up")]
    pub scale_up: HpaRules,
    #[serde(default = "HpaRules::default_down")]
    pub scale_down: HpaRules,
}

impl Default for HpaBehavior {
    fn default() -> Self {
        HpaBehavior {
            scale_up: HpaRules::default_up(),
            scale_down: HpaRules::default_down(),
        }
    }
}

/// `HPAScalingRules`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HpaRules {
    /// Stabilization window, seconds (defaults: 0 up, 300 down).
    pub stabilization_window_seconds: Option<f64>,
    /// `Max` (default), `Min` or `Disabled`.
    #[serde(default)]
    pub select_policy: SelectPolicy,
    /// Rate limits (defaults: up 100 % or 4 pods per 15 s, down 100 % per 15 s).
    pub policies: Option<Vec<HpaPolicy>>,
}

impl HpaRules {
    fn default_up() -> Self {
        HpaRules {
            stabilization_window_seconds: None,
            select_policy: SelectPolicy::Max,
            policies: None,
        }
    }

    fn default_down() -> Self {
        HpaRules::default_up()
    }
}

/// `selectPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
pub enum SelectPolicy {
    #[default]
    Max,
    Min,
    Disabled,
}

/// `HPAScalingPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HpaPolicy {
    #[serde(rename = "type")]
    pub kind: HpaPolicyType,
    /// Pods, or percent of the pods at the start of the period.
    pub value: f64,
    /// The period the limit applies over, seconds (1..1800).
    pub period_seconds: f64,
}

/// `Pods` or `Percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum HpaPolicyType {
    Pods,
    Percent,
}

/// `[limits]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Refuse decisions above this multiple of the normal peak instance count.
    pub safety_cap_multiple: f64,
    /// Panic: hold the count while p95 is above this, milliseconds.
    pub freeze_p95_ms: f64,
    /// The normal peak the safety cap multiplies, rps; `None`: taken from the traffic
    /// (the median day's second-busiest hour, see `engine::normal_peak_rps`).
    pub normal_peak_rps: Option<f64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            safety_cap_multiple: 5.0,
            freeze_p95_ms: 30_000.0,
            normal_peak_rps: None,
        }
    }
}

/// `[predictive]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Predictive {
    /// Capacity for the forecast upper bound is fully warm this long before it is needed, seconds.
    pub lead_seconds: f64,
    /// AWS predictive scaling's `SchedulingBufferTime`: instances for the forecast are
    /// *launched* this long before it is needed (boot and warm-up included), seconds.
    /// When given, it replaces `lead_seconds`.
    pub scheduling_buffer_seconds: Option<f64>,
}

impl Predictive {
    /// How long before the forecast needs capacity a decision launches it, seconds:
    /// `scheduling_buffer_seconds` as AWS means it, else warm by `lead_seconds`
    /// (launch `lead + boot + warm-up` ahead).
    pub fn launch_ahead_seconds(&self, fleet: &FleetPolicy) -> f64 {
        self.scheduling_buffer_seconds
            .unwrap_or(self.lead_seconds + fleet.boot_seconds + fleet.warmup_seconds)
    }
}

impl Default for Predictive {
    fn default() -> Self {
        Predictive {
            lead_seconds: 600.0,
            scheduling_buffer_seconds: None,
        }
    }
}

/// `[slo]`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Slo {
    /// p95 response time objective, milliseconds.
    pub p95_ms: f64,
    /// Largest acceptable fraction of requests dropped (0..1).
    pub max_drop_rate: f64,
    /// Error budget: time p95 may be above `p95_ms` before the SLO is missed, minutes.
    pub max_breach_minutes: f64,
}

impl Slo {
    /// The latency objective in the form every command speaks (`p95<300ms`): the
    /// queueing model predicts the p95, so a policy's objective is always one.
    pub fn latency(&self) -> LatencySlo {
        LatencySlo::percentile(95.0, self.p95_ms)
    }
}

impl Default for Slo {
    fn default() -> Self {
        Slo {
            p95_ms: 300.0,
            max_drop_rate: 0.0,
            max_breach_minutes: 0.0,
        }
    }
}

impl Policy {
    /// Parse and validate policy text; `file` names the source in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Policy, InputError> {
        let source = Source::new(file, text);
        let policy: Policy = source.toml("policy")?;
        policy.validate().map_err(|(field, message)| {
            source.at_line(source.toml_key_line(field), field, message)
        })?;
        if policy.predictive.scheduling_buffer_seconds.is_some()
            && source.toml_has_key("predictive.lead_seconds")
        {
            let field = "predictive.scheduling_buffer_seconds";
            return Err(source.at_line(
                source.toml_key_line(field),
                field,
                "give either predictive.lead_seconds (capacity warm by then) or \
                 scheduling_buffer_seconds (AWS SchedulingBufferTime: launched by then), not both",
            ));
        }
        if let Some(own) = policy.own_rules() {
            // The step rules would be silently unused: refuse them.
            let tables = text.parse::<toml::Table>().unwrap_or_default();
            for table in ["scale_up", "scale_down"] {
                if tables.contains_key(table) {
                    return Err(source.at_line(
                        source.toml_key_line(table),
                        table,
                        format!(
                            "[{own}] replaces the step rules: remove [{table}] (the metric, thresholds and steps come from [{own}])"
                        ),
                    ));
                }
            }
        }
        Ok(policy)
    }

    /// Read and validate a policy file (the one I/O function of this module): a
    /// policy TOML, an AWS bundle or a Kubernetes HPA, detected by content.
    pub fn read(path: &Path) -> Result<Policy, InputError> {
        Policy::read_with_notes(path).map(|imported| imported.policy)
    }

    /// As [`Policy::read`], with the notes on how an AWS or Kubernetes document was mapped.
    pub fn read_with_notes(path: &Path) -> Result<super::policy_import::Imported, InputError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| InputError::file(path, format!("cannot read policy: {err}")))?;
        super::policy_import::parse_any(&text, path)
    }

    /// Check every value; the error names the dotted field and what was expected.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        let f = &self.fleet;
        let up = &self.scale_up;
        let down = &self.scale_down;
        let checks: [(bool, &'static str, String); 21] = [
            (
                f.min_instances >= 1,
                "fleet.min_instances",
                "must be at least 1".into(),
            ),
            (
                f.max_instances >= f.min_instances,
                "fleet.max_instances",
                format!("must be at least fleet.min_instances ({})", f.min_instances),
            ),
            (
                f.max_instances <= MAX_INSTANCES,
                "fleet.max_instances",
                format!("must be at most {MAX_INSTANCES}"),
            ),
            (
                f.workers_per_instance <= 1024,
                "fleet.workers_per_instance",
                "must be at most 1024".into(),
            ),
            (
                f.workers_per_instance >= 1,
                "fleet.workers_per_instance",
                "must be at least 1".into(),
            ),
            (
                non_negative(f.boot_seconds),
                "fleet.boot_seconds",
                "must be a number of seconds >= 0".into(),
            ),
            (
                non_negative(f.warmup_seconds),
                "fleet.warmup_seconds",
                "must be a number of seconds >= 0".into(),
            ),
            (
                (0.0..=1.0).contains(&f.warmup_capacity),
                "fleet.warmup_capacity",
                "must be a fraction between 0 and 1".into(),
            ),
            (
                non_negative(f.max_queue_per_instance),
                "fleet.max_queue_per_instance",
                "must be >= 0".into(),
            ),
            (
                positive(up.threshold),
                "scale_up.threshold",
                "must be > 0".into(),
            ),
            (
                positive(up.step_percent),
                "scale_up.step_percent",
                "must be a percentage > 0".into(),
            ),
            (
                non_negative(up.cooldown_seconds),
                "scale_up.cooldown_seconds",
                "must be >= 0".into(),
            ),
            (
                down.threshold.is_finite()
                    && down.threshold >= 0.0
                    && (down.threshold < up.threshold
                        || (down.threshold == up.threshold
                            && !(up.steps.is_empty() && down.steps.is_empty()))),
                "scale_down.threshold",
                format!(
                    "must be >= 0 and below scale_up.threshold ({})",
                    up.threshold
                ),
            ),
            (
                positive(down.window_seconds),
                "scale_down.window_seconds",
                "must be > 0".into(),
            ),
            (
                down.max_remove_percent.is_finite()
                    && (0.0..=100.0).contains(&down.max_remove_percent),
                "scale_down.max_remove_percent",
                "must be a percentage between 0 and 100".into(),
            ),
            (
                down.backoff_multiplier.is_finite() && down.backoff_multiplier >= 1.0,
                "scale_down.backoff_multiplier",
                "must be >= 1".into(),
            ),
            (
                down.max_window_seconds.is_finite()
                    && down.max_window_seconds >= down.window_seconds,
                "scale_down.max_window_seconds",
                format!(
                    "must be at least scale_down.window_seconds ({})",
                    down.window_seconds
                ),
            ),
            (
                self.limits.safety_cap_multiple.is_finite()
                    && self.limits.safety_cap_multiple >= 1.0,
                "limits.safety_cap_multiple",
                "must be >= 1".into(),
            ),
            (
                positive(self.limits.freeze_p95_ms),
                "limits.freeze_p95_ms",
                "must be > 0".into(),
            ),
            (
                non_negative(self.predictive.lead_seconds),
                "predictive.lead_seconds",
                "must be >= 0".into(),
            ),
            (
                positive(self.slo.p95_ms),
                "slo.p95_ms",
                "must be > 0".into(),
            ),
        ];
        for (ok, field, message) in checks {
            if !ok {
                return Err((field, message));
            }
        }
        if self
            .limits
            .normal_peak_rps
            .is_some_and(|rps| !(rps.is_finite() && rps > 0.0))
        {
            return Err(("limits.normal_peak_rps", "must be a rate > 0".into()));
        }
        if self
            .predictive
            .scheduling_buffer_seconds
            .is_some_and(|s| !non_negative(s))
        {
            return Err((
                "predictive.scheduling_buffer_seconds",
                "must be a number of seconds >= 0".into(),
            ));
        }
        if !(self.slo.max_breach_minutes.is_finite() && self.slo.max_breach_minutes >= 0.0) {
            return Err((
                "slo.max_breach_minutes",
                "must be a number of minutes >= 0".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.slo.max_drop_rate) {
            return Err((
                "slo.max_drop_rate",
                "must be a fraction between 0 and 1".into(),
            ));
        }
        validate_steps("scale_up.steps", &up.steps, up.adjustment_type, true)?;
        validate_steps("scale_down.steps", &down.steps, down.adjustment_type, false)?;
        if let Some(cooldown) = down.cooldown_seconds {
            if !non_negative(cooldown) {
                return Err(("scale_down.cooldown_seconds", "must be >= 0".into()));
            }
        }
        if self.target_tracking.is_some() && self.hpa.is_some() {
            return Err((
                "hpa",
                "a policy has either [target_tracking] or [hpa], not both".into(),
            ));
        }
        if let Some(tt) = &self.target_tracking {
            let checks = [
                (positive(tt.target), "target_tracking.target", "must be > 0"),
                (
                    non_negative(tt.scale_out_cooldown_seconds),
                    "target_tracking.scale_out_cooldown_seconds",
                    "must be >= 0",
                ),
                (
                    non_negative(tt.scale_in_cooldown_seconds),
                    "target_tracking.scale_in_cooldown_seconds",
                    "must be >= 0",
                ),
            ];
            for (ok, field, message) in checks {
                if !ok {
                    return Err((field, message.into()));
                }
            }
        }
        if let Some(hpa) = &self.hpa {
            validate_hpa(hpa)?;
        }
        Ok(())
    }

    /// `target_tracking` or `hpa` when one of them decides instead of the step rules.
    pub fn own_rules(&self) -> Option<&'static str> {
        if self.target_tracking.is_some() {
            Some("target_tracking")
        } else if self.hpa.is_some() {
            Some("hpa")
        } else {
            None
        }
    }

    /// The metric the decisions read: the tracked metric of `[target_tracking]` or
    /// `[hpa]`, else `scale_up.metric`.
    pub fn decision_metric(&self) -> Metric {
        if let Some(tt) = &self.target_tracking {
            tt.metric.metric()
        } else if let Some(hpa) = &self.hpa {
            hpa.metric.metric()
        } else {
            self.scale_up.metric
        }
    }
}

/// Steps of one direction: ordered, without gaps or overlaps (AWS refuses both),
/// bounds on the direction's side of the threshold, adjustments of its sign.
fn validate_steps(
    field: &'static str,
    steps: &[StepAdjustment],
    kind: AdjustmentType,
    up: bool,
) -> Result<(), (&'static str, String)> {
    if steps.is_empty() {
        return Ok(());
    }
    if steps.len() > 20 {
        return Err((field, "at most 20 steps (AWS's limit)".into()));
    }
    let mut sorted: Vec<&StepAdjustment> = steps.iter().collect();
    sorted.sort_by(|a, b| {
        a.lower
            .unwrap_or(f64::NEG_INFINITY)
            .total_cmp(&b.lower.unwrap_or(f64::NEG_INFINITY))
    });
    for (i, step) in sorted.iter().enumerate() {
        let lower = step.lower.unwrap_or(f64::NEG_INFINITY);
        let upper = step.upper.unwrap_or(f64::INFINITY);
        if lower.is_nan() || upper.is_nan() || lower >= upper {
            return Err((field, format!("step {}: lower must be below upper", i + 1)));
        }
        if up && lower < 0.0 || !up && upper > 0.0 {
            let side = if up {
                "lower >= 0 (above"
            } else {
                "upper <= 0 (below"
            };
            return Err((
                field,
                format!(
                    "step {}: bounds are relative to the threshold: {side} it)",
                    i + 1
                ),
            ));
        }
        if let Some(next) = sorted.get(i + 1) {
            if next.lower != step.upper {
                return Err((
                    field,
                    format!(
                        "steps must neither overlap nor leave a gap: one ends at {}, the next starts at {}",
                        upper,
                        next.lower.unwrap_or(f64::NEG_INFINITY)
                    ),
                ));
            }
        }
        let a = step.adjustment;
        let sign_ok = match kind {
            AdjustmentType::ExactCapacity => a >= 0.0,
            _ if up => a >= 0.0,
            _ => a <= 0.0,
        };
        if !a.is_finite() || !sign_ok {
            let expected = match kind {
                AdjustmentType::ExactCapacity => "an instance count >= 0",
                _ if up => "an adjustment >= 0 (scale-out)",
                _ => "an adjustment <= 0 (scale-in)",
            };
            return Err((field, format!("step {}: must be {expected}", i + 1)));
        }
    }
    let covers = |bound: Option<f64>| bound.is_none() || bound == Some(0.0);
    let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
    if up && !(first.lower == Some(0.0) || first.lower.is_none()) || !up && !covers(last.upper) {
        return Err((
            field,
            "the steps must start at the threshold (a bound of 0)".into(),
        ));
    }
    Ok(())
}

fn validate_hpa(hpa: &Hpa) -> Result<(), (&'static str, String)> {
    if !positive(hpa.target) {
        return Err(("hpa.target", "must be > 0".into()));
    }
    if !(hpa.tolerance.is_finite() && (0.0..1.0).contains(&hpa.tolerance)) {
        return Err(("hpa.tolerance", "must be a fraction >= 0 and < 1".into()));
    }
    if !(hpa.sync_period_seconds.is_finite() && hpa.sync_period_seconds >= 1.0) {
        return Err(("hpa.sync_period_seconds", "must be >= 1".into()));
    }
    for (rules, window_field, policies_field) in [
        (
            &hpa.behavior.scale_up,
            "hpa.behavior.scale_up.stabilization_window_seconds",
            "hpa.behavior.scale_up.policies",
        ),
        (
            &hpa.behavior.scale_down,
            "hpa.behavior.scale_down.stabilization_window_seconds",
            "hpa.behavior.scale_down.policies",
        ),
    ] {
        if let Some(w) = rules.stabilization_window_seconds {
            if !(w.is_finite() && (0.0..=3600.0).contains(&w)) {
                return Err((window_field, "must be 0..3600 seconds".into()));
            }
        }
        if let Some(policies) = &rules.policies {
            if policies.is_empty() {
                return Err((policies_field, "must list at least one policy".into()));
            }
            for p in policies {
                if !positive(p.value) {
                    return Err((policies_field, "value must be > 0".into()));
                }
                if !(p.period_seconds.is_finite() && (1.0..=1800.0).contains(&p.period_seconds)) {
                    return Err((policies_field, "period_seconds must be 1..1800".into()));
                }
            }
        }
    }
    Ok(())
}

fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

fn non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, String> {
        Policy::parse(text, Path::new("p.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_gives_design_defaults() {
        let p = parse("").unwrap();
        assert_eq!(p, Policy::default());
        assert_eq!(p.fleet.min_instances, 2);
        assert_eq!(p.scale_up.metric, Metric::Utilization);
        assert_eq!(p.scale_down.window_seconds, 300.0);
        assert_eq!(p.slo.p95_ms, 300.0);
    }

    #[test]
    fn unknown_key_names_the_key_and_line() {
        let err = parse("[fleet]\nmin_instances = 3\nmax_instanse = 9\n").unwrap_err();
        assert!(err.contains("p.toml:3: fleet.max_instanse"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_dotted_key() {
        let err = parse("[fleet]\nmin_instances = -1\n").unwrap_err();
        assert!(err.starts_with("p.toml:2: fleet.min_instances"), "{err}");
        let err = parse("[flet]\nmin_instances = 1\n").unwrap_err();
        assert!(err.contains("p.toml:1: flet"), "{err}");
    }

    #[test]
    fn bad_metric_is_rejected() {
        let err = parse("[scale_up]\nmetric = \"cpu\"\n").unwrap_err();
        assert!(err.contains("p.toml:2"), "{err}");
        assert!(err.contains("utilization"), "{err}");
    }

    #[test]
    fn validation_names_the_dotted_field_and_its_line() {
        let err = parse("[fleet]\nmin_instances = 5\nmax_instances = 3\n").unwrap_err();
        assert!(err.contains("p.toml:3: fleet.max_instances"), "{err}");
        let err = parse("[scale_down]\nthreshold = 0.9\n").unwrap_err();
        assert!(err.contains("scale_down.threshold"), "{err}");
        let err = parse("[slo]\nmax_drop_rate = 2.0\n").unwrap_err();
        assert!(err.contains("slo.max_drop_rate"), "{err}");
        let err = parse("[slo]\nmax_breach_minutes = -1\n").unwrap_err();
        assert!(err.contains("slo.max_breach_minutes"), "{err}");
    }

    #[test]
    fn steps_target_tracking_and_hpa_parse_and_are_checked() {
        let p = parse(
            "[scale_up]\nadjustment_type = \"change_in_capacity\"\n\
             [[scale_up.steps]]\nlower = 0\nupper = 0.1\nadjustment = 1\n\
             [[scale_up.steps]]\nlower = 0.1\nadjustment = 3\n",
        )
        .unwrap();
        assert_eq!(p.scale_up.steps.len(), 2);
        assert_eq!(p.scale_up.adjustment_type, AdjustmentType::ChangeInCapacity);
        // A gap between steps: refused, at the steps' line.
        let err = parse(
            "[scale_up]\n[[scale_up.steps]]\nlower = 0\nupper = 0.1\nadjustment = 1\n\
             [[scale_up.steps]]\nlower = 0.2\nadjustment = 3\n",
        )
        .unwrap_err();
        assert!(
            err.contains("scale_up.steps: steps must neither overlap nor leave a gap"),
            "{err}"
        );
        // A scale-in step that adds.
        let err = parse("[[scale_down.steps]]\nupper = 0\nadjustment = 2\n").unwrap_err();
        assert!(
            err.contains("scale_down.steps: step 1: must be an adjustment <= 0"),
            "{err}"
        );
        // Target tracking with step rules beside it: the step rules would be unused.
        let err = parse(
            "[scale_up]\nthreshold = 0.8\n[target_tracking]\nmetric = \"utilization\"\ntarget = 0.5\n",
        )
        .unwrap_err();
        assert!(
            err.starts_with("p.toml:1: scale_up: [target_tracking] replaces"),
            "{err}"
        );
        let p = parse("[target_tracking]\nmetric = \"rps_per_instance\"\ntarget = 50\n").unwrap();
        assert_eq!(p.decision_metric(), Metric::RpsPerInstance);
        // The HPA with its defaults, and a bad policy period.
        let p = parse("[hpa]\nmetric = \"utilization\"\ntarget = 60\n").unwrap();
        let hpa = p.hpa.unwrap();
        assert_eq!((hpa.tolerance, hpa.sync_period_seconds), (0.1, 15.0));
        let err = parse(
            "[hpa]\nmetric = \"utilization\"\ntarget = 60\n\
             [[hpa.behavior.scale_down.policies]]\ntype = \"Pods\"\nvalue = 1\nperiod_seconds = 4000\n",
        )
        .unwrap_err();
        assert!(
            err.contains("hpa.behavior.scale_down.policies: period_seconds must be 1..1800"),
            "{err}"
        );
        let err = parse("[hpa]\nmetric = \"utilization\"\ntarget = 60\n[target_tracking]\nmetric = \"utilization\"\ntarget = 0.5\n").unwrap_err();
        assert!(err.contains("not both"), "{err}");
    }

    #[test]
    fn inline_tables_are_placed_by_the_toml_spans() {
        // A type error inside an inline table: the key's own line, its dotted path, the line quoted.
        let err = parse("fleet = { min_instances = 2, max_instances = \"ten\" }\n").unwrap_err();
        assert!(err.starts_with("p.toml:1: fleet.max_instances:"), "{err}");
        assert!(
            err.ends_with("\n  | fleet = { min_instances = 2, max_instances = \"ten\" }"),
            "{err}"
        );
        // A validation error inside an inline table below other keys.
        let text =
            "# sizes\nslo = { p95_ms = 200 }\nfleet = { min_instances = 5, max_instances = 3 }\n";
        let err = parse(text).unwrap_err();
        assert!(err.starts_with("p.toml:3: fleet.max_instances:"), "{err}");
        assert!(
            err.ends_with("\n  | fleet = { min_instances = 5, max_instances = 3 }"),
            "{err}"
        );
        // An unknown key inside an inline table.
        let err = parse("scale_up = { metric = \"utilization\", treshold = 0.8 }\n").unwrap_err();
        assert!(err.starts_with("p.toml:1: scale_up.treshold:"), "{err}");
    }
}
