//! History from Prometheus (`forecast --prometheus URL --query Q --since 35d`, and
//! the same for `simulate`): the HTTP API's `query_range`, split into requests under
//! its 11,000-points-per-series limit, start and end aligned to multiples of the
//! step as Grafana does (so hourly samples come back exactly), credentials from the
//! environment only. The answer is handed to the one reader of query_range JSON
//! (`formats::metrics_json`), as a file of it would be.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::cli::PrometheusArgs;
use crate::error::InputError;

/// Most points Prometheus returns per series in one `query_range`.
pub const MAX_POINTS: i64 = 11_000;
/// Bearer token for the Prometheus API (never on the command line, never printed).
pub const TOKEN_ENV: &str = "CAPPLAN_PROMETHEUS_TOKEN";
/// Basic-auth user and password for the Prometheus API.
pub const USER_ENV: &str = "CAPPLAN_PROMETHEUS_USER";
pub const PASSWORD_ENV: &str = "CAPPLAN_PROMETHEUS_PASSWORD";

/// A validated history query.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryQuery {
    /// The server's base URL (`http(s)://host:port[/prefix]`), without a trailing slash.
    pub url: String,
    pub query: String,
    /// How far back from `until`, seconds.
    pub since_seconds: i64,
    /// The end of the history (default: now).
    pub until: Option<DateTime<Utc>>,
    /// Add up several series instead of refusing them.
    pub sum_series: bool,
    /// A private CA for an HTTPS server.
    pub cacert: Option<PathBuf>,
}

impl HistoryQuery {
    /// The flags, checked (`None`: no `--prometheus`); `default_since`: the history
    /// read without `--since`.
    pub fn from_args(
        args: &PrometheusArgs,
        default_since: Duration,
    ) -> Result<Option<HistoryQuery>, InputError> {
        let Some(url) = &args.prometheus else {
            return Ok(None);
        };
        let parsed = url::Url::parse(url)
            .map_err(|e| InputError::flag("--prometheus", format!("{url:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(InputError::flag(
                "--prometheus",
                "must be an http:// or https:// URL",
            ));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(InputError::flag(
                "--prometheus",
                format!(
                    "credentials go in {USER_ENV}/{PASSWORD_ENV} or {TOKEN_ENV}, never in the URL"
                ),
            ));
        }
        let query = args
            .query
            .clone()
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| InputError::flag("--query", "--prometheus needs a PromQL query"))?;
        let since = args.since.unwrap_or(default_since).as_secs() as i64;
        if since < 3600 {
            return Err(InputError::flag(
                "--since",
                "must be at least 1h of history",
            ));
        }
        let until = match &args.until {
            Some(text) => Some(
                DateTime::parse_from_rfc3339(text)
                    .map_err(|e| {
                        InputError::flag("--until", format!("{text:?}: {e} (RFC 3339 expected)"))
                    })?
                    .with_timezone(&Utc),
            ),
            None => None,
        };
        Ok(Some(HistoryQuery {
            url: url.trim_end_matches('/').to_string(),
            query,
            since_seconds: since,
            until,
            sum_series: args.sum_series,
            cacert: args.cacert.clone(),
        }))
    }

    /// How errors name the source: the server and the query.
    pub fn display_name(&self) -> PathBuf {
        PathBuf::from(format!("{} query_range {:?}", self.url, self.query))
    }
}

/// Where a command's history comes from: the file `flag` names, or the Prometheus
/// query (then the path is the name errors give it). Clap makes exactly one be given.
pub fn history_source(
    file: Option<&PathBuf>,
    args: &PrometheusArgs,
    default_since: Duration,
    flag: &str,
) -> Result<(PathBuf, Option<HistoryQuery>), InputError> {
    let query = HistoryQuery::from_args(args, default_since)?;
    let name = match (file, &query) {
        (Some(path), _) => path.clone(),
        (None, Some(query)) => query.display_name(),
        (None, None) => {
            return Err(InputError::flag(
                flag,
                format!("give {flag} FILE or --prometheus URL --query Q"),
            ))
        }
    };
    Ok((name, query))
}

/// `[start, end]` ranges (Unix seconds, multiples of `step`) of at most `max_points`
/// points each, covering `since` seconds up to `until`: start and end are aligned
/// down to the step, as Grafana does, so the samples fall on the step's multiples.
pub fn ranges(until: i64, since: i64, step: i64, max_points: i64) -> Vec<(i64, i64)> {
    let end = until.div_euclid(step) * step;
    let start = (until - since).div_euclid(step) * step;
    let span = (max_points - 1) * step;
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let to = (from + span).min(end);
        out.push((from, to));
        from = to + step;
    }
    out
}

