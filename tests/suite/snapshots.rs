//! Format locks (issue 11): every renderer's output on fixed inputs, compared with the
//! snapshot in `tests/suite/snapshots/` by [insta](https://insta.rs). No network, no clock:
//! the load test is built through the aggregator from fixed latencies, the capacity
//! search from fixed steps, forecast and simulate run their pure cores on `fixtures/`.
//!
//! A deliberate change of a format: `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test snapshots` and read the diff of the `.snap`
//! files before committing them. CI (`CI=true`) never writes a snapshot: a changed
//! output fails the test.
//!
//! Values that differ between two identical runs (wall time, thread scheduling) are
//! replaced by a `[redacted: ...]` marker before the comparison; see [`redact_json`]
//! and the simulate tests. Everything else is compared byte for byte.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use capplan::forecast::holidays::HolidayCalendar;
use capplan::forecast::ingest::{self, IngestOptions, Ingested};
use capplan::forecast::result::ForecastResult;
use capplan::forecast::series::{local_date, HourlySeries};
use capplan::formats::profile::{self, CapacityProfile, ServiceTimeMs};
use capplan::loadtest::aggregator::{Aggregator, WallClock};
use capplan::loadtest::capacity_search::{
    self, SearchOutcome, SearchSettings, SloRule, StepMeasurement,
};
use capplan::loadtest::client::{Failure, HttpVersion};
use capplan::loadtest::connector::{Negotiated, OpenInfo};
use capplan::loadtest::find_capacity;
use capplan::loadtest::recorder::Interval;
use capplan::loadtest::result::{CheckSummary, GeneratorReport, ProtocolReport, RunResult};
use capplan::report;
use capplan::simulate::engine::WorkerCapacity;
use capplan::simulate::policy::Policy;
use capplan::simulate::traffic::{self, Interpolate};
use capplan::simulate::whatif::DemandLevers;
use capplan::simulate::{ForecastUpper, Inputs, Settings, SimulateOutput, Timing};

// ---------------------------------------------------------------------------------------
// Fixed inputs
// ---------------------------------------------------------------------------------------

fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(path)
}

/// 1 700 000 000 s after the epoch: 2023-11-14T22:13:20Z, the run's wall-clock start.
const WALL_START: u64 = 1_700_000_000;

/// A 20-second closed-model run of 10 users on two endpoints, through the real
/// aggregator: 100 requests a second with fixed latencies, one failure a second
/// (a 500 on `/`) and a timeout every fifth second on `/api/order`, over 10 HTTPS
/// connections opened in the first second (2 of them resumed). The wall clock is
/// fixed; the monotonic start is read once, and only differences from it are used.
fn load_result() -> RunResult {
    let names = vec![
        ("GET".to_string(), "/".to_string()),
        ("POST".to_string(), "/api/order".to_string()),
    ];
    let mut agg = Aggregator::new(names, 1, WALL_START as i64, 0);
    let clock = WallClock {
        start: Instant::now(),
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(WALL_START),
    };
    let mut history = Vec::new();
    for second in 1..=20u64 {
        let mut interval = Interval::new(2);
        if second == 1 {
            // The 10 users' keep-alive connections, over TLS 1.3.
            for user in 0..10u64 {
                interval.connections.record(&OpenInfo {
                    connect: Duration::from_micros(1_200 + 100 * user),
                    tls_handshake: Some(Duration::from_micros(3_000 + 200 * user)),
                    negotiated: Negotiated {
                        alpn: Some("http/1.1"),
                        tls_version: Some("TLSv1.3"),
                    },
                    resumed: user >= 8,
                });
            }
        }
        for i in 0..100u64 {
            let ms = 5 + (i * i * second) % 97;
            let outcome = if i == 0 {
                Err(Failure::Status(500))
            } else if i == 1 && second % 5 == 0 {
                Err(Failure::Timeout)
            } else {
                Ok(512 + 256 * (i % 2))
            };
            let ended = clock.start + Duration::from_millis(1_000 * second - 100 + i);
            interval.record((i % 2) as usize, ended, Duration::from_millis(ms), outcome);
        }
        let done = agg.add_tick(second, &interval, 10).expect("one thread");
        history.push(done.row);
    }
    let totals = agg.finish(20.0, &clock);
    let a = totals.aggregate;
    let mut result = RunResult {
        shape: None,
        version: capplan::loadtest::result::JSON_VERSION,
        target: "https://127.0.0.1:8443".into(),
        started_at: "2023-11-14T22:13:20+00:00".into(),
        model: "closed".into(),
        users: Some(10),
        duration_s: 20.0,
        interrupted: false,
        requests: a.requests,
        failures: a.failures,
        error_rate: a.failures as f64 / a.requests as f64,
        rps: a.rps,
        latency_ms: a.latency_ms,
        service_time_ms: None,
        rate_achieved: None,
        rate: None,
        protocol: ProtocolReport::new(HttpVersion::Http1, &totals.connections),
        generator: GeneratorReport {
            threads: 1,
            max_cpu_percent: 12.0,
            saturated_seconds: 0,
        },
        warnings: vec!["a <warning> & its escaping".into()],
        tasks: totals.endpoints,
        aggregate: a,
        errors: totals.failures,
        checks: vec![
            CheckSummary {
                method: "POST".into(),
                name: "login".into(),
                kind: "check",
                what: "status 200, $.token exists".into(),
                passed: 11,
                failed: 1,
            },
            CheckSummary {
                method: "POST".into(),
                name: "login".into(),
                kind: "capture",
                what: "token: $.token in the JSON body".into(),
                passed: 11,
                failed: 0,
            },
        ],
        thresholds: Vec::new(),
        history,
    };
    let thresholds: Vec<_> = ["p95<300ms", "error_rate<1%"]
        .iter()
        .map(|t| t.parse().expect("a threshold"))
        .collect();
    result.thresholds = result.evaluate(&thresholds);
    result
}

