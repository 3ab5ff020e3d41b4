//! Load shapes: the number of users (closed model) or the arrival rate (open model) as a
//! pure function of the time since the start, piecewise linear. `--stages`,
//! `--rate-stages`, `--shape FILE.csv` and `--replay` all become one [`Shape`]; the
//! engine asks it when each user starts and stops and when each intended send falls due.
use std::str::FromStr;

use crate::units::parse_duration;

/// What a shape gives over time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeKind {
    /// Users running (closed model).
    Users,
    /// Intended requests per second (open model).
    Rate,
}

/// A piecewise-linear function of time: straight between consecutive points, a jump
/// where two points share a time (the later value holds from that instant on). It
/// starts at t = 0 and ends at the last point, the run's length.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    kind: ShapeKind,
    /// (seconds since the start, value); times non-decreasing, the first at 0.
    points: Vec<(f64, f64)>,
    /// Integral of the value from 0 to each point (requests, or user-seconds).
    cumulative: Vec<f64>,
}

impl Shape {
    /// The shape through `points`: the first at t = 0, times non-decreasing, values
    /// finite and non-negative, and a positive length. Callers place errors; this
    /// says what is wrong.
    pub fn new(kind: ShapeKind, points: Vec<(f64, f64)>) -> Result<Shape, String> {
        match points.first() {
            None => return Err("a shape needs at least one stage".into()),
            Some(&(t, _)) if t != 0.0 => return Err("a shape starts at 0 s".into()),
            Some(_) => {}
        }
        for pair in points.windows(2) {
            if pair[1].0.is_nan() || pair[1].0 < pair[0].0 {
                return Err(format!(
                    "times must not go backwards ({} s after {} s)",
                    pair[1].0, pair[0].0
                ));
            }
        }
        if let Some(&(_, v)) = points.iter().find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            return Err(format!("{v} is not a non-negative number"));
        }
        let end = points.last().map_or(0.0, |p| p.0);
        if !(end.is_finite() && end > 0.0) {
            return Err("the shape must last longer than zero".into());
        }
        let mut cumulative = Vec::with_capacity(points.len());
        let mut total = 0.0;
        cumulative.push(0.0);
        for pair in points.windows(2) {
            total += (pair[1].0 - pair[0].0) * (pair[0].1 + pair[1].1) / 2.0;
            cumulative.push(total);
        }
        Ok(Shape {
            kind,
            points,
            cumulative,
        })
    }

    pub fn kind(&self) -> ShapeKind {
        self.kind
    }

    /// The points the shape runs through (seconds, value).
    pub fn points(&self) -> &[(f64, f64)] {
        &self.points
    }

    /// The run's length, s.
    pub fn duration(&self) -> f64 {
        self.points.last().map_or(0.0, |p| p.0)
    }

    /// The highest value anywhere.
    pub fn peak(&self) -> f64 {
        self.points.iter().map(|p| p.1).fold(0.0, f64::max)
    }

    /// The same shape with every value multiplied by `factor` (a shard's share, a
    /// thread's share, `--scale`).
    pub fn scaled(&self, factor: f64) -> Shape {
        Shape {
            kind: self.kind,
            points: self.points.iter().map(|&(t, v)| (t, v * factor)).collect(),
            cumulative: self.cumulative.iter().map(|c| c * factor).collect(),
        }
    }

    /// The same shape with every value v replaced by `v * scale + offset` (`scale` > 0,
    /// `offset` >= 0): straight pieces stay straight.
    pub fn affine(&self, scale: f64, offset: f64) -> Shape {
        let points = self
            .points
            .iter()
            .map(|&(t, v)| (t, v * scale + offset))
            .collect();
        Shape::new(self.kind, points)
            .expect("an affine map of a shape with scale > 0 and offset >= 0 is a shape")
    }

    /// Index of the segment holding `t`: the last point at or before `t` (after a jump,
    /// the jump's later point), clamped so that `i + 1` is a point.
    fn segment(&self, t: f64) -> usize {
        let at_or_before = self.points.partition_point(|p| p.0 <= t);
        at_or_before.saturating_sub(1).min(self.points.len() - 1)
    }

    /// The value at `t` s; 0 before the start and after the end.
    pub fn value_at(&self, t: f64) -> f64 {
        if !(0.0..=self.duration()).contains(&t) {
            return 0.0;
        }
        let i = self.segment(t);
        match self.points.get(i + 1) {
            None => self.points[i].1,
            Some(&(t1, v1)) => {
                let (t0, v0) = self.points[i];
                if t1 == t0 {
                    v1
                } else {
                    v0 + (v1 - v0) * (t - t0) / (t1 - t0)
                }
            }
        }
    }

    /// The integral of the value from 0 to `t` (requests due by `t`, for a rate).
    pub fn cumulative_at(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.duration());
        let i = self.segment(t);
        let (t0, v0) = self.points[i];
        let dt = t - t0;
        self.cumulative[i] + dt * (v0 + self.value_at(t)) / 2.0
    }

    /// The integral of the value over [from, to].
    pub fn integral(&self, from: f64, to: f64) -> f64 {
        (self.cumulative_at(to) - self.cumulative_at(from)).max(0.0)
    }

    /// The integral over the whole shape (requests, for a rate).
    pub fn total(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    /// The time at which the integral reaches `amount`; `None` when it never does
    /// before the end. Sends of the open model fall due at the inverse of the
    /// cumulative rate: evenly spaced when `amount` counts 0, 1, 2 ..., a
    /// non-homogeneous Poisson process when it adds exponential gaps of mean 1.
    pub fn time_of_cumulative(&self, amount: f64) -> Option<f64> {
        if amount.is_nan() || amount < 0.0 || amount > self.total() {
            return None;
        }
        // The first point whose cumulative reaches the amount closes the segment.
        let after = self.cumulative.partition_point(|c| *c < amount);
        if after == 0 {
            // amount is 0: the first instant the rate is positive.
            return self.first_positive();
        }
        let i = after - 1;
        let (t0, v0) = self.points[i];
        let (t1, v1) = self.points[after];
        let length = t1 - t0;
        // value(t0 + x) = v0 + k x; integral = v0 x + k x^2 / 2 = need, solved in the
        // form that stays exact when v0 is 0 or k is 0, on values divided by the
        // segment's largest so that squaring cannot overflow.
        let unit = v0.max(v1);
        let (v0, v1) = (v0 / unit, v1 / unit);
        let need = (amount - self.cumulative[i]) / unit;
        let k = (v1 - v0) / length;
        let root = (v0 * v0 + 2.0 * k * need).max(0.0).sqrt();
        let x = if v0 + root > 0.0 {
            2.0 * need / (v0 + root)
        } else {
            0.0
        };
        Some(t0 + x.clamp(0.0, length))
    }

    fn first_positive(&self) -> Option<f64> {
        self.next_at_least(f64::MIN_POSITIVE, 0.0)
    }

    /// The first time at or after `from` when the value is at least `level`; `None`
    /// when it never is before the end. User `u` runs while the users shape is at
    /// least `u + 1`.
    pub fn next_at_least(&self, level: f64, from: f64) -> Option<f64> {
        self.next_crossing(from, |v| v >= level, level)
    }

    /// The first time at or after `from` when the value is below `level`; `None` when
    /// it stays at or above it to the end.
    pub fn next_below(&self, level: f64, from: f64) -> Option<f64> {
        self.next_crossing(from, |v| v < level, level)
    }

    fn next_crossing(&self, from: f64, holds: impl Fn(f64) -> bool, level: f64) -> Option<f64> {
        let end = self.duration();
        if from > end {
            return None;
        }
        let from = from.max(0.0);
        for i in self.segment(from)..self.points.len() {
            let (t0, v0) = self.points[i];
            let start = from.max(t0);
            let Some(&(t1, v1)) = self.points.get(i + 1) else {
                // The last point: its value holds at the end instant only.
                return holds(v0).then_some(start);
            };
            if t1 == t0 {
                continue;
            }
            let v_start = v0 + (v1 - v0) * (start - t0) / (t1 - t0);
            if holds(v_start) {
                return Some(start);
            }
            if v1 != v_start {
                // Linear: the crossing is where the value meets the level.
                let x = t0 + (level - v0) * (t1 - t0) / (v1 - v0);
                if x < t1 && holds(v1) {
                    // Moving toward the level: x is after `start` but for rounding.
                    return Some(x.max(start));
                }
            }
        }
        None
    }
}

