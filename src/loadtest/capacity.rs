//! Capacity search: ramp the open-model rate in coarse steps until the SLO or the
//! error budget breaks, then bisect near the knee. The search is pure: it asks a
//! `measure(rate)` function for each step, so it can be tested without a server.
use serde::Serialize;

use crate::loadtest::threshold::Threshold;

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
    /// Per-second median latency, second half of the step minus first half, ms
    /// (see [`queue_growth`]); large and positive when the queue keeps growing.
    pub latency_growth_ms: f64,
    /// The first half's mean per-second median, ms (the growth is judged against it).
    pub early_p50_ms: f64,
}

/// Split per-second medians into halves: (mean of the first half, second half minus first).
/// A rate above capacity can look fine for a few seconds while its queue builds; the
/// growth of the median within the step shows it.
pub fn queue_growth(per_second_p50_ms: &[f64]) -> (f64, f64) {
    let n = per_second_p50_ms.len();
    if n < 2 {
        return (per_second_p50_ms.first().copied().unwrap_or(0.0), 0.0);
    }
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len() as f64;
    let (first, second) = per_second_p50_ms.split_at(n / 2);
    let early = mean(first);
    (early, mean(second) - early)
}

/// Growth beyond this (25 % of the early median, at least 5 ms) means the queue is not stable.
pub fn growing(early_p50_ms: f64, growth_ms: f64) -> bool {
    growth_ms > (0.25 * early_p50_ms).max(5.0)
}

/// The pass/fail rule of a step.
#[derive(Debug, Clone)]
pub struct SloRule {
    /// A latency threshold such as `p95<200ms`.
    pub slo: Threshold,
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
        } else if growing(step.early_p50_ms, step.latency_growth_ms) {
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
    /// `coarse` or `bisect`.
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

/// Ramp, then bisect. `measure` runs one step at the given rate.
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
    while let (Some(low), Some(high)) = (pass, fail) {
        if steps.len() >= settings.max_steps || (high - low) / low <= settings.tolerance {
            break;
        }
        let mid = (low + high) / 2.0;
        if run(mid, "bisect", &mut steps)? {
            pass = Some(mid);
        } else {
            fail = Some(mid);
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
                latency_growth_ms: 0.0,
                early_p50_ms: 20.0,
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
    fn a_growing_queue_fails_a_step_that_looks_fine_on_average() {
        let (early, growth) = queue_growth(&[80.0, 85.0, 120.0, 160.0]);
        assert_eq!(early, 82.5);
        assert_eq!(growth, 57.5);
        assert!(growing(early, growth));
        let (early, growth) = queue_growth(&[80.0, 95.0, 70.0, 90.0]);
        assert!(!growing(early, growth), "{early} {growth}");
        assert_eq!(queue_growth(&[3.0]), (3.0, 0.0));
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
                latency_growth_ms: 0.0,
                early_p50_ms: 500.0,
            })
        })
        .unwrap();
        assert_eq!(out.sustainable_rps, None);
    }
}
