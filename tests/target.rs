//! `capplan target` through the real binary: accuracy, backlog, errors, routes, exit codes.
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::Target;
use reqwest::StatusCode;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("building the test client")
}

/// Completions seen by a closed-loop client inside its measurement window.
struct ClosedLoop {
    ok: usize,
    other: usize,
    window: Duration,
}

/// `connections` keep-alive loops that send the next request as soon as the
/// previous answer arrives; completions are counted after `warmup`, for `window`.
async fn closed_loop(
    url: &str,
    connections: usize,
    warmup: Duration,
    window: Duration,
) -> ClosedLoop {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let start = Instant::now();
    let (from, until) = (start + warmup, start + warmup + window);
    let url: Arc<str> = url.into();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            tokio::spawn(async move {
                let (mut ok, mut other) = (0, 0);
                while Instant::now() < until {
                    let resp = client.get(&*url).send().await.expect("request failed");
                    let status = resp.status();
                    resp.bytes().await.expect("reading body");
                    let done = Instant::now();
                    if done >= from && done < until {
                        if status == StatusCode::OK {
                            ok += 1;
                        } else {
                            other += 1;
                        }
                    }
                }
                (ok, other)
            })
        })
        .collect();
    let (mut ok, mut other) = (0, 0);
    for task in tasks {
        let (o, x) = task.await.unwrap();
        ok += o;
        other += x;
    }
    ClosedLoop { ok, other, window }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_throughput_is_workers_over_service_time() {
    let target = Target::start(&["--workers", "8", "--service-time", "20ms"]);
    let run = closed_loop(
        &target.url_for("/"),
        50,
        Duration::from_millis(500),
        Duration::from_secs(3),
    )
    .await;
    let rps = run.ok as f64 / run.window.as_secs_f64();
    eprintln!("saturated: {rps:.1} rps (expected 400)");
    assert_eq!(run.other, 0, "no errors expected below the backlog");
    assert!(
        (rps - 400.0).abs() <= 20.0,
        "throughput {rps:.1} rps, expected 400 within 5%"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unloaded_p50_is_the_service_time() {
    let target = Target::start(&["--workers", "8", "--service-time", "20ms"]);
    let client = client();
    let url = target.url_for("/");
    // The first request opens the connection; it is not measured.
    client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut latencies = Vec::new();
    for _ in 0..40 {
        let sent = Instant::now();
        let resp = client.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.bytes().await.unwrap();
        latencies.push(sent.elapsed());
    }
    latencies.sort();
    let p50 = latencies[latencies.len() / 2].as_secs_f64() * 1e3;
    eprintln!("unloaded p50: {p50:.2} ms");
    assert!(
        (20.0..=23.0).contains(&p50),
        "p50 {p50:.2} ms, expected 20-23 ms"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exponential_service_time_has_the_configured_mean() {
    let target = Target::start(&[
        "--workers",
        "8",
        "--service-time",
        "exp:20ms",
        "--seed",
        "3",
    ]);
    let client = client();
    let url: Arc<str> = target.url_for("/").into();
    // Eight sequential loops on eight workers: nobody queues, latency = service.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            tokio::spawn(async move {
                let mut total = Duration::ZERO;
                for _ in 0..50 {
                    let sent = Instant::now();
                    client
                        .get(&*url)
                        .send()
                        .await
                        .unwrap()
                        .bytes()
                        .await
                        .unwrap();
                    total += sent.elapsed();
                }
                total
            })
        })
        .collect();
    let mut total = Duration::ZERO;
    for task in tasks {
        total += task.await.unwrap();
    }
    let mean_ms = total.as_secs_f64() * 1e3 / 400.0;
    eprintln!("exp:20ms mean latency: {mean_ms:.2} ms");
    // Mean of 400 exponential draws: standard error 1 ms; plus ~1 ms of overhead.
    assert!((17.0..=25.0).contains(&mean_ms), "mean {mean_ms:.2} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_backlog_answers_503_at_once() {
    let target = Target::start(&[
        "--workers",
        "1",
        "--backlog",
        "2",
        "--service-time",
        "500ms",
    ]);
    let client = client();
    let url: Arc<str> = target.url_for("/").into();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            tokio::spawn(async move {
                let sent = Instant::now();
                let resp = client.get(&*url).send().await.unwrap();
                let status = resp.status();
                resp.bytes().await.unwrap();
                (status, sent.elapsed())
            })
        })
        .collect();
    let mut ok = 0;
    let mut refused = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (StatusCode::OK, _) => ok += 1,
            (StatusCode::SERVICE_UNAVAILABLE, took) => refused.push(took),
            (status, _) => panic!("unexpected status {status}"),
        }
    }
    // One in service and two waiting; the other 17 are refused.
    assert_eq!((ok, refused.len()), (3, 17));
    let slowest = refused.iter().max().unwrap();
    assert!(
        *slowest < Duration::from_millis(400),
        "a 503 took {slowest:?}"
    );

    let stopped = target.stop();
    assert!(stopped.status.success(), "exit status {}", stopped.status);
    assert!(
        stopped.stderr.contains("served 3 requests")
            && stopped.stderr.contains("rejected 17 with 503"),
        "summary: {}",
        stopped.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_is_about_as_configured() {
    let target = Target::start(&[
        "--workers",
        "8",
        "--service-time",
        "1ms",
        "--error-rate",
        "20%",
    ]);
    let client = client();
    let url: Arc<str> = target.url_for("/api/items").into();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), Arc::clone(&url));
            tokio::spawn(async move {
                let mut errors = 0;
                for _ in 0..125 {
                    let resp = client.get(&*url).send().await.unwrap();
                    match resp.status() {
                        StatusCode::OK => {}
                        StatusCode::INTERNAL_SERVER_ERROR => errors += 1,
                        status => panic!("unexpected status {status}"),
                    }
                    resp.bytes().await.unwrap();
                }
                errors
            })
        })
        .collect();
    let mut errors = 0;
    for task in tasks {
        errors += task.await.unwrap();
    }
    let rate = errors as f64 / 1000.0;
    // Binomial(1000, 0.2): standard deviation 0.013.
    assert!((0.15..=0.25).contains(&rate), "error rate {rate}");
    let stopped = target.stop();
    let expected = format!("served 1000 requests ({errors} answered 500)");
    assert!(
        stopped.stderr.contains(&expected),
        "summary: {}",
        stopped.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_as_documented() {
    let target = Target::start(&["--workers", "2", "--service-time", "5ms"]);
    let client = client();
    let get = |path: &str| client.get(target.url_for(path)).send();

    let index = get("/").await.unwrap();
    assert_eq!(index.status(), StatusCode::OK);
    assert!(index.text().await.unwrap().contains("hello"));

    let items: serde_json::Value = get("/api/items").await.unwrap().json().await.unwrap();
    assert_eq!(items.as_array().map(Vec::len), Some(3));

    let posted = client
        .post(target.url_for("/api/items"))
        .json(&serde_json::json!([{"id": 1}, {"id": 2}]))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::CREATED);
    assert_eq!(posted.text().await.unwrap(), r#"{"received":2}"#);
    let not_json = client
        .post(target.url_for("/api/items"))
        .body("nope")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);

    let sent = Instant::now();
    assert_eq!(get("/slow").await.unwrap().status(), StatusCode::OK);
    assert!(
        sent.elapsed() >= Duration::from_millis(50),
        "/slow took {:?}",
        sent.elapsed()
    );

    assert_eq!(get("/health").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        get("/missing").await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let wrong_method = get("/login").await.unwrap();
    assert_eq!(wrong_method.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.headers()["allow"], "POST");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_does_not_wait_for_a_worker() {
    let target = Target::start(&["--workers", "1", "--service-time", "3s"]);
    let client = client();
    let busy = tokio::spawn(client.get(target.url_for("/")).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    let sent = Instant::now();
    assert_eq!(
        client
            .get(target.url_for("/health"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        client
            .get(target.url_for("/nope"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "took {:?}",
        sent.elapsed()
    );
    busy.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_cookie_identifies_the_session() {
    let target = Target::start(&["--workers", "2", "--service-time", "1ms"]);
    let user = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    assert_eq!(
        user.get(target.url_for("/whoami"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let login: serde_json::Value = user
        .post(target.url_for("/login"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = login["session"]
        .as_str()
        .expect("session id in the body")
        .to_string();
    let whoami = user.get(target.url_for("/whoami")).send().await.unwrap();
    assert_eq!(whoami.status(), StatusCode::OK);
    assert_eq!(whoami.text().await.unwrap().trim(), session);

    // Another user (another jar) is not logged in.
    let stranger = client()
        .get(target.url_for("/whoami"))
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaks_http2_with_prior_knowledge() {
    let target = Target::start(&["--workers", "2", "--service-time", "1ms"]);
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2.get(target.url_for("/api/items")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn stops_after_duration_with_a_summary() {
    let output = Command::cargo_bin("capplan")
        .unwrap()
        .args(["target", "--port", "0", "--duration", "300ms"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("listening on http://127.0.0.1:"),
        "stdout: {stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "exactly one line on stdout");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("served 0 requests"), "stderr: {stderr}");
}

#[test]
fn bad_flags_exit_2() {
    for (args, needle) in [
        (["--service-time", "fast"], "--service-time"),
        (["--service-time", "exp"], "--service-time"),
        (["--workers", "0"], "--workers"),
        (["--error-rate", "150%"], "--error-rate"),
        (["--host", "no such host!"], "--host"),
    ] {
        let output = Command::cargo_bin("capplan")
            .unwrap()
            .args(["target", "--port", "0", "--duration", "5s"])
            .args(args)
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

#[test]
fn port_in_use_exits_3() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = Command::cargo_bin("capplan")
        .unwrap()
        .args(["target", "--port", &port, "--duration", "5s"])
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("already in use"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "no listening line when the bind failed"
    );
}