/// One k6 stage: ramp linearly to `target` over `duration` seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: f64,
    pub target: f64,
}

/// `--stages` / `--rate-stages`: `DURATION:TARGET` stages separated by commas, e.g.
/// `30s:50,2m:500,30s:0` (k6's stages). A `0s` stage jumps.
#[derive(Debug, Clone, PartialEq)]
pub struct Stages(pub Vec<Stage>);

impl FromStr for Stages {
    type Err = String;

    fn from_str(text: &str) -> Result<Stages, String> {
        let mut stages = Vec::new();
        for (n, item) in text.split(',').enumerate() {
            let item = item.trim();
            let (duration, target) = item.split_once(':').ok_or_else(|| {
                format!(
                    "stage {} '{item}' must look like DURATION:TARGET, e.g. 30s:50",
                    n + 1
                )
            })?;
            let duration = parse_duration(duration)
                .map_err(|why| format!("stage {} '{item}': {why}", n + 1))?;
            let target: f64 = target.trim().parse().map_err(|_| {
                format!(
                    "stage {} '{item}': '{}' is not a number",
                    n + 1,
                    target.trim()
                )
            })?;
            if !(target.is_finite() && target >= 0.0) {
                return Err(format!(
                    "stage {} '{item}': the target must be a non-negative number",
                    n + 1
                ));
            }
            stages.push(Stage {
                duration: duration.as_secs_f64(),
                target,
            });
        }
        Ok(Stages(stages))
    }
}