/// A capacity search through the pure search (`loadtest::capacity_search::search`) against a
/// made-up server: p95 grows with the offered rate and breaks `p95<200ms` near 300 rps.
fn capacity_search() -> (CapacityProfile, SearchOutcome) {
    let rule = SloRule {
        slo: "p95<200ms".parse().expect("an SLO"),
        max_error_rate: 0.01,
    };
    let settings = SearchSettings {
        start_rps: 100.0,
        growth: 1.5,
        tolerance: 0.02,
        max_steps: 16,
        max_rps: 10_000.0,
    };
    // An M/M/1-like curve: 20 ms at no load, unbounded at 320 rps.
    let p95_at = |rate: f64| 20.0 / (1.0 - (rate / 320.0).min(0.999));
    let outcome = capacity_search::search(&settings, &rule, |rate, _phase| {
        let p95 = p95_at(rate);
        Ok::<_, std::convert::Infallible>(StepMeasurement {
            offered_rps: rate,
            achieved_rps: rate.min(320.0) * 0.998,
            p50_ms: p95 / 3.0,
            p95_ms: p95,
            p99_ms: p95 * 1.4,
            slo_value_ms: p95,
            error_rate: if rate > 320.0 { 0.05 } else { 0.0 },
            rate_achieved: 1.0,
            trend: capacity_search::trend(&[p95, p95, p95, p95]),
        })
    })
    .expect("infallible");
    let sustainable = outcome.sustainable_rps.unwrap_or(0.0);
    let curve = find_capacity::curve_of(&outcome);
    let profile = CapacityProfile {
        version: profile::VERSION,
        target: "http://127.0.0.1:8080/".into(),
        measured_at: "2026-03-01T10:00:00+00:00".into(),
        slo: rule.slo.clone(),
        workers_measured: 4,
        sustainable_rps: sustainable,
        rps_per_worker: sustainable / 4.0,
        service_time_ms: ServiceTimeMs {
            mean: 18.5,
            p95: 24.0,
        },
        curve,
    };
    (profile, outcome)
}

/// Built once, for every test that reads it.
fn forecast_result() -> &'static (HourlySeries, HolidayCalendar, ForecastResult) {
    static RESULT: OnceLock<(HourlySeries, HolidayCalendar, ForecastResult)> = OnceLock::new();
    RESULT.get_or_init(build_forecast_result)
}

