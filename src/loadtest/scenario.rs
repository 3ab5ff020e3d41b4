//! Scenario files (TOML): host, default headers, weighted `[[task]]`s, `[[on_start]]`, `[wait_time]`.
//!
//! Every error names the file, the line and the field; unknown keys are errors.
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::InputError;
use crate::formats::located::Source;
use crate::loadtest::client;
use crate::units::parse_duration;

/// Pause between two tasks of one virtual user (Locust `wait_time`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitTime {
    /// No pause: the next task starts as soon as the previous one ends.
    None,
    /// Always the same pause.
    Constant(Duration),
    /// A pause drawn uniformly between two bounds.
    Between(Duration, Duration),
    /// Pace each user to this many tasks per second, whatever the response time.
    ConstantThroughput(f64),
}

/// Body of a request, already encoded.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// Content type implied by the form (`json` sets application/json).
    pub content_type: Option<&'static str>,
}

/// One request a task or the `on_start` sequence sends.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestDef {
    /// Name in reports (defaults to the path, as in Locust).
    pub name: String,
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

/// A weighted task: one request picked in proportion to its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDef {
    pub request: RequestDef,
    pub weight: u32,
}

/// A parsed, validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Base URL: scheme, host and port (and an optional path prefix).
    pub host: String,
    pub headers: Vec<(String, String)>,
    pub tasks: Vec<TaskDef>,
    pub on_start: Vec<RequestDef>,
    pub wait_time: WaitTime,
}

