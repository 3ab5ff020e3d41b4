//! Scenario files (TOML): host, default headers, weighted `[[task]]`s (one request or a
//! `sequence`), `[[on_start]]`, `[wait_time]`, `[[feeder]]`s, and per request its
//! `capture`s and `expect` checks. Dynamic values (`{{...}}`) are checked here, once.
//!
//! Every error names the file, the line and the field; unknown keys are errors.
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::error::InputError;
use crate::formats::feeder::FeederRows;
use crate::formats::located::Source;
use crate::loadtest::checks::{Capture, CaptureFrom, Expect, JsonPath, Pattern};
use crate::loadtest::client;
use crate::loadtest::template::{Escape, Names, Template};
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

impl Body {
    /// How dynamic values are written into this body.
    pub fn escape(&self) -> Escape {
        match self.content_type {
            Some(_) => Escape::Json,
            None => Escape::None,
        }
    }
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
    /// Values kept from the response for later requests.
    pub captures: Vec<Capture>,
    /// What makes the response a success (else: a status below 400).
    pub expect: Option<Expect>,
}

impl RequestDef {
    /// A request with no dynamic value, capture or check.
    pub fn plain(name: String, method: String, path: String) -> RequestDef {
        RequestDef {
            name,
            method,
            path,
            headers: Vec::new(),
            body: Body::default(),
            captures: Vec::new(),
            expect: None,
        }
    }
}

/// A weighted task: one request, or a sequence run in order (Locust's
/// SequentialTaskSet), picked in proportion to its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDef {
    pub steps: Vec<RequestDef>,
    pub weight: u32,
}

/// The order in which a feeder hands out its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeederOrder {
    /// Row after row, starting over after the last (Gatling's circular).
    Sequential,
    /// A row drawn at random each time.
    Random,
    /// Each row once, to one user at most (Gatling's queue); when none is left the
    /// user that asks stops, with a failure saying so.
    Unique,
}

/// When a user draws a new row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeederPer {
    /// Once, when the user starts: it keeps its row (an account to log in with).
    User,
    /// Before each task (search terms, item ids).
    Iteration,
}

/// A `[[feeder]]`: a CSV file's rows, handed to users in an order.
#[derive(Debug, Clone, PartialEq)]
pub struct FeederDef {
    pub name: String,
    pub rows: Arc<FeederRows>,
    pub order: FeederOrder,
    pub per: FeederPer,
}

impl FeederDef {
    /// The rows one of `of` generators uses: rows `i` with `i % of == shard`, so
    /// shards of a run never share a `unique` row. `None` when the slice is empty.
    pub fn slice(&self, shard: usize, of: usize) -> Option<FeederDef> {
        assert!(of > 0 && shard < of, "shard {shard} of {of}");
        let rows: Vec<Vec<String>> = self
            .rows
            .rows
            .iter()
            .enumerate()
            .filter(|(i, _)| i % of == shard)
            .map(|(_, row)| row.clone())
            .collect();
        (!rows.is_empty()).then(|| FeederDef {
            rows: Arc::new(FeederRows {
                columns: self.rows.columns.clone(),
                rows,
            }),
            ..self.clone()
        })
    }
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
    pub feeders: Vec<FeederDef>,
    /// The names templates may use (captures, feeders and their columns).
    pub names: Names,
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
    #[serde(default)]
    feeder: Vec<RawFeeder>,
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
    name: Option<Spanned<String>>,
    weight: Option<Spanned<i64>>,
    method: Option<Spanned<String>>,
    path: Option<Spanned<String>>,
    #[serde(default)]
    headers: RawHeaders,
    body: Option<Spanned<String>>,
    json: Option<Spanned<toml::Value>>,
    capture: Option<Vec<RawCapture>>,
    expect: Option<Spanned<RawExpect>>,
    sequence: Option<Spanned<Vec<RawRequest>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapture {
    name: Spanned<String>,
    json: Option<Spanned<String>>,
    header: Option<Spanned<String>>,
    regex: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    status: Option<Spanned<toml::Value>>,
    contains: Option<Spanned<toml::Value>>,
    not_contains: Option<Spanned<toml::Value>>,
    json_exists: Option<Spanned<toml::Value>>,
    json_equals: Option<Spanned<BTreeMap<String, toml::Value>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeeder {
    name: Spanned<String>,
    file: Spanned<String>,
    order: Option<Spanned<String>>,
    per: Option<Spanned<String>>,
}

/// Header values keep their place in the file, for errors about them.
type RawHeaders = BTreeMap<String, Spanned<String>>;

/// Builds an error at a span's line naming a field.
type ErrAt<'a> = dyn Fn(Range<usize>, &str, String) -> InputError + 'a;

/// Check every header as HTTP will (its dynamic values left out); `field` is where
/// they sit (`headers`, `task[0].headers`).
fn headers(
    raw: RawHeaders,
    field: &str,
    names: &Names,
    err: &ErrAt<'_>,
) -> Result<Vec<(String, String)>, InputError> {
    raw.into_iter()
        .map(|(name, value)| {
            let span = value.span();
            let value = value.into_inner();
            let at = format!("{field}.{name}");
            let template = Template::parse(&value, Escape::None, names)
                .map_err(|why| err(span.clone(), &at, why))?;
            client::header(&name, &template.skeleton()).map_err(|why| err(span, &at, why))?;
            Ok((name, value))
        })
        .collect()
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Names templates cannot give a capture: the built-in values.
const RESERVED: [&str; 5] = ["user", "iteration", "uuid", "now", "random_int"];

/// Read and validate a scenario file.
pub fn load(path: &Path) -> Result<Scenario, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::file(path, format!("cannot read scenario: {e}")))?;
    parse(path, &text)
}

/// Parse scenario text; `path` places error messages, and feeder files are found
/// beside it.
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

