//! The forecast's pre-warm schedule where it acts (`forecast --schedule-format`):
//! AWS Auto Scaling scheduled actions (`batch-put-scheduled-update-group-action`
//! requests), a KEDA `ScaledObject` with `cron` triggers, or Kubernetes CronJobs
//! that patch an HPA's `minReplicas`. Every time is written in UTC with the time
//! zone named in its own field (`TimeZone`, `timezone`, `timeZone`), never implied.
//! Pure: the schedule in, text out.
use chrono::{DateTime, FixedOffset, Timelike, Utc};
use serde_json::{json, Value};

use crate::forecast::peaks::PrewarmStep;

/// The zone every written time is in.
pub const TIME_ZONE: &str = "Etc/UTC";
/// Most scheduled actions one `batch-put-scheduled-update-group-action` takes (AWS API limit).
pub const AWS_BATCH: usize = 50;

/// Where a schedule acts and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleTarget {
    /// The Auto Scaling group's name.
    Aws { group: String },
    /// The Deployment KEDA scales (the ScaledObject is named after it).
    Keda {
        deployment: String,
        namespace: String,
    },
    /// The HorizontalPodAutoscaler whose `minReplicas` the CronJobs set.
    CronJob { hpa: String, namespace: String },
}

fn utc(at: &DateTime<FixedOffset>) -> DateTime<Utc> {
    at.with_timezone(&Utc)
}

/// A cron expression (minute hour day-of-month month day-of-week) for one moment.
/// Cron has no year: the schedule repeats a year later unless replaced, as the docs say.
fn cron_at(at: &DateTime<Utc>) -> String {
    format!(
        "{} {} {} {} *",
        at.minute(),
        at.hour(),
        chrono::Datelike::day(at),
        chrono::Datelike::month(at)
    )
}

/// A name fragment from a time: `20260302t0850z`.
fn stamp(at: &DateTime<Utc>) -> String {
    at.format("%Y%m%dt%H%Mz").to_string()
}

/// Render `steps` for `target`.
pub fn render(steps: &[PrewarmStep], target: &ScheduleTarget) -> String {
    match target {
        ScheduleTarget::Aws { group } => aws(steps, group),
        ScheduleTarget::Keda {
            deployment,
            namespace,
        } => keda(steps, deployment, namespace),
        ScheduleTarget::CronJob { hpa, namespace } => cronjobs(steps, hpa, namespace),
    }
}

/// A JSON array of `batch-put-scheduled-update-group-action` requests of at most
/// [`AWS_BATCH`] actions each: one action per step, setting `MinSize` (the forecast
/// sets the floor, as AWS predictive scaling does; scaling policies still act above it).
fn aws(steps: &[PrewarmStep], group: &str) -> String {
    let actions: Vec<Value> = steps
        .iter()
        .map(|step| {
            let at = utc(&step.at);
            json!({
                "ScheduledActionName": format!("capplan-prewarm-{}", stamp(&at)),
                "StartTime": at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "MinSize": step.instances,
                "TimeZone": TIME_ZONE,
            })
        })
        .collect();
    let requests: Vec<Value> = actions
        .chunks(AWS_BATCH)
        .map(|chunk| {
            json!({
                "AutoScalingGroupName": group,
                "ScheduledUpdateGroupActions": chunk,
            })
        })
        .collect();
    serde_json::to_string_pretty(&requests).expect("plain JSON values") + "\n"
}

/// One `cron` trigger per step, active from the step until the next one, asking for
/// its instance count; KEDA scales to the largest active trigger's count.
fn keda(steps: &[PrewarmStep], deployment: &str, namespace: &str) -> String {
    let mut out = format!(
        "# The forecast's pre-warm schedule as KEDA cron triggers (capplan forecast).\n\
         # Each trigger holds desiredReplicas from its start to its end (cron, {TIME_ZONE});\n\
         # KEDA scales to the largest active one, your other triggers still act above it.\n\
         apiVersion: keda.sh/v1alpha1\n\
         kind: ScaledObject\n\
         metadata:\n  name: {deployment}-prewarm\n  namespace: {namespace}\n\
         spec:\n  scaleTargetRef:\n    name: {deployment}\n  triggers:\n"
    );
    for (i, step) in steps.iter().enumerate() {
        let start = utc(&step.at);
        // The last step holds for an hour past the forecast's last change.
        let end = steps
            .get(i + 1)
            .map_or(start + chrono::Duration::hours(1), |next| utc(&next.at));
        out.push_str(&format!(
            "    - type: cron\n      name: prewarm-{}\n      metadata:\n        timezone: {TIME_ZONE}\n        start: \"{}\"\n        end: \"{}\"\n        desiredReplicas: \"{}\"\n",
            stamp(&start),
            cron_at(&start),
            cron_at(&end),
            step.instances
        ));
    }
    out
}

