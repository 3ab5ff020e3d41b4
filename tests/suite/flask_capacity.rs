//! `--find-capacity` against a real Python app: examples/flask_app under Gunicorn
//! with sync workers (2 and 4). `.ci/run` installs flask and gunicorn; elsewhere the
//! test is skipped with a message when they are missing.
use crate::common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The endpoint's known service time: WAIT_MS + CPU_MS.
const WAIT_MS: f64 = 45.0;
const CPU_MS: f64 = 5.0;

struct Gunicorn {
    child: Child,
    port: u16,
}

impl Gunicorn {
    fn start(workers: u32) -> Gunicorn {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let app_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/flask_app");
        let child = Command::new("python3")
            .args([
                "-m",
                "gunicorn",
                "--worker-class",
                "sync",
                "--log-level",
                "warning",
            ])
            .args([
                "--workers",
                &workers.to_string(),
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("app:app")
            .current_dir(app_dir)
            .env("WAIT_MS", WAIT_MS.to_string())
            .env("CPU_MS", CPU_MS.to_string())
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 runs gunicorn");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "gunicorn did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        // Let every worker boot before measuring.
        std::thread::sleep(Duration::from_millis(1500));
        Gunicorn { child, port }
    }
}

impl Drop for Gunicorn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn gunicorn_available() -> bool {
    Command::new("python3")
        .args(["-c", "import flask, gunicorn"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The endpoint's service time on this machine now, ms: the mean of sequential
/// requests from a plain client (a new connection each, as Gunicorn's sync
/// workers close them), measured just before the search and without capplan.
fn baseline_service_ms(port: u16) -> f64 {
    use std::io::{Read, Write};
    let mut took = Vec::new();
    for _ in 0..30 {
        let sent = Instant::now();
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .write_all(b"GET /work HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
        took.push(sent.elapsed().as_secs_f64() * 1e3);
    }
    took.iter().sum::<f64>() / took.len() as f64
}

/// The search's JSON (`profile` and every step, `search`) and the baseline service
/// time measured just before it.
fn find_capacity(workers: u32) -> (Value, f64) {
    let server = Gunicorn::start(workers);
    let baseline_ms = baseline_service_ms(server.port);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("search.json");
    let out = assert_cmd::Command::cargo_bin("capplan")
        .unwrap()
        .args([
            "loadtest",
            "--url",
            &format!("http://127.0.0.1:{}/work", server.port),
        ])
        .args([
            "--find-capacity",
            "--slo",
            "p95<500ms",
            "--step-duration",
            "4s",
            "--quiet",
        ])
        .args(["--workers-measured", &workers.to_string()])
        .arg("--json")
        .arg(&json)
        .timeout(Duration::from_secs(400))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    (run, baseline_ms)
}

#[test]
fn capacity_of_a_gunicorn_app_scales_with_its_workers() {
    // A capacity search measures latency; its CPU (the searches and Gunicorn): 50 % of
    // a core, measured (scripts/timing_tests_cpu.sh).
    let _guard = common::machine::timing(60, 120);
    if !gunicorn_available() {
        common::skip("python3 cannot import flask and gunicorn (pip install flask gunicorn)");
        return;
    }
    // Side by side, each on its own Gunicorn: at 35 and 70 rps of 45 ms waits and 5 ms
    // of CPU they use under half of the 2 cores, and measured so (3 runs, 2026-12-06)
    // they found the knees each finds alone (2 workers 35.0-35.3 rps against 35.1; 4
    // workers 70.3-70.8 against 70.6), in 119 s against 191 s one after the other.
    let ((two, two_ceiling), (four, four_ceiling)) = std::thread::scope(|s| {
        let four = s.spawn(|| plausible_capacity(4));
        let two = plausible_capacity(2);
        let four = four.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        (two, four)
    });
    let capacities = [two_ceiling, four_ceiling];

    // Twice the workers serve twice the rate, and the knee sits a little closer to it
    // (96 % against 92 %): 2.08x in theory. On a machine busy enough that the 4 workers
    // could serve less than 1.8x what the 2 did (other jobs took the cores the CPU part
    // needs), the raw ratio measures the machine: then compare each knee with what its
    // workers could serve, which must again agree within the band.
    let knee = |run: &Value| run["profile"]["sustainable_rps"].as_f64().unwrap();
    let ratio = knee(&four) / knee(&two);
    let capacity_ratio = capacities[1] / capacities[0];
    eprintln!("4 workers / 2 workers: knee {ratio:.2}x, capacity {capacity_ratio:.2}x");
    if capacity_ratio >= 1.8 {
        assert!(
            (1.7..=2.4).contains(&ratio),
            "4 workers / 2 workers = {ratio}, expected about 2"
        );
    } else {
        eprintln!("the machine was too busy for 4 workers to serve 2x of 2: comparing shares");
        let shares = ratio / capacity_ratio;
        assert!(
            (0.85..=1.2).contains(&shares),
            "knee / capacity with 4 workers over that with 2 = {shares}, expected about 1.04"
        );
    }
}

/// A search whose knee is at least 86 % of what the workers could serve, and the rate
/// they could serve. A search on a shared 2-core machine is sometimes thrown by the
/// other tenants (one in five, seen): a knee under 86 % is measured once more, on a
/// fresh Gunicorn, and the test fails only when that one misses too.
fn plausible_capacity(workers: u32) -> (Value, f64) {
    let (first, baseline) = find_capacity(workers);
    match judge(&first, baseline) {
        Ok(ceiling) => (first, ceiling),
        Err(why) => {
            eprintln!("{why}; measuring once more");
            let (second, baseline) = find_capacity(workers);
            match judge(&second, baseline) {
                Ok(ceiling) => (second, ceiling),
                Err(again) => panic!("{why}; then {again}"),
            }
        }
    }
}

/// Check one search against what its workers could serve; `Ok` with that rate.
fn judge(run: &Value, baseline_ms: f64) -> Result<f64, String> {
    let known_ms = WAIT_MS + CPU_MS;
    let profile = &run["profile"];
    let workers = profile["workers_measured"].as_f64().unwrap();
    // Low-load service time: the endpoint's work plus a few ms of Gunicorn/Flask and a
    // new TCP connection per request (sync workers close it), more on a busy machine:
    // what a plain client measured just before, not a fixed figure. The work itself
    // is a floor.
    let mean = profile["service_time_ms"]["mean"].as_f64().unwrap();
    assert!(
        mean >= known_ms && (0.8 * baseline_ms..=1.25 * baseline_ms).contains(&mean),
        "service time {mean:.1}ms; a plain client measured {baseline_ms:.1}ms just before, \
         the endpoint does {known_ms}ms of work"
    );
    // A sync worker serves one request at a time: the workers can serve at most
    // workers / service time. Under Poisson arrivals the p95 of an M/D/c queue reaches
    // 500 ms (10 service times) at 92 % of that with 2 workers and 96 % with 4. The
    // search stops within its 2 % tolerance below the knee, and Gunicorn's service
    // time varies (an M/G/c queue reaches the p95 sooner than M/D/c): a sound search
    // finds at least 86 % (seen: 89-103 %, docs/BENCHMARKS.md; a broken one lands far
    // lower). On a busy machine the workers may serve less than that while the search
    // runs (they share 2 cores with everything else); the rate they served in the
    // steps they could not keep up with measures it.
    let nominal = workers * 1000.0 / mean;
    let found = profile["sustainable_rps"].as_f64().unwrap();
    let steps: Vec<&Value> = run["search"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["measurement"])
        .collect();
    let achieved = |m: &Value| m["achieved_rps"].as_f64().unwrap();
    let offered = |m: &Value| m["offered_rps"].as_f64().unwrap();
    // Only a step beyond the knee that fell clearly short of its offer shows the
    // workers saturated; a short step at a low rate can fall 3 % short by Poisson
    // chance alone, and must not be read as the ceiling (seen: 35 rps for a knee
    // of 78). When the workers did saturate, the most they served in any step is
    // what they could serve on this machine.
    let saturated = steps
        .iter()
        .any(|m| offered(m) > found && achieved(m) < 0.97 * offered(m));
    let served = if saturated {
        steps.iter().map(|m| achieved(m)).fold(f64::NAN, f64::max)
    } else {
        f64::NAN
    };
    let ceiling = nominal.min(served);
    eprintln!(
        "{workers} workers: knee {found:.1} rps, service {mean:.1}ms (plain client {baseline_ms:.1}ms), {:.1}% of workers / service time, \
         {:.1}% of workers / {known_ms}ms, {:.1}% of the {served:.1} rps served when overloaded",
        100.0 * found / nominal,
        100.0 * found * known_ms / 1000.0 / workers,
        100.0 * found / served,
    );
    if found < 0.86 * ceiling {
        return Err(format!(
            "knee {found:.1} rps with {workers} workers, which can serve {ceiling:.1} rps"
        ));
    }
    // Nor more than the endpoint's own work allows (connection set-up overlaps with
    // another request's service, so the low-load time is not a hard ceiling).
    assert!(
        found <= 1.05 * workers * 1000.0 / known_ms,
        "knee {found:.1} rps with {workers} workers of {known_ms}ms each"
    );
    let per_worker = profile["rps_per_worker"].as_f64().unwrap();
    assert!((per_worker - found / workers).abs() < 1e-9);
    Ok(ceiling)
}
