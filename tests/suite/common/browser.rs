//! Headless Chromium for the report tests: open a page, catch console errors,
//! read the DOM, take a screenshot. Without Chromium the tests skip, unless CI=true.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(90);

pub fn chromium() -> Option<PathBuf> {
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
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Run headless Chromium on `page` with `extra` flags, a fresh profile, no network.
/// Its output goes to files: a DOM dump is larger than a pipe's buffer.
pub fn browse(browser: &Path, page: &Path, extra: &[String]) -> Output {
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
pub fn console_messages(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect()
}

/// The page's DOM after loading; panics on console errors.
pub fn load_dom(browser: &Path, page: &Path) -> String {
    let out = browse(browser, page, &["--dump-dom".to_string()]);
    let console = console_messages(&out.stderr);
    assert!(
        console.is_empty(),
        "console messages on {page:?}: {console:?}"
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Screenshot `page` to `shot`; returns (distinct colours, share of non-white pixels).
pub fn screenshot(browser: &Path, page: &Path, shot: &Path) -> (usize, f64) {
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

pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("html-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One report: its DOM holds `svgs` charts and every `texts`, its screenshot is not blank.
pub fn check_report(browser: &Path, page: &Path, name: &str, svgs: usize, texts: &[&str]) {
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