    let base = path.parent().unwrap_or(Path::new("."));
    let mut feeders = Vec::with_capacity(raw.feeder.len());
    for (i, f) in raw.feeder.into_iter().enumerate() {
        feeders.push(feeder_def(
            f,
            &format!("feeder[{i}]"),
            base,
            &feeders,
            &err,
        )?);
    }
    let mut names = Names {
        vars: Vec::new(),
        feeders: feeders
            .iter()
            .map(|f: &FeederDef| (f.name.clone(), f.rows.columns.clone()))
            .collect(),
    };
    // Captures first: a template may use a capture another request makes.
    let mut all_requests: Vec<&RawRequest> = raw.on_start.iter().collect();
    for task in &raw.task {
        all_requests.push(task);
        if let Some(steps) = &task.sequence {
            all_requests.extend(steps.get_ref());
        }
    }
    for request in all_requests {
        for capture in request.capture.iter().flatten() {
            let name = capture.name.get_ref();
            let usable = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
            if !usable || RESERVED.contains(&name.as_str()) {
                return Err(err(
                    capture.name.span(),
                    "capture.name",
                    format!(
                        "'{name}' cannot name a capture: use letters, digits, '_' or '-', \
                         and none of {}",
                        RESERVED.join(", ")
                    ),
                ));
            }
            if !names.vars.contains(name) {
                names.vars.push(name.clone());
            }
        }
    }

    if raw.task.is_empty() {
        return Err(InputError::file(
            path,
            "no [[task]] defined: a scenario needs at least one task",
        ));
    }
    let mut tasks = Vec::with_capacity(raw.task.len());
    for (i, raw_task) in raw.task.into_iter().enumerate() {
        let field = format!("task[{i}]");
        let weight = match &raw_task.weight {
            None => 1,
            Some(w) => {
                let value = *w.get_ref();
                if !(1..=1_000_000).contains(&value) {
                    return Err(err(
                        w.span(),
                        &format!("{field}.weight"),
                        format!("{value} must be a whole number from 1 to 1000000"),
                    ));
                }
                value as u32
            }
        };
        let steps = match raw_task.sequence {
            None => vec![request_def(raw_task, &field, &names, &err)?],
            Some(sequence) => {
                let span = sequence.span();
                let own = [
                    raw_task.method.as_ref().map(|m| ("method", m.span())),
                    raw_task.path.as_ref().map(|p| ("path", p.span())),
                    raw_task.body.as_ref().map(|b| ("body", b.span())),
                    raw_task.json.as_ref().map(|j| ("json", j.span())),
                    raw_task.expect.as_ref().map(|e| ("expect", e.span())),
                ];
                if let Some((key, at)) = own.into_iter().flatten().next() {
                    return Err(err(
                        at,
                        &format!("{field}.{key}"),
                        "a task with a sequence sends its steps: give the request's fields \
                         in each [[task.sequence]]"
                            .into(),
                    ));
                }
                if !raw_task.headers.is_empty() || raw_task.capture.is_some() {
                    return Err(err(
                        span,
                        &field,
                        "a task with a sequence takes only name and weight: headers and \
                         capture go in each [[task.sequence]]"
                            .into(),
                    ));
                }
                let sequence = sequence.into_inner();
                if sequence.is_empty() {
                    return Err(err(
                        span,
                        &format!("{field}.sequence"),
                        "a sequence needs at least one request".into(),
                    ));
                }
                let mut steps = Vec::with_capacity(sequence.len());
                for (j, step) in sequence.into_iter().enumerate() {
                    let at = format!("{field}.sequence[{j}]");
                    if let Some(w) = &step.weight {
                        return Err(err(
                            w.span(),
                            &format!("{at}.weight"),
                            "the steps of a sequence run in order: weight belongs to the task"
                                .into(),
                        ));
                    }
                    steps.push(request_def(step, &at, &names, &err)?);
                }
                steps
            }
        };
        tasks.push(TaskDef { steps, weight });
    }
    let mut on_start = Vec::with_capacity(raw.on_start.len());
    for (i, raw_request) in raw.on_start.into_iter().enumerate() {
        let field = format!("on_start[{i}]");
        if let Some(w) = &raw_request.weight {
            return Err(err(
                w.span(),
                &format!("{field}.weight"),
                "on_start requests run once, in order: weight does not apply".into(),
            ));
        }
        on_start.push(request_def(raw_request, &field, &names, &err)?);
    }

