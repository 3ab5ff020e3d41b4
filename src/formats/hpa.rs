//! A Kubernetes HorizontalPodAutoscaler manifest (`autoscaling/v2`, as `kubectl get
//! hpa NAME -o yaml` prints it or as applied), read for `simulate --policy`. Field
//! names follow the Kubernetes API (`io.k8s.api.autoscaling.v2.*` in the OpenAPI
//! spec). `metadata` and `status` are read and ignored (they do not change what the
//! controller does); any other unknown field is an error naming its line.
use std::path::Path;

use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::error::InputError;
use crate::formats::located::Source;

/// Whether `text` looks like a Kubernetes HPA manifest (by content, not extension).
pub fn detect(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim();
        l.starts_with("kind:")
            && l.trim_start_matches("kind:").trim().trim_matches('"') == "HorizontalPodAutoscaler"
    })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    #[serde(default)]
    pub metadata: Option<IgnoredAny>,
    pub spec: Spec,
    #[serde(default)]
    pub status: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Spec {
    pub scale_target_ref: IgnoredAny,
    /// Default 1 (the API's default).
    pub min_replicas: Option<u32>,
    pub max_replicas: u32,
    #[serde(default)]
    pub metrics: Vec<MetricSpec>,
    pub behavior: Option<Behavior>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetricSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub resource: Option<ResourceMetric>,
    pub pods: Option<PodsMetric>,
    pub object: Option<IgnoredAny>,
    pub external: Option<IgnoredAny>,
    pub container_resource: Option<IgnoredAny>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceMetric {
    pub name: String,
    pub target: Target,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PodsMetric {
    pub metric: MetricIdentifier,
    pub target: Target,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricIdentifier {
    pub name: String,
    pub selector: Option<IgnoredAny>,
}

/// `MetricTarget`: `type` is `Utilization`, `Value` or `AverageValue`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub average_utilization: Option<f64>,
    /// A Kubernetes quantity (`"40"`, `"500m"`, `"2k"`).
    pub average_value: Option<Quantity>,
    pub value: Option<Quantity>,
}

/// A quantity as written: a YAML number or a string with an optional suffix.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Quantity {
    Number(f64),
    Text(String),
}

impl Quantity {
    /// The value as a number: decimal suffixes `m k M G T`, binary `Ki Mi Gi Ti`.
    pub fn value(&self) -> Result<f64, String> {
        let text = match self {
            Quantity::Number(x) => return Ok(*x),
            Quantity::Text(t) => t.trim(),
        };
        let suffixes: [(&str, f64); 9] = [
            ("Ki", 1024.0),
            ("Mi", 1024.0 * 1024.0),
            ("Gi", 1024.0 * 1024.0 * 1024.0),
            ("Ti", 1024.0_f64.powi(4)),
            ("m", 1e-3),
            ("k", 1e3),
            ("M", 1e6),
            ("G", 1e9),
            ("T", 1e12),
        ];
        let (number, factor) = suffixes
            .iter()
            .find_map(|(s, f)| text.strip_suffix(s).map(|n| (n, *f)))
            .unwrap_or((text, 1.0));
        number
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite())
            .map(|x| x * factor)
            .ok_or_else(|| format!("'{text}' is not a Kubernetes quantity (e.g. 40, 500m, 2k)"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Behavior {
    pub scale_up: Option<Rules>,
    pub scale_down: Option<Rules>,
}

/// `HPAScalingRules`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rules {
    pub stabilization_window_seconds: Option<f64>,
    pub select_policy: Option<String>,
    pub policies: Option<Vec<Policy>>,
    /// Kubernetes 1.33+ (alpha): a per-HPA tolerance.
    pub tolerance: Option<Quantity>,
}

/// `HPAScalingPolicy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: f64,
    pub period_seconds: f64,
}

/// Parse a manifest; errors name the file, the line and the field, the line quoted.
pub fn parse(text: &str, path: &Path) -> Result<Manifest, InputError> {
    let source = Source::new(path, text);
    let manifest: Manifest = serde_saphyr::from_str(text).map_err(|err| {
        let line = err.location().map_or(1, |l| l.line() as usize);
        let message = err.without_snippet().to_string();
        let message = message.lines().next().unwrap_or("").trim().to_string();
        let field = message
            .split('`')
            .nth(1)
            .filter(|f| !f.is_empty())
            .unwrap_or("HorizontalPodAutoscaler")
            .to_string();
        source.at_line(line, field, message)
    })?;
    if manifest.kind != "HorizontalPodAutoscaler" {
        return Err(source.at_line(
            key_line(text, &["kind"]),
            "kind",
            format!("expected HorizontalPodAutoscaler, found {}", manifest.kind),
        ));
    }
    if manifest.api_version != "autoscaling/v2" {
        return Err(source.at_line(
            key_line(text, &["apiVersion"]),
            "apiVersion",
            format!(
                "expected autoscaling/v2, found {} (convert it: kubectl get hpa NAME -o yaml prints v2)",
                manifest.api_version
            ),
        ));
    }
    Ok(manifest)
}

/// The line of a nested key (`["spec", "metrics", "type"]`): each key searched
/// after the previous one's line, the first match taken (1 when absent).
pub fn key_line(text: &str, keys: &[&str]) -> usize {
    let mut from = 0;
    for key in keys {
        let found = text.lines().enumerate().skip(from).find(|(_, line)| {
            let t = line.trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{key}:"))
        });
        match found {
            Some((i, _)) => from = i,
            None => break,
        }
    }
    from + 1
}

/// The line of the `n`th item (from 0) of the block list under a nested key, e.g. the
/// second metric of `["spec", "metrics"]`: the items are the `- ` lines at the first
/// item's indentation, until a line less indented ends the list. `None` when absent.
pub fn item_line(text: &str, keys: &[&str], n: usize) -> Option<usize> {
    let key_at = key_line(text, keys) - 1;
    let lines: Vec<&str> = text.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let key_indent = indent(lines.get(key_at)?);
    let mut item_indent = None;
    let mut seen = 0;
    for (i, line) in lines.iter().enumerate().skip(key_at + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let at = indent(line);
        if at < key_indent || (at == key_indent && !trimmed.starts_with("- ")) {
            return None;
        }
        if !trimmed.starts_with("- ") {
            continue;
        }
        match item_indent {
            None => item_indent = Some(at),
            Some(first) if at != first => continue,
            Some(_) => {}
        }
        if seen == n {
            return Some(i + 1);
        }
        seen += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(Quantity::Text("40".into()).value(), Ok(40.0));
        assert_eq!(Quantity::Text("500m".into()).value(), Ok(0.5));
        assert_eq!(Quantity::Text("2k".into()).value(), Ok(2000.0));
        assert_eq!(Quantity::Number(7.0).value(), Ok(7.0));
        assert!(Quantity::Text("lots".into()).value().is_err());
    }

    #[test]
    fn unknown_fields_name_their_line() {
        let text = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nspec:\n  maxReplicas: 5\n  scaleTargetRef: {}\n  minReplica: 2\n";
        let err = parse(text, Path::new("h.yaml")).unwrap_err().to_string();
        assert!(err.starts_with("h.yaml:6: minReplica:"), "{err}");
        assert!(err.ends_with("  |   minReplica: 2"), "{err}");
        assert!(detect(text));
        assert!(!detect("[fleet]\nmin_instances = 2\n"));
    }

    #[test]
    fn list_items_are_found_under_their_key_only() {
        let text = "spec:\n  metrics:\n  - type: Resource\n    resource:\n      name: cpu\n  - type: Pods\n    pods:\n      metric:\n        name: rps\n  behavior:\n    scaleUp:\n      policies:\n      - type: Pods\n        value: 4\n";
        assert_eq!(item_line(text, &["spec", "metrics"], 0), Some(3));
        assert_eq!(item_line(text, &["spec", "metrics"], 1), Some(6));
        assert_eq!(item_line(text, &["spec", "metrics"], 2), None);
        assert_eq!(
            item_line(text, &["behavior", "scaleUp", "policies"], 0),
            Some(13)
        );
    }
}
