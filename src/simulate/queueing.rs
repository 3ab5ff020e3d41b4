//! M/M/c (Erlang C) formulas and a per-`c` lookup table for the step loop.
//!
//! An instance with `c` workers of service rate `mu` under arrival rate
//! `lambda` (offered load `A = lambda/mu` Erlang, utilization `rho = A/c`):
//!
//! - Erlang C, the probability of waiting: `C = c·B / (c − A·(1 − B))`, with the
//!   Erlang B value `B` from the stable recursion `B_0 = 1`, `B_k = A·B_{k−1} / (k + A·B_{k−1})`.
//! - Mean wait `Wq = C / (c·mu − lambda)`; mean queue length `Lq = C·rho / (1 − rho)`.
//! - Response time `T = Wq + S`: `Wq` is 0 with probability `1 − C`, otherwise
//!   exponential with rate `theta = c·mu − lambda` (so `P(Wq > t) = C·e^(−theta·t)`), and the service
//!   time `S` is exponential with rate `mu`. Hence, with `k = theta/mu = c·(1 − rho)`
//!   and `tau = mu·t`:
//!   `P(T > t) = (1 − C)·e^(−tau) + C·(k·e^(−tau) − e^(−k·tau)) / (k − 1)` (for `k = 1` the
//!   last term is `(1 + tau)·e^(−tau)`). The p95 is the `t` where this equals 0.05, found by
//!   bisection (the function decreases in `t`).
//!
//! Everything depends on `rho` and `c` only once time is measured in units of `1/mu`,
//! so [`MmcTable`] tabulates `Lq` and `mu·p95` once per `c` and the step loop
//! interpolates: no transcendental solve per step.

/// Tail probability whose time is the p95.
const TAIL: f64 = 0.05;

/// Erlang C: probability that an arrival waits, for `servers` servers and
/// `offered_load` Erlang. Returns 1 at or beyond saturation.
pub fn erlang_c(servers: u32, offered_load: f64) -> f64 {
    let c = f64::from(servers);
    if offered_load <= 0.0 {
        return 0.0;
    }
    if offered_load >= c {
        return 1.0;
    }
    let mut b = 1.0;
    for k in 1..=servers {
        b = offered_load * b / (f64::from(k) + offered_load * b);
    }
    c * b / (c - offered_load * (1.0 - b))
}

/// Mean time in queue (seconds) for M/M/c; infinite at or beyond saturation.
pub fn mean_wait(servers: u32, lambda: f64, mu: f64) -> f64 {
    let capacity = f64::from(servers) * mu;
    if lambda >= capacity {
        return f64::INFINITY;
    }
    erlang_c(servers, lambda / mu) / (capacity - lambda)
}

/// `P(T > tau/mu)` for the response time of M/M/c, in units where `mu = 1`.
fn response_tail(wait_probability: f64, k: f64, tau: f64) -> f64 {
    let service_only = (-tau).exp();
    let with_wait = if (k - 1.0).abs() < 1e-9 {
        (1.0 + tau) * service_only
    } else {
        (k * service_only - (-k * tau).exp()) / (k - 1.0)
    };
    (1.0 - wait_probability) * service_only + wait_probability * with_wait
}

/// p95 of the response time (wait + service) in seconds for M/M/c below saturation.
pub fn p95_response(servers: u32, lambda: f64, mu: f64) -> f64 {
    let rho = lambda / (f64::from(servers) * mu);
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    p95_scaled(servers, rho) / mu
}

/// The highest arrival rate at which the M/M/c p95 response time stays within
/// `p95_seconds` (the knee a capacity search should find on an M/M/c server), by
/// bisection on `lambda` (the p95 grows with it). 0 when even an idle server's p95
/// (the service time's) is over the limit.
pub fn max_rate_within_p95(servers: u32, mu: f64, p95_seconds: f64) -> f64 {
    let (mut within, mut over) = (0.0, f64::from(servers) * mu);
    if p95_response(servers, 0.0, mu) > p95_seconds {
        return 0.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (within + over);
        if p95_response(servers, mid, mu) <= p95_seconds {
            within = mid;
        } else {
            over = mid;
        }
    }
    within
}