    names.vars.shrink_to_fit();
    Ok(Scenario {
        host,
        headers: headers(raw.headers, "headers", &names, &err)?,
        tasks,
        on_start,
        wait_time,
        feeders,
        names,
    })
}

fn feeder_def(
    raw: RawFeeder,
    field: &str,
    base: &Path,
    before: &[FeederDef],
    err: &ErrAt<'_>,
) -> Result<FeederDef, InputError> {
    let name = raw.name.get_ref().clone();
    let usable = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if !usable || RESERVED.contains(&name.as_str()) {
        return Err(err(
            raw.name.span(),
            &format!("{field}.name"),
            format!(
                "'{name}' cannot name a feeder: use letters, digits, '_' or '-', and none of {}",
                RESERVED.join(", ")
            ),
        ));
    }
    if before.iter().any(|f| f.name == name) {
        return Err(err(
            raw.name.span(),
            &format!("{field}.name"),
            format!("a feeder named '{name}' is defined twice"),
        ));
    }
    let order = match raw.order.as_ref().map(|o| (o.get_ref().as_str(), o.span())) {
        None | Some(("sequential", _)) => FeederOrder::Sequential,
        Some(("random", _)) => FeederOrder::Random,
        Some(("unique", _)) => FeederOrder::Unique,
        Some((other, span)) => {
            return Err(err(
                span,
                &format!("{field}.order"),
                format!("'{other}' is not one of sequential, random, unique"),
            ))
        }
    };
    let per = match raw.per.as_ref().map(|p| (p.get_ref().as_str(), p.span())) {
        None | Some(("user", _)) => FeederPer::User,
        Some(("iteration", _)) => FeederPer::Iteration,
        Some((other, span)) => {
            return Err(err(
                span,
                &format!("{field}.per"),
                format!("'{other}' is not one of user, iteration"),
            ))
        }
    };
    let file = base.join(raw.file.get_ref());
    let why = match std::fs::metadata(&file) {
        Err(e) => Some(format!("cannot read '{}': {e}", file.display())),
        // A device or FIFO (/dev/zero, a pipe) would never end: only files are read.
        Ok(meta) if !meta.is_file() => Some(format!("'{}' is not a regular file", file.display())),
        Ok(_) => None,
    };
    if let Some(why) = why {
        return Err(err(raw.file.span(), &format!("{field}.file"), why));
    }
    // Past this point the file's own errors (its line and field) are the ones to show.
    let rows = crate::formats::feeder::load(&file)?;
    Ok(FeederDef {
        name,
        rows: Arc::new(rows),
        order,
        per,
    })
}

