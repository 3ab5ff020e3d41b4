//! A small SVG chart: lines, bands and stacked areas on a time, seconds or "nines"
//! x-axis, with shaded spans, event marks and horizontal rules. Pure: data in, text out.
//! Callers thin long series first (see `downsample`).
use std::fmt::Write as _;

use chrono::DateTime;

use super::esc;

/// Font list written on every chart, so a standalone SVG looks the same as in the page
/// and the PNG renderer finds its embedded font.
pub const FONT_FAMILY: &str = "Liberation Sans, Arial, Helvetica, sans-serif";

/// Colours used across the reports.
pub mod colors {
    pub const BLUE: &str = "#1f77b4";
    pub const ORANGE: &str = "#ff7f0e";
    pub const GREEN: &str = "#2ca02c";
    pub const RED: &str = "#d62728";
    pub const PURPLE: &str = "#9467bd";
    pub const GREY: &str = "#7f7f7f";
    pub const YELLOW: &str = "#e5ae38";
    pub const TEAL: &str = "#17becf";
}

/// What the x values mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum XAxis {
    /// Seconds since the start of a run.
    Seconds,
    /// Unix seconds, labelled on the wall clock of a UTC offset (seconds east).
    Time { offset_seconds: i32 },
    /// `-log10(1 - q)` of a quantile q: 0 = 0%, 1 = 90%, 2 = 99%, 3 = 99.9% ...
    Nines,
}

/// One thing drawn in the plot area.
#[derive(Debug, Clone)]
pub enum Layer {
    /// A polyline; `step` holds each value until the next x.
    Line {
        name: String,
        color: &'static str,
        points: Vec<(f64, f64)>,
        dashed: bool,
        step: bool,
    },
    /// A filled area between `(x, low, high)` triples.
    Area {
        name: String,
        color: &'static str,
        points: Vec<(f64, f64, f64)>,
        opacity: f64,
        step: bool,
    },
}

/// A shaded x range (a holiday), with a hover title.
#[derive(Debug, Clone)]
pub struct Span {
    pub x0: f64,
    pub x1: f64,
    pub label: String,
}

/// A mark on the time axis (a scale event), with a hover title.
#[derive(Debug, Clone)]
pub struct Mark {
    pub x: f64,
    /// Legend entry the mark belongs to, e.g. "scale up".
    pub group: &'static str,
    pub color: &'static str,
    /// Short text written beside the mark when there are few marks (a reason code).
    pub label: String,
    /// Hover text.
    pub title: String,
}

/// A horizontal reference line (an SLO).
#[derive(Debug, Clone)]
pub struct Rule {
    pub y: f64,
    pub label: String,
    pub color: &'static str,
}

/// A whole chart.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub y_label: String,
    pub x_axis: XAxis,
    pub width: f64,
    pub height: f64,
    /// Values above are drawn at this height (the title should say so).
    pub y_max: Option<f64>,
    pub layers: Vec<Layer>,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
    pub rules: Vec<Rule>,
}

/// Marks beyond this many are drawn without their text label.
const MAX_LABELLED_MARKS: usize = 30;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 40.0;

impl Chart {
    pub fn new(title: &str, y_label: &str, x_axis: XAxis) -> Chart {
        Chart {
            title: title.to_string(),
            y_label: y_label.to_string(),
            x_axis,
            width: 960.0,
            height: 300.0,
            y_max: None,
            layers: Vec::new(),
            spans: Vec::new(),
            marks: Vec::new(),
            rules: Vec::new(),
        }
    }

    pub fn line(self, name: &str, color: &'static str, points: Vec<(f64, f64)>) -> Self {
        self.with_line(name, color, points, false)
    }

    /// A line that holds each value until the next point (counts, a quantile curve).
    pub fn step_line(self, name: &str, color: &'static str, points: Vec<(f64, f64)>) -> Self {
        self.with_line(name, color, points, true)
    }

    fn with_line(
        mut self,
        name: &str,
        color: &'static str,
        points: Vec<(f64, f64)>,
        step: bool,
    ) -> Self {
        self.layers.push(Layer::Line {
            name: name.to_string(),
            color,
            points,
            dashed: false,
            step,
        });
        self
    }

