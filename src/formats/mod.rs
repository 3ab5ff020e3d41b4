//! One reader per documented input format, shared by every command that reads it,
//! and the one "file:line:field" error helper they all use ([`located::Source`]).
pub mod aws_policy;
pub mod feeder;
pub mod holidays;
pub mod hpa;
pub mod located;
pub mod metrics_json;
pub mod profile;
pub mod shape;
pub mod shard_dir;
pub mod traffic;