/// One CronJob per step that patches the HPA's `minReplicas` at the step's time, with
/// the ServiceAccount, Role and RoleBinding that allow exactly that patch.
fn cronjobs(steps: &[PrewarmStep], hpa: &str, namespace: &str) -> String {
    let account = format!("{hpa}-prewarm");
    let mut out = format!(
        "# The forecast's pre-warm schedule as CronJobs that set HPA {hpa}'s minReplicas\n\
         # (capplan forecast); times in spec.timeZone ({TIME_ZONE}).\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {account}\n  namespace: {namespace}\n\
         ---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: {account}\n  namespace: {namespace}\n\
         rules:\n  - apiGroups: [\"autoscaling\"]\n    resources: [\"horizontalpodautoscalers\"]\n    resourceNames: [\"{hpa}\"]\n    verbs: [\"get\", \"patch\"]\n\
         ---\n\
         apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: {account}\n  namespace: {namespace}\n\
         roleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: {account}\n\
         subjects:\n  - kind: ServiceAccount\n    name: {account}\n    namespace: {namespace}\n"
    );
    for step in steps {
        let at = utc(&step.at);
        let patch = format!("{{\"spec\":{{\"minReplicas\":{}}}}}", step.instances);
        out.push_str(&format!(
            "---\n\
             apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: {account}-{}\n  namespace: {namespace}\n\
             spec:\n  schedule: \"{}\"\n  timeZone: {TIME_ZONE}\n  concurrencyPolicy: Replace\n  startingDeadlineSeconds: 300\n\
             \x20 jobTemplate:\n    spec:\n      backoffLimit: 3\n      template:\n        spec:\n\
             \x20         serviceAccountName: {account}\n          restartPolicy: OnFailure\n          containers:\n\
             \x20           - name: patch\n              image: bitnami/kubectl:1.31\n\
             \x20             command: [\"kubectl\", \"patch\", \"hpa\", \"{hpa}\", \"--namespace\", \"{namespace}\", \"--type\", \"merge\", \"--patch\", '{patch}']\n",
            stamp(&at),
            cron_at(&at),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps() -> Vec<PrewarmStep> {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        vec![
            PrewarmStep {
                at: at("2026-03-02T08:50:00-05:00"),
                instances: 6,
                peak_time: None,
            },
            PrewarmStep {
                at: at("2026-03-02T18:00:00-05:00"),
                instances: 2,
                peak_time: None,
            },
        ]
    }

    #[test]
    fn aws_actions_are_in_utc_with_their_zone_and_batched_by_fifty() {
        let text = render(
            &steps(),
            &ScheduleTarget::Aws {
                group: "web".into(),
            },
        );
        let doc: Value = serde_json::from_str(&text).unwrap();
        let action = &doc[0]["ScheduledUpdateGroupActions"][0];
        assert_eq!(action["StartTime"], "2026-03-02T13:50:00Z");
        assert_eq!(action["TimeZone"], "Etc/UTC");
        assert_eq!(action["MinSize"], 6);
        assert_eq!(
            action["ScheduledActionName"],
            "capplan-prewarm-20260302t1350z"
        );
        let many: Vec<PrewarmStep> = (0..120)
            .map(|h| PrewarmStep {
                at: steps()[0].at + chrono::Duration::hours(h),
                instances: 1 + h as u32 % 3,
                peak_time: None,
            })
            .collect();
        let doc: Value = serde_json::from_str(&render(
            &many,
            &ScheduleTarget::Aws {
                group: "web".into(),
            },
        ))
        .unwrap();
        let sizes: Vec<usize> = doc
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["ScheduledUpdateGroupActions"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, vec![50, 50, 20]);
    }

    #[test]
    fn cron_triggers_hold_from_one_step_to_the_next() {
        let text = render(
            &steps(),
            &ScheduleTarget::Keda {
                deployment: "web".into(),
                namespace: "prod".into(),
            },
        );
        assert!(text.contains("start: \"50 13 2 3 *\"\n        end: \"0 23 2 3 *\"\n        desiredReplicas: \"6\""), "{text}");
        assert!(text.contains("timezone: Etc/UTC"), "{text}");
    }
}
