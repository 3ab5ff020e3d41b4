//! The HTML reports in a real browser: each report is made by the binary, opened in
//! headless Chromium, checked for console errors and drawn charts, and screenshotted
//! into target/html-screenshots/ for people to look at.
//!
//! Without Chromium the test is skipped with a message, unless CI=true, where it fails.
mod common;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command as Cmd;

const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.is_file())
        })
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is not installed: .ci/run must `apt-get install -y chromium`"
        );
        eprintln!("SKIPPED html_browser: chromium is not installed (apt-get install -y chromium)");
    }
    found
}

/// What Chromium printed.
struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Run headless Chromium on `page` with `extra` flags, a fresh profile, no network.
/// Its output goes to files: a DOM dump is larger than a pipe's buffer.
fn browse(browser: &Path, page: &Path, extra: &[String]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let out_path = profile.path().join("stdout");
    let err_path = profile.path().join("stderr");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
        ])
        .arg(format!(
            "--user-data-dir={}",
            profile.path().join("profile").display()
        ))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .expect("starting chromium");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {BROWSER_TIMEOUT:?} on {page:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read(&err_path).unwrap();
    assert!(
        status.success(),
        "chromium failed on {page:?}: {}",
        String::from_utf8_lossy(&stderr)
    );
    Output {
        stdout: std::fs::read(&out_path).unwrap(),
        stderr,
    }
}

/// Console messages Chromium logged for the page (it logs them as `CONSOLE`).
fn console_messages(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

/// The page's DOM after loading; panics on console errors.
fn load_dom(browser: &Path, page: &Path) -> String {
    let out = browse(browser, page, &["--dump-dom".to_string()]);
    let console = console_messages(&out.stderr);
    assert!(
        console.is_empty(),
        "console messages on {page:?}: {console:?}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Screenshot `page` to `shot`; returns (distinct colours, share of non-white pixels).
fn screenshot(browser: &Path, page: &Path, shot: &Path) -> (usize, f64) {
    browse(browser, page, &[format!("--screenshot={}", shot.display())]);
    let decoder = png::Decoder::new(std::io::BufReader::new(File::open(shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 2000));
    let bytes_per_pixel = info.line_size / info.width as usize;
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()]
        .chunks(bytes_per_pixel)
        .map(|p| &p[..3])
        .collect();
    let colours: std::collections::HashSet<&[u8]> = pixels.iter().copied().collect();
    let ink = pixels.iter().filter(|p| p.iter().any(|&c| c < 235)).count();
    (colours.len(), ink as f64 / pixels.len() as f64)
}

fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("html-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
        .display()
        .to_string()
}

/// One report: its DOM holds `svgs` charts and every `texts`, its screenshot is not blank.
fn check_report(browser: &Path, page: &Path, name: &str, svgs: usize, texts: &[&str]) {
    let html = std::fs::read_to_string(page).unwrap();
    for reference in ["src=", "href=\"http", "@import", "url("] {
        assert!(
            !html.contains(reference),
            "{name}: external reference {reference}"
        );
    }
    let dom = load_dom(browser, page);
    let drawn = dom.matches("<svg").count();
    assert!(
        drawn >= svgs,
        "{name}: {drawn} charts in the DOM, expected {svgs}"
    );
    assert!(dom.contains("<path d=\"M"), "{name}: no line drawn");
    for text in texts {
        assert!(dom.contains(text), "{name}: {text:?} missing from the page");
    }
    let shot = screenshot_dir().join(format!("{name}.png"));
    let (colours, ink) = screenshot(browser, page, &shot);
    assert!(
        colours > 50,
        "{name}: screenshot has only {colours} colours"
    );
    assert!(
        ink > 0.03,
        "{name}: screenshot is almost blank ({ink:.3} ink)"
    );
    eprintln!(
        "{name}: {drawn} charts, {colours} colours, screenshot {}",
        shot.display()
    );
}

#[test]
fn reports_load_and_draw_in_headless_chromium() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);

    // The checker itself must catch a console error.
    let broken = path("broken.html");
    std::fs::write(&broken, "<p>x</p><script>console.error('boom')</script>").unwrap();
    let out = browse(&browser, &broken, &["--dump-dom".to_string()]);
    assert_eq!(
        console_messages(&out.stderr).len(),
        1,
        "console errors are not detected"
    );

    let target = common::Target::start(&["--service-time", "exp:5ms", "--error-rate", "2%"]);
    Cmd::cargo_bin("capplan")
        .unwrap()
        .args(["loadtest", "--url", &target.url_for("/"), "--users", "4"])
        .args(["--duration", "3s", "--quiet"])
        .args(["--threshold", "p99<10s", "--threshold", "error_rate<0.1%"])
        .arg("--html")
        .arg(path("loadtest.html"))
        .assert()
        .code(1);
    drop(target);
    check_report(
        &browser,
        &path("loadtest.html"),
        "loadtest",
        4,
        &[
            "Latency by percentile",
            "99.9%",
            "p99&lt;10s",
            "PASS",
            "FAIL",
            "HTTPError: 500",
        ],
    );

    Cmd::cargo_bin("capplan")
        .unwrap()
        .args(["forecast", "--history", &fixture("history_hourly.csv")])
        .args(["--rps-per-instance", "40", "--quiet", "--html"])
        .arg(path("forecast.html"))
        .assert()
        .success();
    check_report(
        &browser,
        &path("forecast.html"),
        "forecast",
        3,
        &[
            "90% interval",
            "Independence Day",
            "seasonal-naive",
            "Predicted daily peaks",
            "Pre-warm schedule",
        ],
    );

    Cmd::cargo_bin("capplan")
        .unwrap()
        .args([
            "simulate",
            "--traffic",
            &fixture("simulate/traffic_day.csv"),
        ])
        .args(["--capacity", &fixture("simulate/capacity.json")])
        .args(["--forecast", &fixture("simulate/forecast_day.csv")])
        .args(["--recommend", "--instance-cost", "0.1", "--quiet", "--html"])
        .arg(path("simulate.html"))
        .assert()
        .success();
    check_report(
        &browser,
        &path("simulate.html"),
        "simulate",
        4,
        &[
            "PREWARM_FORECAST",
            "SCALE_DOWN_WINDOW",
            "recommended",
            "SLO 300.0ms",
            "in service",
        ],
    );
}
