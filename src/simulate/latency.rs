//! The latency of one step: the M/M/c model held to a finite horizon near
//! saturation, the fluid backlog on top, and a capacity profile's measured curve
//! where it has points (docs/simulate.md, *The latency model*).
//!
//! Three parts, each continuous and non-decreasing in the arrival rate, so their
//! sum is too:
//!
//! - **Stochastic queue** (per instance, `c` workers of rate `mu`, utilization
//!   `rho`): the exact M/M/c response-time p95 ([`super::queueing`]) scaled, for its
//!   waiting part, by how much of the steady-state queue can build within
//!   [`HORIZON_SECONDS`]. Near saturation the M/M/c steady state takes hours to
//!   reach (and is infinite at `rho = 1`); the queue is a reflected Brownian motion
//!   there (drift `lambda − c·mu`, variance `lambda + c·mu` per second), whose
//!   p95 after a horizon `H` from empty has a closed form. The factor
//!   `f = p95_RBM(H) / p95_RBM(∞)` is 1 far from saturation and falls to the
//!   horizon's finite value at `rho = 1`; at and above saturation the zero-drift
//!   value holds (the drift itself is the fluid backlog's).
//! - **Fluid backlog** (the whole fleet): arrivals beyond the service rate wait
//!   `Q(t) / X`. Over a step the backlog is monotone in time, so the p95 over the
//!   step's (evenly spread) arrivals is the wait at 95 % of the step when it grows
//!   and at 5 % when it drains: a backlog that empties in the first 3 s of a minute
//!   adds nothing to the p95.
//! - **Measured curve**: with a capacity profile, the stochastic part is the
//!   profile's measured p95 at the same rate per worker (interpolated linearly,
//!   made non-decreasing), and the model only outside the measured range, scaled
//!   to meet the curve at its ends.
//!
//! A step without arrivals has no latency: its p95 is NaN (an empty cell in the
//! timeline, never a breach).
use serde::Serialize;

use super::queueing::{erlang_c, p95_response, SERVICE_P95_SCALED};

/// p95 reported when nothing can be served, and the cap of every p95: one hour, ms.
pub const P95_CAP_MS: f64 = 3_600_000.0;

