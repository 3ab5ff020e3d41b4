//! Turn the command line (and a scenario file) into one validated plan, before any traffic.
use std::time::Duration;

use crate::cli::{Arrivals, LoadtestArgs};
use crate::error::InputError;
use crate::loadtest::client;
use crate::loadtest::scenario::{self, Body, RequestDef, Scenario, TaskDef, WaitTime};
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
    /// Weighted tasks (index into `endpoints`, weight).
    pub tasks: Vec<(usize, u32)>,
    /// `on_start` sequence (indexes into `endpoints`).
    pub on_start: Vec<usize>,
    pub endpoints: Vec<Endpoint>,
    /// (method, name) of each stats slot, in order of first appearance.
    pub stats_names: Vec<(String, String)>,
    pub wait_time: WaitTime,
    pub load: LoadModel,
    pub duration: Duration,
    /// Leading whole seconds kept out of the statistics (still in the history).
    pub warmup: Duration,
    pub timeout: Duration,
    pub connection: ConnectionPlan,
    pub threads: usize,
    pub seed: u64,
}

impl Plan {
    /// Build and validate the plan; every problem is an `InputError` (exit 2).
    pub fn from_args(args: &LoadtestArgs) -> Result<Plan, InputError> {
        let headers = header_flags(&args.headers)?;
        let scenario = match (&args.url, &args.scenario) {
            (_, Some(path)) => {
                if args.method.is_some() {
                    return Err(InputError::flag(
                        "--method",
                        "applies to --url only; a scenario gives each task's method",
                    ));
                }
                let mut scenario = scenario::load(path)?;
                scenario.add_headers(headers);
                scenario
            }
            (Some(url), None) => {
                scenario_from_url(url, args.method.as_deref().unwrap_or("GET"), headers)?
            }
            (None, None) => return Err(InputError::flag("--url", "give --url or --scenario")),
        };
        let load =
            match (args.users, args.rate) {
                (Some(users), None) => {
                    if !(1..=MAX_SESSIONS).contains(&users) {
                        return Err(InputError::flag(
                            "--users",
                            format!("must be from 1 to {MAX_SESSIONS}; got {users}"),
                        ));
                    }
                    let spawn_rate = args.spawn_rate.unwrap_or(users as f64);
                    if !(spawn_rate.is_finite() && spawn_rate > 0.0) {
                        return Err(InputError::flag(
                            "--spawn-rate",
                            "must be a positive number",
                        ));
                    }
                    if args.connections.is_some() || args.arrivals.is_some() {
                        return Err(InputError::flag(
                        if args.connections.is_some() { "--connections" } else { "--arrivals" },
                        "applies to the open model (--rate); with --users each user keeps its own \
                         connection and sends when its last answer came",
                    ));
                    }
                    LoadModel::Closed { users, spawn_rate }
                }
                (None, Some(rate)) => {
                    let rate = check_rate("--rate", rate)?;
                    let connections = args.connections.unwrap_or(100);
                    if !(1..=MAX_SESSIONS).contains(&connections) {
                        return Err(InputError::flag(
                            "--connections",
                            format!("must be from 1 to {MAX_SESSIONS}; got {connections}"),
                        ));
                    }
                    LoadModel::Open {
                        rate,
                        connections,
                        arrivals: args.arrivals.unwrap_or(Arrivals::Uniform),
                    }
                }
                (None, None) => LoadModel::Closed {
                    users: 1,
                    spawn_rate: 1.0,
                },
                (Some(_), Some(_)) => {
                    return Err(InputError::flag(
                        "--users/--rate",
                        "choose the closed model (--users) or the open model (--rate), not both",
                    ))
                }
            };
        if let LoadModel::Open { .. } = load {
            if !scenario.on_start.is_empty() {
                return Err(InputError::flag(
                    "--rate",
                    "the open model has no users, so on_start sequences do not apply; use --users",
                ));
            }
        }
        if args.duration.is_zero() {
            return Err(InputError::flag("--duration", "must be longer than zero"));
        }
        if args.duration > MAX_DURATION {
            return Err(InputError::flag("--duration", "must be at most 365d"));
        }
        if args.warmup.subsec_nanos() != 0 || args.warmup >= args.duration {
            return Err(InputError::flag(
                "--warmup",
                "must be whole seconds and shorter than --duration",
            ));
        }
        if args.timeout.is_zero() {
            return Err(InputError::flag("--timeout", "must be longer than zero"));
        }
        let threads = match args.threads {
            Some(n) if !(1..=MAX_THREADS).contains(&n) => {
                return Err(InputError::flag(
                    "--threads",
                    format!("must be from 1 to {MAX_THREADS}; got {n}"),
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        let connection = ConnectionPlan::from_args(args)?;
        Ok(Plan::assemble(scenario, load, args, connection, threads))
    }

    fn assemble(
        scenario: Scenario,
        load: LoadModel,
        args: &LoadtestArgs,
        connection: ConnectionPlan,
        threads: usize,
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
            .map(|TaskDef { request, weight }| (add(request), weight))
            .collect();
        Plan {
            host: scenario.host,
            default_headers: scenario.headers,
            tasks,
            on_start,
            endpoints,
            stats_names,
            wait_time: scenario.wait_time,
            load,
            duration: args.duration,
            warmup: args.warmup,
            timeout: args.timeout,
            connection,
            threads,
            seed: args.seed,
        }
    }
}

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

impl ConnectionPlan {
    fn from_args(args: &LoadtestArgs) -> Result<ConnectionPlan, InputError> {
        if args.connect_timeout.is_zero() {
            return Err(InputError::flag(
                "--connect-timeout",
                "must be longer than zero",
            ));
        }
        if args.connect_timeout > MAX_DURATION {
            return Err(InputError::flag(
                "--connect-timeout",
                "must be at most 365d",
            ));
        }
        let resolve = args
            .resolve
            .iter()
            .map(|text| text.parse())
            .collect::<Result<Vec<Resolve>, String>>()
            .map_err(|why| InputError::flag("--resolve", why))?;
        Ok(ConnectionPlan {
            http2: args.http2,
            streams: args.streams,
            tls: TlsOptions {
                insecure: args.insecure,
                cacert: args.cacert.clone(),
                client_cert: args.cert.clone().zip(args.key.clone()),
            },
            resolve,
            connect_timeout: args.connect_timeout,
            new_connection_per_request: args.new_connection_per_request,
        })
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

/// A one-task scenario for `--url`.
/// The `-H/--header` flags as (name, value) pairs, each checked so that an error
/// names the flag rather than a request.
fn header_flags(headers: &[String]) -> Result<Vec<(String, String)>, InputError> {
    let mut parsed = Vec::new();
    for h in headers {
        // Locust's -H is the host: `-H http://host` would send a header `http: //host`.
        if h.starts_with("http://") || h.starts_with("https://") {
            return Err(InputError::flag(
                "--header",
                format!(
                    "'{h}' is a URL: -H is a request header here, as in curl (`-H 'Name: value'`), \
                     not Locust's --host; give the target with --url or the scenario's host"
                ),
            ));
        }
        let (name, value) = h.split_once(':').ok_or_else(|| {
            InputError::flag("--header", format!("'{h}' must look like 'Name: value'"))
        })?;
        client::header(name.trim(), value.trim())
            .map_err(|why| InputError::flag("--header", why))?;
        parsed.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(parsed)
}

fn scenario_from_url(
    url: &str,
    method: &str,
    headers: Vec<(String, String)>,
) -> Result<Scenario, InputError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| InputError::flag("--url", format!("'{url}' is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(InputError::flag(
            "--url",
            format!("'{url}' must be http:// or https://"),
        ));
    }
    let host_str = parsed
        .host_str()
        .ok_or_else(|| InputError::flag("--url", format!("'{url}' has no host")))?;
    let host = match parsed.port() {
        Some(port) => format!("{}://{}:{}", parsed.scheme(), host_str, port),
        None => format!("{}://{}", parsed.scheme(), host_str),
    };
    let mut path = parsed.path().to_string();
    if let Some(query) = parsed.query() {
        path.push('?');
        path.push_str(query);
    }
    let method = method.to_ascii_uppercase();
    if !["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&method.as_str()) {
        return Err(InputError::flag(
            "--method",
            format!("'{method}' is not an HTTP method"),
        ));
    }
    Ok(Scenario {
        host,
        headers,
        tasks: vec![TaskDef {
            request: RequestDef {
                name: path.clone(),
                method,
                path,
                headers: Vec::new(),
                body: Body::default(),
            },
            weight: 1,
        }],
        on_start: Vec::new(),
        wait_time: WaitTime::None,
    })
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