/// `capplan forecast --history fixtures/history_hourly.csv --rps-per-instance 30`
/// with the default settings (48 h, 90 %, 2 weeks of backtest, holidays, 10 min lead),
/// through the pure core.
fn build_forecast_result() -> (HourlySeries, HolidayCalendar, ForecastResult) {
    let Ingested { series, report } = ingest::read_history(
        &fixture("history_hourly.csv"),
        IngestOptions {
            tz_offset: None,
            fill_gaps: false,
        },
    )
    .expect("the fixture history");
    let settings = capplan::forecast::Settings {
        horizon_hours: 48,
        backtest_weeks: 2,
        interval: 0.9,
        multiplicative: false,
        holidays: true,
        rps_per_instance: Some(30.0),
        lead: chrono::Duration::minutes(10),
    };
    // As the command builds it: US federal holidays over the history and the horizon.
    let first = chrono::Datelike::year(&local_date(series.local_hour(0)));
    let last = chrono::Datelike::year(&local_date(
        series.local_hour(series.len() + settings.horizon_hours),
    ));
    let calendar = HolidayCalendar::us_federal(first..=last);
    let result = capplan::forecast::forecast(&series, &calendar, &settings, report)
        .expect("a forecast of the fixture");
    (series, calendar, result)
}

/// Built once, for every test that reads it.
fn simulate_output() -> &'static SimulateOutput {
    static OUTPUT: OnceLock<SimulateOutput> = OnceLock::new();
    OUTPUT.get_or_init(build_simulate_output)
}

/// `capplan simulate --traffic fixtures/simulate/traffic_day.csv --forecast
/// fixtures/simulate/forecast_day.csv --capacity fixtures/simulate/capacity.json
/// --instance-cost 0.1 --recommend` (default policy, 1-minute steps, hold), built from
/// the simulate core's pieces (traffic reader, resampling, engine, recommend) as
/// `simulate::compute` does. The one place to adapt when the command layer moves.
fn build_simulate_output() -> SimulateOutput {
    let profile = profile::read(&fixture("simulate/capacity.json")).expect("the fixture profile");
    let forecast = traffic::read(&fixture("simulate/forecast_day.csv"), false).expect("forecast");
    let inputs = Inputs {
        traffic: traffic::read(&fixture("simulate/traffic_day.csv"), false).expect("traffic"),
        forecast: Some(ForecastUpper {
            start: forecast.start,
            interval_seconds: forecast.interval_seconds,
            upper: forecast.upper.expect("an upper column"),
        }),
        policy: Policy::default(),
        capacity: WorkerCapacity {
            rps_per_worker: profile.rps_per_worker,
            service_time_seconds: profile.service_time_ms.mean / 1000.0,
        },
        // As the command does: the profile's measured curve holds the latency model.
        curve: Some(
            capplan::simulate::latency::MeasuredCurve::new(
                &profile
                    .curve
                    .iter()
                    .map(|p| (p.rps, p.p95_ms))
                    .collect::<Vec<_>>(),
                profile.workers_measured,
            )
            .expect("the fixture's curve"),
        ),
    };
    let settings = Settings {
        step_seconds: 60.0,
        interpolate: Interpolate::Hold,
        levers: DemandLevers::default(),
        db_limit: None,
        instance_cost: Some(0.1),
        recommend: true,
        cores: 2,
        allow_single_instance: false,
        incident_max_seconds: 1800.0,
        record_timeline: true,
    };
    let mut output = capplan::simulate::simulate(inputs, &settings);
    // The core measures its own wall time; fixed here (the JSON redacts it anyway).
    output.timing = Timing {
        simulate: 1.25,
        recommend: 42.5,
    };
    output
}

// ---------------------------------------------------------------------------------------
// Redaction and the HTML digest
// ---------------------------------------------------------------------------------------