    /// Render as a standalone `<svg>` element (valid as a file of its own too).
    pub fn render(&self) -> String {
        let frame = Frame::new(self);
        let mut s = String::with_capacity(16 * 1024);
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="{FONT_FAMILY}" font-size="12" role="img"><title>{t}</title><rect width="{w}" height="{h}" fill="#fff"/>"##,
            w = self.width,
            h = self.height,
            t = esc(&self.title)
        );
        let _ = write!(
            s,
            r##"<text x="{LEFT}" y="18" font-size="15" font-weight="bold" fill="#222">{}</text>"##,
            esc(&self.title)
        );
        self.render_spans(&frame, &mut s);
        frame.render_grid(self, &mut s);
        for layer in &self.layers {
            frame.render_layer(layer, &mut s);
        }
        self.render_rules(&frame, &mut s);
        self.render_marks(&frame, &mut s);
        self.render_legend(&mut s);
        s.push_str("</svg>");
        s
    }

    fn render_spans(&self, f: &Frame, s: &mut String) {
        for span in &self.spans {
            let (x0, x1) = (f.px(span.x0), f.px(span.x1));
            if x1 <= x0 {
                continue;
            }
            let _ = write!(
                s,
                r##"<rect class="span" x="{x0:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#f3d37a" fill-opacity="0.35"><title>{}</title></rect>"##,
                x1 - x0,
                f.plot_h,
                esc(&span.label)
            );
            if x1 - x0 > 40.0 {
                let _ = write!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#8a6d00">{}</text>"##,
                    x0 + 3.0,
                    TOP + 11.0,
                    esc(&span.label)
                );
            }
        }
    }

    fn render_rules(&self, f: &Frame, s: &mut String) {
        for rule in &self.rules {
            let y = f.py(rule.y);
            let _ = write!(
                s,
                r#"<line x1="{LEFT}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="{c}" stroke-width="1.5" stroke-dasharray="6 4"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11" fill="{c}">{}</text>"#,
                LEFT + f.plot_w,
                LEFT + f.plot_w - 4.0,
                y - 4.0,
                esc(&rule.label),
                c = rule.color
            );
        }
    }

    fn render_marks(&self, f: &Frame, s: &mut String) {
        let labelled = self.marks.len() <= MAX_LABELLED_MARKS;
        let bottom = TOP + f.plot_h;
        for m in &self.marks {
            let x = f.px(m.x);
            // Many marks get only their tick: full-height lines would hide the data.
            let line = if labelled {
                format!(
                    r#"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{bottom:.1}" stroke="{}" stroke-opacity="0.35"/>"#,
                    m.color
                )
            } else {
                String::new()
            };
            let _ = write!(
                s,
                r#"<g class="mark"><title>{t}</title>{line}<path d="M{x:.1} {b:.1}l-4 7h8z" fill="{c}"/></g>"#,
                t = esc(&m.title),
                b = bottom,
                c = m.color
            );
            if labelled && !m.label.is_empty() {
                let _ = write!(
                    s,
                    r#"<text transform="translate({:.1} {:.1}) rotate(-90)" font-size="9" fill="{}">{}</text>"#,
                    x - 2.0,
                    bottom - 4.0,
                    m.color,
                    esc(&m.label)
                );
            }
        }
    }

    fn render_legend(&self, s: &mut String) {
        // (name, colour, opacity of the swatch)
        let mut entries: Vec<(String, &str, f64)> = Vec::new();
        for layer in &self.layers {
            let (name, color, opacity) = match layer {
                Layer::Line { name, color, .. } => (name, color, 1.0),
                Layer::Area {
                    name,
                    color,
                    opacity,
                    ..
                } => (name, color, *opacity),
            };
            if !name.is_empty() {
                entries.push((name.clone(), color, opacity));
            }
        }
        for m in &self.marks {
            if !entries.iter().any(|(n, _, _)| n == m.group) {
                entries.push((m.group.to_string(), m.color, 1.0));
            }
        }
        for r in &self.rules {
            entries.push((r.label.clone(), r.color, 1.0));
        }
        let mut x = LEFT;
        for (name, color, opacity) in entries {
            let _ = write!(
                s,
                r##"<rect x="{x:.1}" y="27" width="12" height="10" fill="{color}" fill-opacity="{opacity}"/><text x="{:.1}" y="36" fill="#333">{}</text>"##,
                x + 16.0,
                esc(&name)
            );
            x += 28.0 + 6.5 * name.chars().count() as f64;
        }
    }
}

