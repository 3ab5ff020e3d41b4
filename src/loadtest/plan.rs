//! One validated plan of a load test: what to send, how hard, how long, over which
//! connections. `commands/loadtest/plan.rs` builds it from the command line.
use std::time::Duration;

use crate::error::InputError;
use crate::loadtest::scenario::{FeederDef, RequestDef, Scenario, TaskDef, WaitTime};
use crate::loadtest::shape::{Shape, ShapeKind};
use crate::loadtest::template::Names;
use crate::loadtest::tls::TlsOptions;

/// Highest `--rate` (and capacity-search rate): far beyond what one machine sends;
/// above it the count of unsent requests at the end would not finish.
pub const MAX_RATE: f64 = 10_000_000.0;
/// Longest `--duration`: keeps every instant of a run far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);
/// Most users or open-model connections one process runs: each is a socket and
/// a few KB of state; beyond this, shard the run over several generators.
pub const MAX_SESSIONS: u32 = 1_000_000;
/// Most generator threads: far more than any machine's cores, so a typo.
pub const MAX_THREADS: usize = 1024;

/// A rate flag's value, or why it is not one.
pub fn check_rate(flag: &str, rate: f64) -> Result<f64, InputError> {
    if !(rate.is_finite() && rate > 0.0) {
        return Err(InputError::flag(flag, "must be a positive number"));
    }
    if rate > MAX_RATE {
        return Err(InputError::flag(
            flag,
            format!("must be at most {MAX_RATE} requests a second"),
        ));
    }
    Ok(rate)
}

/// Arrival process of the open model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Arrivals {
    /// Evenly spaced sends (wrk2).
    Uniform,
    /// Exponential gaps between sends (a Poisson process, like independent users).
    Poisson,
}

/// How long a run lasts and how long it waits for one answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunLength {
    pub duration: Duration,
    /// Leading whole seconds kept out of the statistics (still in the history).
    pub warmup: Duration,
    pub timeout: Duration,
}

/// Closed (users) or open (arrival rate) load.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadModel {
    /// Locust: `users` loop over tasks; `spawn_rate` users started per second.
    Closed { users: u32, spawn_rate: f64 },
    /// wrk2 / k6 constant-arrival-rate: sends at intended times over `connections`.
    Open {
        rate: f64,
        connections: u32,
        arrivals: Arrivals,
    },
}

/// A request with its stats slot: requests with the same method and name share one.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub def: RequestDef,
    pub stats_id: usize,
}

/// Everything the engine needs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Base URL without trailing slash.
    pub host: String,
    pub default_headers: Vec<(String, String)>,
    /// Weighted tasks (their steps as indexes into `endpoints`, weight).
    pub tasks: Vec<(Vec<usize>, u32)>,
    /// `on_start` sequence (indexes into `endpoints`).
    pub on_start: Vec<usize>,
    pub endpoints: Vec<Endpoint>,
    /// (method, name) of each stats slot, in order of first appearance.
    pub stats_names: Vec<(String, String)>,
    pub wait_time: WaitTime,
    pub feeders: Vec<FeederDef>,
    /// The names the requests' dynamic values use.
    pub names: Names,
    pub load: LoadModel,
    /// `--stages`, `--rate-stages`, `--shape`, `--replay`: users (closed model) or the
    /// rate (open model) over time; `duration` is its length. Without one, `load`'s
    /// users or rate hold for the whole run.
    pub shape: Option<Shape>,
    pub duration: Duration,
    /// Leading whole seconds kept out of the statistics (still in the history).
    pub warmup: Duration,
    pub timeout: Duration,
    pub connection: ConnectionPlan,
    pub threads: usize,
    /// `--idle-spin`: how long a generator thread spins before it sleeps, while its
    /// sleeps are short (idle_spin.rs); zero never spins, `None` as the load model
    /// says ([`Plan::idle_spin`]).
    pub idle_spin: Option<Duration>,
    pub seed: u64,
    /// `--start-at`: the traffic starts at this moment (after the target was reached),
    /// so the shards of a distributed run start on the same second.
    pub start_at: Option<std::time::SystemTime>,
}

