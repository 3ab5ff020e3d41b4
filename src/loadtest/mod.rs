//! `capplan loadtest`: scenario, engine (closed/open), recorder, thresholds.
pub mod aggregator;
pub mod capacity_search;
pub mod checks;
pub mod client;
pub mod connector;
pub mod cpu;
pub mod engine;
pub mod fd_limit;
pub mod find_capacity;
pub mod flow;
pub mod h2_frame;
pub mod history_spill;
pub mod hpack;
pub mod http1;
pub mod http1_conn;
pub mod http2_conn;
pub mod plan;
pub mod reach;
pub mod recorder;
pub mod result;
pub mod run;
pub mod scenario;
pub mod template;
pub mod threshold;
pub mod tls;

pub use run::{Observer, Run};
