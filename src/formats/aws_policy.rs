//! An AWS EC2 Auto Scaling bundle for `simulate --policy`: one JSON object holding
//! the outputs of `aws autoscaling describe-auto-scaling-groups`
//! (`AutoScalingGroups`), `aws autoscaling describe-policies` (`ScalingPolicies`)
//! and `aws cloudwatch describe-alarms` (`MetricAlarms`) side by side, which is what
//! `jq -s add groups.json policies.json alarms.json` makes of the three. Field names
//! are the AWS CLI's. Fields that do not change what a policy does (ARNs, tags,
//! timestamps, alarm state, instances...) are read and ignored.
use std::path::Path;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::error::InputError;
use crate::formats::located::Source;

/// Whether `text` is such a bundle (a JSON object with `ScalingPolicies`).
pub fn detect(text: &str) -> bool {
    text.trim_start().starts_with('{') && text.contains("\"ScalingPolicies\"")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Bundle {
    #[serde(default)]
    pub auto_scaling_groups: Vec<Group>,
    pub scaling_policies: Vec<ScalingPolicy>,
    #[serde(default)]
    pub metric_alarms: Vec<MetricAlarm>,
    #[serde(default)]
    pub composite_alarms: Vec<IgnoredAny>,
    #[serde(default)]
    pub next_token: Option<IgnoredAny>,
}

/// From `describe-auto-scaling-groups`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Group {
    pub auto_scaling_group_name: String,
    pub min_size: u32,
    pub max_size: u32,
    pub desired_capacity: Option<u32>,
    pub default_instance_warmup: Option<f64>,
    pub default_cooldown: Option<f64>,
    #[serde(default)]
    pub suspended_processes: Vec<SuspendedProcess>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SuspendedProcess {
    pub process_name: String,
}

/// From `describe-policies`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingPolicy {
    pub auto_scaling_group_name: Option<String>,
    pub policy_name: String,
    #[serde(rename = "PolicyARN")]
    pub policy_arn: Option<String>,
    pub policy_type: String,
    pub adjustment_type: Option<String>,
    pub min_adjustment_magnitude: Option<u32>,
    /// The deprecated name of `MinAdjustmentMagnitude`.
    pub min_adjustment_step: Option<u32>,
    pub scaling_adjustment: Option<f64>,
    pub cooldown: Option<f64>,
    #[serde(default)]
    pub step_adjustments: Vec<StepAdjustment>,
    pub metric_aggregation_type: Option<String>,
    pub estimated_instance_warmup: Option<f64>,
    #[serde(default)]
    pub alarms: Vec<AlarmRef>,
    pub target_tracking_configuration: Option<TargetTrackingConfiguration>,
    pub predictive_scaling_configuration: Option<PredictiveScalingConfiguration>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StepAdjustment {
    pub metric_interval_lower_bound: Option<f64>,
    pub metric_interval_upper_bound: Option<f64>,
    pub scaling_adjustment: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AlarmRef {
    pub alarm_name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetTrackingConfiguration {
    pub predefined_metric_specification: Option<PredefinedMetric>,
    pub customized_metric_specification: Option<IgnoredAny>,
    pub target_value: f64,
    pub disable_scale_in: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredefinedMetric {
    pub predefined_metric_type: String,
    pub resource_label: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredictiveScalingConfiguration {
    #[serde(default)]
    pub metric_specifications: Vec<IgnoredAny>,
    pub mode: Option<String>,
    pub scheduling_buffer_time: Option<f64>,
    pub max_capacity_breach_behavior: Option<String>,
    pub max_capacity_buffer: Option<f64>,
}

/// From `aws cloudwatch describe-alarms`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MetricAlarm {
    pub alarm_name: String,
    #[serde(default)]
    pub alarm_actions: Vec<String>,
    pub metric_name: Option<String>,
    pub namespace: Option<String>,
    pub statistic: Option<String>,
    /// A percentile statistic (`p90`), not simulated.
    pub extended_statistic: Option<String>,
    /// Metric math, not simulated.
    pub metrics: Option<IgnoredAny>,
    pub period: Option<f64>,
    pub evaluation_periods: Option<u32>,
    pub datapoints_to_alarm: Option<u32>,
    pub threshold: Option<f64>,
    pub comparison_operator: Option<String>,
}

/// Parse a bundle; type errors name the file, line and field (serde path), the line quoted.
pub fn parse(text: &str, path: &Path) -> Result<Bundle, InputError> {
    Source::new(path, text).json("ScalingPolicies")
}

/// The line of the first `"key": value` whose value contains `value` (or of `"key"`
/// alone when `value` is empty), searched from the line where `anchor` (a quoted
/// string, e.g. a policy's name) first occurs. 1 when absent.
pub fn line_of(text: &str, anchor: &str, key: &str, value: &str) -> usize {
    let quoted_anchor = format!("\"{anchor}\"");
    let start = text
        .lines()
        .position(|l| anchor.is_empty() || l.contains(&quoted_anchor))
        .unwrap_or(0);
    let quoted_key = format!("\"{key}\"");
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| l.contains(&quoted_key) && l.contains(value))
        .map_or(start + 1, |(i, _)| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_and_places_keys() {
        let text = "{\n  \"ScalingPolicies\": [\n    {\n      \"PolicyName\": \"a\",\n      \"PolicyType\": \"SimpleScaling\"\n    }\n  ]\n}\n";
        assert!(detect(text));
        assert!(!detect("[fleet]\n"));
        assert_eq!(line_of(text, "a", "PolicyType", ""), 5);
        let bundle = parse(text, Path::new("b.json")).unwrap();
        assert_eq!(bundle.scaling_policies[0].policy_type, "SimpleScaling");
        let err = parse(
            "{\n  \"ScalingPolicies\": [\n    {\"PolicyName\": 3}\n  ]\n}",
            Path::new("b.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("b.json:3: ScalingPolicies[0].PolicyName:"),
            "{err}"
        );
    }
}