/// Data ranges and the mapping to pixels.
struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
    plot_w: f64,
    plot_h: f64,
}

impl Frame {
    fn new(chart: &Chart) -> Frame {
        let mut xs = (f64::INFINITY, f64::NEG_INFINITY);
        let mut ys = (0.0f64, f64::NEG_INFINITY);
        let mut see = |x: f64, y: f64| {
            if x.is_finite() {
                xs = (xs.0.min(x), xs.1.max(x));
            }
            if y.is_finite() {
                ys = (ys.0.min(y), ys.1.max(y));
            }
        };
        for layer in &chart.layers {
            match layer {
                Layer::Line { points, .. } => points.iter().for_each(|&(x, y)| see(x, y)),
                Layer::Area { points, .. } => points.iter().for_each(|&(x, lo, hi)| {
                    see(x, lo);
                    see(x, hi);
                }),
            }
        }
        for r in &chart.rules {
            see(f64::NAN, r.y);
        }
        if !xs.0.is_finite() {
            xs = (0.0, 1.0);
        }
        if xs.1 <= xs.0 {
            xs.1 = xs.0 + 1.0;
        }
        if let Some(max) = chart.y_max {
            ys.1 = ys.1.min(max);
        }
        if ys.1.partial_cmp(&ys.0) != Some(std::cmp::Ordering::Greater) {
            ys.1 = ys.0 + 1.0;
        }
        // Headroom, rounded to a tick.
        let step = nice_step((ys.1 - ys.0) / 5.0);
        let y1 = (ys.1 / step).ceil() * step;
        let y1 = if y1 <= ys.1 { y1 + step } else { y1 };
        Frame {
            x0: xs.0,
            x1: xs.1,
            y0: ys.0,
            y1,
            plot_w: chart.width - LEFT - RIGHT,
            plot_h: chart.height - TOP - BOTTOM,
        }
    }

    fn px(&self, x: f64) -> f64 {
        LEFT + (x.clamp(self.x0, self.x1) - self.x0) / (self.x1 - self.x0) * self.plot_w
    }

    fn py(&self, y: f64) -> f64 {
        let y = if y.is_finite() { y } else { self.y1 };
        TOP + self.plot_h
            - (y.clamp(self.y0, self.y1) - self.y0) / (self.y1 - self.y0) * self.plot_h
    }

    fn render_grid(&self, chart: &Chart, s: &mut String) {
        let bottom = TOP + self.plot_h;
        let right = LEFT + self.plot_w;
        let step = nice_step((self.y1 - self.y0) / 5.0);
        for (y, label) in linear_ticks(self.y0, self.y1, step) {
            let py = self.py(y);
            let _ = write!(
                s,
                r##"<line x1="{LEFT}" x2="{right:.1}" y1="{py:.1}" y2="{py:.1}" stroke="#e6e6e6"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#555">{label}</text>"##,
                LEFT - 6.0,
                py + 4.0,
            );
        }
        for (x, label) in x_ticks(chart.x_axis, self.x0, self.x1) {
            let px = self.px(x);
            // A label that would run off the chart's edge is aligned to the tick instead.
            let half_width = 3.4 * label.chars().count() as f64;
            let anchor = if px + half_width > chart.width {
                "end"
            } else if px < half_width {
                "start"
            } else {
                "middle"
            };
            let _ = write!(
                s,
                r##"<line x1="{px:.1}" x2="{px:.1}" y1="{TOP}" y2="{bottom:.1}" stroke="#f0f0f0"/><text x="{px:.1}" y="{:.1}" text-anchor="{anchor}" fill="#555">{}</text>"##,
                bottom + 16.0,
                esc(&label)
            );
        }
        let _ = write!(
            s,
            r##"<rect x="{LEFT}" y="{TOP}" width="{:.1}" height="{:.1}" fill="none" stroke="#999"/><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle" fill="#333">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333">{}</text>"##,
            self.plot_w,
            self.plot_h,
            TOP + self.plot_h / 2.0,
            esc(&chart.y_label),
            LEFT + self.plot_w / 2.0,
            chart.height - 4.0,
            x_axis_label(chart.x_axis)
        );
    }