/// Tail probability whose quantile is the p95.
const TAIL: f64 = 0.05;

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e−7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Standard normal CDF.
fn phi(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// `P(Q(T) > x)` for a reflected Brownian motion started at 0 with drift `m`
/// and variance `s2` per unit time, after time `t`.
fn rbm_tail(x: f64, m: f64, s2: f64, t: f64) -> f64 {
    let sd = (s2 * t).sqrt();
    let reflected = if m == 0.0 {
        phi((-x) / sd)
    } else {
        (2.0 * m * x / s2).exp() * phi((-x - m * t) / sd)
    };
    (1.0 - phi((x - m * t) / sd)) + reflected
}

/// p95 of `Q(t)` for that motion, by bisection (the tail decreases in `x`; with
/// a negative drift it is below the steady state's `s2·ln 20 / (2|m|)`).
fn rbm_p95(m: f64, s2: f64, t: f64) -> f64 {
    let mut hi = if m < 0.0 {
        s2 * (1.0 / TAIL).ln() / (2.0 * -m) * (1.0 + 1e-9)
    } else {
        (s2 * t).sqrt() * 4.0 + m * t + 1.0
    };
    while rbm_tail(hi, m, s2, t) > TAIL {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..40 {
        let mid = 0.5 * (lo + hi);
        if rbm_tail(mid, m, s2, t) > TAIL {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Share of the steady-state queue p95 that builds within the horizon, at
/// utilization `rho < 1`; `x_h` is the dimensionless horizon `c·mu·H`.
fn horizon_factor(rho: f64, x_h: f64) -> f64 {
    // Time in units of 1 / (c·mu): drift rho − 1, variance 1 + rho.
    let (m, s2) = (rho - 1.0, 1.0 + rho);
    let steady = s2 * (1.0 / TAIL).ln() / (2.0 * -m);
    (rbm_p95(m, s2, x_h) / steady).min(1.0)
}

/// A capacity profile's measured load → p95 curve, per worker.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredCurve {
    /// Workers the curve was measured on, workers.
    workers: u32,
    /// Rate per worker, rps (increasing).
    rps_per_worker: Vec<f64>,
    /// p95 at that rate, ms (non-decreasing: a running maximum of the measurements).
    p95_ms: Vec<f64>,
}

impl MeasuredCurve {
    /// From `(rps, p95_ms)` points measured on `workers` workers. Points are sorted
    /// by rate; a dip in p95 at a higher rate is raised to the highest p95 below it
    /// (measurement noise must not make more load look faster). `Err` names the
    /// point (0-based) and field.
    pub fn new(points: &[(f64, f64)], workers: u32) -> Result<Self, String> {
        if workers == 0 {
            return Err("workers_measured: must be at least 1".into());
        }
        for (i, &(rps, p95)) in points.iter().enumerate() {
            if !(rps.is_finite() && rps > 0.0) {
                return Err(format!("curve[{i}].rps: {rps} must be a rate > 0"));
            }
            if !(p95.is_finite() && p95 > 0.0) {
                return Err(format!("curve[{i}].p95_ms: {p95} must be > 0"));
            }
        }
        let mut sorted: Vec<(f64, f64)> = points.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut rps_per_worker: Vec<f64> = Vec::new();
        let mut p95_ms: Vec<f64> = Vec::new();
        let mut highest: f64 = 0.0;
        for (rps, p95) in sorted {
            highest = highest.max(p95);
            let per_worker = rps / f64::from(workers);
            if rps_per_worker.last() == Some(&per_worker) {
                *p95_ms.last_mut().expect("same length") = highest;
            } else {
                rps_per_worker.push(per_worker);
                p95_ms.push(highest);
            }
        }
        if rps_per_worker.is_empty() {
            return Err("curve: no measured points".into());
        }
        Ok(MeasuredCurve {
            workers,
            rps_per_worker,
            p95_ms,
        })
    }

    /// Workers the curve was measured on.
    pub fn workers(&self) -> u32 {
        self.workers
    }

    /// Measured range of rate per worker, rps.
    pub fn range(&self) -> (f64, f64) {
        (
            self.rps_per_worker[0],
            *self.rps_per_worker.last().expect("not empty"),
        )
    }

    /// Interpolated p95 inside the range, ms.
    fn at(&self, r: f64) -> f64 {
        let xs = &self.rps_per_worker;
        let i = xs
            .partition_point(|&x| x <= r)
            .clamp(1, xs.len().max(2) - 1);
        if xs.len() == 1 {
            return self.p95_ms[0];
        }
        let (x0, x1) = (xs[i - 1], xs[i]);
        let f = ((r - x0) / (x1 - x0)).clamp(0.0, 1.0);
        self.p95_ms[i - 1] + (self.p95_ms[i] - self.p95_ms[i - 1]) * f
    }
}

/// Which latency a step's p95 came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The profile's measured curve (inside its range).
    Measured,
    /// The queueing model (no profile curve, or outside its range).
    Model,
    /// No arrivals: no latency.
    None,
}

/// The latency of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepLatency {
    /// p95 of the requests arriving in the step, ms (NaN without arrivals).
    pub p95_ms: f64,
    /// Requests waiting in the stochastic queues (all accepting instances), requests.
    pub queue: f64,
    pub source: Source,
}

/// One step's queueing state, as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct StepLoad {
    /// Arrivals, rps.
    pub lambda: f64,
    /// Service rate of the fleet (`E · c · mu`), rps.
    pub service_rate: f64,
    /// Instances accepting requests (in service and warming).
    pub accepting: f64,
    /// Fluid backlog at the step's start, requests.
    pub backlog_before: f64,
    /// Largest backlog the fleet holds, requests.
    pub backlog_limit: f64,
    /// Step length, seconds.
    pub dt: f64,
}

/// Grid points below `RHO_SPLIT`, uniform in `rho`.
const LOW_POINTS: usize = 1024;
const RHO_SPLIT: f64 = 0.9;
/// Grid points above, uniform in `u = −ln(1 − rho)`.
const HIGH_POINTS: usize = 1024;
const U_SPLIT: f64 = std::f64::consts::LN_10;
/// `rho` up to `1 − 1e−6`.
const U_MAX: f64 = 13.815_510_557_964_274;
/// Rows of the horizon table, uniform in `u` from where the horizon first matters to `U_MAX`.
const AGE_ROWS: usize = 320;
/// Columns: the age `H` uniform in `log2(H / 1 s)` from 0 to `AGE_LOG2_MAX`.
const AGE_COLUMNS: usize = 21;
const AGE_LOG2_MAX: f64 = 20.0;
/// Longest age the stochastic queue is given (2^20 s, about 12 days), seconds.
pub const MAX_AGE_SECONDS: f64 = 1_048_576.0;
/// A horizon factor this close to 1 is the steady state.
const STEADY: f64 = 0.9999;

/// The stochastic queue carried from step to step.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LatencyState {
    /// Mean requests waiting per instance at the end of the last step (0 at the
    /// start: the system starts empty). A step at utilization `rho` continues from
    /// the age at which the queue at `rho` would have grown to this (its
    /// *equivalent age*), so a constant load keeps ageing towards the M/M/c
    /// steady state, and a load that rises starts from the queue it finds.
    pub queue_per_instance: f64,
}