impl Stages {
    /// The shape: from 0 at the start, each stage ramps from where the last ended.
    pub fn shape(&self, kind: ShapeKind) -> Result<Shape, String> {
        let mut points = vec![(0.0, 0.0)];
        let mut t = 0.0;
        for stage in &self.0 {
            t += stage.duration;
            points.push((t, stage.target));
        }
        Shape::new(kind, points)
    }
}

/// One row of a shape file (Locust's LoadTestShape as a table): from `offset` on, the
/// target is `value`, reached at once or, for users with a spawn rate, at `spawn_rate`
/// users a second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub offset: f64,
    pub value: f64,
    pub spawn_rate: Option<f64>,
}

/// The shape of steps; the last step's offset is the end of the run. Offsets must
/// increase; the caller checked each value.
pub fn shape_of_steps(kind: ShapeKind, steps: &[Step]) -> Result<Shape, String> {
    let mut points: Vec<(f64, f64)> = Vec::new();
    let mut current = 0.0;
    for (n, step) in steps.iter().enumerate() {
        // Where the previous step left the value at this step's offset.
        if let Some(prev) = n.checked_sub(1).map(|p| steps[p]) {
            current = ramp_value(current, prev, step.offset);
            points.push((step.offset, current));
        } else if step.offset > 0.0 {
            points.push((0.0, 0.0));
            points.push((step.offset, 0.0));
        }
        let is_last = n + 1 == steps.len();
        if is_last {
            break;
        }
        match step.spawn_rate {
            None => {
                current = step.value;
                points.push((step.offset, current));
            }
            Some(rate) => {
                points.push((step.offset, current));
                let reach = step.offset + (step.value - current).abs() / rate;
                let next = steps[n + 1].offset;
                if reach < next {
                    points.push((reach, step.value));
                }
            }
        }
    }
    points.dedup();
    Shape::new(kind, points)
}

/// The value at `t` of a ramp that starts at `from` at `step.offset` toward `step.value`.
fn ramp_value(from: f64, step: Step, t: f64) -> f64 {
    match step.spawn_rate {
        None => step.value,
        Some(rate) => {
            let moved = rate * (t - step.offset);
            if step.value >= from {
                (from + moved).min(step.value)
            } else {
                (from - moved).max(step.value)
            }
        }
    }
}

