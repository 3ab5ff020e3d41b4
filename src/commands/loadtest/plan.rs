//! The loadtest command line (and a scenario file) turned into one validated plan,
//! before any traffic.
use crate::cli::LoadtestArgs;
use crate::error::InputError;
use crate::loadtest::client;
use crate::loadtest::plan::{
    check_rate, Arrivals, ConnectionPlan, LoadModel, Plan, Resolve, RunLength, MAX_DURATION,
    MAX_SESSIONS, MAX_THREADS,
};
use crate::loadtest::scenario::{self, RequestDef, Scenario, TaskDef, WaitTime};
use crate::loadtest::tls::TlsOptions;

/// Build and validate the plan; every problem is an `InputError` (exit 2).
pub fn plan_from_args(args: &LoadtestArgs) -> Result<Plan, InputError> {
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
    let load = match (args.users, args.rate) {
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
                    if args.connections.is_some() {
                        "--connections"
                    } else {
                        "--arrivals"
                    },
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
    let connection = connection_from_args(args)?;
    let length = RunLength {
        duration: args.duration,
        warmup: args.warmup,
        timeout: args.timeout,
    };
    Ok(Plan::assemble(
        scenario, load, length, connection, threads, args.seed,
    ))
}

fn connection_from_args(args: &LoadtestArgs) -> Result<ConnectionPlan, InputError> {
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

/// A one-task scenario for `--url`.
pub fn scenario_from_url(
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
            steps: vec![RequestDef::plain(path.clone(), method, path)],
            weight: 1,
        }],
        on_start: Vec::new(),
        wait_time: WaitTime::None,
        feeders: Vec::new(),
        names: Default::default(),
    })
}

/// The plan of `loadtest --url URL` with every other flag at its default but the
/// load and its length: what the demo runs, typed.
pub fn url_plan(url: &str, load: LoadModel, length: RunLength) -> Result<Plan, InputError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scenario = scenario_from_url(url, "GET", Vec::new())?;
    let connection = ConnectionPlan::default();
    Ok(Plan::assemble(
        scenario, load, length, connection, threads, 1,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    #[test]
    fn url_plan_is_the_command_lines_defaults() {
        let url = "http://127.0.0.1:8080/api?x=1";
        let Command::Loadtest(args) =
            Cli::parse_from(["capplan", "loadtest", "--url", url]).command
        else {
            unreachable!()
        };
        let from_flags = plan_from_args(&args).unwrap();
        let length = RunLength {
            duration: args.duration,
            warmup: args.warmup,
            timeout: crate::loadtest::plan::DEFAULT_TIMEOUT,
        };
        let typed = url_plan(url, from_flags.load.clone(), length).unwrap();
        assert_eq!(typed.connection, from_flags.connection);
        assert_eq!(typed.timeout, from_flags.timeout);
        assert_eq!(typed.endpoints, from_flags.endpoints);
        assert_eq!(typed.host, from_flags.host);
        assert_eq!(typed.seed, from_flags.seed);
    }
}