/// Replace the value of the top-level `key` of a pretty-printed JSON document (as
/// `serde_json::to_string_pretty` writes it) by a marker string, keeping the rest of
/// the text, key order and all, byte for byte. Panics when the key is missing, so a
/// renamed key cannot slip through unredacted.
fn redact_json(text: &str, key: &str, why: &str) -> String {
    let doc: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    assert!(doc.get(key).is_some(), "no top-level {key:?} to redact");
    let opening = format!("  \"{key}\": ");
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(value) = line.strip_prefix(&opening) else {
            out.push(line.to_string());
            continue;
        };
        // An object or array spans lines down to its closing bracket at this depth.
        let last = if value == "{" || value == "[" {
            lines
                .by_ref()
                .find(|l| l.starts_with("  }") || l.starts_with("  ]"))
                .expect("a closing bracket")
                .to_string()
        } else {
            line.to_string()
        };
        let comma = if last.ends_with(',') { "," } else { "" };
        out.push(format!("{opening}\"[redacted: {why}]\"{comma}"));
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// `--recommend`'s count of simulations actually run depends on which thread finished
/// first: the summary says `(N simulations;`, the HTML `(N simulated)`.
fn redact_simulated(text: &str, simulated: usize) -> String {
    let forms = [
        (
            format!("({simulated} simulations;"),
            "([redacted: scheduling] simulations;",
        ),
        (
            format!("({simulated} simulated)"),
            "([redacted: scheduling] simulated)",
        ),
    ];
    assert!(
        forms.iter().any(|(form, _)| text.contains(form.as_str())),
        "no simulation count to redact"
    );
    forms.iter().fold(text.to_string(), |t, (form, marker)| {
        t.replace(form.as_str(), marker)
    })
}

/// Significant digits a JSON float keeps in a snapshot. The cores call the platform's
/// `exp`, `ln` and `powf`, and ndarray's matrix products pick SIMD kernels by CPU: the
/// last digits of a full-precision float may differ on another machine, the first ten
/// do not.
const JSON_DIGITS: usize = 10;

/// Round every float of a JSON text (a number with `.` or an exponent, outside strings)
/// to [`JSON_DIGITS`] significant digits; integers, strings, layout and key order stay.
fn round_json_floats(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '"' {
            out.push(c);
            while let Some(c) = chars.next() {
                out.push(c);
                match c {
                    '\\' => out.extend(chars.next()),
                    '"' => break,
                    _ => {}
                }
            }
        } else if c == '-' || c.is_ascii_digit() {
            let mut number = c.to_string();
            while let Some(&d) = chars.peek() {
                if d.is_ascii_digit() || matches!(d, '.' | 'e' | 'E' | '+' | '-') {
                    number.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            if number.contains(['.', 'e', 'E']) {
                let value: f64 = number.parse().expect("a JSON number");
                let rounded: f64 = format!("{value:.*e}", JSON_DIGITS - 1)
                    .parse()
                    .expect("a float");
                let mut shown = rounded.to_string();
                if !shown.contains(['.', 'e', 'E', 'N', 'i']) {
                    shown.push_str(".0");
                }
                out.push_str(&shown);
            } else {
                out.push_str(&number);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The page footer names the crate's version: a release must not fail the format lock.
fn redact_version(html: &str) -> String {
    let version = format!("capplan {}", env!("CARGO_PKG_VERSION"));
    assert!(html.contains(&version), "no version in the page");
    html.replace(&version, "capplan [version]")
}

/// Locust's files end their lines in CRLF, as Python's `csv` module writes them: check
/// every line does, then compare the text with plain newlines (a snapshot file keeps
/// line endings as the checkout makes them).
fn crlf_lines(bytes: Vec<u8>) -> String {
    let text = String::from_utf8(bytes).expect("UTF-8");
    assert!(text.ends_with("\r\n"), "the last line ends in CRLF");
    assert_eq!(
        text.matches('\n').count(),
        text.matches("\r\n").count(),
        "every line ends in CRLF"
    );
    text.replace("\r\n", "\n")
}

/// One node of the HTML outline.
struct Node {
    label: String,
    children: Vec<Node>,
}

/// Elements whose own text is part of the structure (headings, headers, labels).
const TEXT_TAGS: [&str; 12] = [
    "title", "h1", "h2", "h3", "h4", "th", "dt", "li", "p", "a", "caption", "summary",
];
const VOID_TAGS: [&str; 6] = ["meta", "br", "img", "input", "link", "hr"];

/// A structural digest of a page: one line per element (`tag#id.class`), indented by
/// depth, with the text of headings, table headers, list items, paragraphs and labels;
/// table cells and definitions keep only their class (their figures are locked by the
/// other snapshots). A chart is one line: `svg.chart WxH "its title"`, its drawing
/// left out. Identical consecutive siblings are folded into one line with `× N`.
fn html_digest(html: &str) -> String {
    let mut stack: Vec<(String, Node, String)> = vec![(
        String::new(),
        Node {
            label: "document".into(),
            children: Vec::new(),
        },
        String::new(),
    )];
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        let text = &rest[..open];
        if let Some(top) = stack.last_mut() {
            top.2.push_str(text);
        }
        rest = &rest[open..];
        let close = rest.find('>').expect("a closed tag");
        let tag = &rest[1..close];
        rest = &rest[close + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let (open_name, mut node, text) = stack.pop().expect("an open element");
            assert_eq!(open_name, name.trim(), "mismatched </{name}>");
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            if TEXT_TAGS.contains(&open_name.as_str()) && !text.is_empty() {
                node.label.push_str(&format!(" {text:?}"));
            }
            stack.last_mut().expect("a parent").1.children.push(node);
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag
            .split_whitespace()
            .next()
            .expect("a tag name")
            .to_string();
        let attr = |key: &str| -> Option<String> {
            let start = tag.find(&format!(" {key}=\""))? + key.len() + 3;
            let end = tag[start..].find('"')? + start;
            Some(tag[start..end].to_string())
        };
        let mut label = name.clone();
        if let Some(id) = attr("id") {
            label.push_str(&format!("#{id}"));
        }
        if let Some(class) = attr("class") {
            for c in class.split_whitespace() {
                label.push_str(&format!(".{c}"));
            }
        }
        if name == "a" {
            if let Some(href) = attr("href") {
                label.push_str(&format!("[href={href}]"));
            }
        }
        // Raw content: a chart's drawing, the style sheet, a script.
        if matches!(name.as_str(), "svg" | "style" | "script") && !self_closing {
            let end_tag = format!("</{name}>");
            let end = rest.find(&end_tag).expect("a closing tag");
            let content = &rest[..end];
            rest = &rest[end + end_tag.len()..];
            if name == "svg" {
                if let (Some(w), Some(h)) = (attr("width"), attr("height")) {
                    label.push_str(&format!(" {w}x{h}"));
                }
                if let Some(t) = content
                    .strip_prefix("<title>")
                    .and_then(|c| c.split("</title>").next())
                {
                    label.push_str(&format!(" {t:?}"));
                }
            }
            let parent = &mut stack.last_mut().expect("a parent").1;
            parent.children.push(Node {
                label,
                children: Vec::new(),
            });
            continue;
        }
        let node = Node {
            label,
            children: Vec::new(),
        };
        if self_closing || VOID_TAGS.contains(&name.as_str()) {
            stack.last_mut().expect("a parent").1.children.push(node);
        } else {
            stack.push((name, node, String::new()));
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let (_, root, _) = stack.pop().expect("the document");
    let mut out = String::new();
    for child in &root.children {
        render_node(child, 0, &mut out);
    }
    out
}

fn render_node(node: &Node, depth: usize, out: &mut String) {
    out.push_str(&"  ".repeat(depth));
    out.push_str(&node.label);
    out.push('\n');
    let rendered: Vec<String> = node
        .children
        .iter()
        .map(|c| {
            let mut s = String::new();
            render_node(c, depth + 1, &mut s);
            s
        })
        .collect();
    let mut i = 0;
    while i < rendered.len() {
        let run = rendered[i..]
            .iter()
            .take_while(|r| **r == rendered[i])
            .count();
        if run == 1 {
            out.push_str(&rendered[i]);
        } else {
            // `label × N` on the first line, the shared subtree once below it.
            let (first, below) = rendered[i].split_once('\n').expect("a line");
            out.push_str(&format!("{first} × {run}\n{below}"));
        }
        i += run;
    }
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("UTF-8")
}

// ---------------------------------------------------------------------------------------
// loadtest
// ---------------------------------------------------------------------------------------

#[test]
fn loadtest_summary_table() {
    let _machine = crate::common::machine::shared();
    insta::assert_snapshot!(report::table::loadtest_summary(&load_result()));
}

#[test]
fn loadtest_locust_csv_files() {
    let _machine = crate::common::machine::shared();
    let result = load_result();
    let suffixes: Vec<&str> = report::locust_csv::FILES.iter().map(|(s, _)| *s).collect();
    // The four files Locust writes, and a snapshot each.
    insta::assert_debug_snapshot!("loadtest_locust_csv_suffixes", suffixes);
    for (suffix, render) in report::locust_csv::FILES {
        let name = format!("loadtest_locust_csv{}", suffix.trim_end_matches(".csv"));
        insta::assert_snapshot!(name, crlf_lines(render(&result)));
    }
}

#[test]
fn loadtest_json() {
    let _machine = crate::common::machine::shared();
    let json = serde_json::to_string_pretty(&load_result()).expect("JSON");
    insta::assert_snapshot!(round_json_floats(&json));
}

#[test]
fn loadtest_html_structure() {
    let _machine = crate::common::machine::shared();
    let page = report::html::loadtest_page(&load_result());
    insta::assert_snapshot!(html_digest(&redact_version(&page)));
}

// ---------------------------------------------------------------------------------------
// loadtest --find-capacity
// ---------------------------------------------------------------------------------------

#[test]
fn capacity_summary() {
    let _machine = crate::common::machine::shared();
    let (profile, outcome) = capacity_search();
    insta::assert_snapshot!(report::capacity_search::summary(&profile, &outcome));
}

// ---------------------------------------------------------------------------------------
// simulate
// ---------------------------------------------------------------------------------------

#[test]
fn simulate_renderers() {
    let _machine = crate::common::machine::shared();
    let out = simulate_output();
    let simulated = out.search.as_ref().expect("--recommend").simulated;
    insta::assert_snapshot!(
        "simulate_summary",
        redact_simulated(&report::simulate::summary(out), simulated)
    );
    insta::assert_snapshot!(
        "simulate_timeline_csv",
        text(report::simulate::timeline_csv(out).expect("timeline"))
    );
    insta::assert_snapshot!(
        "simulate_events_csv",
        text(report::simulate::events_csv(out).expect("events"))
    );
    let json = report::simulate::json(out).expect("JSON");
    insta::assert_snapshot!(
        "simulate_json",
        round_json_floats(&redact_json(
            &json,
            "runtime",
            "wall time and thread scheduling"
        ))
    );
    let page = redact_version(&report::html::simulate_page(out));
    insta::assert_snapshot!(
        "simulate_html_structure",
        html_digest(&redact_simulated(&page, simulated))
    );
}

// ---------------------------------------------------------------------------------------
// forecast
// ---------------------------------------------------------------------------------------

#[test]
fn forecast_renderers() {
    let _machine = crate::common::machine::shared();
    let (series, calendar, result) = forecast_result();
    insta::assert_snapshot!("forecast_summary", report::forecast::render_summary(result));
    insta::assert_snapshot!("forecast_csv", report::forecast::render_csv(result));
    insta::assert_snapshot!(
        "forecast_json",
        round_json_floats(&report::forecast::render_json(result).expect("JSON"))
    );
    insta::assert_snapshot!(
        "forecast_chart",
        report::forecast::render_chart(series, result, 96, 10)
    );
    insta::assert_snapshot!(
        "forecast_html_structure",
        html_digest(&redact_version(&report::html::forecast_page(
            series, calendar, result
        )))
    );
}

/// The float rounding leaves strings, integers and layout alone.
#[test]
fn json_floats_are_rounded_outside_strings() {
    let _machine = crate::common::machine::shared();
    let text = "{\n  \"a\": 0.1234567890123,\n  \"b\": [1, -2.5e-7, 14003999.999999998],\n  \"c\": \"1.23456789012\\\" 3.0\"\n}";
    assert_eq!(
        round_json_floats(text),
        "{\n  \"a\": 0.123456789,\n  \"b\": [1, -0.00000025, 14004000.0],\n  \"c\": \"1.23456789012\\\" 3.0\"\n}"
    );
}

/// The digest itself: folding, text, charts.
#[test]
fn html_digest_folds_rows_and_keeps_headings() {
    let _machine = crate::common::machine::shared();
    let html = "<!DOCTYPE html>\n<html><body><h2>T &amp; U</h2><table><thead><tr><th>a</th></tr></thead>\
                <tbody><tr><td class=\"n\">1</td></tr><tr><td class=\"n\">2</td></tr></tbody></table>\
                <svg class=\"chart\" width=\"9\" height=\"4\"><title>C</title><path d=\"M0\"/></svg></body></html>";
    assert_eq!(
        html_digest(html),
        "html\n  body\n    h2 \"T &amp; U\"\n    table\n      thead\n        tr\n          th \"a\"\n      \
         tbody\n        tr × 2\n          td.n\n    svg.chart 9x4 \"C\"\n"
    );
}

// ---------------------------------------------------------------------------------------
// demo
// ---------------------------------------------------------------------------------------

/// `demo --html`: the three sections on one page, with their table of contents.
#[test]
fn demo_html_structure() {
    let _machine = crate::common::machine::shared();
    let load = load_result();
    let (series, calendar, forecast) = forecast_result();
    let simulation = simulate_output();
    let simulated = simulation.search.as_ref().expect("--recommend").simulated;
    let page = report::html::demo_page(&load, series, calendar, forecast, simulation);
    insta::assert_snapshot!(html_digest(&redact_simulated(
        &redact_version(&page),
        simulated
    )));
}
