//! Capacity search: ramp the open-model rate in coarse steps until the SLO or the
//! error budget breaks, then bisect near the knee. The search is pure: it asks a
//! `measure(rate)` function for each step, so it can be tested without a server.
use serde::Serialize;

use crate::slo::LatencySlo;

/// What one step measured.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StepMeasurement {
    /// Offered (intended) rate, rps.
    pub offered_rps: f64,
    /// Completed requests per second.
    pub achieved_rps: f64,
    /// Latency percentiles from the intended send time, ms.
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The latency the SLO is about (its percentile), ms.
    pub slo_value_ms: f64,
    /// Failed share of requests, 0..1.
    pub error_rate: f64,
    /// Fraction of intended sends that left on time, 0..1.
    pub rate_achieved: f64,
    /// Trend of the per-second median latency through the measured window (see [`trend`]).
    pub trend: Trend,
}

/// Least-squares trend of a per-second latency series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Trend {
    /// Slope, ms per second.
    pub slope_ms_per_s: f64,
    /// The slope over its standard error (Student's t; 0 with fewer than 3 seconds).
    pub t: f64,
    /// Seconds the series covers.
    pub seconds: f64,
}

/// Largest |t| reported: a perfectly straight series has no scatter to divide by.
const T_CAP: f64 = 1e3;

/// Fit a line through the per-second medians of a step's measured window. In a stable
/// queue they scatter around a level; above capacity they climb, every percentile by
/// the same amount, at (offered - served) / served seconds per second.
pub fn trend(per_second_ms: &[f64]) -> Trend {
    let n = per_second_ms.len();
    let seconds = n as f64;
    if n < 3 {
        return Trend {
            seconds,
            ..Trend::default()
        };
    }
    let x_mean = (seconds - 1.0) / 2.0;
    let y_mean = per_second_ms.iter().sum::<f64>() / seconds;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (i, y) in per_second_ms.iter().enumerate() {
        let dx = i as f64 - x_mean;
        sxx += dx * dx;
        sxy += dx * (y - y_mean);
    }
    let slope = sxy / sxx;
    let residual: f64 = per_second_ms
        .iter()
        .enumerate()
        .map(|(i, y)| {
            let r = y - y_mean - slope * (i as f64 - x_mean);
            r * r
        })
        .sum();
    let standard_error = (residual / (seconds - 2.0) / sxx).sqrt();
    let t = if standard_error > 0.0 {
        (slope / standard_error).clamp(-T_CAP, T_CAP)
    } else if slope > 0.0 {
        T_CAP
    } else if slope < 0.0 {
        -T_CAP
    } else {
        0.0
    };
    Trend {
        slope_ms_per_s: slope,
        t,
        seconds,
    }
}

/// A trend counts when its slope is at least this many standard errors above zero.
/// Low on purpose: with 4 or 5 seconds and correlated seconds a strict test misses the
/// queue that is still filling towards a level over the SLO (just above the knee, where
/// a step starting with an empty queue looks better than the rate is); the projection
/// past the SLO is what keeps noise in a stable queue from failing a step.
pub const TREND_T: f64 = 1.0;

/// The queue is still growing, and by enough to matter: the trend is positive by at
/// least [`TREND_T`] standard errors, and continued for as long again as the window was measured it would take
/// the SLO's latency (`slo_value_ms`, measured over the whole window, so about its
/// middle) past the objective. A queue that is still filling towards a level under
/// the SLO, or noise in a stable one, does not fail the step.
pub fn growing_past(trend: &Trend, slo_value_ms: f64, slo: &LatencySlo) -> bool {
    if trend.seconds < 3.0 || trend.slope_ms_per_s <= 0.0 {
        return false;
    }
    let significant = trend.t >= TREND_T;
    let projected = slo_value_ms + trend.slope_ms_per_s * 1.5 * trend.seconds;
    significant && !slo.holds(projected)
}

/// The pass/fail rule of a step.
#[derive(Debug, Clone)]
pub struct SloRule {
    /// A latency threshold such as `p95<200ms`.
    pub slo: LatencySlo,
    /// Largest acceptable error rate, 0..1.
    pub max_error_rate: f64,
}

/// Why a step passed or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Holds,
    LatencyOverSlo,
    ErrorsOverBudget,
    RateNotKept,
    QueueGrowing,
}