/// `--replay`: one rate per interval of `interval` seconds of the file, each played
/// for `interval / speedup` seconds at `rate * scale`.
pub fn replay_shape(
    rates: &[f64],
    interval: f64,
    speedup: f64,
    scale: f64,
) -> Result<Shape, String> {
    let step = interval / speedup;
    let mut points: Vec<(f64, f64)> = Vec::with_capacity(2 * rates.len());
    for (i, rate) in rates.iter().enumerate() {
        let (from, to, value) = (i as f64 * step, (i + 1) as f64 * step, rate * scale);
        match points.last_mut() {
            // A run of equal rows is one flat piece: a day of one-second rows at a
            // steady rate stays a few points.
            Some(last) if last.1 == value => last.0 = to,
            _ => {
                points.push((from, value));
                points.push((to, value));
            }
        }
    }
    Shape::new(ShapeKind::Rate, points)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stages(text: &str) -> Shape {
        text.parse::<Stages>()
            .unwrap()
            .shape(ShapeKind::Users)
            .unwrap()
    }

    #[test]
    fn k6_stages_ramp_linearly_from_zero() {
        let s = stages("30s:50,2m:500,30s:0");
        assert_eq!(s.duration(), 180.0);
        assert_eq!(s.value_at(0.0), 0.0);
        assert_eq!(s.value_at(15.0), 25.0);
        assert_eq!(s.value_at(30.0), 50.0);
        assert_eq!(s.value_at(90.0), 275.0);
        assert_eq!(s.value_at(165.0), 250.0);
        assert_eq!(s.value_at(180.0), 0.0);
        assert_eq!(s.peak(), 500.0);
        // 30*50/2 + 120*(50+500)/2 + 30*500/2
        assert_eq!(s.total(), 750.0 + 33_000.0 + 7_500.0);
        assert_eq!(s.integral(0.0, 30.0), 750.0);
    }

    #[test]
    fn stage_grammar_errors_name_the_stage() {
        for (bad, says) in [
            ("30s", "DURATION:TARGET"),
            ("30:50", "no unit"),
            ("30s:many", "not a number"),
            ("30s:10,1m:-1", "stage 2"),
            ("30s:inf", "non-negative"),
        ] {
            let err = bad.parse::<Stages>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let zero = "0s:5".parse::<Stages>().unwrap().shape(ShapeKind::Rate);
        assert!(zero.unwrap_err().contains("longer than zero"));
    }

    #[test]
    fn a_zero_length_stage_jumps() {
        let s = "0s:100,10s:100".parse::<Stages>().unwrap();
        let s = s.shape(ShapeKind::Rate).unwrap();
        assert_eq!(s.value_at(0.0), 100.0);
        assert_eq!(s.value_at(5.0), 100.0);
        assert_eq!(s.total(), 1000.0);
        assert_eq!(s.time_of_cumulative(0.0), Some(0.0));
        assert_eq!(s.time_of_cumulative(500.0), Some(5.0));
    }

    #[test]
    fn the_inverse_of_the_cumulative_rate_places_every_send() {
        let s = "10s:100,10s:0".parse::<Stages>().unwrap();
        let s = s.shape(ShapeKind::Rate).unwrap();
        assert_eq!(s.total(), 1000.0);
        // On the ramp up, n sends are due by sqrt(2 n / k) with k = 10 per s^2.
        let t = s.time_of_cumulative(20.0).unwrap();
        assert!((t - 2.0).abs() < 1e-12, "{t}");
        for n in [0.5, 1.0, 37.0, 499.0, 500.0, 501.0, 999.0, 1000.0] {
            let t = s.time_of_cumulative(n).unwrap();
            assert!((s.cumulative_at(t) - n).abs() < 1e-6, "{n}: {t}");
        }
        assert_eq!(s.time_of_cumulative(1000.5), None);
        // Rate 0 until 5 s: the first send waits for it.
        let late = Shape::new(
            ShapeKind::Rate,
            vec![(0.0, 0.0), (5.0, 0.0), (5.0, 2.0), (10.0, 2.0)],
        )
        .unwrap();
        assert_eq!(late.time_of_cumulative(0.0), Some(5.0));
        assert_eq!(late.time_of_cumulative(1.0), Some(5.5));
    }

    #[test]
    fn users_start_and_stop_where_the_shape_crosses_their_level() {
        let s = stages("10s:10,10s:10,10s:0");
        // User 4 (level 5) starts at 5 s and stops when the ramp down passes 5.
        assert_eq!(s.next_at_least(5.0, 0.0), Some(5.0));
        let stop = s.next_below(5.0, 5.0).unwrap();
        assert!((stop - 25.0).abs() < 1e-9, "{stop}");
        // The last user starts at the top and runs while it holds.
        assert_eq!(s.next_at_least(10.0, 0.0), Some(10.0));
        assert_eq!(s.next_below(10.0, 10.0), Some(20.0));
        // Never reached.
        assert_eq!(s.next_at_least(11.0, 0.0), None);
        // Ramp up, down and up again: a user comes back.
        let twice = stages("5s:4,5s:0,5s:4");
        let first = twice.next_at_least(2.0, 0.0).unwrap();
        let gone = twice.next_below(2.0, first).unwrap();
        // At the crossing itself the value is the level: look just after it, as the engine does.
        let again = twice.next_at_least(2.0, gone + 1e-6).unwrap();
        assert!((first - 2.5).abs() < 1e-9 && (gone - 7.5).abs() < 1e-9);
        assert!((again - 12.5).abs() < 1e-9, "{again}");
    }

    #[test]
    fn scaling_multiplies_values_and_integrals_alike() {
        let s = stages("30s:50,2m:500,30s:0");
        let half = s.scaled(0.5);
        assert_eq!(half.total(), s.total() / 2.0);
        assert_eq!(half.value_at(90.0), 137.5);
        assert_eq!(half.duration(), s.duration());
        let t = half.time_of_cumulative(1000.0).unwrap();
        assert!((t - s.time_of_cumulative(2000.0).unwrap()).abs() < 1e-9);
    }

    #[test]
    fn locust_steps_hold_or_ramp_at_their_spawn_rate() {
        let step = |offset, value, spawn_rate| Step {
            offset,
            value,
            spawn_rate,
        };
        let s = shape_of_steps(
            ShapeKind::Users,
            &[
                step(0.0, 10.0, Some(2.0)),
                step(20.0, 50.0, None),
                step(30.0, 0.0, Some(10.0)),
                step(33.0, 0.0, None),
            ],
        )
        .unwrap();
        assert_eq!(s.value_at(0.0), 0.0);
        assert_eq!(s.value_at(2.5), 5.0);
        assert_eq!(s.value_at(10.0), 10.0);
        assert_eq!(s.value_at(20.0), 50.0);
        assert_eq!(s.value_at(31.0), 40.0);
        // The ramp down was cut short by the end at 33 s.
        assert_eq!(s.value_at(33.0), 20.0);
        assert_eq!(s.duration(), 33.0);
        let rates = shape_of_steps(
            ShapeKind::Rate,
            &[step(5.0, 100.0, None), step(10.0, 0.0, None)],
        )
        .unwrap();
        assert_eq!(rates.value_at(4.0), 0.0);
        assert_eq!(rates.value_at(5.0), 100.0);
        assert_eq!(rates.total(), 500.0);
    }

    #[test]
    fn a_replay_plays_each_interval_for_its_share_of_the_speedup() {
        // Two minutes of a file at 60x: two seconds, each at the minute's rate x scale.
        let s = replay_shape(&[100.0, 300.0], 60.0, 60.0, 0.5).unwrap();
        assert_eq!(s.duration(), 2.0);
        assert_eq!(s.value_at(0.5), 50.0);
        assert_eq!(s.value_at(1.5), 150.0);
        assert_eq!(s.total(), 200.0);
        // Equal neighbours merge into one flat piece.
        let flat = replay_shape(&[5.0, 5.0, 5.0, 7.0], 1.0, 1.0, 1.0).unwrap();
        assert_eq!(
            flat.points(),
            [(0.0, 5.0), (3.0, 5.0), (3.0, 7.0), (4.0, 7.0)]
        );
        assert_eq!(flat.total(), 22.0);
    }
}
