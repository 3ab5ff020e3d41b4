//! The integration tests: one binary, so that they run in parallel with each other (a test
//! binary per file ran one after another) and link once. Tests whose figures depend on
//! timing take common::machine::alone(), every other test shared() (suite_rules.rs).
mod common;

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