impl SloRule {
    pub fn judge(&self, step: &StepMeasurement) -> Verdict {
        if step.error_rate > self.max_error_rate {
            Verdict::ErrorsOverBudget
        } else if !self.slo.holds(step.slo_value_ms) {
            Verdict::LatencyOverSlo
        } else if step.rate_achieved < 0.95 {
            // Sends not leaving on time means the offered load was not applied.
            Verdict::RateNotKept
        } else if growing_past(&step.trend, step.slo_value_ms, &self.slo) {
            Verdict::QueueGrowing
        } else {
            Verdict::Holds
        }
    }
}

/// How the search proceeds.
#[derive(Debug, Clone)]
pub struct SearchSettings {
    /// First rate tried, rps.
    pub start_rps: f64,
    /// Coarse ramp factor between steps (e.g. 1.5).
    pub growth: f64,
    /// Stop bisecting when (fail - pass) / pass is below this (e.g. 0.03).
    pub tolerance: f64,
    /// At most this many steps in all.
    pub max_steps: usize,
    /// Never offer more than this, rps.
    pub max_rps: f64,
}

/// One step of the search with its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub measurement: StepMeasurement,
    pub verdict: Verdict,
    /// `coarse`, `bisect` or `confirm`.
    pub phase: &'static str,
}

/// The outcome: the knee (highest rate that held) and every step.
#[derive(Debug, Clone, Serialize)]
pub struct SearchOutcome {
    /// Highest offered rate that held the SLO, rps (None: not even the lowest did).
    pub sustainable_rps: Option<f64>,
    /// Lowest offered rate that broke it, rps (None: the ramp hit `max_rps` first).
    pub breaking_rps: Option<f64>,
    pub steps: Vec<Step>,
}