/// `mu · p95` for utilization `rho < 1`.
fn p95_scaled(servers: u32, rho: f64) -> f64 {
    let c = f64::from(servers);
    let wait_probability = erlang_c(servers, rho * c);
    let k = c * (1.0 - rho);
    let mut hi = 4.0;
    while response_tail(wait_probability, k, hi) > TAIL {
        hi *= 2.0;
    }
    let mut lo = 0.0;
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if response_tail(wait_probability, k, mid) > TAIL {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Grid points below `RHO_SPLIT`, uniform in `rho` (no logarithm on the hot path).
const LOW_POINTS: usize = 1024;
/// Where the uniform grid ends and the logarithmic one starts.
const RHO_SPLIT: f64 = 0.9;
/// Grid points above `RHO_SPLIT`, uniform in `u = −ln(1 − rho)`.
const HIGH_POINTS: usize = 1024;
/// `u` at `RHO_SPLIT`: `ln 10`.
const U_SPLIT: f64 = std::f64::consts::LN_10;
/// Largest tabulated `u`: `rho` up to `1 − 1e−5`.
const U_MAX: f64 = 11.512_925_464_970_229;

/// Per-instance M/M/c quantities at one utilization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmcPoint {
    /// Mean number of requests waiting per instance (`Lq`), requests.
    pub queue_length: f64,
    /// p95 of response time times `mu` (multiply by the mean service time), dimensionless.
    pub p95_scaled: f64,
}

impl MmcPoint {
    fn exact(servers: u32, rho: f64) -> Self {
        let wait_probability = erlang_c(servers, rho * f64::from(servers));
        MmcPoint {
            queue_length: wait_probability * rho / (1.0 - rho).max(1e-12),
            p95_scaled: p95_scaled(servers, rho),
        }
    }

    #[inline]
    fn lerp(a: MmcPoint, b: MmcPoint, f: f64) -> MmcPoint {
        MmcPoint {
            queue_length: a.queue_length + (b.queue_length - a.queue_length) * f,
            p95_scaled: a.p95_scaled + (b.p95_scaled - a.p95_scaled) * f,
        }
    }
}

/// Tabulated M/M/c values for one worker count: uniform in `rho` up to 0.9, then
/// uniform in `−ln(1 − rho)` (where the curves are smooth right up to saturation).
#[derive(Debug, Clone)]
pub struct MmcTable {
    servers: u32,
    low: Vec<MmcPoint>,
    high: Vec<MmcPoint>,
}

impl MmcTable {
    /// Build the table for `servers` workers per instance (about 2k bisections).
    pub fn new(servers: u32) -> Self {
        let low = (0..LOW_POINTS)
            .map(|i| MmcPoint::exact(servers, RHO_SPLIT * i as f64 / (LOW_POINTS - 1) as f64))
            .collect();
        let high = (0..HIGH_POINTS)
            .map(|i| {
                let u = U_SPLIT + (U_MAX - U_SPLIT) * i as f64 / (HIGH_POINTS - 1) as f64;
                MmcPoint::exact(servers, 1.0 - (-u).exp())
            })
            .collect();
        MmcTable { servers, low, high }
    }

    /// Workers per instance this table is for.
    pub fn servers(&self) -> u32 {
        self.servers
    }

    /// Values at utilization `rho` (clamped to the tabulated range below 1).
    #[inline]
    pub fn at(&self, rho: f64) -> MmcPoint {
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
        MmcPoint::lerp(points[i], points[i + 1], x - i as f64)
    }
}

/// `mu · p95` of an exponential service time alone: `ln 20`.
pub const SERVICE_P95_SCALED: f64 = 2.995_732_273_553_991;

/// Backlog at the end of one step of the fluid queue and the requests dropped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FluidStep {
    /// Requests still waiting at the end of the step, requests.
    pub backlog: f64,
    /// Requests beyond `limit`, dropped, requests.
    pub dropped: f64,
}

