//! Replays the fuzz corpus (fuzz/corpus/TARGET/) and the crash regressions
//! (fuzz/regressions/TARGET/) through the fuzz targets' checks, on stable:
//! CI cannot afford the fuzz build, but a parser change that breaks a property
//! on a known input fails here. See docs/fuzzing.md.
#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = root.join("corpus").join(target);
    let mut replayed = 0;
    for dir in [corpus.clone(), root.join("regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            // Only the corpus is required; regressions exist once a crash was found.
            assert!(dir != corpus, "missing corpus directory {}", dir.display());
            continue;
        };
        let mut files: Vec<_> = entries.map(|e| e.expect("a corpus entry").path()).collect();
        files.sort();
        for file in files.iter().filter(|f| f.is_file()) {
            let data = std::fs::read(file).expect("a readable corpus file");
            let outcome = std::panic::catch_unwind(|| check(&data));
            assert!(
                outcome.is_ok(),
                "{target}: {} breaks a property",
                file.display()
            );
            if dir == corpus {
                replayed += 1;
            }
        }
    }
    assert!(replayed > 0, "empty corpus directory {}", corpus.display());
}

#[test]
fn http1_head() {
    let _machine = crate::common::machine::shared();
    replay("http1_head", checks::http1_head);
}

#[test]
fn http1_body() {
    let _machine = crate::common::machine::shared();
    replay("http1_body", checks::http1_body);
}

#[test]
fn timestamp() {
    let _machine = crate::common::machine::shared();
    replay("timestamp", checks::timestamp);
}

#[test]
fn threshold() {
    let _machine = crate::common::machine::shared();
    replay("threshold", checks::threshold);
}

#[test]
fn scenario_toml() {
    let _machine = crate::common::machine::shared();
    replay("scenario_toml", checks::scenario_toml);
}

#[test]
fn policy_toml() {
    let _machine = crate::common::machine::shared();
    replay("policy_toml", checks::policy_toml);
}

#[test]
fn policy_files() {
    let _machine = crate::common::machine::shared();
    replay("policy_files", checks::policy_files);
}

#[test]
fn traffic_csv() {
    let _machine = crate::common::machine::shared();
    replay("traffic_csv", checks::traffic_csv);
}

#[test]
fn profile() {
    let _machine = crate::common::machine::shared();
    replay("profile", checks::profile);
}

#[test]
fn holidays() {
    let _machine = crate::common::machine::shared();
    replay("holidays", checks::holidays);
}

#[test]
fn shard_dir() {
    let _machine = crate::common::machine::shared();
    replay("shard_dir", checks::shard_dir);
}

#[test]
fn load_shape() {
    let _machine = crate::common::machine::shared();
    replay("load_shape", checks::load_shape);
}
