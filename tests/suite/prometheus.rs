//! `loadtest --metrics-listen` scraped by a real Prometheus (started by the test on a
//! free port with its own config): the counters it stored add up to the run's own
//! totals, and every query of examples/grafana/capplan-loadtest.json returns data
//! (issue 17, item 2).
use crate::common;

use std::path::Path;
use std::time::Duration;

use common::servers::{free_port, require, unix_now, Component, Prometheus};
use common::Target;
use serde_json::Value;

#[test]
fn prometheus_scrapes_the_live_metrics_and_they_add_up_to_the_run() {
    let _machine = crate::common::machine::shared();
    if !require(&[Component::Prometheus]) {
        return;
    }
    let target = Target::start(&["--workers", "4", "--service-time", "2ms"]);
    let metrics_port = free_port();
    let prometheus = Prometheus::start(&format!("127.0.0.1:{metrics_port}"));

    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.toml");
    std::fs::write(
        &scenario,
        format!(
            "host = \"{}\"\n[[task]]\npath = \"/api/items\"\nweight = 3\n[[task]]\npath = \"/nope\"\n",
            target.url
        ),
    )
    .unwrap();
    let json = dir.path().join("run.json");
    // The open model, so that the intended rate is served too.
    let out = common::capplan()
        .arg("loadtest")
        .arg("--scenario")
        .arg(&scenario)
        .args([
            "--rate",
            "200",
            "--connections",
            "8",
            "--duration",
            "5s",
            "--quiet",
        ])
        .arg("--metrics-listen")
        .arg(format!("127.0.0.1:{metrics_port}"))
        .args(["--metrics-linger", "3s", "--json"])
        .arg(&json)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Halfway through the 3 s linger: the run's last second is in, the target still up.
    let lingering = unix_now() - 1.5;
    let run: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let requests = run["requests"].as_u64().unwrap();
    let failures = run["failures"].as_u64().unwrap();
    assert!(requests > 500 && failures > 0, "{run}");

    // What Prometheus stored from its last scrape equals what the run reported.
    assert_eq!(
        prometheus.value_at("sum(capplan_requests_total)", lingering) as u64,
        requests
    );
    assert_eq!(
        prometheus.value_at("sum(capplan_failures_total)", lingering) as u64,
        failures
    );
    assert_eq!(
        prometheus.value_at("capplan_request_duration_seconds_count", lingering) as u64,
        requests
    );
    let task = |name: &str| {
        run["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("no task {name}"))
            .clone()
    };
    assert_eq!(
        prometheus.value_at("capplan_requests_total{endpoint=\"/nope\"}", lingering) as u64,
        task("/nope")["requests"].as_u64().unwrap()
    );
    assert_eq!(
        prometheus.value_at(
            "capplan_failures_total{endpoint=\"/nope\",kind=\"HTTPError\",error=\"404 Not Found\"}",
            lingering
        ) as u64,
        task("/nope")["failures"].as_u64().unwrap()
    );
    assert_eq!(
        prometheus.value_at("capplan_intended_rps", lingering),
        200.0
    );
    let info = prometheus.query_at("capplan_info", lingering);
    assert_eq!(info[0]["metric"]["model"], "open", "{info:?}");

    // Every panel of the Grafana dashboard asks Prometheus something it has.
    let dashboard: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/grafana/capplan-loadtest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut queries = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"]
                .as_str()
                .unwrap()
                .replace("$__rate_interval", "1m");
            assert!(
                !prometheus.query_at(&expr, lingering).is_empty(),
                "panel {:?}: {expr} returned nothing",
                panel["title"]
            );
            queries += 1;
        }
    }
    assert!(queries >= 8, "{queries} queries");
}
