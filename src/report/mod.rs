//! Presentation only: tables, CSV, JSON, hlog. Each renderer is a pure function from
//! results to bytes (or text); files are written by [`crate::output`].
pub mod capacity_search;
pub mod forecast;
pub mod hlog;
pub mod html;
pub mod junit;
pub mod locust_csv;
pub mod openmetrics;
pub mod progress;
pub mod schedule;
pub mod shard_dir;
pub mod simulate;
pub mod table;
