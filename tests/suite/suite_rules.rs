//! The suite's own rules, checked on its source.
use std::path::Path;

/// Every test takes one machine guard (common/machine.rs) in its first lines, bound to
/// a `_name` (`let _ =` would drop it at once): a test that took none would run beside
/// the timing tests at full priority and skew them, and one that took a second could
/// wait forever for a place its first one holds. A shared test's tokio runtime is
/// `current_thread`: a multi-thread runtime's workers start before the guard and would
/// keep normal priority.
#[test]
fn every_test_takes_the_machine_lock() {
    let _machine = crate::common::machine::shared();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/suite");
    let guard = |line: &str| {
        let Some(name) = line.trim_start().strip_prefix("let _") else {
            return false;
        };
        let timing = line
            .split("timing(")
            .skip(1)
            .any(|after| after.starts_with(|c: char| c.is_ascii_digit()));
        name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && (timing || line.contains("alone()") || line.contains("shared()"))
    };
    let (mut unguarded, mut twice, mut threaded) = (Vec::new(), Vec::new(), Vec::new());
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (at, line) in lines.iter().enumerate() {
            let line = line.trim();
            if line != "#[test]" && !line.starts_with("#[tokio::test") {
                continue;
            }
            // The body starts after the signature's `{` and ends at the `}` in column 0.
            let Some(open) = (at..lines.len()).find(|&i| lines[i].trim_end().ends_with('{')) else {
                continue;
            };
            let end = (open..lines.len())
                .find(|&i| lines[i] == "}")
                .unwrap_or(lines.len());
            let where_ = format!("{}:{}", path.display(), open + 1);
            let Some(first) = lines[open + 1..(open + 5).min(end)]
                .iter()
                .find(|l| guard(l))
            else {
                unguarded.push(where_);
                continue;
            };
            if lines[open + 1..end].iter().filter(|l| guard(l)).count() > 1 {
                twice.push(where_.clone());
            }
            if line.contains("multi_thread") && first.contains("shared()") {
                threaded.push(where_);
            }
        }
    }
    assert!(
        unguarded.is_empty(),
        "tests that take none of machine::alone(), timing(N) and shared() first, bound to a `_name`: {unguarded:?}"
    );
    assert!(
        twice.is_empty(),
        "tests that take a machine guard twice: {twice:?}"
    );
    assert!(
        threaded.is_empty(),
        "shared tests on a multi-thread tokio runtime (use #[tokio::test]): {threaded:?}"
    );
}
