//! Terminal summary tables (comfy-table).
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, Table};

use crate::loadtest::aggregator::{EndpointSummary, LatencySummary};
use crate::loadtest::result::{ProtocolReport, RunResult, ShapeReport};
use crate::units::format_ms;

fn latency_cells(l: &LatencySummary) -> Vec<String> {
    [l.p50, l.p90, l.p95, l.p99, l.p99_9, l.max]
        .iter()
        .map(|v| format_ms(*v))
        .collect()
}

fn endpoint_row(e: &EndpointSummary, label: &str) -> Vec<String> {
    let mut row = vec![
        label.to_string(),
        e.requests.to_string(),
        format!(
            "{} ({:.1}%)",
            e.failures,
            100.0 * e.failures as f64 / e.requests.max(1) as f64
        ),
        format!("{:.1}", e.rps),
    ];
    row.extend(latency_cells(&e.latency_ms));
    row
}

/// What the load shape intended: its peak, length and (rate) requests in all.
fn shape_line(shape: &ShapeReport) -> String {
    match shape.intended_requests {
        Some(total) => format!(
            "shape: rate up to {:.1} rps over {:.1}s, {:.0} requests intended \
             (the history's intended_rps beside rps)\n",
            shape.peak, shape.duration_s, total
        ),
        None => format!(
            "shape: up to {:.0} users over {:.1}s (the history's intended_users beside users)\n",
            shape.peak, shape.duration_s
        ),
    }
}

/// The loadtest summary: per task and total, then service time (open model),
/// failures, thresholds and warnings.
pub fn loadtest_summary(result: &RunResult) -> String {
    let mut out = String::new();
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Name", "Requests", "Failures", "RPS", "p50", "p90", "p95", "p99", "p99.9", "max",
    ]);
    for e in &result.tasks {
        table.add_row(endpoint_row(e, &format!("{} {}", e.method, e.name)));
    }
    table.add_row(endpoint_row(&result.aggregate, "Total"));
    for column in 1..10 {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let latency_basis = if result.model == "open" {
        "latency from the intended send time (no coordinated omission)"
    } else {
        "latency per request"
    };
    out.push_str(&format!(
        "{} model, {:.1}s{}, {}\n{}\n{table}\n",
        result.model,
        result.duration_s,
        if result.interrupted {
            " (interrupted)"
        } else {
            ""
        },
        latency_basis,
        protocol_line(&result.protocol),
    ));
    if let Some(shape) = &result.shape {
        out.push_str(&shape_line(shape));
    }

    if let (Some(service), Some(rate)) = (&result.service_time_ms, &result.rate) {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "Open model",
            "p50",
            "p90",
            "p95",
            "p99",
            "p99.9",
            "max",
        ]);
        let mut latency = vec!["latency (from intended)".to_string()];
        latency.extend(latency_cells(&result.latency_ms));
        let mut serv = vec!["service time (from send)".to_string()];
        serv.extend(latency_cells(service));
        t.add_row(latency);
        t.add_row(serv);
        out.push_str(&format!(
            "{t}\nrate: intended {:.1} rps{}, achieved {:.1} rps, {:.1}% of sends on time (late > {}ms: {}, max {})\n",
            rate.intended_rps,
            if result.shape.is_some() {
                " (the shape's mean)"
            } else {
                ""
            },
            rate.achieved_rps,
            100.0 * result.rate_achieved.unwrap_or(0.0),
            rate.late_tolerance_ms,
            rate.late_sends,
            format_ms(rate.max_late_ms),
        ));
    }

    if !result.errors.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "Failures",
            "Name",
            "Error",
            "Occurrences",
        ]);
        for f in &result.errors {
            t.add_row(vec![
                Cell::new(&f.method),
                Cell::new(&f.name),
                Cell::new(&f.error),
                Cell::new(f.occurrences).set_alignment(CellAlignment::Right),
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    if !result.checks.is_empty() {
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "Checks",
            "Name",
            "Check or capture",
            "Passed",
            "Failed",
        ]);
        for c in &result.checks {
            t.add_row(vec![
                Cell::new(&c.method),
                Cell::new(&c.name),
                Cell::new(format!("{}: {}", c.kind, c.what)),
                Cell::new(c.passed).set_alignment(CellAlignment::Right),
                Cell::new(c.failed).set_alignment(CellAlignment::Right),
            ]);
        }
        out.push_str(&format!("{t}\n"));
    }
    for t in &result.thresholds {
        out.push_str(&format!(
            "threshold {}: {} (measured {})\n",
            t.expr,
            if t.passed { "passed" } else { "FAILED" },
            format_value(&t.expr, t.value)
        ));
    }
    for w in &result.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    out
}

/// What was spoken and what connections cost, in one line: `HTTP/2 over TLSv1.3 (ALPN h2),
/// 50 connections (48 TLS resumptions), connect p50 0.2ms p99 0.9ms, TLS handshake ...`.
pub fn protocol_line(p: &ProtocolReport) -> String {
    let mut line = p.http.clone();
    if let Some(tls) = &p.tls_version {
        line.push_str(&format!(" over {tls}"));
    }
    if let Some(alpn) = &p.alpn {
        line.push_str(&format!(" (ALPN {alpn})"));
    }
    line.push_str(&format!(", {} connections", p.connections_opened));
    if p.tls_version.is_some() {
        line.push_str(&format!(" ({} TLS resumptions)", p.tls_resumed));
    }
    if let Some(connect) = &p.connect_ms {
        line.push_str(&format!(
            ", connect p50 {} p99 {}",
            format_ms(connect.p50),
            format_ms(connect.p99)
        ));
    }
    if let Some(handshake) = &p.tls_handshake_ms {
        line.push_str(&format!(
            ", TLS handshake p50 {} p99 {}",
            format_ms(handshake.p50),
            format_ms(handshake.p99)
        ));
    }
    if p.negotiated.len() > 1 {
        let mixed: Vec<String> = p
            .negotiated
            .iter()
            .map(|n| {
                format!(
                    "{} {}/{}",
                    n.connections,
                    n.alpn.as_deref().unwrap_or("no ALPN"),
                    n.tls_version.as_deref().unwrap_or("plain")
                )
            })
            .collect();
        line.push_str(&format!("; mixed: {}", mixed.join(", ")));
    }
    line
}

/// A threshold's measured value with its unit.
pub fn format_value(expr: &str, value: f64) -> String {
    if expr.starts_with("error_rate") || expr.starts_with("errors") {
        format!("{:.3}%", value * 100.0)
    } else if expr.starts_with("rps") {
        format!("{value:.1} rps")
    } else {
        format_ms(value)
    }
}