/// The latency model of one worker count (see the module comment).
#[derive(Debug, Clone)]
pub struct LatencyModel {
    servers: u32,
    mu: f64,
    /// Exact M/M/c (`mu · p95`, `Lq`) on the low grid, then the high grid (non-decreasing).
    low: Vec<(f64, f64)>,
    high: Vec<(f64, f64)>,
    /// Below this `u` the horizon never matters (the factor is 1 at an age of 1 s).
    u_age: f64,
    /// `rho` at `u_age`.
    rho_age: f64,
    /// (`mu · p95`, `Lq`) held to the age, rows over `u` in `u_age ..= U_MAX`, then
    /// one row for saturation; columns over the age.
    aged: Vec<(f64, f64)>,
    curve: Option<Scaled>,
}

/// The measured curve joined to the model at its ends.
#[derive(Debug, Clone)]
struct Scaled {
    curve: MeasuredCurve,
    /// Utilization at the ends of the measured range.
    rho_lo: f64,
    rho_hi: f64,
}

fn rho_of_u(u: f64) -> f64 {
    1.0 - (-u).exp()
}

fn age_of_column(j: usize) -> f64 {
    (AGE_LOG2_MAX * j as f64 / (AGE_COLUMNS - 1) as f64).exp2()
}

impl LatencyModel {
    /// For `servers` workers per instance of mean service time `1/mu` seconds,
    /// with a profile's measured curve when there is one.
    pub fn new(servers: u32, mu: f64, curve: Option<&MeasuredCurve>) -> Self {
        let c = f64::from(servers);
        let instance_rate = c * mu;
        // Exact M/M/c values in units where mu = 1.
        let exact = |rho: f64| {
            (
                p95_response(servers, rho * c, 1.0),
                erlang_c(servers, rho * c) * rho / (1.0 - rho),
            )
        };
        let mut low: Vec<(f64, f64)> = (0..LOW_POINTS)
            .map(|i| exact(RHO_SPLIT * i as f64 / (LOW_POINTS - 1) as f64))
            .collect();
        let mut high: Vec<(f64, f64)> = (0..HIGH_POINTS)
            .map(|i| {
                exact(rho_of_u(
                    U_SPLIT + (U_MAX - U_SPLIT) * i as f64 / (HIGH_POINTS - 1) as f64,
                ))
            })
            .collect();
        let mut best = (0.0_f64, 0.0_f64);
        for p in low.iter_mut().chain(high.iter_mut()) {
            best = (best.0.max(p.0), best.1.max(p.1));
            *p = best;
        }

        // Where the horizon starts to matter at the shortest age (1 s): bisection on u.
        let x1 = instance_rate; // c·mu·(1 s)
        let (mut lo, mut hi) = (0.01_f64, U_MAX);
        if horizon_factor(rho_of_u(lo), x1) < STEADY {
            hi = lo;
        }
        for _ in 0..50 {
            let mid = 0.5 * (lo + hi);
            if horizon_factor(rho_of_u(mid), x1) >= STEADY {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let u_age = lo.min(U_MAX - 1e-3);
        let mut model = LatencyModel {
            servers,
            mu,
            low,
            high,
            u_age,
            rho_age: rho_of_u(u_age),
            aged: Vec::new(),
            curve: None,
        };
        let mut aged = vec![(0.0, 0.0); (AGE_ROWS + 1) * AGE_COLUMNS];
        let last_u = U_MAX;
        for i in 0..AGE_ROWS {
            let u = u_age + (last_u - u_age) * i as f64 / (AGE_ROWS - 1) as f64;
            let rho = rho_of_u(u);
            let (p95, lq) = model.exact_at(rho);
            // The factor grows with the age: once steady, it stays 1.
            let mut steady = false;
            for j in 0..AGE_COLUMNS {
                let f = if steady {
                    1.0
                } else {
                    horizon_factor(rho, instance_rate * age_of_column(j))
                };
                steady = f >= STEADY;
                aged[i * AGE_COLUMNS + j] = (
                    SERVICE_P95_SCALED + (p95 - SERVICE_P95_SCALED).max(0.0) * f,
                    lq * f,
                );
            }
        }
        // Saturation: the last row's waiting part scaled from its horizon p95 to the
        // zero-drift one (the shape is the same so close to 1).
        let rho_last = rho_of_u(last_u);
        for j in 0..AGE_COLUMNS {
            let x_h = instance_rate * age_of_column(j);
            let scale = rbm_p95(0.0, 2.0, x_h) / rbm_p95(rho_last - 1.0, 1.0 + rho_last, x_h);
            let (p95, lq) = aged[(AGE_ROWS - 1) * AGE_COLUMNS + j];
            aged[AGE_ROWS * AGE_COLUMNS + j] = (
                SERVICE_P95_SCALED + (p95 - SERVICE_P95_SCALED) * scale,
                lq * scale,
            );
        }
        // Non-decreasing in rho (down each column) and in age (along each row).
        for j in 0..AGE_COLUMNS {
            let mut best = model.exact_at(rho_of_u(u_age));
            for i in 0..=AGE_ROWS {
                let p = &mut aged[i * AGE_COLUMNS + j];
                best = (best.0.max(p.0), best.1.max(p.1));
                *p = best;
            }
        }
        for i in 0..=AGE_ROWS {
            let mut best = (0.0_f64, 0.0_f64);
            for j in 0..AGE_COLUMNS {
                let p = &mut aged[i * AGE_COLUMNS + j];
                best = (best.0.max(p.0), best.1.max(p.1));
                *p = best;
            }
        }
        model.aged = aged;
        model.curve = curve.map(|curve| {
            let (lo, hi) = curve.range();
            Scaled {
                curve: curve.clone(),
                rho_lo: lo / mu,
                rho_hi: hi / mu,
            }
        });
        model
    }

    /// Workers per instance this model is for.
    pub fn servers(&self) -> u32 {
        self.servers
    }

    /// Whether a measured curve is used.
    pub fn has_curve(&self) -> bool {
        self.curve.is_some()
    }

    /// Exact M/M/c (`mu · p95`, `Lq`) at `rho < 1`, interpolated.
    #[inline]
    fn exact_at(&self, rho: f64) -> (f64, f64) {
        let (points, x) = if rho <= RHO_SPLIT {
            (
                &self.low,
                rho.max(0.0) * ((LOW_POINTS - 1) as f64 / RHO_SPLIT),
            )
        } else {
            let u = -(1.0 - rho.min(1.0)).max(1e-300).ln();
            let x = (u - U_SPLIT) * ((HIGH_POINTS - 1) as f64 / (U_MAX - U_SPLIT));
            (&self.high, x.min((HIGH_POINTS - 1) as f64))
        };
        let i = (x as usize).min(points.len() - 2);
        let f = x - i as f64;
        let (a, b) = (points[i], points[i + 1]);
        (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f)
    }

    /// (`mu · p95`, `Lq`) of the stochastic part at utilization `rho` after `age` seconds.
    #[inline]
    fn scaled_at(&self, rho: f64, age: f64) -> (f64, f64) {
        if rho <= self.rho_age {
            return self.exact_at(rho);
        }
        let u = if rho >= 1.0 {
            f64::INFINITY
        } else {
            -(1.0 - rho).ln()
        };
        // Row position: the grid over u, then a straight line from its last row to saturation.
        let row = if u <= U_MAX {
            (u - self.u_age) / (U_MAX - self.u_age) * (AGE_ROWS - 1) as f64
        } else {
            let rho_last = rho_of_u(U_MAX);
            (AGE_ROWS - 1) as f64 + ((rho.min(1.0) - rho_last) / (1.0 - rho_last)).clamp(0.0, 1.0)
        };
        let column =
            (age.clamp(1.0, MAX_AGE_SECONDS).log2() / AGE_LOG2_MAX) * (AGE_COLUMNS - 1) as f64;
        let (i, j) = (
            (row as usize).min(AGE_ROWS - 1),
            (column as usize).min(AGE_COLUMNS - 2),
        );
        let (fi, fj) = (row - i as f64, column - j as f64);
        let at = |i: usize, j: usize| self.aged[i * AGE_COLUMNS + j];
        let mix =
            |a: (f64, f64), b: (f64, f64), f: f64| (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f);
        mix(
            mix(at(i, j), at(i, j + 1), fj),
            mix(at(i + 1, j), at(i + 1, j + 1), fj),
            fi,
        )
    }

    /// Stochastic p95 (service included) at utilization `rho` after `age` seconds, ms, and its source.
    #[inline]
    pub fn stochastic_ms(&self, rho: f64, age: f64) -> (f64, Source) {
        self.with_curve(rho, age, self.scaled_at(rho, age).0 * 1000.0 / self.mu)
    }

    /// The model's stochastic p95 `at_rho` (ms) held to the measured curve.
    #[inline]
    fn with_curve(&self, rho: f64, age: f64, at_rho: f64) -> (f64, Source) {
        let model = |rho: f64| self.scaled_at(rho, age).0 * 1000.0 / self.mu;
        match &self.curve {
            None => (at_rho, Source::Model),
            // Outside the measured range: the model, scaled to meet the curve's end
            // at this age (so the two join continuously).
            Some(s) if rho < s.rho_lo => (
                at_rho * s.curve.at(s.rho_lo * self.mu) / model(s.rho_lo),
                Source::Model,
            ),
            Some(s) if rho > s.rho_hi => (
                at_rho * s.curve.at(s.rho_hi * self.mu) / model(s.rho_hi),
                Source::Model,
            ),
            Some(s) => (s.curve.at(rho * self.mu), Source::Measured),
        }
    }

    /// The age (seconds) at which the stochastic queue at `rho` reaches `queue`
    /// (`Lq` per instance): the inverse along the age of the table's row.
    fn equivalent_age(&self, rho: f64, queue: f64) -> f64 {
        let column_value = |j: f64| {
            self.scaled_at(rho, (AGE_LOG2_MAX * j / (AGE_COLUMNS - 1) as f64).exp2())
                .1
        };
        if queue <= column_value(0.0) {
            return 0.0;
        }
        let last = (AGE_COLUMNS - 1) as f64;
        if queue >= column_value(last) {
            return MAX_AGE_SECONDS;
        }
        let (mut lo, mut hi) = (0.0, last);
        for _ in 0..24 {
            let mid = 0.5 * (lo + hi);
            if column_value(mid) < queue {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (AGE_LOG2_MAX * 0.5 * (lo + hi) / last).exp2()
    }

    /// Whether the age matters at `rho` (else the queue is in its steady state within a second).
    #[inline]
    fn ages(&self, rho: f64) -> bool {
        rho > self.rho_age
    }

    /// The latency of one step; `state` carries the stochastic queue's age.
    #[inline]
    pub fn step(&self, state: &mut LatencyState, load: &StepLoad) -> StepLatency {
        let StepLoad {
            lambda,
            service_rate,
            accepting,
            backlog_before,
            backlog_limit,
            dt,
        } = *load;
        if service_rate <= 0.0 {
            let p95_ms = if lambda > 0.0 { P95_CAP_MS } else { f64::NAN };
            let source = if lambda > 0.0 {
                Source::Model
            } else {
                Source::None
            };
            return StepLatency {
                p95_ms,
                queue: 0.0,
                source,
            };
        }
        let rho = lambda / service_rate;
        let age = if self.ages(rho) {
            (self.equivalent_age(rho, state.queue_per_instance) + dt).min(MAX_AGE_SECONDS)
        } else {
            MAX_AGE_SECONDS
        };
        let (p95_scaled, per_instance) = self.scaled_at(rho, age);
        state.queue_per_instance = per_instance;
        let queue = per_instance * accepting;
        if lambda <= 0.0 {
            return StepLatency {
                p95_ms: f64::NAN,
                queue,
                source: Source::None,
            };
        }
        let (stochastic, source) = self.with_curve(rho, age, p95_scaled * 1000.0 / self.mu);
        let fluid = fluid_wait_p95(backlog_before, lambda, service_rate, dt, backlog_limit);
        StepLatency {
            p95_ms: (stochastic + fluid * 1000.0).min(P95_CAP_MS),
            queue,
            source,
        }
    }
}

/// p95 wait (seconds) from the fluid backlog over one step of arrivals spread
/// evenly in time: the backlog path is monotone within a step, so it is the wait
/// at 95 % of the step when growing and at 5 % when draining.
#[inline]
pub fn fluid_wait_p95(backlog: f64, lambda: f64, service_rate: f64, dt: f64, limit: f64) -> f64 {
    let slope = lambda - service_rate;
    let at = if slope > 0.0 { 0.95 * dt } else { 0.05 * dt };
    let q = (backlog + slope * at).max(0.0).min(limit.max(0.0));
    q / service_rate
}

/// The latency figures of a run (JSON `latency`, the summary's latency line).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyReport {
    /// `measured_curve` when a capacity profile's curve was used, else `mm_c`.
    pub model: &'static str,
    /// Measured range of rate per worker, rps (null without a curve).
    pub curve_rps_per_worker: Option<[f64; 2]>,
    /// Steps whose p95 came from the measured curve, steps.
    pub measured_steps: u32,
    /// Steps whose p95 came from the queueing model, steps.
    pub model_steps: u32,
    /// Steps without arrivals (no p95), steps.
    pub idle_steps: u32,
}

impl LatencyReport {
    pub fn new(curve: Option<&MeasuredCurve>, counts: [u32; 3]) -> Self {
        LatencyReport {
            model: if curve.is_some() {
                "measured_curve"
            } else {
                "mm_c"
            },
            curve_rps_per_worker: curve.map(|c| {
                let (lo, hi) = c.range();
                [lo, hi]
            }),
            measured_steps: counts[0],
            model_steps: counts[1],
            idle_steps: counts[2],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(lambda: f64, service_rate: f64) -> StepLoad {
        StepLoad {
            lambda,
            service_rate,
            accepting: 5.0,
            backlog_before: 0.0,
            backlog_limit: 1e9,
            dt: 60.0,
        }
    }

    /// p95 of each of `steps` one-minute steps at a constant rate, from an empty system.
    fn run(model: &LatencyModel, rate: f64, capacity: f64, steps: usize) -> Vec<f64> {
        let mut state = LatencyState::default();
        let mut backlog = 0.0_f64;
        (0..steps)
            .map(|_| {
                let mut l = load(rate, capacity);
                l.backlog_before = backlog;
                backlog = (backlog + (rate - capacity) * 60.0).max(0.0);
                model.step(&mut state, &l).p95_ms
            })
            .collect()
    }

    #[test]
    fn erfc_matches_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
        assert!((phi(1.959_964) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn far_from_saturation_it_is_the_exact_mmc_value() {
        let model = LatencyModel::new(4, 20.0, None);
        for rho in [0.0, 0.1, 0.5, 0.75, 0.9, 0.95] {
            let exact = super::super::queueing::p95_response(4, rho * 80.0, 20.0) * 1000.0;
            for (age, within) in [(60.0, 1e-2), (3600.0, 1e-3)] {
                let (got, source) = model.stochastic_ms(rho, age);
                assert!(
                    (got / exact - 1.0).abs() < within,
                    "rho {rho}: {got} vs {exact}"
                );
                assert_eq!(source, Source::Model);
            }
        }
    }

    #[test]
    fn near_saturation_the_queue_builds_with_time_towards_the_steady_state() {
        // 5 x 4 workers at mu = 20 (400 rps) under 399.6 rps: M/M/c steady state 37.5 s.
        let model = LatencyModel::new(4, 20.0, None);
        let steady = super::super::queueing::p95_response(4, 79.92, 20.0) * 1000.0;
        assert!((steady - 37_469.0).abs() < 10.0, "{steady}");
        let day = run(&model, 399.6, 400.0, 1440);
        assert!(day[0] > 300.0 && day[0] < 5000.0, "first minute {}", day[0]);
        assert!(day.windows(2).all(|w| w[1] >= w[0] - 1e-9));
        assert!(
            (day[1439] / steady - 1.0).abs() < 0.05,
            "a day later {}",
            day[1439]
        );
    }

    #[test]
    fn p95_is_continuous_and_non_decreasing_across_saturation() {
        // 5 instances x 4 workers at mu = 20: 400 rps. Each rate held for 30 minutes.
        let model = LatencyModel::new(4, 20.0, None);
        let mut previous: Option<Vec<f64>> = None;
        for i in 0..=2000 {
            let rate = 350.0 + 0.05 * f64::from(i); // 350 .. 450 rps
            let steps = run(&model, rate, 400.0, 30);
            if let Some(prev) = &previous {
                for (k, (&a, &b)) in prev.iter().zip(&steps).enumerate() {
                    assert!(b >= a - 1e-9, "{rate} rps, step {k}: {b} < {a}");
                    // No jump: at most 3 % (plus 1 ms) per 0.05 rps.
                    assert!(b - a <= 0.03 * a + 1.0, "{rate} rps, step {k}: {a} -> {b}");
                }
            }
            previous = Some(steps);
        }
        let at = |r: f64| run(&model, r, 400.0, 1)[0];
        assert!(at(400.0) > 300.0, "saturation is a breach: {}", at(400.0));
        assert!((at(400.0) - at(399.9999)).abs() < 1e-3 * at(400.0));
        assert!(at(404.0) > at(400.0));
    }

    #[test]
    fn draining_backlog_adds_only_while_it_lasts() {
        // 200 rps into 400 rps: 500 queued drain in 2.5 s of a 60 s step.
        assert_eq!(fluid_wait_p95(500.0, 200.0, 400.0, 60.0, 1e9), 0.0);
        // Growing 0 -> 600 at 20 rps: the wait at 95 % of the step, 28.5 s.
        assert!((fluid_wait_p95(0.0, 30.0, 20.0, 60.0, 1e9) - 28.5).abs() < 1e-9);
        // Draining 1200 -> 600 over the step: 5 % in, 1170 waiting.
        assert!((fluid_wait_p95(1200.0, 10.0, 20.0, 60.0, 1e9) - 58.5).abs() < 1e-9);
    }

    #[test]
    fn no_arrivals_no_latency() {
        let model = LatencyModel::new(4, 20.0, None);
        let mut l = load(0.0, 400.0);
        l.backlog_before = 5000.0;
        let step = model.step(&mut LatencyState::default(), &l);
        assert!(step.p95_ms.is_nan());
        assert_eq!(step.source, Source::None);
    }

    #[test]
    fn measured_curve_is_followed_and_joined() {
        // The fixture profile: 4 workers, p95 150/190/260/520 ms at 20/40/48/60 rps.
        let curve = MeasuredCurve::new(
            &[(20.0, 150.0), (40.0, 190.0), (48.0, 260.0), (60.0, 520.0)],
            4,
        )
        .unwrap();
        let model = LatencyModel::new(4, 20.0, Some(&curve));
        let mut state = LatencyState::default();
        for (rps, p95) in [(40.0, 190.0), (48.0, 260.0), (60.0, 520.0), (44.0, 225.0)] {
            let got = model.step(&mut state, &load(rps, 80.0));
            assert!((got.p95_ms - p95).abs() < 1e-6, "{rps}: {}", got.p95_ms);
            assert_eq!(got.source, Source::Measured);
        }
        // Beyond the last point: the model, scaled to meet it, still rising.
        let beyond = model.step(&mut state, &load(61.0, 80.0));
        assert_eq!(beyond.source, Source::Model);
        assert!(
            beyond.p95_ms > 520.0 && beyond.p95_ms < 560.0,
            "{}",
            beyond.p95_ms
        );
        // Below the first point: scaled to meet it.
        let below = model.step(&mut state, &load(19.999, 80.0));
        assert!((below.p95_ms - 150.0).abs() < 0.5, "{}", below.p95_ms);
        let mut previous = 0.0;
        for i in 1..2000 {
            let p = model
                .step(
                    &mut LatencyState::default(),
                    &load(f64::from(i) * 0.05, 80.0),
                )
                .p95_ms;
            assert!(
                p >= previous - 1e-9,
                "{}: {p} < {previous}",
                f64::from(i) * 0.05
            );
            previous = p;
        }
    }

    #[test]
    fn curve_errors_name_the_point() {
        assert_eq!(
            MeasuredCurve::new(&[(10.0, 5.0), (-1.0, 5.0)], 4).unwrap_err(),
            "curve[1].rps: -1 must be a rate > 0"
        );
        assert!(MeasuredCurve::new(&[], 4).is_err());
        // A dip is raised to the running maximum.
        let c = MeasuredCurve::new(&[(10.0, 50.0), (20.0, 40.0)], 1).unwrap();
        assert_eq!(c.at(20.0), 50.0);
    }
}