impl Plan {
    /// How long a generator thread spins before it sleeps: `--idle-spin`, else 50 µs in
    /// the closed model and none in the open one, which sleeps until its next send is
    /// due rather than for an answer (there a spin cost 35 % more CPU per request at
    /// 20,000/s for nothing: docs/BENCHMARKS.md, "Idle spin").
    pub fn idle_spin(&self) -> Duration {
        self.idle_spin.unwrap_or(match self.load {
            LoadModel::Closed { .. } => DEFAULT_IDLE_SPIN,
            LoadModel::Open { .. } => Duration::ZERO,
        })
    }

    /// The plan of a validated scenario and load; the caller checked every value.
    pub fn assemble(
        scenario: Scenario,
        load: LoadModel,
        length: RunLength,
        connection: ConnectionPlan,
        threads: usize,
        seed: u64,
    ) -> Plan {
        let mut endpoints: Vec<Endpoint> = Vec::new();
        let mut stats_names: Vec<(String, String)> = Vec::new();
        let mut add = |def: RequestDef| -> usize {
            let key = (def.method.clone(), def.name.clone());
            let stats_id = match stats_names.iter().position(|k| *k == key) {
                Some(i) => i,
                None => {
                    stats_names.push(key);
                    stats_names.len() - 1
                }
            };
            endpoints.push(Endpoint { def, stats_id });
            endpoints.len() - 1
        };
        let on_start = scenario.on_start.into_iter().map(&mut add).collect();
        let tasks = scenario
            .tasks
            .into_iter()
            .map(|TaskDef { steps, weight }| (steps.into_iter().map(&mut add).collect(), weight))
            .collect();
        Plan {
            host: scenario.host,
            default_headers: scenario.headers,
            tasks,
            on_start,
            endpoints,
            stats_names,
            wait_time: scenario.wait_time,
            feeders: scenario.feeders,
            names: scenario.names,
            load,
            shape: None,
            duration: length.duration,
            warmup: length.warmup,
            timeout: length.timeout,
            connection,
            threads,
            idle_spin: None,
            seed,
            start_at: None,
        }
    }
}

impl Plan {
    /// The users the run intends just after `t` s: the shape's whole users (user u
    /// runs while the shape is at least u + 1, so on a ramp down the user whose level
    /// the shape reaches at `t` has stopped), or under a flat closed model those
    /// started by then at the spawn rate. `None` for the open model.
    pub fn intended_users(&self, t: f64) -> Option<u32> {
        match (&self.load, &self.shape) {
            (LoadModel::Closed { .. }, Some(shape)) if shape.kind() == ShapeKind::Users => {
                let after = (t + 1e-6).min(shape.duration());
                // A hair of slack: 49.999999 users at the top of a ramp to 50 are 50.
                Some((shape.value_at(after) + 1e-9).floor() as u32)
            }
            (LoadModel::Closed { users, spawn_rate }, _) => {
                // User u starts at u / spawn_rate (engine.rs).
                let started = (t * spawn_rate + 1e-9).floor() + 1.0;
                Some(started.min(f64::from(*users)) as u32)
            }
            (LoadModel::Open { .. }, _) => None,
        }
    }

    /// The requests the open model intends to send from `from` to `to` s. `None` for
    /// the closed model.
    pub fn intended_requests(&self, from: f64, to: f64) -> Option<f64> {
        match (&self.load, &self.shape) {
            (LoadModel::Open { .. }, Some(shape)) if shape.kind() == ShapeKind::Rate => {
                Some(shape.integral(from, to))
            }
            (LoadModel::Open { rate, .. }, _) => Some(rate * (to - from).max(0.0)),
            (LoadModel::Closed { .. }, _) => None,
        }
    }
}