impl Scenario {
    /// Headers given on the command line: each replaces the scenario's header of
    /// that name (names compare case-insensitively, as HTTP does), or is added.
    pub fn add_headers(&mut self, extra: Vec<(String, String)>) {
        for (name, value) in extra {
            self.headers
                .retain(|(have, _)| !have.eq_ignore_ascii_case(&name));
            self.headers.push((name, value));
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    host: Spanned<String>,
    #[serde(default)]
    headers: RawHeaders,
    #[serde(default)]
    wait_time: Option<Spanned<RawWaitTime>>,
    #[serde(default)]
    on_start: Vec<RawRequest>,
    #[serde(default)]
    task: Vec<RawRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaitTime {
    constant: Option<Spanned<String>>,
    between: Option<Spanned<Vec<String>>>,
    constant_throughput: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    name: Option<String>,
    weight: Option<Spanned<i64>>,
    #[serde(default = "default_method")]
    method: Spanned<String>,
    path: Spanned<String>,
    #[serde(default)]
    headers: RawHeaders,
    body: Option<String>,
    json: Option<toml::Value>,
}

/// Header values keep their place in the file, for errors about them.
type RawHeaders = BTreeMap<String, Spanned<String>>;

/// Check every header as HTTP will; `field` is where they sit (`headers`, `task[0].headers`).
fn headers(
    raw: RawHeaders,
    field: &str,
    err: &impl Fn(Range<usize>, &str, String) -> InputError,
) -> Result<Vec<(String, String)>, InputError> {
    raw.into_iter()
        .map(|(name, value)| {
            let span = value.span();
            let value = value.into_inner();
            client::header(&name, &value)
                .map_err(|why| err(span, &format!("{field}.{name}"), why))?;
            Ok((name, value))
        })
        .collect()
}

fn default_method() -> Spanned<String> {
    Spanned::new(0..0, "GET".to_string())
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Read and validate a scenario file.
pub fn load(path: &Path) -> Result<Scenario, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::file(path, format!("cannot read scenario: {e}")))?;
    parse(path, &text)
}

/// Parse scenario text; `path` is only used in error messages.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, InputError> {
    let source = Source::new(path, text);
    let raw: RawScenario = source.toml("scenario")?;
    let err = |span: Range<usize>, field: &str, message: String| {
        source.at_offset(span.start, field, message)
    };

    let host = raw.host.get_ref().trim_end_matches('/').to_string();
    if !(host.starts_with("http://") || host.starts_with("https://")) {
        return Err(err(
            raw.host.span(),
            "host",
            format!("'{host}' must start with http:// or https://"),
        ));
    }
    if url::Url::parse(&host).is_err() {
        return Err(err(
            raw.host.span(),
            "host",
            format!("'{host}' is not a valid URL"),
        ));
    }

    let wait_time = match raw.wait_time {
        None => WaitTime::None,
        Some(spanned) => {
            let span = spanned.span();
            parse_wait_time(spanned.into_inner(), span, &err)?
        }
    };

    if raw.task.is_empty() {
        return Err(InputError::file(
            path,
            "no [[task]] defined: a scenario needs at least one task",
        ));
    }
    let mut tasks = Vec::with_capacity(raw.task.len());
    for (i, raw_task) in raw.task.into_iter().enumerate() {
        let weight = match &raw_task.weight {
            None => 1,
            Some(w) => {
                let value = *w.get_ref();
                if !(1..=1_000_000).contains(&value) {
                    return Err(err(
                        w.span(),
                        &format!("task[{i}].weight"),
                        format!("{value} must be a whole number from 1 to 1000000"),
                    ));
                }
                value as u32
            }
        };
        let request = request_def(raw_task, &format!("task[{i}]"), &err)?;
        tasks.push(TaskDef { request, weight });
    }
    let mut on_start = Vec::with_capacity(raw.on_start.len());
    for (i, raw_request) in raw.on_start.into_iter().enumerate() {
        if let Some(w) = &raw_request.weight {
            return Err(err(
                w.span(),
                &format!("on_start[{i}].weight"),
                "on_start requests run once, in order: weight does not apply".into(),
            ));
        }
        on_start.push(request_def(raw_request, &format!("on_start[{i}]"), &err)?);
    }

    Ok(Scenario {
        host,
        headers: headers(raw.headers, "headers", &err)?,
        tasks,
        on_start,
        wait_time,
    })
}

fn parse_wait_time(
    raw: RawWaitTime,
    span: Range<usize>,
    err: &impl Fn(Range<usize>, &str, String) -> InputError,
) -> Result<WaitTime, InputError> {
    let given = [
        raw.constant.is_some(),
        raw.between.is_some(),
        raw.constant_throughput.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(err(
            span,
            "wait_time",
            "give exactly one of constant = \"1s\", between = [\"1s\", \"3s\"], constant_throughput = 0.5".into(),
        ));
    }
    if let Some(c) = raw.constant {
        let d = parse_duration(c.get_ref()).map_err(|e| err(c.span(), "wait_time.constant", e))?;
        return Ok(WaitTime::Constant(d));
    }
    if let Some(b) = raw.between {
        let values = b.get_ref();
        if values.len() != 2 {
            return Err(err(
                b.span(),
                "wait_time.between",
                format!("expected two durations [min, max], got {}", values.len()),
            ));
        }
        let low = parse_duration(&values[0]).map_err(|e| err(b.span(), "wait_time.between", e))?;
        let high = parse_duration(&values[1]).map_err(|e| err(b.span(), "wait_time.between", e))?;
        if low > high {
            return Err(err(
                b.span(),
                "wait_time.between",
                "min is larger than max".into(),
            ));
        }
        return Ok(WaitTime::Between(low, high));
    }
    let t = raw
        .constant_throughput
        .expect("exactly one form is present");
    let value = *t.get_ref();
    if !(value.is_finite() && value > 0.0) {
        return Err(err(
            t.span(),
            "wait_time.constant_throughput",
            format!("{value} must be a positive number of tasks per second per user"),
        ));
    }
    Ok(WaitTime::ConstantThroughput(value))
}

fn request_def(
    raw: RawRequest,
    field: &str,
    err: &impl Fn(Range<usize>, &str, String) -> InputError,
) -> Result<RequestDef, InputError> {
    let method = raw.method.get_ref().to_ascii_uppercase();
    if !METHODS.contains(&method.as_str()) {
        return Err(err(
            raw.method.span(),
            &format!("{field}.method"),
            format!(
                "'{}' is not one of {}",
                raw.method.get_ref(),
                METHODS.join(", ")
            ),
        ));
    }
    let path = raw.path.get_ref().clone();
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) {
        return Err(err(
            raw.path.span(),
            &format!("{field}.path"),
            format!("'{path}' must start with / and contain no spaces"),
        ));
    }
    if raw.body.is_some() && raw.json.is_some() {
        return Err(err(
            raw.path.span(),
            field,
            "give either body or json, not both".into(),
        ));
    }
    let body = match (raw.body, raw.json) {
        (Some(text), None) => Body {
            bytes: text.into_bytes(),
            content_type: None,
        },
        (None, Some(value)) => Body {
            bytes: serde_json::to_vec(&value).expect("TOML values are valid JSON"),
            content_type: Some("application/json"),
        },
        _ => Body::default(),
    };
    Ok(RequestDef {
        name: raw.name.unwrap_or_else(|| path.clone()),
        method,
        path,
        headers: headers(raw.headers, &format!("{field}.headers"), err)?,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Scenario {
        parse(Path::new("s.toml"), text).unwrap()
    }

    fn parse_err(text: &str) -> String {
        parse(Path::new("s.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn full_scenario() {
        let s = parse_ok(
            r#"
host = "http://127.0.0.1:8080/"
[headers]
User-Agent = "capplan"
[wait_time]
between = ["1s", "3s"]
[[on_start]]
method = "post"
path = "/login"
json = { user = "alice" }
[[task]]
name = "items"
weight = 3
path = "/api/items"
[[task]]
path = "/"
"#,
        );
        assert_eq!(s.host, "http://127.0.0.1:8080");
        assert_eq!(s.tasks.len(), 2);
        assert_eq!(s.tasks[0].weight, 3);
        assert_eq!(s.tasks[1].request.name, "/");
        assert_eq!(s.on_start[0].method, "POST");
        assert_eq!(s.on_start[0].body.bytes, br#"{"user":"alice"}"#);
        assert_eq!(
            s.wait_time,
            WaitTime::Between(Duration::from_secs(1), Duration::from_secs(3))
        );
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = parse_err("host = \"http://x\"\n[[task]]\npath = \"/\"\nwieght = 2\n");
        assert!(e.contains("s.toml:4") && e.contains("wieght"), "{e}");
        let e = parse_err("host = \"http://x\"\n[[task]]\npath = \"/\"\nweight = 0\n");
        assert!(
            e.contains("s.toml:4") && e.contains("task[0].weight"),
            "{e}"
        );
        let e = parse_err("host = \"http://x\"\n[[task]]\nmethod = \"FETCH\"\npath = \"/\"\n");
        assert!(
            e.contains("s.toml:3") && e.contains("task[0].method"),
            "{e}"
        );
        let e = parse_err("host = \"ftp://x\"\n[[task]]\npath = \"/\"\n");
        assert!(e.contains("s.toml:1") && e.contains("host"), "{e}");
        let e = parse_err(
            "host = \"http://x\"\n[wait_time]\nconstant = \"1\"\n[[task]]\npath = \"/\"\n",
        );
        assert!(
            e.contains("s.toml:3") && e.contains("wait_time.constant"),
            "{e}"
        );
        // Inline tables: placed by the toml spans, the line quoted.
        let e = parse_err("host = \"http://x\"\ntask = [{ path = \"/\", weight = \"two\" }]\n");
        assert!(e.starts_with("s.toml:2: task[0].weight:"), "{e}");
        assert!(
            e.ends_with("\n  | task = [{ path = \"/\", weight = \"two\" }]"),
            "{e}"
        );
        let e = parse_err("host = \"http://x\"\n");
        assert!(e.contains("no [[task]]"), "{e}");
        let e = parse_err("[[task]]\npath = \"/\"\n");
        assert!(e.contains("host"), "{e}");
        let e = parse_err(
            "host = \"http://x\"\n[headers]\n\"bad name\" = \"1\"\n[[task]]\npath = \"/\"\n",
        );
        assert!(
            e.contains("s.toml:3")
                && e.contains("headers.bad name")
                && e.contains("not a valid header name"),
            "{e}"
        );
        let e = parse_err(
            "host = \"http://x\"\n[[task]]\npath = \"/\"\nheaders = { X-Id = \"a\\nb\" }\n",
        );
        assert!(
            e.contains("s.toml:4")
                && e.contains("task[0].headers.X-Id")
                && e.contains("not a valid value"),
            "{e}"
        );
    }
}