/// Fetch the history at `step_seconds` and return it as one query_range JSON text.
pub fn fetch(q: &HistoryQuery, step_seconds: i64) -> anyhow::Result<String> {
    let client = client(q)?;
    let until = q.until.unwrap_or_else(Utc::now).timestamp();
    let mut series: BTreeMap<String, (Value, Vec<Value>)> = BTreeMap::new();
    for (start, end) in ranges(until, q.since_seconds, step_seconds, MAX_POINTS) {
        let mut request = client.get(format!("{}/api/v1/query_range", q.url)).query(&[
            ("query", q.query.as_str()),
            ("start", &start.to_string()),
            ("end", &end.to_string()),
            ("step", &step_seconds.to_string()),
        ]);
        request = authorize(request);
        let response = request
            .send()
            .map_err(|e| anyhow::anyhow!("--prometheus {}: {}", q.url, describe(e)))?;
        let status = response.status();
        let body: Value = response.json().map_err(|e| {
            anyhow::anyhow!(
                "--prometheus {}: the answer (HTTP {status}) is not JSON: {}",
                q.url,
                describe(e)
            )
        })?;
        if body["status"] != "success" {
            return Err(InputError::flag(
                "--query",
                format!(
                    "Prometheus refused it (HTTP {status}): {} {}",
                    body["errorType"].as_str().unwrap_or(""),
                    body["error"].as_str().unwrap_or("")
                ),
            )
            .into());
        }
        for s in body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let key = s["metric"].to_string();
            let values = s["values"].as_array().cloned().unwrap_or_default();
            series
                .entry(key)
                .or_insert_with(|| (s["metric"].clone(), Vec::new()))
                .1
                .extend(values);
        }
    }
    if series.is_empty() {
        return Err(InputError::flag(
            "--query",
            format!(
                "Prometheus returned no samples for {:?} in the {} h up to {}",
                q.query,
                q.since_seconds / 3600,
                DateTime::from_timestamp(until, 0)
                    .unwrap_or_default()
                    .to_rfc3339()
            ),
        )
        .into());
    }
    if series.len() > 1 && !q.sum_series {
        let labels: Vec<&String> = series.keys().take(10).collect();
        return Err(InputError::flag(
            "--query",
            format!(
                "returns {} series, one history is needed: {}{}; aggregate them in the query \
                 (sum(...)) or give --sum-series",
                series.len(),
                labels
                    .iter()
                    .map(|l| l.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if series.len() > 10 { ", ..." } else { "" }
            ),
        )
        .into());
    }
    let result: Vec<Value> = series
        .into_values()
        .map(|(metric, values)| json!({"metric": metric, "values": values}))
        .collect();
    Ok(
        json!({"status": "success", "data": {"resultType": "matrix", "result": result}})
            .to_string(),
    )
}

fn client(q: &HistoryQuery) -> anyhow::Result<reqwest::blocking::Client> {
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("capplan/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = &q.cacert {
        let pem = std::fs::read(path)
            .map_err(|e| InputError::flag("--cacert", format!("{}: {e}", path.display())))?;
        let cert = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| InputError::flag("--cacert", format!("{}: {e}", path.display())))?;
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder.build()?)
}

/// Credentials from the environment: a bearer token, or a user and password.
fn authorize(request: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
    if let Ok(token) = std::env::var(TOKEN_ENV) {
        return request.bearer_auth(token);
    }
    match std::env::var(USER_ENV) {
        Ok(user) => request.basic_auth(user, std::env::var(PASSWORD_ENV).ok()),
        Err(_) => request,
    }
}

/// A client error and its causes, without the URL (the query is named elsewhere).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_aligned_to_the_step_and_under_the_point_limit() {
        // 35 days of hours up to 10:37: from 35 days before 10:00 to 10:00.
        let until = 1_767_000_000 + 37 * 60;
        let r = ranges(until, 35 * 86_400, 3600, MAX_POINTS);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].0 % 3600, 0);
        assert_eq!(r[0].1 % 3600, 0);
        assert_eq!((r[0].1 - r[0].0) / 3600 + 1, 35 * 24 + 1);
        // A year of minutes: every range at most 11,000 points, contiguous, no overlap.
        let r = ranges(until, 365 * 86_400, 60, MAX_POINTS);
        assert!(r.iter().all(|(a, b)| (b - a) / 60 < MAX_POINTS));
        assert!(r.windows(2).all(|w| w[1].0 == w[0].1 + 60));
        let points: i64 = r.iter().map(|(a, b)| (b - a) / 60 + 1).sum();
        assert_eq!(points, 365 * 1440 + 1);
    }
}