/// `--idle-spin`'s default (docs/BENCHMARKS.md, "Idle spin").
pub const DEFAULT_IDLE_SPIN: Duration = Duration::from_micros(50);
/// The longest `--idle-spin`: more only burns a core.
pub const MAX_IDLE_SPIN: Duration = Duration::from_millis(1);

/// How long one request may take (`--timeout`'s default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How connections to the target are made and what they speak.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionPlan {
    /// `--http2`: by ALPN over TLS, with prior knowledge over plain http.
    pub http2: bool,
    /// HTTP/2 streams per connection (sessions sharing one connection).
    pub streams: u32,
    pub tls: TlsOptions,
    /// `--resolve`: addresses to use instead of DNS.
    pub resolve: Vec<Resolve>,
    pub connect_timeout: Duration,
    pub new_connection_per_request: bool,
}

/// The command line's defaults: HTTP/1.1, the system's roots, DNS, a 5 s connect
/// timeout, keep-alive (a test in commands/loadtest/plan.rs holds cli.rs to them).
impl Default for ConnectionPlan {
    fn default() -> Self {
        ConnectionPlan {
            http2: false,
            streams: 1,
            tls: TlsOptions::default(),
            resolve: Vec::new(),
            connect_timeout: Duration::from_secs(5),
            new_connection_per_request: false,
        }
    }
}

/// `--resolve HOST:PORT:ADDR`: connect to ADDR when the target is HOST:PORT (curl's form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolve {
    pub host: String,
    pub port: u16,
    pub addr: std::net::IpAddr,
}

impl std::str::FromStr for Resolve {
    type Err = String;

    fn from_str(text: &str) -> Result<Resolve, String> {
        let bad = || {
            format!(
                "'{text}' must look like HOST:PORT:ADDR, e.g. staging.example.com:443:127.0.0.1"
            )
        };
        let (host, rest) = match text.strip_prefix('[') {
            Some(bracketed) => {
                let (host, rest) = bracketed.split_once(']').ok_or_else(bad)?;
                (host, rest.strip_prefix(':').ok_or_else(bad)?)
            }
            None => text.split_once(':').ok_or_else(bad)?,
        };
        let (port, addr) = rest.split_once(':').ok_or_else(bad)?;
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("'{text}': '{port}' is not a port number"))?;
        let addr = addr.trim_start_matches('[').trim_end_matches(']');
        let addr = addr
            .parse()
            .map_err(|_| format!("'{text}': '{addr}' is not an IP address"))?;
        if host.is_empty() {
            return Err(bad());
        }
        Ok(Resolve {
            host: host.to_ascii_lowercase(),
            port,
            addr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_entries_parse_like_curls() {
        let r: Resolve = "Staging.Example.com:443:10.0.0.7".parse().unwrap();
        assert_eq!(
            r,
            Resolve {
                host: "staging.example.com".into(),
                port: 443,
                addr: "10.0.0.7".parse().unwrap(),
            }
        );
        let v6: Resolve = "example.com:8443:[::1]".parse().unwrap();
        assert_eq!(v6.addr, "::1".parse::<std::net::IpAddr>().unwrap());
        let bare_v6: Resolve = "example.com:80:::1".parse().unwrap();
        assert_eq!(bare_v6.addr, v6.addr);
        let bracketed_host: Resolve = "[::1]:443:127.0.0.1".parse().unwrap();
        assert_eq!(bracketed_host.host, "::1");
        for bad in [
            "example.com",
            "example.com:443",
            "example.com:http:127.0.0.1",
            "example.com:443:nowhere",
            ":443:127.0.0.1",
            "example.com:70000:127.0.0.1",
        ] {
            let err = bad.parse::<Resolve>().unwrap_err();
            assert!(err.contains(bad), "{bad}: {err}");
        }
    }
}