/// Fluid queue above saturation: arrivals beyond the service rate wait, the
/// backlog drains when arrivals fall below it, and anything above `limit` is
/// dropped: `Q_end = min(limit, max(0, Q_start + (lambda − X)·dt))`.
#[inline]
pub fn fluid_step(backlog: f64, lambda: f64, service_rate: f64, dt: f64, limit: f64) -> FluidStep {
    let after = (backlog + (lambda - service_rate) * dt).max(0.0);
    let dropped = (after - limit).max(0.0);
    FluidStep {
        backlog: after - dropped,
        dropped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fluid_queue_grows_drains_and_drops() {
        // 30 rps into 20 rps for 60 s: 600 queued.
        assert_eq!(
            fluid_step(0.0, 30.0, 20.0, 60.0, 1e9),
            FluidStep {
                backlog: 600.0,
                dropped: 0.0
            }
        );
        // Draining at 10 rps empties 400 in 40 s and stays at 0.
        assert_eq!(fluid_step(400.0, 10.0, 20.0, 60.0, 1e9).backlog, 0.0);
        // Beyond the limit the excess is dropped.
        assert_eq!(
            fluid_step(0.0, 30.0, 20.0, 60.0, 450.0),
            FluidStep {
                backlog: 450.0,
                dropped: 150.0
            }
        );
    }

    #[test]
    fn the_m_m_8_knee_is_where_the_p95_reaches_the_slo() {
        // 8 workers of 20 ms at p95 <= 200 ms: 383.7 rps, 96 % of the 400 they serve at
        // most (docs/model-validation.md); M/M/1 in closed form: ln 20 / (mu - lambda).
        let knee = max_rate_within_p95(8, 50.0, 0.2);
        assert!((knee - 383.7).abs() < 0.05, "{knee}");
        assert!((p95_response(8, knee, 50.0) - 0.2).abs() < 1e-9);
        let mm1 = max_rate_within_p95(1, 50.0, 0.1);
        assert!((mm1 - (50.0 - 20f64.ln() / 0.1)).abs() < 1e-9, "{mm1}");
        // An SLO under the service time's own p95 (ln 20 / mu = 60 ms): no rate.
        assert_eq!(max_rate_within_p95(1, 50.0, 0.05), 0.0);
    }

    #[test]
    fn erlang_c_matches_published_value() {
        // 10 Erlang offered to 14 servers: P(wait) = 0.1741319 (standard Erlang C tables).
        assert!((erlang_c(14, 10.0) - 0.1741319).abs() < 5e-7);
    }

    #[test]
    fn erlang_c_single_server_is_utilization() {
        // M/M/1: P(wait) = rho.
        assert!((erlang_c(1, 0.6) - 0.6).abs() < 1e-12);
        assert_eq!(erlang_c(4, 4.0), 1.0);
        assert_eq!(erlang_c(4, 0.0), 0.0);
    }

    #[test]
    fn mm1_mean_wait_and_p95_closed_form() {
        // M/M/1: Wq = rho/(mu - lambda); T ~ Exp(mu - lambda) so p95 = ln(20)/(mu - lambda).
        let (lambda, mu) = (30.0, 50.0);
        assert!((mean_wait(1, lambda, mu) - 0.6 / 20.0).abs() < 1e-12);
        assert!((p95_response(1, lambda, mu) - 20f64.ln() / 20.0).abs() < 1e-9);
    }

    #[test]
    fn idle_p95_is_the_service_time_p95() {
        // No waiting: T ~ Exp(mu), p95 = ln(20)/mu.
        assert!((p95_response(4, 1e-9, 50.0) - 20f64.ln() / 50.0).abs() < 1e-6);
    }

    #[test]
    fn table_interpolation_is_close_to_exact() {
        let table = MmcTable::new(4);
        for rho in [
            0.05, 0.3, 0.5, 0.75, 0.8999, 0.9, 0.9001, 0.97, 0.995, 0.9999,
        ] {
            let exact = p95_scaled(4, rho);
            let approx = table.at(rho).p95_scaled;
            assert!(
                (approx / exact - 1.0).abs() < 1e-4,
                "rho {rho}: {approx} vs {exact}"
            );
            let lq = MmcPoint::exact(4, rho).queue_length;
            assert!(
                (table.at(rho).queue_length - lq).abs() < 1e-4 * (1.0 + lq),
                "rho {rho}"
            );
        }
    }
}