/// Ramp, bisect, then confirm. `measure` runs one step at the given rate.
///
/// One step is one noisy sample near the knee, so the boundary is measured twice:
/// - when every bisection step held, the one failure bounding them may have been a
///   stall of the machine rather than the target's limit: it is measured again, and if
///   it holds now the ramp goes on from there (once per search);
/// - the knee itself is measured again (`confirm`); if it fails this time, the knee is
///   the next lower rate that held. A rate just above the knee can pass one short step
///   that starts with an empty queue; passing two is much less likely.
pub fn search<E>(
    settings: &SearchSettings,
    rule: &SloRule,
    mut measure: impl FnMut(f64, &'static str) -> Result<StepMeasurement, E>,
) -> Result<SearchOutcome, E> {
    let mut steps = Vec::new();
    let mut pass: Option<f64> = None;
    let mut fail: Option<f64> = None;
    let mut rate = settings.start_rps.min(settings.max_rps);
    let mut run = |rate: f64, phase: &'static str, steps: &mut Vec<Step>| -> Result<bool, E> {
        let measurement = measure(rate, phase)?;
        let verdict = rule.judge(&measurement);
        steps.push(Step {
            measurement,
            verdict,
            phase,
        });
        Ok(verdict == Verdict::Holds)
    };
    let mut failure_remeasured = false;

    loop {
        // Coarse: up by `growth` while it holds; down by halves if the first step fails.
        while steps.len() < settings.max_steps {
            let held = run(rate, "coarse", &mut steps)?;
            if held {
                pass = Some(rate);
                if fail.is_some() || rate >= settings.max_rps {
                    break;
                }
                rate = (rate * settings.growth).min(settings.max_rps);
            } else {
                fail = Some(rate);
                if pass.is_some() {
                    break;
                }
                rate /= 2.0;
                if rate < 0.5 {
                    break;
                }
            }
        }

        // Bisect between the highest pass and the lowest fail.
        let mut bisection_failed = false;
        while let (Some(low), Some(high)) = (pass, fail) {
            if steps.len() >= settings.max_steps || (high - low) / low <= settings.tolerance {
                break;
            }
            let mid = (low + high) / 2.0;
            if run(mid, "bisect", &mut steps)? {
                pass = Some(mid);
            } else {
                fail = Some(mid);
                bisection_failed = true;
            }
        }

        // Every bisection step held: was the failure above them real?
        match (pass, fail) {
            (Some(_), Some(high))
                if !bisection_failed
                    && !failure_remeasured
                    && steps.len() + 1 < settings.max_steps =>
            {
                failure_remeasured = true;
                if run(high, "confirm", &mut steps)? {
                    pass = Some(high);
                    fail = None;
                    if high >= settings.max_rps {
                        break;
                    }
                    rate = (high * settings.growth).min(settings.max_rps);
                    continue;
                }
            }
            _ => {}
        }
        break;
    }

    // Measure the knee once more.
    if let Some(knee) = pass {
        if steps.len() < settings.max_steps && !run(knee, "confirm", &mut steps)? {
            fail = Some(knee);
            pass = steps
                .iter()
                .filter(|s| s.verdict == Verdict::Holds && s.measurement.offered_rps < knee)
                .map(|s| s.measurement.offered_rps)
                .reduce(f64::max);
        }
    }
    Ok(SearchOutcome {
        sustainable_rps: pass,
        breaking_rps: fail,
        steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> SloRule {
        SloRule {
            slo: "p95<200ms".parse().unwrap(),
            max_error_rate: 0.01,
        }
    }

    fn settings() -> SearchSettings {
        SearchSettings {
            start_rps: 50.0,
            growth: 1.5,
            tolerance: 0.02,
            max_steps: 30,
            max_rps: 100_000.0,
        }
    }

    /// A server whose p95 explodes past `knee` rps.
    fn server(knee: f64) -> impl FnMut(f64, &'static str) -> Result<StepMeasurement, ()> {
        move |rate, _| {
            let p95 = if rate <= knee { 50.0 } else { 1000.0 };
            Ok(StepMeasurement {
                offered_rps: rate,
                achieved_rps: rate.min(knee),
                p50_ms: 20.0,
                p95_ms: p95,
                p99_ms: p95,
                slo_value_ms: p95,
                error_rate: 0.0,
                rate_achieved: 1.0,
                trend: Trend::default(),
            })
        }
    }

    #[test]
    fn finds_the_knee_within_tolerance() {
        let out = search(&settings(), &rule(), server(380.0)).unwrap();
        let knee = out.sustainable_rps.unwrap();
        let broke = out.breaking_rps.unwrap();
        assert!(knee <= 380.0 && broke > 380.0);
        assert!((broke - knee) / knee <= 0.02, "{knee} {broke}");
        assert!(out.steps.iter().any(|s| s.phase == "bisect"));
        // The knee is measured twice.
        let last = out.steps.last().unwrap();
        assert_eq!(
            (last.phase, last.measurement.offered_rps),
            ("confirm", knee)
        );
        // Coarse steps grow by 1.5: 50, 75, 112.5, ...
        assert_eq!(out.steps[1].measurement.offered_rps, 75.0);
    }

    #[test]
    fn steps_down_when_the_first_rate_already_fails() {
        let out = search(&settings(), &rule(), server(10.0)).unwrap();
        let knee = out.sustainable_rps.unwrap();
        assert!(knee <= 10.0 && knee > 5.0, "{knee}");
    }

    #[test]
    fn errors_over_budget_fail_a_step() {
        let mut s = server(1e9);
        let out = search(&settings(), &rule(), move |rate, phase| {
            let mut m = s(rate, phase)?;
            m.error_rate = if rate > 200.0 { 0.05 } else { 0.0 };
            Ok::<_, ()>(m)
        })
        .unwrap();
        let knee = out.sustainable_rps.unwrap();
        assert!(knee <= 200.0 && knee > 190.0, "{knee}");
        assert!(out
            .steps
            .iter()
            .any(|s| s.verdict == Verdict::ErrorsOverBudget));
    }

    #[test]
    fn a_failure_no_bisection_step_agrees_with_is_measured_again() {
        // The machine stalls during the second step (75 rps); the real knee is 380.
        let mut real = server(380.0);
        let mut calls = 0;
        let out = search(&settings(), &rule(), |rate, phase| {
            calls += 1;
            let mut m = real(rate, phase)?;
            if calls == 2 {
                m.slo_value_ms = 900.0;
            }
            Ok::<_, ()>(m)
        })
        .unwrap();
        let knee = out.sustainable_rps.unwrap();
        assert!(knee <= 380.0 && knee > 380.0 * 0.97, "{knee}");
        let again = out
            .steps
            .iter()
            .filter(|s| s.measurement.offered_rps == 75.0);
        assert_eq!(again.count(), 2);
    }

    #[test]
    fn a_knee_that_fails_its_confirmation_falls_to_the_next_rate_that_held() {
        // Just above 380 a step passes the first time it is tried at that rate.
        let mut real = server(380.0);
        let mut tried = Vec::new();
        let out = search(&settings(), &rule(), |rate, phase| {
            let lucky = rate > 380.0 && rate < 395.0 && !tried.contains(&rate.to_bits());
            tried.push(rate.to_bits());
            let mut m = real(rate, phase)?;
            if lucky {
                m.slo_value_ms = 150.0;
            }
            Ok::<_, ()>(m)
        })
        .unwrap();
        let knee = out.sustainable_rps.unwrap();
        assert!(knee <= 380.0, "{knee} {:?}", out.breaking_rps);
        let last = out.steps.last().unwrap();
        assert!(last.phase == "confirm" && last.verdict != Verdict::Holds);
        assert_eq!(out.breaking_rps, Some(last.measurement.offered_rps));
    }

    #[test]
    fn the_trend_is_a_least_squares_line_with_its_t() {
        let line = trend(&[10.0, 12.0, 14.0, 16.0]);
        assert!((line.slope_ms_per_s - 2.0).abs() < 1e-12);
        assert_eq!((line.t, line.seconds), (T_CAP, 4.0));
        let flat = trend(&[5.0, 5.0, 5.0]);
        assert_eq!((flat.slope_ms_per_s, flat.t), (0.0, 0.0));
        // y = 1, 3, 2, 4: slope 0.8, residuals -0.3, 0.9, -0.9, 0.3 (sum of squares 1.8),
        // standard error sqrt(1.8 / 2 / 5), t = 0.8 / 0.424 = 1.89.
        let noisy = trend(&[1.0, 3.0, 2.0, 4.0]);
        assert!((noisy.slope_ms_per_s - 0.8).abs() < 1e-12);
        assert!((noisy.t - 0.8 / 0.18f64.sqrt()).abs() < 1e-9, "{noisy:?}");
        assert_eq!(trend(&[3.0, 9.0]).t, 0.0);
    }

    #[test]
    fn a_queue_growing_past_the_slo_fails_a_step_that_looks_fine_on_average() {
        let rule = rule();
        // Above capacity: p95 of the window 150 ms, median climbing 25 ms/s for 5 s.
        let climbing = trend(&[40.0, 66.0, 88.0, 117.0, 139.0]);
        let mut step = server(1e9)(400.0, "bisect").unwrap();
        step.slo_value_ms = 150.0;
        step.trend = climbing;
        assert!(growing_past(&climbing, 150.0, &rule.slo));
        assert_eq!(rule.judge(&step), Verdict::QueueGrowing);
        // A queue still filling towards a level under the SLO: 60 ms + 4 ms/s * 7.5 s.
        let filling = trend(&[30.0, 35.0, 37.0, 42.0, 45.0]);
        assert!(filling.t > 5.0);
        assert!(!growing_past(&filling, 60.0, &rule.slo));
        // Noise: a steep slope within its standard error does not fail the step.
        let noise = trend(&[40.0, 90.0, 30.0, 100.0, 60.0]);
        assert!(noise.t < TREND_T, "{noise:?}");
        assert!(!growing_past(&noise, 180.0, &rule.slo));
        // Falling or too short: never growing.
        assert!(!growing_past(&trend(&[90.0, 60.0, 30.0]), 199.0, &rule.slo));
        assert!(!growing_past(&trend(&[10.0, 190.0]), 199.0, &rule.slo));
    }

    #[test]
    fn never_passes_gives_no_knee() {
        let out = search(&settings(), &rule(), |rate, _| {
            Ok::<_, ()>(StepMeasurement {
                offered_rps: rate,
                achieved_rps: rate,
                p50_ms: 500.0,
                p95_ms: 900.0,
                p99_ms: 900.0,
                slo_value_ms: 900.0,
                error_rate: 0.0,
                rate_achieved: 1.0,
                trend: Trend::default(),
            })
        })
        .unwrap();
        assert_eq!(out.sustainable_rps, None);
    }
}
