//! AWS and Kubernetes policy documents as a [`Policy`]: the readers in
//! `formats/` parse the files, this module maps them rule by rule (docs/simulate.md,
//! "Policy files from AWS and Kubernetes"). What changes behaviour and has no
//! equivalent here is an error naming its line; what capplan approximates is a note.
use std::path::Path;

use crate::error::InputError;
use crate::formats::aws_policy::{self, Bundle, MetricAlarm, ScalingPolicy};
use crate::formats::hpa::{self, key_line, Manifest};
use crate::formats::located::Source;

use super::policy::{
    AdjustmentType, Hpa, HpaBehavior, HpaPolicy, HpaPolicyType, HpaRules, Metric, Policy,
    SelectPolicy, StepAdjustment, TargetTracking, TrackedMetric,
};

/// A policy read from a file, and the notes to print about how it was read.
#[derive(Debug, Clone)]
pub struct Imported {
    pub policy: Policy,
    pub notes: Vec<String>,
}

/// Which kind of document a `--policy` file is, by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Toml,
    AwsBundle,
    KubernetesHpa,
}

/// Detect the kind by content (never by extension).
pub fn kind_of(text: &str) -> Kind {
    if aws_policy::detect(text) {
        Kind::AwsBundle
    } else if hpa::detect(text) {
        Kind::KubernetesHpa
    } else {
        Kind::Toml
    }
}

/// Read any `--policy` document.
pub fn parse_any(text: &str, path: &Path) -> Result<Imported, InputError> {
    match kind_of(text) {
        Kind::AwsBundle => from_aws(&aws_policy::parse(text, path)?, &Source::new(path, text)),
        Kind::KubernetesHpa => from_hpa(&hpa::parse(text, path)?, &Source::new(path, text)),
        Kind::Toml => {
            if text.trim_start().starts_with('{') {
                return Err(Source::new(path, text).at_line(
                    1,
                    "ScalingPolicies",
                    "a JSON --policy is an AWS bundle: an object with the ScalingPolicies of `aws autoscaling describe-policies` (see docs/simulate.md)",
                ));
            }
            Ok(Imported {
                policy: Policy::parse(text, path)?,
                notes: Vec::new(),
            })
        }
    }
}

const FLEET_NOTE: &str = "workers per instance, boot and warm-up split, the SLO and the limits are not in this document: capplan's defaults apply (docs/simulate.md, Policy (TOML)); write a TOML policy to change them";