    fn render_layer(&self, layer: &Layer, s: &mut String) {
        match layer {
            Layer::Line {
                color,
                points,
                dashed,
                step,
                ..
            } => {
                if points.is_empty() {
                    return;
                }
                let mut d = String::with_capacity(points.len() * 14);
                self.trace(points.iter().copied(), *step, &mut d);
                let dash = if *dashed {
                    r#" stroke-dasharray="5 3""#
                } else {
                    ""
                };
                let _ = write!(
                    s,
                    r#"<path d="{d}" fill="none" stroke="{color}" stroke-width="1.5" stroke-linejoin="round"{dash}/>"#
                );
            }
            Layer::Area {
                color,
                points,
                opacity,
                step,
                ..
            } => {
                if points.is_empty() {
                    return;
                }
                let mut d = String::with_capacity(points.len() * 28);
                self.trace(points.iter().map(|&(x, _, hi)| (x, hi)), *step, &mut d);
                let back = points.iter().rev().map(|&(x, lo, _)| (x, lo));
                if *step {
                    // Retrace the step shape backwards: from the last x, hold each low value.
                    let last_x = points.last().map_or(0.0, |p| p.0);
                    let mut prev_x = last_x;
                    for (x, lo) in back {
                        let _ = write!(
                            d,
                            "L{:.1} {:.1}H{:.1}",
                            self.px(prev_x),
                            self.py(lo),
                            self.px(x)
                        );
                        prev_x = x;
                    }
                } else {
                    for (x, lo) in back {
                        let _ = write!(d, "L{:.1} {:.1}", self.px(x), self.py(lo));
                    }
                }
                d.push('Z');
                let _ = write!(
                    s,
                    r#"<path d="{d}" fill="{color}" fill-opacity="{opacity}" stroke="none"/>"#
                );
            }
        }
    }

    /// Path commands through the points (M, then L or H/V for steps).
    fn trace(&self, points: impl Iterator<Item = (f64, f64)>, step: bool, d: &mut String) {
        let mut first = true;
        for (x, y) in points {
            let (px, py) = (self.px(x), self.py(y));
            if first {
                let _ = write!(d, "M{px:.1} {py:.1}");
                first = false;
            } else if step {
                let _ = write!(d, "H{px:.1}V{py:.1}");
            } else {
                let _ = write!(d, "L{px:.1} {py:.1}");
            }
        }
    }
}

fn x_axis_label(axis: XAxis) -> &'static str {
    match axis {
        XAxis::Seconds => "seconds since start",
        XAxis::Time { offset_seconds: 0 } => "time (UTC)",
        XAxis::Time { .. } => "time (local)",
        XAxis::Nines => "percentile",
    }
}

/// 1, 2 or 5 times a power of ten, near `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(raw.log10().floor());
    let fraction = raw / magnitude;
    let nice = if fraction <= 1.0 {
        1.0
    } else if fraction <= 2.0 {
        2.0
    } else if fraction <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// Every multiple of `step` in `[lo, hi]`, labelled with the decimals the step needs.
fn linear_ticks(lo: f64, hi: f64, step: f64) -> Vec<(f64, String)> {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    let mut ticks = Vec::new();
    let mut v = (lo / step).ceil() * step;
    while v <= hi + step * 1e-9 {
        ticks.push((v, format!("{v:.decimals$}")));
        v += step;
    }
    ticks
}

