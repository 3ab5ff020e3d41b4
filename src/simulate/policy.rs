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
}

impl Metric {
    /// Upper-case name used in reason codes (`STEP_UP_<METRIC>`).
    pub fn code(self) -> &'static str {
        match self {
            Metric::Utilization => "UTILIZATION",
            Metric::QueueDepth => "QUEUE_DEPTH",
            Metric::P95Ms => "P95_MS",
            Metric::RpsPerWorker => "RPS_PER_WORKER",
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
    /// Step size, percent of current capacity.
    pub step_percent: f64,
    /// Smallest step, instances.
    pub min_step: u32,
    /// Time after a scale-up during which a new trigger adds only the difference, seconds.
    pub cooldown_seconds: f64,
}

impl Default for ScaleUp {
    fn default() -> Self {
        ScaleUp {
            metric: Metric::Utilization,
            threshold: 0.75,
            step_percent: 20.0,
            min_step: 1,
            cooldown_seconds: 60.0,
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
}

impl Default for ScaleDown {
    fn default() -> Self {
        ScaleDown {
            threshold: 0.40,
            window_seconds: 300.0,
            max_remove_percent: 20.0,
            backoff_multiplier: 2.0,
            max_window_seconds: 3600.0,
        }
    }
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
        Ok(policy)
    }

    /// Read and validate a policy file (the one I/O function of this module).
    pub fn read(path: &Path) -> Result<Policy, InputError> {
        let text = std::fs::read_to_string(path)
            .map_err(|err| InputError::file(path, format!("cannot read policy: {err}")))?;
        Policy::parse(&text, path)
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
                    && down.threshold < up.threshold,
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
        Ok(())
    }
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
