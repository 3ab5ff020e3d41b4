//! Self-contained HTML reports (`--html FILE`) and single charts (`--plot FILE.svg|png`).
//!
//! Every chart is SVG drawn here, server-side: the page needs no script, font or
//! stylesheet from anywhere, and shows its charts with JavaScript off. Each renderer
//! is a pure function from a command's result to a string.
pub mod downsample;
pub mod forecast;
pub mod loadtest;
pub mod plot;
#[cfg(test)]
mod sample;
pub mod simulate;
pub mod svg;

use std::fmt::Write as _;

use crate::forecast::holidays::HolidayCalendar;
use crate::forecast::result::ForecastResult;
use crate::forecast::series::HourlySeries;
use crate::loadtest::result::RunResult;
use crate::simulate::SimulateOutput;

/// Buckets of a downsampled series: about one per horizontal pixel of a chart.
pub const DISPLAY_BUCKETS: usize = 900;

/// Escape text for HTML and SVG (element content and quoted attributes).
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A table cell: text and an optional CSS class (`pass`, `fail`, `num`).
pub struct Cell {
    pub text: String,
    pub class: Option<&'static str>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, class: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell {
            text: text.to_string(),
            class: None,
        }
    }
}

/// The CSS class of a pass/fail figure: green or red.
pub fn pass_class(passed: bool) -> &'static str {
    if passed {
        "pass"
    } else {
        "fail"
    }
}

/// A pass/fail cell.
pub fn verdict(passed: bool) -> Cell {
    Cell {
        text: if passed { "PASS" } else { "FAIL" }.to_string(),
        class: Some(pass_class(passed)),
    }
}

/// A section's verdict as a large green or red line.
pub fn verdict_line(passed: bool, text: &str) -> String {
    format!(
        r#"<p class="verdict {}">{}</p>"#,
        pass_class(passed),
        esc(text)
    )
}

