//! Service-time distributions of the demo target: `20ms`, `exp:20ms`, `lognormal:20ms[:sigma]`.
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp, LogNormal};

use crate::units::parse_duration;

/// The longest mean service time accepted.
const MAX_MEAN: Duration = Duration::from_secs(3600);

/// How long one request occupies a worker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ServiceTime {
    /// Always the same.
    Constant(Duration),
    /// Exponential with this mean (an M/M/c server).
    Exponential(Duration),
    /// Log-normal with this mean and shape `sigma` (of the underlying normal).
    LogNormal { mean: Duration, sigma: f64 },
}

impl ServiceTime {
    /// Mean service time.
    pub fn mean(&self) -> Duration {
        match *self {
            ServiceTime::Constant(d) | ServiceTime::Exponential(d) => d,
            ServiceTime::LogNormal { mean, .. } => mean,
        }
    }

    /// Draw one service time.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match *self {
            ServiceTime::Constant(d) => d,
            ServiceTime::Exponential(mean) => {
                let rate = 1.0 / mean.as_secs_f64().max(1e-9);
                let exp = Exp::new(rate).expect("rate is positive and finite");
                Duration::from_secs_f64(exp.sample(rng))
            }
            ServiceTime::LogNormal { mean, sigma } => {
                // E[X] = exp(mu + sigma^2/2), so mu = ln(mean) - sigma^2/2.
                let mu = mean.as_secs_f64().max(1e-9).ln() - sigma * sigma / 2.0;
                let dist = LogNormal::new(mu, sigma).expect("sigma is validated at parse time");
                Duration::from_secs_f64(dist.sample(rng))
            }
        }
    }
}

impl FromStr for ServiceTime {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut parts = text.trim().split(':');
        let first = parts.next().unwrap_or_default();
        let parsed = match first {
            "exp" | "exponential" => {
                let mean = parse_duration(parts.next().ok_or("exp needs a mean, e.g. exp:20ms")?)?;
                ServiceTime::Exponential(mean)
            }
            "lognormal" => {
                let mean = parse_duration(
                    parts
                        .next()
                        .ok_or("lognormal needs a mean, e.g. lognormal:20ms:0.5")?,
                )?;
                let sigma = match parts.next() {
                    Some(s) => s
                        .parse::<f64>()
                        .map_err(|_| format!("lognormal sigma '{s}' is not a number"))?,
                    None => 0.5,
                };
                if !(sigma.is_finite() && sigma > 0.0 && sigma <= 5.0) {
                    return Err(format!("lognormal sigma {sigma} must be in (0, 5]"));
                }
                ServiceTime::LogNormal { mean, sigma }
            }
            "const" | "constant" => ServiceTime::Constant(parse_duration(
                parts
                    .next()
                    .ok_or("constant needs a value, e.g. const:20ms")?,
            )?),
            _ => ServiceTime::Constant(parse_duration(first)?),
        };
        if let Some(extra) = parts.next() {
            return Err(format!("unexpected ':{extra}' in service time '{text}'"));
        }
        // Not a web request any more; and draws must stay far from Instant's range.
        if parsed.mean() > MAX_MEAN {
            return Err(format!("service time '{text}' is above the 1h maximum"));
        }
        Ok(parsed)
    }
}

impl fmt::Display for ServiceTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceTime::Constant(d) => write!(f, "{}ms", d.as_secs_f64() * 1e3),
            ServiceTime::Exponential(d) => write!(f, "exp:{}ms", d.as_secs_f64() * 1e3),
            ServiceTime::LogNormal { mean, sigma } => {
                write!(f, "lognormal:{}ms:{sigma}", mean.as_secs_f64() * 1e3)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn parses_each_form() {
        assert_eq!(
            "20ms".parse::<ServiceTime>().unwrap(),
            ServiceTime::Constant(Duration::from_millis(20))
        );
        assert_eq!(
            "exp:20ms".parse::<ServiceTime>().unwrap(),
            ServiceTime::Exponential(Duration::from_millis(20))
        );
        assert_eq!(
            "lognormal:20ms:0.8".parse::<ServiceTime>().unwrap(),
            ServiceTime::LogNormal {
                mean: Duration::from_millis(20),
                sigma: 0.8
            }
        );
        assert!("exp".parse::<ServiceTime>().is_err());
        assert!("exp:20".parse::<ServiceTime>().is_err());
        assert!("lognormal:20ms:-1".parse::<ServiceTime>().is_err());
        assert!("20ms:junk".parse::<ServiceTime>().is_err());
        assert!("1h".parse::<ServiceTime>().is_ok());
        assert_eq!(
            "exp:1000000000000w".parse::<ServiceTime>(),
            Err("service time 'exp:1000000000000w' is above the 1h maximum".to_string())
        );
    }

    #[test]
    fn sample_means_match() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for dist in ["exp:20ms", "lognormal:20ms:0.5"] {
            let st: ServiceTime = dist.parse().unwrap();
            let n = 200_000;
            let total: f64 = (0..n).map(|_| st.sample(&mut rng).as_secs_f64()).sum();
            let mean_ms = total / n as f64 * 1e3;
            assert!((mean_ms - 20.0).abs() < 0.3, "{dist}: mean {mean_ms}");
        }
    }
}