/// The AWS bundle: the group's limits, one kind of dynamic policy (step scaling,
/// or target tracking), and predictive scaling.
pub fn from_aws(bundle: &Bundle, source: &Source) -> Result<Imported, InputError> {
    let text = source.text;
    let mut notes = vec![FLEET_NOTE.to_string()];
    let group = match bundle.auto_scaling_groups.as_slice() {
        [] => {
            return Err(source.whole_file(
                "no AutoScalingGroups: add the output of `aws autoscaling describe-auto-scaling-groups --auto-scaling-group-names NAME` (min, max and warm-up come from it)",
            ))
        }
        [one] => one,
        more => {
            let named: Vec<_> = more
                .iter()
                .filter(|g| {
                    bundle.scaling_policies.iter().any(|p| {
                        p.auto_scaling_group_name.as_deref() == Some(&g.auto_scaling_group_name)
                    })
                })
                .collect();
            match named.as_slice() {
                [one] => *one,
                _ => {
                    return Err(source.at_line(
                        aws_policy::line_of(text, "", "AutoScalingGroups", ""),
                        "AutoScalingGroups",
                        "several groups: keep the one whose policies are simulated",
                    ))
                }
            }
        }
    };
    let at = |anchor: &str, key: &str, value: &str, field: String, message: String| {
        source.at_line(
            aws_policy::line_of(text, anchor, key, value),
            field,
            message,
        )
    };

    if let Some(suspended) = group.suspended_processes.iter().find(|p| {
        matches!(
            p.process_name.as_str(),
            "Launch" | "Terminate" | "AlarmNotification"
        )
    }) {
        return Err(at(
            "",
            "ProcessName",
            &suspended.process_name,
            "AutoScalingGroups.SuspendedProcesses".into(),
            format!(
                "the group's {} process is suspended: its policies do not act; resume it or simulate without it",
                suspended.process_name
            ),
        ));
    }
    let mut policy = Policy::default();
    policy.fleet.min_instances = group.min_size.max(1);
    policy.fleet.max_instances = group.max_size.max(policy.fleet.min_instances);
    if group.min_size == 0 {
        notes.push("MinSize 0: simulated with at least one instance".into());
    }
    if let Some(desired) = group.desired_capacity {
        notes.push(format!(
            "DesiredCapacity {desired} is today's count; the simulation starts with what the first step's demand needs"
        ));
    }

    let mut step: Vec<&ScalingPolicy> = Vec::new();
    let mut tracking: Vec<&ScalingPolicy> = Vec::new();
    let mut predictive: Vec<&ScalingPolicy> = Vec::new();
    for (i, p) in bundle.scaling_policies.iter().enumerate() {
        if p.auto_scaling_group_name
            .as_deref()
            .is_some_and(|g| g != group.auto_scaling_group_name)
        {
            notes.push(format!(
                "policy {} belongs to another group: ignored",
                p.policy_name
            ));
            continue;
        }
        if p.enabled == Some(false) {
            notes.push(format!(
                "policy {} is disabled (Enabled: false): ignored",
                p.policy_name
            ));
            continue;
        }
        match p.policy_type.as_str() {
            "StepScaling" => step.push(p),
            "TargetTrackingScaling" => tracking.push(p),
            "PredictiveScaling" => predictive.push(p),
            other => {
                return Err(at(
                    &p.policy_name,
                    "PolicyType",
                    "",
                    format!("ScalingPolicies[{i}].PolicyType"),
                    format!("{other} is not simulated (StepScaling, TargetTrackingScaling and PredictiveScaling are); simple scaling's cooldown semantics differ"),
                ))
            }
        }
    }
    if !step.is_empty() && !tracking.is_empty() || tracking.len() > 1 {
        let p = tracking[tracking.len() - 1];
        return Err(at(
            &p.policy_name,
            "PolicyType",
            "",
            "ScalingPolicies".into(),
            "capplan simulates one kind of dynamic policy at a time: step scaling (a scale-out and a scale-in policy) or one target tracking policy".into(),
        ));
    }
    if step.is_empty() && tracking.is_empty() {
        return Err(source.whole_file(
            "no StepScaling or TargetTrackingScaling policy for the group: nothing would scale",
        ));
    }

    // The warm-up: the scale-out policy's EstimatedInstanceWarmup, else the group's
    // DefaultInstanceWarmup, else its DefaultCooldown (AWS's fallbacks).
    let scale_out_warmup = step
        .iter()
        .chain(&tracking)
        .find_map(|p| p.estimated_instance_warmup);
    let (warmup_key, warmup) = [
        ("EstimatedInstanceWarmup", scale_out_warmup),
        ("DefaultInstanceWarmup", group.default_instance_warmup),
        ("DefaultCooldown", group.default_cooldown),
    ]
    .into_iter()
    .find_map(|(key, seconds)| seconds.map(|s| (key, s)))
    .unwrap_or(("", 300.0));
    policy.fleet.boot_seconds = warmup;
    policy.fleet.warmup_seconds = 0.0;
    let warmup_from = if warmup_key.is_empty() {
        "none of EstimatedInstanceWarmup, DefaultInstanceWarmup, DefaultCooldown is set: AWS's 300 s".to_string()
    } else {
        format!("from {warmup_key}")
    };
    notes.push(format!(
        "instance warm-up {warmup} s ({warmup_from}): an instance serves nothing for {warmup} s, then fully (fleet.boot_seconds = {warmup}, fleet.warmup_seconds = 0)"
    ));

    if let Some(p) = tracking.first() {
        let config = p.target_tracking_configuration.as_ref().ok_or_else(|| {
            at(
                &p.policy_name,
                "PolicyType",
                "",
                "TargetTrackingConfiguration".into(),
                "a TargetTrackingScaling policy needs its TargetTrackingConfiguration".into(),
            )
        })?;
        let predefined = config.predefined_metric_specification.as_ref().ok_or_else(|| {
            at(
                &p.policy_name,
                "CustomizedMetricSpecification",
                "",
                "TargetTrackingConfiguration.CustomizedMetricSpecification".into(),
                "a customized metric is not simulated: use ASGAverageCPUUtilization or ALBRequestCountPerTarget".into(),
            )
        })?;
        let (metric, target) = match predefined.predefined_metric_type.as_str() {
            "ASGAverageCPUUtilization" => {
                notes.push("ASGAverageCPUUtilization is simulated as utilization (demand over sustainable capacity) x 100: an assumption, CPU is taken to track demand".into());
                (TrackedMetric::Utilization, config.target_value / 100.0)
            }
            "ALBRequestCountPerTarget" => (TrackedMetric::RpsPerInstance, config.target_value / 60.0),
            other => {
                return Err(at(
                    &p.policy_name,
                    "PredefinedMetricType",
                    "",
                    "TargetTrackingConfiguration.PredefinedMetricSpecification.PredefinedMetricType".into(),
                    format!("{other} is not simulated: ASGAverageCPUUtilization and ALBRequestCountPerTarget are"),
                ))
            }
        };
        policy.target_tracking = Some(TargetTracking {
            metric,
            target,
            disable_scale_in: config.disable_scale_in.unwrap_or(false),
            scale_out_cooldown_seconds: 0.0,
            scale_in_cooldown_seconds: 300.0,
        });
    } else {
        import_steps(&mut policy, &mut notes, &step, bundle, source)?;
    }

    for p in &predictive {
        let Some(config) = &p.predictive_scaling_configuration else {
            continue;
        };
        match config.mode.as_deref().unwrap_or("ForecastOnly") {
            "ForecastOnly" => notes.push(format!(
                "predictive policy {} is ForecastOnly: AWS does not scale on its forecast, so run without --forecast to match it",
                p.policy_name
            )),
            "ForecastAndScale" => {
                // SchedulingBufferTime: launch that long before the forecast time, as
                // predictive.scheduling_buffer_seconds means it (AWS's default: 300 s).
                let buffer = config.scheduling_buffer_time.unwrap_or(300.0);
                policy.predictive.scheduling_buffer_seconds = Some(buffer);
                notes.push(format!(
                    "predictive policy {}: SchedulingBufferTime {buffer} s is predictive.scheduling_buffer_seconds (instances launched that long before the forecast needs them); the pre-warm runs from --forecast",
                    p.policy_name
                ));
            }
            other => {
                return Err(at(
                    &p.policy_name,
                    "Mode",
                    "",
                    "PredictiveScalingConfiguration.Mode".into(),
                    format!("{other}: expected ForecastOnly or ForecastAndScale"),
                ))
            }
        }
        if config.max_capacity_breach_behavior.as_deref() == Some("IncreaseMaxCapacity") {
            notes.push(format!(
                "predictive policy {}: IncreaseMaxCapacity (buffer {} %) is not simulated: the forecast's pre-warm stays within MaxSize ({})",
                p.policy_name,
                config.max_capacity_buffer.unwrap_or(0.0),
                policy.fleet.max_instances
            ));
        }
    }
    // A value the policy rejects is placed on the bundle's line that gave it.
    policy.validate().map_err(|(field, message)| {
        let (anchor, key) = match field {
            "fleet.min_instances" => ("", "MinSize"),
            "fleet.max_instances" => ("", "MaxSize"),
            "fleet.boot_seconds" => ("", warmup_key),
            "target_tracking.target" => (
                tracking.first().map_or("", |p| p.policy_name.as_str()),
                "TargetValue",
            ),
            "predictive.scheduling_buffer_seconds" => ("", "SchedulingBufferTime"),
            "scale_up.threshold" | "scale_down.threshold" => ("", "Threshold"),
            "scale_up.steps" | "scale_down.steps" => ("", "StepAdjustments"),
            _ => ("", ""),
        };
        let line = if key.is_empty() {
            1
        } else {
            aws_policy::line_of(text, anchor, key, "")
        };
        source.at_line(line, field, message)
    })?;
    let mut seen = std::collections::HashSet::new();
    notes.retain(|n| seen.insert(n.clone()));
    Ok(Imported { policy, notes })
}