/// An HTML table; every cell is escaped.
pub fn table(head: &[&str], rows: Vec<Vec<Cell>>) -> String {
    let mut s = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(s, "<th>{}</th>", esc(h));
    }
    s.push_str("</tr></thead><tbody>");
    for row in rows {
        s.push_str("<tr>");
        for cell in row {
            let class = cell.class.or(looks_numeric(&cell.text).then_some("n"));
            match class {
                Some(class) => {
                    let _ = write!(s, r#"<td class="{class}">{}</td>"#, esc(&cell.text));
                }
                None => {
                    let _ = write!(s, "<td>{}</td>", esc(&cell.text));
                }
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// Figures are right-aligned, words left.
fn looks_numeric(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    digits.starts_with(|c: char| c.is_ascii_digit())
}

/// A definition list of `name: value` pairs (run parameters).
pub fn facts(pairs: &[(&str, String)]) -> String {
    let mut s = String::from(r#"<dl class="facts">"#);
    for (name, value) in pairs {
        let _ = write!(s, "<dt>{}</dt><dd>{}</dd>", esc(name), esc(value));
    }
    s.push_str("</dl>");
    s
}

/// Warnings or notes as a highlighted list (nothing when empty).
pub fn notes(class: &str, items: &[String]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut s = format!(r#"<ul class="{class}">"#);
    for item in items {
        let _ = write!(s, "<li>{}</li>", esc(item));
    }
    s.push_str("</ul>");
    s
}

const STYLE: &str = "\
body{font-family:'Liberation Sans',Arial,Helvetica,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}\
h1{font-size:24px;margin-bottom:4px}h2{font-size:20px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}\
h3{font-size:16px;margin:20px 0 8px}svg.chart{max-width:100%;height:auto;display:block;margin:8px 0 16px}\
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left}\
th{background:#f4f4f4}td.n,td.pass,td.fail{text-align:right}\
td.pass{color:#1a7f37;font-weight:bold}td.fail{color:#c62828;font-weight:bold}\
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 16px;font-size:14px}dt{color:#555}dd{margin:0}\
ul.warnings{background:#fff4e5;border-left:4px solid #f0a020;padding:8px 8px 8px 28px}\
ul.notes{background:#eef5ff;border-left:4px solid #5b8def;padding:8px 8px 8px 28px}\
p.verdict{font-size:18px;font-weight:bold}p.verdict.pass{color:#1a7f37}p.verdict.fail{color:#c62828}\
.small{font-size:12px;color:#666}";

/// A whole page around `body` (sections already rendered).
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head>\n<body><h1>{t}</h1>\n{body}\n\
         <p class=\"small\">Generated by capplan {v}. Charts are thinned for display (the highest and lowest value of each pixel column are kept); tables hold the exact figures.</p>\
         </body></html>\n",
        t = esc(title),
        v = env!("CARGO_PKG_VERSION"),
    )
}

/// The `loadtest --html` page.
pub fn loadtest_page(result: &RunResult) -> String {
    page("capplan loadtest report", &loadtest::section(result))
}

/// The `forecast --html` page.
pub fn forecast_page(
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    result: &ForecastResult,
) -> String {
    page(
        "capplan forecast report",
        &forecast::section(series, calendar, result),
    )
}

/// The `simulate --html` page.
pub fn simulate_page(output: &SimulateOutput) -> String {
    page("capplan simulate report", &simulate::section(output))
}

/// The `demo --html` page: the load test, the forecast and the simulation on one page.
pub fn demo_page(
    load: &RunResult,
    series: &HourlySeries,
    calendar: &HolidayCalendar,
    forecast: &ForecastResult,
    simulation: &SimulateOutput,
) -> String {
    let body = format!(
        "<nav><a href=\"#loadtest\">Load test</a> · <a href=\"#forecast\">Forecast</a> · <a href=\"#simulate\">Simulation</a></nav>\n{}\n{}\n{}",
        loadtest::section(load),
        forecast::section(series, calendar, forecast),
        simulate::section(simulation)
    );
    page("capplan demo report", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc(r#"<a href="x">&'"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn tables_escape_cells_and_mark_verdicts() {
        let html = table(
            &["expr", "verdict"],
            vec![vec!["p95<300ms".into(), verdict(false)]],
        );
        assert!(html.contains("<td>p95&lt;300ms</td>"));
        assert!(html.contains(r#"<td class="fail">FAIL</td>"#));
    }

    #[test]
    fn demo_page_holds_the_three_sections() {
        let load = sample::load_result();
        let (series, calendar, forecast) = sample::forecast_result();
        let simulation = sample::simulate_output(1440);
        let html = demo_page(&load, &series, &calendar, &forecast, &simulation);
        for id in ["loadtest", "forecast", "simulate"] {
            assert_eq!(
                html.matches(&format!("<section id=\"{id}\">")).count(),
                1,
                "{id}"
            );
        }
        let texts = [
            "Latency by percentile",
            "/api/order",
            "HTTPError: 500 Internal Server Error",
            "a &lt;warning&gt;",
            "Independence Day",
            "seasonal-naive",
            "Pre-warm schedule",
            "Instances by state",
            "STEP_UP_UTILIZATION",
            "SLO 300.0ms",
        ];
        for text in texts {
            assert!(html.contains(text), "{text:?} missing");
        }
        assert!(html.matches("<svg").count() >= 10);
        assert!(!html.contains("<script") && !html.contains("src="));
    }

    #[test]
    fn a_year_of_minutes_stays_small() {
        let year = sample::simulate_output(525_600);
        assert_eq!(year.result.timeline.len(), 525_600);
        let html = simulate_page(&year);
        assert!(html.len() < 5_000_000, "{} bytes", html.len());
        assert!(html.contains("Demand and capacity"));
    }

    #[test]
    fn page_is_self_contained() {
        let html = page("t", "<p>x</p>");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains("<script"));
    }
}