fn parse_wait_time(
    raw: RawWaitTime,
    span: Range<usize>,
    err: &ErrAt<'_>,
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
    names: &Names,
    err: &ErrAt<'_>,
) -> Result<RequestDef, InputError> {
    let at = |key: &str| format!("{field}.{key}");
    if let Some(sequence) = &raw.sequence {
        return Err(err(
            sequence.span(),
            &at("sequence"),
            "only a [[task]] has a sequence".into(),
        ));
    }
    let method = raw
        .method
        .unwrap_or_else(|| Spanned::new(0..0, "GET".to_string()));
    let method_name = method.get_ref().to_ascii_uppercase();
    if !METHODS.contains(&method_name.as_str()) {
        return Err(err(
            method.span(),
            &at("method"),
            format!(
                "'{}' is not one of {}",
                method.get_ref(),
                METHODS.join(", ")
            ),
        ));
    }
    let Some(raw_path) = raw.path else {
        let span = raw.name.as_ref().map_or(0..0, |n| n.span());
        return Err(err(
            span,
            &at("path"),
            "missing: a request needs a path (or a task a sequence of requests)".into(),
        ));
    };
    let path = raw_path.get_ref().clone();
    let template = Template::parse(&path, Escape::Url, names)
        .map_err(|why| err(raw_path.span(), &at("path"), why))?;
    let skeleton = template.skeleton();
    if !path.starts_with('/') || skeleton.chars().any(char::is_whitespace) {
        return Err(err(
            raw_path.span(),
            &at("path"),
            format!("'{path}' must start with / and contain no spaces"),
        ));
    }
    if let (Some(_), Some(json)) = (&raw.body, &raw.json) {
        return Err(err(
            json.span(),
            field,
            "give either body or json, not both".into(),
        ));
    }
    let body = match (raw.body, raw.json) {
        (Some(text), None) => {
            Template::parse(text.get_ref(), Escape::None, names)
                .map_err(|why| err(text.span(), &at("body"), why))?;
            Body {
                bytes: text.into_inner().into_bytes(),
                content_type: None,
            }
        }
        (None, Some(value)) => {
            let span = value.span();
            let bytes = serde_json::to_vec(value.get_ref()).expect("TOML values are valid JSON");
            Template::parse(
                std::str::from_utf8(&bytes).expect("JSON is UTF-8"),
                Escape::Json,
                names,
            )
            .map_err(|why| err(span, &at("json"), why))?;
            Body {
                bytes,
                content_type: Some("application/json"),
            }
        }
        _ => Body::default(),
    };
    let mut captures = Vec::new();
    for (i, c) in raw.capture.into_iter().flatten().enumerate() {
        captures.push(capture(c, &format!("{field}.capture[{i}]"), names, err)?);
    }
    let expect = match raw.expect {
        None => None,
        Some(e) => Some(expect(e, &at("expect"), err)?),
    };
    Ok(RequestDef {
        name: raw
            .name
            .map(Spanned::into_inner)
            .unwrap_or_else(|| path.clone()),
        method: method_name,
        path,
        headers: headers(raw.headers, &at("headers"), names, err)?,
        body,
        captures,
        expect,
    })
}

fn capture(
    raw: RawCapture,
    field: &str,
    names: &Names,
    err: &ErrAt<'_>,
) -> Result<Capture, InputError> {
    let name = raw.name.get_ref().clone();
    let slot = names
        .vars
        .iter()
        .position(|v| *v == name)
        .expect("every capture's name was collected first");
    let from = match (raw.json, raw.header, raw.regex) {
        (Some(path), None, None) => CaptureFrom::Json(
            JsonPath::parse(path.get_ref())
                .map_err(|why| err(path.span(), &format!("{field}.json"), why))?,
        ),
        (None, Some(header), None) => {
            let lower = header.get_ref().to_ascii_lowercase();
            http::HeaderName::from_bytes(lower.as_bytes()).map_err(|_| {
                err(
                    header.span(),
                    &format!("{field}.header"),
                    format!("'{}' is not a valid header name", header.get_ref()),
                )
            })?;
            CaptureFrom::Header(lower)
        }
        (None, None, Some(pattern)) => {
            let regex = regex::Regex::new(pattern.get_ref()).map_err(|e| {
                err(
                    pattern.span(),
                    &format!("{field}.regex"),
                    format!("not a valid regex: {e}"),
                )
            })?;
            CaptureFrom::Regex(Pattern(regex))
        }
        _ => return Err(err(
            raw.name.span(),
            field,
            "give exactly one of json = \"$.token\", header = \"X-Id\", regex = \"id=(\\\\d+)\""
                .into(),
        )),
    };
    Ok(Capture { name, slot, from })
}