/// A step policy's alarm, from its `Alarms` or the alarm whose actions name it.
fn alarm_of<'a>(p: &ScalingPolicy, bundle: &'a Bundle) -> Option<&'a MetricAlarm> {
    bundle
        .metric_alarms
        .iter()
        .find(|a| p.alarms.iter().any(|r| r.alarm_name == a.alarm_name))
        .or_else(|| {
            let arn = p.policy_arn.as_deref()?;
            bundle
                .metric_alarms
                .iter()
                .find(|a| a.alarm_actions.iter().any(|x| x == arn))
        })
}

/// Step scaling: each policy's direction and threshold from its alarm, the steps'
/// bounds in the alarm metric's units converted to capplan's.
fn import_steps(
    policy: &mut Policy,
    notes: &mut Vec<String>,
    step: &[&ScalingPolicy],
    bundle: &Bundle,
    source: &Source,
) -> Result<(), InputError> {
    let text = source.text;
    let mut metric_seen: Option<Metric> = None;
    let (mut up_seen, mut down_seen) = (false, false);
    for p in step {
        let err = |key: &str, field: &str, message: String| {
            source.at_line(
                aws_policy::line_of(text, &p.policy_name, key, ""),
                field.to_string(),
                message,
            )
        };
        let alarm = alarm_of(p, bundle).ok_or_else(|| {
            let name = p.alarms.first().map_or("its alarm", |a| a.alarm_name.as_str());
            err(
                "PolicyName",
                "MetricAlarms",
                format!(
                    "the alarm of {} ({name}) is not in the bundle: add the output of `aws cloudwatch describe-alarms --alarm-names {name}` (the threshold comes from it)",
                    p.policy_name
                ),
            )
        })?;
        let alarm_err = |key: &str, message: String| {
            source.at_line(
                aws_policy::line_of(text, &alarm.alarm_name, key, ""),
                format!("MetricAlarms.{key}"),
                message,
            )
        };
        if alarm.metrics.is_some() || alarm.extended_statistic.is_some() {
            return Err(alarm_err(
                "AlarmName",
                "a metric-math or percentile alarm is not simulated: a step policy's alarm here watches one metric's Average (CPUUtilization) or Sum (RequestCountPerTarget)".into(),
            ));
        }
        if let Some(aggregation) = p
            .metric_aggregation_type
            .as_deref()
            .filter(|a| *a != "Average")
        {
            notes.push(format!(
                "{}: MetricAggregationType {aggregation} is simulated as the average (one metric for the whole fleet)",
                p.policy_name
            ));
        }
        let (metric, scale) = match (
            alarm.namespace.as_deref().unwrap_or(""),
            alarm.metric_name.as_deref().unwrap_or(""),
        ) {
            ("AWS/EC2", "CPUUtilization") => (Metric::Utilization, 0.01),
            ("AWS/ApplicationELB", "RequestCountPerTarget") => {
                if alarm.statistic.as_deref() != Some("Sum") {
                    return Err(alarm_err(
                        "Statistic",
                        "RequestCountPerTarget is simulated with the Sum statistic".into(),
                    ));
                }
                (Metric::RpsPerInstance, 1.0 / alarm.period.unwrap_or(60.0))
            }
            (ns, name) => {
                return Err(alarm_err(
                    "MetricName",
                    format!("{ns} {name} is not simulated: AWS/EC2 CPUUtilization and AWS/ApplicationELB RequestCountPerTarget are"),
                ))
            }
        };
        if metric == Metric::Utilization {
            notes.push("CPUUtilization is simulated as utilization (demand over sustainable capacity) x 100: an assumption, CPU is taken to track demand".into());
        }
        if metric_seen.is_some_and(|m| m != metric) {
            return Err(alarm_err(
                "MetricName",
                "the scale-out and scale-in alarms must watch the same metric".into(),
            ));
        }
        metric_seen = Some(metric);
        let up = match alarm.comparison_operator.as_deref().unwrap_or("") {
            "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" => true,
            "LessThanThreshold" | "LessThanOrEqualToThreshold" => false,
            other => {
                return Err(alarm_err(
                    "ComparisonOperator",
                    format!("{other} is not simulated: a step policy's alarm compares above or below one threshold"),
                ))
            }
        };
        let threshold = alarm
            .threshold
            .ok_or_else(|| alarm_err("AlarmName", "the alarm has no Threshold".into()))?
            * scale;
        let periods = alarm
            .datapoints_to_alarm
            .or(alarm.evaluation_periods)
            .unwrap_or(1);
        let evaluation = f64::from(periods) * alarm.period.unwrap_or(60.0);
        let kind = match p.adjustment_type.as_deref().unwrap_or("ChangeInCapacity") {
            "ChangeInCapacity" => AdjustmentType::ChangeInCapacity,
            "PercentChangeInCapacity" => AdjustmentType::PercentChangeInCapacity,
            "ExactCapacity" => AdjustmentType::ExactCapacity,
            other => {
                return Err(err(
                    "AdjustmentType",
                    "AdjustmentType",
                    format!(
                    "{other}: expected ChangeInCapacity, PercentChangeInCapacity or ExactCapacity"
                ),
                ))
            }
        };
        let steps: Vec<StepAdjustment> = p
            .step_adjustments
            .iter()
            .map(|s| StepAdjustment {
                lower: s.metric_interval_lower_bound.map(|b| b * scale),
                upper: s.metric_interval_upper_bound.map(|b| b * scale),
                adjustment: s.scaling_adjustment,
            })
            .collect();
        if steps.is_empty() {
            return Err(err(
                "PolicyType",
                "StepAdjustments",
                format!("{} has no StepAdjustments", p.policy_name),
            ));
        }
        let min_step = p
            .min_adjustment_magnitude
            .or(p.min_adjustment_step)
            .unwrap_or(1);
        if up {
            if up_seen {
                return Err(err(
                    "PolicyName",
                    "ScalingPolicies",
                    "two scale-out step policies: capplan simulates one per direction".into(),
                ));
            }
            up_seen = true;
            policy.scale_up.metric = metric;
            policy.scale_up.threshold = threshold;
            policy.scale_up.adjustment_type = kind;
            policy.scale_up.min_step = min_step;
            policy.scale_up.cooldown_seconds = 0.0;
            policy.scale_up.steps = steps;
            if evaluation > 60.0 {
                notes.push(format!(
                    "the scale-out alarm {} needs {periods} datapoint(s) of {} s: capplan scales out on one step's metric",
                    alarm.alarm_name,
                    alarm.period.unwrap_or(60.0)
                ));
            }
        } else {
            if down_seen {
                return Err(err(
                    "PolicyName",
                    "ScalingPolicies",
                    "two scale-in step policies: capplan simulates one per direction".into(),
                ));
            }
            down_seen = true;
            policy.scale_down.threshold = threshold;
            policy.scale_down.adjustment_type = kind;
            policy.scale_down.min_step = min_step;
            policy.scale_down.steps = steps;
            policy.scale_down.window_seconds = evaluation;
            policy.scale_down.max_window_seconds = evaluation;
            policy.scale_down.backoff_multiplier = 1.0;
            policy.scale_down.cooldown_seconds = Some(0.0);
        }
    }
    if let Some(metric) = metric_seen {
        policy.scale_up.metric = metric;
    }
    if !down_seen {
        notes.push("no scale-in policy: the group never scales in".into());
        policy.scale_down.threshold = 0.0;
        policy.scale_down.max_remove_percent = 0.0;
    }
    if !up_seen {
        notes.push("no scale-out policy: the group never scales out".into());
        policy.scale_up.threshold = f64::MAX / 4.0;
        policy.scale_up.steps.clear();
    }
    if policy.scale_down.threshold > policy.scale_up.threshold {
        return Err(source.at_line(
            aws_policy::line_of(text, "", "Threshold", ""),
            "MetricAlarms.Threshold",
            format!(
                "the scale-in alarm's threshold is above the scale-out alarm's: the group would flap (in capplan's units {} > {})",
                policy.scale_down.threshold, policy.scale_up.threshold
            ),
        ));
    }
    Ok(())
}

