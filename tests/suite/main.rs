//! The integration tests: one binary, so that they run in parallel with each other (a test
//! binary per file ran one after another) and link once. Tests whose figures depend on
//! timing take common::machine::timing() or alone(), every other test shared()
//! (common/machine.rs, suite_rules.rs).
mod common;

/// libtest's threads for this binary: a test waiting for its machine guard holds one,
/// so there is one for every test (about 280): they all start at once and
/// common/machine.rs decides which run, the longest timing tests first. The unit tests keep
/// libtest's default, one a core: their timer tests want a quiet machine. libtest reads
/// RUST_TEST_THREADS before any test runs, so this sets it before `main`, unless the
/// caller did (`--test-threads` overrides both).
#[used]
#[link_section = ".init_array"]
static TEST_THREADS: extern "C" fn() = {
    extern "C" fn enough_test_threads() {
        if std::env::var_os("RUST_TEST_THREADS").is_none() {
            std::env::set_var("RUST_TEST_THREADS", "400");
        }
    }
    enough_test_threads
};

mod bounds;
mod ci_example;
mod demo;
mod faults;
mod flask_capacity;
mod forecast_cli;
mod forecast_model;
mod forecast_schedule;
mod fuzz_corpus;
mod h2_faults;
mod html_browser;
mod html_cli;
mod json_schema;
mod junit;
mod kubernetes_example;
mod loadtest;
mod locust_csv;
mod model_validation;
mod outputs;
mod prometheus;
mod prometheus_history;
mod real_servers;
mod real_tls_h2;
mod run_api;
mod scenarios;
mod shapes;
mod shards;
mod simulate_cli;
mod simulate_docs;
mod simulate_latency;
mod simulate_policies;
mod simulate_real_data;
mod simulate_recommend;
mod simulate_scenarios;
mod simulate_warnings;
mod simulate_whatif;
mod snapshots;
mod suite_rules;
mod target;
mod traffic_csv;