/// Tick positions and labels of the x-axis over `[x0, x1]`.
pub fn x_ticks(axis: XAxis, x0: f64, x1: f64) -> Vec<(f64, String)> {
    match axis {
        XAxis::Seconds => linear_ticks(x0, x1, nice_step((x1 - x0) / 8.0)),
        XAxis::Nines => (0..=x1.ceil().max(1.0) as i32)
            .filter(|&k| f64::from(k) <= x1 + 1e-9)
            .map(|k| (f64::from(k), nines_label(k)))
            .collect(),
        XAxis::Time { offset_seconds } => time_ticks(x0, x1, offset_seconds),
    }
}

/// `0%`, `90%`, `99%`, `99.9%` ... for k nines.
pub fn nines_label(k: i32) -> String {
    if k == 0 {
        return "0%".to_string();
    }
    let decimals = (k - 2).max(0) as usize;
    format!("{:.*}%", decimals, 100.0 - 10f64.powi(2 - k))
}

const TIME_STEPS: [f64; 20] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
    10800.0, 21600.0, 43200.0, 86400.0, 172800.0, 604800.0,
];

fn time_ticks(x0: f64, x1: f64, offset: i32) -> Vec<(f64, String)> {
    let range = x1 - x0;
    let step = TIME_STEPS
        .iter()
        .copied()
        .find(|s| range / s <= 8.0)
        .unwrap_or_else(|| (range / 8.0 / 604800.0).ceil() * 604800.0);
    let format = if step < 60.0 {
        "%H:%M:%S"
    } else if step < 86400.0 && range <= 86400.0 {
        "%H:%M"
    } else if step < 86400.0 {
        "%m-%d %H:%M"
    } else {
        "%Y-%m-%d"
    };
    let offset = f64::from(offset);
    // Ticks fall on whole steps of the local wall clock.
    let mut local = ((x0 + offset) / step).ceil() * step;
    let mut ticks = Vec::new();
    while local - offset <= x1 + 1e-6 {
        let label = DateTime::from_timestamp(local as i64, 0)
            .map(|t| t.naive_utc().format(format).to_string())
            .unwrap_or_default();
        ticks.push((local - offset, label));
        local += step;
    }
    ticks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_are_labelled_like_hdr_plots() {
        let labels: Vec<String> = (0..5).map(nines_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn nice_steps_are_one_two_five() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(36.0), 50.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn time_ticks_follow_the_local_clock() {
        // 2024-01-01 00:00 UTC, one day, shown at +01:00.
        let start = 1_704_067_200.0;
        let ticks = time_ticks(start, start + 86_400.0, 3600);
        assert!(ticks.len() >= 4 && ticks.len() <= 9, "{ticks:?}");
        assert_eq!(ticks[0].1, "03:00");
        assert_eq!(ticks[0].0, start + 2.0 * 3600.0);
    }

    #[test]
    fn chart_renders_layers_rules_and_marks() {
        let mut chart = Chart::new("p95 <&>", "ms", XAxis::Seconds).line(
            "p95",
            colors::BLUE,
            vec![(0.0, 1.0), (10.0, 5.0)],
        );
        chart.rules.push(Rule {
            y: 4.0,
            label: "SLO 4 ms".into(),
            color: colors::RED,
        });
        chart.marks.push(Mark {
            x: 5.0,
            group: "scale up",
            color: colors::ORANGE,
            label: "STEP_UP_CPU".into(),
            title: "scale_up 2 -> 3".into(),
        });
        let svg = chart.render();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("p95 &lt;&amp;&gt;"));
        assert!(svg.contains("SLO 4 ms"));
        assert!(svg.contains("STEP_UP_CPU"));
        assert!(svg.contains("<path d=\"M64.0 "), "{svg}");
    }

    #[test]
    fn values_above_the_cap_are_clamped_to_the_plot() {
        let mut chart = Chart::new("t", "ms", XAxis::Seconds).line(
            "x",
            colors::BLUE,
            vec![(0.0, 1.0), (1.0, 1e9)],
        );
        chart.y_max = Some(10.0);
        let frame = Frame::new(&chart);
        assert!(frame.y1 <= 20.0);
        assert_eq!(frame.py(1e9), TOP);
    }
}