/// A Kubernetes HPA: its replicas and one metric, behavior with the Kubernetes defaults.
pub fn from_hpa(manifest: &Manifest, source: &Source) -> Result<Imported, InputError> {
    let text = source.text;
    let mut notes = vec![FLEET_NOTE.to_string()];
    let spec = &manifest.spec;
    let mut policy = Policy::default();
    policy.fleet.min_instances = spec.min_replicas.unwrap_or(1).max(1);
    policy.fleet.max_instances = spec.max_replicas;
    let at = |keys: &[&str], field: &str, message: String| {
        source.at_line(key_line(text, keys), field.to_string(), message)
    };
    let (metric, target) = match spec.metrics.as_slice() {
        [] => {
            notes.push("no metrics: Kubernetes' default, cpu at 80 % averageUtilization".into());
            (TrackedMetric::Utilization, 80.0)
        }
        [m] => match (m.kind.as_str(), &m.resource, &m.pods) {
            ("Resource", Some(r), _) if r.name == "cpu" => {
                if r.target.kind != "Utilization" {
                    return Err(at(
                        &["metrics", "target", "type"],
                        "spec.metrics[0].resource.target.type",
                        format!("{}: a cpu target is simulated as Utilization (averageUtilization); an AverageValue needs the pods' cpu request", r.target.kind),
                    ));
                }
                let value = r.target.average_utilization.ok_or_else(|| {
                    at(
                        &["metrics", "target"],
                        "spec.metrics[0].resource.target.averageUtilization",
                        "a Utilization target needs averageUtilization".into(),
                    )
                })?;
                notes.push("cpu averageUtilization is simulated as utilization (demand over sustainable capacity) x 100: an assumption, CPU over request is taken to track demand".into());
                (TrackedMetric::Utilization, value)
            }
            ("Resource", Some(r), _) => {
                return Err(at(
                    &["metrics", "name"],
                    "spec.metrics[0].resource.name",
                    format!("{}: only cpu is simulated (memory does not follow request rate in this model)", r.name),
                ))
            }
            ("Pods", _, Some(p)) => {
                if p.target.kind != "AverageValue" {
                    return Err(at(
                        &["metrics", "target", "type"],
                        "spec.metrics[0].pods.target.type",
                        format!("{}: a Pods metric's target is an AverageValue", p.target.kind),
                    ));
                }
                let value = p
                    .target
                    .average_value
                    .as_ref()
                    .ok_or_else(|| {
                        at(
                            &["metrics", "target"],
                            "spec.metrics[0].pods.target.averageValue",
                            "an AverageValue target needs averageValue".into(),
                        )
                    })?
                    .value()
                    .map_err(|m| {
                        at(
                            &["metrics", "averageValue"],
                            "spec.metrics[0].pods.target.averageValue",
                            m,
                        )
                    })?;
                notes.push(format!(
                    "Pods metric {} is simulated as requests per second per pod",
                    p.metric.name
                ));
                (TrackedMetric::RpsPerInstance, value)
            }
            (kind, _, _) => {
                return Err(at(
                    &["metrics", "type"],
                    "spec.metrics[0].type",
                    format!("{kind} metrics are not simulated: Resource cpu (Utilization) and Pods (AverageValue) are"),
                ))
            }
        },
        [_, second, ..] => {
            let line = hpa::item_line(text, &["spec", "metrics"], 1)
                .unwrap_or_else(|| key_line(text, &["metrics"]));
            return Err(source.at_line(
                line,
                "spec.metrics[1]",
                format!("a second metric ({}): capplan simulates one; the HPA would take the largest count over all of them", second.kind),
            ));
        }
    };
    let mut behavior = HpaBehavior::default();
    if let Some(b) = &spec.behavior {
        for (rules, out, name) in [
            (&b.scale_up, &mut behavior.scale_up, "scaleUp"),
            (&b.scale_down, &mut behavior.scale_down, "scaleDown"),
        ] {
            let Some(rules) = rules else { continue };
            *out = convert_rules(rules, name, source)?;
        }
    }
    policy.hpa = Some(Hpa {
        metric,
        target,
        tolerance: 0.1,
        sync_period_seconds: 15.0,
        behavior,
    });
    policy.validate().map_err(|(field, message)| {
        let key = field.rsplit('.').next().unwrap_or(field);
        source.at_line(key_line(text, &["spec", key]), field, message)
    })?;
    Ok(Imported { policy, notes })
}