/// A string or a list of strings.
fn strings(
    value: &Spanned<toml::Value>,
    field: &str,
    err: &ErrAt<'_>,
) -> Result<Vec<String>, InputError> {
    let bad = || {
        err(
            value.span(),
            field,
            "expected a string or a list of strings".into(),
        )
    };
    match value.get_ref() {
        toml::Value::String(s) => Ok(vec![s.clone()]),
        toml::Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        _ => Err(bad()),
    }
}

fn expect(raw: Spanned<RawExpect>, field: &str, err: &ErrAt<'_>) -> Result<Expect, InputError> {
    let span = raw.span();
    let raw = raw.into_inner();
    let at = |key: &str| format!("{field}.{key}");
    let status = match &raw.status {
        None => None,
        Some(value) => {
            let bad = || {
                err(
                    value.span(),
                    &at("status"),
                    "expected a status (200) or a list of them ([200, 201]), each from 100 to 599"
                        .into(),
                )
            };
            let one = |v: &toml::Value| {
                v.as_integer()
                    .filter(|n| (100..=599).contains(n))
                    .map(|n| n as u16)
            };
            let list = match value.get_ref() {
                toml::Value::Array(items) => items.iter().map(one).collect::<Option<Vec<u16>>>(),
                single => one(single).map(|s| vec![s]),
            };
            Some(list.filter(|l| !l.is_empty()).ok_or_else(bad)?)
        }
    };
    let contains = match &raw.contains {
        Some(v) => strings(v, &at("contains"), err)?,
        None => Vec::new(),
    };
    let not_contains = match &raw.not_contains {
        Some(v) => strings(v, &at("not_contains"), err)?,
        None => Vec::new(),
    };
    let json_exists = match &raw.json_exists {
        Some(v) => strings(v, &at("json_exists"), err)?
            .iter()
            .map(|p| JsonPath::parse(p).map_err(|why| err(v.span(), &at("json_exists"), why)))
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let json_equals = match raw.json_equals {
        Some(table) => {
            let table_span = table.span();
            table
                .into_inner()
                .into_iter()
                .map(|(path, value)| {
                    let path = JsonPath::parse(&path).map_err(|why| {
                        err(table_span.clone(), &format!("{field}.json_equals"), why)
                    })?;
                    let value = serde_json::to_value(&value).expect("TOML values are valid JSON");
                    Ok((path, value))
                })
                .collect::<Result<_, InputError>>()?
        }
        None => Vec::new(),
    };
    let expect = Expect {
        status,
        contains,
        not_contains,
        json_exists,
        json_equals,
    };
    if expect == Expect::default() {
        return Err(err(
            span,
            field,
            "empty: give status, contains, not_contains, json_exists or json_equals".into(),
        ));
    }
    Ok(expect)
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
        assert_eq!(s.tasks[1].steps[0].name, "/");
        assert_eq!(s.on_start[0].method, "POST");
        assert_eq!(s.on_start[0].body.bytes, br#"{"user":"alice"}"#);
        assert_eq!(
            s.wait_time,
            WaitTime::Between(Duration::from_secs(1), Duration::from_secs(3))
        );
    }

    fn with_feeder(scenario: &str) -> Result<Scenario, String> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("accounts.csv"),
            "email,password\na@x.org,1\nb@x.org,2\n",
        )
        .unwrap();
        let path = dir.path().join("s.toml");
        parse(&path, scenario).map_err(|e| {
            e.to_string()
                .replace(&format!("{}/", dir.path().display()), "")
        })
    }

    #[test]
    fn dynamic_values_sequences_captures_and_checks() {
        let s = with_feeder(
            r#"
host = "http://127.0.0.1:8080"
[headers]
Authorization = "Bearer {{token}}"
[[feeder]]
name = "accounts"
file = "accounts.csv"
order = "unique"
[[on_start]]
method = "POST"
path = "/api/login"
json = { username = "{{accounts.email}}", password = "{{accounts.password}}" }
capture = [{ name = "token", json = "$.token" }]
expect = { status = 200, json_exists = "$.token" }
[[task]]
path = "/api/items/{{random_int(1, 100)}}"
expect = { status = [200, 404], contains = "id", not_contains = ["error"] }
[[task]]
name = "checkout"
weight = 2
[[task.sequence]]
method = "POST"
path = "/api/orders"
capture = [{ name = "order", header = "X-Order-Id" }, { name = "status", regex = '"status":"(\w+)"' }]
[[task.sequence]]
path = "/api/orders/{{order}}?u={{user}}&i={{iteration}}"
expect = { json_equals = { "$.status" = "confirmed" } }
"#,
        )
        .unwrap();
        assert_eq!(s.names.vars, ["token", "order", "status"]);
        assert_eq!(s.feeders[0].order, FeederOrder::Unique);
        assert_eq!(s.feeders[0].per, FeederPer::User);
        assert_eq!(s.feeders[0].rows.rows.len(), 2);
        assert_eq!(s.tasks[1].steps.len(), 2);
        assert_eq!(s.tasks[1].weight, 2);
        assert_eq!(
            s.tasks[1].steps[1].name,
            "/api/orders/{{order}}?u={{user}}&i={{iteration}}"
        );
        assert_eq!(s.tasks[1].steps[0].captures.len(), 2);
        let expect = s.tasks[0].steps[0].expect.as_ref().unwrap();
        assert_eq!(expect.status, Some(vec![200, 404]));
        assert_eq!(expect.not_contains, ["error"]);
        assert_eq!(s.on_start[0].body.escape(), Escape::Json);
    }

    #[test]
    fn dynamic_value_errors_name_line_and_field() {
        let head =
            "host = \"http://x\"\n[[feeder]]\nname = \"accounts\"\nfile = \"accounts.csv\"\n";
        let e = |body: &str| with_feeder(&format!("{head}{body}")).unwrap_err();
        let err = e("[[task]]\npath = \"/{{accounts.mail}}\"\n");
        assert!(
            err.starts_with("s.toml:6: task[0].path:") && err.contains("no column 'mail'"),
            "{err}"
        );
        let err = e("[[task]]\npath = \"/\"\nheaders = { A = \"{{tokn}}\" }\n");
        assert!(
            err.starts_with("s.toml:7: task[0].headers.A:") && err.contains("neither"),
            "{err}"
        );
        let err = e("[[task]]\npath = \"/\"\ncapture = [{ name = \"t\", json = \"token\" }]\n");
        assert!(
            err.starts_with("s.toml:7: task[0].capture[0].json:"),
            "{err}"
        );
        let err = e("[[task]]\npath = \"/\"\ncapture = [{ name = \"t\", regex = \"(\" }]\n");
        assert!(
            err.contains("task[0].capture[0].regex") && err.contains("not a valid regex"),
            "{err}"
        );
        let err = e("[[task]]\npath = \"/\"\ncapture = [{ name = \"user\", header = \"X\" }]\n");
        assert!(
            err.contains("capture.name") && err.contains("cannot name"),
            "{err}"
        );
        let err = e("[[task]]\npath = \"/\"\nexpect = { status = 99 }\n");
        assert!(err.starts_with("s.toml:7: task[0].expect.status:"), "{err}");
        let err = e("[[task]]\npath = \"/\"\nexpect = { contians = \"x\" }\n");
        assert!(
            err.contains("s.toml:7") && err.contains("contians"),
            "{err}"
        );
        let err = e("[[task]]\npath = \"/\"\n[[task.sequence]]\npath = \"/a\"\n");
        assert!(err.starts_with("s.toml:6: task[0].path:"), "{err}");
        let err = e("[[task]]\n[[task.sequence]]\nweight = 2\npath = \"/a\"\n");
        assert!(
            err.starts_with("s.toml:7: task[0].sequence[0].weight:"),
            "{err}"
        );
        let err = e("[[task]]\nname = \"x\"\n");
        assert!(
            err.contains("task[0].path") && err.contains("missing"),
            "{err}"
        );
        let err = with_feeder("host = \"http://x\"\n[[feeder]]\nname = \"a\"\nfile = \"nope.csv\"\n[[task]]\npath = \"/\"\n").unwrap_err();
        assert!(
            err.starts_with("s.toml:4: feeder[0].file: cannot read"),
            "{err}"
        );
        let err = with_feeder("host = \"http://x\"\n[[feeder]]\nname = \"a\"\nfile = \"/dev/zero\"\n[[task]]\npath = \"/\"\n").unwrap_err();
        assert!(
            err.starts_with("s.toml:4: feeder[0].file:") && err.contains("not a regular file"),
            "{err}"
        );
        let err = with_feeder("host = \"http://x\"\n[[feeder]]\nname = \"a\"\nfile = \"accounts.csv\"\norder = \"shuffled\"\n[[task]]\npath = \"/\"\n").unwrap_err();
        assert!(err.starts_with("s.toml:5: feeder[0].order:"), "{err}");
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
