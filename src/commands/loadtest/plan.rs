//! The loadtest command line (and a scenario file) turned into one validated plan,
//! before any traffic.
use std::time::Duration;

use crate::cli::LoadtestArgs;
use crate::error::InputError;
use crate::formats;
use crate::formats::shape::ShapeColumn;
use crate::formats::traffic::{self, Column, Traffic, TrafficOptions};
use crate::loadtest::client;
use crate::loadtest::plan::{
    check_rate, Arrivals, ConnectionPlan, LoadModel, Plan, Resolve, RunLength, MAX_DURATION,
    MAX_IDLE_SPIN, MAX_RATE, MAX_SESSIONS, MAX_THREADS,
};
use crate::loadtest::scenario::{self, RequestDef, Scenario, TaskDef, WaitTime};
use crate::loadtest::shape::{self, Shape, ShapeKind, Step};
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
    let shape = shape_from_args(args)?;
    let load = load_from_args(args, shape.as_ref())?;
    if let LoadModel::Open { .. } = load {
        if !scenario.on_start.is_empty() {
            return Err(InputError::flag(
                open_flag(args),
                "the open model has no users, so on_start sequences do not apply; use --users \
                 or --stages",
            ));
        }
    }
    let duration = run_duration(args, shape.as_ref())?;
    if args.warmup.subsec_nanos() != 0 || args.warmup >= duration {
        return Err(InputError::flag(
            "--warmup",
            "must be whole seconds and shorter than the run (--duration or the shape)",
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
        duration,
        warmup: args.warmup,
        timeout: args.timeout,
    };
    if args.idle_spin.is_some_and(|spin| spin > MAX_IDLE_SPIN) {
        return Err(InputError::flag(
            "--idle-spin",
            "must be at most 1ms (a longer spin burns a core for nothing)",
        ));
    }
    let mut plan = Plan::assemble(scenario, load, length, connection, threads, args.seed);
    plan.shape = shape.map(|(_, shape)| shape);
    plan.idle_spin = args.idle_spin;
    Ok(plan)
}

/// `--duration`'s default.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// The flags that choose the load, with whether each was given.
fn load_flags(args: &LoadtestArgs) -> [(&'static str, bool); 6] {
    [
        ("--users", args.users.is_some()),
        ("--rate", args.rate.is_some()),
        ("--stages", args.stages.is_some()),
        ("--rate-stages", args.rate_stages.is_some()),
        ("--shape", args.shape.is_some()),
        ("--replay", args.replay.is_some()),
    ]
}

/// The flag that made the run open-model, for messages.
fn open_flag(args: &LoadtestArgs) -> &'static str {
    load_flags(args)
        .into_iter()
        .find(|(flag, given)| *given && *flag != "--users" && *flag != "--stages")
        .map_or("--rate", |(flag, _)| flag)
}

/// The load shape the flags give, with the flag that gave it, checked.
fn shape_from_args(args: &LoadtestArgs) -> Result<Option<(&'static str, Shape)>, InputError> {
    let given: Vec<&str> = load_flags(args)
        .into_iter()
        .filter(|(_, given)| *given)
        .map(|(flag, _)| flag)
        .collect();
    if given.len() > 1 {
        return Err(InputError::flag(
            given.join("/"),
            "choose one load: --users or --stages (closed model), --rate, --rate-stages or \
             --replay (open model), or --shape",
        ));
    }
    let (flag, shape) = if let Some(stages) = &args.stages {
        let shape = stages.shape(ShapeKind::Users);
        (
            "--stages",
            shape.map_err(|why| InputError::flag("--stages", why))?,
        )
    } else if let Some(stages) = &args.rate_stages {
        let shape = stages.shape(ShapeKind::Rate);
        (
            "--rate-stages",
            shape.map_err(|why| InputError::flag("--rate-stages", why))?,
        )
    } else if let Some(path) = &args.shape {
        ("--shape", shape_file(path)?)
    } else if let Some(path) = &args.replay {
        ("--replay", replay(path, args)?)
    } else {
        return Ok(None);
    };
    if shape.duration() > MAX_DURATION.as_secs_f64() {
        return Err(InputError::flag(flag, "lasts longer than 365d"));
    }
    match shape.kind() {
        ShapeKind::Users => {
            let peak = (shape.peak() + 1e-9).floor();
            if peak < 1.0 {
                return Err(InputError::flag(flag, "never reaches one user"));
            }
            if peak > f64::from(MAX_SESSIONS) {
                return Err(InputError::flag(
                    flag,
                    format!("must stay at or below {MAX_SESSIONS} users; peaks at {peak}"),
                ));
            }
        }
        ShapeKind::Rate => {
            if shape.peak() > MAX_RATE {
                return Err(InputError::flag(
                    flag,
                    format!(
                        "must stay at or below {MAX_RATE} requests a second; peaks at {}",
                        shape.peak()
                    ),
                ));
            }
            if shape.total() < 1.0 {
                return Err(InputError::flag(
                    flag,
                    format!(
                        "intends {:.3} requests in all: less than one to send",
                        shape.total()
                    ),
                ));
            }
        }
    }
    Ok(Some((flag, shape)))
}

/// `--shape FILE.csv` read (formats/shape.rs) and turned into a shape.
fn shape_file(path: &std::path::Path) -> Result<Shape, InputError> {
    let file = formats::shape::read_shape(path)?;
    let kind = match file.column {
        ShapeColumn::Users => ShapeKind::Users,
        ShapeColumn::Rate => ShapeKind::Rate,
    };
    let steps: Vec<Step> = file
        .rows
        .iter()
        .map(|row| Step {
            offset: row.offset,
            value: row.value,
            spawn_rate: row.spawn_rate,
        })
        .collect();
    shape::shape_of_steps(kind, &steps).map_err(|why| InputError::file(path, why))
}

/// `--replay TRAFFIC.csv --speedup N --scale F`: the file read by the one traffic reader
/// (formats/traffic.rs), each interval played for interval / N seconds at its rate x F.
fn replay(path: &std::path::Path, args: &LoadtestArgs) -> Result<Shape, InputError> {
    let speedup = args.speedup.unwrap_or(1.0);
    if !(speedup.is_finite() && speedup > 0.0) {
        return Err(InputError::flag("--speedup", "must be a positive number"));
    }
    let scale = args.scale.unwrap_or(1.0);
    if !(scale.is_finite() && scale > 0.0) {
        return Err(InputError::flag("--scale", "must be a positive number"));
    }
    let options = TrafficOptions {
        fill_gaps: args.fill_gaps,
        ..TrafficOptions::default()
    };
    let traffic = match traffic::read(path, options)? {
        Traffic::Regular(regular) => regular,
        Traffic::Locust(_) => {
            return Err(InputError::file(
                path,
                "a Locust history is not on a regular grid: replay a traffic CSV",
            ))
        }
    };
    let interval = traffic.interval_seconds as f64;
    let rates: Vec<f64> = match traffic.column {
        Column::Rps | Column::Locust => traffic.values.clone(),
        Column::Requests => traffic.values.iter().map(|v| v / interval).collect(),
    };
    shape::replay_shape(&rates, interval, speedup, scale).map_err(|why| InputError::file(path, why))
}

/// The closed or open model the flags ask for; with a shape, its peak users or its
/// mean rate.
fn load_from_args(
    args: &LoadtestArgs,
    shape: Option<&(&'static str, Shape)>,
) -> Result<LoadModel, InputError> {
    let open = match shape {
        Some((_, shape)) => shape.kind() == ShapeKind::Rate,
        None => args.rate.is_some(),
    };
    if !open {
        if args.connections.is_some() || args.arrivals.is_some() {
            return Err(InputError::flag(
                if args.connections.is_some() {
                    "--connections"
                } else {
                    "--arrivals"
                },
                "applies to the open model (--rate, --rate-stages, --replay or a rate --shape); \
                 with users each keeps its own connection and sends when its last answer came",
            ));
        }
        if let Some((flag, shape)) = shape {
            if args.spawn_rate.is_some() {
                return Err(InputError::flag(
                    "--spawn-rate",
                    format!("applies to --users; {flag} sets when users start and stop"),
                ));
            }
            let users = (shape.peak() + 1e-9).floor() as u32;
            return Ok(LoadModel::Closed {
                users,
                spawn_rate: f64::from(users),
            });
        }
        let users = args.users.unwrap_or(1);
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
        return Ok(LoadModel::Closed { users, spawn_rate });
    }
    let rate = match shape {
        Some((_, shape)) => shape.total() / shape.duration(),
        None => check_rate("--rate", args.rate.unwrap_or_default())?,
    };
    let connections = args.connections.unwrap_or(100);
    if !(1..=MAX_SESSIONS).contains(&connections) {
        return Err(InputError::flag(
            "--connections",
            format!("must be from 1 to {MAX_SESSIONS}; got {connections}"),
        ));
    }
    Ok(LoadModel::Open {
        rate,
        connections,
        arrivals: args.arrivals.unwrap_or(Arrivals::Uniform),
    })
}

/// The run's length: `--duration` (default 10 s), or the shape's, which `--duration`
/// must then not contradict.
fn run_duration(
    args: &LoadtestArgs,
    shape: Option<&(&'static str, Shape)>,
) -> Result<Duration, InputError> {
    let Some((flag, shape)) = shape else {
        let duration = args.duration.unwrap_or(DEFAULT_DURATION);
        if duration.is_zero() {
            return Err(InputError::flag("--duration", "must be longer than zero"));
        }
        if duration > MAX_DURATION {
            return Err(InputError::flag("--duration", "must be at most 365d"));
        }
        return Ok(duration);
    };
    let length = Duration::from_secs_f64(shape.duration());
    if let Some(given) = args.duration {
        if given.abs_diff(length) > Duration::from_millis(1) {
            return Err(InputError::flag(
                "--duration",
                format!(
                    "{} conflicts with {flag}, which lasts {}: the shape sets the run's \
                     length, so drop --duration (or make the shape last as long)",
                    seconds(given),
                    seconds(length)
                ),
            ));
        }
    }
    Ok(length)
}

/// A duration for a message: `90s`, `2.5s`.
fn seconds(d: Duration) -> String {
    format!("{}s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
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
            duration: args.duration.unwrap_or(DEFAULT_DURATION),
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

    fn args(argv: &[&str]) -> LoadtestArgs {
        let mut full = vec!["capplan", "loadtest", "--url", "http://127.0.0.1:9/"];
        full.extend_from_slice(argv);
        let Command::Loadtest(args) = Cli::parse_from(full).command else {
            unreachable!()
        };
        args
    }

    #[test]
    fn a_forecast_replays_its_rps_column_and_a_count_file_its_rate() {
        let dir = tempfile::tempdir().unwrap();
        let forecast = dir.path().join("forecast.csv");
        std::fs::write(
            &forecast,
            "timestamp,rps,lower,upper\n2026-03-02T00:00:00Z,100,80,120\n\
             2026-03-02T01:00:00Z,300,250,350\n",
        )
        .unwrap();
        let file = forecast.to_str().unwrap();
        let plan = plan_from_args(&args(&["--replay", file, "--speedup", "3600"])).unwrap();
        // Two hours at 3600x: two seconds at the file's rates.
        assert_eq!(plan.duration, Duration::from_secs(2));
        let shape = plan.shape.as_ref().unwrap();
        assert_eq!((shape.value_at(0.5), shape.value_at(1.5)), (100.0, 300.0));
        assert_eq!(plan.intended_requests(0.0, 2.0), Some(400.0));
        let LoadModel::Open { rate, .. } = plan.load else {
            panic!("a replay is open-model")
        };
        assert_eq!(rate, 200.0, "the mean rate");
        let counts = dir.path().join("counts.csv");
        std::fs::write(
            &counts,
            "timestamp,requests\n2026-03-02 00:00,600\n2026-03-02 00:01,1200\n",
        )
        .unwrap();
        let file = counts.to_str().unwrap();
        let plan = plan_from_args(&args(&["--replay", file, "--scale", "0.5"])).unwrap();
        // Requests per minute become a rate: 10/s and 20/s, halved, for a minute each.
        assert_eq!(plan.duration, Duration::from_secs(120));
        assert_eq!(plan.intended_requests(0.0, 120.0), Some(900.0));
        let (users, rps) = (plan.intended_users(5.0), plan.intended_requests(60.0, 61.0));
        assert_eq!((users, rps), (None, Some(10.0)));
    }

    #[test]
    fn a_users_shape_sets_the_closed_model_and_the_length() {
        let plan = plan_from_args(&args(&["--stages", "10s:20,20s:20,10s:0"])).unwrap();
        assert_eq!(plan.duration, Duration::from_secs(40));
        assert!(matches!(plan.load, LoadModel::Closed { users: 20, .. }));
        assert_eq!(plan.intended_users(5.0), Some(10));
        assert_eq!(plan.intended_users(40.0), Some(0));
        // --duration may repeat the shape's length.
        let same = plan_from_args(&args(&["--stages", "10s:20,30s:0", "--duration", "40s"]));
        assert!(same.is_ok());
        // Without a shape: 10 s, and users started at the spawn rate.
        let flat = plan_from_args(&args(&["--users", "10", "--spawn-rate", "2"])).unwrap();
        assert_eq!(flat.duration, Duration::from_secs(10));
        assert_eq!(flat.intended_users(2.0), Some(5));
        assert_eq!(flat.intended_users(9.0), Some(10));
    }
}