fn convert_rules(
    rules: &hpa::Rules,
    direction: &str,
    source: &Source,
) -> Result<HpaRules, InputError> {
    let text = source.text;
    let at = |key: &str, message: String| {
        source.at_line(
            key_line(text, &["behavior", direction, key]),
            format!("spec.behavior.{direction}.{key}"),
            message,
        )
    };
    if rules.tolerance.is_some() {
        return Err(at(
            "tolerance",
            "a per-direction tolerance (alpha in Kubernetes 1.33) is not simulated: remove it, the controller-wide 10 % applies".into(),
        ));
    }
    let select_policy = match rules.select_policy.as_deref() {
        None | Some("Max") => SelectPolicy::Max,
        Some("Min") => SelectPolicy::Min,
        Some("Disabled") => SelectPolicy::Disabled,
        Some(other) => {
            return Err(at(
                "selectPolicy",
                format!("{other}: expected Max, Min or Disabled"),
            ))
        }
    };
    let policies = match &rules.policies {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|p| {
                    let kind = match p.kind.as_str() {
                        "Pods" => HpaPolicyType::Pods,
                        "Percent" => HpaPolicyType::Percent,
                        other => {
                            return Err(at(
                                "policies",
                                format!("{other}: expected Pods or Percent"),
                            ))
                        }
                    };
                    Ok(HpaPolicy {
                        kind,
                        value: p.value,
                        period_seconds: p.period_seconds,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(HpaRules {
        stabilization_window_seconds: rules.stabilization_window_seconds,
        select_policy,
        policies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    fn read(name: &str) -> Result<Imported, String> {
        let path = repo(&format!("fixtures/policies/{name}"));
        let text = std::fs::read_to_string(&path).unwrap();
        parse_any(&text, &path).map_err(|e| e.to_string())
    }

    #[test]
    fn aws_step_bundle() {
        let Imported { policy, notes } = read("aws_step.json").unwrap();
        assert_eq!(
            (policy.fleet.min_instances, policy.fleet.max_instances),
            (2, 20)
        );
        assert_eq!(policy.fleet.boot_seconds, 240.0);
        assert_eq!(policy.scale_up.metric, Metric::Utilization);
        assert_eq!(policy.scale_up.threshold, 0.5);
        assert_eq!(policy.scale_up.steps.len(), 3);
        assert_eq!(policy.scale_up.steps[1].lower, Some(0.1));
        assert_eq!(
            policy.scale_up.adjustment_type,
            AdjustmentType::PercentChangeInCapacity
        );
        assert_eq!(policy.scale_down.threshold, 0.3);
        assert_eq!(policy.scale_down.window_seconds, 300.0);
        assert_eq!(
            policy.scale_down.adjustment_type,
            AdjustmentType::ChangeInCapacity
        );
        assert_eq!(policy.scale_down.steps[1].upper, Some(-0.1));
        assert!(
            notes.iter().any(|n| n.contains("warm-up 240 s")),
            "{notes:?}"
        );
    }

    #[test]
    fn aws_target_tracking_and_predictive_bundle() {
        let Imported { policy, notes } = read("aws_target_tracking.json").unwrap();
        let tt = policy.target_tracking.unwrap();
        assert_eq!(tt.metric, TrackedMetric::RpsPerInstance);
        assert_eq!(tt.target, 50.0); // 3000 requests per target per minute
        assert_eq!(policy.fleet.boot_seconds, 180.0); // the group's DefaultInstanceWarmup
        assert_eq!(policy.predictive.scheduling_buffer_seconds, Some(600.0)); // launch by 600 s
        assert!(
            notes.iter().any(|n| n.contains("IncreaseMaxCapacity")),
            "{notes:?}"
        );
    }

    #[test]
    fn hpa_manifests() {
        let Imported { policy, .. } = read("hpa_cpu.yaml").unwrap();
        let hpa = policy.hpa.unwrap();
        assert_eq!((hpa.metric, hpa.target), (TrackedMetric::Utilization, 60.0));
        assert_eq!(
            (policy.fleet.min_instances, policy.fleet.max_instances),
            (2, 20)
        );
        let Imported { policy, .. } = read("hpa_pods_behavior.yaml").unwrap();
        let hpa = policy.hpa.unwrap();
        assert_eq!(
            (hpa.metric, hpa.target),
            (TrackedMetric::RpsPerInstance, 40.0)
        );
        assert_eq!(hpa.behavior.scale_down.select_policy, SelectPolicy::Min);
        assert_eq!(
            hpa.behavior.scale_down.stabilization_window_seconds,
            Some(600.0)
        );
        assert_eq!(hpa.behavior.scale_up.policies.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn unsupported_behaviour_is_an_error_on_its_line() {
        let path = Path::new("p.json");
        let text = "{\n \"AutoScalingGroups\": [{\"AutoScalingGroupName\": \"g\", \"MinSize\": 1, \"MaxSize\": 4}],\n \"ScalingPolicies\": [\n  {\n   \"PolicyName\": \"simple\",\n   \"PolicyType\": \"SimpleScaling\"\n  }\n ]\n}\n";
        let err = parse_any(text, path).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "p.json:6: ScalingPolicies[0].PolicyType: SimpleScaling is not simulated"
            ),
            "{err}"
        );
        assert!(
            err.ends_with("  |    \"PolicyType\": \"SimpleScaling\""),
            "{err}"
        );
        let path = Path::new("h.yaml");
        let text = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  scaleTargetRef: {}\n  maxReplicas: 9\n  metrics:\n  - type: External\n    external: {}\n";
        let err = parse_any(text, path).unwrap_err().to_string();
        assert!(
            err.starts_with("h.yaml:7: spec.metrics[0].type: External metrics are not simulated"),
            "{err}"
        );
    }
}
